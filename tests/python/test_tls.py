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
from conftest import TOP, stop_barrierd

CERTS_SH = os.path.join(TOP, "tests", "integration", "tls-certs.sh")


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="bc-py-tls-")
    subprocess.run(["sh", CERTS_SH, d], check=True, timeout=60)
    return d


def start_tls(certs, *extra):
    """barrierd with one tls:// listener; returns (process, "tls://127.0.0.1:P")."""
    exe = os.environ.get("BARRIERD") or os.path.join(TOP, "build", "server", "barrierd")
    d = tempfile.mkdtemp(prefix="bc-py-tls-srv-")
    ready = os.path.join(d, "ready")
    log = open(os.path.join(d, "barrierd.log"), "wb")
    p = subprocess.Popen([exe, "--listen", "tls://127.0.0.1:0", "--ready-file", ready,
                          "--tls-cert", os.path.join(certs, "server.pem"),
                          "--tls-key", os.path.join(certs, "server.key"),
                          "--log-level", "warn", *extra], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        assert p.poll() is None, f"barrierd exited with {p.returncode}; see {log.name}"
        assert time.monotonic() < deadline, "barrierd did not become ready in 30 s"
        time.sleep(0.01)
    with open(ready) as f:
        return p, f.readline().strip()


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
