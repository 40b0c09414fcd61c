"""Assemble the run record: platform fingerprint, measured facts, results."""

from __future__ import annotations

import os
import platform
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

from conformance import __version__
from conformance.facts import Facts
from conformance.runtimes import HOST, describe, on_platform
from matrix.merge import column_key

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


def fingerprint(facts: Facts, variant: str, runtime: str = HOST, description: dict | None = None) -> dict:
    """The platform of a run; inside a runtime, platform.runtime names it (its
    describe(), or ``description`` when the host names a run still to come)."""
    if runtime != HOST:
        description = description or describe(runtime)
        return {**fingerprint(facts, variant), **on_platform(description), "runtime": description}
    return {
        "os": facts.os,
        "release": platform.release(),
        "version": platform.version(),
        "machine": platform.machine(),
        "distribution": distribution(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "variant": variant,
        "ci": {k: os.environ[k] for k in CI_VARIABLES if k in os.environ},
    }


def record_name(fp: dict) -> str:
    """reports/runs file name: <os>-<release>-py<major.minor>-<variant>[-<runtime>].json, the matrix's column key"""
    return column_key(fp) + ".json"


def build_record(facts: Facts, results: list[dict], *, variant: str, started: datetime, runtime: str = HOST,
                 workers: int = 0, exit_status: int | None = None) -> dict:
    return {
        "schema": "dualstack-conformance/run/1",
        "run": {
            "id": str(uuid.uuid4()),
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "suite_version": __version__,
            "commit": suite_commit(),
            "workers": workers,
            "exit_status": exit_status,
        },
        "platform": fingerprint(facts, variant, runtime),
        "facts": facts.as_dict(),
        "results": results,
    }
