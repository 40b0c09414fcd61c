"""Merge run records into the behaviour matrix: rows are cells by semantic id, columns
are runs (OS, release, Python, variant) plus platforms that are documented but not
observed yet. The matrix is data (schema dualstack-conformance/matrix/1); the report
renders it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from matrix import record
from matrix.display import GLYPHS, show

MATRIX_SCHEMA = "dualstack-conformance/matrix/1"


# Fields that tell two runs apart when OS, release, Python and variant agree: macOS on
# arm64 and on x86_64 share a Darwin release, two Ubuntu images can share an Azure kernel.
TIEBREAKERS = ("machine", "distribution")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in text)


def column_key(platform: dict) -> str:
    """<os>-<release>-py<major.minor>-<variant>[-<runtime>]: a run's column, and its record's file name."""
    python = ".".join(platform["python"].split(".")[:2])
    runtime = (platform.get("runtime") or {}).get("name", "host")
    suffix = "" if runtime == "host" else f"-{runtime}"
    return f"{platform['os']}-{_slug(platform['release'])}-py{python}-{platform['variant']}{suffix}"


def image(platform: dict) -> str:
    """The runner image a run ran on, as a name that survives the image's updates: GitHub's
    ImageOS (ubuntu24, macos15, win22), else the distribution (a rehearsal, a VM, a container)."""
    return str(platform.get("ci", {}).get("ImageOS") or platform.get("distribution") or "unknown")


def stable_key(platform: dict) -> str:
    """A column as the weekly diff follows it from run to run: OS, runner image, machine,
    Python major.minor, variant, Python implementation and the runtime's name (host,
    gvisor, uml). The kernel (Darwin, Windows) release and build, and a runtime's version,
    are left out: an image update changes them and must show as a change of cells, not as
    every cell gone and every cell new."""
    python = ".".join(platform["python"].split(".")[:2])
    runtime = (platform.get("runtime") or {}).get("name", "host")
    parts = [platform["os"], image(platform), platform.get("machine", ""), f"py{python}", platform["variant"],
             platform.get("implementation", ""), *([runtime] if runtime != "host" else [])]
    return "/".join(_slug(str(part)) for part in parts)


def column_keys(platforms: list[dict]) -> list[str]:
    """One key per run: its column_key, followed by the tiebreakers in which the runs
    sharing that key differ."""
    base = [column_key(p) for p in platforms]
    groups: dict[str, list[dict]] = {}
    for platform, key in zip(platforms, base, strict=True):
        groups.setdefault(key, []).append(platform)
    differing = {key: [f for f in TIEBREAKERS if len({str(p.get(f)) for p in group}) > 1]
                 for key, group in groups.items()}
    return ["-".join([key, *(_slug(str(platform.get(f))) for f in differing[key])])
            for platform, key in zip(platforms, base, strict=True)]


def load_runs(paths: list[Path]) -> list[tuple[Path, dict]]:
    """Read and validate every record; refuse two records for one column."""
    runs = [(path, record.load(path)) for path in paths]
    seen: dict[str, Path] = {}
    for (path, _), key in zip(runs, column_keys([data["platform"] for _, data in runs]), strict=True):
        if key in seen:
            raise record.RecordError(f"{path}: claims the same platform and variant ({key}) as {seen[key]}")
        seen[key] = path
    return runs


def _cell(result: dict) -> dict:
    return {
        "value": show(result["observed"]),
        "verdict": result["verdict"],
        "glyph": GLYPHS[result["verdict"]],
        "observed": result["observed"],
        "expected": result.get("expected"),
        "differences": result.get("differences", []),
        "reason": result.get("reason"),
        **({"known": result["known"]} if "known" in result else {}),  # a runtime's explained deviation
    }


def _documented_cell(expected: dict) -> dict:
    return {"value": show(expected), "verdict": "documented", "glyph": GLYPHS["documented"],
            "expected": expected}


def merge(runs: list[tuple[Path, dict]], documented: dict[str, dict] | None = None) -> dict:
    """``documented`` maps a platform name to {"name": ..., "cells": {id: expected}} for
    platforms with expectations and no run: shown apart, never as measured."""
    documented = documented or {}
    columns: list[dict] = []
    rows: dict[str, dict] = {}
    keyed = zip(column_keys([data["platform"] for _, data in runs]), runs, strict=True)
    for key, (path, data) in sorted(keyed, key=lambda pair: pair[0]):
        columns.append({"key": key, "kind": "observed", "platform": data["platform"], "facts": data["facts"],
                        "run": data["run"], "variants": data.get("variants", []), "file": path.name})
        for result in data["results"]:
            row = rows.setdefault(result["id"], {"id": result["id"], "family": result["family"],
                                                 "params": result["params"], "test_id": result.get("test_id"),
                                                 "reproducer": result.get("reproducer", ""), "cells": {}})
            row["cells"][key] = _cell(result)
    observed_keys = [c["key"] for c in columns]
    for name, spec in sorted(documented.items()):
        key = f"documented-{name}"
        columns.append({"key": key, "kind": "documented", "os": name, "name": spec["name"]})
        for cell_id, expected in spec["cells"].items():
            if cell_id in rows:
                rows[cell_id]["cells"][key] = _documented_cell(expected)
    for row in rows.values():
        classes: dict[str, list[str]] = {}
        for key in observed_keys:
            if key in row["cells"]:
                classes.setdefault(row["cells"][key]["value"], []).append(key)
        row["classes"] = [{"value": v, "columns": cols} for v, cols in classes.items()]
        ran = {row["cells"][k]["value"] for k in observed_keys
               if k in row["cells"] and row["cells"][k]["verdict"] not in ("unsupported", "skipped")}
        row["differs"] = len(ran) > 1  # a cell that could not run somewhere is no disagreement
        row["deviates"] = any(c["verdict"] in ("deviates", "error") for c in row["cells"].values())
    summary: dict[str, dict[str, int]] = {key: {} for key in observed_keys}
    for row in rows.values():
        for key in observed_keys:
            if key in row["cells"]:
                verdict = row["cells"][key]["verdict"]
                summary[key][verdict] = summary[key].get(verdict, 0) + 1
    return {
        "schema": MATRIX_SCHEMA,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "columns": columns,
        "rows": [rows[k] for k in sorted(rows)],
        "summary": summary,
    }
