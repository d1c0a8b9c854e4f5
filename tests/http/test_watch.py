"""The watch op and barrierctl watch / wait's progress line against a real
barrierd: events in order with their fields, filtering by barrier, a watcher
that never reads is dropped while the others go on, the end of the server is
exit 4, and "k/N arrived" appears on a terminal only."""
import json
import os
import pty
import select
import signal
import subprocess
import threading
import time

import pytest

from obs import BARRIERCTL, Raw, Server, metric, wait_for


@pytest.fixture
def srv():
    with Server("--heartbeat", "0.2") as s:
        yield s


def watch(srv, barrier=None, rcvbuf=None):
    w = Raw(srv.port, rcvbuf=rcvbuf)
    msg = {"op": "watch", "id": 1}
    if barrier:
        msg["barrier"] = barrier
    w.send(**msg)
    ok = w.event()
    assert ok["ok"] is True and ok["id"] == 1, ok
    return w, ok


def test_events_in_order_with_their_fields(srv):
    w, ok = watch(srv, "b")
    assert "parties" not in ok  # it does not exist yet
    a = srv.ctl_bg("wait", "b", "-n", "2", "--name", "alice")
    e = w.event()
    assert e["event"] == "arrive" and e["barrier"] == "b" and e["client"] == "alice"
    assert (e["generation"], e["n_waiting"], e["parties"], e["index"]) == (0, 1, 2, 0)
    assert e["peer"].startswith("127.0.0.1:")
    assert srv.ctl("wait", "b", "-n", "2", "--name", "bob").returncode == 0
    e = w.event()
    assert (e["event"], e["client"], e["n_waiting"], e["index"]) == ("arrive", "bob", 2, 1)
    e = w.event()
    assert e == {"event": "release", "barrier": "b", "generation": 0, "n_waiting": 2,
                 "parties": 2}
    assert a.wait(10) == 0
    # a timeout breaks it; a reset ends the generation
    assert srv.ctl("wait", "b", "-n", "2", "-t", "0.1", "--name", "carol").returncode == 3
    assert w.event()["event"] == "arrive"
    e = w.event()
    assert (e["event"], e["cause"], e["generation"]) == ("break", "timeout", 1)
    assert "carol" in e["reason"] and "timed out" in e["reason"]
    assert srv.ctl("reset", "b").returncode == 0
    e = w.event()
    assert (e["event"], e["cause"], e["generation"]) == ("reset", "reset", 1)
    assert e["reason"].startswith("reset by ")
    # a party that goes: leave, then the break it causes
    p = srv.ctl_bg("wait", "b", "-n", "2", "--name", "dave")
    assert w.event()["client"] == "dave"
    p.send_signal(signal.SIGKILL)
    p.wait()
    e = w.event()
    assert (e["event"], e["client"], e["n_waiting"]) == ("leave", "dave", 0)
    e = w.event()
    assert (e["event"], e["cause"]) == ("break", "lost_party")
    # watching an existing barrier starts with its state
    w2, ok = watch(srv, "b")
    assert ok["barrier"] == "b" and ok["parties"] == 2 and ok["broken"] is True
    w.close()
    w2.close()


def test_events_name_the_member(srv):
    """A party that gave a member name is named by its arrive and leave events,
    and the break that its leaving causes names who is missing."""
    w, _ = watch(srv, "m")
    p = srv.ctl_bg("wait", "m", "--members", "teller-1,teller-2", "--member", "teller-1")
    e = w.event()
    assert (e["event"], e["member"], e["n_waiting"], e["parties"]) == ("arrive", "teller-1", 1, 2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    e = w.event()
    assert (e["event"], e["member"]) == ("leave", "teller-1")
    e = w.event()
    # the message says who had arrived and who had not when teller-1 was lost
    assert e["event"] == "break" and e["reason"].endswith("missing: teller-2"), e
    w.close()


def test_watch_all_or_one(srv):
    every, _ = watch(srv)
    one, _ = watch(srv, "y")
    assert srv.ctl("wait", "x", "-n", "1").returncode == 0
    assert srv.ctl("wait", "y", "-n", "1").returncode == 0
    got = [every.event() for _ in range(4)]
    assert [(e["barrier"], e["event"]) for e in got] == [
        ("x", "arrive"), ("x", "release"), ("y", "arrive"), ("y", "release")]
    got = [one.event() for _ in range(2)]
    assert [(e["barrier"], e["event"]) for e in got] == [("y", "arrive"), ("y", "release")]
    # a second watch on the connection replaces the first
    one.send(op="watch", barrier="x", id=2)
    assert one.event()["ok"]
    assert srv.ctl("wait", "y", "-n", "1").returncode == 0
    assert srv.ctl("wait", "x", "-n", "1").returncode == 0
    assert one.event()["barrier"] == "x"
    st, j = srv.get_json("/api/stats")
    assert metric(srv.metrics(), "barrierd_watchers") == 2


def test_a_watcher_that_never_reads_is_dropped_others_go_on():
    with Server("--max-output", "4096") as srv:
        slow, _ = watch(srv, rcvbuf=2048)
        fast, _ = watch(srv)
        # each 1-party wait is an arrive and a release event, ~220 bytes: far
        # more than the kernel buffers hold for the one that never reads
        n = 40000
        got = []

        def read_fast():
            while len(got) < 2 * n:
                got.append(fast.event(timeout=30)["barrier"])

        t = threading.Thread(target=read_fast)
        t.start()
        r = Raw(srv.port)
        t0 = time.monotonic()
        for base in range(0, n, 1000):
            for i in range(base, base + 1000):
                r.send(op="wait", barrier="flood", parties=1, id=i)
            for i in range(1000):
                assert r.event()["ok"]
        took = time.monotonic() - t0
        t.join(60)
        assert not t.is_alive() and len(got) == 2 * n and set(got) == {"flood"}
        assert took < 60, f"{n} waits took {took:.1f} s with a stuck watcher"
        wait_for(lambda: metric(srv.metrics(),
                                "barrierd_dropped_connections_total", reason="slow_reader") == 1,
                 what="the slow watcher to be dropped")
        assert "stopped reading its replies" in srv.log_text()
        # what the slow one had been sent ends: the server closed it
        with pytest.raises((EOFError, ConnectionResetError)):
            while True:
                slow.line()
        assert metric(srv.metrics(), "barrierd_watchers") == 1


def test_barrierctl_watch_prints_events_and_exits_4_when_the_server_goes(srv):
    human = srv.ctl_bg("watch", "b")
    js = srv.ctl_bg("--json", "watch")
    wait_for(lambda: metric(srv.metrics(), "barrierd_watchers") == 2, what="two watchers")
    p = srv.ctl_bg("wait", "b", "-n", "2", "--name", "alice")
    wait_for(lambda: srv.get_json("/api/barriers/b")[0] == 200, what="alice waiting")
    assert srv.ctl("wait", "b", "-n", "2", "--name", "bob").returncode == 0
    assert p.wait(10) == 0
    assert srv.ctl("abort", "b").returncode == 0
    wait_for(lambda: srv.get_json("/api/barriers/b")[1]["broken"], what="broken")
    time.sleep(0.3)
    srv.stop()
    out, err = human.communicate(timeout=10)
    assert human.returncode == 4, err
    lines = out.splitlines()
    assert lines[0] == "watching 'b' (it does not exist yet)"
    assert "b gen 0: arrive alice [127.0.0.1:" in lines[1] and lines[1].endswith("(1/2 arrived)")
    assert "b gen 0: arrive bob" in lines[2] and lines[2].endswith("(2/2 arrived)")
    assert lines[3].endswith("b gen 0: released (2/2)")
    assert "b gen 1: broken (abort): aborted by" in lines[4]
    assert "shutting down" in err
    out, err = js.communicate(timeout=10)
    assert js.returncode == 4
    events = [json.loads(l) for l in out.splitlines() if '"event"' in l]
    assert [e["event"] for e in events] == ["arrive", "arrive", "release", "break"]
    assert events[3]["cause"] == "abort"


def _read_pty(fd, until, timeout):
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and until not in out:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def test_wait_shows_progress_on_a_terminal_only(srv):
    master, slave = pty.openpty()
    p = subprocess.Popen([BARRIERCTL, "-a", srv.addr, "wait", "t", "-n", "3", "--name", "me"],
                         stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = _read_pty(master, b"1/3 arrived", 10)
    assert b"waiting at 't': 1/3 arrived" in seen, seen
    q = srv.ctl_bg("wait", "t", "-n", "3")
    seen = _read_pty(master, b"2/3 arrived", 10)
    assert b"\r\x1b[Kwaiting at 't': 2/3 arrived" in seen, seen
    assert srv.ctl("wait", "t", "-n", "3").returncode == 0
    assert p.wait(10) == 0 and q.wait(10) == 0
    assert p.stdout.read().startswith("released: index 0 of 3")
    tail = _read_pty(master, b"\r\x1b[K", 2)
    os.close(master)
    assert (seen + tail).endswith(b"\r\x1b[K")  # released: the line is cleared
    # not a terminal: nothing on stderr, and no second connection for a watch
    before = metric(srv.metrics(), "barrierd_connections_total")
    q = srv.ctl_bg("wait", "u", "-n", "2")
    time.sleep(0.8)
    assert srv.ctl("wait", "u", "-n", "2").returncode == 0
    out, err = q.communicate(timeout=10)
    assert q.returncode == 0 and err == ""
    assert metric(srv.metrics(), "barrierd_connections_total") == before + 2
