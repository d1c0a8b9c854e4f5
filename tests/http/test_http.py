"""barrierd --http against real traffic: the endpoints, /metrics (promtool and
the counts the traffic must produce), the token, and HTTP clients that stall or
vanish without slowing barriers down. docs/observability.md is the contract."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from obs import Raw, Server, free_port, metric, wait_for


@pytest.fixture
def srv():
    with Server() as s:
        yield s


def test_ready_file_names_the_http_address(srv):
    assert srv.http.startswith("http://127.0.0.1:")
    assert f"serving HTTP (metrics, status page) on {srv.http}/" in srv.log_text()


def test_endpoints_and_errors(srv):
    st, _, body = srv.get("/healthz")
    assert (st, body) == (200, b"ok\n")
    st, j = srv.get_json("/api/barriers")
    assert (st, j) == (200, {"ok": True, "barriers": []})
    st, j = srv.get_json("/api/barriers/nope")
    assert st == 404 and j["error"] == "notfound" and "nope" in j["message"]
    st, _, body = srv.get("/nothing/here")
    assert st == 404 and b"/metrics" in body and b"/api/barriers" in body
    st, hdr, body = srv.get("/metrics", method="POST")
    assert st == 405 and hdr["Allow"] == "GET, HEAD" and b"read-only" in body
    st, hdr, body = srv.get("/metrics", method="HEAD")
    assert st == 200 and body == b""
    st, hdr, body = srv.get("/")
    assert st == 200 and hdr["Content-Type"].startswith("text/html")
    assert b"<title>barrierd</title>" in body
    # self-contained: nothing is loaded from another origin
    assert b"http://" not in body and b"https://" not in body and b"src=" not in body
    st, j = srv.get_json("/api/stats")
    assert st == 200 and j["ok"] and j["role"] == "single"


def test_api_is_what_the_protocol_says(srv):
    w = srv.ctl_bg("wait", "same", "-n", "3", "--name", "teller-1")
    wait_for(lambda: srv.get_json("/api/barriers/same")[0] == 200, what="barrier exists")
    time.sleep(0.2)
    st, api = srv.get_json("/api/barriers/same")
    proto = json.loads(srv.ctl("--json", "status", "same").stdout)
    assert st == 200
    assert api["waiting"][0]["waited_ms"] >= 200
    for p in (api, proto):
        for e in p["waiting"]:
            e.pop("waited_ms")
    assert api == proto
    assert api["waiting"][0]["client"] == "teller-1"
    st, lst = srv.get_json("/api/barriers")
    assert lst == json.loads(srv.ctl("--json", "list").stdout)
    srv.ctl("abort", "same")
    w.wait(10)
    st, api = srv.get_json("/api/barriers/same")
    assert api["broken"] and api["reason"].startswith("aborted by")


def _promtool(text):
    if not shutil.which("promtool"):
        pytest.skip("promtool (Debian prometheus) is not installed")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_metrics_count_real_traffic(srv):
    _promtool(srv.metrics())  # before any traffic too
    # 2 releases of a 3-party barrier: 6 waits
    for _ in range(2):
        ps = [srv.ctl_bg("wait", "rel", "-n", "3") for _ in range(3)]
        for p in ps:
            assert p.wait(20) == 0
    # a timeout: the waiter gets timedout
    assert srv.ctl("wait", "tmo", "-n", "2", "-t", "0.1").returncode == 3
    # an abort with one waiter: it gets broken; a wait on the broken barrier: broken
    p = srv.ctl_bg("wait", "abt", "-n", "2")
    wait_for(lambda: srv.get_json("/api/barriers/abt")[1].get("n_waiting") == 1, what="waiter")
    assert srv.ctl("abort", "abt").returncode == 0
    assert p.wait(10) == 2
    assert srv.ctl("wait", "abt", "-n", "2").returncode == 2
    # a reset with one waiter
    p = srv.ctl_bg("wait", "rst", "-n", "2")
    wait_for(lambda: srv.get_json("/api/barriers/rst")[1].get("n_waiting") == 1, what="waiter")
    assert srv.ctl("reset", "rst").returncode == 0
    assert p.wait(10) == 2
    # a party lost: its process is killed while it waits; the other gets broken
    p1 = srv.ctl_bg("wait", "lost", "-n", "3")
    p2 = srv.ctl_bg("wait", "lost", "-n", "3")
    wait_for(lambda: srv.get_json("/api/barriers/lost")[1].get("n_waiting") == 2, what="waiters")
    p1.kill()
    p1.wait()
    assert p2.wait(10) == 2
    # refused waits: wrong parties, a status of nothing
    assert srv.ctl("wait", "rel", "-n", "4").returncode == 1
    assert srv.ctl("status", "nothing-here").returncode == 1

    text = srv.metrics()
    _promtool(text)
    version = srv.ctl("--version").stdout.split()[-1]  # the project's version
    assert metric(text, "barrierd_build_info", version=version) == 1
    assert metric(text, "barrierd_waits_total") == 6 + 1 + 1 + 1 + 2
    assert metric(text, "barrierd_releases_total") == 2
    assert metric(text, "barrierd_breaks_total", cause="timeout") == 1
    assert metric(text, "barrierd_breaks_total", cause="abort") == 1
    assert metric(text, "barrierd_breaks_total", cause="reset") == 1
    assert metric(text, "barrierd_breaks_total", cause="lost_party") == 1
    assert metric(text, "barrierd_breaks_total", cause="action_failed") == 0
    assert metric(text, "barrierd_breaks_total", cause="shutdown") == 0
    assert metric(text, "barrierd_errors_total", code="timedout") == 1
    # abort's waiter, the wait on the broken barrier, reset's waiter, the lost one's peer
    assert metric(text, "barrierd_errors_total", code="broken") == 4
    assert metric(text, "barrierd_errors_total", code="parties") == 1
    assert metric(text, "barrierd_errors_total", code="notfound") == 1
    # every wait that ended: 6 released, 4 failed, 1 left (the refused ones never arrived)
    assert metric(text, "barrierd_wait_duration_seconds_count") == 6 + 1 + 1 + 1 + 2
    assert metric(text, "barrierd_wait_duration_seconds_bucket", le="+Inf") == 11
    assert metric(text, "barrierd_wait_duration_seconds_sum") >= 0.1  # the timeout's 0.1 s
    assert metric(text, "barrierd_release_fanout_seconds_count") == 2
    assert metric(text, "barrierd_waiting_parties") == 0
    assert metric(text, "barrierd_barriers") == 5
    # one per barrierctl run: none opened a watch for a progress line (stderr is no tty)
    assert metric(text, "barrierd_connections_total") == 16
    assert metric(text, "barrierd_up") == 1
    for name in ("barrierd_connections", "barrierd_watchers", "barrierd_uptime_seconds"):
        assert metric(text, name) is not None, name


def test_token_guards_all_but_metrics_and_healthz(tmp_path):
    tok = tmp_path / "token"
    tok.write_text("sekrit\n")
    with Server("--auth-token-file", str(tok)) as s:
        assert s.get("/metrics")[0] == 200
        assert s.get("/healthz")[0] == 200
        for path in ("/", "/api/barriers", "/api/barriers/x", "/api/stats"):
            st, hdr, body = s.get(path)
            assert st == 401 and "Bearer" in hdr["WWW-Authenticate"] and b"Bearer" in body, path
            assert s.get(path, headers={"Authorization": "Bearer wrong"})[0] == 401
            assert s.get(path, headers={"Authorization": "sekrit"})[0] == 401
        ok = {"Authorization": "Bearer sekrit"}
        assert s.get("/", headers=ok)[0] == 200
        assert s.get_json("/api/barriers", headers=ok) == (200, {"ok": True, "barriers": []})
        assert s.get("/api/barriers/x", headers=ok)[0] == 404
        assert "WITHOUT an auth token" not in s.log_text()


def test_http_is_off_by_default_and_checked():
    with Server(http=False) as s:
        assert s.http is None
        assert "serving HTTP" not in s.log_text()
    from obs import BARRIERD
    for bad in ("unix:/tmp/x", "nohost", "127.0.0.1:99999"):
        r = subprocess.run([BARRIERD, "--http", bad], capture_output=True, text=True, timeout=10)
        assert r.returncode == 64 and "--http" in r.stderr, (bad, r.stderr)


def _round(srv, name, n):
    """n generations of a 2-party barrier over the protocol; seconds taken."""
    a, b = Raw(srv.port), Raw(srv.port)
    t0 = time.monotonic()
    for i in range(n):
        a.send(op="wait", barrier=name, parties=2, id=i)
        b.send(op="wait", barrier=name, parties=2, id=i)
        assert a.event()["ok"] and b.event()["ok"]
    a.close()
    b.close()
    return time.monotonic() - t0


def test_stalled_and_vanished_http_clients_do_not_slow_barriers(srv):
    # enough barriers that /api/barriers is large (a few hundred KB)
    r = Raw(srv.port)
    for i in range(3000):
        r.send(op="wait", barrier=f"filler-{i:05d}-" + "x" * 60, parties=1, id=i)
    for i in range(3000):
        assert r.event()["ok"]
    r.close()
    host, port = srv.http[len("http://"):].rsplit(":", 1)
    stalled = []
    for i in range(20):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((host, int(port)))
        if i % 2:
            s.sendall(b"GET /api/barriers HTTP/1.1\r\nHost: x\r\n\r\n")  # never read
        else:
            s.sendall(b"GET /metr")  # half a request, then silence
        stalled.append(s)
    for i in range(10):  # vanish mid-response, with a reset
        s = socket.socket()
        s.connect((host, int(port)))
        s.sendall(b"GET /api/barriers HTTP/1.1\r\nHost: x\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    took = _round(srv, "busy", 200)
    assert took < 10, f"200 generations took {took:.1f} s beside stalled HTTP clients"
    assert srv.get("/healthz")[0] == 200
    st, j = srv.get_json("/api/barriers/busy")
    assert j["generation"] == 200
    for s in stalled:
        s.close()
    assert srv.proc.poll() is None


ETCD = os.environ.get("ETCD") or "/usr/bin/etcd"


@pytest.fixture
def etcd(tmp_path):
    if not os.access(ETCD, os.X_OK):
        pytest.skip("no etcd (install etcd-server, or set ETCD)")
    c, p = free_port(), free_port()
    curl, purl = f"http://127.0.0.1:{c}", f"http://127.0.0.1:{p}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
    proc = subprocess.Popen([ETCD, "--name", "obs", "--data-dir", str(tmp_path / "etcd"),
                             "--listen-client-urls", curl, "--advertise-client-urls", curl,
                             "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                             "--initial-cluster", f"obs={purl}", "--initial-cluster-state", "new",
                             "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def has_leader():
        import urllib.request
        try:
            req = urllib.request.Request(curl + "/v3/maintenance/status", data=b"{}",
                                         method="POST")
            with urllib.request.urlopen(req, timeout=1) as r:
                return b'"leader"' in r.read()
        except OSError:
            return False

    try:
        wait_for(has_leader, timeout=30, what="etcd")
        yield curl
    finally:
        proc.kill()
        proc.wait()


def test_healthz_is_503_on_a_standby(etcd):
    def member():
        port = free_port()
        return Server("--ha-etcd", etcd, "--ha-group", "obs", "--advertise",
                      f"127.0.0.1:{port}", "--ha-ttl", "1", listen=f"127.0.0.1:{port}")

    a = member()
    try:
        wait_for(lambda: a.get("/healthz")[0] == 200, timeout=20, what="a leader")
        b = member()
        try:
            st, _, body = b.get("/healthz")
            assert (st, body) == (503, b"not serving: an HA standby\n")
            assert metric(b.metrics(), "barrierd_up") == 0
            assert metric(a.metrics(), "barrierd_up") == 1
            a.stop()
            wait_for(lambda: b.get("/healthz")[0] == 200, timeout=20, what="the failover")
            assert metric(b.metrics(), "barrierd_up") == 1
        finally:
            b.stop()
    finally:
        a.stop()


def test_every_error_reply_is_counted_by_code():
    """A connection refused over --max-connections gets a `limit` error line:
    barrierd_errors_total counts it like any other error reply."""
    with Server("--max-connections", "1") as srv:
        first = Raw(srv.port)
        first.send(op="ping", id=1)
        assert first.event()["ok"] is True
        second = Raw(srv.port)
        e = second.event()
        assert e["ok"] is False and e["error"] == "limit", e
        wait_for(lambda: metric(srv.metrics(), "barrierd_errors_total", code="limit") == 1,
                 what="errors_total{code=limit} == 1")
        first.close()
        second.close()
