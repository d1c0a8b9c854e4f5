"""Finding libbarrierclient, and the message when it cannot be found."""
import os
import shutil
import subprocess
import sys

from conftest import PKG_SRC

import barrierclient

PROBE = ("import barrierclient\n"
         "try:\n"
         "    barrierclient.Barrier('x', 1).wait()\n"
         "except barrierclient.LibraryNotFoundError as e:\n"
         "    print(e)\n"
         "    raise SystemExit(3)\n")


def run_probe(pkg_parent, env):
    return subprocess.run([sys.executable, "-c", PROBE], cwd=pkg_parent, env=env,
                          capture_output=True, text=True, timeout=60)


def test_library_version():
    assert barrierclient.library_version() == barrierclient.__version__


def test_explicit_library_missing():
    env = dict(os.environ, BARRIERCLIENT_LIBRARY="/nonexistent/libbarrierclient.so")
    r = run_probe(PKG_SRC, env)
    assert r.returncode == 3, r.stderr
    assert "$BARRIERCLIENT_LIBRARY: /nonexistent/libbarrierclient.so" in r.stdout
    assert "set BARRIERCLIENT_LIBRARY" in r.stdout


def test_no_library_anywhere(tmp_path):
    import ctypes.util
    if ctypes.util.find_library("barrierclient"):
        import pytest
        pytest.skip("a libbarrierclient is installed on this system")
    # A copy of the package outside the tree: no in-tree build to find.
    shutil.copytree(os.path.join(PKG_SRC, "barrierclient"), tmp_path / "barrierclient",
                    ignore=shutil.ignore_patterns("__pycache__", "_tree.py"))
    env = {k: v for k, v in os.environ.items() if k != "BARRIERCLIENT_LIBRARY"}
    r = run_probe(tmp_path, env)
    assert r.returncode == 3, r.stderr
    assert "cannot load libbarrierclient" in r.stdout
    assert "the in-tree build" in r.stdout and "no such file" in r.stdout
    assert "find_library('barrierclient') found nothing" in r.stdout
    assert "cmake --build build" in r.stdout


def test_in_tree_build_found(tmp_path):
    top = os.path.normpath(os.path.join(PKG_SRC, "..", ".."))
    if not os.path.exists(os.path.join(top, "build", "client", "libbarrierclient.so")):
        import pytest
        pytest.skip("no in-tree build/")
    env = {k: v for k, v in os.environ.items() if k != "BARRIERCLIENT_LIBRARY"}
    r = subprocess.run([sys.executable, "-c",
                        "import barrierclient; print(barrierclient.library_version())"],
                       cwd=PKG_SRC, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == barrierclient.__version__
