#!/bin/sh
# test_install.sh BUILD_DIR CONSUMER_SRC BARRIERD - the installed client package
# works for a program outside the tree, via pkg-config and via find_package.
set -eu
build=$1 consumer=$2 barrierd=$3
work=$(mktemp -d /tmp/bc-install-XXXXXX)
server=
cleanup() {
    [ -z "$server" ] || { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
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
"$barrierd" --listen 127.0.0.1:0 2>"$work/log" &
server=$!
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/log")
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { cat "$work/log"; exit 1; }
export LD_LIBRARY_PATH=$libdir
"$work/consumer_pc" "$addr"
"$work/consumer_pc_static" "$addr"
"$work/cbuild/consumer_shared" "$addr"
"$work/cbuild/consumer_static" "$addr"
BARRIERD_ADDR=$addr "$prefix/bin/barrierctl" ping
# the static binaries really are: no libbarrierclient.so needed
! ldd "$work/consumer_pc_static" | grep -q libbarrierclient
echo "install test ok"
