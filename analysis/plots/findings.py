"""One series, one finding: a series against its counterfactual band (:func:`plot_counterfactual`) and one
anomaly finding marked on its series where the test put it (:func:`plot_finding`).

Single-panel figures, one per finding (the report's anomaly charts): apart from the small multiples of
:mod:`analysis.plots.series`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Unpack, get_args

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ..errors import InputError
from ..schema import without_attrs
from ..study import Study, StudyArgs
from .layout import (
    _break_line,
    _closed,
    _draw_values,
    _end,
    _finish,
    _new_figure,
    _num,
    _period_date,
    _style_time_axis,
    _synthetic,
    _value_at,
    _years,
)
from .style import (
    BAND_COLOR,
    CONTROL_COLOR,
    FLAG_COLOR,
    FOCAL_COLOR,
    GREY,
    OKABE_ITO,
    PAGE_WIDTH,
    TEXT_SIZE,
    TradeflowsFigure,
    per_word,
    source_line,
    usd_label,
)

FindingKind = Literal["level_shift", "spike", "counterfactual_excess", "new_flow", "unit_value"]
"""Finding kinds :func:`plot_finding` draws (mirror gaps have the mirror chart; common events concern all
partners)."""
CHARTED_KINDS: tuple[str, ...] = get_args(FindingKind)


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


def _unit_value_label(value: float, _pos: object = None) -> str:
    """USD per kg: 0.62, 12.5, 470, 1.2k."""
    if not np.isfinite(value):
        return "n/a"
    return usd_label(value) if abs(value) >= 1000 else f"{value:.3g}"
