"""options: IPV6_V6ONLY defaults, when it can be changed, and what Python reports."""

import pytest

from conformance.scenario import options_scenarios


@pytest.mark.parametrize("scenario", list(options_scenarios()), ids=lambda s: s.test_id)
def test_options(scenario, check_scenario):
    check_scenario(scenario)
