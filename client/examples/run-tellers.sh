#!/bin/sh
# run-tellers.sh - the bank tellers as three separate processes, each one
# `tellers --teller NAME` (they could as well run on three machines with
# BARRIERD_ADDR pointing at one barrierd). Then the threads variant.
set -u
. "$(dirname "$0")/common.sh"
ensure_server || exit 1

echo "== three processes =="
pids=
for name in "Teller 1" "Teller 2" "Teller 3"; do
    "$TELLERS" --teller "$name" &
    pids="$pids $!"
done
status=0
for pid in $pids; do
    wait "$pid" || status=1
done
[ $status -eq 0 ] && echo "$(date +%H:%M:%S): All tellers are ready to serve customers."

echo "== three threads, one handle =="
"$TELLERS" --threads || status=1
exit $status
