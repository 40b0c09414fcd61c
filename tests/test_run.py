"""One run of the suite, in the small: the environment a session gets, what its exit
codes mean in dualstack's terms, and what a record says about them."""

from __future__ import annotations

import os

import pytest

from conformance import run
from conformance.run_record import record_exit_status
from conformance.scratch import SHARED_TMP, scratch_folder
from conformance.vocabulary import ExitStatus


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX users")
def test_a_session_is_told_who_runs_it_when_tox_passes_no_user(monkeypatch):
    import pwd

    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("LOGNAME", raising=False)
    env = run.child_environment()
    # inside a variant's user namespace the uid is 0: without these pytest would take
    # the user for root and refuse root's /tmp/pytest-of-root
    assert env["USER"] == env["LOGNAME"] == pwd.getpwuid(os.getuid()).pw_name


@pytest.mark.parametrize("codes,status", [
    ([0], ExitStatus.OK), ([0, 1], ExitStatus.DEVIATES), ([4], ExitStatus.USAGE), ([5], ExitStatus.USAGE),
    ([3], ExitStatus.BROKEN), ([0, 3, 1], ExitStatus.BROKEN),
])
def test_session_codes_in_dualstacks_terms(codes, status):
    assert run.exit_status(codes) == status


def test_a_record_never_says_interrupted_as_bad_input():
    assert record_exit_status(0) == 0 and record_exit_status(1) == 1
    assert record_exit_status(2) == ExitStatus.BROKEN != ExitStatus.USAGE  # pytest's 2 is "interrupted"


def test_what_outlives_a_run_goes_to_the_shared_temp_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "this-run"))
    monkeypatch.setenv(SHARED_TMP, str(tmp_path))
    assert scratch_folder("ports").parent == tmp_path


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds processes through /proc")
def test_the_sweep_finds_what_carries_the_runs_marker(monkeypatch):
    import subprocess
    import sys
    import uuid

    marker = f"{run.RUN_MARKER}={uuid.uuid4()}"
    name, value = marker.split("=", 1)
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                          env={**os.environ, name: value}) as child:
        try:
            assert run.leftovers(marker) == [child.pid]
            run.sweep(marker)
            assert child.wait(timeout=10) != 0
            assert run.leftovers(marker) == []
        finally:
            child.kill()
