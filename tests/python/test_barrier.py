"""barrierclient.Barrier beyond lock_tests: action, timeout, generation, asyncio,
the shared connection, and the mapping of errors to exceptions."""
import asyncio
import threading
import time

import pytest

import barrierclient
from barrierclient import BrokenBarrierError

from conftest import run_threads


def test_brokenbarriererror_is_threadings():
    assert barrierclient.BrokenBarrierError is threading.BrokenBarrierError


def test_action_once_per_generation_in_last_arriver(name):
    ran = []
    b = barrierclient.Barrier(name, 3, action=lambda: ran.append(threading.get_ident()))

    def f(i):
        got = []
        for _ in range(4):
            idx = b.wait()
            got.append((idx, threading.get_ident()))
        return got
    out, errs = run_threads(3, f)
    assert not errs
    assert len(ran) == 4
    for gen in range(4):
        last = [tid for got in out for (idx, tid) in [got[gen]] if idx == 2]
        assert len(last) == 1 and last[0] == ran[gen]
        assert sorted(got[gen][0] for got in out) == [0, 1, 2]
    assert b.generation == 4


def test_action_exception_breaks(name):
    def action():
        raise ValueError("no luck")
    b = barrierclient.Barrier(name, 3, action=action)
    out, errs = run_threads(3, lambda i: b.wait())
    assert len(errs) == 3
    kinds = sorted(type(e).__name__ for e in errs)
    # As threading.Barrier: the action's own exception in the thread that ran it.
    assert kinds == ["BrokenBarrierError", "BrokenBarrierError", "ValueError"]
    assert b.broken
    with pytest.raises(BrokenBarrierError) as ei:
        b.wait(1)
    assert "action failed" in str(ei.value)
    b.reset()
    assert not b.broken


def test_timeout_breaks_with_message(name):
    b = barrierclient.Barrier(name, 2)
    t0 = time.monotonic()
    with pytest.raises(BrokenBarrierError) as ei:
        b.wait(0.2)
    assert 0.15 < time.monotonic() - t0 < 5
    assert "timed out" in str(ei.value)
    assert ei.value.name == "timedout"
    assert b.broken
    b.reset()
    assert not b.broken and b.n_waiting == 0


def test_default_timeout_and_zero(name):
    b = barrierclient.Barrier(name, 2, timeout=0.1)
    with pytest.raises(BrokenBarrierError):
        b.wait()
    b.reset()
    with pytest.raises(BrokenBarrierError):
        b.wait(0)
    one = barrierclient.Barrier(name + "-1", 1, timeout=0)
    assert one.wait() == 0 and one.wait() == 0
    assert one.generation == 2


def test_wait_async(name):
    b = barrierclient.Barrier(name, 3)

    async def main():
        return await asyncio.gather(*(b.wait_async(10) for _ in range(3)))
    assert sorted(asyncio.run(main())) == [0, 1, 2]

    async def alone():
        await barrierclient.Barrier(name + "-x", 2).wait_async(0.1)
    with pytest.raises(BrokenBarrierError):
        asyncio.run(alone())


def test_threads_share_one_connection(name):
    a = barrierclient.Barrier(name, 2)
    b = barrierclient.Barrier(name, 2)
    assert a.client is b.client
    assert barrierclient.Barrier(name, 2, addr="127.0.0.1:1").client is not a.client
    out, errs = run_threads(2, lambda i: (a if i else b).wait(10))
    assert not errs and sorted(out) == [0, 1]


def test_explicit_client(name, barrierd):
    with barrierclient.Client(barrierd, name="explicit") as c:
        b = barrierclient.Barrier(name, 1, client=c)
        assert b.wait() == 0
        assert c.status(name)["generation"] == 1
        assert c.ping() >= 0


def test_parties_mismatch(name):
    barrierclient.Barrier(name, 1).wait()
    with pytest.raises(barrierclient.PartiesMismatchError) as ei:
        barrierclient.Barrier(name, 2).wait(1)
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, barrierclient.BarrierError)
    assert ei.value.code == -4 and ei.value.name == "parties"


def test_invalid_name():
    with pytest.raises(barrierclient.InvalidArgumentError):
        barrierclient.Barrier("bad\nname", 1).wait()
    with pytest.raises(barrierclient.InvalidArgumentError):
        barrierclient.Barrier("x" * 300, 1).wait()


def test_connection_refused(name):
    c = barrierclient.Client("127.0.0.1:1", connect_timeout=2)
    with pytest.raises(barrierclient.BarrierConnectionError) as ei:
        barrierclient.Barrier(name, 1, client=c).wait()
    assert isinstance(ei.value, ConnectionError)
    assert "127.0.0.1:1" in str(ei.value)


def test_auth(name, tmp_path):
    from conftest import start_barrierd, stop_barrierd
    tok = tmp_path / "token"
    tok.write_text("sekrit\n")
    p, addr = start_barrierd("--auth-token-file", str(tok))
    try:
        with pytest.raises(barrierclient.AuthError) as ei:
            barrierclient.Barrier(name, 1, addr=addr, token="wrong").wait()
        assert isinstance(ei.value, barrierclient.BarrierError)
        assert barrierclient.Barrier(name, 1, addr=addr, token="sekrit").wait() == 0
    finally:
        stop_barrierd(p)


def test_limit(name):
    from conftest import start_barrierd, stop_barrierd
    p, addr = start_barrierd("--max-barriers", "1")
    try:
        assert barrierclient.Barrier(name, 1, addr=addr).wait() == 0
        with pytest.raises(barrierclient.LimitError):
            barrierclient.Barrier(name + "-2", 1, addr=addr).wait()
    finally:
        stop_barrierd(p)


@pytest.mark.parametrize("code,cls", [
    (-1, BrokenBarrierError), (-2, BrokenBarrierError), (-3, BrokenBarrierError),
    (-4, barrierclient.PartiesMismatchError), (-5, barrierclient.InvalidArgumentError),
    (-6, barrierclient.NotFoundError), (-7, barrierclient.BarrierConnectionError),
    (-8, barrierclient.ProtocolError), (-9, barrierclient.AuthError),
    (-10, barrierclient.LimitError), (-11, barrierclient.BarrierConnectionError),
    (-12, barrierclient.LimitError), (-13, barrierclient.BarrierConnectionError),
    (-99, barrierclient.BarrierError)])
def test_error_mapping(code, cls):
    from barrierclient._errors import error_for
    e = error_for(code, "n", "the server's words")
    assert type(e) is cls
    assert str(e) == "the server's words" and e.code == code


def test_not_found_status_and_idle_ops(name):
    b = barrierclient.Barrier(name, 3)
    assert b.n_waiting == 0 and not b.broken and b.generation == 0
    b.reset()  # nothing to reset
    with pytest.raises(barrierclient.NotFoundError):
        b.client.status(name)
    b.abort()  # breaks even a barrier nobody has waited at yet
    assert b.broken
    with pytest.raises(BrokenBarrierError):
        b.wait(1)
