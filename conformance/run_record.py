"""The run record: its shape (TypedDicts of matrix/schemas/run-1.schema.json), the
platform fingerprint and how a record is assembled. Written once per run, by the process
that ran it (conformance/plugin.py, promoted by conformance/cli.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict

from conformance import __version__
from conformance.machine import Machine
from conformance.runtimes import HOST, describe, on_platform
from conformance.vocabulary import ExitStatus
from matrix.merge import column_key


class RunInfo(TypedDict, total=False):
    id: str
    started: str
    finished: str
    suite_version: str
    commit: str | None
    workers: int
    exit_status: int | None
    partial: bool  # a run of selected cells
    cells: list[str]  # the patterns that selected them


class Fingerprint(TypedDict, total=False):
    os: str
    release: str
    version: str
    machine: str
    distribution: str | None
    python: str
    implementation: str
    variant: str
    ci: dict[str, str]
    runtime: dict[str, Any]  # another network stack on this machine: name, version, release


class Cell(TypedDict, total=False):
    id: str
    family: str
    params: dict[str, str]
    observed: dict[str, Any]
    expected: dict[str, Any] | None
    verdict: str  # a Verdict
    reproducer: str
    test_id: str
    duration_ms: float
    differences: list[dict[str, Any]]
    reason: str
    known: dict[str, str]  # a runtime's known deviation: cause, reason, source


class VariantStatus(TypedDict):
    name: str
    status: str  # ran, skipped, failed
    reason: str | None


class RunRecord(TypedDict, total=False):
    schema: str
    run: RunInfo
    platform: Fingerprint
    facts: dict[str, Any]
    results: list[Cell]
    variants: list[VariantStatus]


# Environment variables GitHub Actions sets that identify the runner image and run.
CI_VARIABLES = ("GITHUB_ACTIONS", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB", "GITHUB_SHA",
                "RUNNER_OS", "RUNNER_ARCH", "ImageOS", "ImageVersion")


def distribution() -> str | None:
    system = platform.system()
    if system == "Linux":
        try:
            return platform.freedesktop_os_release().get("PRETTY_NAME")
        except OSError:
            return None
    if system == "Darwin":
        return f"macOS {platform.mac_ver()[0]}"
    if system == "Windows":
        release, version, *_ = platform.win32_ver()
        return f"Windows {release} {version}"
    return None


def suite_commit() -> str | None:
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def fingerprint(os_name: str, variant: str, runtime: str = HOST, description: dict[str, Any] | None = None) -> Fingerprint:
    """The platform of a run; inside a runtime, platform.runtime names it (its
    describe(), or ``description`` when the host names a run still to come), and the
    release is the runtime's kernel, never gVisor's fake uname."""
    if runtime != HOST:
        description = description or describe(runtime)
        found: Fingerprint = {**fingerprint(os_name, variant), **on_platform(description), "runtime": description}
        return found
    return {
        "os": os_name,
        "release": platform.release(),
        "version": platform.version(),
        "machine": platform.machine(),
        "distribution": distribution(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "variant": variant,
        "ci": {k: os.environ[k] for k in CI_VARIABLES if k in os.environ},
    }


PARTIAL_SUFFIX = ".partial.json"


def record_name(fp: Fingerprint, *, partial: bool = False) -> str:
    """reports/runs file name: <os>-<release>-py<major.minor>-<variant>.json, the matrix's
    column key; a run of selected cells is <key>.partial.json, so that it never takes the
    place of a complete record of the same column."""
    return column_key(dict(fp)) + (PARTIAL_SUFFIX if partial else ".json")


def record_exit_status(pytest_status: int) -> ExitStatus:
    """A finished pytest session's status in dualstack's own terms (pytest's 2 means
    interrupted, dualstack's 2 bad input; an interrupted run writes no record)."""
    if pytest_status == 0:
        return ExitStatus.OK
    if pytest_status == 1:
        return ExitStatus.DEVIATES
    return ExitStatus.BROKEN


def build_record(machine: Machine, results: list[Cell], *, variant: str, started: datetime, runtime: str = HOST,
                 workers: int = 0, exit_status: int | None = None, cells: list[str] | None = None) -> RunRecord:
    data: RunRecord = {
        "schema": "dualstack-conformance/run/1",
        "run": {
            "id": str(uuid.uuid4()),
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "suite_version": __version__,
            "commit": suite_commit(),
            "workers": workers,
            "exit_status": None if exit_status is None else int(exit_status),
        },
        "platform": fingerprint(machine.os, variant, runtime),
        "facts": machine.as_dict(),
        "results": results,
    }
    if cells:  # a run of selected cells says so, and which
        data["run"]["partial"] = True
        data["run"]["cells"] = list(cells)
    return data
