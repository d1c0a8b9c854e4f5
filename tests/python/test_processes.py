"""Processes: the bank tellers of threading.Barrier's documentation as
multiprocessing processes, and a Barrier used across fork()."""
import multiprocessing
import os
import random
import time

import pytest

import barrierclient

N_TELLERS = 3


def teller(name, barrier_name, q):
    """Prepare the counter (a while), wait for the other tellers, then serve."""
    b = barrierclient.Barrier(barrier_name, N_TELLERS, timeout=30)
    time.sleep(random.uniform(0.1, 0.5))
    prepared = time.monotonic()
    i = b.wait()
    q.put((name, i, prepared, time.monotonic()))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_tellers(name, method):
    ctx = multiprocessing.get_context(method)
    q = ctx.Queue()
    if method == "fork":
        # The parent's shared connection exists before the fork: children reconnect.
        barrierclient.Barrier(name + "-pre", 1).wait()
    ps = [ctx.Process(target=teller, args=(f"Teller {i + 1}", name, q))
          for i in range(N_TELLERS)]
    for p in ps:
        p.start()
    got = [q.get(timeout=60) for _ in ps]
    for p in ps:
        p.join(30)
        assert p.exitcode == 0
    assert sorted(g[1] for g in got) == list(range(N_TELLERS))
    last_prepared = max(g[2] for g in got)
    # Nobody serves before the last teller has finished preparing.
    assert all(g[3] >= last_prepared for g in got)
    if method == "fork":
        assert barrierclient.Barrier(name + "-pre", 1).wait() == 0  # the parent's still works


def test_fork_reconnects(name):
    b = barrierclient.Barrier(name, 2, timeout=20)
    parent_client = b.client
    parent_client.ping()  # connected before the fork
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: same Barrier object, same Client object, new connection
        code = 1
        try:
            os.close(r)
            i = b.wait()
            again = b.wait()
            os.write(w, f"{i} {again} {int(b.client is parent_client)}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    i = b.wait()
    b.wait()
    _, status = os.waitpid(pid, 0)
    child = os.read(r, 100).decode().split()
    os.close(r)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted([i, int(child[0])]) == [0, 1]
    assert child[2] == "1"
    # The parent's connection survived the child's exit.
    assert b.client.ping() >= 0
    assert barrierclient.Barrier(name + "-after", 1).wait() == 0


def test_tellers_example(barrierd):
    """client/python/examples/tellers.py, as the README shows it."""
    import subprocess
    import sys
    from conftest import PKG_SRC
    r = subprocess.run([sys.executable, os.path.join(PKG_SRC, "examples", "tellers.py")],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, BARRIERD_ADDR=barrierd, PYTHONPATH=PKG_SRC))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum("is now ready to serve customers" in ln for ln in lines) == 3
    ready = [i for i, ln in enumerate(lines) if "is now ready" in ln]
    finished = [i for i, ln in enumerate(lines) if "has finished preparing" in ln]
    assert lines.count(next(ln for ln in lines if "All tellers" in ln)) == 1
    assert max(finished) < min(ready)


def _wait_on(b, q):
    q.put(b.wait())


def test_barrier_pickles_and_copies(name):
    import copy
    import pickle
    b = barrierclient.Barrier(name, 1, timeout=20, members=None)
    assert b.wait() == 0
    for c in (pickle.loads(pickle.dumps(b)), copy.copy(b), copy.deepcopy(b)):
        assert (c.name, c.parties) == (b.name, b.parties)
        assert c.gathered == [] and c.action_result is None  # its own thread-local
        assert c.wait() == 0
    # A spawned process gets the Barrier pickled.
    b2 = barrierclient.Barrier(name + "-2", 2, timeout=30)
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_wait_on, args=(b2, q))
    p.start()
    mine = b2.wait()
    theirs = q.get(timeout=60)
    p.join(30)
    assert p.exitcode == 0
    assert sorted([mine, theirs]) == [0, 1]
