"""Linux variants: the suite in fresh network namespaces, never touching the host."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.families import expect
from conformance.platform_model import load_platform
from conformance.scenario import Scenario
from conformance.variants import known
from matrix import record
from tests.conftest import run_dualstack, simulated

LINUX = platform.system() == "Linux"
SECCOMP = LINUX and platform.machine() in ("x86_64", "aarch64")


def connect(**params):
    return Scenario.of("connect", **params)


# --- the variants' expectations, from simulated facts --------------------------------

BINDV6ONLY = dict(knobs={"net.ipv6.bindv6only": "1"}, default_v6only={"tcp": 1, "udp": 1})
NO_IPV6 = dict(has_ipv6=False)


def linux(scenario, **facts):
    return expect(scenario, load_platform("linux"), simulated("linux", **facts))


def test_bindv6only_makes_the_default_wildcard_ipv6_only():
    e = linux(connect(proto="udp", bind="::", v6only="default", client="ipv4"), **BINDV6ONLY)
    assert e.outcome == ("not-delivered",) and e.fields["v6only_set"] == 1
    e = linux(connect(proto="tcp", bind="::", v6only="0", client="ipv4"), **BINDV6ONLY)
    assert e.outcome == ("ok",)  # an explicit 0 still wins


def test_bindv6only_breaks_a_mapped_client_left_at_the_default():
    e = linux(connect(proto="udp", bind="0.0.0.0", client="mapped", client_v6only="default"), **BINDV6ONLY)
    assert e.outcome == ("send-error",) and e.errno == "ENETUNREACH"
    e = linux(connect(proto="udp", bind="0.0.0.0", client="mapped", client_v6only="0"), **BINDV6ONLY)
    assert e.outcome == ("ok",)


def test_without_ipv6_loopback_binding_and_reaching_it_fail():
    e = linux(connect(proto="tcp", bind="::1", v6only="default", client="ipv6"), **NO_IPV6)
    assert e.outcome == ("bind-error",) and e.errno == "EADDRNOTAVAIL"
    e = linux(connect(proto="tcp", bind="::", v6only="default", client="ipv6"), **NO_IPV6)
    assert e.outcome == ("connect-error",) and e.errno == "EADDRNOTAVAIL"
    e = linux(connect(proto="tcp", bind="::", v6only="default", client="ipv4"), **NO_IPV6)
    assert e.outcome == ("ok",)  # IPv4 through the wildcard still works


def test_without_af_inet6_only_ipv4_cells_run():
    facts = dict(af_inet6=False, has_ipv6=False, has_mapped=False, default_v6only={"tcp": None, "udp": None})
    assert linux(connect(proto="tcp", bind="::", v6only="1", client="ipv6"), **facts).kind == "unsupported"
    assert linux(connect(proto="tcp", bind="0.0.0.0", client="ipv4"), **facts).kind == "conforms"


def test_the_catalogue_names_the_four_variants():
    assert set(known()) == {"bindv6only=1", "disable_ipv6", "no-ipv6-loopback", "no-af-inet6"}


# --- the variants for real ----------------------------------------------------------

def host_state():
    bindv6only = Path("/proc/sys/net/ipv6/bindv6only").read_text()
    addresses = subprocess.run(["ip", "addr"], capture_output=True, text=True).stdout
    return bindv6only, addresses


def namespaces_possible() -> bool:
    return LINUX and subprocess.run([sys.executable, "-m", "conformance.variants", "bindv6only=1", "--check"],
                                    capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not namespaces_possible(), reason="no network namespaces can be made here")
def test_all_variants_run_and_leave_the_host_alone(tmp_path):
    before = host_state()
    out = run_dualstack("run", "--variant", "all", "--out", str(tmp_path), "-n", "2", timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    assert host_state() == before
    records = {record.load(p)["platform"]["variant"]: record.load(p) for p in tmp_path.glob("*.json")}
    assert set(records) == {"default", "bindv6only=1", "disable_ipv6", "no-ipv6-loopback", "no-af-inet6"}
    for name, data in records.items():
        verdicts = {r["verdict"] for r in data["results"]}
        assert verdicts <= {"conforms", "informational", "unsupported", "skipped"}, name
        assert [v["status"] for v in data["variants"]] == ["ran"] * 5
    assert records["bindv6only=1"]["facts"]["default_v6only"] == {"tcp": 1, "udp": 1}
    assert records["disable_ipv6"]["facts"]["has_ipv6"] is False
    assert records["no-af-inet6"]["facts"]["af_inet6"] is False
    by_id = {r["id"]: r for r in records["bindv6only=1"]["results"]}
    assert by_id["connect/tcp/bind=::/v6only=default/client=ipv4"]["observed"]["outcome"] == "refused"


@pytest.mark.slow
@pytest.mark.skipif(not SECCOMP, reason="needs Linux seccomp to take away namespace permission")
def test_without_namespace_permission_variants_are_skipped_with_a_reason(tmp_path):
    # unshare() answers EPERM, as it does for a user who may not create namespaces
    out = run_dualstack("run", "--variant", "all", "--out", str(tmp_path),
                        prefix=(sys.executable, "-m", "conformance.seccomp", "--refuse", "namespaces", "--"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert "bindv6only=1             skipped: cannot create a network namespace: Operation not permitted" in out.stdout
    [path] = tmp_path.glob("*.json")
    data = record.load(path)
    assert data["platform"]["variant"] == "default"
    skipped = {v["name"]: v["reason"] for v in data["variants"] if v["status"] == "skipped"}
    assert set(skipped) == {"bindv6only=1", "disable_ipv6", "no-ipv6-loopback", "no-af-inet6"}
    assert all("Operation not permitted" in reason for reason in skipped.values())


@pytest.mark.slow
@pytest.mark.skipif(not SECCOMP, reason="needs Linux seccomp to take away namespace permission")
def test_a_single_skipped_variant_exits_0_and_says_why(tmp_path):
    out = run_dualstack("run", "--variant", "disable_ipv6", "--out", str(tmp_path),
                        prefix=(sys.executable, "-m", "conformance.seccomp", "--refuse", "namespaces", "--"))
    assert out.returncode == 0
    assert out.stdout.strip().splitlines()[-1].startswith("dualstack: disable_ipv6 skipped: cannot create")
    assert not list(tmp_path.glob("*.json"))


def test_unknown_variant_is_a_usage_error():
    out = run_dualstack("run", "--variant", "nosuch")
    assert out.returncode == 2 and "unknown --variant 'nosuch'" in out.stderr
