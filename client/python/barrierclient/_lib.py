"""Loading libbarrierclient and declaring its C API for ctypes."""
import ctypes
import ctypes.util
import os
import threading

# The in-tree build, relative to this package's source directory
# (client/python/barrierclient -> the repository's top).
_HERE = os.path.dirname(os.path.abspath(__file__))
_IN_TREE = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "build", "client",
                                         "libbarrierclient.so"))


class LibraryNotFoundError(ImportError):
    """libbarrierclient could not be found or loaded."""


class Options(ctypes.Structure):
    _fields_ = [("auth_token", ctypes.c_char_p),
                ("connect_timeout_s", ctypes.c_double),
                ("client_name", ctypes.c_char_p),
                ("io_grace_s", ctypes.c_double),
                ("resume_s", ctypes.c_double),
                ("tls_ca_file", ctypes.c_char_p),
                ("tls_cert_file", ctypes.c_char_p),
                ("tls_key_file", ctypes.c_char_p),
                ("tls_server_name", ctypes.c_char_p),
                ("reserved", ctypes.c_uint64 * 23)]


class WaitResult(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint),
                ("generation", ctypes.c_uint64),
                ("reserved", ctypes.c_uint64 * 14)]


class Status(ctypes.Structure):
    _fields_ = [("parties", ctypes.c_uint),
                ("n_waiting", ctypes.c_uint),
                ("broken", ctypes.c_int),
                ("generation", ctypes.c_uint64),
                ("state", ctypes.c_char * 16),
                ("reserved", ctypes.c_uint64 * 11)]


class WaitArgs(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p),
                ("parties", ctypes.c_uint),
                ("has_timeout", ctypes.c_int),
                ("timeout_s", ctypes.c_double),
                ("data", ctypes.c_char_p),
                ("data_len", ctypes.c_size_t),
                ("member", ctypes.c_char_p),
                ("members", ctypes.POINTER(ctypes.c_char_p)),
                ("n_members", ctypes.c_size_t),
                ("action", ctypes.c_void_p),
                ("action_arg", ctypes.c_void_p),
                ("reserved", ctypes.c_uint64 * 22)]


assert ctypes.sizeof(WaitArgs) == 256
assert ctypes.sizeof(Options) == 256
assert ctypes.sizeof(WaitResult) == 128
assert ctypes.sizeof(Status) == 128

ACTION = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
RDV_ACTION = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def _candidates():
    """(description, path) in lookup order."""
    env = os.environ.get("BARRIERCLIENT_LIBRARY")
    if env:
        # Set explicitly: that file and nothing else.
        return [("$BARRIERCLIENT_LIBRARY", env)]
    out = [("the in-tree build", _IN_TREE)]
    try:
        from . import _tree  # written into wheels by the in-tree build backend
        p = os.path.join(_tree.TREE, "build", "client", "libbarrierclient.so")
        if os.path.normpath(p) != _IN_TREE:
            out.append(("the build of the tree it was installed from", p))
    except ImportError:
        pass
    found = ctypes.util.find_library("barrierclient")
    if found:
        out.append(("the system (ctypes.util.find_library)", found))
    return out


_lib = None
_lib_lock = threading.Lock()


def _declare(lib):
    P = ctypes.c_void_p
    S = ctypes.c_char_p
    I = ctypes.c_int
    decl = {
        "bc_connect": (I, [S, ctypes.POINTER(Options), ctypes.POINTER(P)]),
        "bc_close": (None, [P]),
        "bc_wait": (I, [P, S, ctypes.c_uint, ctypes.c_double, ACTION, P,
                        ctypes.POINTER(WaitResult)]),
        "bc_wait_ex": (I, [P, ctypes.POINTER(WaitArgs), ctypes.POINTER(P)]),
        "bc_action_set_result": (I, [P, S, ctypes.c_size_t]),
        "bc_rendezvous_index": (ctypes.c_uint, [P]),
        "bc_rendezvous_generation": (ctypes.c_uint64, [P]),
        "bc_rendezvous_n_gathered": (ctypes.c_size_t, [P]),
        "bc_rendezvous_gathered": (P, [P, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
        "bc_rendezvous_action_result": (P, [P, ctypes.POINTER(ctypes.c_size_t)]),
        "bc_rendezvous_free": (None, [P]),
        "bc_abort": (I, [P, S]),
        "bc_reset": (I, [P, S]),
        "bc_status_get": (I, [P, S, ctypes.POINTER(Status)]),
        "bc_ping": (I, [P, ctypes.POINTER(ctypes.c_double)]),
        "bc_version": (S, []),
        "bc_strerror": (S, [I]),
        "bc_error_name": (S, [I]),
        "bc_last_error_message": (S, []),
    }
    for name, (res, args) in decl.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args


def lib():
    """The loaded library (loaded on first use)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        for what, path in _candidates():
            explicit = what == "$BARRIERCLIENT_LIBRARY"
            if not explicit and os.sep in path and not os.path.exists(path):
                tried.append(f"{what}: {path} (no such file)")
                continue
            try:
                l = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{what}: {path} ({e})")
                if explicit:
                    break
                continue
            _declare(l)
            _lib = l
            return l
        if not os.environ.get("BARRIERCLIENT_LIBRARY"):
            tried.append("the system: ctypes.util.find_library('barrierclient') found nothing")
        raise LibraryNotFoundError(
            "barrierclient: cannot load libbarrierclient. Tried:\n  - " + "\n  - ".join(tried) +
            "\nBuild it (cmake -S . -B build && cmake --build build, at the top of the barrierd "
            "tree), or install it (cmake --install build --component barrierclient), or set "
            "BARRIERCLIENT_LIBRARY to the path of libbarrierclient.so.")
