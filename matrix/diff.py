"""What changed between two matrices: new, gone and changed cells. Columns are matched by
their stable key (OS, runner image, machine, Python, variant, implementation, runtime), so a
runner image update that brings a new kernel or Darwin build compares cell by cell; the
release is kept as data and reported when it moved. A cell that is gone (a removed test,
a platform no longer run) is reported, never counted as a regression; a cell whose
verdict changed is what makes the diff fail."""

from __future__ import annotations

from matrix import record
from matrix.merge import stable_key

# Rows listed per kind in the Markdown (a job summary has 1 MiB per step); the counts are always whole.
MARKDOWN_ROWS = 300


def columns(matrix: dict) -> dict[str, dict]:
    """column key -> its stable key and release, for the observed columns. Two columns
    with one stable key (two machines of one image, say) keep their column key as well."""
    observed = [c for c in matrix["columns"] if c["kind"] == "observed"]
    stable = [stable_key(c["platform"]) for c in observed]
    return {c["key"]: {"stable": key if stable.count(key) == 1 else f"{key}/{c['key']}",
                       "release": c["platform"]["release"]}
            for c, key in zip(observed, stable, strict=True)}


def cells(matrix: dict) -> dict[tuple[str, str], dict]:
    keyed = columns(matrix)
    return {(row["id"], keyed[key]["stable"]): cell for row in matrix["rows"] for key, cell in row["cells"].items()
            if key in keyed}


def releases(matrix: dict) -> dict[str, str]:
    return {c["stable"]: c["release"] for c in columns(matrix).values()}


def diff(old: dict, new: dict) -> dict:
    before, after = cells(old), cells(new)
    changed = []
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        if a["value"] != b["value"] or a["verdict"] != b["verdict"]:
            changed.append({"id": key[0], "column": key[1], "from": a, "to": b,
                            "verdict_changed": a["verdict"] != b["verdict"]})
    was, now = releases(old), releases(new)
    return {
        "new": [{"id": k[0], "column": k[1], "to": after[k]} for k in sorted(after.keys() - before.keys())],
        "gone": [{"id": k[0], "column": k[1], "from": before[k]} for k in sorted(before.keys() - after.keys())],
        "changed": changed,
        "releases": [{"column": column, "from": was[column], "to": now[column]}
                     for column in sorted(was.keys() & now.keys()) if was[column] != now[column]],
    }


def verdicts_changed(result: dict) -> int:
    return sum(1 for c in result["changed"] if c["verdict_changed"])


def _cell(c: dict) -> str:
    return f"{c['glyph']} {c['value']} ({c['verdict']})"


def _counts(result: dict) -> str:
    return f"{len(result['changed'])} changed, {len(result['new'])} new, {len(result['gone'])} gone"


def as_text(result: dict) -> str:
    lines = [_counts(result)]
    lines += [f"release on {r['column']}: {r['from']} -> {r['to']}" for r in result["releases"]]
    lines += [f"changed {c['id']} on {c['column']}: {_cell(c['from'])} -> {_cell(c['to'])}" for c in result["changed"]]
    lines += [f"new {c['id']} on {c['column']}: {_cell(c['to'])}" for c in result["new"]]
    lines += [f"gone {c['id']} on {c['column']} (was {_cell(c['from'])})" for c in result["gone"]]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _listed(rows: list[str], limit: int) -> list[str]:
    return rows[:limit] + ([f"| … | {len(rows) - limit} more | | | |"] if len(rows) > limit else [])


def as_markdown(result: dict, limit: int = MARKDOWN_ROWS) -> str:
    lines = ["## Matrix diff", "", _counts(result), ""]
    if verdicts_changed(result):
        lines += ["> [!WARNING]", f"> {verdicts_changed(result)} cell(s) changed their verdict since the last "
                  "published matrix.", ""]
    if result["releases"]:
        lines += ["| column | release before | release now |", "|---|---|---|"]
        lines += [f"| {_md(r['column'])} | {_md(r['from'])} | {_md(r['to'])} |" for r in result["releases"]]
        lines += [""]
    if result["changed"] or result["new"] or result["gone"]:
        lines += ["| change | cell | column | before | after |", "|---|---|---|---|---|"]
        lines += _listed([f"| {'**verdict**' if c['verdict_changed'] else 'value'} | `{_md(c['id'])}` | "
                          f"{_md(c['column'])} | {_md(_cell(c['from']))} | {_md(_cell(c['to']))} |"
                          for c in result["changed"]], limit)
        lines += _listed([f"| new | `{_md(c['id'])}` | {_md(c['column'])} | | {_md(_cell(c['to']))} |"
                          for c in result["new"]], limit)
        lines += _listed([f"| gone | `{_md(c['id'])}` | {_md(c['column'])} | {_md(_cell(c['from']))} | |"
                          for c in result["gone"]], limit)
    return "\n".join(lines) + "\n"


def load_matrix(path) -> dict:
    return record.load(path, "matrix-1")
