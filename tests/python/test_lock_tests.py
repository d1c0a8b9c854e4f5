"""CPython's own Barrier tests (test.lock_tests.BarrierTests from the Python
running this, unchanged) against barrierclient.Barrier.

lock_tests makes its barriers as self.barriertype(parties, action=..., timeout=...);
barrierclient.Barrier needs a name first, so barriertype is a factory giving each
barrier a fresh name: every barrier of every test is a new one on the server."""
import uuid

from test import lock_tests

import barrierclient


def fresh_barrier(parties, action=None, timeout=None):
    return barrierclient.Barrier(f"lock-tests-{uuid.uuid4().hex}", parties, action, timeout)


class TestBarrierClientBarrier(lock_tests.BarrierTests):
    barriertype = staticmethod(fresh_barrier)
