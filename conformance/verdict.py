"""Verdicts: an observation judged against an expectation."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from conformance.observation import Observation
from conformance.platform_model import INFORMATIONAL, Expectation
from conformance.vocabulary import Verdict

ADDRESS_FIELDS = {"peer", "server_name", "accepted_name", "client_name"}


@dataclass(frozen=True)
class Difference:
    field: str
    expected: object
    observed: object

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected!r}, observed {self.observed!r}"


def same(field: str, expected, observed) -> bool:
    if field == "clients" and isinstance(expected, dict):  # only the clients the platform documents
        return isinstance(observed, dict) and all(observed.get(k) == v for k, v in expected.items())
    if field in ADDRESS_FIELDS and isinstance(expected, str) and isinstance(observed, str):
        try:
            return ipaddress.ip_address(expected) == ipaddress.ip_address(observed)
        except ValueError:
            pass
    return expected == observed


def differences(observation: Observation, expectation: Expectation) -> list[Difference]:
    found = []
    if expectation.outcome is not None and observation.outcome not in expectation.outcome:
        wanted = expectation.outcome[0] if len(expectation.outcome) == 1 else " or ".join(expectation.outcome)
        found.append(Difference("outcome", wanted, observation.outcome))
    if expectation.errno is not None and observation.errno != expectation.errno:
        found.append(Difference("errno", expectation.errno, observation.errno))
    for name, value in expectation.fields.items():
        observed = getattr(observation, name)
        if not same(name, value, observed):
            found.append(Difference(name, value, observed))
    return found


def judge(observation: Observation, expectation: Expectation) -> tuple[str, list[Difference]]:
    """(verdict, differences). A platform that documents nothing gets informational."""
    if observation.stage == "precondition":  # the subject's toolchain or platform is missing here
        return Verdict.SKIPPED, []
    if expectation.kind == INFORMATIONAL:
        return Verdict.INFORMATIONAL, []
    found = differences(observation, expectation)
    if found and expectation.confidence == "low":  # recorded beside what was seen, not asserted
        return Verdict.INFORMATIONAL, found
    return (Verdict.DEVIATES, found) if found else (expectation.kind, [])
