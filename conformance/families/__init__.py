"""The scenario families. Each module is one family and holds all of it: its scenarios
(from its section of conformance/data/catalogue.toml), what a platform documents for
them (``expect``), the probe that observes one on this machine (``observe``) and the
snippet that reproduces it (``reproducer``). Adding a family is one module here, one
section of the catalogue and one line below.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from conformance.families import coexist, connect, model, names, options, subjects
from conformance.machine import Machine
from conformance.observation import Observation
from conformance.platform_model import (
    INFORMATIONAL,
    SKIPPED,
    UNSUPPORTED,
    Expectation,
    Platform,
    Reasoning,
    Stop,
    Unknown,
)
from conformance.scenario import Scenario
from conformance.vocabulary import Verdict


class Family(Protocol):
    NAME: str

    def scenarios(self) -> Iterator[Scenario]: ...

    def expect(self, s: Scenario, r: Reasoning) -> None: ...

    def observe(self, s: Scenario, machine: Machine, platform: Platform | None) -> Observation: ...

    def reproducer(self, s: Scenario) -> str: ...


FAMILIES: dict[str, Family] = {f.NAME: f for f in (connect, options, coexist, names, subjects, model)}


def all_scenarios() -> list[Scenario]:
    return [s for family in FAMILIES.values() for s in family.scenarios()]


def expect(scenario: Scenario, platform: Platform | None, machine: Machine) -> Expectation:
    """What the platform documents for one scenario; kind INFORMATIONAL when nothing decides it."""
    reasoning = Reasoning(platform, machine)
    try:
        FAMILIES[scenario.family].expect(scenario, reasoning)
    except Stop:
        pass
    except Unknown:
        kind = reasoning.expectation.kind
        if kind in (UNSUPPORTED, SKIPPED):
            return reasoning.expectation
        return Expectation(kind=INFORMATIONAL, reasons=reasoning.expectation.reasons)
    if platform is None and reasoning.expectation.kind == Verdict.CONFORMS:
        return Expectation(kind=INFORMATIONAL)
    return reasoning.expectation


def observe(scenario: Scenario, machine: Machine, platform: Platform | None) -> Observation:
    """Observe one scenario on this machine; ``platform`` is what it documents (the model
    family walks its coexistence rules)."""
    return FAMILIES[scenario.family].observe(scenario, machine, platform)


def reproducer(scenario: Scenario) -> str:
    return FAMILIES[scenario.family].reproducer(scenario)
