"""Exceptions: threading.BrokenBarrierError for broken barriers, BarrierError for the rest."""
import threading

BrokenBarrierError = threading.BrokenBarrierError

BC_EBROKEN, BC_ETIMEDOUT, BC_EACTION, BC_EPARTIES, BC_EINVAL, BC_ENOTFOUND, BC_ECONN, \
    BC_EPROTO, BC_EAUTH, BC_ELIMIT, BC_ESHUTDOWN, BC_ENOMEM, BC_ENOTLEADER, BC_EMEMBER = range(-1, -15, -1)


class BarrierError(Exception):
    """A barrierd failure other than a broken barrier.

    code: the BC_E* code (negative int); name: its wire name ("conn", "auth", ...);
    message: the detail (the server's message when it gave one)."""

    def __init__(self, code, name, message):
        super().__init__(message or name)
        self.code = code
        self.name = name
        self.message = message


class BarrierConnectionError(BarrierError, ConnectionError):
    """The server cannot be reached, the connection was lost and not taken back,
    the server shut down (BC_ECONN, BC_ESHUTDOWN, BC_ENOTLEADER)."""


class AuthError(BarrierError, PermissionError):
    """Missing or wrong auth token (BC_EAUTH)."""


class LimitError(BarrierError):
    """A server limit: connections, barriers, line length (BC_ELIMIT), or out of
    memory (BC_ENOMEM)."""


class ProtocolError(BarrierError):
    """The server sent something that is not the protocol (BC_EPROTO)."""


class InvalidArgumentError(BarrierError, ValueError):
    """A bad argument, checked locally or by the server (BC_EINVAL)."""


class PartiesMismatchError(BarrierError, ValueError):
    """The barrier exists with another number of parties (BC_EPARTIES)."""


class MemberError(BarrierError, ValueError):
    """Rendezvous: the member name is taken in its generation, or the barrier has
    a member list and the name is not on it (BC_EMEMBER)."""


class NotFoundError(BarrierError, LookupError):
    """The barrier does not exist (BC_ENOTFOUND)."""


_CLASSES = {
    BC_EPARTIES: PartiesMismatchError,
    BC_EINVAL: InvalidArgumentError,
    BC_ENOTFOUND: NotFoundError,
    BC_ECONN: BarrierConnectionError,
    BC_ESHUTDOWN: BarrierConnectionError,
    BC_ENOTLEADER: BarrierConnectionError,
    BC_EPROTO: ProtocolError,
    BC_EAUTH: AuthError,
    BC_ELIMIT: LimitError,
    BC_ENOMEM: LimitError,
    BC_EMEMBER: MemberError,
}


def error_for(code, name, message):
    """The exception for a failed call: BrokenBarrierError for broken, timed out
    and failed-action waits (as threading.Barrier raises), else a BarrierError."""
    if code in (BC_EBROKEN, BC_ETIMEDOUT, BC_EACTION):
        e = BrokenBarrierError(message or name)
        e.code, e.name, e.message = code, name, message
        return e
    return _CLASSES.get(code, BarrierError)(code, name, message)
