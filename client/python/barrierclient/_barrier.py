"""Barrier: threading.Barrier's interface over a barrierd barrier."""
import asyncio
import os
import threading

from ._client import Client, default_client
from ._errors import BrokenBarrierError, NotFoundError


class Barrier:
    """A barrier for `parties` parties, named `name` on a barrierd server:
    threading.Barrier across threads, processes and hosts.

    Every Barrier object with the same name on the same server is the same
    barrier. action: a callable the last arriver runs once per generation before
    anyone is released (its exception breaks the barrier and is raised in the
    thread that ran it; its return value is ignored, as threading.Barrier does,
    unless action_sets_result=True: then a str it returns is the action_result
    every party receives). timeout: the default for wait(). addr, token: the server
    and its auth token (None: $BARRIERD_ADDR / $BARRIERD_TOKEN), and for a
    tls:// address tls_ca, tls_cert, tls_key, tls_server_name (see Client), used
    through the process's shared connection; or client: a barrierclient.Client
    to use. members: the member list the barrier is created with (parties may
    then be None: it is their number); it admits only waits naming one of them."""

    def __init__(self, name, parties, action=None, timeout=None, *, addr=None, token=None,
                 client=None, members=None, tls_ca=None, tls_cert=None, tls_key=None,
                 tls_server_name=None, action_sets_result=False):
        if members is not None:
            members = list(members)
            if parties is None:
                parties = len(members)
            if parties != len(members):
                raise ValueError(f"parties is {parties} but members names {len(members)}")
        if parties is None or parties < 1:
            raise ValueError("parties must be >= 1")
        tls = {k: v for k, v in (("tls_ca", tls_ca), ("tls_cert", tls_cert),
                                 ("tls_key", tls_key), ("tls_server_name", tls_server_name))
               if v is not None}
        if client is not None and (addr is not None or token is not None or tls):
            raise ValueError("give either client or addr/token/tls_*, not both")
        self.name = name
        self._parties = parties
        self._action = action
        self._timeout = timeout
        self._addr = addr
        self._token = token
        self._tls = {k: os.fspath(v) for k, v in tls.items()}
        self._client = client
        self._members = members
        self._action_sets_result = bool(action_sets_result)
        self._mine = threading.local()  # this thread's last Rendezvous

    def __getstate__(self):
        # The per-thread results stay with this process (a thread-local does
        # not pickle); the copy starts with none, as a new Barrier does.
        state = self.__dict__.copy()
        state.pop("_mine", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._mine = threading.local()

    @property
    def client(self):
        """The Client this barrier talks through (the process's shared one by default)."""
        return self._client or default_client(self._addr, self._token, self._tls)

    def wait(self, timeout=None, *, data=None, member=None):
        """Wait until all parties have called wait(); returns this caller's arrival
        index (0 .. parties-1, parties-1 for the last). timeout (seconds; None: the
        barrier's default, if that is None too, forever): when it passes, the
        barrier breaks and BrokenBarrierError is raised, as in threading.Barrier.
        data (str): handed to every party in `gathered`; member (str): this
        party's name, unique in its generation (docs/python.md, "Rendezvous").
        After it returns, this thread's `gathered` and `action_result` hold what
        the release delivered."""
        return self.wait_gather(timeout, data=data, member=member).index

    def wait_gather(self, timeout=None, *, data=None, member=None):
        """wait(), returning the whole Rendezvous: index, generation, gathered
        (every party's data by arrival index, None where a party sent none; []
        when nobody sent any) and action_result."""
        if timeout is None:
            timeout = self._timeout
        r = self.client.wait_gather(self.name, self._parties, timeout, self._action, data=data,
                                    member=member, members=self._members,
                                    action_sets_result=self._action_sets_result)
        self._last_generation = r.generation
        self._mine.last = r
        return r

    @property
    def gathered(self):
        """What this thread's last wait on this barrier gathered ([] if none)."""
        r = getattr(self._mine, "last", None)
        return r.gathered if r else []

    @property
    def action_result(self):
        """The action result this thread's last wait received, or None."""
        r = getattr(self._mine, "last", None)
        return r.action_result if r else None

    async def wait_async(self, timeout=None):
        """wait() for asyncio: runs the blocking wait in a thread of its own (not
        the default executor, whose few threads many waiters could exhaust).
        Cancelling the awaiting task does not withdraw the wait from the server."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def settle(ok, value):
            if not fut.done():
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

        def run():
            try:
                r = self.wait(timeout)
            except BaseException as e:  # noqa: B036 - handed to the awaiting task
                loop.call_soon_threadsafe(settle, False, e)
            else:
                loop.call_soon_threadsafe(settle, True, r)

        threading.Thread(target=run, name=f"barrierclient-wait-{self.name}", daemon=True).start()
        return await fut

    def reset(self):
        """Return the barrier to its empty state; waiters get BrokenBarrierError."""
        try:
            self.client.reset(self.name)
        except NotFoundError:
            pass  # nobody has waited yet: it is as good as reset

    def abort(self):
        """Break the barrier: waiters now and later get BrokenBarrierError until reset()."""
        c = self.client
        try:
            c.abort(self.name)
        except NotFoundError:
            # The server creates a barrier with its first wait: make it exist
            # (a zero-timeout wait, which breaks it unless parties == 1), then abort.
            try:
                if self._members:  # created with its list, as its parties would
                    c.wait_gather(self.name, self._parties, 0, member=self._members[0],
                                  members=self._members)
                else:
                    c.wait(self.name, self._parties, 0)
            except BrokenBarrierError:
                pass
            c.abort(self.name)

    def _status(self):
        try:
            return self.client.status(self.name)
        except NotFoundError:
            return None

    @property
    def members(self):
        """The member list this Barrier creates the barrier with, or None."""
        return list(self._members) if self._members is not None else None

    @property
    def parties(self):
        """The number of parties required to pass the barrier."""
        return self._parties

    @property
    def n_waiting(self):
        """The number of parties waiting in the current generation."""
        st = self._status()
        return st["n_waiting"] if st else 0

    @property
    def broken(self):
        """True if the barrier is broken."""
        st = self._status()
        return bool(st and st["broken"])

    @property
    def generation(self):
        """The barrier's current generation (0, 1, 2, ...; only grows)."""
        st = self._status()
        return st["generation"] if st else 0

    def __repr__(self):
        cls = self.__class__
        st = self._status()
        if st and st["broken"]:
            return f"<{cls.__module__}.{cls.__qualname__} at {id(self):#x}: broken>"
        return (f"<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:"
                f" waiters={st['n_waiting'] if st else 0}/{self.parties}>")


Barrier.__module__ = "barrierclient"
Client.__module__ = "barrierclient"
