"""The blog's claims, judged on matrices of run records made here: a verdict per platform,
the evidence and one sentence of why; "not measured" and what would measure it."""

from __future__ import annotations

from matrix import merge
from matrix.claims import check_claims
from tests.test_answers import GO, conflict, linux, record

GIN = 'subjects/tcp/server=go/setup=http.ListenAndServe(":P") (Gin\'s Run)'
BINDV6ONLY = {"net.ipv6.bindv6only": "1"}


def claims(*runs, documented=None) -> dict[str, dict]:
    matrix = merge.merge(list(runs), documented)
    labels = {c["key"]: c.get("platform", {}).get("variant", c["key"]) for c in matrix["columns"]}
    out = {}
    for claim in check_claims(matrix):
        claim["by"] = {labels[v["column"]]: v for v in claim["verdicts"]}
        out[claim["id"]] = claim
    return out


def test_bindv6only_breaking_gin_is_judged_only_where_the_knob_is_set_and_go_decides():
    served = {"outcome": "ok", "clients": {"ipv4": "ok", "mapped": "unreachable", "ipv6": "ok"}}
    refused = {"outcome": "ok", "clients": {"ipv4": "refused", "mapped": "refused", "ipv6": "ok"}}
    found = claims(record("default", linux()),
                   record("bindv6only=1", linux(**{GO: served, GIN: served}), knobs=BINDV6ONLY),
                   record("bindv6only=1-old-go", linux(**{GO: refused, GIN: refused}), knobs=BINDV6ONLY))
    claim = found["bindv6only-breaks-gin"]
    assert claim["by"]["default"]["verdict"] == "not judged"
    fails = claim["by"]["bindv6only=1"]
    assert fails["verdict"] == "fails" and sorted(fails["cells"]) == sorted([GO, GIN])
    assert fails["why"].startswith("Go sets IPV6_V6ONLY=0 on its own listener")
    assert "ipv4 ok, mapped unreachable, ipv6 ok" in fails["why"]  # the evidence, quoted
    holds = claim["by"]["bindv6only=1-old-go"]
    assert holds["verdict"] == "holds" and "ipv4 refused" in holds["why"]
    assert (claim["status"], claim["summary"]) == ("fails on some", "fails on 1 of 2 platforms judged")


def test_zero_and_any_conflict_only_while_the_ipv6_socket_is_dual_stack():
    both = {"outcome": "ok", "ipv4_to": "ipv4-socket", "ipv6_to": "ipv6-socket"}
    in_use = {"outcome": "bind-error", "errno": "EADDRINUSE"}
    always = {conflict(order, v6only): in_use for order in ("ipv4-first", "ipv6-first") for v6only in ("0", "1")}
    found = claims(record("default", always | {conflict("ipv4-first", "1"): both}),
                   record("everything-conflicts", always))
    claim = found["separate-listeners-conflict"]
    fails = claim["by"]["default"]
    assert fails["verdict"] == "fails" and fails["against"] == [
        {"id": conflict("ipv4-first", "1"), "value": "both bound; IPv4→v4 IPv6→v6"}]
    assert "with IPV6_V6ONLY=1 both bind" in fails["why"]
    assert claim["by"]["everything-conflicts"]["verdict"] == "holds"


def test_ss_prints_a_dual_stack_listener_as_star_not_as_tcp6_colons():
    found = claims(record("default", linux()), record("windows", linux(), os="windows"))
    claim = found["ss-shows-tcp6"]
    assert claim["by"]["default"]["verdict"] == "fails"
    assert claim["by"]["default"]["why"].startswith("ss printed *:P v6only:0:")
    assert claim["by"]["windows"]["verdict"] == "not judged"  # ss is Linux's


def test_the_docker_claim_is_not_measured_until_a_container_column_exists():
    found = claims(record("default", linux()))
    docker = found["docker-host-mode"]
    assert docker["status"] == "not measured"
    assert "container-no-ipv6" in docker["summary"]  # what would measure it
    gin_in_container = {"outcome": "ok", "clients": {"ipv4": "ok", "mapped": "ok", "ipv6": "error:EADDRNOTAVAIL"}}
    found = claims(record("default", linux()),
                   record("container-disable_ipv6", linux(**{GIN: gin_in_container, GO: gin_in_container})))
    docker = found["docker-host-mode"]
    assert docker["by"]["container-disable_ipv6"]["verdict"] == "fails" and docker["status"] == "fails"
    assert docker["by"]["default"]["verdict"] == "not judged"


def test_the_defaults_table_is_judged_against_documented_columns_too():
    documented = {os: {"name": name, "cells": {"options/tcp/check=default-v6only": {"outcome": "ok", "value": v}}}
                  for os, name, v in (("darwin", "macOS", 0), ("windows", "Windows", 1), ("freebsd", "FreeBSD", 1))}
    found = claims(record("default", linux()), documented=documented)
    table = found["defaults-table"]["by"]
    assert table["default"]["verdict"] == "holds"
    assert table["documented-darwin"]["verdict"] == "fails" and "v6only=0" in table["documented-darwin"]["why"]
    assert table["documented-windows"]["verdict"] == "holds"
    assert table["documented-freebsd"]["verdict"] == "not judged"  # the table does not name FreeBSD


def test_a_claim_whose_cells_could_not_run_is_not_measured_there():
    found = claims(record("no-af-inet6", {cid: {"outcome": "unsupported", "errno": "EAFNOSUPPORT"}
                                          for cid in linux()}))
    assert found["separate-listeners-conflict"]["by"]["no-af-inet6"]["verdict"] == "not measured"


def test_the_defaults_table_is_judged_on_machines_as_they_ship_not_on_a_variant_that_changes_it():
    found = claims(record("default", linux()), record("bindv6only=1", linux(), knobs=BINDV6ONLY))
    claim = found["defaults-table"]
    assert claim["by"]["default"]["verdict"] == "holds"
    assert claim["by"]["bindv6only=1"]["verdict"] == "not judged"


def test_the_published_port_claim_is_judged_on_the_docker_jobs_columns():
    found = claims(record("default", linux()))
    claim = found["docker-published-port"]
    assert claim["status"] == "not measured" and "docker job" in claim["summary"]
    reached = {"docker/tcp/server=::/publish=127.0.0.1/client=ipv4": {"outcome": "ok"},
               "docker/tcp/server=::/publish=::1/client=ipv6": {"outcome": "refused"}}
    found = claims(record("default", linux()), record("docker-daemon-ipv6-off", reached))
    claim = found["docker-published-port"]
    assert claim["by"]["docker-daemon-ipv6-off"]["verdict"] == "fails"
    assert claim["by"]["default"]["verdict"] == "not judged"
