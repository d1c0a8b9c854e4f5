#!/bin/sh
# Build barrierd, barrier-bench and floor-server, then run the benchmark.
#   tests/bench/run-bench.sh [BUILD_DIR] [barrier-bench options...]
# BUILD_DIR defaults to build/ (configured RelWithDebInfo if it is not yet). Options go
# to barrier-bench: --help lists them (--quick, --n 2,16, --only barrierd, --pause S...).
# The table goes to stdout, progress to stderr; exit status 1 if any release was lost.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build"
if [ $# -gt 0 ]; then
  case "$1" in -*) ;; *) build="$1"; shift ;; esac
fi
case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
jobs=$(nproc 2>/dev/null || echo 2)

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
bench="$build/tests/bench/barrier-bench"
floor="$build/tests/bench/floor-server"
if cmake --build "$build" --target help 2>/dev/null | grep -q 'barrier-bench'; then
  cmake --build "$build" -j "$jobs" --target barrierd barrier-bench floor-server >/dev/null
else
  # tests/bench is not part of this build (BARRIERD_TESTS=OFF, or not yet added to
  # tests/CMakeLists.txt): build the two programs directly.
  cmake --build "$build" -j "$jobs" --target barrierd >/dev/null
  mkdir -p "$build/tests/bench"
  cflags="-O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror"
  support="$root/tests/support"
  ${CC:-cc} $cflags -I"$support" -o "$bench" "$root/tests/bench/barrier_bench.c" \
    "$root/tests/bench/bench_common.c" "$support/ts_clock.c" "$support/ts_slow.c" \
    "$support/ts_fork.c" "$support/ts_file.c" "$support/ts_proc.c" "$support/ts_launch.c"
  ${CC:-cc} $cflags -o "$floor" "$root/tests/bench/floor_server.c"
fi
# The bench starts $BARRIERD, and floor-server from next to itself.
export BARRIERD="$build/server/barrierd"
exec "$bench" "$@"
