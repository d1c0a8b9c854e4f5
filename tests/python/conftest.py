"""Fixtures of the barrierclient (Python) tests: a real barrierd on a free
loopback port for the session, and the in-tree package on sys.path.

Environment (set by ctest through barrierd_test): BARRIERD, the server binary;
BARRIERCLIENT_LIBRARY, the libbarrierclient.so under test. Run by hand, both
default to the in-tree build (build/)."""
import os
import subprocess
import sys
import tempfile
import threading
import time

import pytest

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PKG_SRC = os.path.join(TOP, "client", "python")
sys.path.insert(0, PKG_SRC)


def run_threads(n, f):
    """Run f(0..n-1) in n threads (bounded: 30 s each); returns their results
    by i and the exceptions they raised."""
    out, errs = [None] * n, []

    def run(i):
        try:
            out[i] = f(i)
        except BaseException as e:  # collected for the test to look at
            errs.append(e)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not any(t.is_alive() for t in ts)
    return out, errs


def start_barrierd(*args, listen="127.0.0.1:0"):
    """Start barrierd on `listen` with extra args; returns (process, addr)."""
    exe = os.environ.get("BARRIERD") or os.path.join(TOP, "build", "server", "barrierd")
    d = tempfile.mkdtemp(prefix="bc-py-")
    ready = os.path.join(d, "ready")
    log = open(os.path.join(d, "barrierd.log"), "wb")
    p = subprocess.Popen([exe, "--listen", listen, "--ready-file", ready,
                          "--log-level", "warn", *args],
                         stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        if p.poll() is not None:
            raise RuntimeError(f"barrierd exited with {p.returncode}; see {log.name}")
        if time.monotonic() > deadline:
            p.kill()
            raise RuntimeError("barrierd did not become ready in 30 s")
        time.sleep(0.01)
    with open(ready) as f:
        addr = f.readline().strip()
    return p, addr


def stop_barrierd(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


@pytest.fixture(scope="session", autouse=True)
def barrierd():
    """The session's barrierd; its address is $BARRIERD_ADDR for the default
    connection of every Barrier (and for child processes)."""
    p, addr = start_barrierd()
    os.environ["BARRIERD_ADDR"] = addr
    os.environ.pop("BARRIERD_TOKEN", None)
    yield addr
    stop_barrierd(p)


@pytest.fixture
def name(request):
    """A barrier name of its own for each test."""
    import uuid
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"
