# common.sh - sourced by run-tellers.sh and tellers.sh: find the built tools and
# a barrierd to talk to. If $BARRIERD_ADDR is unset and nothing answers on the
# default address (or $BARRIERD_PRIVATE=1), start a private barrierd on a free
# port for the demo.
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../../build}
BARRIERCTL=${BARRIERCTL:-$build/client/barrierctl/barrierctl}
TELLERS=${TELLERS:-$build/client/examples/tellers}
BARRIERD=${BARRIERD:-$build/server/barrierd}

demo_server_pid=
demo_server_dir=
stop_demo_server() {
    if [ -n "$demo_server_pid" ]; then
        kill "$demo_server_pid" 2>/dev/null
        wait "$demo_server_pid" 2>/dev/null
    fi
    [ -z "$demo_server_dir" ] || rm -rf "$demo_server_dir"
}

ensure_server() {
    if [ "${BARRIERD_PRIVATE:-0}" = 1 ]; then
        unset BARRIERD_ADDR
    elif "$BARRIERCTL" ping >/dev/null 2>&1; then
        return 0
    fi
    if [ -n "${BARRIERD_ADDR:-}" ]; then
        echo "no barrierd answers at $BARRIERD_ADDR" >&2
        return 1
    fi
    demo_server_dir=$(mktemp -d)
    "$BARRIERD" --listen 127.0.0.1:0 --ready-file "$demo_server_dir/ready" \
        2>"$demo_server_dir/log" &
    demo_server_pid=$!
    trap stop_demo_server EXIT
    # The ready file appears whole once barrierd listens: its first line is the address.
    for _ in $(seq 50); do
        if [ -s "$demo_server_dir/ready" ]; then
            export BARRIERD_ADDR=$(head -n 1 "$demo_server_dir/ready")
            echo "(started a private barrierd on $BARRIERD_ADDR)" >&2
            return 0
        fi
        sleep 0.1
    done
    echo "barrierd did not start:" >&2
    cat "$demo_server_dir/log" >&2
    return 1
}
