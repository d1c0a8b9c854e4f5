#!/bin/sh
# test_static_symbols.sh CC LIBBARRIERCLIENT_A LIBBARRIERCLIENT_SO [sanitize] -
# both libraries expose only the public bc_ names: the internals (bc__*) and
# the linked-in proto library (bp_*) are local, so a program may define the
# same names without a clash.
set -eu
cc=$1 a=$2 so=$3 san=${4:-}
work=$(mktemp -d /tmp/bc-syms-XXXXXX)
trap 'rm -rf "$work"' EXIT

bad=$(nm -g --defined-only "$a" | awk 'NF == 3 && $3 !~ /^bc_[a-z]/ && $3 !~ /^__odr_asan/ {print $3}')
[ -z "$bad" ] || { echo "libbarrierclient.a exports internal symbols:"; echo "$bad"; exit 1; }
bad=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 !~ /^bc_[a-z]/ && $3 !~ /^_(init|fini)$/ && $3 != "BARRIERCLIENT_0" {print $3}')
[ -z "$bad" ] || { echo "libbarrierclient.so exports internal symbols:"; echo "$bad"; exit 1; }
nm -g --defined-only "$a" | grep -q ' T bc_wait$' || { echo "bc_wait missing from $a"; exit 1; }

# A program with its own bc__fail and bp_buf_free links against the static
# library (whose bc_error.c object defines both, and is pulled in by
# bc_strerror) without "multiple definition" errors.
cat > "$work/clash.c" <<'C'
#include <barrierclient.h>
#include <stdio.h>
int bc__fail(void) { return 42; }
void bp_buf_free(void) {}
int main(void)
{
    printf("%s %d\n", bc_strerror(BC_EBROKEN), bc__fail());
    bp_buf_free();
    return 0;
}
C
inc=$(dirname "$0")/../../client/include
cjson=$(pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
# OpenSSL (TLS): what the installed .pc's Requires.private adds for static links.
cjson="$cjson $(pkg-config --libs libssl libcrypto 2>/dev/null || echo -lssl -lcrypto)"
# shellcheck disable=SC2086
"$cc" $san -I"$inc" "$work/clash.c" "$a" $cjson -lpthread -lm -o "$work/clash"
out=$("$work/clash")
[ "$out" = "barrier is broken 42" ] || { echo "clash program printed: $out"; exit 1; }
echo "ok: only bc_ names exported"
