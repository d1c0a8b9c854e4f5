"""`pip install client/python` into a fresh venv, with no package index: for the
machine's default python3 and for Debian's /usr/bin/python3."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import PKG_SRC


def interpreters():
    seen, out = set(), []
    for cand in [shutil.which("python3"), "/usr/bin/python3", sys.executable]:
        if not cand or not os.path.exists(cand):
            continue
        try:
            real = subprocess.run([cand, "-c", "import sys; print(sys.executable)"],
                                  capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            continue
        real = os.path.realpath(real)
        if real and real not in seen:
            seen.add(real)
            out.append(cand)
    return out


@pytest.mark.parametrize("python", interpreters())
def test_offline_venv_install(python, tmp_path, barrierd):
    venv = tmp_path / "venv"
    r = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_CONFIG_FILE=os.devnull)
    # No index, no network: the build backend must be in client/python itself.
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", PKG_SRC],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # Run from outside the tree; the library comes from $BARRIERCLIENT_LIBRARY
    # if set, else from the tree the package was installed from.
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import barrierclient, sys\n"
                        "assert 'site-packages' in barrierclient.__file__, barrierclient.__file__\n"
                        "print(barrierclient.Barrier('venv-probe', 1).wait())\n"],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, BARRIERD_ADDR=barrierd))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"
