"""Self-contained HTML: one inline stylesheet, images embedded as data URIs, no scripts, no
external requests, so a report opens anywhere, offline, as a single file."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24;
       max-width: 1040px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
.sub { color: #57606a; margin-top: 0; }
.verdict { padding: .4em 1em; border-radius: 6px; }
.verdict p { margin: .4em 0; }
.ok { background: #dafbe1; border: 1px solid #4ac26b; }
.bad { background: #ffebe9; border: 1px solid #ff8182; }
.open { background: #fff8c5; border: 1px solid #d4a72c; }
table { border-collapse: collapse; margin: .6em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .8em; border-bottom: 1px solid #d0d7de; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f8fa; }
img { max-width: 100%; height: auto; }
code { background: #f6f8fa; padding: .1em .3em; border-radius: 4px; }
.note { color: #57606a; font-size: .92em; }
"""


def esc(value: object) -> str:
    return html.escape(str(value))


def image(png: bytes | Path, alt: str) -> str:
    """An <img> with the PNG inlined as a data URI."""
    data = png.read_bytes() if isinstance(png, Path) else png
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{b64}">'


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A table; cells are escaped text."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """A whole HTML document around already-built body HTML."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def fmt(value: float | None, digits: int = 4) -> str:
    """A number with `digits` significant digits, as every number of the report is shown.

    None (a quantity a task does not define, such as the floor of a real series) shows as a dash.
    """
    return "—" if value is None else f"{value:.{digits}g}"


def span_text(memory: Mapping[str, Any]) -> str:
    """A memory profile's span as every page shows it: "k ≤ 1"; "none (diffuse)" where the profile
    does not resemble the truth (statelab 0.2 stored -1 there); a dash where there is no profile
    to judge (a diverged model)."""
    span, error = memory.get("span"), memory.get("profile_error")
    if error is None:
        return "—"
    if span is None or span < 0:
        return "none (diffuse)"
    return f"k ≤ {span}"
