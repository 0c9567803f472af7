"""The focal partner relative to its comparison group: the series the level-shift, spike and counterfactual
detectors test for the study's focal partner.

Why. A shock shared by every partner (a reporter-wide export ban, a customs
reclassification, a common demand swing) shows in the focal partner's own
series as a break or spike, yet says nothing about the focal partner. So, for
the focal partner only, those detectors test its value *relative to* the
comparison partners' value of the same family; every other partner keeps
its own recorded series (a reporter-wide event among them is the business of
:mod:`~analysis.anomalies.common_event`).

Choice. The comparison index of a family is the cross-partner *median* of
the comparison partners' log series ``log(usd + c)`` (``c`` 1% of each
partner's median positive month), each centred on its own median month, over
the comparison partners present in the data (``study.controls``) that trade
the family steadily (positive in 75% of the months of the first or the last
third of the data). Each month's median is over the partners that traded
that month (a zero month is a missing shipment, not a level: counted at the
log offset, a few of them would drag the median down and make a focal
spike); a month with fewer than ``MIN_CONTROLS`` of them takes its value
by interpolation from the months around it. The index is normalised to mean 0 over the pre window, and the
focal series analysed is its recorded USD divided by ``exp(index)``: on logs,
the focal series minus the comparison group's common movement, still in USD
at the comparison group's pre-window conditions (zero months stay zero).
The median, rather than the pooled sum that :func:`analysis.compare` uses
for its relative ratios, because a pooled sum is dominated by the largest
partners: one big partner's own break (Poland's, Türkiye's) would show,
inverted, as a focal-partner anomaly, while the median moves only with
what most comparison partners do, which is what "a shock shared by all
partners" means.

Reading the findings. ``size`` is then the focal partner's change relative
to the comparison group (a x3 step while every comparison partner also
tripled is x1, no finding); ``observed_usd`` stays recorded USD and
``expected_usd`` is what the focal partner would have recorded had it moved
with the comparison group; ``detail`` begins with the basis ("relative to
the median of 11 comparison partners").

Assumes: the comparison partners' typical movement is what the focal
partner's would have been without a focal-specific event (the usual
comparison-group assumption, here for each month); at least
``MIN_CONTROLS`` (3) comparison partners trade the family steadily. When it
fails: with fewer steady comparison partners the focal series is tested as
recorded and ``detail`` says why ("own series: ..."); an event shared by
most comparison partners but not the focal partner shows as a focal anomaly
of the opposite sign (it is one, relative to the group); the index adds the
noise of a median of a few partners to the focal series (about 30% of one
partner's noise with 11 comparison partners), so a small focal effect is a
little harder to detect than on the recorded series.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..periods import Window
from .common import Panel, active_columns, log_level

MIN_CONTROLS = 3
"""Fewest comparison partners trading a family steadily for the focal series to be taken relative to them."""


def comparison_index(usd: np.ndarray, dates, pre: Window) -> tuple[np.ndarray | None, int, float, int]:
    """Log comparison index (months) of the comparison partners' USD (months x partners), how many it uses, and
    the variance of their own trends about it, with the number of slopes behind it (:func:`trend_drift`).

    None (and no drift) when fewer than ``MIN_CONTROLS`` partners trade the
    family steadily. Normalised to mean 0 over the pre window (over every
    month if the pre window holds none).
    """
    active = active_columns(usd)
    n = int(active.sum())
    if n < MIN_CONTROLS:
        return None, n, np.nan, 0
    u = usd[:, active]
    x, _ = log_level(u)
    x = np.where(u > 0, x - np.median(x, axis=0, keepdims=True), np.nan)
    # zero months are left out (a few comparison partners without a shipment that month would otherwise drag
    # the median down by the log offset, and the focal series would show a spike); a month where fewer than
    # MIN_CONTROLS comparison partners traded takes its value from the months around it
    enough = np.isfinite(x).sum(axis=1) >= MIN_CONTROLS
    if enough.sum() < 2:
        return None, n, np.nan, 0
    with np.errstate(all="ignore"):
        med = np.nanmedian(np.where(enough[:, None], x, 0.0), axis=1)
    t = np.arange(len(med))
    idx = np.interp(t, t[enough], med[enough])
    in_pre = np.asarray((dates >= pre.start) & (dates <= pre.end)) if pre.end is not None \
        else np.asarray(dates >= pre.start)
    return (idx - (idx[in_pre].mean() if in_pre.any() else idx.mean()), n,
            *trend_drift(x - idx[:, None], dates, in_pre))


def trend_drift(rel: np.ndarray, dates, in_pre: np.ndarray) -> tuple[float, int]:
    """How far a partner's own trend can stray from its comparison group's: the variance (log units a year,
    squared) of the comparison partners' own pre-window trends relative to the index (``rel``: their log
    series less the index, months x partners, NaN where they did not trade), and the number of slopes.

    Each slope is least squares on the pre-window months, in years; the
    spread is robust (1.4826 x MAD about the median). It is the spread of
    the trends as measured, sampling noise included: the true spread of own
    trends is barely identified from a dozen three-year slopes (a
    method-of-moments estimate that subtracts the noise came out at half the
    planted spread, and let a focal partner's own trend pass for an
    anomaly), so the counterfactual errs on the wide side.
    """
    if in_pre.sum() < 12 or rel.shape[1] < MIN_CONTROLS:
        return np.nan, 0
    d = pd.DatetimeIndex(dates)[in_pre]
    t = np.asarray(d.year + (d.month - 1) / 12, dtype=float)
    slopes = []
    for col in rel[in_pre].T:
        ok = np.isfinite(col)
        if ok.sum() < 12:
            continue
        tt, yy = t[ok] - t[ok].mean(), col[ok]
        slopes.append(float((tt * (yy - yy.mean())).sum() / (tt**2).sum()))
    if len(slopes) < MIN_CONTROLS:
        return np.nan, 0
    sl = np.asarray(slopes)
    return float((1.4826 * np.median(np.abs(sl - np.median(sl)))) ** 2), len(slopes)


DRIFT_SHRINK = 10.0
"""Comparison partners' worth of weight the drift pooled over families gets in each family's drift."""


def relative_panel(p: Panel, focal: int, controls: Sequence[int], pre: Window) -> Panel:
    """``p`` with the focal partner's series divided by their family's comparison index (others unchanged).

    The returned panel's ``scale`` turns the analysed USD back into recorded
    USD and ``basis`` says, per series, what it is relative to ("" for other
    partners; "own series: ..." with the reason for a focal series that has
    no usable comparison group); ``drift`` is the comparison group's trend
    spread (:func:`trend_drift`, shrunk toward its mean over families by
    :data:`DRIFT_SHRINK` partners' worth), which the counterfactual
    projection of a relative series allows for.
    """
    n_t, m = p.usd.shape
    scale = np.ones((n_t, m))
    basis = np.full(m, "", dtype=object)
    drift = np.zeros(m)
    if m == 0:
        return Panel(p.dates, p.keys, p.usd, p.kg, p.synthetic, scale, basis, drift)
    moment, n_slopes = np.full(m, np.nan), np.zeros(m)
    partner = p.keys["partner_code"].to_numpy()
    family = p.keys["family_id"].astype(str).to_numpy()
    is_ctrl = np.isin(partner, np.asarray(list(controls), dtype=partner.dtype if len(partner) else int))
    for col in np.flatnonzero(partner == focal):
        ctrl = np.flatnonzero(is_ctrl & (family == family[col]))
        if len(ctrl) == 0:
            basis[col] = "own series: no comparison partner trades this family"
            continue
        idx, n, moment[col], n_slopes[col] = comparison_index(p.usd[:, ctrl], p.dates, pre)
        if idx is None:
            basis[col] = (f"own series: only {n} of {len(ctrl)} comparison partners trade this family steadily "
                          f"(a comparison group needs {MIN_CONTROLS})")
            continue
        scale[:, col] = np.exp(idx)
        basis[col] = f"relative to the median of {n} comparison partners"
    # each family's drift variance shrunk toward the mean over families (a dozen slopes pin one down poorly)
    ok = np.isfinite(moment) & (n_slopes > 0)
    if ok.any():
        pooled = float(np.average(moment[ok], weights=n_slopes[ok]))
        own = np.where(ok, moment, pooled)
        drift = np.sqrt(np.maximum((n_slopes * own + DRIFT_SHRINK * pooled) / (n_slopes + DRIFT_SHRINK), 0.0))
        drift = np.where(partner == focal, drift, 0.0)
    return Panel(p.dates, p.keys, p.usd / scale, p.kg, p.synthetic, scale, basis, drift)


def with_basis(basis: np.ndarray, text: list[str]) -> list[str]:
    """``text`` of each row prefixed by its comparison basis, where it has one."""
    return [f"{b}: {t}" if b else t for b, t in zip(basis, text, strict=True)]
