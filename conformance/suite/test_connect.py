"""connect: a server bound with each IPV6_V6ONLY setting, reached by each client."""

import pytest

from conformance.families.connect import scenarios


@pytest.mark.parametrize("scenario", list(scenarios()), ids=lambda s: s.test_id)
def test_connect(scenario, check_scenario):
    check_scenario(scenario)
