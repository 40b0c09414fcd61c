"""Render the matrix: Markdown (GitHub, job summaries) and a self-contained HTML page
(the SVG picture for the README is matrix/picture.py). Everything from the matrix data;
nothing fetched.

Both documents open with the answers (matrix/answers.py) and the blog's claims
(matrix/claims.py); the Markdown then gives the summary and the platform list and links
to the HTML page for the cells, which holds the whole matrix as a collapsed hierarchy."""

from __future__ import annotations

import json
import re
from importlib import resources
from urllib.parse import quote

import jinja2

from conformance.vocabulary import VERDICT_ORDER, Verdict
from matrix import columns as cols
from matrix.answers import answers
from matrix.beliefs import check_beliefs, column_os, recipes
from matrix.claims import check_claims
from matrix.confidence import is_low
from matrix.display import BEHAVIOURS, DOCUMENTED, GLYPHS, KNOWN_GLYPH, NOT_RUN, badge, cell_behaviour

FAMILY_ORDER = ["connect", "options", "coexist", "names", "subjects", "model"]
HTML_NAME = "behavior-report.html"
# Behaviour tints (Okabe-Ito hues, light enough for dark text) and a strong edge colour;
# the text of a cell and its badge glyph say the same thing, so colour is never alone.
BEHAVIOUR_COLOURS = {
    "served": ("#cdeedd", "#009e73"), "partly": ("#fff1a8", "#b59b00"), "coexist": ("#d4e9f7", "#56b4e9"),
    "refused": ("#f9d3c0", "#d55e00"), "unreachable": ("#f3d3e6", "#cc79a7"), "not-delivered": ("#e9dcf5", "#8e63b5"),
    "bind-error": ("#fde2b8", "#e69f00"), "conflict": ("#c8d6f0", "#0072b2"), "value": ("#f6f8fa", "#8c959f"),
    "broken": ("#e1e4e8", "#24292f"), "not-run": ("#ffffff", "#d0d7de"), "unknown": ("#ffffff", "#8c959f"),
}
# Badge colours: white glyph on a colour dark enough for WCAG AA (documented: outlined).
BADGE_COLOURS = {Verdict.CONFORMS: "#1a7f37", Verdict.DEVIATES: "#cf222e", "known": "#9a6700",
                 Verdict.INFORMATIONAL: "#0969da", Verdict.UNSUPPORTED: "#57606a", Verdict.SKIPPED: "#7d4e00",
                 Verdict.ERROR: "#8250df"}
VERDICT_WORDS = {Verdict.CONFORMS: "conform", Verdict.INFORMATIONAL: "informational",
                 Verdict.UNSUPPORTED: "cannot run", Verdict.SKIPPED: "skipped", Verdict.DEVIATES: "deviate",
                 Verdict.ERROR: "harness error"}
# A group of the hierarchy larger than this is split by one more parameter.
GROUP_LIMIT = 40


# --- Markdown ------------------------------------------------------------------------

def _md(text) -> str:
    """Prose safe inside a Markdown table cell: no markup, no pipes, no newlines."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "*[]<>`":
        out = out.replace(ch, "\\" + ch)
    return out


def _code(text) -> str:
    """A code span safe in a table cell: GitHub shows its content literally (no entities);
    a pipe is escaped, and the fence is longer than any run of backticks inside."""
    text = str(text).replace("|", "\\|").replace("\n", " ")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _answer_text_md(a: dict) -> str:
    text = _code(a["text"]) if a["code"] else _md(a["text"])
    marks = (" ◇" if a["documented"] and a["glyph"] else "") + (" (low confidence)" if a["low"] else "")
    return (f"{a['glyph']} {text}" if a["glyph"] and not a["documented"] else text) + marks


def column_counts(matrix: dict, key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in matrix["rows"]:
        if key in row["cells"]:
            verdict = row["cells"][key]["verdict"]
            counts[verdict] = counts.get(verdict, 0) + 1
    return counts


def _counts_words(counts: dict[str, int]) -> str:
    return " · ".join(f"{counts[v]} {VERDICT_WORDS[v]}" for v in VERDICT_ORDER if counts.get(v)) or "no cells"


def markdown(matrix: dict) -> str:
    ctx = context(matrix)
    observed, documented, labels = ctx["observed"], ctx["documented"], ctx["labels"]
    shown = observed + documented
    out = ["# Dual-stack socket behaviour report", "",
           f"Generated {matrix['generated']} from {len(observed)} observed run(s)"
           + (f" and {len(documented)} documented, not observed, platform(s) (◇: what the documentation says, "
              "never a measurement)" if documented else "")
           + f". Every cell, with expected and observed values, sources and a reproducer: [{HTML_NAME}]({HTML_NAME}).",
           "", "## Answers", "",
           "Read from the matrix cells; each answer links to its evidence in the HTML report. "
           "✓ matches the documentation, ✗ deviates, ! deviates for a known, explained reason, ℹ nothing "
           "documented decides it, – cannot run there; ◇ what the documentation says; ? it says nothing.", "",
           "| question | " + " | ".join(_md(labels[c["key"]]) for c in shown) + " |",
           "|---|" + "---|" * len(shown)]
    for row in ctx["answers"]["rows"]:
        q = row["question"]
        cells = []
        for i, c in enumerate(shown):
            a = row["answers"][c["key"]]
            text = _answer_text_md(a)
            cells.append(f"[{text}]({HTML_NAME}#{answer_anchor(q['id'], i)})" if a["evidence"] else text)
        out.append(f"| {_md(q['ask'])} | " + " | ".join(cells) + " |")
    changes = ctx["answers"]["changes"]
    out.append("| *What changes against this platform's default column* | "
               + " | ".join(_md(changes[c["key"]]["text"]) for c in shown) + " |")
    notes = [q for q in (r["question"] for r in ctx["answers"]["rows"]) if q.get("note")]
    for q in notes:
        out += ["", f"*{_md(q['short'])}*: {_md(q['note'])} ({q['source']})"]
    out += ["", "## The blog's claims, checked", "",
            "The claims of the post this project started from (`../shared/seed`), judged on every platform "
            "they speak about.", ""]
    for claim in ctx["claims"]:
        out += [f"### {_md(claim['says'])}", "", f"> {_md(claim['blog'])}", "",
                f"**{claim['status'].capitalize()}**: {_md(claim['summary'].rstrip('.'))}.", ""]
        judged = [v for v in claim["verdicts"] if v["verdict"] != "not judged"]
        if judged:
            out += ["| platform | verdict | why | evidence |", "|---|---|---|---|"]
            for v in judged:
                ids = v["against"] and [a["id"] for a in v["against"]] or v["cells"]
                evidence = ", ".join(_code(i) for i in ids[:2]) + (f" and {len(ids) - 2} more" if len(ids) > 2 else "")
                out.append(f"| {_md(labels[v['column']])} | {CLAIM_MARKS[v['verdict']]} {v['verdict']} | "
                           f"{_md(v['why'])} | {evidence} |")
            out.append("")
        skipped = [v for v in claim["verdicts"] if v["verdict"] == "not judged"]
        if skipped and judged:
            out += [f"Not judged on {', '.join(_md(labels[v['column']]) for v in skipped)}: "
                    f"{_md(claim['not_judged'])}", ""]
    out += ["## Summary", "", "| platform | cells | verdicts | differ from the default column |", "|---|---|---|---|"]
    for c in observed:
        counts = column_counts(matrix, c["key"])
        out.append(f"| {_md(labels[c['key']])} | {sum(counts.values())} | {_counts_words(counts)} | "
                   f"{_md(ctx['differs_count'].get(c['key'], '–'))} |")
    deviating = [(row, key, cell) for row in matrix["rows"] for key, cell in row["cells"].items()
                 if cell["verdict"] in (Verdict.DEVIATES, Verdict.ERROR) and not cell.get("known")]
    if deviating:
        out += ["", f"## Deviations ({len(deviating)})", ""]
        for row, key, cell in deviating:
            diffs = "; ".join(f"{d['field']}: expected {d['expected']}, observed {d['observed']}"
                              for d in cell.get("differences", []))
            out.append(f"- {_code(row['id'])} on {_md(labels[key])}: {_md(diffs or cell.get('reason') or '')}")
    out += ["", "## Platforms", "",
            "| platform | OS | release | Python | variant | default v6only TCP/UDP | ::1 | IPv4-mapped | knobs |",
            "|---|---|---|---|---|---|---|---|---|"]
    for c in observed:
        p, f = c["platform"], c["facts"]
        dv = f["default_v6only"]
        knobs = ", ".join(f"{k}={v}" for k, v in f["knobs"].items())
        out.append(f"| {_md(labels[c['key']])} | {_md(p.get('distribution') or p['os'])} | {_md(p['release'])} | "
                   f"{_md(p['python'])} | {_md(p['variant'])} | {_v6only(dv['tcp'])}/{_v6only(dv['udp'])} | "
                   f"{'yes' if f['has_ipv6'] else 'no'} | {'yes' if f['has_mapped'] else 'no'} | {_md(knobs)} |")
    out += known_deviations(matrix, labels)
    if documented:
        out += ["", "Documented, not observed (◇): " + ", ".join(_md(c["name"]) for c in documented)
                + ". Their answers are what the documentation says; a blank in their columns means it says nothing."]
    working = [r for r in ctx["recipes"] if r["everywhere"]]
    if working:
        out += ["", "## Portable recipes", "",
                "Server set-ups that served both an IPv4 and an IPv6 client on every observed platform (a client "
                "that got an error is not served). All set-ups, with where they fail: the HTML report.", "",
                "| set-up | proto | bind | v6only | reuse |", "|---|---|---|---|---|"]
        out += [f"| {r['kind']} | {r['proto']} | {_code(r['bind'])} | {_md(r['v6only'])} | {_md(r['reuse'])} |"
                for r in working]
    out += ["", "## The cells", "",
            f"Every cell of the matrix ({len(matrix['rows'])} rows by {len(matrix['columns'])} columns), grouped by "
            f"family, with expected vs observed, the rule, its sources and a reproducer: [{HTML_NAME}]({HTML_NAME}). "
            "The data: `matrix.json`."]
    return "\n".join(out) + "\n"


def _v6only(value: int | None) -> str:
    return "–" if value is None else str(value)  # no AF_INET6 socket to ask


def known_causes(matrix: dict) -> list[dict]:
    """Where and why a runtime differs from what Linux documents: one entry per column
    and cause that the runtime's own source explains (conformance/data/known/)."""
    causes: dict[tuple[str, str], dict] = {}
    for row in matrix["rows"]:
        for key, cell in row["cells"].items():
            known = cell.get("known")
            if known:
                entry = causes.setdefault((key, known["cause"]), {"column": key, **known, "cells": []})
                entry["cells"].append(row["id"])
    return list(causes.values())


def known_deviations(matrix: dict, labels: dict) -> list[str]:
    causes = known_causes(matrix)
    if not causes:
        return []
    out = ["", "## Known deviations", "", KNOWN_INTRO, "", "| platform | cause | cells | why | source |",
           "|---|---|---|---|---|"]
    out += [f"| {_md(labels[c['column']])} | {_md(c['cause'])} | {len(c['cells'])} | {_md(c['reason'])} | "
            f"[source]({c['source']}) |" for c in causes]
    return out


KNOWN_INTRO = ("Differences from what Linux documents that the runtime's own source explains: recorded as "
               "deviations, they do not fail the run.")


CLAIM_MARKS = {"holds": "✓", "fails": "✗", "not measured": "?", "not judged": "–"}


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


# --- shared context ------------------------------------------------------------------

def answer_anchor(question_id: str, column_index: int) -> str:
    return f"a-{question_id}-{column_index}"


def differing_cells(matrix: dict) -> dict[str, dict[str, str]]:
    """{row id: {column key: the default column's value}} for each cell whose value is not
    its platform's default column's (both ran): what a variant changes, cell by cell."""
    defaults = cols.default_columns(matrix["columns"])
    out: dict[str, dict[str, str]] = {}
    for row in matrix["rows"]:
        for key, base in defaults.items():
            cell, ref = row["cells"].get(key), row["cells"].get(base)
            if key == base or not cell or not ref or cell["verdict"] in NOT_RUN or ref["verdict"] in NOT_RUN:
                continue
            if cell["value"] != ref["value"]:
                out.setdefault(row["id"], {})[key] = ref["value"]
    return out


def context(matrix: dict) -> dict:
    ordered = cols.ordered(matrix["columns"])
    observed = [c for c in ordered if c["kind"] == "observed"]
    documented = [c for c in ordered if c["kind"] != "observed"]
    differs = differing_cells(matrix)
    differs_count: dict[str, int] = {}
    for changed in differs.values():
        for key in changed:
            differs_count[key] = differs_count.get(key, 0) + 1
    defaults = cols.default_columns(matrix["columns"])
    return {"matrix": matrix, "observed": observed, "documented": documented, "labels": cols.labels(matrix["columns"]),
            "answers": answers(matrix), "claims": check_claims(matrix), "beliefs": check_beliefs(matrix),
            "recipes": recipes(matrix), "glyphs": GLYPHS, "differs": differs,
            "differs_count": {c["key"]: (differs_count.get(c["key"], 0) if defaults.get(c["key"]) != c["key"]
                                         else "the reference") for c in observed if c["key"] in defaults}}


# --- HTML ----------------------------------------------------------------------------

def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("matrix") / "templates"))
    env = jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["urlquote"] = lambda text: quote(str(text), safe="")
    return env


def hierarchy(matrix: dict) -> list[dict]:
    """Families, each with groups of rows: a group is the protocol and the family's first
    parameter (split by the next one when it would hold more than GROUP_LIMIT rows)."""
    families: dict[str, list[dict]] = {}
    for row in matrix["rows"]:
        families.setdefault(row["family"], []).append(row)
    order = [f for f in FAMILY_ORDER if f in families] + sorted(set(families) - set(FAMILY_ORDER))
    out = []
    for family in order:
        groups: dict[str, list[dict]] = {}
        for row in families[family]:
            groups.setdefault(_group_key(row, 1), []).append(row)
        split: dict[str, list[dict]] = {}
        for key, rows in groups.items():
            if len(rows) > GROUP_LIMIT:
                for row in rows:
                    split.setdefault(_group_key(row, 2), []).append(row)
            else:
                split[key] = rows
        out.append({"family": family, "rows": families[family],
                    "groups": [{"key": key, "rows": rows} for key, rows in split.items()]})
    return out


def _group_key(row: dict, depth: int) -> str:
    parts = row["id"].split("/")[1:]
    return " / ".join(parts[:1 + depth]) if len(parts) > 1 + depth else " / ".join(parts[:1])


def row_label(row: dict, group: str) -> str:
    """The row's id without its family and group: the group header already says them."""
    rest = row["id"].split("/", 1)[1] if "/" in row["id"] else row["id"]
    prefix = group.replace(" / ", "/")
    return rest[len(prefix) + 1:] if rest.startswith(prefix + "/") else rest


def page_data(matrix: dict) -> dict:
    """What the page's script needs to draw a group's rows when it is opened and to open
    a cell. A cell's details repeat across columns (one OS under four Pythons, a variant
    that changes nothing for that cell), so each distinct cell is stored once and rows
    point at it by index. The rows of the page are built only when their group opens,
    which keeps a page of many records quick to load."""
    os_of = {c["key"]: column_os(c) for c in matrix["columns"]}
    groups = {row["id"]: (family["family"], group) for family in hierarchy(matrix)
              for group in family["groups"] for row in group["rows"]}
    pool: dict[str, int] = {}
    rows = []
    for row in matrix["rows"]:
        cells = {}
        for key, cell in row["cells"].items():
            glyph, label = badge(cell)
            shown = dict(cell, behaviour=cell_behaviour(cell), badge=[glyph, _badge_class(label)],
                         low=is_low(os_of[key], cell.get("expected")))
            details = json.dumps(shown, sort_keys=True, ensure_ascii=False)
            cells[key] = pool.setdefault(details, len(pool))
        family, group = groups[row["id"]]
        rows.append({"id": row["id"], "family": row["family"], "group": f"{family}/{group['key']}",
                     "label": row_label(row, group["key"]), "proto": row["params"].get("proto"),
                     "deviates": bool(row.get("deviates")), "test_id": row.get("test_id"),
                     "reproducer": row.get("reproducer"), "cells": cells})
    return {"cells": [json.loads(details) for details in pool], "rows": rows}


def _badge_class(label: str) -> str:
    """The CSS class of a badge: the verdict, "known" for an explained deviation."""
    return "known" if "(known)" in label else label.split(" ")[0]


def _script_json(data) -> str:
    """JSON for a script element: "<", ">" and "&" escaped so no value can close it."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")


def html(matrix: dict) -> str:
    ctx = context(matrix)
    shown = ctx["observed"] + ctx["documented"]
    page = page_data(matrix)
    page["answers"] = {answer_anchor(row["question"]["id"], i): {
        "ask": row["question"]["ask"], "column": c["key"], "text": row["answers"][c["key"]]["text"],
        "evidence": row["answers"][c["key"]]["evidence"], "note": row["question"].get("note"),
        "source": row["question"].get("source")}
        for row in ctx["answers"]["rows"] for i, c in enumerate(shown)}
    page["labels"] = ctx["labels"]
    page["columns"] = [c["key"] for c in shown]
    page["kinds"] = {c["key"]: c["kind"] for c in shown}
    page["differs"] = ctx["differs"]
    page["defaults"] = cols.default_columns(matrix["columns"])
    ctx.update(data=_script_json(page), shown=shown, behaviours=BEHAVIOURS, behaviour_colours=BEHAVIOUR_COLOURS,
               badge_colours=BADGE_COLOURS, hierarchy=hierarchy(matrix), answer_anchor=answer_anchor,
               known_glyph=KNOWN_GLYPH, claim_marks=CLAIM_MARKS, badge_class=_badge_class,
               titles={c["key"]: cols.title(c) for c in matrix["columns"]},
               counts={c["key"]: _counts_words(column_counts(matrix, c["key"])) for c in ctx["observed"]},
               html_name=HTML_NAME, documented_word=DOCUMENTED, known_causes=known_causes(matrix),
               known_intro=KNOWN_INTRO)
    return _environment().get_template("report.html").render(**ctx)
