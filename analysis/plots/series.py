"""Time-series figures: the focal partner's series by code family (:func:`plot_series`), each group
against the comparison partners as an index (:func:`plot_group_index`) and both sides of the same trade
(:func:`plot_mirror`).

They draw the series themselves, before any estimate; the estimates and the findings have their own
modules (:mod:`analysis.plots.estimates`, :mod:`analysis.plots.findings`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..errors import InputError
from ..schema import without_attrs
from ..study import FLOW_VALUATION, Study, StudyArgs
from .layout import (
    _all_fitting,
    _break_line,
    _clip_marks,
    _closed,
    _draw_values,
    _end,
    _family_names,
    _finish,
    _fitting,
    _grid,
    _grid_figure,
    _grid_ylabel,
    _index_limits,
    _new_figure,
    _num,
    _period_date,
    _rule,
    _select,
    _set_log,
    _study_series,
    _style_time_axis,
    _synthetic,
    _value_at,
    _years,
    group_order,
)
from .style import (
    CONTROL_COLOR,
    FLAG_COLOR,
    FOCAL_COLOR,
    GREY,
    OKABE_ITO,
    PAGE_WIDTH,
    SERIES_PANEL_H,
    TEXT_SIZE,
    area_label,
    flow_phrase,
    flow_word,
    group_label,
    per_word,
    source_line,
    usd_label,
    window_text,
)

_MARKERS = {"level_shift": "^", "spike": "o", "counterfactual_excess": "_", "new_flow": "s", "unit_value": "P"}
"""Mark of each finding kind on the series charts, at the flagged month (a level shift's break, a spike, a new
flow's first month, a unit-value break); a counterfactual excess concerns a window: a bar under it. Mirror gaps
concern the partner's records: not marked."""


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
