"""Coexistence on one port: the pure rules, and the coexist and names families of the
model with simulated platforms."""

import pytest

from conformance.coexistence import Binding, bind_conflict, listen_conflict, overlap, receivers
from conformance.families import expect
from conformance.platform_model import load_platform
from conformance.scenario import Scenario
from tests.conftest import simulated

V4_ANY = Binding(4, "0.0.0.0")
V4_LOOP = Binding(4, "127.0.0.1")
DUAL = Binding(6, "::", v6only=0)
V6ONLY = Binding(6, "::", v6only=1)
LOOP6 = Binding(6, "::1", v6only=1)
MAPPED = Binding(6, "::ffff:127.0.0.1", v6only=0)


@pytest.mark.parametrize("a,b,collide", [
    (V4_ANY, DUAL, True), (V4_LOOP, DUAL, True), (V4_ANY, V6ONLY, False), (V4_ANY, LOOP6, False),
    (V4_ANY, MAPPED, True), (V4_LOOP, MAPPED, True), (V6ONLY, MAPPED, False), (DUAL, MAPPED, True),
    (V4_LOOP, Binding(4, "127.0.0.1"), True), (LOOP6, V6ONLY, True),
])
def test_overlap(a, b, collide):
    assert overlap(a, b) is collide and overlap(b, a) is collide


def test_reuse_options_on_linux():
    ra = dict(reuseaddr=True)
    assert bind_conflict(V4_ANY, DUAL, "tcp")
    assert not bind_conflict(Binding(4, "0.0.0.0", **ra), Binding(6, "::", **ra), "tcp")
    assert bind_conflict(Binding(4, "0.0.0.0", listening=True, **ra), Binding(6, "::", **ra), "tcp")
    assert listen_conflict([Binding(4, "0.0.0.0", listening=True, **ra)], Binding(6, "::", **ra))
    assert not bind_conflict(Binding(4, "0.0.0.0", listening=True, **ra), Binding(6, "::", **ra), "udp")
    rp = dict(reuseport=True)
    assert not bind_conflict(Binding(4, "0.0.0.0", **rp), Binding(6, "::", **rp), "tcp")
    assert not listen_conflict([Binding(4, "0.0.0.0", listening=True, **rp)], Binding(6, "::", **rp))


def test_the_most_specific_socket_receives():
    assert receivers([V4_ANY, V6ONLY], "ipv4") == [0]
    assert receivers([V4_ANY, MAPPED], "ipv4") == [1]  # 127.0.0.1 beats 0.0.0.0
    assert receivers([V4_LOOP, MAPPED], "ipv4") == [0]  # a tie goes to AF_INET
    assert receivers([V4_ANY, MAPPED], "ipv6") == []
    assert receivers([V4_ANY, DUAL], "ipv6") == [1]


def coexist(**params):
    base = dict(proto="tcp", ipv4="0.0.0.0", ipv6="::", v6only="default", reuse="none", order="ipv4-first")
    base.update(params)
    return Scenario.of("coexist", **base)


def expected(scenario, os_name, **facts):
    return expect(scenario, load_platform(os_name), simulated(os_name, **facts))


def test_linux_default_wildcards_collide_in_either_order():
    for order in ("ipv4-first", "ipv6-first"):
        e = expected(coexist(order=order), "linux")
        assert e.outcome == ("bind-error",) and e.errno == "EADDRINUSE"


def test_linux_reuseaddr_moves_the_conflict_to_listen_for_tcp_only():
    assert expected(coexist(reuse="SO_REUSEADDR"), "linux").outcome == ("listen-error",)
    e = expected(coexist(reuse="SO_REUSEADDR", proto="udp"), "linux")
    assert e.outcome == ("ok",) and e.fields["ipv4_to"] == "ipv4-socket"


def test_v6only_sockets_coexist_everywhere():
    for os_name in ("linux", "darwin", "windows", "freebsd", "openbsd"):
        e = expected(coexist(v6only="1"), os_name)
        assert e.outcome == ("ok",), os_name
        assert e.fields["ipv4_to"] == "ipv4-socket" and e.fields["ipv6_to"] == "ipv6-socket"


def test_windows_default_is_v6only_so_wildcards_coexist():
    assert expected(coexist(), "windows").outcome == ("ok",)
    # a dual-mode :: holds the IPv4 wildcard too: Microsoft's SO_REUSEADDR page says INUSE
    e = expected(coexist(v6only="0"), "windows")
    assert (e.outcome, e.errno) == (("bind-error",), "EADDRINUSE")
    assert "using-so-reuseaddr-and-so-exclusiveaddruse" in e.reasons[-1].source


def test_options_a_platform_lacks_are_unsupported():
    assert expected(coexist(reuse="SO_EXCLUSIVEADDRUSE"), "linux").kind == "unsupported"
    assert expected(coexist(reuse="SO_REUSEPORT"), "windows").kind == "unsupported"


def names(check, proto="tcp"):
    return Scenario.of("names", proto=proto, check=check)


def test_names_expectations():
    assert expected(names("inet-pton-mapped"), "windows").fields["value"] == "00000000000000000000ffff7f000001"
    assert expected(names("passive-order"), "linux").kind == "informational"
    assert expected(names("bind-127.0.0.2"), "darwin").outcome == ("bind-error",)
    assert expected(names("bind-127.0.0.2"), "linux").fields["value"] == "127.0.0.2"
    assert expected(names("ipaddress-str"), "linux", python=(3, 13)).fields["value"] == "::ffff:127.0.0.1"
    assert expected(names("ipaddress-str"), "linux", python=(3, 12)).kind == "informational"
