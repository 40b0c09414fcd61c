"""The answers grid, read from matrices of run records made here: one record per platform
behaviour (Linux, Linux with bindv6only=1, with IPv6 off, with no AF_INET6, a Windows-like
v6-only default) and a documented column; plus the recipes' "is it served" rule."""

from __future__ import annotations

from pathlib import Path

from conformance.datafiles import load_toml
from matrix import columns, merge, render
from matrix.answers import answers
from matrix.beliefs import recipes

ANY_V4 = "connect/tcp/bind=::/v6only=default/client=ipv4"
ANY_V6 = "connect/tcp/bind=::/v6only=default/client=ipv6"
GO = 'subjects/tcp/server=go/setup=net.Listen("tcp", "[::]:P")'
SERVED = {"outcome": "ok", "peer": "::ffff:127.0.0.1"}
REFUSED = {"outcome": "refused", "errno": "ECONNREFUSED"}
NO_INET6 = {"outcome": "unsupported", "errno": "EAFNOSUPPORT"}


def conflict(order: str, v6only: str = "default", reuse: str = "none") -> str:
    return f"coexist/tcp/ipv4=0.0.0.0/ipv6=::/v6only={v6only}/reuse={reuse}/order={order}"


def params(cell_id: str) -> dict:
    family, proto, *rest = cell_id.split("/")
    return {"proto": proto, **dict(part.split("=", 1) for part in rest if "=" in part)}


def record(variant: str, observed: dict[str, dict], os: str = "linux", default_v6only: int = 0,
           knobs: dict | None = None, verdicts: dict[str, str] | None = None, **platform) -> tuple[Path, dict]:
    """A run record of one platform with the given observations (verdict conforms unless told)."""
    verdicts = verdicts or {}
    results = [{"id": cid, "family": cid.split("/")[0], "params": params(cid), "observed": seen,
                "verdict": verdicts.get(cid, "unsupported" if seen.get("outcome") == "unsupported" else "conforms")}
               for cid, seen in observed.items()]
    return Path(f"{variant}.json"), {
        "platform": {"os": os, "release": "6.18.44", "python": "3.11.7", "variant": variant, "machine": "x86_64",
                     **platform},
        "facts": {"default_v6only": {"tcp": default_v6only, "udp": default_v6only},
                  "knobs": knobs or {"net.ipv6.bindv6only": "0"}, "has_ipv6": True, "has_mapped": True},
        "run": {}, "variants": [], "results": results}


def linux(**changes) -> dict[str, dict]:
    """What this Linux machine shows by default, with some cells changed."""
    cells = {
        "options/tcp/check=default-v6only": {"outcome": "ok", "value": 0},
        "options/udp/check=default-v6only": {"outcome": "ok", "value": 0},
        ANY_V4: SERVED, ANY_V6: {"outcome": "ok", "peer": "::1"},
        conflict("ipv4-first"): {"outcome": "bind-error", "errno": "EADDRINUSE"},
        conflict("ipv6-first"): {"outcome": "bind-error", "errno": "EADDRINUSE"},
        GO: {"outcome": "ok", "clients": {"ipv4": "ok", "mapped": "ok", "ipv6": "ok"}, "listeners": ["*:P v6only:0"]},
    }
    cells.update(changes)
    return cells


def grid(*runs, documented=None) -> dict:
    matrix = merge.merge(list(runs), documented)
    found = answers(matrix)
    return {"matrix": matrix, "changes": found["changes"],
            **{row["question"]["id"]: row["answers"] for row in found["rows"]}}


def test_each_platform_behaviour_gives_its_plain_answer_with_its_evidence():
    found = grid(
        record("default", linux()),
        record("bindv6only=1", linux(**{"options/tcp/check=default-v6only": {"outcome": "ok", "value": 1},
                                        "options/udp/check=default-v6only": {"outcome": "ok", "value": 1},
                                        ANY_V4: REFUSED}),
               knobs={"net.ipv6.bindv6only": "1"}, default_v6only=1),
        record("windows-like", linux(**{"options/tcp/check=default-v6only": {"outcome": "ok", "value": 1},
                                        ANY_V4: REFUSED,
                                        conflict("ipv4-first"): {"outcome": "ok", "ipv4_to": "ipv4-socket",
                                                                 "ipv6_to": "ipv6-socket"},
                                        conflict("ipv6-first"): {"outcome": "listen-error", "errno": "EADDRINUSE"}}),
               os="windows"),
    )
    key = {c["platform"]["variant"]: c["key"] for c in found["matrix"]["columns"]}
    default, knob, windows = key["default"], key["bindv6only=1"], key["windows-like"]
    assert [found["default-v6only"][k]["text"] for k in (default, knob, windows)] == ["0", "1", "TCP 1 · UDP 0"]
    served = found["any-serves-ipv4-default"]
    assert (served[default]["text"], served[default]["behaviour"]) == ("yes", "served")
    assert (served[knob]["text"], served[knob]["behaviour"]) == ("no: ECONNREFUSED", "refused")
    assert served[default]["evidence"] == [ANY_V4] and served[default]["glyph"] == "✓"
    clash = found["conflict-default"]
    assert clash[default]["text"] == "conflict at bind" and clash[default]["behaviour"] == "conflict"
    assert clash[windows]["text"] == "ipv4-first: no conflict; ipv6-first: conflict at listen"
    assert found["go-gin"][knob]["text"] == "IPv4 + IPv6"  # Go clears IPV6_V6ONLY itself
    assert found["changes"][default]["text"] == "the reference"
    assert found["changes"][knob]["differs"] == ["default IPV6_V6ONLY", "[::] serves IPv4 (default)"]
    assert found["changes"][windows]["text"] == "no default run of this platform"  # another OS


def test_ipv6_off_and_no_af_inet6_read_as_what_they_are():
    found = grid(
        record("default", linux()),
        record("disable_ipv6", linux(**{ANY_V6: {"outcome": "bind-error", "errno": "EADDRNOTAVAIL"},
                                        GO: {"outcome": "ok", "listeners": ["*:P v6only:0"],
                                             "clients": {"ipv4": "ok", "mapped": "ok", "ipv6": "error:EADDRNOTAVAIL"}}}),
               verdicts={GO: "informational"}),
        record("no-af-inet6", {cid: NO_INET6 for cid in linux()} | {
            GO: {"outcome": "start-error", "notes": ["listen EAFNOSUPPORT"]}}, verdicts={GO: "informational"}),
    )
    key = {c["platform"]["variant"]: c["key"] for c in found["matrix"]["columns"]}
    go = found["go-gin"][key["disable_ipv6"]]
    assert (go["text"], go["behaviour"], go["glyph"]) == ("IPv4 only (IPv6: EADDRNOTAVAIL)", "partly", "ℹ")
    cannot = found["any-serves-ipv4-default"][key["no-af-inet6"]]
    assert (cannot["text"], cannot["behaviour"], cannot["glyph"]) == ("cannot run: EAFNOSUPPORT", "not-run", "–")
    assert found["go-gin"][key["no-af-inet6"]]["text"] == "does not start"
    assert found["changes"][key["disable_ipv6"]]["differs"] == ["Go / Gin on [::]"]


def test_documented_columns_answer_from_the_documentation_and_say_when_it_is_silent():
    low_fact = load_toml("expectations/darwin.toml")["facts"]["bind_mapped_on_v6only"]
    assert low_fact.get("confidence") == "low"
    documented = {"darwin": {"name": "macOS", "cells": {
        ANY_V4: {"outcome": "ok", "peer": "::ffff:127.0.0.1", "because": "XNU defaults to 0."},
        "options/tcp/check=default-v6only": {"outcome": "ok", "value": 0, "because": low_fact["because"]}}}}
    found = grid(record("default", linux()), documented=documented)
    mac = "documented-darwin"
    assert found["any-serves-ipv4-default"][mac]["text"] == "yes"
    assert found["any-serves-ipv4-default"][mac]["documented"] and found["any-serves-ipv4-default"][mac]["glyph"] == "◇"
    assert not found["any-serves-ipv4-default"][mac]["low"]
    assert found["default-v6only"][mac]["low"]  # rests on a fact marked low confidence
    silent = found["conflict-default"][mac]
    assert (silent["text"], silent["behaviour"], silent["evidence"]) == ("?", "unknown", [])
    assert found["changes"][mac]["text"] == "–"


def test_a_known_deviation_reads_apart_from_an_unexplained_one():
    found = grid(record("default", linux(**{ANY_V4: REFUSED}), verdicts={ANY_V4: "deviates"}))
    key = found["matrix"]["columns"][0]["key"]
    assert found["any-serves-ipv4-default"][key]["badge"] == "deviates"
    row = next(r for r in found["matrix"]["rows"] if r["id"] == ANY_V4)
    row["cells"][key]["known"] = {"cause": "late-rst", "reason": "gVisor answers RST late",
                                  "source": "https://gvisor.dev/issue/1"}
    explained = {r["question"]["id"]: r["answers"] for r in answers(found["matrix"])["rows"]}
    assert (explained["any-serves-ipv4-default"][key]["glyph"], explained["any-serves-ipv4-default"][key]["badge"]) \
        == ("!", "deviates (known)")
    page = render.html(found["matrix"])
    assert "deviates (known)" in page and "gVisor answers RST late" in page


def test_columns_are_labelled_short_with_a_runtime_that_is_not_the_host():
    runs = [record("default", linux()), record("bindv6only=1", linux(), knobs={"net.ipv6.bindv6only": "1"}),
            record("default", linux(), runtime={"name": "gvisor", "version": "2025.01"}, machine="gvisor-x86_64"),
            record("uml", linux(), runtime={"name": "host"})]
    matrix = merge.merge(runs)
    labels = sorted(columns.labels(matrix["columns"]).values())
    assert labels == ["Linux 6.18 · bindv6only=1", "Linux 6.18 · default", "Linux 6.18 · gvisor 2025.01 · default",
                      "Linux 6.18 · uml"]
    defaults = columns.default_columns(matrix["columns"])
    gvisor = next(c["key"] for c in matrix["columns"] if "gvisor" in c["key"])
    assert defaults[gvisor] == gvisor  # gVisor is its own platform, compared with nobody else's default


def test_a_family_the_report_does_not_know_is_rendered_like_any_other():
    model = "model/tcp/check=state-machine"
    matrix = merge.merge([record("default", linux(**{model: {"outcome": "ok", "value": "agrees"}}))])
    families = [f["family"] for f in render.hierarchy(matrix)]
    assert families[-1] == "model"
    page = render.html(matrix)
    assert 'data-family="model"' in page and "state-machine" in page


def coexist_pair(seen_first: dict, seen_second: dict, v6only: str = "1") -> dict[str, dict]:
    return {conflict("ipv4-first", v6only): seen_first, conflict("ipv6-first", v6only): seen_second}


BOTH_SERVED = {"outcome": "ok", "ipv4_to": "ipv4-socket", "ipv6_to": "ipv6-socket"}


def test_a_client_that_got_an_error_is_not_served_by_one_socket_or_two():
    ipv6_off = {"outcome": "ok", "ipv4_to": "ipv4-socket", "ipv6_to": "error:EADDRNOTAVAIL"}
    runs = [record("default", {ANY_V4: SERVED, ANY_V6: {"outcome": "ok", "peer": "::1"},
                               **coexist_pair(BOTH_SERVED, BOTH_SERVED)}),
            record("disable_ipv6", {ANY_V4: SERVED, ANY_V6: {"outcome": "bind-error", "errno": "EADDRNOTAVAIL"},
                                    **coexist_pair(ipv6_off, ipv6_off)})]
    matrix = merge.merge(runs)
    found = {(r["kind"], r["bind"]): r for r in recipes(matrix)}
    default, off = (c["key"] for c in matrix["columns"])
    one, two = found[("one socket", "::")], found[("two sockets", "0.0.0.0 + ::")]
    # judged alike: both work where both clients get through, both fail where IPv6 is off
    assert one["works"] == two["works"] == [default]
    assert one["fails"] == [{"column": off, "value": "EADDRNOTAVAIL at bind"}]
    assert two["fails"] == [{"column": off, "value": "both bound; IPv4→v4 IPv6→error:EADDRNOTAVAIL"}]


def test_two_sockets_work_only_when_both_bind_orders_serve_both_clients():
    matrix = merge.merge([record("default", coexist_pair(BOTH_SERVED, {"outcome": "bind-error",
                                                                       "errno": "EADDRINUSE"}, v6only="0")),
                          record("other", coexist_pair(BOTH_SERVED, BOTH_SERVED, v6only="0"))])
    recipe = recipes(matrix)[0]
    assert recipe["works"] == [c["key"] for c in matrix["columns"] if c["platform"]["variant"] == "other"]
    assert recipe["fails"][0]["value"] == "EADDRINUSE at bind"
