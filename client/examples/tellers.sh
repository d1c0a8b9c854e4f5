#!/bin/sh
# tellers.sh - the bank tellers in plain shell: each teller is a background job
# that blocks in `barrierctl wait` until all three have finished preparing.
set -u
. "$(dirname "$0")/common.sh"
ensure_server || exit 1

now() { date +%H:%M:%S; }

prepare_for_work() {
    echo "$(now): $1 is preparing their counter."
    sleep $(( $(od -An -N1 -tu1 /dev/urandom) % 3 + 1 ))
    echo "$(now): $1 has finished preparing."
    if "$BARRIERCTL" wait tellers -n 3 --name "$1" >/dev/null; then
        echo "$(now): $1 is now ready to serve customers."
    else
        return 1
    fi
}

status=0
pids=
for name in "Teller 1" "Teller 2" "Teller 3"; do
    prepare_for_work "$name" &
    pids="$pids $!"
done
for pid in $pids; do
    wait "$pid" || status=1
done
[ $status -eq 0 ] && echo "$(now): All tellers are ready to serve customers."
exit $status
