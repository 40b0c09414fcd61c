"""options: IPV6_V6ONLY defaults, when it can be changed, and what Python reports."""

import pytest

from conformance.families.options import scenarios


@pytest.mark.parametrize("scenario", list(scenarios()), ids=lambda s: s.test_id)
def test_options(scenario, check_scenario):
    check_scenario(scenario)
