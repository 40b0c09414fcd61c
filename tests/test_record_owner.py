"""One owner for the run record: the machine is measured once per run, the record is
written once, and a run of selected cells never takes the place of a complete record."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.datafiles import DATA
from conformance.machine import measure, os_name
from conformance.run_record import fingerprint, record_name
from matrix import record
from tests.conftest import run_dualstack

SUITE = Path(__file__).resolve().parent.parent / "conformance" / "suite"
walkable = pytest.mark.skipif(
    platform.system() != "Linux" or measure().default_v6only["tcp"] != 0 or not measure().has_ipv6,
    reason="the state machine walks Linux's rules on a dual-stack machine with ::1 (bindv6only=0)")


def copy_expectations(into: Path, edit=None) -> Path:
    folder = into / "expectations"
    shutil.copytree(Path(str(DATA / "expectations")), folder)
    if edit is not None:
        linux = folder / "linux.toml"
        linux.write_text(edit(linux.read_text()))
    return folder


@pytest.mark.slow
@walkable
def test_an_inverted_rule_turns_the_model_cell_into_a_deviation_and_the_run_into_exit_1(tmp_path):
    expectations = copy_expectations(tmp_path, lambda text: text.replace(
        "[facts.dualstack_takes_ipv4]\nvalue = true", "[facts.dualstack_takes_ipv4]\nvalue = false"))
    out = run_dualstack("run", "--out", str(tmp_path), "--expectations", str(expectations), "--cells", "model/tcp/*")
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr
    (written,) = tmp_path.glob("*.partial.json")
    data = record.load(written)
    (cell,) = data["results"]
    assert cell["id"] == "model/tcp/check=state-machine"
    assert cell["verdict"] == "deviates"
    assert "the kernel answered" in cell["observed"]["value"]
    assert "answer(lambda: s" in cell["reproducer"]  # the shrunk counterexample, as socket calls
    assert data["run"]["exit_status"] == 1


@walkable
def test_the_true_rules_make_the_model_cells_conform(tmp_path):
    out = run_dualstack("run", "--out", str(tmp_path / "model.json"), "--cells", "model/*")
    assert out.returncode == 0, out.stdout[-2000:]
    verdicts = {c["id"]: c["verdict"] for c in record.load(tmp_path / "model.json")["results"]}
    assert verdicts == {"model/tcp/check=state-machine": "conforms", "model/udp/check=state-machine": "conforms"}


def test_a_run_of_selected_cells_is_written_beside_the_complete_record(tmp_path, run_file):
    complete = tmp_path / record_name(fingerprint(os_name(), "default"))
    shutil.copy(run_file, complete)
    before = complete.read_bytes()
    out = run_dualstack("run", "--out", str(tmp_path), "--cells", "names/*")
    assert out.returncode == 0, out.stdout[-2000:]
    assert complete.read_bytes() == before
    partial = record.load(complete.with_name(complete.name.replace(".json", ".partial.json")))
    assert partial["run"]["partial"] is True and partial["run"]["cells"] == ["names/*"]
    assert {c["family"] for c in partial["results"]} == {"names"}


def test_a_run_of_selected_cells_refuses_to_overwrite_a_complete_record_file(tmp_path, run_file):
    target = tmp_path / "mine.json"
    shutil.copy(run_file, target)
    out = run_dualstack("run", "--out", str(target), "--cells", "names/*")
    assert out.returncode == 2
    assert "holds a complete record" in out.stderr
    assert target.read_bytes() == Path(run_file).read_bytes()


def test_the_report_leaves_out_partial_records_and_refuses_one_named(tmp_path, run_file):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(run_file, runs / "a.json")
    shutil.copy(run_file, runs / "b.partial.json")
    out = run_dualstack("report", str(runs), "--out", str(tmp_path / "report"))
    assert out.returncode == 0, out.stderr
    assert "left out 1 partial record(s)" in out.stdout
    named = run_dualstack("report", str(runs / "b.partial.json"), "--out", str(tmp_path / "report2"))
    assert named.returncode == 2 and "a partial record" in named.stderr
    assert not (tmp_path / "report2").exists()


COUNTING_PLUGIN = """
import os
import conformance.plugin as plugin

real = plugin.measure


def counted():
    with open(os.environ["DUALSTACK_MEASURED"], "a") as log:
        log.write(f"{os.getpid()}\\n")
    return real()


plugin.measure = counted
"""


def test_the_machine_is_measured_once_and_handed_to_every_worker(tmp_path):
    (tmp_path / "counting.py").write_text(COUNTING_PLUGIN)
    log = tmp_path / "measured"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DUALSTACK_MEASURED": str(log)}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "pytest", str(SUITE), "-p", "counting", "-n", "2", "-q",
                           "--dualstack-cells", "options/*", "--dualstack-record", str(tmp_path / "run.json")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=SUITE)
    assert done.returncode == 0, done.stdout[-2000:]
    assert len(log.read_text().split()) == 1  # the controller's measurement, not one per worker
    data = record.load(tmp_path / "run.json")
    assert data["run"]["workers"] == 2
    assert data["facts"] == measure().as_dict()
