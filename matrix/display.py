"""How a cell reads: the observed (or expected) value in a few characters, and a glyph
per verdict so that the report does not rely on colour alone."""

from __future__ import annotations

GLYPHS = {
    "conforms": "✓", "deviates": "✗", "informational": "ℹ", "unsupported": "–",
    "skipped": "⊘", "error": "‼", "documented": "◇",
}
SOCKET_SHORT = {"ipv4-socket": "v4", "ipv6-socket": "v6", "nobody": "none"}


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
    if outcome == "ok" and "clients" in cell:
        clients = " · ".join(f"{name} {cell['clients'][name]}" for name in ("ipv4", "mapped", "ipv6")
                             if name in cell["clients"])
        return clients + (f" [{'; '.join(cell['listeners'])}]" if cell.get("listeners") else "")
    if outcome == "start-error":
        return "does not start"
    if outcome == "ok":
        if "ipv4_to" in cell or "ipv6_to" in cell:
            ipv4, ipv6 = str(cell.get("ipv4_to", "?")), str(cell.get("ipv6_to", "?"))
            return f"both bound; IPv4→{SOCKET_SHORT.get(ipv4, ipv4)} IPv6→{SOCKET_SHORT.get(ipv6, ipv6)}"
        if "peer" in cell:
            return f"ok {cell['peer']}"
        if "value" in cell:
            value = cell["value"]
            return f"v6only={value}" if isinstance(value, int) and not isinstance(value, bool) else _value(value)
        return "ok"
    if outcome in ("bind-error", "listen-error"):
        where = "bind" if outcome == "bind-error" else "listen"
        return f"{cell.get('errno') or 'error'} at {where}"
    if outcome == "not-delivered":
        return "not delivered"
    if outcome == "unsupported":
        return f"unsupported ({cell['errno']})" if cell.get("errno") else "unsupported"
    return cell.get("errno") or outcome or "?"
