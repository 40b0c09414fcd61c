"""The socket probes on this machine: stable, and reproducible by their snippets."""

import subprocess
import sys

import pytest

from conformance.families import all_scenarios, coexist, connect, expect, observe
from conformance.machine import measure
from conformance.platform_model import load_platform
from conformance.ports import free
from conformance.verdict import judge

# subjects are real servers; the model walks random sequences (its own tests: test_walk.py)
SOCKET_FAMILIES = [s for s in all_scenarios() if s.family not in ("subjects", "model")]


MACHINE = measure()
PLATFORM = load_platform(MACHINE.os)


def observations():
    return {s.id: observe(s, MACHINE, PLATFORM).as_dict() for s in SOCKET_FAMILIES}


def test_twenty_runs_in_a_row_observe_the_same():
    first = observations()
    for _ in range(19):
        assert observations() == first


def test_every_cell_conforms_on_this_machine():
    verdicts = {s.id: judge(observe(s, MACHINE, PLATFORM), expect(s, PLATFORM, MACHINE))[0] for s in SOCKET_FAMILIES}
    bad = {k: v for k, v in verdicts.items() if v not in ("conforms", "informational", "unsupported")}
    assert not bad


def summarize(obs) -> str:
    """The line the reproducer prints for an observation."""
    if obs.outcome == "ok":
        return f"ok: server saw {obs.peer}"
    if obs.outcome == "not-delivered":
        return "not delivered"
    return "failed:"


@pytest.mark.parametrize("scenario", list(connect.scenarios()), ids=lambda s: s.test_id)
def test_reproducer_shows_what_the_probe_saw(scenario):
    obs = observe(scenario, MACHINE, PLATFORM)
    with free() as port:  # a port no other test's socket can answer on, in either family
        out = subprocess.run([sys.executable, "-I", "-c", connect.reproducer(scenario, port)],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert summarize(obs) in out.stdout
    if obs.errno:
        assert f"[Errno {obs.errno_code}]" in out.stdout


@pytest.mark.parametrize("scenario", list(coexist.scenarios())[::7], ids=lambda s: s.test_id)
def test_coexist_reproducer_fails_where_the_probe_did(scenario):
    obs = observe(scenario, MACHINE, PLATFORM)
    with free() as port:
        out = subprocess.run([sys.executable, "-I", "-c", coexist.reproducer(scenario, port)],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    if obs.outcome == "ok":
        assert "both bound" in out.stdout
    elif obs.errno:
        assert f"[Errno {obs.errno_code}]" in out.stdout
    else:
        assert "failed:" in out.stdout
