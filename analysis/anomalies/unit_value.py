"""Unit value: a lasting shift in USD per kg, with its date from the data, and what value did meanwhile.

Method. The unit value of a series is its monthly USD over its net weight
(``kg`` of the series frame); months without a weight (kg missing or 0) or
without trade are excluded, and a series is tested only when at least
``MIN_COVERAGE`` (75%) of its effective months have a unit value. The gaps are
filled by interpolation on the log scale so that the vectorised scan can run
(filled months add no information; with 25% filled the noise is understated a
little). The log unit value then goes through the level-shift machinery of
:mod:`analysis.anomalies.level_shift` (robust cleaning, single-break GLS sup-F
scan with AR(1) errors, p-value from the simulated null that accounts for
the search over dates). At the found date the same model measures the change
in value (log USD); ``detail`` says which of the two decouplings it is:

- USD/kg moved while value stayed flat: the weight moved the other way
  (fewer, dearer goods; or more, cheaper ones),
- value and USD/kg moved together while the weight stayed flat (a price or
  composition change at constant tonnage).

The reverse case of the first, value moving while USD/kg stays flat, is a
change in quantity: that is a level shift, whose detail says "USD/kg flat".

Output: ``size`` = ratio of USD/kg after to before (95% interval);
``observed_usd`` = USD per kg after the break (total USD / total kg),
``expected_usd`` = USD per kg had it not shifted (observed / size), with the
interval; ``period`` = first month after the break.

Assumes: net weight is reported consistently (same unit, same coverage) on
both sides of the break, one break, Gaussian-like AR(1) noise on log USD/kg.
When it fails: a change in how weight is reported (estimated weights,
Comtrade's ``isNetWgtEstimated``) looks like a unit-value shift; a family
whose mix of codes changes has a moving unit value with no change in any
good's price; series with sparse weights are not tested.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .common import Panel, fmt_month, log_level, rows_frame, z_score
from .level_shift import MIN_SEGMENT, effective, null_model, score_breaks, step_at

KIND = "unit_value"
MIN_COVERAGE = 0.75
"""Fewest share of effective months with a unit value for a series to be tested."""


def unit_value_matrix(usd: np.ndarray, kg: np.ndarray, min_coverage: float = MIN_COVERAGE
                      ) -> tuple[np.ndarray, np.ndarray]:
    """USD/kg per month (gaps filled log-linearly) and the mask of series with enough coverage."""
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.where((usd > 0) & (kg > 0), usd / kg, np.nan)
    ok = np.isfinite(uv).mean(axis=0) >= min_coverage if uv.size else np.zeros(uv.shape[1], dtype=bool)
    filled = pd.DataFrame(np.log(uv[:, ok])).interpolate(limit_direction="both", axis=0).to_numpy()
    out = np.full(uv.shape, np.nan)
    out[:, ok] = np.exp(filled)
    return out, ok


def detect(p: Panel, *, min_coverage: float = MIN_COVERAGE, alpha: float = 0.05, **_) -> pd.DataFrame:
    """Unit-value rows (one per tested series, raw p-values) for the panel ``p``.

    The value change of ``detail`` is worked out where ``p < alpha`` only.
    """
    keep, codes, years, w = effective(p, p.usd)
    n = int(keep.sum())
    if p.n_series == 0 or n < 2 * MIN_SEGMENT + 4:
        return rows_frame(p, np.zeros(0, dtype=int), KIND)
    usd, kg = p.usd[keep], p.kg[keep]
    uv, ok = unit_value_matrix(usd, kg, min_coverage)
    tested = np.flatnonzero(ok)
    if len(tested) == 0:
        return rows_frame(p, tested, KIND)
    fit, log_p = score_breaks(np.log(uv[:, tested]), codes, years)
    null = null_model(tuple(codes.tolist()), tuple(np.round(years, 6).tolist()))

    worth = np.flatnonzero(np.exp(log_p) < alpha)
    v_est, v_se = np.full(len(tested), np.nan), np.full(len(tested), np.nan)
    if len(worth):
        cols = tested[worth]
        xv, _offset = log_level(usd[:, cols])
        v_est[worth], v_se[worth] = step_at(xv, codes, years, fit.k[worth], rho_map=null.rho_map,
                                            valid=usd[:, cols] > 0)
    after = np.arange(n)[:, None] >= fit.k[None, :]
    u, k_ = usd[:, tested] * w[:, None], np.nan_to_num(kg[:, tested]) * w[:, None]
    has = (u > 0) & (k_ > 0)
    obs = (u * after * has).sum(axis=0) / np.maximum((k_ * after * has).sum(axis=0), 1e-12)
    size = np.exp(fit.delta)
    lo, hi = np.exp(fit.delta - 1.96 * fit.se), np.exp(fit.delta + 1.96 * fit.se)
    eff_dates = p.dates[keep]
    period = [fmt_month(eff_dates[k]) for k in fit.k]
    detail = [_describe(s, a, b, per, ve, vs)
              for s, a, b, per, ve, vs in zip(size, lo, hi, period, v_est, v_se, strict=True)]
    return rows_frame(
        p, tested, KIND, period=period, score=z_score(log_p), observed_usd=obs, expected_usd=obs / size,
        expected_low=obs / hi, expected_high=obs / lo, size=size, size_low=lo, size_high=hi,
        p_value=np.exp(log_p), detail=detail,
    )


def _describe(size: float, lo: float, hi: float, period: str, v_est: float, v_se: float) -> str:
    """Plain words for a unit-value shift and what value did at the same date."""
    head = f"USD/kg x{size:.2f} (95% {lo:.2f}-{hi:.2f}) from {period}"
    if not np.isfinite(v_est):
        return head
    vr, vlo, vhi = np.exp(v_est), np.exp(v_est - 1.96 * v_se), np.exp(v_est + 1.96 * v_se)
    head = f"{head}; value x{vr:.2f} ({vlo:.2f}-{vhi:.2f})"
    flat = vlo <= 1.0 <= vhi or abs(v_est) < 0.25 * abs(np.log(size))
    if flat:
        return f"{head}: value flat, so the weight moved the other way (x{1 / size:.2f} kg)"
    kg_ratio = vr / size
    if abs(np.log(kg_ratio)) < 0.25 * abs(np.log(size)):
        return f"{head}: value moved with USD/kg at about constant weight (price or mix change)"
    return f"{head}: value and weight both moved (kg x{kg_ratio:.2f})"
