#!/bin/sh
# test_install.sh BUILD_DIR CONSUMER_SRC - the installed client package
# works for a program outside the tree, via pkg-config and via find_package.
# The programs run against a private barrierd ($BARRIERD) that
# $TS_WITH_BARRIERD starts; it sets $BARRIERD_ADDR.
set -eu
build=$1 consumer=$2
work=$(mktemp -d /tmp/bc-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
# A sanitized build's libraries need the sanitizer runtime in the program too.
san=
if grep -q '^BARRIERD_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    san="-fsanitize=address,undefined"
fi

cmake --install "$build" --component barrierclient --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name barrierclient.pc | head -n 1)
[ -n "$pc" ] || { echo "no barrierclient.pc installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
test -f "$prefix/include/barrierclient.h"
test -f "$libdir/libbarrierclient.a"
test -L "$libdir/libbarrierclient.so"
test -f "$libdir/cmake/barrierclient/barrierclientConfig.cmake"
test -x "$prefix/bin/barrierctl"

# pkg-config, shared and static
export PKG_CONFIG_PATH=$(dirname "$pc")
cc $san -o "$work/consumer_pc" "$consumer/consumer.c" $(pkg-config --cflags --libs barrierclient)
cc $san -o "$work/consumer_pc_static" "$consumer/consumer.c" $(pkg-config --cflags barrierclient) \
    "$libdir/libbarrierclient.a" $(pkg-config --static --libs-only-l barrierclient | sed 's/-lbarrierclient//')

# find_package, shared and static
cmake -S "$consumer" -B "$work/cbuild" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" >/dev/null
cmake --build "$work/cbuild" >/dev/null

# run them all against a real server
export LD_LIBRARY_PATH=$libdir
"$TS_WITH_BARRIERD" -- sh -eu -c '
    "$1/consumer_pc" "$BARRIERD_ADDR"
    "$1/consumer_pc_static" "$BARRIERD_ADDR"
    "$1/cbuild/consumer_shared" "$BARRIERD_ADDR"
    "$1/cbuild/consumer_static" "$BARRIERD_ADDR"
    "$2/bin/barrierctl" ping' sh "$work" "$prefix"
# the static binaries really are: no libbarrierclient.so needed
! ldd "$work/consumer_pc_static" | grep -q libbarrierclient
echo "install test ok"
