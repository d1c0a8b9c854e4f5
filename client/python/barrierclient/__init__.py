"""barrierclient: threading.Barrier across processes and hosts, over barrierd.

    import barrierclient
    b = barrierclient.Barrier("steps", 3, timeout=30)
    i = b.wait()          # as threading.Barrier.wait; raises threading.BrokenBarrierError

A pure-Python package over libbarrierclient (ctypes). See docs/python.md.
"""
from threading import BrokenBarrierError

from ._barrier import Barrier
from ._client import Client, Rendezvous, default_client
from ._errors import (AuthError, BarrierConnectionError, BarrierError, InvalidArgumentError,
                      LimitError, MemberError, NotFoundError, PartiesMismatchError,
                      ProtocolError)
from ._lib import LibraryNotFoundError

__version__ = "0.2.0"


def library_version():
    """The version of the libbarrierclient loaded ("0.2.0")."""
    from ._lib import lib
    return lib().bc_version().decode()


__all__ = ["Barrier", "Client", "default_client", "BrokenBarrierError", "BarrierError",
           "BarrierConnectionError", "AuthError", "LimitError", "ProtocolError",
           "InvalidArgumentError", "PartiesMismatchError", "NotFoundError", "MemberError",
           "Rendezvous",
           "LibraryNotFoundError", "library_version", "__version__"]
