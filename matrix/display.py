"""How a cell reads: the observed (or expected) value in a few characters, the behaviour
it shows (what the colour says: served, refused, a conflict...) and a glyph per verdict
(whether it matches the documentation), so that the report never relies on colour alone."""

from __future__ import annotations

from conformance.vocabulary import Outcome, Verdict

# A cell of a documented column: what the platform documents, never a measurement.
DOCUMENTED = "documented"
GLYPHS = {
    Verdict.CONFORMS: "✓", Verdict.DEVIATES: "✗", Verdict.INFORMATIONAL: "ℹ", Verdict.UNSUPPORTED: "–",
    Verdict.SKIPPED: "⊘", Verdict.ERROR: "‼", DOCUMENTED: "◇",
}
KNOWN_GLYPH = "!"  # a deviation that is explained (the result's "known" reason)
SOCKET_SHORT = {"ipv4-socket": "v4", "ipv6-socket": "v6", "nobody": "none"}

# What a cell shows happened, in the order the legend lists them. The colour of a cell
# is its behaviour; whether that matches the documentation is the glyph badge.
BEHAVIOURS = {
    "served": "served",
    "partly": "partly served",
    "coexist": "both bind",
    "refused": "refused",
    "unreachable": "unreachable",
    "not-delivered": "not delivered",
    "bind-error": "error at bind or set-up",
    "conflict": "conflict",
    "value": "a value",
    "broken": "no answer",
    "not-run": "not run",
    "unknown": "not documented",
}
NOT_RUN = (Verdict.UNSUPPORTED, Verdict.SKIPPED)
# The behaviour of the outcomes that say it alone (ok, bind and listen errors need a closer look).
OUTCOME_BEHAVIOURS: dict[str, str] = {
    Outcome.REFUSED: "refused", Outcome.UNREACHABLE: "unreachable", Outcome.CONNECT_ERROR: "unreachable",
    Outcome.SEND_ERROR: "not-delivered", Outcome.NOT_DELIVERED: "not-delivered",
    Outcome.OPTION_ERROR: "bind-error", Outcome.UNSUPPORTED: "not-run", Outcome.RESOLVE_ERROR: "bind-error",
}


def _value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def show(cell: dict | None) -> str:
    """The short text of an observed or expected cell."""
    if not cell:
        return ""
    outcome = cell.get("outcome")
    if isinstance(outcome, list):
        return " or ".join(outcome)
    if outcome == Outcome.OK and "clients" in cell:
        clients = " · ".join(f"{name} {cell['clients'][name]}" for name in ("ipv4", "mapped", "ipv6")
                             if name in cell["clients"])
        return clients + (f" [{'; '.join(cell['listeners'])}]" if cell.get("listeners") else "")
    if outcome == Outcome.START_ERROR:
        return "does not start"
    if outcome == Outcome.OK:
        if "ipv4_to" in cell or "ipv6_to" in cell:
            ipv4, ipv6 = str(cell.get("ipv4_to", "?")), str(cell.get("ipv6_to", "?"))
            return f"both bound; IPv4→{SOCKET_SHORT.get(ipv4, ipv4)} IPv6→{SOCKET_SHORT.get(ipv6, ipv6)}"
        if "peer" in cell:
            return f"ok {cell['peer']}"
        if "value" in cell:
            value = cell["value"]
            return f"v6only={value}" if isinstance(value, int) and not isinstance(value, bool) else _value(value)
        return "ok"
    if outcome in (Outcome.BIND_ERROR, Outcome.LISTEN_ERROR):
        where = "bind" if outcome == Outcome.BIND_ERROR else "listen"
        return f"{cell.get('errno') or 'error'} at {where}"
    if outcome == Outcome.NOT_DELIVERED:
        return "not delivered"
    if outcome == Outcome.UNSUPPORTED:
        return f"unsupported ({cell['errno']})" if cell.get("errno") else "unsupported"
    return cell.get("errno") or outcome or "?"


def served_clients(content: dict) -> set[str]:
    """The clients ("ipv4", "ipv6", "mapped") a server set-up served, read from any cell
    that says: a subject's clients, or a two-socket set-up's ipv4_to/ipv6_to. A client
    that got an error is not served."""
    if content.get("outcome") != Outcome.OK:
        return set()
    if "clients" in content:
        return {name for name, seen in content["clients"].items() if seen == Outcome.OK}
    return {name for name in ("ipv4", "ipv6") if content.get(f"{name}_to") in ("ipv4-socket", "ipv6-socket")}


def behaviour(content: dict | None) -> str:
    """The behaviour class (a key of BEHAVIOURS) of an observation or an expectation."""
    if not content:
        return "unknown"
    outcome = content.get("outcome")
    if isinstance(outcome, list):
        return "value"
    if outcome == Outcome.OK:
        if "clients" in content or "ipv4_to" in content or "ipv6_to" in content:
            served = served_clients(content) - {"mapped"}
            wanted = {"ipv4", "ipv6"} & (set(content.get("clients", {})) or {"ipv4", "ipv6"})
            if "ipv4_to" in content and served == {"ipv4", "ipv6"}:
                return "coexist"
            if served >= wanted:
                return "served"
            if served:
                return "partly"
            clients = content.get("clients", {}).values()
            return "refused" if any(seen == Outcome.REFUSED for seen in clients) else "unreachable"
        return "value" if "value" in content else "served"
    if outcome in (Outcome.BIND_ERROR, Outcome.LISTEN_ERROR):
        return "conflict" if content.get("errno") == "EADDRINUSE" else "bind-error"
    return OUTCOME_BEHAVIOURS.get(str(outcome), "broken")


def content(cell: dict) -> dict | None:
    """What a cell shows: the observation, or for a documented column the expectation."""
    return cell.get("expected") if cell.get("verdict") == DOCUMENTED else cell.get("observed")


def cell_behaviour(cell: dict | None) -> str:
    if not cell:
        return "unknown"
    if cell.get("verdict") in NOT_RUN:
        return "not-run"
    return behaviour(content(cell))


def badge(cell: dict) -> tuple[str, str]:
    """(glyph, label) of a cell's conformance: a known deviation reads apart from an unexplained one."""
    verdict = cell.get("verdict", "")
    if verdict == Verdict.DEVIATES and cell.get("known"):
        return KNOWN_GLYPH, "deviates (known)"
    return GLYPHS.get(verdict, "?"), str(verdict)
