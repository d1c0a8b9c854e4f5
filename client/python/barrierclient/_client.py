"""Client: one connection to barrierd (a bc_client handle), shared by threads,
reconnected in a forked child."""
import ctypes
import os
import threading
import weakref

from . import _lib
from ._errors import ProtocolError, error_for

_all_clients = weakref.WeakSet()


def _b(s):
    return None if s is None else s.encode() if isinstance(s, str) else bytes(s)


def _check(rc):
    if rc < 0:
        L = _lib.lib()
        name = (L.bc_error_name(rc) or b"").decode("utf-8", "replace")
        msg = (L.bc_last_error_message() or b"").decode("utf-8", "replace")
        raise error_for(rc, name, msg)
    return rc



def _raise_wait_failure(rc, name, failure):
    """A failed wait: the action's own exception when it failed (as CPython's
    Barrier re-raises it in the party that ran it), else the library's error."""
    L = _lib.lib()
    name_ = (L.bc_error_name(rc) or b"").decode("utf-8", "replace")
    msg = (L.bc_last_error_message() or b"").decode("utf-8", "replace")
    if failure:
        e = failure[0]
        if hasattr(e, "add_note"):
            e.add_note(f"barrierclient: the action failed and broke barrier {name!r}: {msg}")
        raise e
    raise error_for(rc, name_, msg)

class Client:
    """A connection to barrierd, made on first use and shared by every thread of
    the process that uses it (the C handle is thread-safe).

    addr: "host:port", "unix:/path" or a comma-separated list; None means
    $BARRIERD_ADDR, else 127.0.0.1:7411. token: the auth token; None means
    $BARRIERD_TOKEN. name: the client name the server shows (None: HOSTNAME:PID).
    connect_timeout, io_grace, resume: seconds, bc_options' fields (None: default).
    tls_ca, tls_cert, tls_key, tls_server_name: for "tls://host:port" addresses
    (docs/tls.md): the CA file to trust (None: the system's), a client
    certificate and its key (mutual TLS), the name to check the server's
    certificate against (None: the address's host). Paths may be os.PathLike.

    After fork() the child never touches the parent's handle: its first call
    connects anew (the parent's connection is left to the parent)."""

    def __init__(self, addr=None, token=None, *, name=None, connect_timeout=None,
                 io_grace=None, resume=None, tls_ca=None, tls_cert=None, tls_key=None,
                 tls_server_name=None):
        self.addr = addr
        self.token = token
        self.name = name
        self._opts = (connect_timeout, io_grace, resume)
        self._tls = tuple(None if v is None else os.fsencode(v)
                          for v in (tls_ca, tls_cert, tls_key, tls_server_name))
        self._handle = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False
        _all_clients.add(self)

    def _after_fork_in_child(self):
        # The inherited handle belongs to the parent's connection: drop it
        # without bc_close (which would shut the shared socket down).
        self._lock = threading.Lock()
        self._handle = None
        self._pid = os.getpid()

    def handle(self):
        """The bc_client pointer, connecting (or reconnecting after fork) if needed."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
        h = self._handle
        if h is not None:
            return h
        with self._lock:
            if self._closed:
                raise ValueError("barrierclient.Client is closed")
            if self._handle is None:
                L = _lib.lib()
                o = _lib.Options()
                o.auth_token = _b(self.token)
                o.client_name = _b(self.name)
                ct, ig, rs = self._opts
                o.connect_timeout_s = ct or 0.0
                o.io_grace_s = ig or 0.0
                o.resume_s = 0.0 if rs is None else (rs if rs > 0 else -1.0)
                (o.tls_ca_file, o.tls_cert_file, o.tls_key_file,
                 o.tls_server_name) = self._tls
                out = ctypes.c_void_p()
                _check(L.bc_connect(_b(self.addr), ctypes.byref(o), ctypes.byref(out)))
                self._handle = out.value
            return self._handle

    def connect(self):
        """Connect now (else the first call does); returns self."""
        self.handle()
        return self

    def close(self):
        """Close the connection. No other thread may be using the client."""
        with self._lock:
            self._closed = True
            h, self._handle = self._handle, None
            if h is not None and self._pid == os.getpid():
                _lib.lib().bc_close(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ping(self):
        """Round trip to the server; returns the seconds it took."""
        rtt = ctypes.c_double()
        _check(_lib.lib().bc_ping(self.handle(), ctypes.byref(rtt)))
        return rtt.value

    def status(self, name):
        """The barrier's state as a dict (NotFoundError if it does not exist)."""
        st = _lib.Status()
        _check(_lib.lib().bc_status_get(self.handle(), _b(name), ctypes.byref(st)))
        return {"parties": st.parties, "n_waiting": st.n_waiting, "broken": bool(st.broken),
                "generation": st.generation, "state": st.state.decode()}

    def abort(self, name):
        _check(_lib.lib().bc_abort(self.handle(), _b(name)))

    def reset(self, name):
        _check(_lib.lib().bc_reset(self.handle(), _b(name)))

    def wait(self, name, parties, timeout=None, action=None):
        """bc_wait: returns (index, generation). timeout None waits forever.
        action: a callable run by the last arriver; its exception breaks the
        barrier and is raised here (as threading.Barrier does)."""
        L = _lib.lib()
        t = -1.0 if timeout is None else max(float(timeout), 0.0)
        res = _lib.WaitResult()
        if action is None:
            cb = _lib.ACTION()  # NULL
            failure = None
        else:
            failure = []

            def run(_arg):
                try:
                    action()
                    return 0
                except BaseException as e:  # noqa: B036 - reported to the caller
                    failure.append(e)
                    return 1
            cb = _lib.ACTION(run)
        rc = L.bc_wait(self.handle(), _b(name), parties, t, cb, None, ctypes.byref(res))
        if rc < 0:
            _raise_wait_failure(rc, name, failure)
        return res.index, res.generation


class Rendezvous:
    """What a released wait_gather() got: index and generation (as wait()),
    gathered (a list with every party's data by arrival index, None for a party
    that sent none; [] when no party sent any) and action_result (the str the
    generation's action returned, or None)."""

    __slots__ = ("index", "generation", "gathered", "action_result")

    def __init__(self, index, generation, gathered, action_result):
        self.index = index
        self.generation = generation
        self.gathered = gathered
        self.action_result = action_result

    def __repr__(self):
        return (f"Rendezvous(index={self.index}, generation={self.generation}, "
                f"gathered={self.gathered!r}, action_result={self.action_result!r})")


def _text(v, what):
    """A str or bytes argument as UTF-8 bytes (without NUL)."""
    if v is None:
        return None
    b = v.encode() if isinstance(v, str) else bytes(v)
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} must be UTF-8 text") from None
    if b"\0" in b:
        raise ValueError(f"{what} must not contain NUL characters")
    return b


def _read_rendezvous(L, r):
    n = L.bc_rendezvous_n_gathered(r)
    size = ctypes.c_size_t()
    gathered = []
    for i in range(n):
        p = L.bc_rendezvous_gathered(r, i, ctypes.byref(size))
        gathered.append(None if not p else ctypes.string_at(p, size.value).decode())
    p = L.bc_rendezvous_action_result(r, ctypes.byref(size))
    result = None if not p else ctypes.string_at(p, size.value).decode()
    return Rendezvous(L.bc_rendezvous_index(r), L.bc_rendezvous_generation(r), gathered, result)


def _wait_ex(self, name, parties, timeout=None, action=None, *, data=None, member=None,
             members=None, action_sets_result=False):
    """bc_wait_ex (docs/python.md, "Rendezvous"): returns a Rendezvous.
    parties may be None with members (it is their number). action: as wait()'s,
    its return value ignored (as threading.Barrier does); with
    action_sets_result=True a str or bytes it returns is the result every party
    receives (action_result)."""
    L = _lib.lib()
    a = _lib.WaitArgs()
    a.name = _b(name)
    a.parties = parties or 0
    if timeout is not None:
        a.has_timeout = 1
        a.timeout_s = max(float(timeout), 0.0)
    d = _text(data, "data")
    if d is not None:
        a.data = d
        a.data_len = len(d)
    m = _text(member, "member")
    a.member = m
    keep = [d, m]
    if members is not None:
        names = [_text(x, "members") for x in members]
        arr = (ctypes.c_char_p * max(len(names), 1))(*names)
        keep += [names, arr]
        a.members = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
        a.n_members = len(names)
        if not names:
            raise ValueError("members must not be empty")
    failure = []
    if action is not None:
        def run(_arg, ctx):
            try:
                res = action()
                if action_sets_result and isinstance(res, (str, bytes)):
                    b = _text(res, "the action's result")
                    if L.bc_action_set_result(ctx, b, len(b)) < 0:
                        raise ValueError("the action's result was refused: " + (
                            L.bc_last_error_message() or b"").decode("utf-8", "replace"))
                return 0
            except BaseException as e:  # noqa: B036 - reported to the caller
                failure.append(e)
                return 1
        cb = _lib.RDV_ACTION(run)
        keep.append(cb)
        a.action = ctypes.cast(cb, ctypes.c_void_p)
    out = ctypes.c_void_p()
    rc = L.bc_wait_ex(self.handle(), ctypes.byref(a), ctypes.byref(out))
    if rc < 0:
        _raise_wait_failure(rc, name, failure)
    if not out.value:  # released, but the result could not be read: say so
        msg = (L.bc_last_error_message() or b"").decode("utf-8", "replace")
        raise ProtocolError(f"released from barrier {name!r}, but its result was lost: {msg}")
    try:
        return _read_rendezvous(L, out.value)
    finally:
        L.bc_rendezvous_free(out.value)


Client.wait_gather = _wait_ex


def _reinit_after_fork():
    for c in list(_all_clients):
        c._after_fork_in_child()


_defaults = {}
_defaults_lock_holder = [threading.Lock()]


def _fresh_defaults_lock():
    _defaults_lock_holder[0] = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: (_fresh_defaults_lock(), _reinit_after_fork()))


def default_client(addr=None, token=None, tls=None):
    """The process's shared Client for (addr, token, tls), made on first use;
    tls: a dict of Client's tls_* keyword arguments, or None."""
    tls = tuple(sorted((tls or {}).items()))
    key = (addr, token, tls)
    c = _defaults.get(key)
    if c is None:
        with _defaults_lock_holder[0]:
            c = _defaults.get(key)
            if c is None:
                c = _defaults[key] = Client(addr, token, **dict(tls))
    return c
