"""model: random sequences of socket calls on one port, every kernel answer checked
against the platform model's coexistence rules; one cell per protocol."""

import pytest

from conformance.families.model import scenarios


@pytest.mark.parametrize("scenario", list(scenarios()), ids=lambda s: s.test_id)
def test_model(scenario, check_scenario):
    check_scenario(scenario)
