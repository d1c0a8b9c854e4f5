"""barrierclient over TLS: the tls_* keyword arguments reach libbarrierclient,
against a barrierd with a tls:// listener and certificates made here with the
openssl CLI (tests/integration/tls-certs.sh)."""
import os
import subprocess
import tempfile
import threading
import time

import pytest

import barrierclient
from conftest import TOP, start_barrierd, stop_barrierd

CERTS_SH = os.path.join(TOP, "tests", "integration", "tls-certs.sh")


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="bc-py-tls-")
    subprocess.run(["sh", CERTS_SH, d], check=True, timeout=60)
    return d


def start_tls(certs, *extra):
    """barrierd with one tls:// listener; returns (process, "tls://127.0.0.1:P")."""
    return start_barrierd("--tls-cert", os.path.join(certs, "server.pem"),
                          "--tls-key", os.path.join(certs, "server.key"), *extra,
                          listen="tls://127.0.0.1:0")


@pytest.fixture(scope="module")
def tls_server(certs):
    p, addr = start_tls(certs)
    yield addr
    stop_barrierd(p)


def test_barrier_threads_over_tls(certs, tls_server):
    ca = os.path.join(certs, "ca.pem")
    got, errors = [], []

    def party():
        try:
            b = barrierclient.Barrier("py-tls", 3, addr=tls_server, tls_ca=ca)
            got.append(b.wait(timeout=20))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=party) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(got) == [0, 1, 2]


def test_wrong_ca_refused_with_reason(certs, tls_server):
    c = barrierclient.Client(tls_server, tls_ca=os.path.join(certs, "ca2.pem"), resume=-1)
    with pytest.raises(barrierclient.BarrierConnectionError) as e:
        c.ping()
    assert "certificate verify failed: unable to get local issuer certificate" in str(e.value)
    c.close()


def test_server_name(certs, tls_server):
    ca = os.path.join(certs, "ca.pem")
    with barrierclient.Client(tls_server, tls_ca=ca, tls_server_name="localhost") as c:
        assert c.ping() >= 0
    c = barrierclient.Client(tls_server, tls_ca=ca, tls_server_name="nope.example", resume=-1)
    with pytest.raises(barrierclient.BarrierConnectionError, match="hostname mismatch"):
        c.ping()
    c.close()


def test_mutual_tls(certs):
    p, addr = start_tls(certs, "--tls-ca", os.path.join(certs, "ca.pem"), "--tls-verify-client")
    try:
        ca = os.path.join(certs, "ca.pem")
        with barrierclient.Client(addr, tls_ca=ca, tls_cert=os.path.join(certs, "client.pem"),
                                  tls_key=os.path.join(certs, "client.key")) as c:
            assert c.ping() >= 0
        c = barrierclient.Client(addr, tls_ca=ca, resume=-1)
        with pytest.raises(barrierclient.BarrierConnectionError, match="certificate required"):
            c.ping()
        c.close()
        with pytest.raises(ValueError):
            barrierclient.Barrier("x", 2, client=barrierclient.Client(addr), tls_ca=ca)
    finally:
        stop_barrierd(p)


def _raw_tls(certs, addr, rcvbuf=None):
    """A TLS socket to barrierd made with Python's ssl module (not the library)."""
    import socket
    import ssl
    host, port = addr[len("tls://"):].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(20)
    s.connect((host, int(port)))
    return ctx.wrap_socket(s, server_hostname=host)


def _lines(t, n):
    buf = b""
    while buf.count(b"\n") < n:
        chunk = t.recv(1 << 16)
        assert chunk, "closed after %d of %d lines" % (buf.count(b"\n"), n)
        buf += chunk
    return buf


def test_a_big_reply_over_tls_is_sent_whole_to_a_late_reader(certs):
    """A reply far larger than --max-output to a reader that has not read yet:
    sent whole, as over plain TCP (the limit judges what was queued before)."""
    # ~5 MB of list: more than the kernel's socket buffers take
    p, addr = start_tls(certs, "--max-output", "4096", "--max-waits", "30000")
    try:
        holder = _raw_tls(certs, addr)
        n = 20000
        holder.sendall(b"".join(  # barriers with long names, each held by one wait
            b'{"op":"wait","id":%d,"barrier":"%s-%05d","parties":2}\n' % (i, b"x" * 230, i)
            for i in range(n)))
        admin = _raw_tls(certs, addr)
        deadline = time.monotonic() + 20
        while True:
            admin.sendall(b'{"op":"stats","id":1}\n')
            if b'"barriers":%d' % n in _lines(admin, 1):
                break
            assert time.monotonic() < deadline, "the barriers were not all created"
        late = _raw_tls(certs, addr, rcvbuf=4096)
        late.sendall(b'{"op":"list","id":7}\n')
        time.sleep(1.0)  # the reply backs up in the server meanwhile
        got = _lines(late, 1)
        assert got.startswith(b'{"id":7,') and got.count(b"x" * 230) == n, got[:200]
    finally:
        stop_barrierd(p)


def test_close_notify_ends_the_connection_and_its_wait(certs, tls_server):
    """A client that sends close_notify (and keeps TCP open) has said it sends no
    more: its wait leaves the barrier and the server answers with its own."""
    import json
    t = _raw_tls(certs, tls_server)
    t.sendall(b'{"op":"wait","id":1,"barrier":"cn","parties":2,"client":"leaver"}\n')
    admin = barrierclient.Client(tls_server, tls_ca=os.path.join(certs, "ca.pem"))
    deadline = time.monotonic() + 10
    while True:
        try:
            if admin.status("cn")["n_waiting"] == 1:
                break
        except barrierclient.NotFoundError:
            pass  # the wait has not arrived yet
        assert time.monotonic() < deadline, "the wait did not arrive"
        time.sleep(0.01)
    raw = t.unwrap()  # sends close_notify, waits for the server's
    deadline = time.monotonic() + 10
    while True:
        st = admin.status("cn")
        if st["broken"] or st["n_waiting"] == 0:
            break
        assert time.monotonic() < deadline, "the wait stayed after close_notify"
        time.sleep(0.01)
    raw.close()
    admin.close()
