"""Beliefs checked against the matrix, and portable recipes derived from it."""

from __future__ import annotations

import fnmatch
import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_beliefs() -> list[dict]:
    return tomllib.loads((resources.files("matrix") / "beliefs.toml").read_text(encoding="utf-8"))["belief"]


def _field(cell: dict, key: str):
    """A field of a cell; "clients.ipv4" reaches into a nested one."""
    value: object = cell
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _holds(cell: dict, expect: dict) -> bool:
    return all(_field(cell, k) == v for k, v in expect.items())


def _content(column: dict, cell: dict) -> dict | None:
    """What a belief is judged on: the observation, or the documented expectation;
    nothing for a cell that could not run (unsupported, skipped)."""
    if cell["verdict"] in ("unsupported", "skipped"):
        return None
    return cell.get("observed") if column["kind"] == "observed" else cell.get("expected")


def judge_belief(belief: dict, matrix: dict) -> list[dict]:
    """Per column: holds, fails (with the cells that contradict), or not judged."""
    verdicts = []
    for column in matrix["columns"]:
        os_name = column["platform"]["os"] if column["kind"] == "observed" else column["os"]
        expect: dict | None = belief.get("expect")
        if "expect_by_os" in belief:
            expect = belief["expect_by_os"].get(os_name)
        when = belief.get("when")
        if when and (column["kind"] != "observed" or column["facts"]["knobs"].get(when["knob"]) != when["equals"]):
            expect = None
        if expect is None:
            continue
        cells = [(row["id"], row["cells"][column["key"]]) for row in matrix["rows"]
                 if column["key"] in row["cells"] and any(fnmatch.fnmatchcase(row["id"], g) for g in belief["cells"])]
        judged = [(cid, cell) for cid, cell in cells if _content(column, cell)]
        if not judged:
            continue
        against = [{"id": cid, "value": cell["value"]} for cid, cell in judged
                   if not _holds(_content(column, cell) or {}, expect)]
        supporting = [cid for cid, _ in judged]
        verdicts.append({"column": column["key"], "kind": column["kind"],
                         "verdict": "fails" if against else "holds", "against": against, "cells": supporting})
    return verdicts


def check_beliefs(matrix: dict) -> list[dict]:
    return [dict(belief, verdicts=judge_belief(belief, matrix)) for belief in load_beliefs()]


# --- portable recipes ----------------------------------------------------------------

def _serves(cells: list[dict]) -> tuple[bool, str]:
    """Do these cells (one set-up on one column) serve both IPv4 and IPv6 clients?"""
    for cell in cells:
        observed = cell.get("observed") or {}
        if observed.get("outcome") != "ok":
            return False, cell["value"]
        if "ipv4_to" in observed and "nobody" in (observed.get("ipv4_to"), observed.get("ipv6_to")):
            return False, cell["value"]
    return True, ""


def recipes(matrix: dict) -> list[dict]:
    """Server set-ups from the catalogue, judged on every observed column: one socket
    (connect: the IPv4 and the IPv6 client both reach it) and two sockets (coexist:
    both bind, in either order, and both clients reach one of them)."""
    observed = [c for c in matrix["columns"] if c["kind"] == "observed"]
    setups: dict[tuple, dict] = {}
    for row in matrix["rows"]:
        params = row["params"]
        if row["family"] == "connect" and params["client"] in ("ipv4", "ipv6"):
            key = ("one socket", params["proto"], params["bind"], params.get("v6only", "-"), "none")
        elif row["family"] == "coexist":
            key = ("two sockets", params["proto"], f"{params['ipv4']} + {params['ipv6']}", params["v6only"],
                   params["reuse"])
        else:
            continue
        setup = setups.setdefault(key, {"rows": []})
        setup["rows"].append(row)
    out = []
    for (kind, proto, bind, v6only, reuse), setup in sorted(setups.items()):
        works, fails = [], []
        for column in observed:
            cells = [r["cells"][column["key"]] for r in setup["rows"] if column["key"] in r["cells"]]
            if not cells:
                continue
            ok, why = _serves(cells)
            (works.append(column["key"]) if ok else fails.append({"column": column["key"], "value": why}))
        if works:
            out.append({"kind": kind, "proto": proto, "bind": bind, "v6only": v6only, "reuse": reuse,
                        "works": works, "fails": fails, "everywhere": not fails})
    return sorted(out, key=lambda r: (not r["everywhere"], r["kind"], r["proto"], r["bind"]))
