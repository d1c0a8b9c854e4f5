"""A tiny PEP 517 build backend for barrierclient, standard library only.

It builds a pure-Python wheel (py3-none-any) with zipfile, so installing needs no
setuptools, wheel or index. The wheel also records the source tree it was built in
(barrierclient/_tree.py), so an installed package still finds that tree's build of
libbarrierclient (build/client/libbarrierclient.so) after $BARRIERCLIENT_LIBRARY.
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

NAME = "barrierclient"
HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, NAME)


def _version():
    with open(os.path.join(PKG, "__init__.py"), encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def _metadata():
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
            "Summary: threading.Barrier across processes and hosts, over barrierd\n"
            "Requires-Python: >=3.8\n")


def _files():
    """(archive name, bytes) of the package."""
    out = []
    for fn in sorted(os.listdir(PKG)):
        if fn.endswith(".py") and fn != "_tree.py":
            with open(os.path.join(PKG, fn), "rb") as f:
                out.append((f"{NAME}/{fn}", f.read()))
    tree = os.path.normpath(os.path.join(HERE, "..", ".."))
    out.append((f"{NAME}/_tree.py",
                f'"""Written by barrierclient_build."""\nTREE = {tree!r}\n'.encode()))
    return out


def _distinfo():
    return f"{NAME}-{_version()}.dist-info"


def _meta_files():
    di = _distinfo()
    return [(f"{di}/METADATA", _metadata().encode()),
            (f"{di}/WHEEL", b"Wheel-Version: 1.0\nGenerator: barrierclient_build\n"
                            b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
            (f"{di}/top_level.txt", f"{NAME}\n".encode())]


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    for arc, data in _meta_files():
        path = os.path.join(metadata_directory, arc)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return _distinfo()


def _write_wheel(wheel_directory, files):
    wheel = f"{NAME}-{_version()}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for arc, data in files + _meta_files():
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arc},sha256={digest.decode()},{len(data)}")
        record.append(f"{_distinfo()}/RECORD,,")
        z.writestr(f"{_distinfo()}/RECORD", "\n".join(record) + "\n")
    return wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _files())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth file pointing at this directory: edits take effect without reinstalling.
    return _write_wheel(wheel_directory, [(f"{NAME}.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{_version()}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for fn in ["pyproject.toml", "barrierclient_build.py", "README.md"]:
            p = os.path.join(HERE, fn)
            if os.path.exists(p):
                t.add(p, f"{base}/{fn}")
        for fn in sorted(os.listdir(PKG)):
            if fn.endswith(".py") and fn != "_tree.py":
                t.add(os.path.join(PKG, fn), f"{base}/{NAME}/{fn}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name
