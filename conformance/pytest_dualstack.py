"""``dualstack_check``: a pytest fixture for a project's own tests, to assert that its
server serves IPv4 and IPv6 clients, through the same code as ``dualstack check``::

    def test_my_server_serves_ipv4_and_ipv6(dualstack_check):
        checked = dualstack_check(["python", "-m", "myapp", "--port", "{port}"])
        assert checked.exit_status == 0, checked.text

The fixture takes the command (``{port}`` where it takes its port) and the options of
``dualstack check`` as keywords (variant, runtime, expect, udp, timeout, port_env, cwd),
and returns the result: ``exit_status`` (0, 1, 3), ``text`` (the readable answer) and
``data`` (the check-1 JSON document). Bad input raises ``conformance.check.UsageError``.

Registered as a pytest11 entry point. It adds this one fixture and nothing else: no
option, no hook, and conformance.check is imported only when a test asks for the
fixture, so a suite that does not use it runs as before.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def dualstack_check():
    """Run a server command and check which loopback clients reach it."""
    from conformance.check import check

    return check
