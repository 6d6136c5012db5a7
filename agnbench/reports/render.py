"""Render a report document to one self-contained HTML file and to Markdown.

A document is a list of :class:`Section` objects holding :class:`Paragraph`, :class:`Table`,
:class:`Figure` and :class:`Code` items. The HTML embeds every PNG as a ``data:`` URI and its CSS
inline, so it opens offline and can be mailed as one file; the PDF next to each PNG is linked by
relative path. A small inline script counts the figures that decoded and writes the count on
``<body data-figures-loaded="k/n">`` (checked by the headless-browser test). The Markdown version
links ``figures/*.png`` and holds the tables inline.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from agnbench.reports.style import FigureRecord
from agnbench.reports.tables import DASH, DASH_NOTE, to_markdown


@dataclass(frozen=True)
class Paragraph:
    """Plain text (escaped in HTML)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A display table with a caption and the files holding its full-precision / LaTeX versions.

    ``frame.attrs["bold"]`` (a set of ``(row position, column)``) marks the cells shown in bold (the best value, as
    in the LaTeX). A missing value (NaN, None, or :data:`~agnbench.reports.tables.DASH`) is shown as a dash with
    the footnote :data:`~agnbench.reports.tables.DASH_NOTE`. ``collapsed`` tables (long, secondary) are folded
    into a ``<details>`` element in HTML.
    """

    caption: str
    frame: pd.DataFrame
    files: tuple[str, ...] = ()
    collapsed: bool = False


@dataclass(frozen=True)
class Figure:
    """A saved figure."""

    record: FigureRecord


@dataclass(frozen=True)
class Code:
    """A block of commands or YAML, shown verbatim."""

    text: str


@dataclass(frozen=True)
class Section:
    """One titled part of the report."""

    key: str
    title: str
    items: list = field(default_factory=list)


#: Characters that Markdown (CommonMark/GitHub) or inline HTML give a meaning; escaped in user text.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~!])")
#: A line start that would make a list item or a numbered list out of plain text.
_MD_LINE_START = re.compile(r"^([-+]\s|\d+[.)]\s)")

_CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;line-height:1.45}
.layout{display:flex;align-items:flex-start;gap:2rem;padding:0 1.5rem}
nav.toc{position:sticky;top:0;flex:0 0 14rem;max-height:100vh;overflow-y:auto;padding:1.2rem 0;font-size:.88rem}
nav.toc ol{list-style:none;padding:0;margin:0}nav.toc li{margin:.25rem 0}
nav.toc a{color:#0b5394;text-decoration:none}nav.toc a:hover{text-decoration:underline}
nav.toc .toc-title{font-weight:600;margin-bottom:.4rem}
main{flex:1 1 auto;min-width:0;max-width:72rem;padding-bottom:4rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}
.table-wrap{max-width:100%;overflow-x:auto;margin:.6rem 0}
table{border-collapse:collapse;font-size:.82rem}
th,td{padding:.2rem .5rem;border-bottom:1px solid #e3e3e3;text-align:left;white-space:nowrap}
td.best{font-weight:700}td.wrap{white-space:normal;min-width:18rem;max-width:40rem}
th{border-bottom:1px solid #888}caption{caption-side:top;text-align:left;font-weight:600;padding:.3rem 0;
white-space:normal;max-width:60rem}
.tnote{font-size:.75rem;color:#555;margin:.1rem 0 .6rem}
details{margin:.6rem 0}details summary{cursor:pointer;font-weight:600}
figure{margin:1.2rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444;max-width:60rem}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.8rem;max-width:100%}
p{max-width:60rem}.files{font-size:.75rem;color:#666}
.note{background:#fff8e1;padding:.5rem;border-left:3px solid #e0a800}
@media (max-width:900px){.layout{display:block}nav.toc{position:static;max-height:none}}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img.figure'));
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-figures-loaded', ok + '/' + imgs.length);
});
"""


def render_html(title: str, sections: list[Section], *, root: Path, note: str | None = None) -> str:
    """The whole report as one HTML document; ``root`` is the report directory (figures are read from it)."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>",
             '<body data-figures-loaded="pending">', '<div class="layout">',
             '<nav class="toc" aria-label="Contents"><div class="toc-title">Contents</div><ol>'
             + "".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections) + "</ol></nav>",
             f"<main><h1>{html.escape(title)}</h1>"]
    if note:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    for section in sections:
        parts.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        parts += [_html_item(item, root) for item in section.items]
        parts.append("</section>")
    parts += ["</main></div>", f"<script>{_SCRIPT}</script>", "</body></html>", ""]
    return "\n".join(parts)


def render_markdown(title: str, sections: list[Section], *, root: Path, note: str | None = None) -> str:
    """The report as Markdown with relative links to ``figures/`` and ``tables/``; every text is escaped."""
    lines = [f"# {md_escape(title)}", ""]
    if note:
        lines += [f"> {md_escape(note)}", ""]
    for section in sections:
        lines += [f"## {md_escape(section.title)}", ""]
        for item in section.items:
            lines += [_md_item(item, root), ""]
    return "\n".join(lines)


def _html_item(item, root: Path) -> str:
    if isinstance(item, Paragraph):
        return f"<p>{html.escape(item.text)}</p>"
    if isinstance(item, Code):
        return f"<pre>{html.escape(item.text)}</pre>"
    if isinstance(item, Table):
        return _html_table(item)
    if isinstance(item, Figure):
        rec = item.record
        data = base64.b64encode(Path(rec.png).read_bytes()).decode("ascii")
        pdf = Path(rec.pdf).relative_to(root).as_posix()
        return (f'<figure id="fig-{html.escape(rec.name)}"><img class="figure" alt="{html.escape(rec.title)}" '
                f'src="data:image/png;base64,{data}"><figcaption><b>{html.escape(rec.title)}.</b> '
                f'{html.escape(rec.caption)} <span class="files">[<a href="{html.escape(pdf)}">PDF</a>'
                + (f"; data: {html.escape(', '.join('tables/' + t + '.csv' for t in rec.tables))}" if rec.tables else "")
                + "]</span></figcaption></figure>")
    raise TypeError(f"unknown report item {type(item).__name__}")


def _html_table(item: Table) -> str:
    """A table in its own horizontally scrolling box; best cells bold; missing values as a dash with a footnote."""
    frame, bold = item.frame, item.frame.attrs.get("bold", frozenset())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows, dashes = [], False
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for col, value in zip(frame.columns, row):
            text = _text(value)
            dashes = dashes or text == DASH
            classes = " ".join(c for c, on in (("best", (i, col) in bold), ("wrap", len(text) > 60)) if on)
            cells.append(f'<td class="{classes}">' if classes else "<td>")
            cells[-1] += f"{html.escape(text)}</td>"
        rows.append("<tr>" + "".join(cells) + "</tr>")
    notes = []
    if bold:
        notes.append("Bold: the best value per column (as in the LaTeX table).")
    if dashes:
        notes.append(DASH_NOTE)
    note = f'<p class="tnote">{html.escape(" ".join(notes))}</p>' if notes else ""
    table = (f'<div class="table-wrap"><table><caption>{html.escape(item.caption)}</caption><thead><tr>{head}</tr>'
             f'</thead><tbody>{"".join(rows)}</tbody></table></div>{note}{_files_html(item.files)}')
    if item.collapsed:
        return (f"<details><summary>{html.escape(_first_sentence(item.caption))} ({len(frame)} rows; click to "
                f"show)</summary>{table}</details>")
    return table


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + ("." if dot else "")


def md_escape(text: object) -> str:
    """``text`` as Markdown that renders as the same plain text (as :func:`html.escape` does for HTML).

    Characters Markdown or inline HTML would interpret (emphasis, links, images, tags, table pipes, code)
    are backslash-escaped; line breaks become spaces so a user's string cannot start a heading or a list.
    """
    flat = " ".join(str(text).split())
    flat = _MD_SPECIAL.sub(r"\\\1", flat)
    start = _MD_LINE_START.match(flat)
    if start is None:
        return flat
    mark = start.end(1) - 2  # the list marker: "-"/"+" or the "."/")" after the digits
    return flat[:mark] + "\\" + flat[mark:]


def _md_code(text: str) -> str:
    """A fenced block that ``text`` cannot close: the fence is longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text.rstrip()}\n{fence}"


def _md_item(item, root: Path) -> str:
    if isinstance(item, Paragraph):
        return md_escape(item.text)
    if isinstance(item, Code):
        return _md_code(item.text)
    if isinstance(item, Table):
        files = f"\n\n*Files: {', '.join(md_escape(f) for f in item.files)}*" if item.files else ""
        bold = item.frame.attrs.get("bold", frozenset())
        frame = item.frame.copy()
        for i, col in bold:
            frame.iat[i, frame.columns.get_loc(col)] = f"**{frame.iat[i, frame.columns.get_loc(col)]}**"
        frame = frame.rename(columns=md_escape)
        frame = frame.apply(lambda col: col.map(lambda v: _text(v) if _missing(v) else (
            md_escape(v).replace("\\*\\*", "**") if isinstance(v, str) else v)))
        dash = any(str(v) == DASH for v in frame.to_numpy().ravel())
        notes = ("\n\n" + " ".join((["Bold: the best value per column."] if bold else [])
                                     + ([md_escape(DASH_NOTE)] if dash else []))) if bold or dash else ""
        return f"**{md_escape(item.caption)}**\n\n" + to_markdown(frame) + notes + files
    if isinstance(item, Figure):
        rec = item.record
        png = Path(rec.png).relative_to(root).as_posix()
        pdf = Path(rec.pdf).relative_to(root).as_posix()
        title = md_escape(rec.title)
        return f"![{title}]({png})\n\n**{title}.** {md_escape(rec.caption)} ([PDF]({pdf}))"
    raise TypeError(f"unknown report item {type(item).__name__}")


def _files_html(files: tuple[str, ...]) -> str:
    if not files:
        return ""
    links = ", ".join(f'<a href="{html.escape(f)}">{html.escape(f)}</a>' for f in files)
    return f'<div class="files">Files: {links}</div>'


def _missing(value) -> bool:
    """NaN, None or pandas' NA: shown as :data:`DASH`."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value


def _text(value) -> str:
    if _missing(value):
        return DASH
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
