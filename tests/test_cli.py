"""dualstack run, as a user runs it: records, summaries, exit status, bad input."""

import platform
import sys
from collections import Counter
from pathlib import Path

import pytest

from conformance.datafiles import DATA
from conformance.families import all_scenarios
from matrix import record
from tests.conftest import run_dualstack


def verdicts(path):
    return Counter(r["verdict"] for r in record.load(path)["results"])


@pytest.mark.slow
def test_run_writes_a_valid_record_and_a_summary(tmp_path):
    out = run_dualstack("run", "--out", str(tmp_path))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    [path] = tmp_path.glob("*.json")
    assert path.name.endswith(f"-py{sys.version_info.major}.{sys.version_info.minor}-default.json")
    data = record.load(path)
    assert len(data["results"]) == len(all_scenarios())
    assert set(verdicts(path)) <= {"conforms", "informational", "unsupported", "skipped"}
    counts = verdicts(path)
    assert f"verdicts: {counts['conforms']} conforms" in out.stdout
    assert f"dualstack: record {path}" in out.stdout


@pytest.mark.slow
def test_parallel_run_observes_what_a_serial_run_does(tmp_path):
    serial, parallel = tmp_path / "serial.json", tmp_path / "parallel.json"
    assert run_dualstack("run", "--out", str(serial)).returncode == 0
    assert run_dualstack("run", "--out", str(parallel), "-n", "4").returncode == 0
    # notes are diagnostics in words (how a server failed to start, say), not observations
    observed = [{r["id"]: {k: v for k, v in r["observed"].items() if k != "notes"} for r in record.load(p)["results"]}
                for p in (serial, parallel)]
    assert observed[0] == observed[1]
    assert record.load(parallel)["run"]["workers"] == 4


def test_a_deviation_fails_with_expected_observed_source_and_reproducer(tmp_path):
    expectations = tmp_path / "exp"
    expectations.mkdir()
    linux = (DATA / "expectations" / "linux.toml").read_text()
    # claim Windows' default on Linux, and drop the knob so the claim is used
    linux = linux.replace('value = 0\nknob = "net.ipv6.bindv6only"', "value = 1")
    (expectations / "linux.toml").write_text(linux)
    out = run_dualstack("run", "--out", str(tmp_path / "run.json"), "--expectations", str(expectations),
                        "--cells", "connect/tcp/bind=::/v6only=default/client=ipv4")
    if platform.system() != "Linux":
        pytest.skip("the edited file is Linux's")
    assert out.returncode == 1
    assert "deviates from what Linux documents" in out.stdout
    assert "outcome: expected 'refused', observed 'ok'" in out.stdout
    assert "source: https://git.kernel.org/pub/scm/docs/man-pages/man-pages.git/tree/man/man2const/IPV6_V6ONLY.2const?id=ec11ac0ef4f7a2080d59c928f8d2c357ebae0a63" in out.stdout
    assert "srv.bind(('::', 0))" in out.stdout  # the reproducer
    assert verdicts(tmp_path / "run.json") == {"deviates": 1}


@pytest.mark.parametrize("args,message", [
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "-k", "udp"], "unrecognized arguments: -k (pytest arguments go after --)"),
    (["run", "--cells", "nothing/matches/*"], "no cell was selected"),
    (["run", "--out", "/nonexistent-folder/run.json"], "--out /nonexistent-folder: folder does not exist"),
    (["run", "--out", "/nonexistent-folder/"], "/nonexistent-folder/: folder does not exist"),
    (["run", "--workers", "many"], "--workers takes a number or 'auto'"),
    (["run", "--expectations", "/nonexistent-folder"], "not a folder"),
    (["run", "--expectations", "conformance/data"], "has no "),  # a folder without this platform's file
    (["run", "--out", "somewhere"], "neither an existing folder nor a .json file name"),
    (["run", "--report", "/proc/newdir"], "--report /proc/newdir: not writable"),
    (["report", "--out", "/proc/x"], "--out /proc/x: not writable"),
    (["-q"], "unrecognized arguments: -q (see dualstack --help)"),
    ([], "a command is required"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    out = run_dualstack(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_unwritable_folder_is_refused_before_running(tmp_path):
    target = Path("/proc/dualstack.json") if Path("/proc").is_dir() else tmp_path / "file" / "x.json"
    out = run_dualstack("run", "--out", str(target))
    assert out.returncode == 2 and "not writable" in out.stderr or "does not exist" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_broken_expectations_file_is_named(tmp_path):
    from conformance.machine import os_name
    (tmp_path / f"{os_name()}.toml").write_text("os = [unclosed")
    out = run_dualstack("run", "--expectations", str(tmp_path), "--out", str(tmp_path))
    assert out.returncode == 2 and f"{os_name()}.toml: not a readable TOML file" in out.stderr
    assert not list(tmp_path.glob("*.json"))


def test_pytest_usage_errors_write_nothing(tmp_path):
    out = run_dualstack("run", "--out", str(tmp_path), "--", "--no-such-pytest-option")
    assert out.returncode == 2
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.skipif(platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"),
                    reason="the AF_INET6-less machine is made with a Linux seccomp filter")
@pytest.mark.slow
def test_machine_without_af_inet6_records_unsupported_cells(tmp_path):
    out = run_dualstack("run", "--out", str(tmp_path / "run.json"),
                        prefix=(sys.executable, "-m", "conformance.seccomp", "--"))
    assert out.returncode == 0, out.stdout[-2000:]
    data = record.load(tmp_path / "run.json")
    assert data["facts"]["af_inet6"] is False
    by_id = {r["id"]: r for r in data["results"]}
    cell = by_id["connect/tcp/bind=::/v6only=default/client=ipv4"]
    assert cell["verdict"] == "unsupported" and cell["observed"]["errno"] == "EAFNOSUPPORT"
    assert "AF_INET6 sockets cannot be created" in cell["reason"]
    assert by_id["connect/udp/bind=127.0.0.1/client=ipv4"]["verdict"] == "conforms"
    assert by_id["options/tcp/check=has-dualstack-ipv6"]["observed"]["value"] is False
    assert "Traceback" not in out.stdout + out.stderr


def test_an_empty_folder_of_records_is_named(tmp_path):
    out = run_dualstack("report", str(tmp_path), "--out", str(tmp_path / "report"))
    assert out.returncode == 2
    assert f"no run records in {tmp_path}" in out.stderr
    assert not (tmp_path / "report").exists()


def test_version_has_a_short_flag():
    out = run_dualstack("-V")
    assert out.returncode == 0 and out.stdout.startswith("dualstack-conformance ")
