"""A machine shared by users: the folders one user's run leaves in the temp dir must
not stop another user's run (root ran the suite first, then a user does)."""

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from conformance import ports
from conformance.scratch import scratch_folder
from tests.conftest import ROOT

NOBODY = 65534
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")  # not under /root, which nobody cannot enter

AS_NOBODY = """
from conformance import ports
from conformance.scratch import scratch_folder
with ports.free() as port:
    print(port, scratch_folder("go"))
"""


def as_nobody(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([SYSTEM_PYTHON, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + code],
                          capture_output=True, text=True, timeout=60, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "TMPDIR": tempfile.gettempdir()},
                          preexec_fn=lambda: (os.setgid(NOBODY), os.setuid(NOBODY)))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or SYSTEM_PYTHON is None,
                    reason="needs root to start a process as another user, and a system python3")
def test_another_user_runs_after_root():
    with ports.free():  # root's folders now exist, as after any run by root
        pass
    if not os.stat(tempfile.gettempdir()).st_mode & stat.S_IWOTH:
        pytest.skip(f"{tempfile.gettempdir()} is not writable by other users")
    if as_nobody("import conformance.scratch").returncode != 0:
        pytest.skip(f"nobody cannot read {ROOT}")
    out = as_nobody(AS_NOBODY)
    assert out.returncode == 0, out.stderr
    port, folder = out.stdout.split()
    assert int(port) in ports.pool()
    assert folder != str(scratch_folder("go")) and os.stat(folder).st_uid == NOBODY
    shutil.rmtree(folder)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or SYSTEM_PYTHON is None
                    or shutil.which("unshare") is None,
                    reason="needs root to start a process as another user, a system python3 and unshare")
def test_inside_a_user_namespace_the_user_is_still_who_they_are_outside():
    if as_nobody("import conformance.scratch").returncode != 0:
        pytest.skip(f"nobody cannot read {ROOT}")
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import os; from conformance.scratch import user; " \
           "print(os.getuid(), user())"
    out = subprocess.run(["unshare", "--user", "--map-root-user", SYSTEM_PYTHON, "-I", "-c", code],
                         capture_output=True, text=True, timeout=60, cwd="/", env={"PATH": "/usr/bin:/bin"},
                         preexec_fn=lambda: (os.setgid(NOBODY), os.setuid(NOBODY)))
    if out.returncode != 0 and "unshare" in out.stderr:
        pytest.skip(f"no unprivileged user namespaces here: {out.stderr.strip()}")
    assert out.stdout.split() == ["0", str(NOBODY)]  # uid 0 inside, the folder of nobody outside
