"""Figures: matplotlib Figures drawn from tidy DataFrames (series, compare, findings, event study, bands).

Plotting is kept apart from estimation: every function here takes frames that
an analysis step already produced and only draws them. Who and when (reporter,
flow, focal partner, comparison and transit partners, frequency, windows)
come from a :class:`~analysis.study.Study`, given as ``study`` or as its
fields in keywords (``focal="BLR"``), resolved by :meth:`Study.resolve`; an
open post window ends at the data's last period. Nothing is assumed of the
study: titles, labels and the break line are made from it (the break line is
24 February 2022 only for a monthly post window from 2022-03).

Every figure fits a 6.5-inch page column (:data:`PAGE_WIDTH`) with all text
at least :data:`MIN_FONT` points at that size: titles and labels are wrapped,
never cut; legends sit below the axes, never over data; log axes carry at
least three labelled ticks; an interval that runs beyond the frame ends in
an arrow at the frame, and the figure's ``notes`` say so (the report adds
them to the caption). Each figure carries a title, axis labels with units, a
source line and, when its input is synthetic, a visible ``SYNTHETIC DATA``
watermark and label. Colours are the Okabe-Ito palette, which stays
distinguishable with the common forms of colour blindness.

:func:`save_figure` writes a figure as PNG (200 dpi, :func:`png_bytes`) and, optionally, SVG.
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Unpack, get_args

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from PIL import Image

from . import registry
from .countries import CHINA
from .errors import InputError
from .periods import Window
from .schema import is_synthetic, without_attrs
from .study import FLOW_VALUATION, FLOW_WORDS, Study, StudyArgs

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
"""The Okabe-Ito colour-blind-safe palette."""

FOCAL_COLOR = OKABE_ITO["blue"]
CONTROL_COLOR = OKABE_ITO["orange"]
TRANSIT_COLOR = OKABE_ITO["green"]
FLAG_COLOR = OKABE_ITO["vermillion"]
BAND_COLOR = OKABE_ITO["sky"]
GREY = "#7f7f7f"

EVENT_DATE = pd.Timestamp("2022-02-24")
"""Russia's full-scale invasion of Ukraine: the break line of a monthly study whose post window starts in 2022-03."""

DPI = 200
SYNTHETIC_LABEL = "SYNTHETIC DATA"

PAGE_WIDTH = 6.5
"""Width of every figure, inches: a page column (US letter or A4 with one-inch margins)."""
MIN_FONT = 8.0
"""Smallest font size of any text on a figure, points (at :data:`PAGE_WIDTH`)."""
TITLE_SIZE = 10.5
SUBTITLE_SIZE = 8.5
TEXT_SIZE = 8.0
"""Tick labels, axis labels, panel titles, legends and the source line."""
MAX_HEIGHT = 9.0
"""Tallest figure, inches: a page of text (11 inches less the margins)."""
SERIES_PANEL_H = 0.9
"""Height of one panel of the small multiples, inches."""
SHARED_PANEL_H = 0.72
"""Height of one panel of small multiples on a shared y axis (group index, event study), inches."""
FRAME_ROOM = 1.9
"""Inches a figure's title, legend and source line take, for fitting panels into :data:`MAX_HEIGHT`."""

CONTROL_KINDS = ("control", "common_shock")
"""Registry kinds that are checks rather than the question (control goods, goods with a known common shock)."""

FindingKind = Literal["level_shift", "spike", "counterfactual_excess", "new_flow", "unit_value"]
"""Finding kinds :func:`plot_finding` draws (mirror gaps have the mirror chart; common events concern all
partners)."""
CHARTED_KINDS: tuple[str, ...] = get_args(FindingKind)

_MARKERS = {"level_shift": "^", "spike": "o", "counterfactual_excess": "_", "new_flow": "s", "unit_value": "P"}
"""Mark of each finding kind on the series charts, at the flagged month (a level shift's break, a spike, a new
flow's first month, a unit-value break); a counterfactual excess concerns a window: a bar under it. Mirror gaps
concern the partner's records: not marked."""


class TradeflowsFigure(Figure):
    """A matplotlib Figure that shows itself in Jupyter whatever the backend (``_repr_png_``).

    Figures are made without pyplot, so drawing many of them (the report)
    keeps no global state and needs no display; ``savefig`` works as usual.
    ``notes`` holds sentences a caption must carry to match the marks (an
    interval drawn to the frame, a family left out).
    """

    synthetic: bool = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []
        self._boxes: list[tuple[object, float, float, float, float]] = []
        self._body_height = 0.0

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, facecolor="white")
        return buf.getvalue()


# --------------------------------------------------------------------------- words and numbers

def area_label(code: int) -> str:
    """Comtrade's name of an area code, or the code itself when the area table does not know it."""
    return registry.load_registry().names[0].get(int(code), str(code))


def group_label(group: str) -> str:
    """A registry group's readable name (``Outside the registry`` for codes in no group)."""
    names = registry.load_registry().names[1]
    if group in names:
        return names[group]
    return "Outside the registry" if group == registry.UNGROUPED else str(group)


def flow_word(flow: str) -> str:
    return FLOW_WORDS.get(flow, flow)


def flow_phrase(study: Study) -> str:
    """``China's exports to Belarus`` or ``China's imports from Belarus``: who, which flow, with whom."""
    toward = "from" if study.flow in ("M", "RM") else "to"
    return f"{area_label(study.reporter)}'s {flow_word(study.flow)} {toward} {area_label(study.focal)}"


def per_word(study: Study) -> str:
    """``month`` or ``year``: the period of the series' values."""
    return "month" if study.freq == "M" else "year"


def window_text(w: Window, study: Study) -> str:
    """``2019-01 to 2021-12`` (monthly) or ``2019 to 2021`` (annual)."""
    fmt = "%Y-%m" if study.freq == "M" else "%Y"
    return f"{w.start.strftime(fmt)} to {'the last period' if w.end is None else w.end.strftime(fmt)}"


def break_mark(study: Study) -> tuple[pd.Timestamp, str]:
    """Where the dashed break line is drawn, and its label.

    24 February 2022 for a monthly study whose post window starts in 2022-03
    (the invasion of Ukraine; January and February are the transition);
    otherwise just before the post window's first period (half a month, or
    half a year for annual points), labelled with that period.
    """
    start = study.post.start
    if study.freq == "M" and start == pd.Timestamp("2022-03-01"):
        return EVENT_DATE, "24 Feb 2022"
    if study.freq == "M":
        return start - pd.Timedelta(days=15), f"post window from {start:%Y-%m}"
    return start - pd.Timedelta(days=182), f"post window from {start:%Y}"


def source_line(*, reporter: int = CHINA, flow: str = "X", detail: str = "", synthetic: bool = False) -> str:
    """The line under a figure: ``Source: UN Comtrade, China as reporter; exports (FOB value, current USD)...``."""
    if synthetic:
        base = "Source: SYNTHETIC panel in the UN Comtrade schema (not real trade)"
    else:
        base = f"Source: UN Comtrade, {area_label(reporter)} as reporter"
    text = f"{base}; {flow_word(flow)} ({FLOW_VALUATION.get(flow, '')} value, current USD)"
    return f"{text}; {detail}" if detail else text


def usd_label(value: float, _pos: object = None) -> str:
    """Short human form of a USD amount: 950, 12k, 3.4M, 1.2bn."""
    v = abs(value)
    for div, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            s = f"{value / div:.1f}".rstrip("0").rstrip(".")
            return f"{s}{suffix}"
    return f"{value:.0f}"


def ratio_label(value: float, _pos: object = None) -> str:
    """Tick label of a ratio axis: 0.5, 1, 2, 10, 1000."""
    if value <= 0:
        return ""
    if value >= 1e5:
        return usd_label(value)
    return f"{value:g}" if value >= 0.1 else f"{value:.2g}"


def _period_date(text: object) -> pd.Timestamp:
    """First day of a findings period: ``2022-09``, ``202209`` or ``2022``."""
    s = str(text).strip()
    if len(s) == 4:
        return pd.Timestamp(f"{s}-01-01")
    return pd.Timestamp(f"{s[:4]}-{s[-2:]}-01")


def _synthetic(frames: Sequence[pd.DataFrame | None], synthetic: bool | None) -> bool:
    if synthetic is not None:
        return bool(synthetic)
    return any(is_synthetic(f) for f in frames if f is not None)


# --------------------------------------------------------------------------- text measured, wrapped

_RENDERER = RendererAgg(8, 8, 72)


@lru_cache(maxsize=4096)
def _char_width(ch: str, size: float, bold: bool) -> float:
    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    return _RENDERER.get_text_width_height_descent(ch, prop, ismath=False)[0] / 72.0


def text_width(text: str, size: float = TEXT_SIZE, bold: bool = False) -> float:
    """Width of ``text`` in inches at ``size`` points (DejaVu Sans, matplotlib's font), 3% safety added."""
    return 1.03 * sum(_char_width(ch, size, bold) for ch in str(text))


def wrap_text(text: str, width: float, size: float = TEXT_SIZE, bold: bool = False) -> list[str]:
    """``text`` broken into lines no wider than ``width`` inches, at spaces (a longer word at characters).

    Nothing is dropped: every character of ``text`` is on one of the lines.
    """
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, size, bold) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while text_width(word, size, bold) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and text_width(word[:cut], size, bold) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _height(lines: int, size: float, spacing: float = 1.25) -> float:
    """Inches taken by ``lines`` lines of text at ``size`` points."""
    return lines * size * spacing / 72.0


# --------------------------------------------------------------------------- layout

def _new_figure(nrows: int, ncols: int, panel_h: float | Sequence[float], *, left: float = 0.65,
                right: float = 0.15, wspace: float = 0.45, row_gap: float | Sequence[float] = 0.45,
                top: float | Sequence[float] = 0.12, bottom: float = 0.4, sharex: bool = False, sharey: bool = False,
                width: float = PAGE_WIDTH) -> tuple[TradeflowsFigure, np.ndarray]:
    """A figure ``width`` inches wide with ``nrows x ncols`` panels in its body (margins in inches).

    ``panel_h`` is one height or one per row; ``top`` the room above the
    first row (or above each row: panel titles), ``row_gap`` between rows
    (one or one per gap: tick labels), ``bottom`` below the last row (tick and
    axis labels). The title, legend and source line are added around the
    body by :func:`_finish`, which sets the final height. Fixed geometry
    instead of a layout engine: the report draws dozens of panels, and
    constrained layout would measure every tick label again for each file
    written.
    """
    heights = [float(panel_h)] * nrows if isinstance(panel_h, (int, float)) else [float(h) for h in panel_h]
    tops = [float(top)] + [0.0] * (nrows - 1) if isinstance(top, (int, float)) else [float(t) for t in top]
    gaps = [float(row_gap)] * (nrows - 1) if isinstance(row_gap, (int, float)) else [float(g) for g in row_gap]
    panel_w = (width - left - right - (ncols - 1) * wspace) / ncols
    body = sum(tops) + sum(heights) + sum(gaps) + bottom
    fig = TradeflowsFigure(figsize=(width, body))
    axes = np.empty((nrows, ncols), dtype=object)
    y_top = 0.0
    for r in range(nrows):
        y_top += tops[r] + (gaps[r - 1] if r else 0.0)
        for c in range(ncols):
            x0 = left + c * (panel_w + wspace)
            share = {}
            if sharex and (r or c):
                share["sharex"] = axes[0, 0]
            if sharey and (r or c):
                share["sharey"] = axes[0, 0]
            ax = fig.add_axes((x0 / width, 1 - (y_top + heights[r]) / body, panel_w / width, heights[r] / body),
                              **share)
            axes[r, c] = ax
            fig._boxes.append((ax, x0, y_top, panel_w, heights[r]))
        y_top += heights[r]
    fig._body_height = body
    return fig, axes


GRID_LEFT, GRID_RIGHT = 0.62, 0.1
TICK_ROOM = 0.3
"""Inches under a panel for its x tick labels."""


@dataclass(frozen=True)
class _Grid:
    """Geometry of small multiples: panels in ``ncols`` columns, each titled, x tick labels only under the
    lowest panel of each column (the panels share their time axis)."""

    n: int
    ncols: int
    nrows: int
    panel_w: float
    panel_h: float
    wspace: float
    titles: list[str]
    tops: list[float]
    gaps: list[float]
    body: float

    def labelled(self, i: int) -> bool:
        """Whether panel ``i`` shows x tick labels (no panel below it)."""
        return i + self.ncols >= self.n


def _grid(titles: Sequence[str], ncols: int, panel_h: float, *, wspace: float) -> _Grid:
    """The geometry of ``len(titles)`` panels, their titles wrapped to the panel width (never cut)."""
    n = len(titles)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    panel_w = (PAGE_WIDTH - GRID_LEFT - GRID_RIGHT - (ncols - 1) * wspace) / ncols
    wrapped = ["\n".join(wrap_text(t, panel_w)) for t in titles]
    tops = [_height(max(wrapped[i].count("\n") + 1 for i in range(r * ncols, min(n, (r + 1) * ncols))), TEXT_SIZE,
                    1.2) + 0.1 for r in range(nrows)]
    gaps = [TICK_ROOM if any(i + ncols >= n for i in range(r * ncols, (r + 1) * ncols)) else 0.1
            for r in range(nrows - 1)]
    body = sum(tops) + nrows * panel_h + sum(gaps) + TICK_ROOM
    return _Grid(n, ncols, nrows, panel_w, panel_h, wspace, wrapped, tops, gaps, body)


def _fitting(titles: Sequence[str], ncols: int, panel_h: float, *, wspace: float, most: int) -> int:
    """How many of the panels (at most ``most``, whole rows when cut) fit a figure of :data:`MAX_HEIGHT`."""
    k = min(most, len(titles))
    while k > ncols and _grid(titles[:k], ncols, panel_h, wspace=wspace).body > MAX_HEIGHT - FRAME_ROOM:
        k = (math.ceil(k / ncols) - 1) * ncols
    return max(1, k)


def _all_fitting(titles: Sequence[str], ncols: int, *, wspace: float) -> _Grid:
    """A grid of every panel that fits :data:`MAX_HEIGHT`: ``ncols`` columns if it can, else more columns or
    shorter panels (down to 0.6 inch), for small multiples that must show every panel (every group)."""
    g = _grid(titles, ncols, SHARED_PANEL_H, wspace=wspace)
    for cols in range(ncols, ncols + 3):
        for h in (SHARED_PANEL_H, 0.66, 0.6):
            g = _grid(titles, cols, h, wspace=wspace)
            if g.body <= MAX_HEIGHT - FRAME_ROOM:
                return g
    return g


def _grid_ylabel(panels: list, g: _Grid, text: str) -> None:
    """One y-axis label for small multiples, on the first panel of the middle row (a label on every row
    would overlap its neighbours on short panels)."""
    panels[(g.nrows - 1) // 2 * g.ncols].set_ylabel(text, fontsize=TEXT_SIZE)


def _grid_figure(g: _Grid, *, sharey: bool = False) -> tuple[TradeflowsFigure, list]:
    """The figure of a :class:`_Grid`: titled panels (a list, in reading order), unused cells hidden."""
    fig, axes = _new_figure(g.nrows, g.ncols, g.panel_h, left=GRID_LEFT, right=GRID_RIGHT, wspace=g.wspace,
                            top=g.tops, row_gap=g.gaps, bottom=TICK_ROOM, sharex=True, sharey=sharey)
    flat = list(axes.flat)
    for i, ax in enumerate(flat):
        if i >= g.n:
            ax.set_visible(False)
            continue
        # an explicit y: matplotlib then skips measuring every tick label to place the title (a third of the
        # drawing time of small multiples); the grid leaves room above each row for it
        ax.set_title(g.titles[i], fontsize=TEXT_SIZE, loc="left", pad=3, linespacing=1.1, y=1.0)
        ax.tick_params(labelbottom=g.labelled(i), labelleft=not sharey or i % g.ncols == 0)
    return fig, flat[:g.n]


def _legend_layout(labels: Sequence[str], width: float) -> tuple[int, int]:
    """(columns, rows) of a legend of ``labels`` that fits ``width`` inches (matplotlib splits the entries into
    columns as ``np.array_split`` does; each column as wide as its widest entry)."""
    widths = np.array([text_width(t) + 0.42 for t in labels])  # handle and padding
    for ncols in range(len(labels), 0, -1):
        cols = [c for c in np.array_split(widths, ncols) if len(c)]
        if sum(float(c.max()) for c in cols) + 0.14 * (len(cols) - 1) <= width - 0.3:
            return ncols, math.ceil(len(labels) / ncols)
    return 1, len(labels)


def _finish(fig: TradeflowsFigure, *, title: str, subtitle: str, source: str, synthetic: bool,
            handles: Sequence | None = None) -> TradeflowsFigure:
    """Title and subtitle above the body, the legend (``handles``) and the source line below it, and for
    synthetic input the watermark and label; sets the figure's final height. Every text is wrapped to the
    width, never cut."""
    width = fig.get_size_inches()[0]
    badge = text_width(SYNTHETIC_LABEL, TEXT_SIZE, bold=True) + 0.3 if synthetic else 0.0
    title_lines = wrap_text(title, width - 0.24 - badge, TITLE_SIZE, bold=True)
    sub_lines = wrap_text(subtitle, width - 0.24, SUBTITLE_SIZE) if subtitle else []
    header = 0.1 + _height(len(title_lines), TITLE_SIZE) + (0.05 + _height(len(sub_lines), SUBTITLE_SIZE)
                                                             if sub_lines else 0.0) + 0.05
    labels = [h.get_label() for h in handles or []]
    ncols, nrows = _legend_layout(labels, width) if labels else (0, 0)
    legend_h = (0.06 + nrows * TEXT_SIZE * 1.75 / 72) if labels else 0.0
    src_lines = wrap_text(source, width - 0.24, TEXT_SIZE)
    footer = legend_h + 0.08 + _height(len(src_lines), TEXT_SIZE, 1.3) + 0.06
    body = fig._body_height
    height = math.ceil((header + body + footer) * DPI - 1e-6) / DPI  # a whole number of pixels at DPI
    footer = height - header - body
    fig.set_size_inches(width, height)
    for ax, x0, y_top, w, h in fig._boxes:
        ax.set_position((x0 / width, 1 - (header + y_top + h) / height, w / width, h / height))  # type: ignore[attr-defined]
    fig.text(0.12 / width, 1 - 0.1 / height, "\n".join(title_lines), ha="left", va="top", fontsize=TITLE_SIZE,
             fontweight="bold", linespacing=1.15)
    if sub_lines:
        y = 0.1 + _height(len(title_lines), TITLE_SIZE) + 0.05
        fig.text(0.12 / width, 1 - y / height, "\n".join(sub_lines), ha="left", va="top", fontsize=SUBTITLE_SIZE,
                 color="#333333", linespacing=1.15)
    if labels:
        fig.legend(handles=list(handles or []), loc="upper center", ncols=ncols, fontsize=TEXT_SIZE, frameon=False,
                   bbox_to_anchor=(0.5, (footer - 0.02) / height), handlelength=1.8, columnspacing=1.2,
                   borderaxespad=0.0, borderpad=0.2)
    fig.text(0.12 / width, 0.06 / height, "\n".join(src_lines), ha="left", va="bottom", fontsize=TEXT_SIZE,
             color="#444444", linespacing=1.2)
    if synthetic:
        # as large as fits the figure diagonally (rotated 25 degrees)
        w10 = text_width(SYNTHETIC_LABEL, 10, bold=True)
        cos, sin = math.cos(math.radians(25)), math.sin(math.radians(25))
        size = min(60.0, 10 * 0.85 * width / (w10 * cos + 0.14 * sin), 10 * 0.85 * height / (w10 * sin + 0.14 * cos))
        fig.text(0.5, 0.5, SYNTHETIC_LABEL, ha="center", va="center", rotation=25, fontsize=max(size, MIN_FONT),
                 color=FLAG_COLOR, alpha=0.13, fontweight="bold", zorder=100)
        fig.text(1 - 0.1 / width, 1 - 0.1 / height, SYNTHETIC_LABEL, ha="right", va="top", fontsize=TEXT_SIZE,
                 fontweight="bold", color="white",
                 bbox={"boxstyle": "round,pad=0.3", "facecolor": FLAG_COLOR, "edgecolor": "none"})
    fig.synthetic = synthetic
    return fig


def _closed(study: Study, dates: pd.Series) -> Study:
    """The study with an open post window ended at the last period of ``dates``."""
    return study.closed(pd.Timestamp(dates.max())) if len(dates) else study


def _end(w: Window) -> pd.Timestamp:
    if w.end is None:  # only the post window may be open, and _closed ends it
        raise InputError(f"window {w.text} is open-ended: close it at the data's last period first")
    return w.end


def _num(when: pd.Timestamp) -> float:
    """A date as matplotlib's float (days): drawing floats skips the unit conversion of every call."""
    return float(mdates.date2num(pd.Timestamp(when)))


def _years(dates: pd.Series | pd.DatetimeIndex) -> tuple[int, int]:
    d = pd.DatetimeIndex(dates)
    return int(d.min().year), int(d.max().year)


def _style_time_axis(ax, years: tuple[int, int] | pd.Series | pd.DatetimeIndex, width: float) -> None:
    """Year ticks as many as fit ``width`` inches, 8-point labels, light grid, no top/right frame."""
    first, last = years if isinstance(years, tuple) else _years(years)
    fits = max(1, int(width / 0.5))
    base = max(1, math.ceil((last - first + 1) / fits))
    ax.xaxis.set_major_locator(mdates.YearLocator(base=base))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(axis="both", labelsize=TEXT_SIZE)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _rule(ax, which: Literal["x", "y"], at: float, **kw) -> None:
    """A line across the axes at ``at`` on the x (vertical) or y (horizontal) axis; the cheap form of
    ``axvline``/``axhline``, which autoscale every shared axis on each call (a third of the cost of a grid of
    small multiples)."""
    if which == "x":
        ax.add_line(Line2D([at, at], [0, 1], transform=ax.get_xaxis_transform(), **kw))
    else:
        ax.add_line(Line2D([0, 1], [at, at], transform=ax.get_yaxis_transform(), **kw))


def _break_line(ax, study: Study) -> Line2D:
    """The study's break line (:func:`break_mark`) on ``ax``; returns a legend handle for it."""
    when, label = break_mark(study)
    _rule(ax, "x", _num(when), color=OKABE_ITO["black"], linewidth=0.9, linestyle="--", zorder=1)
    return Line2D([], [], color=OKABE_ITO["black"], linestyle="--", linewidth=0.9, label=label)


def _draw_values(ax, dates, values, study: Study, **kw) -> None:
    """A value series: a line, with a point per year for annual data (a few points need marks)."""
    if study.freq == "A":
        kw = {"marker": "o", "markersize": 3.5, **kw}
    ax.plot(dates, values, **kw)


# --------------------------------------------------------------------------- log axes and clipping

_LOG_STEPS: tuple[tuple[float, ...], ...] = (
    (1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
    (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0),
)


def _log_ticks(lo: float, hi: float, *, most: int = 6) -> tuple[float, float, list[float]]:
    """Limits and labelled ticks of a log axis over [lo, hi]: the densest of 1-2-5-like tick sets with at most
    ``most`` ticks inside, and at least 3 (the range widened until there are)."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        lo, hi = 0.5, 2.0
    while True:
        sets = []
        for subs in _LOG_STEPS:
            ticks = [m * 10.0**k for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                     for m in subs]
            sets.append([t for t in ticks if lo <= t * (1 + 1e-9) and t <= hi * (1 + 1e-9)])
        fitting = [t for t in sets if 3 <= len(t) <= most]
        if fitting:
            return lo, hi, fitting[-1]
        if len(sets[0]) > most:  # many decades: every k-th power of ten
            step = math.ceil(len(sets[0]) / most)
            return lo, hi, sets[0][::step]
        if len(sets[-1]) >= 3:
            return lo, hi, sets[-1][:: math.ceil(len(sets[-1]) / most)]
        lo, hi = lo / 1.25, hi * 1.25


def _set_log(ax, which: Literal["x", "y"], lo: float, hi: float) -> None:
    """A log-scaled axis over [lo, hi] (widened for at least three labelled ticks), no minor ticks."""
    lo, hi, ticks = _log_ticks(lo, hi)
    axis = ax.xaxis if which == "x" else ax.yaxis
    if which == "x":
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
    else:
        ax.set_yscale("log")
        ax.set_ylim(lo, hi)
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(ratio_label))
    axis.set_minor_locator(NullLocator())


def _ratio_limits(est: np.ndarray, low: np.ndarray, high: np.ndarray, *, reach: float = 4.0,
                  include_one: bool = True) -> tuple[float, float]:
    """Limits of a ratio axis: every estimate (and 1), intervals up to ``reach`` times beyond the estimates'
    range (further ends are drawn to the frame with an arrow), padded 12% on the log scale."""
    e = np.asarray(est, float)
    e = e[np.isfinite(e) & (e > 0)]
    core = np.concatenate([e, [1.0]]) if include_one or not len(e) else e
    c_lo, c_hi = float(core.min()), float(core.max())
    lo_v = np.asarray(low, float)
    hi_v = np.asarray(high, float)
    lo_v = lo_v[np.isfinite(lo_v) & (lo_v > 0)]
    hi_v = hi_v[np.isfinite(hi_v) & (hi_v > 0)]
    lim_lo = max(float(lo_v.min()) if len(lo_v) else c_lo, c_lo / reach)
    lim_hi = min(float(hi_v.max()) if len(hi_v) else c_hi, c_hi * reach)
    lim_lo, lim_hi = min(lim_lo, c_lo), max(lim_hi, c_hi)
    return lim_lo / 1.12, lim_hi * 1.12


def _index_limits(values: np.ndarray) -> tuple[float, float]:
    """Shared limits of index panels: every value unless a few lie far out (beyond half the 2nd percentile
    or twice the 98th), which are then drawn to the edge and marked."""
    v = values[np.isfinite(values) & (values > 0)]
    if not len(v):
        return 50.0, 200.0
    q_lo, q_hi = np.quantile(v, [0.02, 0.98])
    return max(float(v.min()), q_lo / 2) / 1.1, min(float(v.max()), q_hi * 2) * 1.1


def _clip_marks(ax, pos: np.ndarray, low: np.ndarray, high: np.ndarray, *, horizontal: bool,
                color: str | np.ndarray = GREY, size: float = 30) -> int:
    """Arrows at the frame where an interval runs beyond the axis limits; returns how many ends were cut.

    ``horizontal``: intervals along x (a forest plot, ``pos`` the y positions);
    else along y (``pos`` the x positions). A lower end at 0 (off a log axis)
    or an infinite upper end counts as cut; a missing end (NaN) does not.
    """
    lo_lim, hi_lim = ax.get_xlim() if horizontal else ax.get_ylim()
    low, high = np.asarray(low, float), np.asarray(high, float)
    colors = np.broadcast_to(np.asarray(color, dtype=object), low.shape)
    with np.errstate(invalid="ignore"):
        ends = ((~np.isnan(low) & (low < lo_lim), lo_lim, "<" if horizontal else "v"),
                (~np.isnan(high) & (high > hi_lim), hi_lim, ">" if horizontal else "^"))
    cut = 0
    for beyond, limit, marker in ends:
        idx = np.flatnonzero(beyond)
        if not len(idx):
            continue
        cut += len(idx)
        where = np.full(len(idx), limit)
        xy = (where, pos[idx]) if horizontal else (pos[idx], where)
        ax.scatter(*xy, marker=marker, s=size, color=list(colors[idx]), zorder=6, clip_on=False, linewidth=0)
    return cut


def _interval_ends(est: np.ndarray, low: np.ndarray, high: np.ndarray, lim: tuple[float, float]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Where an interval's line starts and ends on a log axis with limits ``lim``: at the frame when the end
    lies beyond it (0, inf), at the estimate when the end is missing."""
    left = np.clip(np.where(np.isnan(low), est, low), *lim)
    right = np.clip(np.where(np.isnan(high), est, high), *lim)
    return left, right


def _clip_note(n: int) -> str:
    return (f"An arrow at the frame marks an interval end beyond the axis ({n} end{'s' if n > 1 else ''}); "
            "the table gives the full interval.") if n else ""


# --------------------------------------------------------------------------- data selection

def _select(series: pd.DataFrame, *, reporter: int, flow: str, partner: int | None = None) -> pd.DataFrame:
    sel = (series["reporter_code"] == reporter) & (series["flow_code"] == flow)
    if partner is not None:
        sel &= series["partner_code"] == partner
    return series[sel]


def _study_series(series: pd.DataFrame, s: Study) -> pd.DataFrame:
    """The study's reporter and flow, restricted to its ``codes`` (:meth:`Study.select`, control goods kept)."""
    missing = {"reporter_code", "flow_code", "partner_code", "family_id", "date", "usd"} - set(series.columns)
    if missing:
        raise InputError(f"series lacks column(s) {sorted(missing)}")
    return s.select(series)


def _family_names(ids: Sequence[str]) -> dict[str, str]:
    table = registry.family_table(list(ids)).set_index("family_id")["name"]
    return {i: str(table.get(i, i)) for i in ids}


def group_order(present: set[str]) -> list[str]:
    """Groups in registry order, then any others (codes outside the registry) sorted."""
    order = [g for g in registry.groups()["group"] if g in present]
    return order + sorted(present - set(order))


# --------------------------------------------------------------------------- time series

def plot_series(
    series: pd.DataFrame,
    study: Study | None = None,
    *,
    group: str | None = None,
    families: Sequence[str] | None = None,
    findings: pd.DataFrame | None = None,
    ncols: int = 3,
    max_panels: int = 15,
    title: str | None = None,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Small multiples of the focal partner's series (monthly or annual USD), one panel per code family.

    Each panel shows the value per period, the study's break line, the mean
    of its ``pre`` and ``post`` windows as horizontal segments and the
    periods that ``findings`` (the anomaly table) flags for that family.
    Families come from ``families`` or ``group`` (default: every family of the
    focal partner's series, or of the study's ``codes``), ordered as given or
    by post-window value, at most ``max_panels`` (the figure's ``notes`` name
    those left out).

    >>> from analysis.demo import load_demo
    >>> from analysis.series import build_series
    >>> fig = plot_series(build_series(load_demo()), group="optics", focal="Belarus")
    >>> len([ax for ax in fig.axes if ax.get_visible()]) >= 12
    True
    """
    s = Study.resolve(study, **study_args)
    reporter, flow, focal = s.reporter, s.flow, s.focal
    synth = _synthetic([series, findings], synthetic)
    mine = _study_series(without_attrs(series), s)
    s = _closed(s, mine["date"])
    pre_w, post_w = s.pre, s.post
    data = mine[mine["partner_code"] == focal]
    if group is not None:
        data = data[data["group"] == group]
    if families is not None:
        data = data[data["family_id"].isin(list(families))]
    if data.empty:
        raise InputError(f"no {flow_word(flow)} series of reporter {reporter} with partner {focal}"
                         + (f" in group {group!r}" if group else "") + " to plot")
    if families is not None:
        order = [f for f in families if f in set(data["family_id"])]
    else:
        weight = data[data["date"] >= post_w.start].groupby("family_id")["usd"].sum()
        order = list(weight.reindex(data["family_id"].unique()).fillna(0).sort_values(ascending=False).index)
    names = _family_names(order)
    labels = [f"{names[fam]} ({fam})" if names[fam] != fam else fam for fam in order]
    ncols = max(1, min(ncols, len(order)))
    keep = _fitting(labels, ncols, SERIES_PANEL_H, wspace=0.5, most=max_panels)
    left_out = order[keep:]
    order, labels = order[:keep], labels[:keep]
    g = _grid(labels, ncols, SERIES_PANEL_H, wspace=0.5)
    fig, panels = _grid_figure(g)
    marks: dict[str, list[tuple[str, np.ndarray]]] = {}
    if findings is not None and len(findings):
        flags = findings[(findings["partner_code"] == focal) & (findings["reporter_code"] == reporter)
                         & findings["kind"].isin(list(_MARKERS)) & findings["family"].isin(order)]
        for (fam, kind), block in flags.groupby(["family", "kind"]):
            when = mdates.date2num(pd.DatetimeIndex([_period_date(p) for p in block["period"]]))
            marks.setdefault(str(fam), []).append((str(kind), when))
    shown_kinds: set[str] = set()
    span = _years(data["date"])
    windows = [(_num(w.start), _num(_end(w))) for w in (pre_w, post_w)]
    by_family = {fam: (mdates.date2num(b["date"]), b["usd"].to_numpy(float))
                 for fam, b in data.sort_values("date").groupby("family_id", sort=False)}
    break_handle = None
    for ax, fam in zip(panels, order, strict=True):
        x, y = by_family[fam]
        _draw_values(ax, x, y, s, color=FOCAL_COLOR, linewidth=1.0, zorder=3)
        for start, end in windows:
            inside = (x >= start) & (x <= end)
            if inside.any():  # from the window's first period to its last in the data
                ax.add_line(Line2D([float(x[inside].min()), float(x[inside].max())], [float(y[inside].mean())] * 2,
                                   color=CONTROL_COLOR, linewidth=1.8, zorder=4))
        break_handle = _break_line(ax, s)
        for kind, when in marks.get(fam, []):
            shown_kinds.add(kind)
            if kind == "counterfactual_excess":  # a finding about a window, not a month: a bar under it
                for w in when:
                    ax.plot([w, float(x.max())], [0.03, 0.03], transform=ax.get_xaxis_transform(),
                            color=FLAG_COLOR, linewidth=2.5, solid_capstyle="butt", zorder=5)
                continue
            vals = [_value_at(x, y, w) for w in when]
            ax.scatter(when, vals, s=30, marker=_MARKERS.get(kind, "o"), facecolor="none",
                       edgecolor=FLAG_COLOR, linewidth=1.3, zorder=5)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(usd_label))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        _style_time_axis(ax, span, g.panel_w)
    per = per_word(s)
    _grid_ylabel(panels, g, f"USD per {per}")
    handles: list = [Line2D([], [], color=FOCAL_COLOR, linewidth=1.0, label=f"value per {per}"),
                     Line2D([], [], color=CONTROL_COLOR, linewidth=1.8, label="pre / post window mean")]
    if break_handle is not None:
        handles.append(break_handle)
    handles += [Line2D([], [], color=FLAG_COLOR, linewidth=2.5, label="window above its counterfactual")
                if k == "counterfactual_excess" else
                Line2D([], [], marker=m, linestyle="none", markerfacecolor="none", markeredgecolor=FLAG_COLOR,
                       label=k.replace("_", " ")) for k, m in _MARKERS.items() if k in shown_kinds]
    who = flow_phrase(s)
    fig_title = title or (f"{who}: {group_label(group)}" if group else who)
    subtitle = f"Value per {per}, USD, by code family (each panel its own scale)"
    if s.freq == "M" and s.jan_feb != "keep":
        subtitle += "; where January and February are published together each shows half"
    if left_out:
        fig.notes.append(f"Not shown ({len(left_out)} smaller famil{'ies' if len(left_out) > 1 else 'y'} by "
                         f"post-window value): {', '.join(left_out)}.")
        subtitle += f"; the {len(left_out)} smallest not shown"
    detail = f"pre {window_text(pre_w, s)}, post {window_text(post_w, s)}"
    return _finish(fig, title=fig_title, subtitle=subtitle, handles=handles,
                   source=source_line(reporter=reporter, flow=flow, detail=detail, synthetic=synth),
                   synthetic=synth)


def plot_group_index(
    series: pd.DataFrame,
    study: Study | None = None,
    *,
    groups: Sequence[str] | None = None,
    ncols: int = 3,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Value by group (quarterly; yearly for annual studies), focal partner against the sum of the study's
    ``controls``, each indexed to its ``pre`` mean (= 100), log scale: a group that rises for the focal
    partner only pulls its lines apart.

    Controls missing from the data are left out.

    >>> import analysis
    >>> series = analysis.build_series(analysis.load_demo())
    >>> fig = plot_group_index(series, focal="BLR")
    """
    s = Study.resolve(study, **study_args)
    reporter, flow, focal = s.reporter, s.flow, s.focal
    pre_w = s.pre
    pre_end = _end(pre_w)
    synth = _synthetic([series], synthetic)
    data = _study_series(without_attrs(series), s)
    partners = set(data["partner_code"].unique())
    if focal not in partners:
        raise InputError(f"partner {focal} is not in the series")
    controls = [c for c in s.controls if c in partners]
    if not controls:
        raise InputError("none of the control partners is in the series")
    if groups is None:
        groups = group_order(set(data["group"].unique()))
    side = np.where(data["partner_code"] == focal, "focal",
                    np.where(data["partner_code"].isin(controls), "control", ""))
    step = "Q" if s.freq == "M" else "Y"
    data = data.assign(side=side, bucket=data["date"].dt.to_period(step).dt.start_time)
    data = data[data["side"] != ""]
    q = data.groupby(["group", "side", "bucket"], as_index=False)["usd"].sum()
    grid = _all_fitting([group_label(g) for g in groups], ncols, wspace=0.15)
    fig, panels = _grid_figure(grid, sharey=True)
    idx_all = []
    drawn = []
    for g in groups:
        for which in ("control", "focal"):
            block = q[(q["group"] == g) & (q["side"] == which)].sort_values("bucket")
            base = block.loc[(block["bucket"] >= pre_w.start) & (block["bucket"] <= pre_end), "usd"].mean()
            if not base or not np.isfinite(base):
                continue
            idx = (block["usd"] / base * 100).where(block["usd"] > 0).to_numpy(float)
            drawn.append((g, which, mdates.date2num(block["bucket"]), idx))
            idx_all.append(idx)
    lo, hi = _index_limits(np.concatenate(idx_all) if idx_all else np.array([100.0]))
    _set_log(panels[0], "y", lo, hi)
    lo, hi = panels[0].get_ylim()
    break_handle = None
    span = _years(q["bucket"])
    beyond: list[str] = []
    for ax, g in zip(panels, groups, strict=True):
        for gg, which, when, idx in drawn:
            if gg == g:
                color, lw = (FOCAL_COLOR, 1.4) if which == "focal" else (CONTROL_COLOR, 1.1)
                _draw_values(ax, when, idx, s, color=color, linewidth=lw, zorder=3 if which == "focal" else 2)
                if _clip_marks(ax, when, idx, idx, horizontal=False, color=color, size=10):
                    beyond.append(group_label(g))
        _rule(ax, "y", 100, color=GREY, linewidth=0.6, zorder=1)
        break_handle = _break_line(ax, s)
        _style_time_axis(ax, span, grid.panel_w)
    if beyond:
        fig.notes.append(f"Triangles at a panel's edge mark values beyond the shared scale "
                         f"({', '.join(dict.fromkeys(beyond))}).")
    _grid_ylabel(panels, grid, "index, pre-window mean = 100")
    handles: list = [Line2D([], [], color=FOCAL_COLOR, linewidth=1.4, label=area_label(focal)),
                     Line2D([], [], color=CONTROL_COLOR, linewidth=1.1,
                            label=f"{len(controls)} comparison partners combined")]
    if break_handle is not None:
        handles.append(break_handle)
    ctl = ", ".join(area_label(c) for c in controls)
    period = "Quarterly" if s.freq == "M" else "Yearly"
    return _finish(
        fig, title=f"{area_label(reporter)}'s {flow_word(flow)} by group: {area_label(focal)} against the "
                   "comparison partners",
        subtitle=f"{period} value as an index (mean of the pre window {window_text(pre_w, s)} = 100), log scale",
        source=source_line(reporter=reporter, flow=flow, synthetic=synth, detail="comparison partners: " + ctl),
        synthetic=synth, handles=handles)


_MIRROR_FLOW = {"X": "M", "M": "X"}
"""The flow the partner reports for the same trade."""


def plot_mirror(
    series: pd.DataFrame,
    study: Study | None = None,
    *,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Both sides of one trade flow, summed over the study's code families: the reporter's records of its
    ``flow`` with the focal partner, and the focal partner's records of the same trade (imports for the
    reporter's exports and the reverse), with their ratio. Shows where either side's data stop.

    >>> import analysis
    >>> fig = plot_mirror(analysis.build_series(analysis.load_demo()))   # China -> Belarus, 2017-2021
    """
    s = Study.resolve(study, **study_args)
    rep, focal, flow = s.reporter, s.focal, s.flow
    if flow not in _MIRROR_FLOW:
        raise InputError(f"no mirror chart for flow {flow!r}: only exports and imports have a mirror flow")
    back = _MIRROR_FLOW[flow]
    synth = _synthetic([series], synthetic)
    series = without_attrs(series)
    x = _select(series, reporter=rep, flow=flow, partner=focal)
    m = _select(series, reporter=focal, flow=back, partner=rep)
    if x.empty or m.empty:
        raise InputError(f"need {area_label(rep)}'s {flow_word(flow)} with {area_label(focal)} and "
                         f"{area_label(focal)}'s {flow_word(back)} with {area_label(rep)} to draw the mirror chart")
    xs = x.groupby("date")["usd"].sum()
    ms = m.groupby("date")["usd"].sum()
    fig, axes = _new_figure(2, 1, [1.9, 0.85], sharex=True, left=0.75, right=0.15, row_gap=0.12, top=0.1,
                            bottom=0.32)
    ax, ax2 = axes[0, 0], axes[1, 0]
    rn, fn = area_label(rep), area_label(focal)
    toward = {"X": "to", "M": "from"}
    own = f"{rn}'s {flow_word(flow)} {toward[flow]} {fn} ({FLOW_VALUATION[flow]})"
    other = f"{fn}'s {flow_word(back)} {toward[back]} {rn} ({FLOW_VALUATION[back]})"
    _draw_values(ax, xs.index, xs.values, s, color=FOCAL_COLOR, linewidth=1.2)
    _draw_values(ax, ms.index, ms.values, s, color=CONTROL_COLOR, linewidth=1.2)
    handles: list = [Line2D([], [], color=FOCAL_COLOR, linewidth=1.2, label=own),
                     Line2D([], [], color=CONTROL_COLOR, linewidth=1.2, label=other)]
    end_x, end_m = xs.index.max(), ms.index.max()
    if end_m < end_x:
        ax.axvline(end_m, color=GREY, linewidth=0.9, linestyle=":")
        handles.append(Line2D([], [], color=GREY, linewidth=0.9, linestyle=":",
                              label=f"{fn}'s records end {end_m:%Y-%m}"))
    handles.append(_break_line(ax, s))
    _break_line(ax2, s)
    per = per_word(s)
    ax.set_ylabel(f"USD per {per}", fontsize=TEXT_SIZE)
    ax.yaxis.set_major_formatter(FuncFormatter(usd_label))
    ax.set_ylim(bottom=0)
    both = pd.concat({"x": xs, "m": ms}, axis=1).dropna()
    ratio = (both["m"] / both["x"].where(both["x"] > 0)).dropna()
    ratio = ratio[ratio > 0]
    _draw_values(ax2, ratio.index, ratio.values, s, color=OKABE_ITO["black"], linewidth=1.0)
    ax2.axhline(1, color=GREY, linewidth=0.6)
    lo, hi = (float(ratio.min()), float(ratio.max())) if len(ratio) else (0.8, 1.25)
    _set_log(ax2, "y", min(lo, 0.9) / 1.05, max(hi, 1.1) * 1.05)
    ax2.set_ylabel(f"{fn} ÷ {rn}", fontsize=TEXT_SIZE)
    for a in (ax, ax2):
        _style_time_axis(a, xs.index.union(ms.index), PAGE_WIDTH - 0.9)
    ax.tick_params(labelbottom=False)
    cif = ("CIF imports normally exceed FOB exports by freight and insurance" if flow in ("X", "M") else "")
    return _finish(
        fig, title=f"Mirror data: {rn}'s and {fn}'s records of the same trade",
        subtitle=f"Value per {per} summed over the study's code families; lower panel: their ratio, log scale; "
                 + cif,
        source=("Source: SYNTHETIC panel in the UN Comtrade schema (not real trade)" if synth else
                f"Source: UN Comtrade, {rn} and {fn} as reporters") + "; exports FOB, imports CIF, current USD",
        synthetic=synth, handles=handles)


# --------------------------------------------------------------------------- estimates

FOREST_LABEL_W = 2.3
"""Inches of a forest plot's row labels."""
FOREST_FRAME = 2.45
"""Inches a forest plot's title, axis label, legend and source line take, for fitting rows into MAX_HEIGHT."""


def _forest_labels(rows: pd.DataFrame) -> list[str]:
    """``name (code)`` of each family row, wrapped to :data:`FOREST_LABEL_W` (never cut)."""
    name_col = "family_name" if "family_name" in rows.columns else "family"
    labels = [f"{nm} ({fam})" if str(nm) != str(fam) else str(fam)
              for nm, fam in zip(rows[name_col], rows["family"], strict=True)]
    return ["\n".join(wrap_text(t, FOREST_LABEL_W)) for t in labels]


def _row_heights(wrapped: Sequence[str]) -> np.ndarray:
    return np.maximum(np.array([_height(w.count("\n") + 1, TEXT_SIZE, 1.2) + 0.12 for w in wrapped]), 0.25)


def _rows_fitting(heights: np.ndarray, budget: float) -> int:
    """How many of the rows (in order) fit ``budget`` inches (at least one)."""
    return max(1, int(np.searchsorted(np.cumsum(heights), budget, side="right")))


def plot_relative_ratios(
    compare: pd.DataFrame,
    study: Study | None = None,
    *,
    top: int = 20,
    alpha: float = 0.05,
    control_kinds: Sequence[str] = CONTROL_KINDS,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Forest plot of the relative ratio (focal partner's post/pre ratio over the comparison partners') with
    its interval, log scale, for whatever families were compared: the ``top`` families by relative ratio, then
    (when the table has registry kinds) the control goods of ``control_kinds`` in their own colour as a check.
    Filled markers: q-value below ``alpha``. A tick marks the focal partner's own post/pre ratio.

    Takes the table of :func:`analysis.compare` (compare.csv); the study names the focal partner (its rows
    are drawn), the reporter and the flow.

    >>> import analysis
    >>> result = analysis.compare(analysis.build_series(analysis.load_demo()))
    >>> fig = plot_relative_ratios(result.table, result.study, top=15)
    """
    s = Study.resolve(study, **study_args)
    focal = s.focal
    need = {"partner_code", "family", "relative_ratio", "relative_low", "relative_high", "relative_q_value"}
    missing = need - set(compare.columns)
    if missing:
        raise InputError(f"compare table lacks column(s) {sorted(missing)}")
    synth = _synthetic([compare], synthetic)
    compare = without_attrs(compare)
    data = compare[(compare["partner_code"] == focal) & np.isfinite(compare["relative_ratio"].astype(float))
                   & (compare["relative_ratio"] > 0)]
    if data.empty:
        raise InputError(f"no relative ratios for partner {focal} to plot")
    is_check = data["kind"].isin(list(control_kinds)) if "kind" in data.columns else pd.Series(False, data.index)
    main = data[~is_check].sort_values("relative_ratio", ascending=False).head(top)
    checks = data[is_check].sort_values("relative_ratio", ascending=False).head(max(3, top // 4))
    main_labels, check_labels = _forest_labels(main), _forest_labels(checks)
    gap = 0.3 if len(checks) and len(main) else 0.0
    room = MAX_HEIGHT - FOREST_FRAME - gap - float(_row_heights(check_labels).sum())
    keep = _rows_fitting(_row_heights(main_labels), room) if len(main) else 0
    main, main_labels = main.head(keep), main_labels[:keep]
    rows = pd.concat([main, checks])
    wrapped = main_labels + check_labels
    check_row = np.r_[np.zeros(len(main), bool), np.ones(len(checks), bool)]
    heights = _row_heights(wrapped)
    y = np.cumsum(heights) - heights / 2 + np.where(check_row, gap, 0.0) + 0.05
    axes_h = float(heights.sum()) + gap
    fig, axes = _new_figure(1, 1, axes_h + 0.1, left=FOREST_LABEL_W + 0.2, right=0.2, top=0.08, bottom=0.55)
    ax = axes[0, 0]
    sig = (rows["relative_q_value"] < alpha).to_numpy()
    lo = rows["relative_low"].to_numpy(float)
    hi = rows["relative_high"].to_numpy(float)
    est = rows["relative_ratio"].to_numpy(float)
    own = rows["ratio"].to_numpy(float) if "ratio" in rows.columns else np.full(len(rows), np.nan)
    color = np.where(check_row, CONTROL_COLOR, np.where(sig, FOCAL_COLOR, GREY))
    lim_lo, lim_hi = _ratio_limits(np.r_[est, own[np.isfinite(own) & (own > 0)]], lo, hi)
    _set_log(ax, "x", lim_lo, lim_hi)
    lim_lo, lim_hi = ax.get_xlim()
    ax.hlines(y, *_interval_ends(est, lo, hi, (lim_lo, lim_hi)), color=color, linewidth=1.6)
    filled = sig
    ax.scatter(est[filled], y[filled], color=list(color[filled]), s=26, zorder=3)
    ax.scatter(est[~filled], y[~filled], facecolor="white", edgecolor=list(color[~filled]), s=26, zorder=3,
               linewidth=1.2)
    ok = np.isfinite(own) & (own > 0)
    ax.scatter(np.clip(own[ok], lim_lo, lim_hi), y[ok], marker="|", color=OKABE_ITO["black"], s=50, zorder=2)
    cut = _clip_marks(ax, y, lo, hi, horizontal=True, color=color)
    cut += int(((own[ok] < lim_lo) | (own[ok] > lim_hi)).sum())
    ax.axvline(1, color=OKABE_ITO["black"], linewidth=0.8)
    if gap:
        ax.axhline(y[~check_row].max() + (y[check_row].min() - y[~check_row].max()) / 2, color=GREY,
                   linewidth=0.6, linestyle=":")
    ax.set_ylim(axes_h + 0.1, 0)
    ax.set_yticks(y, wrapped, fontsize=TEXT_SIZE, linespacing=1.1)
    fname = area_label(focal)
    ax.set_xlabel("\n".join(wrap_text(f"relative ratio, log scale: {fname}'s post/pre change ÷ the comparison "
                                      "partners' (1 = the same change)", PAGE_WIDTH - FOREST_LABEL_W - 0.5)),
                  fontsize=TEXT_SIZE)
    ax.tick_params(axis="x", labelsize=TEXT_SIZE)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles: list = [
        Line2D([], [], marker="o", color=FOCAL_COLOR, linestyle="-", linewidth=1.6, markersize=5,
               label=f"q < {alpha:g} (Benjamini-Hochberg)"),
        Line2D([], [], marker="o", color=GREY, markerfacecolor="white", linestyle="-", linewidth=1.6, markersize=5,
               label=f"q ≥ {alpha:g}"),
        Line2D([], [], marker="|", color=OKABE_ITO["black"], linestyle="none", markersize=8,
               label=f"{fname}'s own post/pre ratio")]
    if len(checks):
        handles.append(Line2D([], [], marker="o", color=CONTROL_COLOR, linestyle="-", linewidth=1.6, markersize=5,
                              label=f"control goods (a check; filled: q < {alpha:g})"))
    if cut:
        fig.notes.append(_clip_note(cut))
    level = int(round((1 - alpha) * 100))
    shown = f"the {len(main)} families with the largest relative ratio" if len(data[~is_check]) > len(main) else \
        f"all {len(main)} families"
    subtitle = f"{shown.capitalize()}, with {level}% intervals" + (
        f"; below the dotted line the {len(checks)} control-goods families" if len(checks) and len(main) else "")
    return _finish(
        fig, title=f"Is it {fname}-specific? Relative change of {area_label(s.reporter)}'s {flow_word(s.flow)} "
                   "by code family",
        subtitle=subtitle,
        source=source_line(reporter=s.reporter, flow=s.flow, synthetic=synth,
                           detail=f"mean value per {per_word(s)}, post window over pre window"),
        synthetic=synth, handles=handles)


def plot_transit(
    compare: pd.DataFrame,
    study: Study | None = None,
    *,
    top: int = 15,
    alpha: float = 0.05,
    control_kinds: Sequence[str] = CONTROL_KINDS,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Does the focal partner move with the transit routes, or alone? Per code family, three post/pre ratios
    on one log axis: the focal partner's (``ratio`` with ``ratio_low``-``ratio_high``), the comparison
    partners' (``control_ratio``) and the transit partners' (``transit_ratio``, from
    :mod:`analysis.robustness`), all read from the compare table.

    Families: those asked about (not ``control_kinds``) with a focal ratio, the ``top`` largest relative
    ratios (those with q < ``alpha`` first).
    """
    s = Study.resolve(study, **study_args)
    focal = s.focal
    need = {"partner_code", "family", "ratio", "ratio_low", "ratio_high", "control_ratio", "transit_ratio",
            "relative_ratio", "relative_q_value"}
    missing = need - set(compare.columns)
    if missing:
        raise InputError(f"compare table lacks column(s) {sorted(missing)}")
    synth = _synthetic([compare], synthetic)
    compare = without_attrs(compare)
    data = compare[(compare["partner_code"] == focal) & np.isfinite(compare["ratio"].astype(float))]
    if "kind" in data.columns:
        data = data[~data["kind"].isin(list(control_kinds))]
    if data.empty or not np.isfinite(data["transit_ratio"].astype(float)).any():
        raise InputError(f"no transit ratios for partner {focal} to plot")
    data = data.assign(_sig=(data["relative_q_value"] < alpha) & (data["relative_ratio"] > 1))
    data = data.sort_values(["_sig", "relative_ratio"], ascending=[False, False], na_position="last").head(top)
    wrapped = _forest_labels(data)
    keep = _rows_fitting(_row_heights(wrapped), MAX_HEIGHT - FOREST_FRAME)
    data, wrapped = data.head(keep), wrapped[:keep]
    heights = _row_heights(wrapped)
    y = np.cumsum(heights) - heights / 2 + 0.05
    axes_h = float(heights.sum())
    fig, axes = _new_figure(1, 1, axes_h + 0.1, left=FOREST_LABEL_W + 0.2, right=0.2, top=0.08, bottom=0.55)
    ax = axes[0, 0]
    focal_r = data["ratio"].to_numpy(float)
    lo, hi = data["ratio_low"].to_numpy(float), data["ratio_high"].to_numpy(float)
    base = data["control_ratio"].to_numpy(float)
    trans = data["transit_ratio"].to_numpy(float)
    points = np.r_[focal_r, base, trans]
    lim_lo, lim_hi = _ratio_limits(points, lo, hi)
    _set_log(ax, "x", lim_lo, lim_hi)
    lim_lo, lim_hi = ax.get_xlim()
    ax.hlines(y - 0.06, *_interval_ends(focal_r, lo, hi, (lim_lo, lim_hi)), color=FOCAL_COLOR, linewidth=1.5)
    shown = np.isfinite(focal_r) & (focal_r > 0)
    ax.scatter(focal_r[shown], y[shown] - 0.06, color=FOCAL_COLOR, s=28, zorder=4)
    cut = _clip_marks(ax, y - 0.06, lo, hi, horizontal=True, color=FOCAL_COLOR)
    for vals, color, marker in ((base, CONTROL_COLOR, "s"), (trans, TRANSIT_COLOR, "D")):
        ok = np.isfinite(vals) & (vals > 0)
        ax.scatter(np.clip(vals[ok], lim_lo, lim_hi), y[ok] + 0.06, color=color, marker=marker, s=22, zorder=3)
        cut += int(((vals[ok] < lim_lo) | (vals[ok] > lim_hi)).sum())
    no_transit = int((~np.isfinite(trans)).sum())
    ax.axvline(1, color=OKABE_ITO["black"], linewidth=0.8)
    ax.set_ylim(axes_h + 0.1, 0)
    ax.set_yticks(y, wrapped, fontsize=TEXT_SIZE, linespacing=1.1)
    ax.set_xlabel("post/pre ratio of the value per " + per_word(s) + ", log scale (1 = no change)",
                  fontsize=TEXT_SIZE)
    ax.tick_params(axis="x", labelsize=TEXT_SIZE)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fname = area_label(focal)
    level = int(round((1 - alpha) * 100))
    n_ctl = len(s.controls)
    handles = [Line2D([], [], marker="o", color=FOCAL_COLOR, linewidth=1.5, markersize=5,
                      label=f"{fname} ({level}% interval)"),
               Line2D([], [], marker="s", color=CONTROL_COLOR, linestyle="none", markersize=5,
                      label=f"comparison partners ({n_ctl})"),
               Line2D([], [], marker="D", color=TRANSIT_COLOR, linestyle="none", markersize=5,
                      label=f"transit partners ({len(s.transit)})")]
    if cut:
        fig.notes.append(_clip_note(cut))
    if no_transit:
        fig.notes.append(f"{no_transit} of the {len(data)} families have no transit ratio (too little trade of "
                         "the transit partners in a window): no green mark.")
    tnames = ", ".join(area_label(c) for c in s.transit)
    return _finish(
        fig, title=f"With the transit routes, or alone? {fname}'s change beside the transit partners'",
        subtitle=f"Post/pre ratio of {area_label(s.reporter)}'s {flow_word(s.flow)} by code family: {fname}, the "
                 "comparison partners pooled and the transit partners pooled",
        source=source_line(reporter=s.reporter, flow=s.flow, synthetic=synth, detail="transit partners: " + tnames),
        synthetic=synth, handles=handles)


def plot_event_study(
    event_study: pd.DataFrame,
    study: Study | None = None,
    *,
    groups: Sequence[str] | None = None,
    ncols: int = 3,
    alpha: float = 0.05,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Event-study coefficients by group: the focal partner's value relative to the controls in each
    quarter, against the reference period (ratio scale, 1 = no difference), with intervals.

    Takes the ``event_study`` table of :func:`analysis.did` (event_study.csv): one row per ``group`` and
    ``quarter`` with ``ratio``, ``ratio_low`` and ``ratio_high`` (the reference quarter has ratio 1); the
    study names the focal partner, the reporter, the flow and the break.

    >>> import analysis
    >>> result = analysis.did(analysis.build_series(analysis.load_demo()))
    >>> fig = plot_event_study(result.event_study, result.study, groups=["optics", "control_cars"])
    """
    s = Study.resolve(study, **study_args)
    synth = _synthetic([event_study], synthetic)
    es = _event_frame(without_attrs(event_study))
    es["x"] = mdates.date2num(es["date"])
    present = set(es["group"].unique())
    groups = [g for g in (groups if groups is not None else group_order(present)) if g in present]
    if not groups:
        raise InputError("the event-study table has no group to plot")
    grid = _all_fitting([group_label(g) for g in groups], ncols, wspace=0.15)
    fig, panels = _grid_figure(grid, sharey=True)
    shown = es[es["group"].isin(groups)]
    lim_lo, lim_hi = _ratio_limits(shown["ratio"].to_numpy(float), shown["low"].to_numpy(float),
                                   shown["high"].to_numpy(float), reach=4.0)
    _set_log(panels[0], "y", lim_lo, lim_hi)
    lim_lo, lim_hi = panels[0].get_ylim()
    cut = 0
    break_handle = None
    span = _years(es["date"])
    by_group = dict(list(es.sort_values("date").groupby("group", sort=False)))
    for ax, g in zip(panels, groups, strict=True):
        b = by_group[g]
        x, low, high = b["x"].to_numpy(float), b["low"].to_numpy(float), b["high"].to_numpy(float)
        ax.fill_between(x, np.clip(low, lim_lo, lim_hi), np.clip(high, lim_lo, lim_hi), color=BAND_COLOR,
                        alpha=0.35, linewidth=0)
        ax.plot(x, b["ratio"].to_numpy(float), color=FOCAL_COLOR, linewidth=1.1, marker="o", markersize=2.2)
        if "reference" in b.columns:
            ref = b["reference"].astype(bool).to_numpy()
            ax.scatter(x[ref], b["ratio"].to_numpy(float)[ref], s=22, facecolor="white",
                       edgecolor=OKABE_ITO["black"], zorder=4)
        _rule(ax, "y", 1, color=GREY, linewidth=0.7)
        break_handle = _break_line(ax, s)
        cut += _clip_marks(ax, x, low, high, horizontal=False, color=FOCAL_COLOR, size=10)
        _style_time_axis(ax, span, grid.panel_w)
    _grid_ylabel(panels, grid, "ratio to the reference quarter")
    level = f"{(1 - alpha) * 100:g}%"
    ref_q = ""
    if "reference" in es.columns and es["reference"].astype(bool).any() and "quarter" in es.columns:
        ref_q = str(es.loc[es["reference"].astype(bool), "quarter"].iloc[0])
    handles: list = [Line2D([], [], color=FOCAL_COLOR, marker="o", markersize=3, linewidth=1.1, label="estimate"),
                     Patch(color=BAND_COLOR, alpha=0.35, label=f"{level} interval"),
                     Line2D([], [], marker="o", linestyle="none", markerfacecolor="white",
                            markeredgecolor=OKABE_ITO["black"], label=f"reference quarter {ref_q}".strip())]
    if break_handle is not None:
        handles.append(break_handle)
    if cut:
        fig.notes.append(_clip_note(cut))
    return _finish(
        fig, title=f"Event study: {area_label(s.focal)} against the comparison partners, by group",
        subtitle=f"Quarterly value relative to the comparison partners, against the reference quarter (ratio, "
                 f"log scale), {level} intervals",
        source=source_line(reporter=s.reporter, flow=s.flow, synthetic=synth,
                           detail="Poisson pseudo-maximum-likelihood event study"),
        synthetic=synth, handles=handles)


def _event_frame(event_study: pd.DataFrame) -> pd.DataFrame:
    """Normalise an event-study table to ``group, date, ratio, low, high`` (ratio scale).

    Accepts ``quarter`` (``"2022Q1"``), ``date`` or ``period`` for the time, and ``ratio_low/ratio_high`` or
    ``low/high`` for the interval.
    """
    es = event_study.copy()
    if "group" not in es.columns:
        raise InputError("the event-study table has no group column")
    if "date" in es.columns:
        es["date"] = pd.to_datetime(es["date"])
    elif "quarter" in es.columns:
        es["date"] = pd.PeriodIndex(es["quarter"].astype(str), freq="Q").start_time
    elif "period" in es.columns:
        es["date"] = pd.to_datetime(es["period"].astype(str))
    else:
        raise InputError("the event-study table has no date, quarter or period column")
    if "ratio" not in es.columns:
        raise InputError("the event-study table has no ratio column")
    es["low"] = es["ratio_low"] if "ratio_low" in es.columns else es["low"]
    es["high"] = es["ratio_high"] if "ratio_high" in es.columns else es["high"]
    return es


# --------------------------------------------------------------------------- one series, one finding

def _single_axes() -> tuple[TradeflowsFigure, Axes]:
    """A figure with one time-series panel across the page column."""
    fig, axes = _new_figure(1, 1, 2.3, left=0.7, right=0.15, top=0.1, bottom=0.32)
    return fig, axes[0, 0]


def _draw_band(ax, band: pd.DataFrame) -> list:
    """The counterfactual band (``expected``, ``low``, ``high``) on ``ax``; returns legend handles."""
    if not band["expected"].notna().any():
        return []
    ax.fill_between(band["date"], band["low"], band["high"], color=BAND_COLOR, alpha=0.35, linewidth=0)
    ax.plot(band["date"], band["expected"], color=OKABE_ITO["black"], linewidth=1.0, linestyle=(0, (4, 2)))
    return [Patch(color=BAND_COLOR, alpha=0.35, label="expected range (95% band)"),
            Line2D([], [], color=OKABE_ITO["black"], linewidth=1.0, linestyle=(0, (4, 2)),
                   label="expected (counterfactual)")]


def plot_counterfactual(
    band: pd.DataFrame,
    study: Study | None = None,
    *,
    title: str,
    flagged: Sequence[str | pd.Timestamp] = (),
    note: str = "",
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """One series against its counterfactual: observed value, the expected path and its band (the table of
    :func:`analysis.anomalies.counterfactual_band`: ``date, observed, expected, low, high``), with the
    ``flagged`` periods circled. The study names the reporter, flow and break for the labels.

    >>> import analysis
    >>> series = analysis.build_series(analysis.load_demo())
    >>> band = analysis.counterfactual_band(series, focal="Belarus", family="HS901510")
    >>> fig = plot_counterfactual(band, focal="Belarus", title="Rangefinders (HS901510)", flagged=["2023-06"])
    """
    s = Study.resolve(study, **study_args)
    need = {"date", "observed", "expected", "low", "high"}
    if need - set(band.columns):
        raise InputError(f"counterfactual band lacks column(s) {sorted(need - set(band.columns))}")
    b = band.sort_values("date")
    fig, ax = _single_axes()
    handles = _draw_band(ax, b)
    _draw_values(ax, b["date"], b["observed"], s, color=FOCAL_COLOR, linewidth=1.2)
    handles.insert(0, Line2D([], [], color=FOCAL_COLOR, linewidth=1.2, label="observed"))
    if len(flagged):
        when = pd.DatetimeIndex([_period_date(f) if isinstance(f, str) else pd.Timestamp(f) for f in flagged])
        vals = b.set_index("date")["observed"].reindex(when)
        ax.scatter(when, vals, s=60, facecolor="none", edgecolor=FLAG_COLOR, linewidth=1.6, zorder=5)
        handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor=FLAG_COLOR,
                              markersize=7, label="flagged"))
    handles.append(_break_line(ax, s))
    _value_axis(ax, s, b["date"])
    synth = _synthetic([band], synthetic)
    return _finish(fig, title=title, subtitle=note, handles=handles, synthetic=synth,
                   source=source_line(reporter=s.reporter, flow=s.flow, synthetic=synth))


def _value_axis(ax, s: Study, dates: pd.Series | tuple[int, int], unit: str = "USD") -> None:
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(usd_label))
    ax.set_ylabel(f"{unit} per {per_word(s)}" if unit == "USD" else unit, fontsize=TEXT_SIZE)
    _style_time_axis(ax, dates, PAGE_WIDTH - 0.85)


def plot_finding(
    series: pd.DataFrame,
    finding: pd.Series | Mapping[str, object],
    study: Study | None = None,
    *,
    band: pd.DataFrame | None = None,
    title: str | None = None,
    subtitle: str = "",
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """One anomaly finding on its series, marked where the test put it (see :data:`FindingKind`).

    ``series``: the series rows (``date``, ``usd``, ``kg``) of the finding's
    family for the focal partner (other rows are filtered out); ``finding``:
    one row of findings.csv. The marks follow the kind:

    - ``level_shift``: the break period (dotted line), the mean level from it
      on (``observed_usd``) and the level without the shift (``expected_usd``,
      with its interval ``expected_low``-``expected_high``);
    - ``spike``: the flagged period circled, with its expected value and 95%
      range as an error bar;
    - ``new_flow``: the first period of the flow circled, and the pre and post
      window means (``expected_usd``, ``observed_usd``);
    - ``unit_value``: the USD/kg series with the break period and the levels
      before and after;
    - ``counterfactual_excess``: the counterfactual ``band``
      (:func:`analysis.anomalies.counterfactual_band`) over the tested window,
      shaded, with the periods above the band marked.

    Only the counterfactual finding gets a band: a band projected over the
    post window says nothing about a spike or a shift elsewhere.
    """
    s = Study.resolve(study, **study_args)
    f = pd.Series(dict(finding))
    kind = str(f.get("kind", ""))
    if kind not in CHARTED_KINDS:
        raise InputError(f"finding kind {kind!r} has no chart; charted kinds: {', '.join(CHARTED_KINDS)}")
    synth = _synthetic([series, band], synthetic)
    data = without_attrs(series)
    if "partner_code" in data.columns:
        data = data[data["partner_code"] == s.focal]
    if "family_id" in data.columns and "family" in f:
        data = data[data["family_id"] == f["family"]]
    if data.empty:
        raise InputError(f"no series of family {f.get('family')} for partner {s.focal} to draw the finding on")
    data = data.sort_values("date")
    s = _closed(s, data["date"])
    when = _period_date(f["period"])
    x = mdates.date2num(data["date"])
    at, first, last = _num(when), float(x.min()), float(x.max())
    fig, ax = _single_axes()
    unit = "USD"
    handles: list = []
    obs, exp = float(f.get("observed_usd", np.nan)), float(f.get("expected_usd", np.nan))
    lo, hi = float(f.get("expected_low", np.nan)), float(f.get("expected_high", np.nan))
    label_at = f"{when:%Y-%m}" if s.freq == "M" else f"{when:%Y}"
    value_fmt = usd_label
    if kind == "unit_value":
        kg = data["kg"].where(data["kg"] > 0) if "kg" in data.columns else pd.Series(np.nan, index=data.index)
        values = (data["usd"] / kg).to_numpy(float)
        unit = "USD per kg"
        value_fmt = _unit_value_label
    else:
        values = data["usd"].to_numpy(float)
    _draw_values(ax, x, values, s, color=FOCAL_COLOR, linewidth=1.1, zorder=3)
    handles.append(Line2D([], [], color=FOCAL_COLOR, linewidth=1.1,
                          label="USD per kg" if kind == "unit_value" else f"value per {per_word(s)}"))
    if kind in ("level_shift", "unit_value"):
        ax.axvline(at, color=FLAG_COLOR, linewidth=1.3, linestyle=":", zorder=4)
        handles.append(Line2D([], [], color=FLAG_COLOR, linewidth=1.3, linestyle=":", label=f"break {label_at}"))
        if kind == "unit_value":
            if np.isfinite(exp):
                ax.hlines(exp, first, at, color=OKABE_ITO["black"], linewidth=1.6, linestyle=(0, (4, 2)), zorder=5)
                handles.append(Line2D([], [], color=OKABE_ITO["black"], linewidth=1.6, linestyle=(0, (4, 2)),
                                      label=f"level before: {value_fmt(exp)}"))
        else:
            if np.isfinite(lo) and np.isfinite(hi):
                ax.fill_between([at, last], [lo, lo], [hi, hi], color=BAND_COLOR, alpha=0.35, linewidth=0, zorder=2)
                handles.append(Patch(color=BAND_COLOR, alpha=0.35, label="95% interval of the level without it"))
            if np.isfinite(exp):
                ax.hlines(exp, at, last, color=OKABE_ITO["black"], linewidth=1.6, linestyle=(0, (4, 2)), zorder=5)
                handles.append(Line2D([], [], color=OKABE_ITO["black"], linewidth=1.6, linestyle=(0, (4, 2)),
                                      label=f"level without the shift: {value_fmt(exp)}"))
        if np.isfinite(obs):
            ax.hlines(obs, at, last, color=FLAG_COLOR, linewidth=2.0, zorder=5)
            handles.append(Line2D([], [], color=FLAG_COLOR, linewidth=2.0,
                                  label=f"level from {label_at}: {value_fmt(obs)}"))
    elif kind == "spike":
        y = obs if np.isfinite(obs) else _value_at(x, values, at)
        ax.scatter([at], [y], s=80, facecolor="none", edgecolor=FLAG_COLOR, linewidth=1.8, zorder=6)
        handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor=FLAG_COLOR,
                              markersize=8, label=f"spike {label_at}: {value_fmt(y)}"))
        if np.isfinite(exp):
            err = [[exp - lo if np.isfinite(lo) else 0], [hi - exp if np.isfinite(hi) else 0]]
            ax.errorbar([at], [exp], yerr=err, fmt="_", color=OKABE_ITO["black"], capsize=3, markersize=10,
                        linewidth=1.2, zorder=5)
            rng = f" (95% {value_fmt(lo)}-{value_fmt(hi)})" if np.isfinite(lo) and np.isfinite(hi) else ""
            handles.append(Line2D([], [], marker="_", color=OKABE_ITO["black"], markersize=10, linewidth=1.2,
                                  label=f"expected {value_fmt(exp)}{rng}"))
    elif kind == "new_flow":
        ax.scatter([at], [_value_at(x, values, at)], s=80, facecolor="none", edgecolor=FLAG_COLOR, linewidth=1.8,
                   zorder=6)
        handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor=FLAG_COLOR,
                              markersize=8, label=f"first {per_word(s)} of the flow: {label_at}"))
        for w, level in ((s.pre, exp), (s.post, obs)):
            inside = x[(x >= _num(w.start)) & (x <= _num(_end(w)))]
            if np.isfinite(level) and len(inside):
                ax.hlines(level, float(inside.min()), float(inside.max()), color=CONTROL_COLOR, linewidth=2.0,
                          zorder=5)
        handles.append(Line2D([], [], color=CONTROL_COLOR, linewidth=2.0,
                              label=f"window means: pre {value_fmt(exp)}, post {value_fmt(obs)}"))
    else:  # counterfactual_excess
        if band is None or band.empty or not band["expected"].notna().any():
            raise InputError(f"a counterfactual finding ({f.get('family')}) needs its band to be drawn")
        b = without_attrs(band).sort_values("date")
        b["date"] = mdates.date2num(b["date"])
        handles += _draw_band(ax, b)
        ax.axvspan(at, min(_num(_end(s.post)), last), color=GREY, alpha=0.08, linewidth=0, zorder=0)
        handles.append(Patch(color=GREY, alpha=0.15, label=f"window tested: {label_at} on"))
        above = b[(b["date"] >= at) & (b["observed"] > b["high"])]
        if len(above):
            ax.scatter(above["date"], above["observed"], s=18, color=FLAG_COLOR, zorder=6)
            handles.append(Line2D([], [], marker="o", linestyle="none", color=FLAG_COLOR, markersize=4,
                                  label=f"above the band ({len(above)} {per_word(s)}s)"))
    handles.append(_break_line(ax, s))
    _value_axis(ax, s, _years(data["date"]), unit)
    if kind == "unit_value":
        ax.yaxis.set_major_formatter(FuncFormatter(_unit_value_label))
    name = f"{f.get('family_name', f.get('family'))} ({f.get('family')})"
    return _finish(fig, title=title or name, subtitle=subtitle, handles=handles, synthetic=synth,
                   source=source_line(reporter=s.reporter, flow=s.flow, synthetic=synth))


def _value_at(x: np.ndarray, values: np.ndarray, at: float) -> float:
    """The series' value at date ``at`` (NaN when the series has no such period)."""
    hit = np.flatnonzero(np.isclose(x, at))
    return float(values[hit[0]]) if len(hit) else float("nan")


def _unit_value_label(value: float, _pos: object = None) -> str:
    """USD per kg: 0.62, 12.5, 470, 1.2k."""
    if not np.isfinite(value):
        return "n/a"
    return usd_label(value) if abs(value) >= 1000 else f"{value:.3g}"


# --------------------------------------------------------------------------- output

def figure_image(fig: Figure) -> Image.Image:
    """The figure rendered once at :data:`DPI` on white, as an RGB image (for the PNG and any copy of it)."""
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(DPI)
    # glyph hinting serves small screen sizes; at 200 dpi it only costs (a quarter of the drawing time)
    with matplotlib.rc_context({"text.hinting": "no_hinting"}):
        canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(np.ascontiguousarray(rgba[..., :3]), mode="RGB")


def png_bytes(image: Image.Image) -> bytes:
    """The PNG of a rendered figure (:func:`figure_image`): 200 dpi, full colour, every pixel as drawn.

    The same bytes are the file in figures/ and the image embedded in the
    HTML report. Not a palette: a 256-colour palette turned the light grey of
    a tested window into white (and a caption that names the grey would not
    match the mark). zlib level 2: as fast as level 1 and a little smaller;
    level 6 costs 40% more time for the same size.
    """
    buf = io.BytesIO()
    image.save(buf, format="PNG", dpi=(DPI, DPI), compress_level=2)
    return buf.getvalue()


def svg_bytes(fig: Figure) -> bytes:
    """The figure as SVG (vector: for pasting into a document at any size); no date and fixed element ids in
    it, so the same figure gives the same bytes in any process."""
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "tradeflows"}):
        fig.savefig(buf, format="svg", facecolor="white", metadata={"Date": None})
    return buf.getvalue()


def save_figure(fig: Figure, folder: str | Path, name: str, *, svg: bool = True,
                image: Image.Image | None = None) -> dict[str, Path]:
    """Write ``fig`` as ``folder/name.png`` (200 dpi, :func:`png_bytes`) and, with ``svg``, ``folder/name.svg``;
    return the paths.

    ``image``: the figure already rendered by :func:`figure_image` (rendered here otherwise), so a caller
    that also needs the pixels renders once.

    >>> paths = save_figure(fig, "figures", "optics")   # doctest: +SKIP
    >>> sorted(paths)                                    # doctest: +SKIP
    ['png', 'svg']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"png": folder / f"{name}.png"}
    paths["png"].write_bytes(png_bytes(image or figure_image(fig)))
    if svg:
        paths["svg"] = folder / f"{name}.svg"
        paths["svg"].write_bytes(svg_bytes(fig))
    return paths


__all__ = [
    "OKABE_ITO", "EVENT_DATE", "DPI", "SYNTHETIC_LABEL", "PAGE_WIDTH", "MIN_FONT", "CHARTED_KINDS", "FindingKind",
    "area_label", "group_label", "group_order", "flow_phrase", "break_mark", "source_line", "usd_label", "ratio_label",
    "wrap_text", "text_width",
    "plot_series", "plot_group_index", "plot_mirror", "plot_relative_ratios", "plot_transit", "plot_event_study",
    "plot_counterfactual", "plot_finding", "figure_image", "png_bytes", "svg_bytes", "save_figure",
]
