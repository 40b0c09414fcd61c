"""What a check's observation means, in plain words, and the fix: the listeners the
listing tool shows are read into a shape (one dual-stack socket, IPv6-only, two sockets,
...), and the first rule of conformance/data/check.toml that matches the shape and what
the clients saw gives the meaning, the fix and the report's portable recipes for it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from conformance.datafiles import load_toml
from conformance.vocabulary import Outcome, is_ipv6


@dataclass(frozen=True)
class Listener:
    address: str  # "::", "0.0.0.0", "::1", "127.0.0.1", ...
    v6only: int | None  # for IPv6 sockets where the tool shows it


BSD_FAMILIES = {"46": ("::", 0), "6": ("::", 1)}  # tcp46/udp46 is dual-stack; tcp4, and OpenBSD's tcp, IPv4


def parse_listener(line: str) -> Listener | None:
    """One listing line, as conformance.subjects.listeners cuts it (ss: `*:P v6only:0`;
    BSD/macOS netstat: `tcp46 *.P LISTEN`; Windows netstat: `TCP [::]:P LISTENING`) or as
    the tool prints it -> the socket's address and, where shown, its v6only setting."""
    fields = line.split()
    if not fields:
        return None
    if fields[0] in ("TCP", "UDP") and len(fields) > 1:  # Windows: TCP [::]:P [::]:0 LISTENING pid
        return Listener(fields[1].rsplit(":", 1)[0].strip("[]"), None)
    if fields[0].startswith(("tcp", "udp")) and len(fields) > 1:  # BSD: tcp46 0 0 *.P *.* LISTEN
        local = fields[3] if len(fields) > 3 else fields[1]
        wildcard, v6only = BSD_FAMILIES.get(fields[0][3:], ("0.0.0.0", None))
        host = local.rsplit(".", 1)[0]
        return Listener(wildcard if host == "*" else host, v6only)
    host = fields[0].rsplit(":", 1)[0]  # ss: *:P v6only:0, [::]:P v6only:1, 0.0.0.0:P
    v6only = next((int(f.split(":")[1]) for f in fields[1:] if f.startswith("v6only:")), None)
    return Listener("::" if host == "*" else host.strip("[]").split("%")[0], v6only)


def shape(lines: list[str] | None) -> str:
    """The listeners in a word (the shapes of conformance/data/check.toml)."""
    listeners = [lst for lst in map(parse_listener, lines or []) if lst is not None]
    ipv6 = [lst for lst in listeners if is_ipv6(lst.address)]
    ipv4 = [lst for lst in listeners if not is_ipv6(lst.address)]
    if not listeners:
        return "unknown"
    if ipv4 and ipv6:
        return "two-sockets"
    if ipv4:
        return "ipv4-only"
    if any(lst.address == "::" and lst.v6only == 0 for lst in ipv6):
        return "dual-stack"
    if all(lst.v6only == 1 or lst.address == "::1" for lst in ipv6):
        return "ipv6-only"
    return "ipv6"


@functools.cache
def rules() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = load_toml("check.toml")["rule"]
    return found


def reach(client: dict[str, Any]) -> str:
    return client["outcome"] if client["outcome"] in (Outcome.OK, Outcome.REFUSED) else "other"


def meaning(clients: dict[str, dict[str, Any]], listener_shape: str) -> dict[str, Any]:
    """The first rule of check.toml that matches: what it means, the fix, its recipes."""
    seen = {"shape": listener_shape, "ipv4": reach(clients["ipv4"]), "ipv6": reach(clients["ipv6"])}
    words = {"ipv4": clients["ipv4"]["outcome"], "ipv6": clients["ipv6"]["outcome"],
             "ipv4_error": clients["ipv4"]["error"], "ipv6_error": clients["ipv6"]["error"]}
    rule = next(r for r in rules() if all(r[key] == value for key, value in seen.items() if key in r))
    return {"means": rule["means"].format(**words), "fix": rule.get("fix"), "recipes": rule.get("recipes", [])}
