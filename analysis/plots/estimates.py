"""Figures of the estimates: forest plots of the relative ratios (:func:`plot_relative_ratios`) and of the
focal partner beside the transit routes (:func:`plot_transit`), from the compare table, and the event
study by group (:func:`plot_event_study`).

They draw tables an estimation step produced (ratios with intervals, on log axes), not the series: apart
from :mod:`analysis.plots.series`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..errors import InputError
from ..schema import without_attrs
from ..study import Study, StudyArgs
from .layout import (
    _all_fitting,
    _break_line,
    _clip_marks,
    _clip_note,
    _finish,
    _grid_figure,
    _grid_ylabel,
    _interval_ends,
    _new_figure,
    _ratio_limits,
    _rule,
    _set_log,
    _style_time_axis,
    _synthetic,
    _years,
    group_order,
)
from .style import (
    BAND_COLOR,
    CONTROL_COLOR,
    CONTROL_KINDS,
    FOCAL_COLOR,
    GREY,
    MAX_HEIGHT,
    OKABE_ITO,
    PAGE_WIDTH,
    TEXT_SIZE,
    TRANSIT_COLOR,
    _height,
    area_label,
    flow_word,
    group_label,
    per_word,
    source_line,
    wrap_text,
)

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
