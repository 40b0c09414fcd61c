"""Beliefs checked against the matrix, and portable recipes derived from it."""

from __future__ import annotations

import fnmatch
import sys
from importlib import resources

from conformance.vocabulary import Outcome
from matrix.display import NOT_RUN, served_clients

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_toml(name: str) -> dict:
    """A data file packaged beside this module (beliefs.toml, claims.toml, answers.toml)."""
    return tomllib.loads((resources.files("matrix") / name).read_text(encoding="utf-8"))


def load_beliefs() -> list[dict]:
    return load_toml("beliefs.toml")["belief"]


def field(cell: dict, key: str):
    """A field of a cell; "clients.ipv4" reaches into a nested one."""
    value: object = cell
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(cell: dict, expect: dict) -> bool:
    return all(field(cell, k) == v for k, v in expect.items())


def judged_content(column: dict, cell: dict) -> dict | None:
    """What a belief is judged on: the observation, or the documented expectation;
    nothing for a cell that could not run (unsupported, skipped)."""
    if cell["verdict"] in NOT_RUN:
        return None
    return cell.get("observed") if column["kind"] == "observed" else cell.get("expected")


def column_os(column: dict) -> str:
    return column["platform"]["os"] if column["kind"] == "observed" else column["os"]


def applies(when: dict | None, column: dict) -> bool:
    """Does a belief limited by ``when`` speak about this column? ``variants``: the
    variants it is about (a documented column speaks for a platform as it ships, the
    default); ``knob``/``equals``: a measured kernel setting; ``variant_prefix``: runs
    labelled so (the CI container)."""
    if not when:
        return True
    variant = column["platform"]["variant"] if column["kind"] == "observed" else "default"
    if "variants" in when and variant not in when["variants"]:
        return False
    if set(when) == {"variants"}:
        return True
    if column["kind"] != "observed":
        return False
    if "knob" in when and column["facts"]["knobs"].get(when["knob"]) != when["equals"]:
        return False
    return column["platform"]["variant"].startswith(when.get("variant_prefix", ""))


def matching_rows(patterns: list[str], matrix: dict) -> list[dict]:
    """The rows whose id matches one of the globs, found once for every column."""
    return [row for row in matrix["rows"] if any(fnmatch.fnmatchcase(row["id"], g) for g in patterns)]


def belief_cells(rows: list[dict], column: dict) -> list[tuple[str, dict]]:
    return [(row["id"], row["cells"][column["key"]]) for row in rows if column["key"] in row["cells"]]


def judge_column(belief: dict, rows: list[dict], column: dict) -> dict | None:
    """Holds or fails on one column (with the cells that contradict it), or None when the
    belief does not speak about the column or no cell of it could run there. A belief
    holds when every cell shows ``expect``; one with ``refute`` fails on any cell that shows it.
    ``rows``: the rows its cells name (matching_rows)."""
    expect: dict | None = belief.get("expect")
    if "expect_by_os" in belief:
        expect = belief["expect_by_os"].get(column_os(column))
    refute = belief.get("refute")
    if (expect is None and refute is None) or not applies(belief.get("when"), column):
        return None
    judged = [(cid, cell, seen) for cid, cell in belief_cells(rows, column) if (seen := judged_content(column, cell))]
    if not judged:
        return None
    against = [{"id": cid, "value": cell["value"]} for cid, cell, seen in judged
               if (refute is not None and _matches(seen, refute)) or (expect is not None and not _matches(seen, expect))]
    return {"column": column["key"], "kind": column["kind"], "verdict": "fails" if against else "holds",
            "against": against, "cells": [cid for cid, _, _ in judged],
            "values": [cell["value"] for _, cell, _ in judged]}


def judge_belief(belief: dict, matrix: dict) -> list[dict]:
    """Per column where the belief is judged: holds or fails."""
    rows = matching_rows(belief["cells"], matrix)
    verdicts = [judge_column(belief, rows, column) for column in matrix["columns"]]
    return [v for v in verdicts if v]


def check_beliefs(matrix: dict) -> list[dict]:
    return [dict(belief, verdicts=judge_belief(belief, matrix)) for belief in load_beliefs()]


# --- portable recipes ----------------------------------------------------------------

BOTH = {"ipv4", "ipv6"}


def _wanted(row: dict) -> set[str]:
    """The clients a row must see served: a connect row its own client, a two-socket row both."""
    return {row["params"]["client"]} if row["family"] == "connect" else BOTH


def _cell_serves(row: dict, cell: dict) -> set[str]:
    """The clients one cell shows served: a connect cell serves its client when it got
    through; a coexist cell says which client reached which socket. A client that got an
    error is not served."""
    observed = cell.get("observed") or {}
    if row["family"] == "connect":
        return {row["params"]["client"]} if observed.get("outcome") == Outcome.OK else set()
    return served_clients(observed)


def _serves(rows: list[dict], column: str) -> tuple[bool, str]:
    """Does one set-up serve both an IPv4 and an IPv6 client on this column? One rule for
    one and two sockets: every row serves the clients it must (one socket: a row per
    client; two sockets: a row per bind order, each serving both). The second value is
    the first cell that let a client down."""
    for row in rows:
        cell = row["cells"][column]
        if not _wanted(row) <= _cell_serves(row, cell):
            return False, cell["value"]
    return True, ""


def recipes(matrix: dict) -> list[dict]:
    """Server set-ups from the catalogue, judged on every observed column: one socket
    (connect: the IPv4 and the IPv6 client both reach it) and two sockets (coexist:
    both bind, in either order, and both clients reach one of them)."""
    observed = [c for c in matrix["columns"] if c["kind"] == "observed"]
    setups: dict[tuple, list[dict]] = {}
    for row in matrix["rows"]:
        params = row["params"]
        if row["family"] == "connect" and params["client"] in BOTH:
            key = ("one socket", params["proto"], params["bind"], params.get("v6only", "-"), "none")
        elif row["family"] == "coexist":
            key = ("two sockets", params["proto"], f"{params['ipv4']} + {params['ipv6']}", params["v6only"],
                   params["reuse"])
        else:
            continue
        setups.setdefault(key, []).append(row)
    out = []
    for (kind, proto, bind, v6only, reuse), rows in sorted(setups.items()):
        works, fails = [], []
        for column in observed:
            present = [r for r in rows if column["key"] in r["cells"]]
            if not present:
                continue
            ok, why = _serves(present, column["key"])
            (works.append(column["key"]) if ok else fails.append({"column": column["key"], "value": why}))
        if works:
            out.append({"kind": kind, "proto": proto, "bind": bind, "v6only": v6only, "reuse": reuse,
                        "works": works, "fails": fails, "everywhere": not fails})
    return sorted(out, key=lambda r: (not r["everywhere"], r["kind"], r["proto"], r["bind"]))
