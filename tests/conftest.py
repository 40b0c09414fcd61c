"""Shared helpers for the project's own tests: simulated platform facts and a way to
run the dualstack command as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.machine import Machine

ROOT = Path(__file__).resolve().parent.parent


def simulated(os_name: str, **overrides) -> Machine:
    """Facts of a healthy machine of that OS, as the model would see them."""
    defaults = {"linux": 0, "darwin": 0, "windows": 1, "freebsd": 1, "netbsd": 1, "openbsd": 1}
    default = defaults.get(os_name, 0)
    knobs = {"linux": {"net.ipv6.bindv6only": "0"}, "darwin": {"net.inet6.ip6.v6only": "0"},
             "freebsd": {"net.inet6.ip6.v6only": "1"}}.get(os_name, {})
    fields = dict(os=os_name, default_v6only={"tcp": default, "udp": default}, knobs=knobs,
                  has_mapped=os_name != "openbsd")
    fields.update(overrides)
    return Machine(**fields)


def run_dualstack(*args: str, timeout: float = 120, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([*prefix, sys.executable, "-m", "conformance.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture
def dualstack():
    return run_dualstack


@pytest.fixture(scope="session")
def run_file(tmp_path_factory) -> Path:
    """A real run record of this machine: the committed default column (reports/runs/),
    copied so that a test may change it. A fresh whole run is tests/test_cli.py's, marked
    slow."""
    (committed,) = sorted((ROOT / "reports" / "runs").glob("linux-*-default.json"))
    folder = tmp_path_factory.mktemp("runs")
    shutil.copy(committed, folder / "run.json")
    return folder / "run.json"
