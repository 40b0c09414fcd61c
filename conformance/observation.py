"""What one probe saw: the observation of one scenario on this machine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Observation:
    outcome: str  # an Outcome (conformance/vocabulary.py)
    errno: str | None = None
    errno_code: int | None = None
    stage: str | None = None  # the call that failed: socket, setsockopt, bind, listen, connect, send
    peer: str | None = None  # the client address the server saw
    server_name: str | None = None  # getsockname() of the listening/bound server socket
    accepted_name: str | None = None  # getsockname() of the accepted TCP socket
    client_name: str | None = None  # getsockname() of the client socket
    v6only_set: int | None = None  # server IPV6_V6ONLY read back before bind
    effective_v6only: int | None = None  # server IPV6_V6ONLY read back after bind
    client_v6only: int | None = None  # client IPV6_V6ONLY read back before connect
    reply: bool | None = None  # UDP: the server's reply reached the client
    ipv4_to: str | None = None  # coexist: which socket an IPv4 client reached (ipv4-socket, ipv6-socket, nobody)
    ipv6_to: str | None = None  # coexist: which socket an IPv6 client reached
    clients: dict | None = None  # subjects: what each client (ipv4, mapped, ipv6) got from the server
    listeners: list | None = None  # subjects: what the platform's listing tool shows for the port
    value: Any = None  # options family: the value read back; model: whether the kernel agreed
    calls: list[str] | None = None  # model: the socket calls of a counterexample
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != []}
