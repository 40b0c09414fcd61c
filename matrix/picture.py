"""The picture at the top of the README: the answers grid as an SVG, a row per question
and a column per platform, each answer coloured by behaviour with its conformance glyph."""

from __future__ import annotations

from markupsafe import escape

from matrix.display import BEHAVIOURS
from matrix.render import BEHAVIOUR_COLOURS, context


def svg(matrix: dict) -> str:
    """A picture of the answers grid: a row per question, a column per platform, each
    answer coloured by behaviour and carrying its text and conformance glyph."""
    ctx = context(matrix)
    shown = ctx["observed"] + ctx["documented"]
    grid = ctx["answers"]["rows"]
    label_w, col_w, row_h, head_h = 300, 132, 22, 64
    width = label_w + col_w * len(shown) + 10
    height = head_h + row_h * len(grid) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="sans-serif" font-size="11" role="img" aria-label="Dual-stack answers per platform">',
           f'<rect width="{width}" height="{height}" fill="#fff"/>',
           '<text x="6" y="18" font-size="14" font-weight="bold">Dual-stack sockets: the answers, per platform</text>',
           '<text x="6" y="34" fill="#57606a">colour = behaviour · ✓ matches the docs · ◇ documented, not measured'
           ' · ? not documented</text>']
    for i, c in enumerate(shown):
        x = label_w + i * col_w
        words = ctx["labels"][c["key"]].split(" · ")
        lines = [" · ".join(words[:-1]) or words[0], words[-1] if len(words) > 1 else ""]
        style = ' font-style="italic"' if c["kind"] != "observed" else ""
        for j, line in enumerate(lines):
            out.append(f'<text x="{x + 4}" y="{head_h - 18 + j * 12}"{style}>{escape(_clip(line, 21))}</text>')
    for r, row in enumerate(grid):
        y = head_h + r * row_h
        out.append(f'<text x="6" y="{y + 15}">{escape(_clip(row["question"]["short"], 46))}</text>')
        for i, c in enumerate(shown):
            a = row["answers"][c["key"]]
            fill, edge = BEHAVIOUR_COLOURS[a["behaviour"]]
            x = label_w + i * col_w
            dash = ' stroke-dasharray="3 2"' if a["documented"] else ""
            out.append(f'<rect x="{x + 1}" y="{y + 1}" width="{col_w - 2}" height="{row_h - 2}" fill="{fill}" '
                       f'stroke="{edge}"{dash}/>')
            out.append(f'<text x="{x + 5}" y="{y + 15}">{escape(a["glyph"])} {escape(_clip(a["text"], 19))}</text>')
    y = head_h + row_h * len(grid) + 20
    x = 6
    for name, label in BEHAVIOURS.items():
        fill, edge = BEHAVIOUR_COLOURS[name]
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{fill}" stroke="{edge}"/>')
        out.append(f'<text x="{x + 16}" y="{y}">{escape(label)}</text>')
        x += 28 + 6 * len(label)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "…"

