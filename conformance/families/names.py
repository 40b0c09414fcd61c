"""names: name resolution and the spellings of IPv4-mapped addresses.

Its scenarios, what a platform documents for them, the probe that observes one on this
machine, and the snippet that reproduces it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

from conformance.machine import Machine
from conformance.observation import Observation
from conformance.platform_model import Platform, Reasoning, Unknown, require
from conformance.reproducer import TYPE
from conformance.scenario import Scenario, checks
from conformance.sockets import SOCK_TYPES, Failure, call, host_of
from conformance.vocabulary import Outcome

NAME = "names"


def scenarios() -> Iterator[Scenario]:
    return checks(NAME, ["tcp"])


# --- what a platform documents ---------------------------------------------------------

IPADDRESS_MIXED_SINCE = (3, 13)


def expect(s: Scenario, r: Reasoning) -> None:
    check = s["check"]
    if check == "passive-order":
        r.rule("getaddrinfo-passive")
        raise Unknown("the order is the C library's")
    if check in ("localhost", "ai-all"):
        r.rule("getaddrinfo-localhost")
        raise Unknown("hosts file")
    if check == "inet-pton-mapped":
        r.rule("inet-pton-mapped")
        r.expect("value", "00000000000000000000ffff7f000001")
    elif check == "ipaddress-ipv4-mapped":
        r.rule("python-ipaddress-mapped")
        r.expect("value", ["127.0.0.1"] * 3)
    elif check == "ipaddress-str":
        r.rule("python-ipaddress-str")
        if tuple(r.machine.python) < IPADDRESS_MIXED_SINCE:
            raise Unknown("before 3.13 a backport may or may not be there")
        r.expect("value", "::ffff:127.0.0.1")
    elif check == "ai-v4mapped":
        fact = r.fact("ai_v4mapped")
        r.expect("value", fact.value)
    elif check == "inet-ntop-mapped":
        r.expect("value", r.fact("inet_ntop_mapped").value)
    elif check == "bind-127.0.0.2":
        require(r, ipv4=True)
        if not r.fact("loopback_is_slash8").asserted:
            raise Unknown("loopback_is_slash8")
        if not r.fact("loopback_is_slash8").value:
            r.fail(Outcome.BIND_ERROR, "bind_missing_address")
        r.expect("value", "127.0.0.2")
    r.expectation.outcome = (Outcome.OK,)


# --- the probe --------------------------------------------------------------------------

def _addresses(infos) -> list[str]:
    return [host_of(info[4]) for info in infos]


def _getaddrinfo(host, port, family, flags) -> list[str]:
    return _addresses(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, flags))


MAPPED_BYTES = bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1])


def observe(scenario: Scenario, machine: Machine, platform: Platform | None) -> Observation:
    check = scenario["check"]
    obs = Observation(outcome=Outcome.OK)
    try:
        if check == "passive-order":
            obs.value = _getaddrinfo(None, 8080, socket.AF_UNSPEC, socket.AI_PASSIVE)
        elif check == "localhost":
            obs.value = _getaddrinfo("localhost", 8080, socket.AF_UNSPEC, 0)
        elif check in ("ai-v4mapped", "ai-all"):
            flag = getattr(socket, "AI_V4MAPPED", None)
            if flag is None or (check == "ai-all" and not hasattr(socket, "AI_ALL")):
                raise Failure(Outcome.UNSUPPORTED, "getaddrinfo")
            host = "127.0.0.1" if check == "ai-v4mapped" else "localhost"
            flags = flag if check == "ai-v4mapped" else flag | socket.AI_ALL
            obs.value = _getaddrinfo(host, 8080, socket.AF_INET6, flags)
        elif check == "inet-pton-mapped":
            obs.value = socket.inet_pton(socket.AF_INET6, "::ffff:127.0.0.1").hex()
        elif check == "inet-ntop-mapped":
            obs.value = socket.inet_ntop(socket.AF_INET6, MAPPED_BYTES)
        elif check == "ipaddress-ipv4-mapped":  # the hex and the dotted form are one address
            obs.value = [str(ipaddress.IPv6Address(form).ipv4_mapped)
                         for form in ("::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:7f00:1")]
        elif check == "ipaddress-str":
            obs.value = str(ipaddress.ip_address("::ffff:7f00:1"))
        elif check == "bind-127.0.0.2":
            with socket.socket(socket.AF_INET, SOCK_TYPES[scenario.proto]) as sock:
                call("bind", Outcome.BIND_ERROR, sock.bind, ("127.0.0.2", 0))
                obs.value = host_of(sock.getsockname())
    except socket.gaierror as exc:
        obs.outcome, obs.stage, obs.errno = Outcome.RESOLVE_ERROR, "getaddrinfo", f"EAI:{exc.errno}"
    except Failure as failure:
        failure.apply(obs)
    except OSError as exc:
        Failure(Outcome.OPTION_ERROR, check, exc).apply(obs)
    return obs


# --- the reproducer ---------------------------------------------------------------------

NAMES_SNIPPETS = {
    "passive-order": "print(socket.getaddrinfo(None, 8080, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE))",
    "localhost": "print(socket.getaddrinfo('localhost', 8080, socket.AF_UNSPEC, socket.SOCK_STREAM))",
    "ai-v4mapped": "print(socket.getaddrinfo('127.0.0.1', 8080, socket.AF_INET6, socket.SOCK_STREAM, 0, "
                   "socket.AI_V4MAPPED))",
    "ai-all": "print(socket.getaddrinfo('localhost', 8080, socket.AF_INET6, socket.SOCK_STREAM, 0, "
              "socket.AI_V4MAPPED | socket.AI_ALL))",
    "inet-pton-mapped": "print(socket.inet_pton(socket.AF_INET6, '::ffff:127.0.0.1').hex())",
    "inet-ntop-mapped": "print(socket.inet_ntop(socket.AF_INET6, bytes(10) + b'\\xff\\xff' + bytes([127, 0, 0, 1])))",
    "ipaddress-ipv4-mapped": "import ipaddress\nprint([str(ipaddress.ip_address(a).ipv4_mapped) for a in "
                             "('::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1')])",
    "ipaddress-str": "import ipaddress\nprint(ipaddress.ip_address('::ffff:7f00:1'))",
}


def reproducer(s: Scenario) -> str:
    if s["check"] == "bind-127.0.0.2":
        return (f"import socket\nwith socket.socket(socket.AF_INET, {TYPE[s.proto]}) as s:\n"
                "    s.bind(('127.0.0.2', 0))\n    print(s.getsockname())\n")
    return "import socket\n" + NAMES_SNIPPETS[s["check"]] + "\n"
