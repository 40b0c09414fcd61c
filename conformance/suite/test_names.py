"""names: name resolution and the spellings of IPv4-mapped addresses."""

import pytest

from conformance.families.names import scenarios


@pytest.mark.parametrize("scenario", list(scenarios()), ids=lambda s: s.test_id)
def test_names(scenario, check_scenario):
    check_scenario(scenario)
