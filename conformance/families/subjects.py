"""subjects: real servers (asyncio, http.server, uvicorn, Go, Node, ...) started as their
users start them and probed from IPv4, IPv4-mapped and IPv6 clients.

Its scenarios (conformance/data/subjects.toml), what a platform documents for them,
the observation (the server runner in conformance/subjects/), and the snippet that
reproduces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance import ports, subjects
from conformance.datafiles import load_toml
from conformance.machine import Machine
from conformance.observation import Observation
from conformance.platform_model import Platform, Reason, Reasoning, Unknown
from conformance.scenario import Scenario

NAME = "subjects"


def specs() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = load_toml("subjects.toml")["subject"]
    return found


def scenarios() -> Iterator[Scenario]:
    for spec in specs():
        yield Scenario.of(NAME, proto="tcp", server=spec["server"], setup=spec["setup"])


def spec_of(scenario: Scenario) -> dict[str, Any]:
    return next(s for s in specs() if s["server"] == scenario["server"] and s["setup"] == scenario["setup"])


# --- what a platform documents ---------------------------------------------------------

SUBJECT_RESOLVE = {"ok": lambda dual: "ok", "refused": lambda dual: "refused",
                   "os-default": lambda dual: "ok" if dual else "refused"}


def expect(s: Scenario, r: Reasoning) -> None:
    spec = spec_of(s)
    r.expectation.reasons.append(Reason(spec["because"], spec["source"]))
    if "expect" not in spec:
        raise Unknown("the subject documents nothing")
    if not (r.machine.af_inet6 and r.machine.has_ipv6):
        raise Unknown("the subjects are documented for machines with IPv6 on loopback")
    default = r.default_v6only(s.proto)
    if spec.get("starts") == "unless-dualstack-default" and default == 0:
        r.fail("start-error")
    clients = {family: SUBJECT_RESOLVE[spec["expect"][family]](default == 0) for family in ("ipv4", "ipv6")}
    if default == 0:
        clients["mapped"] = clients["ipv4"]
    else:  # the mapped client, left at the default, is v6-only itself
        fact = r.maybe_fact("connect_mapped_from_v6only")
        if fact is not None and fact.asserted:
            clients["mapped"] = "unreachable" if fact.value in ("ENETUNREACH", "EHOSTUNREACH") else f"error:{fact.value}"
    r.expectation.outcome = ("ok",)
    r.expect("clients", clients)


# --- the observation --------------------------------------------------------------------

def observe(scenario: Scenario, machine: Machine, platform: Platform | None) -> Observation:
    spec = spec_of(scenario)
    if machine.os not in spec.get("platforms", [machine.os]):
        return Observation(outcome="unsupported", stage="precondition",
                           notes=[f"{spec['server']} does not run on {machine.os}"])
    with ports.free() as port:
        try:
            command = subjects.command_for(spec["command"], port, spec.get("needs", []))
        except subjects.Unavailable as exc:
            return Observation(outcome="unsupported", stage="precondition", notes=[str(exc)])
        run = subjects.run_subject(command, port, spec.get("http", False))
    return Observation(outcome=run.outcome, clients=run.clients or None, listeners=run.listeners or None,
                       notes=run.notes)


# --- the reproducer ---------------------------------------------------------------------

SUBJECT_TOOLS = {"{python}": "python", "{go}": "go run conformance/subjects/listen.go",
                 "{node}": "node", "{here}/": "conformance/subjects/"}


def reproducer(s: Scenario) -> str:
    spec = spec_of(s)
    command = " ".join(spec["command"]).replace("{port}", "8080")
    for token, tool in SUBJECT_TOOLS.items():
        command = command.replace(token, tool)
    return ("# start the server in another terminal, as its users do:\n"
            f"#   {command}\n"
            "import socket\n"
            "for family, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::ffff:127.0.0.1'),\n"
            "                     (socket.AF_INET6, '::1')):\n"
            "    with socket.socket(family) as s:\n"
            "        s.settimeout(5)\n"
            "        print(host, 'ok' if s.connect_ex((host, 8080)) == 0 else 'refused or failed')\n")
