"""Figures: matplotlib Figures drawn from tidy DataFrames (series, compare, findings, event study, bands).

Plotting is kept apart from estimation: every function here takes frames that
an analysis step already produced and only draws them. Who and when (reporter,
flow, focal partner, comparison partners, windows) come from a
:class:`~analysis.study.Study`, given as ``study`` or as its fields in
keywords (``focal="BLR"``), resolved by :meth:`Study.resolve`; an open post
window ends at the data's last month. Each figure carries a
title, axis labels with units, a source line under the plot and, when its
input is synthetic, a visible ``SYNTHETIC DATA`` watermark and label. Colours
are the Okabe-Ito palette, which stays distinguishable with the common forms
of colour blindness.

:func:`save_figure` writes a figure as PNG (200 dpi) and SVG.
"""
from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Unpack

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from . import registry
from .countries import CHINA
from .errors import InputError
from .periods import Window
from .schema import is_synthetic
from .study import Study, StudyArgs

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
"""The Okabe-Ito colour-blind-safe palette."""

FOCAL_COLOR = OKABE_ITO["blue"]
CONTROL_COLOR = OKABE_ITO["orange"]
FLAG_COLOR = OKABE_ITO["vermillion"]
BAND_COLOR = OKABE_ITO["sky"]
GREY = "#7f7f7f"

EVENT_DATE = pd.Timestamp("2022-02-24")
"""Russia's full-scale invasion of Ukraine, launched in part from Belarus: the line on every time chart."""

DPI = 200
SYNTHETIC_LABEL = "SYNTHETIC DATA"

_FLOW_WORD = {"X": "exports", "M": "imports"}
_VALUATION = {"X": "FOB", "M": "CIF"}
_MARKERS = {"level_shift": "^", "spike": "o", "counterfactual_excess": "D", "new_flow": "s", "unit_value": "P"}
"""Marker of each finding kind on the series charts (mirror gaps concern the partner's records: not marked)."""


class TradeflowsFigure(Figure):
    """A matplotlib Figure that shows itself in Jupyter whatever the backend (``_repr_png_``).

    Figures are made without pyplot, so drawing many of them (the report)
    keeps no global state and needs no display; ``savefig`` works as usual.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, facecolor="white")
        return buf.getvalue()


# --------------------------------------------------------------------------- helpers

def area_label(code: int) -> str:
    """Comtrade's name of an area code, or the code itself when the area table does not know it."""
    areas = registry.areas().set_index("code")["name"]
    return str(areas.get(int(code), code))


def source_line(*, reporter: int = CHINA, flow: str = "X", detail: str = "", synthetic: bool = False) -> str:
    """The line under a figure: ``Source: UN Comtrade, China as reporter, exports (FOB, USD)...``."""
    if synthetic:
        base = "Source: SYNTHETIC demo panel in the UN Comtrade schema (not real trade)"
    else:
        base = f"Source: UN Comtrade, {area_label(reporter)} as reporter"
    text = f"{base}; {_FLOW_WORD.get(flow, flow)} ({_VALUATION.get(flow, '')} value, current USD)"
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
    """Tick label of a ratio axis: 0.5, 1, 2, 10."""
    if value <= 0:
        return ""
    return f"{value:g}" if value >= 0.1 else f"{value:.2g}"


def _synthetic(frames: Sequence[pd.DataFrame | None], synthetic: bool | None) -> bool:
    if synthetic is not None:
        return bool(synthetic)
    return any(is_synthetic(f) for f in frames if f is not None)


SOURCE_SPACE = 0.38
"""Inches kept free at the bottom of every figure for the source line (up to two lines)."""


def _finish(fig: Figure, *, title: str, subtitle: str, source: str, synthetic: bool) -> Figure:
    """Title, subtitle, source line and (for synthetic input) the watermark, in the margins
    :func:`_new_figure` left for them. Long titles are shortened and the source wrapped to fit."""
    width, height = fig.get_size_inches()
    room = width - (2.5 if synthetic else 0.3)
    fig.text(0.12 / width, 1 - 0.12 / height, _short(title, int(room / 0.108)), ha="left", va="top",
             fontsize=12.5, fontweight="bold")
    if subtitle:
        fig.text(0.12 / width, 1 - 0.42 / height, _short(subtitle, int((width - 0.3) / 0.072)), ha="left",
                 va="top", fontsize=9, color="#333333")
    lines = textwrap.wrap(source, width=int((width - 0.25) / 0.058))
    if len(lines) > 2:
        lines = [lines[0], _short(" ".join(lines[1:]), int((width - 0.25) / 0.058))]
    fig.text(0.12 / width, 0.06 / height, "\n".join(lines), ha="left", va="bottom", fontsize=7.5,
             color="#444444", linespacing=1.3)
    if synthetic:
        fig.text(0.5, 0.5, SYNTHETIC_LABEL, ha="center", va="center", rotation=25, fontsize=min(64, 9 * width),
                 color=FLAG_COLOR, alpha=0.13, fontweight="bold", zorder=100)
        fig.text(1 - 0.1 / width, 1 - 0.12 / height, f"{SYNTHETIC_LABEL}: not real trade", ha="right", va="top",
                 fontsize=9, fontweight="bold", color="white",
                 bbox={"boxstyle": "round,pad=0.3", "facecolor": FLAG_COLOR, "edgecolor": "none"})
    fig.synthetic = synthetic  # type: ignore[attr-defined]
    return fig


def _new_figure(panel_w: float, panel_h: float, nrows: int = 1, ncols: int = 1, *, left: float = 0.75,
                right: float = 0.25, top: float = 0.95, bottom: float = 0.55, wspace: float = 0.55,
                hspace: float = 0.7, **kw) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows x ncols`` panels of ``panel_w x panel_h`` inches with fixed margins (inches).

    Fixed margins instead of a layout engine: the report draws dozens of
    panels, and constrained layout would measure every tick label twice per
    file written.
    """
    bottom += SOURCE_SPACE
    width = left + right + ncols * panel_w + (ncols - 1) * wspace
    height = top + bottom + nrows * panel_h + (nrows - 1) * hspace
    fig = TradeflowsFigure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw={
        "left": left / width, "right": 1 - right / width, "top": 1 - top / height, "bottom": bottom / height,
        "wspace": wspace / panel_w, "hspace": hspace / panel_h}, **kw)
    return fig, axes


def _legend(fig: Figure, handles: list) -> None:
    """One legend for the whole figure, centred in the bottom margin above the source line."""
    height = fig.get_size_inches()[1]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, (SOURCE_SPACE + 0.02) / height),
               ncols=len(handles),
               fontsize=7.5, frameon=False)


def _closed(study: Study, dates: pd.Series) -> Study:
    """The study with an open post window ended at the last month of ``dates``."""
    return study.closed(pd.Timestamp(dates.max())) if len(dates) else study


def _end(w: Window) -> pd.Timestamp:
    if w.end is None:  # only the post window may be open, and _closed ends it
        raise InputError(f"window {w.text} is open-ended: close it at the data's last month first")
    return w.end


def _style_time_axis(ax, dates: pd.Series) -> None:
    years = max(1, (dates.max().year - dates.min().year))
    ax.xaxis.set_major_locator(mdates.YearLocator(base=1 if years <= 5 else 2))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.tick_params(axis="both", labelsize=7.5)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _log_axis(axis, subs: tuple[float, ...] = (1.0, 2.0, 5.0)) -> None:
    """A log-scaled axis with labelled ticks at 1, 2, 5 x 10^k and no minor ticks (fast to draw)."""
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(ratio_label))
    axis.set_minor_locator(NullLocator())


def _event_line(ax, *, label: bool = False) -> None:
    ax.axvline(EVENT_DATE, color=OKABE_ITO["black"], linewidth=0.9, linestyle="--", zorder=1)
    if label:
        ax.annotate("24 Feb 2022", xy=(EVENT_DATE, 1), xycoords=("data", "axes fraction"), xytext=(3, -3),
                    textcoords="offset points", fontsize=7, va="top", ha="left")


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


def _short(text: str, width: int) -> str:
    return textwrap.shorten(str(text), width=width, placeholder="…")


# --------------------------------------------------------------------------- time series

def plot_series(
    series: pd.DataFrame,
    study: Study | None = None,
    *,
    group: str | None = None,
    families: Sequence[str] | None = None,
    findings: pd.DataFrame | None = None,
    ncols: int = 4,
    max_panels: int = 16,
    title: str | None = None,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Small multiples of monthly USD series, one panel per code family, for the focal partner.

    Each panel shows the monthly value, the 24 February 2022 line, the mean
    of the study's ``pre`` and ``post`` windows as horizontal segments and
    the months that ``findings`` (the anomaly table) flags for that family.
    Families come from ``families`` or ``group`` (default: every family of the
    focal partner's series, or of the study's ``codes``), ordered as given or
    by post-window value, at most ``max_panels``.

    >>> from analysis.demo import load_demo
    >>> from analysis.series import build_series
    >>> fig = plot_series(build_series(load_demo()), group="optics", focal="Belarus")
    >>> len(fig.axes) >= 13
    True
    """
    s = Study.resolve(study, **study_args)
    reporter, flow, focal = s.reporter, s.flow, s.focal
    mine = _study_series(series, s)
    s = _closed(s, mine["date"])
    pre_w, post_w = s.pre, s.post
    data = mine[mine["partner_code"] == focal]
    wanted = s.family_ids()
    if wanted is not None and families is None:
        data = data[data["family_id"].isin(wanted)]
    if group is not None:
        data = data[data["group"] == group]
    if families is not None:
        data = data[data["family_id"].isin(list(families))]
    if data.empty:
        raise InputError(f"no {_FLOW_WORD.get(flow, flow)} series of reporter {reporter} to partner {focal}"
                         + (f" in group {group!r}" if group else "") + " to plot")
    if families is not None:
        order = [f for f in families if f in set(data["family_id"])]
    else:
        weight = data[data["date"] >= post_w.start].groupby("family_id")["usd"].sum()
        order = list(weight.reindex(data["family_id"].unique()).fillna(0).sort_values(ascending=False).index)
    dropped = max(0, len(order) - max_panels)
    order = order[:max_panels]
    n = len(order)
    ncols = max(1, ncols)  # always the full width (empty panels hidden), so titles and legends fit
    nrows = math.ceil(n / ncols)
    fig, axes = _new_figure(2.3, 1.35, nrows, ncols, top=1.05, bottom=0.62, hspace=0.75, wspace=0.6)
    names = _family_names(order)
    flags = None
    if findings is not None and len(findings):
        flags = findings[(findings["partner_code"] == focal) & (findings["reporter_code"] == reporter)
                         & findings["kind"].isin(list(_MARKERS))]
    for ax, fam in zip(axes.flat, order, strict=False):  # more panels than families: the rest hidden
        one = data[data["family_id"] == fam].sort_values("date")
        ax.plot(one["date"], one["usd"], color=FOCAL_COLOR, linewidth=1.0, zorder=3)
        for w, label in ((pre_w, "pre"), (post_w, "post")):
            inside = one[w.contains(one["date"])]
            if len(inside):
                mean = inside["usd"].mean()
                ax.hlines(mean, w.start, _end(w), color=CONTROL_COLOR, linewidth=1.8, zorder=4,
                          label=f"{label} mean" if ax is axes.flat[0] else None)
        _event_line(ax)
        if flags is not None:
            f = flags[flags["family"] == fam]
            for kind, block in f.groupby("kind"):
                when = pd.to_datetime(block["period"].astype(str), format="%Y-%m")
                vals = one.set_index("date")["usd"].reindex(when)
                ax.scatter(when, vals, s=28, marker=_MARKERS.get(str(kind), "o"), facecolor="none",
                           edgecolor=FLAG_COLOR, linewidth=1.3, zorder=5)
        ax.set_title(f"{_short(names[fam], 40)}\n{fam}", fontsize=8, loc="left")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(usd_label))
        _style_time_axis(ax, one["date"])
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("USD per month", fontsize=8)
    # a legend of what the marks mean, once
    handles = [Line2D([], [], color=FOCAL_COLOR, linewidth=1.0, label="monthly value"),
               Line2D([], [], color=OKABE_ITO["black"], linestyle="--", linewidth=0.9, label="24 Feb 2022")]
    handles.append(Line2D([], [], color=CONTROL_COLOR, linewidth=1.8, label="window mean (pre / post)"))
    if flags is not None:
        shown = set(flags.loc[flags["family"].isin(order), "kind"])
        handles += [Line2D([], [], marker=m, linestyle="none", markerfacecolor="none", markeredgecolor=FLAG_COLOR,
                           label=k.replace("_", " ")) for k, m in _MARKERS.items() if k in shown]
    _legend(fig, handles)
    synth = _synthetic([series, findings], synthetic)
    who = f"{area_label(reporter)}'s {_FLOW_WORD.get(flow, flow)} to {area_label(focal)}"
    group_name = _group_name(group) if group else None
    fig_title = title or (f"{who}: {group_name}" if group_name else who)
    windows = [f"pre {pre_w}", f"post {post_w}"]
    subtitle = "Monthly value, USD (each panel its own scale); January and February each show half their total"
    if dropped:
        subtitle += f"; {dropped} smaller families not shown"
    detail = f"HS 2017/2022 code families; {', '.join(windows)}"
    return _finish(fig, title=fig_title, subtitle=subtitle,
                   source=source_line(reporter=reporter, flow=flow, detail=detail, synthetic=synth),
                   synthetic=synth)


def _group_name(group: str) -> str:
    groups = registry.groups().set_index("group")["name"]
    return str(groups.get(group, group))


def plot_group_index(
    series: pd.DataFrame,
    study: Study | None = None,
    *,
    groups: Sequence[str] | None = None,
    ncols: int = 5,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Quarterly value by group, focal partner against the sum of the study's ``controls``, each indexed to
    its ``pre`` mean (= 100), log scale: a group that rises for the focal partner only pulls its lines apart.

    Controls missing from the data are left out.

    >>> import analysis
    >>> series = analysis.build_series(analysis.load_demo())
    >>> fig = plot_group_index(series, focal="BLR")
    """
    s = Study.resolve(study, **study_args)
    reporter, flow, focal = s.reporter, s.flow, s.focal
    pre_w = s.pre
    pre_end = _end(pre_w)
    data = _study_series(series, s)
    partners = set(data["partner_code"].unique())
    if focal not in partners:
        raise InputError(f"partner {focal} is not in the series")
    controls = [c for c in s.controls if c in partners]
    if not controls:
        raise InputError("none of the control partners is in the series")
    if groups is None:
        present = set(data["group"].unique())
        groups = [g for g in registry.groups()["group"] if g in present]
        groups += sorted(present - set(groups))
    side = np.where(data["partner_code"] == focal, "focal",
                    np.where(data["partner_code"].isin(controls), "control", ""))
    data = data.assign(side=side, quarter=data["date"].dt.to_period("Q").dt.start_time)
    data = data[data["side"] != ""]
    q = data.groupby(["group", "side", "quarter"], as_index=False)["usd"].sum()
    n = len(groups)
    ncols = max(1, min(ncols, max(n, 4)))  # at least 4 columns wide, so the title fits
    nrows = math.ceil(n / ncols)
    fig, axes = _new_figure(2.0, 1.35, nrows, ncols, sharey=True, top=0.9, bottom=0.62, hspace=0.5,
                            wspace=0.2)
    for ax, g in zip(axes.flat, groups, strict=False):
        for which, color, lw in (("control", CONTROL_COLOR, 1.1), ("focal", FOCAL_COLOR, 1.4)):
            block = q[(q["group"] == g) & (q["side"] == which)].sort_values("quarter")
            base = block.loc[(block["quarter"] >= pre_w.start) & (block["quarter"] <= pre_end), "usd"].mean()
            if not base or not np.isfinite(base):
                continue
            idx = (block["usd"] / base * 100).where(block["usd"] > 0)
            ax.plot(block["quarter"], idx, color=color, linewidth=lw, zorder=3)
        ax.set_yscale("log")
        ax.axhline(100, color=GREY, linewidth=0.6, zorder=1)
        _event_line(ax)
        ax.set_title(_short(_group_name(g), 30), fontsize=8, loc="left")
        _style_time_axis(ax, q["quarter"])
        _log_axis(ax.yaxis, (1.0, 3.0))
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"index, {pre_w.start.year}-{pre_end.year} = 100", fontsize=8)
    handles = [Line2D([], [], color=FOCAL_COLOR, linewidth=1.4, label=area_label(focal)),
               Line2D([], [], color=CONTROL_COLOR, linewidth=1.1,
                          label=f"{len(controls)} comparison partners combined"),
               Line2D([], [], color=OKABE_ITO["black"], linestyle="--", linewidth=0.9, label="24 Feb 2022")]
    _legend(fig, handles)
    synth = _synthetic([series], synthetic)
    ctl = ", ".join(area_label(c) for c in controls)
    return _finish(
        fig, title=f"{area_label(reporter)}'s {_FLOW_WORD.get(flow, flow)} by group: {area_label(focal)} "
                   "against the comparison partners",
        subtitle=f"Quarterly value as an index (mean of {pre_w} = 100), log scale",
        source=source_line(reporter=reporter, flow=flow, synthetic=synth,
                           detail="comparison partners: " + _short(ctl, 150)),
        synthetic=synth)


def plot_mirror(
    series: pd.DataFrame,
    study: Study | None = None,
    *,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Both sides of one trade flow, summed over families: the exporter's (the study's ``reporter``) reported
    exports (FOB) to the importer (the ``focal`` partner) and the importer's reported imports (CIF) from it,
    by month, with their ratio. Shows where the mirror data stop.

    >>> import analysis
    >>> fig = plot_mirror(analysis.build_series(analysis.load_demo()))   # China -> Belarus, 2017-2021
    """
    s = Study.resolve(study, **study_args)
    exporter, importer = s.reporter, s.focal
    x = _select(series, reporter=exporter, flow="X", partner=importer)
    m = _select(series, reporter=importer, flow="M", partner=exporter)
    if x.empty or m.empty:
        raise InputError(f"need {area_label(exporter)}'s exports to and {area_label(importer)}'s imports from "
                         "each other to draw the mirror chart")
    xs = x.groupby("date")["usd"].sum()
    ms = m.groupby("date")["usd"].sum()
    fig, axes = _new_figure(7.6, 1.6, 2, 1, sharex=True, height_ratios=[2.2, 1], top=0.85, bottom=0.35,
                            hspace=0.25)
    ax, ax2 = axes[0, 0], axes[1, 0]
    ax.plot(xs.index, xs.values, color=FOCAL_COLOR, linewidth=1.2,
            label=f"{area_label(exporter)} reports: exports to {area_label(importer)} (FOB)")
    ax.plot(ms.index, ms.values, color=CONTROL_COLOR, linewidth=1.2,
            label=f"{area_label(importer)} reports: imports from {area_label(exporter)} (CIF)")
    ax.axvline(ms.index.max(), color=GREY, linewidth=0.8, linestyle=":")
    ax.annotate(f"{area_label(importer)}'s data end {ms.index.max():%Y-%m}", xy=(ms.index.max(), 0.06),
                xycoords=("data", "axes fraction"), xytext=(-4, 0), textcoords="offset points", fontsize=7.5,
                va="bottom", ha="right")
    _event_line(ax, label=True)
    ax.set_ylabel("USD per month (registry families)", fontsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(usd_label))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7.5, frameon=False, loc="upper left")
    both = pd.concat({"x": xs, "m": ms}, axis=1).dropna()
    ratio = both["m"] / both["x"].where(both["x"] > 0)
    ax2.plot(ratio.index, ratio.values, color=OKABE_ITO["black"], linewidth=1.0)
    ax2.axhline(1, color=GREY, linewidth=0.6)
    ax2.set_ylim(min(0.8, float(ratio.min()) * 0.95), max(1.3, float(ratio.max()) * 1.05))
    ax2.set_ylabel("imports ÷ exports", fontsize=8)
    for a in (ax, ax2):
        _style_time_axis(a, xs.index.to_series())
    synth = _synthetic([series], synthetic)
    return _finish(
        fig, title=f"Mirror data: {area_label(exporter)}'s and {area_label(importer)}'s records of the same trade",
        subtitle="Monthly value summed over the registry families; CIF imports normally exceed FOB exports "
                 "by freight and insurance",
        source=("Source: SYNTHETIC demo panel in the UN Comtrade schema (not real trade)" if synth else
                f"Source: UN Comtrade, {area_label(exporter)} and {area_label(importer)} as reporters")
        + "; exports FOB, imports CIF, current USD",
        synthetic=synth)


# --------------------------------------------------------------------------- estimates

def plot_relative_ratios(
    compare: pd.DataFrame,
    study: Study | None = None,
    *,
    top: int = 25,
    alpha: float = 0.05,
    kinds: Sequence[str] = ("dual_use",),
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Forest plot of the relative ratio (focal partner's post/pre ratio over the controls') with its
    interval, for the ``top`` families by relative ratio, log scale. Filled markers: q-value below ``alpha``.

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
    data = compare[(compare["partner_code"] == focal) & compare["relative_ratio"].notna()
                   & (compare["relative_ratio"] > 0)]
    if kinds and "kind" in data.columns:
        data = data[data["kind"].isin(list(kinds))]
    if data.empty:
        raise InputError(f"no relative ratios for partner {focal} to plot")
    data = data.sort_values("relative_ratio", ascending=False).head(top).iloc[::-1]
    n = len(data)
    fig, axes = _new_figure(4.6, 0.24 * n + 0.3, left=3.6, top=0.85, bottom=0.55)
    ax = axes[0, 0]
    y = np.arange(n)
    sig = (data["relative_q_value"] < alpha).to_numpy()
    lo = data["relative_low"].to_numpy(float)
    hi = data["relative_high"].to_numpy(float)
    est = data["relative_ratio"].to_numpy(float)
    ax.hlines(y, lo, hi, color=np.where(sig, FOCAL_COLOR, GREY), linewidth=1.6)
    ax.scatter(est[sig], y[sig], color=FOCAL_COLOR, s=26, zorder=3, label=f"q < {alpha:g} (BH)")
    ax.scatter(est[~sig], y[~sig], facecolor="white", edgecolor=GREY, s=26, zorder=3, label=f"q ≥ {alpha:g}")
    if "ratio" in data.columns:
        ax.scatter(data["ratio"], y, marker="|", color=OKABE_ITO["black"], s=40, zorder=2,
                   label=f"{area_label(focal)} alone (post/pre)")
    ax.axvline(1, color=OKABE_ITO["black"], linewidth=0.8)
    name_col = "family_name" if "family_name" in data.columns else "family"
    labels = [f"{_short(nm, 42)} ({fam})" for nm, fam in zip(data[name_col], data["family"], strict=True)]
    ax.set_yticks(y, labels, fontsize=7.5)
    ax.set_xscale("log")
    _log_axis(ax.xaxis)
    ax.set_xlabel(f"relative ratio, log scale ({area_label(focal)}'s change ÷ the comparison partners'; "
                  "1 = same change)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7.5)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7.5, frameon=False, loc="lower right")
    synth = _synthetic([compare], synthetic)
    level = int(round((1 - alpha) * 100))
    return _finish(
        fig, title=f"Is it {area_label(focal)}-specific? Relative change by code family",
        subtitle=f"Top {n} families by relative ratio, with {level}% intervals; filled: significant after "
                 "Benjamini-Hochberg control",
        source=source_line(reporter=s.reporter, flow=s.flow, synthetic=synth,
                           detail="mean monthly value, post window over pre window"),
        synthetic=synth)


def plot_event_study(
    event_study: pd.DataFrame,
    study: Study | None = None,
    *,
    groups: Sequence[str] | None = None,
    ncols: int = 4,
    alpha: float = 0.05,
    synthetic: bool | None = None,
    **study_args: Unpack[StudyArgs],
) -> Figure:
    """Event-study coefficients by group: the focal partner's value relative to the controls in each
    quarter, against the reference period (ratio scale, 1 = no difference), with intervals.

    Takes the ``event_study`` table of :func:`analysis.did` (event_study.csv): one row per ``group`` and
    ``quarter`` with ``ratio``, ``ratio_low`` and ``ratio_high`` (the reference quarter has ratio 1); the
    study names the focal partner, the reporter and the flow for the labels.

    >>> import analysis
    >>> result = analysis.did(analysis.build_series(analysis.load_demo()))
    >>> fig = plot_event_study(result.event_study, result.study, groups=["optics", "control_cars"])
    """
    s = Study.resolve(study, **study_args)
    es = _event_frame(event_study)
    if groups is None:
        present = set(es["group"].unique())
        order = [g for g in registry.groups()["group"] if g in present]
        groups = order + sorted(present - set(order))
    groups = [g for g in groups if g in set(es["group"].unique())]
    if not groups:
        raise InputError("the event-study table has no group to plot")
    n = len(groups)
    ncols = max(1, min(ncols, max(n, 4)))  # at least 4 columns wide, so the title fits
    nrows = math.ceil(n / ncols)
    fig, axes = _new_figure(2.2, 1.4, nrows, ncols, sharey=True, top=0.9, bottom=0.62, hspace=0.5, wspace=0.2)
    for ax, g in zip(axes.flat, groups, strict=False):
        b = es[es["group"] == g].sort_values("date")
        ax.fill_between(b["date"], b["low"], b["high"], color=BAND_COLOR, alpha=0.35, linewidth=0, step=None)
        ax.plot(b["date"], b["ratio"], color=FOCAL_COLOR, linewidth=1.1, marker="o", markersize=2.2)
        if "reference" in b.columns:
            ref = b[b["reference"].astype(bool)]
            ax.scatter(ref["date"], ref["ratio"], s=22, facecolor="white", edgecolor=OKABE_ITO["black"], zorder=4)
        ax.axhline(1, color=GREY, linewidth=0.7)
        _event_line(ax)
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
        ax.set_title(_short(_group_name(g), 32), fontsize=8, loc="left")
        _style_time_axis(ax, b["date"])
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("ratio to reference", fontsize=8)
    level = f"{(1 - alpha) * 100:g}%"
    ref_q = ""
    if "reference" in es.columns and es["reference"].astype(bool).any():
        ref_q = str(es.loc[es["reference"].astype(bool), "quarter"].iloc[0]) if "quarter" in es.columns else ""
    handles = [Line2D([], [], color=FOCAL_COLOR, marker="o", markersize=3, linewidth=1.1, label="estimate"),
               Patch(color=BAND_COLOR, alpha=0.35, label=f"{level} interval"),
               Line2D([], [], marker="o", linestyle="none", markerfacecolor="white",
                          markeredgecolor=OKABE_ITO["black"], label=f"reference quarter {ref_q}".strip()),
               Line2D([], [], color=OKABE_ITO["black"], linestyle="--", linewidth=0.9, label="24 Feb 2022")]
    _legend(fig, handles)
    synth = _synthetic([event_study], synthetic)
    return _finish(
        fig, title=f"Event study: {area_label(s.focal)} against the comparison partners, by group",
        subtitle=f"Quarterly value relative to the comparison partners, against the reference quarter (ratio, "
                 f"log scale), {level} intervals",
        source=source_line(reporter=s.reporter, flow=s.flow, synthetic=synth,
                           detail="Poisson pseudo-maximum-likelihood event study"),
        synthetic=synth)


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
    """One series against its counterfactual: observed monthly value, the expected path and its band
    (the table of :func:`analysis.anomalies.counterfactual_band`: ``date, observed, expected, low, high``),
    with the ``flagged`` months circled. The study names the reporter and the flow for the source line.

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
    fig, axes = _new_figure(8.2, 2.6, top=0.85, bottom=0.35)
    ax = axes[0, 0]
    if b["expected"].notna().any():
        ax.fill_between(b["date"], b["low"], b["high"], color=BAND_COLOR, alpha=0.35, linewidth=0,
                        label="expected range (95% band)")
        ax.plot(b["date"], b["expected"], color=OKABE_ITO["black"], linewidth=1.0, linestyle=(0, (4, 2)),
                label="expected (counterfactual)")
    ax.plot(b["date"], b["observed"], color=FOCAL_COLOR, linewidth=1.2, label="observed")
    if len(flagged):
        when = pd.to_datetime(pd.Series([str(f) for f in flagged]), format="mixed")
        vals = b.set_index("date")["observed"].reindex(when)
        ax.scatter(when, vals, s=60, facecolor="none", edgecolor=FLAG_COLOR, linewidth=1.6, zorder=5,
                   label="flagged")
    _event_line(ax, label=True)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(usd_label))
    ax.set_ylabel("USD per month", fontsize=8)
    _style_time_axis(ax, b["date"])
    ax.legend(fontsize=7.5, frameon=False, loc="upper left")
    synth = _synthetic([band], synthetic)
    return _finish(fig, title=title, subtitle=note,
                   source=source_line(reporter=s.reporter, flow=s.flow, synthetic=synth), synthetic=synth)


# --------------------------------------------------------------------------- output

def save_figure(fig: Figure, folder: str | Path, name: str) -> dict[str, Path]:
    """Write ``fig`` as ``folder/name.png`` (200 dpi) and ``folder/name.svg``; return both paths.

    >>> paths = save_figure(fig, "figures", "optics")   # doctest: +SKIP
    >>> sorted(paths)                                    # doctest: +SKIP
    ['png', 'svg']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"png": folder / f"{name}.png", "svg": folder / f"{name}.svg"}
    fig.savefig(paths["png"], dpi=DPI, facecolor="white")
    fig.savefig(paths["svg"], facecolor="white", metadata={"Date": None})
    return paths


__all__ = [
    "OKABE_ITO", "EVENT_DATE", "DPI", "SYNTHETIC_LABEL", "area_label", "source_line", "usd_label",
    "plot_series", "plot_group_index", "plot_mirror", "plot_relative_ratios", "plot_event_study",
    "plot_counterfactual", "save_figure",
]
