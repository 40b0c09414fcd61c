"""What changed between two matrices: new, gone and changed cells. A cell that is gone
(a removed test, a platform no longer run) is reported, never counted as a regression;
a cell whose verdict changed is what makes the diff fail."""

from __future__ import annotations

from matrix import record


def cells(matrix: dict) -> dict[tuple[str, str], dict]:
    observed = {c["key"] for c in matrix["columns"] if c["kind"] == "observed"}
    return {(row["id"], key): cell for row in matrix["rows"] for key, cell in row["cells"].items()
            if key in observed}


def diff(old: dict, new: dict) -> dict:
    before, after = cells(old), cells(new)
    changed = []
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        if a["value"] != b["value"] or a["verdict"] != b["verdict"]:
            changed.append({"id": key[0], "column": key[1], "from": a, "to": b,
                            "verdict_changed": a["verdict"] != b["verdict"]})
    return {
        "new": [{"id": k[0], "column": k[1], "to": after[k]} for k in sorted(after.keys() - before.keys())],
        "gone": [{"id": k[0], "column": k[1], "from": before[k]} for k in sorted(before.keys() - after.keys())],
        "changed": changed,
    }


def _cell(c: dict) -> str:
    return f"{c['glyph']} {c['value']} ({c['verdict']})"


def as_text(result: dict) -> str:
    lines = [f"{len(result['changed'])} changed, {len(result['new'])} new, {len(result['gone'])} gone"]
    lines += [f"changed {c['id']} on {c['column']}: {_cell(c['from'])} -> {_cell(c['to'])}" for c in result["changed"]]
    lines += [f"new {c['id']} on {c['column']}: {_cell(c['to'])}" for c in result["new"]]
    lines += [f"gone {c['id']} on {c['column']} (was {_cell(c['from'])})" for c in result["gone"]]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def as_markdown(result: dict) -> str:
    lines = ["## Matrix diff", "",
             f"{len(result['changed'])} changed, {len(result['new'])} new, {len(result['gone'])} gone", ""]
    if any(result.values()):
        lines += ["| change | cell | column | before | after |", "|---|---|---|---|---|"]
        lines += [f"| {'**verdict**' if c['verdict_changed'] else 'value'} | `{_md(c['id'])}` | {_md(c['column'])} | "
                  f"{_md(_cell(c['from']))} | {_md(_cell(c['to']))} |" for c in result["changed"]]
        lines += [f"| new | `{_md(c['id'])}` | {_md(c['column'])} | | {_md(_cell(c['to']))} |" for c in result["new"]]
        lines += [f"| gone | `{_md(c['id'])}` | {_md(c['column'])} | {_md(_cell(c['from']))} | |"
                  for c in result["gone"]]
    return "\n".join(lines) + "\n"


def load_matrix(path) -> dict:
    return record.load(path, "matrix-1")
