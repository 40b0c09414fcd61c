"""Reproducers: the words every family's snippet is written in. A reproducer is a short
stdlib-only snippet per scenario that a user can paste into ``python`` to see the
behaviour on their own machine; each family writes its own (conformance/families/).
Loopback only."""

from __future__ import annotations

from conformance.vocabulary import v6only

FAMILY = {True: "socket.AF_INET6", False: "socket.AF_INET"}
TYPE = {"tcp": "socket.SOCK_STREAM", "udp": "socket.SOCK_DGRAM"}
V6ONLY = "socket.IPPROTO_IPV6, socket.IPV6_V6ONLY"


def set_v6only_lines(name: str, setting: str | None) -> list[str]:
    """The line that applies a catalogue v6only setting to socket ``name``, if any."""
    value = v6only(setting).value_set
    return [] if value is None else [f"{name}.setsockopt({V6ONLY}, {value})"]
