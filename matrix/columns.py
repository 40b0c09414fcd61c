"""Columns as a reader sees them: a short label ("Linux 6.18 · bindv6only=1"), the
network stack when it is not the host's (gVisor, user-mode Linux), and the default
column of the same platform that a variant is compared with."""

from __future__ import annotations

import re

OS_NAMES = {"linux": "Linux", "darwin": "macOS", "windows": "Windows", "freebsd": "FreeBSD", "netbsd": "NetBSD",
            "openbsd": "OpenBSD"}
DEFAULT_VARIANT = "default"


def runtime(column: dict) -> str:
    """The network stack a run used when it is not the host kernel's, or "": its name, and
    its version where it has no kernel release of its own for the label to show
    ("gvisor 0.0~20221219.0"; user-mode Linux is "uml", its 6.1 release names it)."""
    found = (column.get("platform") or {}).get("runtime") or {}
    if not found or found.get("name", "host") == "host":
        return ""
    version = found.get("version") if found.get("release") is None else None
    return " ".join(str(part) for part in (found.get("name"), version) if part)


def _release(platform: dict) -> str:
    found = re.match(r"\d+(\.\d+)?", platform["release"])
    return found.group(0) if found else platform["release"][:12]


def _identity(column: dict) -> tuple:
    """What makes two observed columns the same platform, the variant aside."""
    p = column["platform"]
    return tuple(str(part) for part in (p["os"], p["release"], p["python"], p.get("machine"), p.get("distribution"),
                                        runtime(column)))


def labels(columns: list[dict]) -> dict[str, str]:
    """A short label per column key, as long as it needs to be to tell the columns apart."""
    observed = [c for c in columns if c["kind"] == "observed"]
    pythons = {".".join(c["platform"]["python"].split(".")[:2]) for c in observed}
    out = {}
    for c in columns:
        if c["kind"] != "observed":
            out[c["key"]] = f"{c['name']} (documented)"
            continue
        p = c["platform"]
        own_kernel = (p.get("runtime") or {}).get("release", "") is not None  # gVisor has none
        parts = [f"{OS_NAMES.get(p['os'], p['os'])} {_release(p)}" if own_kernel else OS_NAMES.get(p["os"], p["os"])]
        parts += [runtime(c)] if runtime(c) else []
        parts += [f"py{'.'.join(p['python'].split('.')[:2])}"] if len(pythons) > 1 else []
        parts.append(p["variant"])
        out[c["key"]] = " · ".join(parts)
    seen: dict[str, int] = {}
    for label in out.values():
        seen[label] = seen.get(label, 0) + 1
    return {key: label if seen[label] == 1 else f"{label} · {key}" for key, label in out.items()}


def title(column: dict) -> str:
    """The long description of a column (a tooltip, the platform list)."""
    if column["kind"] != "observed":
        return f"{column['name']}: documented, not observed"
    p = column["platform"]
    stack = f", network stack {runtime(column)}" if runtime(column) else ""
    return (f"{p.get('distribution') or OS_NAMES.get(p['os'], p['os'])}, {p['os']} {p['release']} "
            f"{p.get('machine') or ''}, Python {p['python']}{stack}, variant {p['variant']}")


def default_columns(columns: list[dict]) -> dict[str, str]:
    """Each observed column's key -> the key of the same platform's default column (a
    default column maps to itself); columns without one are left out."""
    defaults = {_identity(c): c["key"] for c in columns
                if c["kind"] == "observed" and c["platform"]["variant"] == DEFAULT_VARIANT}
    return {c["key"]: defaults[_identity(c)] for c in columns
            if c["kind"] == "observed" and _identity(c) in defaults}


def ordered(columns: list[dict]) -> list[dict]:
    """Observed columns, the host's before other network stacks', each platform's default
    first, then the documented ones."""
    observed = sorted((c for c in columns if c["kind"] == "observed"),
                      key=lambda c: (runtime(c) != "", _identity(c), c["platform"]["variant"] != DEFAULT_VARIANT,
                                     c["key"]))
    return observed + [c for c in columns if c["kind"] != "observed"]
