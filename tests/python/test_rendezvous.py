"""barrierclient rendezvous: data gathered by arrival index, member names and
lists, action results, and their errors (docs/python.md, "Rendezvous")."""
import threading

import pytest

import barrierclient
from barrierclient import BrokenBarrierError, MemberError

from conftest import run_threads, start_barrierd, stop_barrierd



def test_gathered_by_index_same_for_all(name):
    b = barrierclient.Barrier(name, 3, timeout=20)

    def f(i):
        idx = b.wait(data=f"port-{i}-\u00e9")
        return idx, b.gathered, b.action_result
    out, errs = run_threads(3, f)
    assert not errs
    gathered = out[0][1]
    assert sorted(gathered) == ["port-0-\u00e9", "port-1-\u00e9", "port-2-\u00e9"]
    for i, (idx, g, res) in enumerate(out):
        assert g == gathered            # every party got the same array
        assert g[idx] == f"port-{i}-\u00e9"  # its own data at its own index
        assert res is None


def test_null_for_parties_without_data_and_empty_when_none(name):
    b = barrierclient.Barrier(name, 2, timeout=20)
    out, errs = run_threads(2, lambda i: b.wait_gather(data="x" if i == 0 else None))
    assert not errs
    for r in out:
        assert sorted(r.gathered, key=str) == [None, "x"]
        assert r.gathered == out[0].gathered
    out, errs = run_threads(2, lambda i: b.wait_gather())
    assert not errs
    assert [r.gathered for r in out] == [[], []]
    assert {r.generation for r in out} == {1}


def test_action_result_to_everyone(name):
    b = barrierclient.Barrier(name, 3, action=lambda: "leader=42", action_sets_result=True,
                              timeout=20)
    out, errs = run_threads(3, lambda i: (b.wait(), b.action_result))
    assert not errs
    assert [res for _, res in out] == ["leader=42"] * 3


@pytest.mark.parametrize("ret", ["x" * 5000, "nul\0inside", "lone \ud800 surrogate", b"\xff"],
                         ids=["long", "nul", "surrogate", "not_utf8"])
def test_action_return_value_ignored_by_default(name, ret):
    # threading.Barrier ignores what the action returns: so does Barrier, even
    # for a value over --max-data or one that is not valid text.
    b = barrierclient.Barrier(name, 2, action=lambda: ret, timeout=20)
    out, errs = run_threads(2, lambda i: (b.wait(), b.action_result))
    assert not errs, errs
    assert sorted(i for i, _ in out) == [0, 1]
    assert [res for _, res in out] == [None, None]


def test_action_result_over_max_data_says_why(name):
    b = barrierclient.Barrier(name, 2, action=lambda: "x" * 5000, action_sets_result=True,
                              timeout=20)
    out, errs = run_threads(2, lambda i: b.wait())
    assert len(errs) == 2 and all(isinstance(e, BrokenBarrierError) for e in errs), errs
    assert any("--max-data" in str(e) for e in errs), [str(e) for e in errs]


def test_members_and_missing_in_timeout(name):
    b = barrierclient.Barrier(name, None, members=["teller-1", "teller-2", "teller-3"])
    assert b.parties == 3
    assert b.members == ["teller-1", "teller-2", "teller-3"]

    def f(i):
        return b.wait(timeout=0.5 if i == 0 else 20, member=f"teller-{i + 1}")
    out, errs = run_threads(2, f)
    assert len(errs) == 2 and all(isinstance(e, BrokenBarrierError) for e in errs)
    assert any("missing: teller-3" in str(e) for e in errs), [str(e) for e in errs]


def test_member_errors(name):
    b = barrierclient.Barrier(name, None, members=["a", "b"], timeout=20)
    with pytest.raises(MemberError, match="not a member"):
        b.wait(member="zed")
    with pytest.raises(MemberError, match="names none"):
        b.wait()
    started = threading.Event()

    def first():
        started.set()
        return b.wait(member="a")
    t_out = []
    t = threading.Thread(target=lambda: t_out.append(first()))
    t.start()
    started.wait(5)
    deadline = 100
    while b.n_waiting < 1 and deadline:
        threading.Event().wait(0.05)
        deadline -= 1
    with pytest.raises(MemberError, match="already waiting"):
        b.wait(member="a")
    assert b.wait(member="b") in (0, 1)
    t.join(20)
    assert t_out and t_out[0] in (0, 1)


def test_other_member_list_refused(name):
    barrierclient.Barrier(name, None, members=["a", "b"]).abort()
    other = barrierclient.Barrier(name, None, members=["a", "c"])
    with pytest.raises(barrierclient.PartiesMismatchError, match="member list"):
        other.wait(member="a")


def test_bad_arguments(name):
    b = barrierclient.Barrier(name, 1)
    with pytest.raises(ValueError):
        b.wait(data="nul\0byte")
    with pytest.raises(ValueError):
        b.wait(data=b"\xff\xfe")
    with pytest.raises(ValueError):
        barrierclient.Barrier(name, 2, members=["a"])


def test_max_data_limit(name):
    p, addr = start_barrierd("--max-data", "16", "--max-gather", "40")
    try:
        c = barrierclient.Client(addr)
        with pytest.raises(barrierclient.LimitError, match="max-data"):
            c.wait_gather(name, 1, data="x" * 17)
        b = barrierclient.Barrier(name + "-g", 3, client=c, timeout=20)
        got = []
        t = threading.Thread(target=lambda: got.append(b.wait_gather(data="a" * 16)))
        t.start()
        c2 = barrierclient.Client(addr)
        b2 = barrierclient.Barrier(name + "-g", 3, client=c2, timeout=20)
        t2 = threading.Thread(target=lambda: got.append(b2.wait_gather(data="b" * 16)))
        t2.start()
        for _ in range(200):
            if b.n_waiting == 2:
                break
            threading.Event().wait(0.02)
        c3 = barrierclient.Client(addr)
        b3 = barrierclient.Barrier(name + "-g", 3, client=c3, timeout=20)
        with pytest.raises(barrierclient.LimitError, match="max-gather"):
            b3.wait(data="c" * 16)  # 48 > 40: refused, the barrier unharmed
        assert not b3.broken
        r = b3.wait_gather(data="c" * 8)
        t.join(20)
        t2.join(20)
        assert sorted(r.gathered) == ["a" * 16, "b" * 16, "c" * 8]
        for c_ in (c, c2, c3):
            c_.close()
    finally:
        stop_barrierd(p)


def test_members_over_max_line_refused_at_once(name):
    # ~110 KB of names is over the server's --max-line (64 KiB): refused by the
    # library before sending, not a reconnect loop.
    import time
    names = [f"member-{i:08d}" for i in range(6000)]
    b = barrierclient.Barrier(name, None, members=names, timeout=5)
    t0 = time.monotonic()
    with pytest.raises(barrierclient.LimitError) as e:
        b.wait(member=names[0])
    assert time.monotonic() - t0 < 2
    assert "--max-line" in str(e.value)
