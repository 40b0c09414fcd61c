"""The answers grid: the questions of matrix/answers.toml answered per platform from the
matrix cells, each answer a plain word or value with the cells it was read from."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from conformance.vocabulary import VERDICT_ORDER, Outcome
from matrix import columns as cols
from matrix.beliefs import belief_cells, column_os, load_toml, matching_rows
from matrix.confidence import is_low
from matrix.display import GLYPHS, NOT_RUN, badge, behaviour, content, served_clients, show

Evidence = list[tuple[str, dict]]  # (cell id, cell) of one column
NOT_DOCUMENTED = "?"


def load_questions() -> list[dict]:
    return load_toml("answers.toml")["question"]


class Reading(NamedTuple):
    """An answer as read from its cells: the text, whether it is code (an address, a
    listing), and its behaviour when the reader knows better than the cells' outcome."""

    text: str
    code: bool = False
    behaviour: str | None = None


def _seen(cell: dict) -> dict:
    """What an evidence cell shows (the readers get only cells that ran)."""
    return content(cell) or {}


def _why_not(seen: dict) -> str:
    """A failure in a few characters: "ECONNREFUSED", "EADDRNOTAVAIL at bind"."""
    if seen.get("outcome") in (Outcome.BIND_ERROR, Outcome.LISTEN_ERROR):
        return show(seen)
    return seen.get("errno") or show(seen)


def read_value(evidence: Evidence, documented: bool) -> Reading:
    values = {cid.split("/")[1]: str(_seen(cell).get("value", show(_seen(cell)))) for cid, cell in evidence}
    if len(set(values.values())) == 1:
        return Reading(next(iter(values.values())), behaviour="value")
    return Reading(" · ".join(f"{proto.upper()} {value}" for proto, value in values.items()), behaviour="value")


def read_served(evidence: Evidence, documented: bool) -> Reading:
    seen = _seen(evidence[0][1])
    return Reading("yes") if seen.get("outcome") == Outcome.OK else Reading(f"no: {_why_not(seen)}")


def read_peer(evidence: Evidence, documented: bool) -> Reading:
    seen = _seen(evidence[0][1])
    if "peer" in seen:
        return Reading(seen["peer"], code=True, behaviour="value")
    return Reading(f"no IPv4 client: {_why_not(seen)}")


def _conflict(seen: dict) -> str:
    if seen.get("outcome") == Outcome.OK:
        return "no conflict"
    if seen.get("errno") == "EADDRINUSE":
        return f"conflict at {'listen' if seen['outcome'] == Outcome.LISTEN_ERROR else 'bind'}"
    return _why_not(seen)


def read_conflict(evidence: Evidence, documented: bool) -> Reading:
    by_order = {cid.rsplit("order=", 1)[-1]: _conflict(_seen(cell)) for cid, cell in evidence}
    texts = set(by_order.values())
    if len(texts) == 1:
        text = texts.pop()
        return Reading(text, behaviour="coexist" if text == "no conflict" else None)
    return Reading("; ".join(f"{order}: {text}" for order, text in by_order.items()))


def read_listener(evidence: Evidence, documented: bool) -> Reading:
    seen = _seen(evidence[0][1])
    if seen.get("listeners"):
        return Reading("; ".join(seen["listeners"]), code=True, behaviour="value")
    if documented:
        return Reading(NOT_DOCUMENTED, behaviour="unknown")
    return Reading("not listed", behaviour="value") if seen.get("outcome") == Outcome.OK \
        else read_server(evidence, documented)


def _server(seen: dict) -> str:
    if seen.get("outcome") == Outcome.START_ERROR:
        return "does not start"
    if seen.get("outcome") != Outcome.OK:
        return f"not listening ({seen.get('outcome')})"
    served = served_clients(seen)
    clients = seen.get("clients", {})
    if {"ipv4", "ipv6"} <= served:
        return "IPv4 + IPv6"
    if "ipv4" in served:
        return f"IPv4 only (IPv6: {clients.get('ipv6', '?').removeprefix('error:')})"
    if "ipv6" in served:
        return f"IPv6 only (IPv4 {clients.get('ipv4', '?').removeprefix('error:')})"
    return "serves no client"


def read_server(evidence: Evidence, documented: bool) -> Reading:
    return Reading(" / ".join(dict.fromkeys(_server(_seen(cell)) for _, cell in evidence)))


READERS: dict[str, Callable[[Evidence, bool], Reading]] = {
    "value": read_value, "served": read_served, "peer": read_peer, "conflict": read_conflict,
    "listener": read_listener, "server": read_server,
}




def worst_verdict(evidence: Evidence) -> dict:
    """The cell whose badge an answer carries: the least conforming of its evidence."""
    rank = {verdict: i for i, verdict in enumerate(VERDICT_ORDER)}
    return max((cell for _, cell in evidence), key=lambda cell: rank.get(cell["verdict"], -1))


def answer(question: dict, rows: list[dict], column: dict) -> dict:
    """One cell of the grid: text (code or prose), behaviour, badge, evidence ids.
    ``rows``: the rows the question names (matching_rows)."""
    evidence = belief_cells(rows, column)
    documented = column["kind"] != "observed"
    base = {"evidence": [cid for cid, _ in evidence], "documented": documented, "low": False, "known": []}
    if not evidence:
        text = NOT_DOCUMENTED if documented else "not measured"
        return dict(base, text=text, code=False, behaviour="unknown", glyph="", badge="not documented"
                    if documented else "not measured")
    ran = [(cid, cell) for cid, cell in evidence if cell["verdict"] not in NOT_RUN]
    if not ran:
        seen = content(evidence[0][1]) or {}
        why = seen.get("errno") or evidence[0][1].get("reason") or evidence[0][1]["verdict"]
        return dict(base, text=f"cannot run: {why}", code=False, behaviour="not-run",
                    glyph=GLYPHS[evidence[0][1]["verdict"]], badge=str(evidence[0][1]["verdict"]))
    reading = READERS[question["read"]](ran, documented)
    glyph, label = badge(worst_verdict(ran)) if reading.text != NOT_DOCUMENTED else ("", "not documented")
    behaviours = list(dict.fromkeys(behaviour(content(cell)) for _, cell in ran))
    return dict(base, text=reading.text, code=reading.code,
                behaviour=reading.behaviour or (behaviours[0] if len(behaviours) == 1 else "partly"),
                glyph=glyph, badge=label, low=reading.text != NOT_DOCUMENTED and any(is_low(column_os(column), cell.get("expected")) for _, cell in ran),
                known=[cell["known"] for _, cell in ran if cell.get("known")])


def compare_with_default(grid: list[dict], matrix: dict) -> dict[str, dict]:
    """Per column: how its answers differ from its platform's default column."""
    defaults = cols.default_columns(matrix["columns"])
    out = {}
    for column in matrix["columns"]:
        key = column["key"]
        base = defaults.get(key)
        if column["kind"] != "observed":
            out[key] = {"text": "–", "differs": []}
        elif base is None:
            out[key] = {"text": "no default run of this platform", "differs": []}
        elif base == key:
            out[key] = {"text": "the reference", "differs": []}
        else:
            differs = [row["question"]["short"] for row in grid
                       if row["answers"][key]["text"] != row["answers"][base]["text"]]
            out[key] = {"text": _listed(differs, len(grid)), "differs": differs}
    return out


def _listed(differs: list[str], total: int, shown: int = 3) -> str:
    if not differs:
        return "same answers"
    more = f" and {len(differs) - shown} more" if len(differs) > shown else ""
    return f"{len(differs)} of {total} differ: " + ", ".join(differs[:shown]) + more


def answers(matrix: dict) -> dict:
    """The grid: a row per question, an answer per column, and the per-column change
    against the platform's default column."""
    grid = []
    for question in load_questions():
        rows = matching_rows(question["cells"], matrix)
        grid.append({"question": question, "answers": {c["key"]: answer(question, rows, c) for c in matrix["columns"]}})
    return {"rows": grid, "changes": compare_with_default(grid, matrix)}

