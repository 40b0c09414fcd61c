"""Documented, not observed: what the platform model says for a platform nobody has
run the suite on yet, as the report's apart-set columns. Never presented as measured."""

from __future__ import annotations

from conformance.datafiles import expectation_files
from conformance.families import all_scenarios, expect
from conformance.machine import Machine
from conformance.platform_model import INFORMATIONAL, Platform, load_platform


def healthy_machine(platform: Platform) -> Machine:
    """The facts of an ordinary machine of that OS, from its documented defaults."""
    documented_default = platform.fact("default_v6only")
    default = int(documented_default.value) if documented_default else 0
    mapped = platform.fact("mapped_supported")
    return Machine(os=platform.os, default_v6only={"tcp": default, "udp": default},
                 has_mapped=bool(mapped.value) if mapped else True)


def documented_columns(observed_os: set[str]) -> dict[str, dict]:
    """{os: {"name": ..., "cells": {id: expected}}} for each documented OS not observed."""
    columns = {}
    for os in expectation_files():
        if os in observed_os:
            continue
        platform = load_platform(os)
        if platform is None:
            continue
        machine = healthy_machine(platform)
        cells = {}
        for scenario in all_scenarios():
            expectation = expect(scenario, platform, machine)
            if expectation.kind != INFORMATIONAL:
                cells[scenario.id] = expectation.as_dict()
        columns[os] = {"name": platform.name, "cells": cells}
    return columns
