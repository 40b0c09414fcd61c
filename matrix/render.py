"""Render the matrix: Markdown (GitHub, job summaries), a self-contained HTML page, and
an SVG picture for the README. Everything from the matrix data; nothing fetched."""

from __future__ import annotations

import json
from importlib import resources

import jinja2

from matrix.beliefs import check_beliefs, recipes
from matrix.display import GLYPHS

FAMILY_ORDER = ["connect", "options", "coexist", "names", "subjects"]
VERDICT_ORDER = ["conforms", "informational", "unsupported", "skipped", "deviates", "error"]
COLOURS = {"conforms": "#1a7f37", "deviates": "#cf222e", "informational": "#0969da", "unsupported": "#8c959f",
           "skipped": "#bf8700", "error": "#8250df", "documented": "#ffffff"}


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell: no markup, no pipes, no newlines."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "<>*`[]":
        out = out.replace(ch, f"&#{ord(ch)};")
    return out


def column_title(column: dict) -> str:
    if column["kind"] == "documented":
        return f"{column['name']} (documented, not observed)"
    p = column["platform"]
    return f"{p['os']} {p['release']} py{'.'.join(p['python'].split('.')[:2])} {p['variant']}"


def context(matrix: dict) -> dict:
    observed = [c for c in matrix["columns"] if c["kind"] == "observed"]
    documented = [c for c in matrix["columns"] if c["kind"] == "documented"]
    return {"matrix": matrix, "observed": observed, "documented": documented, "beliefs": check_beliefs(matrix),
            "recipes": recipes(matrix), "glyphs": GLYPHS, "title": column_title}


def markdown(matrix: dict) -> str:
    ctx = context(matrix)
    observed, documented = ctx["observed"], ctx["documented"]
    out = ["# Dual-stack socket behaviour report", "",
           f"Generated {matrix['generated']} from {len(observed)} observed run(s). "
           f"Glyphs: {' '.join(f'{g} {v}' for v, g in GLYPHS.items())}.", "",
           "## Observed platforms", "",
           "| column | OS | release | runtime | Python | variant | default v6only tcp/udp | ::1 | mapped | knobs |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for c in observed:
        p, f = c["platform"], c["facts"]
        knobs = ", ".join(f"{k}={v}" for k, v in f["knobs"].items())
        dv = f["default_v6only"]
        out.append(f"| {_md(c['key'])} | {_md(p.get('distribution') or p['os'])} | {_md(p['release'])} | "
                   f"{_md(runtime_label(p))} | {_md(p['python'])} | {_md(p['variant'])} | {dv['tcp']}/{dv['udp']} | "
                   f"{'yes' if f['has_ipv6'] else 'no'} | {'yes' if f['has_mapped'] else 'no'} | {_md(knobs)} |")
    if documented:
        out += ["", "## Documented, not observed", "",
                "These platforms have expectations but no run yet: their values below are what their "
                "documentation says, never a measurement (◇).", ""]
        out += [f"- {_md(c['name'])} (`{_md(c['key'])}`)" for c in documented]
    out += ["", "## Summary", "", "| column | " + " | ".join(FAMILY_ORDER) + " |",
            "|---|" + "---|" * len(FAMILY_ORDER)]
    for c in observed:
        cells = []
        for family in FAMILY_ORDER:
            counts: dict[str, int] = {}
            for row in matrix["rows"]:
                if row["family"] == family and c["key"] in row["cells"]:
                    v = row["cells"][c["key"]]["verdict"]
                    counts[v] = counts.get(v, 0) + 1
            cells.append(" ".join(f"{GLYPHS[v]} {counts[v]}" for v in VERDICT_ORDER if counts.get(v)) or "–")
        out.append(f"| {_md(c['key'])} | " + " | ".join(cells) + " |")
    out += ["", "## Beliefs checked", ""]
    for belief in ctx["beliefs"]:
        out.append(f"### {_md(belief['claim'])}")
        out += ["", _md(belief["detail"]), ""]
        if not belief["verdicts"]:
            out += ["No column has data for it yet.", ""]
            continue
        for v in belief["verdicts"]:
            mark = "✓ holds" if v["verdict"] == "holds" else "✗ fails"
            where = " (documented)" if v["kind"] == "documented" else ""
            line = f"- {_md(v['column'])}{where}: **{mark}** ({len(v['cells'])} cell(s))"
            if v["against"]:
                line += ": " + "; ".join(f"`{_md(a['id'])}` → {_md(a['value'])}" for a in v["against"][:4])
                if len(v["against"]) > 4:
                    line += f"; and {len(v['against']) - 4} more"
            out.append(line)
        out.append("")
    out += ["## Portable recipes", "",
            "Server set-ups from the catalogue that serve both an IPv4 and an IPv6 client, judged on every "
            "observed column (derived from the data, not written by hand).", "",
            "| set-up | proto | bind | v6only | reuse | works on | fails on |", "|---|---|---|---|---|---|---|"]
    for r in ctx["recipes"]:
        works = "all observed" if r["everywhere"] else ", ".join(_md(w) for w in r["works"])
        fails = "; ".join(f"{_md(f['column'])} ({_md(f['value'])})" for f in r["fails"]) or "–"
        out.append(f"| {r['kind']} | {r['proto']} | {_md(r['bind'])} | {_md(r['v6only'])} | {_md(r['reuse'])} | "
                   f"{works} | {fails} |")
    differing = [row for row in matrix["rows"] if row["differs"]]
    out += ["", f"## Where platforms differ ({len(differing)} cells)", ""]
    for row in differing:
        groups = "; ".join(f"{_md(c['value'])}: {', '.join(_md(k) for k in c['columns'])}" for c in row["classes"])
        out.append(f"- `{_md(row['id'])}`: {groups}")
    deviating = [(row, key) for row in matrix["rows"] for key, cell in row["cells"].items()
                 if cell["verdict"] in ("deviates", "error")]
    out += ["", f"## Deviations ({len(deviating)})", ""]
    for row, key in deviating:
        cell = row["cells"][key]
        diffs = "; ".join(f"{_md(d['field'])}: expected {_md(d['expected'])}, observed {_md(d['observed'])}"
                          for d in cell.get("differences", []))
        known = f" (known: {_md(cell['known']['cause'])})" if "known" in cell else ""
        out.append(f"- `{_md(row['id'])}` on {_md(key)}: {diffs or _md(cell.get('reason') or '')}{known}")
    out += known_deviations(matrix)
    out += family_table(matrix, "subjects", "Servers: what real servers bind",
                        "Each server started as its users start it, probed from an IPv4, an IPv4-mapped and an "
                        "IPv6 client; in brackets what the platform's listing tool shows (`ss -tlne` on Linux: "
                        "`*:P v6only:0` is one dual-stack socket).")
    out += family_table(matrix, "connect", "The connect family", "")
    return "\n".join(out) + "\n"


def runtime_label(platform: dict) -> str:
    """"host", or the runtime's name and its kernel release or, without one, its
    version ("uml 6.1.176", "gvisor 0.0~20221219.0")."""
    runtime = platform.get("runtime") or {"name": "host"}
    return " ".join(str(v) for v in (runtime["name"], runtime.get("release") or runtime.get("version")) if v)


def known_deviations(matrix: dict) -> list[str]:
    """Per column, each cause of a runtime's known deviations: how many cells, why, and
    the runtime's own source that says so."""
    causes: dict[tuple[str, str], dict] = {}
    for row in matrix["rows"]:
        for key, cell in row["cells"].items():
            if "known" in cell:
                causes.setdefault((key, cell["known"]["cause"]), {**cell["known"], "cells": 0})["cells"] += 1
    if not causes:
        return []
    out = ["", "## Known deviations: where a runtime differs from the platform it promises, and why", ""]
    for (key, cause), known in sorted(causes.items()):
        out.append(f"- {_md(key)}, {_md(cause)} ({known['cells']} cells): {_md(known['reason'])} "
                   f"Source: {known['source']}")
    return out


# GitHub Actions refuses a job summary over 1 MiB per step; stay under it with room to spare.
STEP_SUMMARY_LIMIT = 1_000_000


def step_summary(report: str, limit: int = STEP_SUMMARY_LIMIT) -> str:
    """The Markdown report for a CI job summary: whole "## " sections while they fit in
    ``limit`` bytes, then a line naming what was left out (the report itself has it all)."""
    head, *sections = report.split("\n## ")
    sections = ["## " + section for section in sections]
    kept, size = [head], len(head.encode())
    for i, section in enumerate(sections):
        size += len(section.encode()) + 1
        if size > limit - 400:  # room for the closing line
            titles = ", ".join(s.splitlines()[0][3:] for s in sections[i:])
            return "\n".join(kept) + f"\n\n*Left out to fit a job summary (see behavior-report.md): {_md(titles)}.*\n"
        kept.append(section)
    return report


def family_table(matrix: dict, family: str, title: str, intro: str) -> list[str]:
    rows = [row for row in matrix["rows"] if row["family"] == family]
    if not rows:
        return []
    out = ["", f"## {title}", "", *([intro, ""] if intro else []),
           "| cell | " + " | ".join(_md(c["key"]) for c in matrix["columns"]) + " |",
           "|---|" + "---|" * len(matrix["columns"])]
    for row in rows:
        cells = [f"{row['cells'][c['key']]['glyph']} {_md(row['cells'][c['key']]['value'])}"
                 if c["key"] in row["cells"] else "" for c in matrix["columns"]]
        flag = " ≠" if row["differs"] else ""
        out.append(f"| `{_md(row['id'])}`{flag} | " + " | ".join(cells) + " |")
    return out


def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("matrix") / "templates"))
    return jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)


def page_data(matrix: dict) -> dict:
    """What the page's script needs to open a cell. A cell's details repeat across
    columns (one OS under four Pythons, a variant that changes nothing for that cell),
    so each distinct cell is stored once and rows point at it by index."""
    pool: dict[str, int] = {}
    rows = []
    for row in matrix["rows"]:
        cells = {}
        for key, cell in row["cells"].items():
            details = json.dumps({k: v for k, v in cell.items() if k != "value"}, sort_keys=True, ensure_ascii=False)
            cells[key] = pool.setdefault(details, len(pool))
        rows.append({"id": row["id"], "family": row["family"], "test_id": row.get("test_id"),
                     "reproducer": row.get("reproducer"), "cells": cells})
    return {"cells": [json.loads(details) for details in pool], "rows": rows}


def html(matrix: dict) -> str:
    ctx = context(matrix)
    # data for the page's script: "<" escaped so no value can close the script element
    ctx["data"] = json.dumps(page_data(matrix), ensure_ascii=False) \
        .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    ctx["colours"] = COLOURS
    ctx["families"] = [f for f in FAMILY_ORDER if any(r["family"] == f for r in matrix["rows"])]
    return _environment().get_template("report.html").render(**ctx)


def svg(matrix: dict) -> str:
    """One stripe per column and family: a square per cell, coloured by verdict."""
    columns = matrix["columns"]
    per_row, size, gap = 48, 5, 1
    label_w, family_w = 330, 60
    rows_by_family = {f: [r for r in matrix["rows"] if r["family"] == f] for f in FAMILY_ORDER}
    heights = {f: ((len(rs) + per_row - 1) // per_row) * (size + gap) for f, rs in rows_by_family.items() if rs}
    block_h = sum(heights.values()) + 6 * len(heights)
    width = label_w + family_w + per_row * (size + gap) + 10
    height = 30 + len(columns) * (block_h + 10)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11" role="img" aria-label="dualstack-conformance matrix">',
           f'<rect width="{width}" height="{height}" fill="#fff"/>',
           '<text x="4" y="16" font-size="13" font-weight="bold">dualstack-conformance: a square per cell, '
           'coloured by verdict</text>']
    y = 30
    for column in columns:
        title = jinja2.utils.markupsafe.escape(column_title(column))
        out.append(f'<text x="4" y="{y + 10}">{title}</text>')
        fy = y
        for family, rows in rows_by_family.items():
            if not rows:
                continue
            out.append(f'<text x="{label_w}" y="{fy + 7}" fill="#57606a">{family}</text>')
            for i, row in enumerate(rows):
                cell = row["cells"].get(column["key"])
                colour = COLOURS.get(cell["verdict"], "#eaeef2") if cell else "#eaeef2"
                verdict = cell["verdict"] if cell else None
                stroke = ' stroke="#8c959f" stroke-width="0.5"' if verdict == "documented" else ""
                x = label_w + family_w + (i % per_row) * (size + gap)
                cy = fy + (i // per_row) * (size + gap)
                out.append(f'<rect x="{x}" y="{cy}" width="{size}" height="{size}" fill="{colour}"{stroke}/>')
            fy += heights[family] + 6
        y += block_h + 10
    out.append("</svg>")
    return "\n".join(out) + "\n"
