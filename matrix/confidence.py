"""Low confidence: an expectation that rests on a fact its platform file marks
``confidence = "low"`` (recorded, not asserted). The run record does not carry the mark,
so it is found from the fact's reason, which the expectation quotes in its "because"."""

from __future__ import annotations

from functools import cache

from conformance.datafiles import expectation_files, load_toml


@cache
def low_confidence_reasons(os: str) -> tuple[str, ...]:
    if os not in expectation_files():
        return ()
    facts = load_toml(f"expectations/{os}.toml").get("facts", {})
    return tuple(fact["because"] for fact in facts.values() if fact.get("confidence") == "low")


def is_low(os: str, expected: dict | None) -> bool:
    """Does this expectation rest on a low-confidence fact of that platform?"""
    if not expected:
        return False
    if expected.get("confidence") == "low":
        return True
    because = expected.get("because") or ""
    return any(reason in because for reason in low_confidence_reasons(os))
