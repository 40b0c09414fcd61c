"""Documented columns worth trusting: what a platform's column says follows from its own
sourced facts and rules, and what they do not decide is not documented, never Linux's."""

from __future__ import annotations

import pytest

from conformance.datafiles import expectation_files
from conformance.documented import healthy_machine
from conformance.families import coexist, expect
from conformance.families.coexist import stack_rule, stacks
from conformance.families.subjects import scenarios as subject_scenarios
from conformance.families.subjects import spec_of
from conformance.platform_model import INFORMATIONAL, load_platform
from conformance.vocabulary import Outcome

PLATFORMS = expectation_files()
COEXIST = list(coexist.scenarios())


def platform_without_mapped_addresses():
    return [os for os in PLATFORMS if not load_platform(os).fact("mapped_supported").value]


def test_openbsd_is_the_platform_without_ipv4_mapped_addresses():
    assert platform_without_mapped_addresses() == ["openbsd"]


@pytest.mark.parametrize("os_name", platform_without_mapped_addresses())
def test_without_mapped_addresses_no_one_socket_serves_both_families(os_name):
    platform = load_platform(os_name)
    machine = healthy_machine(platform)
    for scenario in subject_scenarios():
        if spec_of(scenario).get("sockets") == "per-family":
            continue  # two sockets may serve both families anywhere
        clients = expect(scenario, platform, machine).fields.get("clients", {})
        assert not (clients.get("ipv4") == Outcome.OK and clients.get("ipv6") == Outcome.OK), scenario.id
    for scenario in coexist.scenarios():  # nor can an AF_INET6 socket hold an IPv4 address there
        if scenario["ipv6"] == "::ffff:127.0.0.1":
            assert expect(scenario, platform, machine).outcome != (Outcome.OK,), scenario.id


@pytest.mark.parametrize("os_name", PLATFORMS)
def test_every_coexist_cell_is_derived_from_a_sourced_rule_or_not_documented(os_name):
    platform = load_platform(os_name)
    machine = healthy_machine(platform)
    decided = 0
    for scenario in COEXIST:
        e = expect(scenario, platform, machine)
        if e.kind == INFORMATIONAL:
            continue  # not documented: the report marks it so
        decided += 1
        assert e.reasons, scenario.id
        assert all(r.source.startswith("https://") for r in e.reasons), scenario.id
    assert decided > 0


@pytest.mark.parametrize("stack", [name for name, spec in stacks().items() if isinstance(spec, dict) and "rule" in spec])
def test_at_most_one_rule_of_a_stack_decides_a_cell(stack):
    spec = stacks()[stack]
    for os_name in spec["platforms"]:
        for scenario in COEXIST:
            for v6only in (0, 1):
                cell = {**scenario.as_dict(), "v6only": v6only}
                found = [rule for rule in spec["rule"]
                         if os_name in rule.get("platforms", spec["platforms"]) and coexist.matches(rule["when"], cell)]
                assert len(found) <= 1, (os_name, cell, [r["because"][:60] for r in found])


def test_every_stack_rule_is_sourced_and_pinned():
    for spec in stacks().values():
        for rule in spec.get("rule", []) if isinstance(spec, dict) else []:
            for source in [rule["source"], *rule.get("also", [])]:
                assert source.startswith("https://") and "/blob/master/" not in source and "/blob/main/" not in source
            assert rule["because"]


def test_a_cell_no_rule_decides_is_not_documented():
    # macOS documents no rule for the IPv4-mapped address over UDP (the data file says why)
    darwin = load_platform("darwin")
    cell = {"proto": "udp", "ipv4": "0.0.0.0", "ipv6": "::ffff:127.0.0.1", "v6only": 0, "reuse": "none",
            "order": "ipv4-first"}
    assert stack_rule("kame", "darwin", cell) is None
    scenario = next(s for s in COEXIST if s.as_dict() == {**cell, "v6only": "0"})
    assert expect(scenario, darwin, healthy_machine(darwin)).kind == INFORMATIONAL


def test_macos_serves_hypercorns_two_binds_where_linux_refuses_them():
    hypercorn = next(s for s in subject_scenarios() if s["server"] == "hypercorn" and "--bind 0.0.0.0" in s["setup"])
    linux, darwin = load_platform("linux"), load_platform("darwin")
    assert expect(hypercorn, linux, healthy_machine(linux)).outcome == (Outcome.START_ERROR,)
    assert expect(hypercorn, darwin, healthy_machine(darwin)).outcome == (Outcome.OK,)


def test_windows_documents_that_exclusiveaddruse_stops_a_reuseaddr_takeover():
    windows = load_platform("windows")
    takeover = next(s for s in COEXIST if s.id == "coexist/tcp/ipv4=0.0.0.0/ipv6=::/v6only=0/"
                    "reuse=SO_EXCLUSIVEADDRUSE+SO_REUSEADDR/order=ipv4-first")
    e = expect(takeover, windows, healthy_machine(windows))
    assert (e.outcome, e.errno) == ((Outcome.BIND_ERROR,), "EACCES")
    assert any("so-exclusiveaddruse" in r.source.lower() for r in e.reasons)
    snippet = coexist.reproducer(takeover)
    assert "v4.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)" in snippet
    assert "v6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)" in snippet
