#!/bin/sh
# test_install.sh BUILD_DIR CONSUMER_SRC - cmake --install (every component)
# into a temporary prefix puts every file in its place; then the client
# package's own install test (tests/client/test_install.sh) builds and runs a
# program against an installed tree.
set -eu
build=$1 consumer=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ops-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/usr
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name barrierclient.pc | head -n 1)")
libdir=$(dirname "$libdir")
missing=0
for f in bin/barrierd bin/barrierctl include/barrierclient.h \
         share/man/man8/barrierd.8 share/man/man1/barrierctl.1 share/man/man3/libbarrierclient.3 \
         lib/systemd/system/barrierd.service \
         "${libdir#$prefix/}/libbarrierclient.a" "${libdir#$prefix/}/libbarrierclient.so" \
         "${libdir#$prefix/}/pkgconfig/barrierclient.pc" \
         "${libdir#$prefix/}/cmake/barrierclient/barrierclientConfig.cmake" \
         "${libdir#$prefix/}/cmake/barrierclient/barrierclientConfigVersion.cmake"; do
    if [ -e "$prefix/$f" ]; then echo "installed: $f"; else echo "MISSING: $f"; missing=1; fi
done
[ -x "$prefix/bin/barrierd" ] || missing=1
# the installed unit starts the installed barrierd
grep -q "^ExecStart=$prefix/bin/barrierd " "$prefix/lib/systemd/system/barrierd.service" ||
    { echo "the unit's ExecStart is not $prefix/bin/barrierd"; missing=1; }
[ $missing = 0 ] || exit 1
"$prefix/bin/barrierd" --version
# build and run programs against an installed tree: the client's own test
sh "$here/../client/test_install.sh" "$build" "$consumer"
