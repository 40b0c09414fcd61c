"""The runtime axis: gVisor and user-mode Linux run the suite as the host does; a
runtime that cannot start is skipped with its reason (and fails under --require); the
record of a run inside a runtime names it."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conformance import cli, runtimes
from conformance.machine import measure
from conformance.run_record import build_record, fingerprint, record_name
from matrix import record

GVISOR = {"name": "gvisor", "version": "0.0~20221219.0", "release": None, "uname": "4.4.0"}


@pytest.fixture
def no_runtimes_installed(monkeypatch, tmp_path):
    """A PATH on which neither runsc nor linux.uml is found (Python itself is absolute)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


def test_a_missing_runtime_says_which_package_to_install(no_runtimes_installed):
    assert runtimes.unavailable("gvisor") == "runsc is not on PATH (apt-get install runsc)"
    assert runtimes.unavailable("uml") == "linux.uml is not on PATH (apt-get install user-mode-linux)"
    assert runtimes.unavailable("host") is None


def test_a_missing_runtime_is_skipped_with_its_reason_and_exit_0(no_runtimes_installed, tmp_path, capsys):
    assert cli.main(["run", "--runtime", "gvisor", "--out", str(tmp_path)]) == 0
    assert "dualstack: gvisor/default skipped: runsc is not on PATH (apt-get install runsc)" in capsys.readouterr().out
    assert list(tmp_path.glob("*.json")) == []  # nothing ran, nothing pretends it did


def test_require_turns_a_skipped_runtime_into_a_failure(no_runtimes_installed, tmp_path, capsys):
    assert cli.main(["run", "--runtime", "uml", "--require", "--out", str(tmp_path)]) == 1
    assert "--require: skipped uml/default" in capsys.readouterr().err


def test_an_unknown_runtime_is_bad_input(tmp_path, capsys):
    assert cli.main(["run", "--runtime", "qemu", "--out", str(tmp_path)]) == 2
    assert "unknown --runtime 'qemu'; known: host, gvisor, uml, all" in capsys.readouterr().err


def test_the_record_of_a_runtime_names_it_and_never_passes_gvisors_uname_as_a_release():
    platform = fingerprint(measure().os, "default", "gvisor", GVISOR)
    assert platform["runtime"] == GVISOR
    assert platform["release"] == "gvisor-0.0~20221219.0" != GVISOR["uname"]
    assert record_name(platform).endswith("-default-gvisor.json")
    assert "runtime" not in fingerprint(measure().os, "default") and record_name(
        fingerprint(measure().os, "default")).endswith("-default.json")


def test_a_record_with_a_runtime_and_a_known_deviation_is_valid():
    entry = {"id": "connect/tcp/bind=::1/v6only=0/client=ipv6", "family": "connect", "params": {}, "verdict": "deviates",
             "observed": {"outcome": "ok"}, "expected": {"outcome": "ok", "source": "https://man7.org/"},
             "reproducer": "import socket", "known": {"cause": "c", "reason": "r", "source": "https://github.com/x"}}
    data = build_record(measure(), [entry], variant="default", runtime="gvisor", started=datetime.now(timezone.utc))
    record.validate(data, "run-1", origin="test")
    assert data["platform"]["runtime"]["name"] == "gvisor"


def test_the_host_runs_a_command_as_it_is():
    assert runtimes.command_inside("host", ["python", "-V"], Path("/tmp")) == ["python", "-V"]


def test_the_gvisor_bundle_writes_only_to_the_given_folder_and_its_own_tmp(tmp_path):
    config = runtimes.gvisor_bundle(["true"], "/", tmp_path)
    writable = [m for m in config["mounts"] if m["type"] == "bind"]
    assert writable == [{"destination": str(tmp_path), "type": "bind", "source": str(tmp_path),
                         "options": ["rbind", "rw"]}]
    assert "--overlay2=root:memory" in runtimes.spec("gvisor")["flags"]  # the root's writes stay in memory
    assert "TMPDIR=/tmp" in config["process"]["env"]


def test_the_uml_job_carries_the_command_and_environment_word_for_word(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALSTACK_ODD", "it's $HOME; `x` \"y\"")
    argv = ["printf", "%s|", "a b", "it's", "$PATH", ""]
    job = tmp_path / "job.sh"
    job.write_text(runtimes.uml_job(argv, "/", tmp_path, tmp_path))
    shown = subprocess.run(["sh", "-c", f'. {job}; job_environment; "$@"; printf "%s" "$DUALSTACK_ODD"'],
                           capture_output=True, text=True, timeout=10, cwd=tmp_path).stdout
    assert shown == "a b|it's|$PATH||" + "it's $HOME; `x` \"y\""


def runtime_or_skip(name: str) -> None:
    reason = runtimes.unavailable(name)
    if reason is not None:
        pytest.skip(f"{name}: {reason} (.ci/run installs runsc, user-mode-linux and kmod)")


def leftovers(before: set[str]) -> list[str]:
    """Runtime processes, and scratch folders not there before, left after a run (the
    scratch goes to /tmp when the temp folder's path is too long for a Unix socket)."""
    return runtime_processes("gvisor") + runtime_processes("uml") + sorted(scratch_folders() - before)


def scratch_folders() -> set[str]:
    patterns = ("dualstack-gvisor-*", "dualstack-uml-*", "dualstack-check-*")
    return {p.name for pattern in patterns for p in Path("/tmp").glob(pattern)}


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["gvisor", "uml"])
def test_a_run_inside_a_runtime_records_it_and_leaves_nothing_behind(runtime, tmp_path):
    runtime_or_skip(runtime)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "runs"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    before = scratch_folders()
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--runtime", runtime, "--out", str(out),
                           "--cells", "connect/tcp/bind=::ffff:127.0.0.1/v6only=1/*", "--cells", "connect/tcp/bind=::1/*"],
                          capture_output=True, text=True, timeout=300, env={**env, "TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    paths = list(out.glob("*.json"))
    assert len(paths) == 1, done.stdout[-3000:]
    path = paths[0]
    data = record.load(path)
    assert data["platform"]["runtime"]["name"] == runtime and path.name.endswith(f"-default-{runtime}.partial.json")
    assert len(data["results"]) == 16
    if runtime == "uml":  # the 6.1 kernel's release, not the host's
        assert data["platform"]["release"] == runtimes.uml_release() != os.uname().release
        assert all(r["verdict"] == "conforms" for r in data["results"])
    else:  # judged by Linux: every difference is one gVisor's own source explains
        deviating = [r for r in data["results"] if r["verdict"] == "deviates"]
        assert deviating and all(r["known"]["source"].startswith("https://github.com/google/gvisor/")
                                 for r in deviating)
        assert data["platform"]["release"] != data["platform"]["runtime"]["uname"]
    assert leftovers(before) == [] and list(scratch.iterdir()) == []


def runtime_processes(runtime: str) -> list[str]:
    ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, timeout=10).stdout
    return [line for line in ps.splitlines() if f"dualstack-{runtime}-" in line]


def runtime_started(process: subprocess.Popen, runtime: str, deadline: float) -> bool:
    """Whether the runtime's processes showed up before the deadline (or the run ended)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end and process.poll() is None:
        if runtime_processes(runtime):
            return True
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.2)  # returns at once if the run ends
    return False


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["gvisor", "uml"])
def test_ctrl_c_ends_the_runtime_and_leaves_nothing_behind(runtime, tmp_path):
    runtime_or_skip(runtime)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    before = scratch_folders()
    # Ctrl-C reaches the whole foreground process group: here, a session of its own
    process = subprocess.Popen([sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, "
                                "signal.SIG_DFL); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
                                "-m", "conformance.cli", "run", "--runtime", runtime, "--out", str(tmp_path)],
                               env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert runtime_started(process, runtime, deadline=60), process.stderr.read()[-2000:]
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 130, process.stderr.read()[-2000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stderr.close()
    assert leftovers(before) == []
