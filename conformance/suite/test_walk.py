"""model: random sequences of socket calls on one port, every kernel answer checked
against the platform model's coexistence rules."""

import pytest

from conformance.walk import SocketCalls


@pytest.fixture(autouse=True)
def documented(dualstack_platform):
    rules = dualstack_platform and dualstack_platform.fact("coexistence_rules")
    if rules is None or rules.value != "linux":
        pytest.skip("no coexistence rules are documented for this platform: nothing to check against")


@pytest.fixture(autouse=True)
def dual_stack_machine(dualstack_facts):
    if not (dualstack_facts.af_inet6 and dualstack_facts.has_ipv6 and dualstack_facts.default_v6only["tcp"] == 0):
        pytest.skip("the walk models a dual-stack machine with ::1 and bindv6only=0")


TestSocketCalls = SocketCalls.TestCase
