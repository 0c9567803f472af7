"""A small document model (headings, paragraphs, lists, tables, figures) and its two renderings.

The report text is built once as a list of blocks and written twice: as
Markdown (figures as files beside it) and as one self-contained HTML file
(CSS inline, figures embedded as ``data:`` URIs, nothing fetched from the
network), so the two always say the same thing.

Inline markup in text is a tiny Markdown subset: ``**bold**``, ``*italic*``
and ```code```, rendered as such in HTML.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass
class Paragraph:
    text: str


@dataclass
class Callout:
    """A boxed note; ``kind`` ``synthetic`` is the red banner, ``note`` a grey box."""

    text: str
    kind: str = "note"


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    """A table to show: ``frame`` already formatted as text (see :func:`format_table`)."""

    frame: pd.DataFrame
    caption: str = ""
    note: str = ""


@dataclass
class Figure:
    """A figure written to ``figures/<name>.png`` and, for the brief's core figures, ``.svg``."""

    name: str
    caption: str
    png: Path
    svg: Path | None
    alt: str = ""


@dataclass
class Document:
    title: str
    subtitle: str = ""
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)

    def headings(self) -> list[Heading]:
        return [b for b in self.blocks if isinstance(b, Heading) and b.level == 2]


# --------------------------------------------------------------------------- helpers

def slug(text: str) -> str:
    """An HTML anchor from a heading: lower case, words joined by hyphens."""
    s = re.sub(r"[^\w\s-]", "", text.lower())
    return re.sub(r"[\s_]+", "-", s).strip("-")


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\*\w])\*(?!\s)(.+?)(?<!\s)\*(?![\*\w])")
_CODE = re.compile(r"`([^`]+)`")


def inline_html(text: str) -> str:
    """Escape ``text`` for HTML and render ``**bold**``, ``*italic*`` and ```code```."""
    out = html.escape(str(text), quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _ITALIC.sub(r"<em>\1</em>", out)


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def data_uri(path: Path) -> str:
    """The file as a base64 ``data:`` URI (PNG or SVG by suffix)."""
    mime = {".png": "image/png", ".svg": "image/svg+xml"}[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


_NUMBER = re.compile(r"^(n/a|new|…|—|[<>≥≤]?[×+\-−]?\d[\d,.]*(k|m|bn|%|/kg)?"
                     r"(\s*[(\[][^)\]]*[)\]])?(\s*(→|to)\s*\d[\d,.]*%?)?)$")


def _numeric(col: pd.Series) -> bool:
    """True when every non-empty cell reads as a number (``12.4m``, ``×2.52 (1.86–3.42)``, ``<0.001``)."""
    cells = [str(v).strip() for v in col if str(v).strip()]
    return bool(cells) and all(_NUMBER.match(c) for c in cells)


# --------------------------------------------------------------------------- Markdown

def to_markdown(doc: Document, *, figure_dir: str = "figures", banner: str | None = None) -> str:
    """The document as Markdown; figures link to ``figure_dir/<name>.png``; ``banner`` (the synthetic-data
    warning) is the first line."""
    lines = [f"> **⚠ {banner}**", ""] if banner else []
    lines += [f"# {doc.title}", ""]
    if doc.subtitle:
        lines += [f"*{doc.subtitle}*", ""]
    n_fig = n_tab = 0
    for b in doc.blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            lines += [b.text, ""]
        elif isinstance(b, Callout):
            prefix = "**⚠ " if b.kind == "synthetic" else "**Note.** "
            body = f"{prefix}{b.text}**" if b.kind == "synthetic" else f"{prefix}{b.text}"
            lines += ["> " + body, ""]
        elif isinstance(b, Bullets):
            lines += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            n_tab += 1
            if b.caption:
                lines += [f"**Table {n_tab}.** {b.caption}", ""]
            cols = [str(c) for c in b.frame.columns]
            lines.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
            aligns = ["---:" if _numeric(b.frame[c]) else ":---" for c in b.frame.columns]
            lines.append("|" + "|".join(aligns) + "|")
            for row in b.frame.itertuples(index=False):
                lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
            lines.append("")
            if b.note:
                lines += [f"*{b.note}*", ""]
        elif isinstance(b, Figure):
            n_fig += 1
            lines += [f"![{_md_cell(b.alt or b.caption)}]({figure_dir}/{b.png.name})", "",
                      f"**Figure {n_fig}.** {b.caption}" + (f" ([SVG]({figure_dir}/{b.svg.name}))" if b.svg else ""),
                      ""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- HTML

CSS = """
:root { --ink: #1d1d1f; --muted: #555; --rule: #d9d9d9; --accent: #0072B2; --warn: #D55E00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 16px/1.55 -apple-system, "Segoe UI", Roboto,
       "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif; }
.banner { background: var(--warn); color: #fff; padding: 0.8em 1.2em; font-weight: 700; font-size: 1.05em;
          text-align: center; letter-spacing: 0.01em; }
main { max-width: 1180px; margin: 0 auto; padding: 1.5em 1.5em 4em; }
h1 { font-size: 1.9em; line-height: 1.2; margin: 0.6em 0 0.2em; }
.subtitle { color: var(--muted); margin: 0 0 1.2em; }
h2 { font-size: 1.45em; border-bottom: 2px solid var(--rule); padding-bottom: 0.2em; margin-top: 2.2em; }
h3 { font-size: 1.15em; margin-top: 1.8em; }
p, li { max-width: 52em; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; background: #f3f3f3;
       padding: 0 0.25em; border-radius: 3px; }
nav.toc { background: #f7f7f7; border: 1px solid var(--rule); border-radius: 6px; padding: 0.6em 1.2em;
          display: inline-block; }
nav.toc ol { margin: 0.3em 0; padding-left: 1.4em; }
.callout { border-left: 5px solid var(--muted); background: #f5f5f5; padding: 0.7em 1em; margin: 1em 0;
           max-width: 52em; }
.callout.synthetic { border-left-color: var(--warn); background: #fdeee6; font-weight: 600; }
.table-wrap { overflow-x: auto; margin: 0.8em 0 1.4em; }
table { border-collapse: collapse; font-size: 0.84em; min-width: 40%; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0 0 0.4em; font-size: 1.02em; }
th, td { padding: 0.32em 0.7em; border-bottom: 1px solid var(--rule); vertical-align: top; text-align: left; }
th { background: #eef3f8; border-bottom: 2px solid #9fb7cc; vertical-align: bottom; font-weight: 600; }
td.label { min-width: 15em; }
td.nowrap { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
.table-note { color: var(--muted); font-size: 0.85em; margin-top: 0.3em; max-width: 60em; }
figure { margin: 1.2em 0 2em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: var(--muted); font-size: 0.9em; margin-top: 0.4em; max-width: 60em; }
footer { margin-top: 3em; color: var(--muted); font-size: 0.85em; border-top: 1px solid var(--rule);
         padding-top: 0.8em; }
@media print { .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def to_html(doc: Document, *, banner: str | None = None, footer: str = "", embed: str = "png") -> str:
    """The document as one self-contained HTML page: CSS inline, every figure a ``data:`` URI.

    ``banner`` (the synthetic-data warning) is the first element of the body.
    ``embed`` picks which rendering of each figure is embedded: ``png`` or ``svg``.
    """
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(doc.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>"]
    if banner:
        parts.append(f'<div class="banner" role="alert">{inline_html(banner)}</div>')
    parts.append("<main>")
    parts.append(f"<h1>{inline_html(doc.title)}</h1>")
    if doc.subtitle:
        parts.append(f'<p class="subtitle">{inline_html(doc.subtitle)}</p>')
    toc = doc.headings()
    n_fig = n_tab = 0
    toc_done = False
    for b in doc.blocks:
        if isinstance(b, Heading):
            if b.level == 2 and not toc_done and len(toc) > 2:
                items = "".join(f'<li><a href="#{h.anchor or slug(h.text)}">{inline_html(h.text)}</a></li>'
                                for h in toc)
                parts.append(f'<nav class="toc"><strong>Contents</strong><ol>{items}</ol></nav>')
                toc_done = True
            parts.append(f'<h{b.level} id="{b.anchor or slug(b.text)}">{inline_html(b.text)}</h{b.level}>')
        elif isinstance(b, Paragraph):
            parts.append(f"<p>{inline_html(b.text)}</p>")
        elif isinstance(b, Callout):
            parts.append(f'<div class="callout {html.escape(b.kind)}">{inline_html(b.text)}</div>')
        elif isinstance(b, Bullets):
            parts.append("<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            n_tab += 1
            parts.append(_html_table(b, n_tab))
        elif isinstance(b, Figure):
            n_fig += 1
            src = data_uri(b.svg if embed == "svg" and b.svg else b.png)
            alt = html.escape(b.alt or b.caption, quote=True)
            width = _display_width(b.png)
            style = f' style="width:{width}px"' if width else ""
            parts.append(f'<figure id="figure-{n_fig}"><img src="{src}" alt="{alt}"{style}>'
                         f"<figcaption><strong>Figure {n_fig}.</strong> {inline_html(b.caption)}</figcaption></figure>")
    if footer:
        parts.append(f"<footer>{inline_html(footer)}</footer>")
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


DISPLAY_SCALE = 0.6
"""CSS pixels per image pixel: figures drawn at 200 dpi show at 120 dpi-equivalent (text at its 8-12 pt size
on a standard screen), so small and large figures keep the same text size; wider ones shrink to the page."""


def _display_width(png: Path) -> int | None:
    try:
        from PIL import Image

        with Image.open(png) as im:
            return int(round(im.size[0] * DISPLAY_SCALE))
    except (OSError, ImportError):
        return None


def _html_table(t: Table, number: int) -> str:
    numeric = [_numeric(t.frame[c]) for c in t.frame.columns]
    label = next((i for i, n in enumerate(numeric) if not n), None)  # the column that names the rows
    short = [bool(len(t.frame)) and t.frame[c].astype(str).str.len().max() <= 10 for c in t.frame.columns]
    cls = []
    for i, (n, sh) in enumerate(zip(numeric, short, strict=False)):
        names = (["num"] if n else []) + (["label"] if i == label else []) + (["nowrap"] if sh and not n else [])
        cls.append(f' class="{" ".join(names)}"' if names else "")
    head = "".join(f'<th scope="col"{k}>{inline_html(c)}</th>' for c, k in zip(t.frame.columns, cls, strict=False))
    rows = []
    for row in t.frame.itertuples(index=False):
        cells = "".join(f"<td{k}>{inline_html(v)}</td>" for v, k in zip(row, cls, strict=False))
        rows.append(f"<tr>{cells}</tr>")
    caption = f"<caption>Table {number}. {inline_html(t.caption)}</caption>" if t.caption else ""
    note = f'<div class="table-note">{inline_html(t.note)}</div>' if t.note else ""
    return (f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{note}</div>")
