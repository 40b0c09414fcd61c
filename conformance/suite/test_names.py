"""names: name resolution and the spellings of IPv4-mapped addresses."""

import pytest

from conformance.scenario import names_scenarios


@pytest.mark.parametrize("scenario", list(names_scenarios()), ids=lambda s: s.test_id)
def test_names(scenario, check_scenario):
    check_scenario(scenario)
