"""Where things go on a figure, shared by every kind of figure: panels and grids of small multiples,
the frame around the body (:func:`_finish`: title, legend, source line, the synthetic watermark), time
axes, log axes and intervals clipped at the frame, and what a figure selects from its frames.

Fixed geometry in inches rather than a layout engine (see :func:`_new_figure`). Apart from the figures
themselves: one module per kind of figure uses these helpers (package-private, underscore names), and
nothing outside :mod:`analysis.plots` does.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from .. import registry
from ..errors import InputError
from ..periods import Window
from ..schema import is_synthetic
from ..study import Study
from .style import (
    DPI,
    FLAG_COLOR,
    FRAME_ROOM,
    GREY,
    MAX_HEIGHT,
    MIN_FONT,
    OKABE_ITO,
    PAGE_WIDTH,
    SHARED_PANEL_H,
    SUBTITLE_SIZE,
    SYNTHETIC_LABEL,
    TEXT_SIZE,
    TITLE_SIZE,
    TradeflowsFigure,
    _height,
    break_mark,
    ratio_label,
    text_width,
    wrap_text,
)

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


def _value_at(x: np.ndarray, values: np.ndarray, at: float) -> float:
    """The series' value at date ``at`` (NaN when the series has no such period)."""
    hit = np.flatnonzero(np.isclose(x, at))
    return float(values[hit[0]]) if len(hit) else float("nan")
