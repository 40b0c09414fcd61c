"""subjects: real servers (asyncio, http.server, uvicorn, Go, Node, ...) started as their
users start them and probed from IPv4, IPv4-mapped and IPv6 clients."""

import pytest

from conformance.families.subjects import scenarios


@pytest.mark.parametrize("scenario", list(scenarios()), ids=lambda s: s.test_id)
def test_subjects(scenario, check_scenario):
    check_scenario(scenario)
