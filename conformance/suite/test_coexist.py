"""coexist: an IPv4 and an IPv6 socket on one port, with each v6only and reuse option."""

import pytest

from conformance.families.coexist import scenarios


@pytest.mark.parametrize("scenario", list(scenarios()), ids=lambda s: s.test_id)
def test_coexist(scenario, check_scenario):
    check_scenario(scenario)
