"""The blog's claims (matrix/claims.toml) checked per platform: holds or fails, the
evidence cells and one sentence of why; "not measured" and what would measure it when
no column speaks about a claim."""

from __future__ import annotations

from matrix.beliefs import (
    applies,
    belief_cells,
    column_os,
    field,
    judge_column,
    judged_content,
    load_toml,
    matching_rows,
)


def load_claims() -> list[dict]:
    return load_toml("claims.toml")["claim"]


def _speaks_about(claim: dict, column: dict) -> bool:
    has_expectation = "expect_by_os" not in claim or column_os(column) in claim["expect_by_os"]
    return has_expectation and applies(claim.get("when"), column)


def _quoted(claim: dict, rows: list[dict], column: dict, ids: list[str]) -> str:
    """The evidence a sentence quotes: the named field of those cells, or their short value."""
    quotes = []
    for cid, cell in belief_cells(rows, column):
        if cid not in ids:
            continue
        seen = judged_content(column, cell) or {}
        value = field(seen, claim["quote"]) if "quote" in claim else cell["value"]
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = "; ".join(map(str, value))
        if value is not None:
            quotes.append(str(value))
    return " / ".join(dict.fromkeys(quotes))


def check_column(claim: dict, rows: list[dict], column: dict) -> dict:
    """One column's verdict: holds, fails, not judged (the claim does not speak about it)
    or not measured (it does, but no cell of it ran there)."""
    base = {"column": column["key"], "kind": column["kind"], "cells": [], "against": []}
    if not _speaks_about(claim, column):
        return dict(base, verdict="not judged", why=claim["not_judged"])
    judged = judge_column(claim, rows, column)
    if judged is None:
        return dict(base, verdict="not measured", why="No cell of it ran on this platform.")
    ids = [a["id"] for a in judged["against"]] or judged["cells"]
    sentence = claim[judged["verdict"]].format(value=_quoted(claim, rows, column, ids))
    return dict(base, verdict=judged["verdict"], why=sentence, cells=judged["cells"], against=judged["against"])


def check_claims(matrix: dict) -> list[dict]:
    """Each claim with its per-column verdicts and an overall status."""
    out = []
    for claim in load_claims():
        rows = matching_rows(claim["cells"], matrix)
        verdicts = [check_column(claim, rows, column) for column in matrix["columns"]]
        judged = [v for v in verdicts if v["verdict"] in ("holds", "fails")]
        fails = [v for v in judged if v["verdict"] == "fails"]
        if not judged:
            status = "not measured"
        elif not fails:
            status = "holds"
        else:
            status = "fails" if len(fails) == len(judged) else "fails on some"
        out.append(dict(claim, verdicts=verdicts, status=status,
                        summary=f"fails on {len(fails)} of {len(judged)} platforms judged" if judged
                        else claim.get("not_measured", "Nothing here measures it.")))
    return out
