"""The socket probes on this machine: stable, and reproducible by their snippets."""

import subprocess
import sys

import pytest

from conformance.facts import measure
from conformance.model import expect, load_platform
from conformance.ports import free
from conformance.probe import observe
from conformance.reproducer import coexist_snippet, connect_snippet
from conformance.scenario import all_scenarios, coexist_scenarios, connect_scenarios
from conformance.verdict import judge

SOCKET_FAMILIES = [s for s in all_scenarios() if s.family != "subjects"]  # subjects are real servers


def observations():
    return {s.id: observe(s).as_dict() for s in SOCKET_FAMILIES}


def test_twenty_runs_in_a_row_observe_the_same():
    first = observations()
    for _ in range(19):
        assert observations() == first


def test_every_cell_conforms_on_this_machine():
    facts = measure()
    platform = load_platform(facts.os)
    verdicts = {s.id: judge(observe(s), expect(s, platform, facts))[0] for s in SOCKET_FAMILIES}
    bad = {k: v for k, v in verdicts.items() if v not in ("conforms", "informational", "unsupported")}
    assert not bad


def summarize(obs) -> str:
    """The line the reproducer prints for an observation."""
    if obs.outcome == "ok":
        return f"ok: server saw {obs.peer}"
    if obs.outcome == "not-delivered":
        return "not delivered"
    return "failed:"


@pytest.mark.parametrize("scenario", list(connect_scenarios()), ids=lambda s: s.test_id)
def test_reproducer_shows_what_the_probe_saw(scenario):
    obs = observe(scenario)
    with free() as port:  # a port no other test's socket can answer on, in either family
        out = subprocess.run([sys.executable, "-I", "-c", connect_snippet(scenario, port)],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert summarize(obs) in out.stdout
    if obs.errno:
        assert f"[Errno {obs.errno_code}]" in out.stdout


@pytest.mark.parametrize("scenario", list(coexist_scenarios())[::7], ids=lambda s: s.test_id)
def test_coexist_reproducer_fails_where_the_probe_did(scenario):
    obs = observe(scenario)
    with free() as port:
        out = subprocess.run([sys.executable, "-I", "-c", coexist_snippet(scenario, port)],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    if obs.outcome == "ok":
        assert "both bound" in out.stdout
    elif obs.errno:
        assert f"[Errno {obs.errno_code}]" in out.stdout
    else:
        assert "failed:" in out.stdout
