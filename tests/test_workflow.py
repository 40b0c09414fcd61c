"""The GitHub Actions workflow, checked against the project: the tox envs it calls
exist, every OS it runs has expectations, every action is pinned, and the commands the
README shows are real."""

import configparser
import re
from itertools import product

import pytest
import yaml

from conformance.cli import COMMANDS, build_parser
from conformance.datafiles import expectation_files
from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"
RUNNER_OS = {"ubuntu": "linux", "macos": "darwin", "windows": "windows"}


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def tox_envs() -> set[str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    envs = {section.split(":", 1)[1] for section in config.sections() if section.startswith("testenv:")}
    for item in re.split(r",\s*(?![^{]*\})", config["tox"]["env_list"].strip()):
        parts = [p.split(",") if p else [""] for p in re.split(r"[{}]", item)]
        envs |= {"".join(combo) for combo in product(*parts)}
    return envs


def gh_mapping() -> dict[str, str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    lines = [line.split("=") for line in config["gh"]["python"].strip().splitlines()]
    return {version.strip(): env.strip() for version, env in lines}


def steps(workflow):
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def test_every_tox_env_the_workflow_calls_exists(workflow):
    envs = tox_envs()
    for step in steps(workflow):
        for called in re.findall(r"tox -e ([\w,.=-]+)", step.get("run", "")):
            assert set(called.split(",")) <= envs, called
    mapping = gh_mapping()
    pythons = workflow["jobs"]["suite"]["strategy"]["matrix"]["python"]
    assert set(pythons) <= set(mapping), "every Python of the matrix needs a [gh] mapping"
    assert set(mapping.values()) <= envs


def test_every_os_the_workflow_runs_has_expectations(workflow):
    documented = set(expectation_files())
    labels = workflow["jobs"]["suite"]["strategy"]["matrix"]["os"]
    for label in labels:
        assert RUNNER_OS[label.split("-")[0]] in documented, label
    for entry in workflow["jobs"]["bsd"]["strategy"]["matrix"]["include"]:
        assert entry["os"] in documented, entry["os"]


def test_every_action_is_pinned(workflow):
    uses = [step["uses"] for step in steps(workflow) if "uses" in step]
    assert uses
    for ref in uses:
        version = ref.split("@", 1)[1]
        assert re.fullmatch(r"[0-9a-f]{40}", version) or re.fullmatch(r"v\d+\.\d+\.\d+", version), ref


def test_least_privilege(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    writers = {name for name, job in workflow["jobs"].items() if "permissions" in job}
    assert writers == {"publish"}
    assert workflow["jobs"]["publish"]["permissions"] == {"pages": "write", "id-token": "write"}


def test_the_matrix_does_not_stop_at_the_first_failure(workflow):
    assert workflow["jobs"]["suite"]["strategy"]["fail-fast"] is False
    assert workflow["jobs"]["bsd"]["continue-on-error"] is True
    assert set(workflow["jobs"]["aggregate"]["needs"]) == {"suite", "linux-variants", "container-no-ipv6", "bsd"}


def test_no_two_jobs_record_the_same_column(workflow):
    """The report refuses two records of one platform and variant: a job that runs
    every variant on an image and Python the suite job also runs drops its default."""
    suite = workflow["jobs"]["suite"]["strategy"]["matrix"]
    for name, job in workflow["jobs"].items():
        runs = " ".join(step.get("run", "") for step in job.get("steps", []))
        python = next((step["with"]["python-version"] for step in job.get("steps", [])
                       if "setup-python" in step.get("uses", "")), None)
        if "--variant all" in runs and job["runs-on"] in suite["os"] and python in suite["python"]:
            assert "rm -f reports/runs/*-default.json" in runs, name
    artifacts = [step["with"]["name"] for step in steps(workflow) if "upload-artifact" in step.get("uses", "")]
    assert len(artifacts) == len(set(artifacts))
    download = next(step for step in steps(workflow) if "download-artifact" in step.get("uses", ""))
    assert not download["with"].get("merge-multiple")  # same-named records of two jobs must not overwrite


def readme_commands() -> list[str]:
    blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(("tox", "dualstack"))]


def test_every_command_the_readme_shows_exists():
    commands = readme_commands()
    assert any(c.startswith("tox -e tests") for c in commands)
    assert any(c.startswith("tox -e conformance") for c in commands)
    envs = tox_envs()
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for command in commands:
        words = command.split()
        if words[0] == "tox":
            assert words[2] in envs, command
            continue
        assert words[1] in COMMANDS, command
        known = {opt for action in subparsers[words[1]]._actions for opt in action.option_strings}
        for word in words[2:]:
            option = word.strip("[]").split("=")[0]
            if option.startswith("--"):
                assert option in known, f"{command}: {option}"
