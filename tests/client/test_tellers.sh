#!/bin/sh
# test_tellers.sh SRC_EXAMPLES - the tellers examples run to the end on a
# private barrierd: every teller announces it is ready, then "All tellers".
# ($TELLERS, $BARRIERCTL, $BARRIERD name the built binaries; the server is
# started by $TS_WITH_BARRIERD, which sets $BARRIERD_ADDR for the script.)
set -eu
examples=$1
out=$(mktemp /tmp/bc-tellers-XXXXXX)
trap 'rm -f "$out"' EXIT
for script in run-tellers.sh tellers.sh; do
    "$TS_WITH_BARRIERD" -- sh "$examples/$script" >"$out" 2>&1 || { cat "$out"; exit 1; }
    cat "$out"
    ready=$(grep -c "is now ready to serve customers" "$out")
    all=$(grep -c "All tellers are ready to serve customers" "$out")
    expected_ready=3 expected_all=1
    [ "$script" = run-tellers.sh ] && expected_ready=6 expected_all=2
    [ "$ready" -eq $expected_ready ] && [ "$all" -eq $expected_all ] || {
        echo "$script: $ready ready lines, $all all-ready lines"; exit 1; }
done
echo "tellers ok"
