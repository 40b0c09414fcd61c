"""One cell of the run record: scenario, observation, expectation, verdict, reproducer."""

from __future__ import annotations

import textwrap
from typing import Any

from conformance.families import reproducer
from conformance.observation import Observation
from conformance.platform_model import INFORMATIONAL, Expectation, Platform
from conformance.scenario import Scenario
from conformance.verdict import Difference


def result_entry(scenario: Scenario, observation: Observation, expectation: Expectation | None,
                 verdict: str, found: list[Difference], duration_ms: float, reason: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": scenario.id,
        "family": scenario.family,
        "params": scenario.as_dict(),
        "observed": observation.as_dict(),
        "expected": expectation.as_dict() if expectation is not None and expectation.kind != INFORMATIONAL else None,
        "verdict": verdict,
        "reproducer": "\n".join(observation.calls) + "\n" if observation.calls else reproducer(scenario),
        "test_id": scenario.test_id,
        "duration_ms": round(duration_ms, 3),
    }
    if found:
        entry["differences"] = [{"field": d.field, "expected": d.expected, "observed": d.observed} for d in found]
    if reason:
        entry["reason"] = reason
    return entry


def deviation_message(entry: dict[str, Any], platform: Platform | None) -> str:
    """What pytest prints for a deviation: expected, observed, source, reproducer."""
    where = platform.name if platform else "this platform"
    expected = entry.get("expected") or {}
    lines = [f"{entry['id']} deviates from what {where} documents:"]
    lines += [f"  {d['field']}: expected {d['expected']!r}, observed {d['observed']!r}"
              for d in entry.get("differences", [])]
    lines += [
        f"because: {expected.get('because', '')}",
        f"source: {', '.join(expected.get('sources', []))}",
        "reproducer (paste into python):",
        textwrap.indent(entry["reproducer"], "    "),
    ]
    return "\n".join(lines)
