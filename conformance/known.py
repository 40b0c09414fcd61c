"""Known deviations: where a runtime that promises another platform's behaviour (gVisor
promises Linux's) differs from it, and its own source says why.

The data is conformance/data/known/<runtime>.toml. A cell's deviation is known when the
cell's id matches one of an entry's globs and every difference of the cell is one the
entry lists; anything else stays an unexplained deviation and fails the run.
"""

from __future__ import annotations

import fnmatch
from functools import cache
from typing import Any

from conformance.datafiles import DATA, load_toml


@cache
def deviations(runtime: str) -> tuple[dict[str, Any], ...]:
    """The runtime's known deviations; none for a runtime without a data file."""
    if not (DATA / "known" / f"{runtime}.toml").is_file():
        return ()
    return tuple(load_toml(f"known/{runtime}.toml").get("deviation", []))


def explains(listed: dict[str, Any], difference: dict[str, Any]) -> bool:
    """A listed difference explains an observed one: same field, and the same expected
    and observed values where the list gives them."""
    return listed["field"] == difference["field"] and all(
        key not in listed or listed[key] == difference.get(key) for key in ("expected", "observed"))


def known_deviation(runtime: str, cell_id: str, differences: list[dict[str, Any]]) -> dict[str, str] | None:
    """{"cause", "reason", "source"} when one entry explains every difference of the
    cell, else None."""
    if not differences:
        return None
    for entry in deviations(runtime):
        if any(fnmatch.fnmatchcase(cell_id, glob) for glob in entry["cells"]) and all(
                any(explains(listed, d) for listed in entry["differences"]) for d in differences):
            return {"cause": entry["cause"], "reason": " ".join(entry["reason"].split()), "source": entry["source"]}
    return None


def judge_known(runtime: str, entry: dict[str, Any]) -> bool:
    """Attach the runtime's known deviation to a deviating cell ("known"); True when
    the cell fails the run: it deviates and nothing known explains every difference."""
    if entry["verdict"] != "deviates":
        return False
    known = known_deviation(runtime, entry["id"], entry.get("differences", []))
    if known is None:
        return True
    entry["known"] = known  # the verdict stays "deviates": it is still not what Linux documents
    return False
