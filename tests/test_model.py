"""The platform model, checked with simulated platform facts: no real OS needed."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.datafiles import expectation_files
from conformance.families import all_scenarios, expect
from conformance.platform_model import PlatformError, load_platform, platform_from_data
from conformance.scenario import Scenario
from conformance.vocabulary import Outcome
from tests.conftest import simulated


def connect(**params):
    return Scenario.of("connect", **params)


def expected(scenario, os_name, **facts):
    return expect(scenario, load_platform(os_name), simulated(os_name, **facts))


def test_every_documented_platform_has_a_file():
    assert {"linux", "darwin", "windows", "freebsd", "netbsd", "openbsd"} <= set(expectation_files())


@pytest.mark.parametrize("os_name,ipv4_reaches_default_wildcard", [
    ("linux", True), ("darwin", True), ("windows", False), ("freebsd", False),
    ("netbsd", False), ("openbsd", False)])
def test_default_wildcard_listener_and_ipv4(os_name, ipv4_reaches_default_wildcard):
    e = expected(connect(proto="tcp", bind="::", v6only="default", client="ipv4"), os_name)
    if ipv4_reaches_default_wildcard:
        assert e.outcome == ("ok",) and e.fields["peer"] == "::ffff:127.0.0.1"
    else:
        assert e.outcome == ("refused",) and e.errno == "ECONNREFUSED"
    assert all(r.source.startswith("https://") for r in e.reasons)


@pytest.mark.parametrize("os_name", ["darwin", "windows", "freebsd"])
def test_explicit_dualstack_serves_ipv4_where_mapped_is_supported(os_name):
    e = expected(connect(proto="udp", bind="::", v6only="0", client="ipv4"), os_name)
    assert e.kind == "conforms" and e.outcome == ("ok",)
    assert e.fields["peer"] == "::ffff:127.0.0.1" and e.fields["reply"] is True


def test_openbsd_cannot_clear_v6only():
    e = expected(connect(proto="tcp", bind="::", v6only="0", client="ipv4"), "openbsd")
    assert e.kind == "unsupported" and e.outcome == ("option-error",) and e.errno == "EINVAL"


def test_openbsd_mapped_bind_is_unsupported():
    e = expected(connect(proto="tcp", bind="::ffff:127.0.0.1", v6only="default", client="ipv4"), "openbsd")
    assert e.kind == "unsupported" and e.outcome == ("bind-error",)


def test_linux_knob_decides_the_default():
    scenario = connect(proto="tcp", bind="::", v6only="default", client="ipv4")
    e = expected(scenario, "linux", knobs={"net.ipv6.bindv6only": "1"})
    assert e.outcome == ("refused",) and e.fields["v6only_set"] == 1
    # a mapped client with the default v6only is then v6-only itself and cannot connect
    e = expected(connect(proto="tcp", bind="0.0.0.0", client="mapped", client_v6only="default"), "linux",
                 knobs={"net.ipv6.bindv6only": "1"})
    assert e.outcome == ("unreachable",) and e.errno == "ENETUNREACH"


def test_errnos_differ_per_platform_for_a_v6only_client():
    scenario = connect(proto="tcp", bind="127.0.0.1", client="mapped", client_v6only="default")
    assert expected(scenario, "linux", knobs={"net.ipv6.bindv6only": "1"}).errno == "ENETUNREACH"
    freebsd = expected(scenario, "freebsd")
    assert freebsd.outcome == ("connect-error",) and freebsd.errno == "EINVAL"
    windows = expected(scenario, "windows")  # a single report: the errno is recorded, not asserted
    assert windows.errno is None and set(windows.outcome) == {"unreachable", "connect-error"}


def test_specific_bind_reads_back_v6only_on_linux_only():
    scenario = connect(proto="tcp", bind="::1", v6only="0", client="ipv6")
    assert expected(scenario, "linux").fields["effective_v6only"] == 1
    assert "effective_v6only" not in expected(scenario, "darwin").fields


def test_undocumented_platform_is_informational():
    scenario = connect(proto="tcp", bind="::", v6only="default", client="ipv4")
    e = expect(scenario, load_platform("haiku"), simulated("haiku"))
    assert e.kind == "informational"


def test_missing_af_inet6_makes_ipv6_cells_unsupported_but_keeps_ipv4_cells():
    facts = dict(af_inet6=False, has_ipv6=False, has_mapped=False, default_v6only={"tcp": None, "udp": None})
    e = expected(connect(proto="tcp", bind="::", v6only="default", client="ipv4"), "linux", **facts)
    assert e.kind == "unsupported" and e.outcome == ("unsupported",)
    e = expected(connect(proto="udp", bind="127.0.0.1", client="ipv4"), "linux", **facts)
    assert e.kind == "conforms" and e.outcome == ("ok",)


def test_missing_ipv6_loopback_fails_a_bind_to_it():
    e = expected(connect(proto="tcp", bind="::1", v6only="1", client="ipv6"), "linux", has_ipv6=False)
    assert e.outcome == ("bind-error",) and e.errno == "EADDRNOTAVAIL"


def test_options_follow_the_platform():
    default_tcp = Scenario.of("options", proto="tcp", check="default-v6only")
    assert expected(default_tcp, "windows").fields["value"] == 1
    assert expected(default_tcp, "darwin").fields["value"] == 0
    after = Scenario.of("options", proto="udp", check="set-v6only", after="bind", value="1")
    assert expected(after, "linux").errno == "EINVAL"
    assert expected(after, "windows").kind == "informational"  # not documented
    create = Scenario.of("options", proto="tcp", check="create-server", dualstack_ipv6="true")
    assert expected(create, "openbsd").kind == "unsupported"
    assert expected(create, "linux").fields["value"] == 0


def test_bad_expectations_data_is_named():
    with pytest.raises(PlatformError, match="fact 'default_v6only' lacks source"):
        platform_from_data({"os": "x", "facts": {"default_v6only": {"value": 0, "because": "b"}}}, "x.toml")


@settings(max_examples=300, deadline=None)
@given(scenario=st.sampled_from(all_scenarios()),
       os_name=st.sampled_from(["linux", "darwin", "windows", "freebsd", "netbsd", "openbsd", "haiku"]),
       af_inet6=st.booleans(), has_ipv6=st.booleans(), knob=st.sampled_from(["0", "1"]))
def test_every_expectation_is_well_formed(scenario, os_name, af_inet6, has_ipv6, knob):
    facts = simulated(os_name, af_inet6=af_inet6, has_ipv6=has_ipv6 and af_inet6,
                      knobs={"net.ipv6.bindv6only": knob} if os_name == "linux" else {})
    e = expect(scenario, load_platform(os_name), facts)
    assert e.kind in ("conforms", "informational", "unsupported", "skipped")
    if e.kind != "informational":
        assert e.outcome and set(e.outcome) <= set(tuple(Outcome))
        assert e.reasons and all(r.source.startswith("https://") and r.because for r in e.reasons)
    if e.errno is not None:
        assert e.errno.startswith("E") and e.outcome != ("ok",)
