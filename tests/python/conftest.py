"""Fixtures of the barrierclient (Python) tests: a real barrierd on a free
loopback port for the session, and the in-tree package on sys.path.

Environment (set by ctest through barrierd_test): BARRIERD, the server binary;
BARRIERCLIENT_LIBRARY, the libbarrierclient.so under test. Run by hand, both
default to the in-tree build (build/)."""
import os
import subprocess
import sys
import tempfile
import time

import pytest

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PKG_SRC = os.path.join(TOP, "client", "python")
sys.path.insert(0, PKG_SRC)


def start_barrierd(*args):
    """Start barrierd on 127.0.0.1:0 with extra args; returns (process, addr)."""
    exe = os.environ.get("BARRIERD") or os.path.join(TOP, "build", "server", "barrierd")
    d = tempfile.mkdtemp(prefix="bc-py-")
    ready = os.path.join(d, "ready")
    log = open(os.path.join(d, "barrierd.log"), "wb")
    p = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--ready-file", ready,
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
