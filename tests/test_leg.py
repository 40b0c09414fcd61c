"""The leg policy: a deviation is recorded and reported; a leg fails only for a harness
error, an unexplained deviation or a missing promised column."""

import json
from pathlib import Path

import pytest

from matrix import leg


def leg_folder(run_file: Path, folder: Path, mutate=None) -> Path:
    data = json.loads(run_file.read_text())
    if mutate:
        mutate(data)
    folder.mkdir(exist_ok=True)
    (folder / "run.json").write_text(json.dumps(data))
    return folder


def deviating(explained: bool):
    def mutate(data):
        first = data["results"][0]
        first.update(verdict="deviates", reproducer="python -c pass",
                     differences=[{"field": "outcome"}] if explained else [])
        first["expected"] = dict(first["expected"] or {}, source="https://docs.example.invalid/ipv6")
    return mutate


def test_a_clean_leg_passes(run_file, tmp_path, capsys):
    assert leg.main([str(leg_folder(run_file, tmp_path / "leg")), "--promise", "default"]) == 0


def test_an_explained_deviation_is_a_warning_and_the_leg_passes(run_file, tmp_path, capsys):
    assert leg.main([str(leg_folder(run_file, tmp_path / "leg", deviating(True)))]) == 0
    out = capsys.readouterr().out
    assert out.count("::warning title=Deviation (recorded, reported)::") == 1 and "::error" not in out


@pytest.mark.parametrize("mutate, reason", [
    (deviating(False), "does not say how"),
    (lambda d: d["results"][0].update(verdict="error", reason="OSError: boom"), "harness error: OSError: boom"),
    (lambda d: d["run"].update(exit_status=3), "did not complete"),
])
def test_the_leg_fails_for_a_broken_harness_or_an_unexplained_deviation(run_file, tmp_path, capsys, mutate, reason):
    assert leg.main([str(leg_folder(run_file, tmp_path / "leg", mutate))]) == 1
    assert reason in capsys.readouterr().out


def test_a_promised_column_without_a_record_fails_the_leg(run_file, tmp_path, capsys):
    assert leg.main([str(leg_folder(run_file, tmp_path / "leg")), "--promise", "default,bindv6only=1"]) == 1
    assert "no record of the promised column 'bindv6only=1'" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert leg.main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip().endswith("not a folder")
