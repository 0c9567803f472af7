"""Spike: a single month far above what the series' own trend and season predict.

Method. On ``x = log(usd + c)`` (``c`` 1% of the median positive month) over
the effective months (a merged Jan-Feb counts once), less the series' best
single step (the first, least-squares pass of the level-shift scan,
:func:`~analysis.anomalies.level_shift.break_search`: a running-median trend
lags behind a level shift, so without this the months next to a break, such
as the last month before an export ban, read as spikes), a robust STL-like fit
(:func:`~analysis.anomalies.common.robust_decompose`: 13-month running median
smoothed over 3 months as trend, clipped-mean month-of-year season) gives
the expected log level of every month; residuals are scaled by a robust SD
(SD of the central 90%, rescaled), giving a robust z per month. Zero months
are treated as gaps (interpolated for the fit, never a spike candidate). A
series' statistic is its largest z; its p-value comes from simulating the
whole procedure (step removal included) on Gaussian AR(1) series (AR
coefficient uniform on 0-0.6) of the same month pattern, with a generalized
Pareto tail beyond the simulations, so it accounts for looking at every
month of the series.

The test is one-sided: only upward spikes. A single low month is mostly a
reporting gap or lumpiness (a shipment a month late), and zero months are
everywhere in small flows.

January and February: China publishes the two together and the series frame
gives each half the total by default, so a spike in either month is spread
over both (each shows half of it). The merged pair is one observation here;
a spike found there is reported at January with a note, and its size is that
of the two-month average. (The demo plants no spike in January or February.)

Output: ``period`` = the month; ``observed_usd`` = its USD; ``expected_usd``
= its level predicted from the other months (the same fit with the month
left out, so the spike does not raise its own baseline), ``expected_low/high``
= a 95% prediction band for an ordinary month (the prediction-error SD is
measured on the null simulations); ``size`` = observed over expected with a
95% interval from the same band. Where that band spans more than a factor
``MAX_BAND`` (100) either way (an erratic series) the band and the interval
are left empty (NaN) and ``detail`` says why. The study's focal partner is
tested relative to its comparison group (:mod:`~analysis.anomalies.relative`):
``size`` is then relative to the group's month, the USD columns recorded USD.

Assumes: noise roughly Gaussian on the log scale with a stable spread; the
series positive in at least ``MIN_POSITIVE`` (80%) of months (lumpy series
are not tested: when half the months are zero every shipment looks like a
spike). When it fails: two or three consecutive high months are partly
absorbed by the running median (they are a short level shift, not a spike);
a spike in the first or last six months is judged against a one-sided
trend; heavy-tailed series (occasional large one-off shipments as a normal
pattern) produce spikes that are real but unremarkable for that trade.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from .common import (
    NullTail,
    Panel,
    ar1_noise,
    effective_rows,
    fmt_month,
    fmt_usd,
    log_level,
    rng_for,
    robust_decompose,
    rows_frame,
    season_codes,
    z_score,
)
from .relative import with_basis

KIND = "spike"
MIN_POSITIVE = 0.8
"""Fewest share of positive effective months for a series to be tested."""
SMOOTH = 3
N_SIM = 20000
MAX_BAND = 100.0
"""Widest 95% band factor (either way) for which a spike's size interval and band are reported."""


def spike_z(x: np.ndarray, codes: np.ndarray, valid: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust z of every month (``-inf`` where not valid), the fitted log level and the robust SD."""
    fitted, resid, scale = robust_decompose(x, codes, valid=valid, smooth=SMOOTH)
    z = resid / scale[None, :]
    if valid is not None:
        z = np.where(valid, z, -np.inf)
    return z, fitted, scale


def best_step(x: np.ndarray, codes: np.ndarray, years: np.ndarray) -> np.ndarray:
    """The best single level step of each column of ``x`` (months x series) as a matrix of the same shape (zeros
    when the series is too short to search), from the first, least-squares pass of the level-shift scan."""
    from .level_shift import MIN_SEGMENT, break_search

    n = x.shape[0]
    if n < 2 * MIN_SEGMENT + 4 or x.shape[1] == 0:
        return np.zeros_like(x)
    fit = break_search(x, codes, years, raw=True)
    return (np.arange(n)[:, None] >= fit.k[None, :]) * fit.delta[None, :]


@lru_cache(maxsize=16)
def null_model(codes: tuple, years: tuple, n_sim: int = N_SIM) -> tuple[NullTail, float]:
    """Simulated null of a series' largest robust z for this month pattern, and the interval factor.

    Each simulated series goes through the detector's steps: less its best
    step, then the robust z. The factor is the SD of the error in predicting
    a left-out month from the rest (the size interval's scale), in units of
    the robust residual SD, measured on the same simulations: residuals of a
    running-median fit are smaller than the error of predicting a month the
    fit did not see.
    """
    codes_a, years_a = np.asarray(codes), np.asarray(years, dtype=float)
    rng = rng_for("spike", codes, years, n_sim)
    sims = ar1_noise(rng, len(codes_a), n_sim, rng.uniform(0.0, 0.6, n_sim)) * 0.25
    sims = sims - best_step(sims, codes_a, years_a)
    z, _, _ = spike_z(sims, codes_a)
    mid = len(codes_a) // 2
    valid = np.ones(sims.shape, dtype=bool)
    valid[mid] = False
    fitted, _, scale = robust_decompose(sims, codes_a, valid=valid, smooth=SMOOTH)
    err = (sims[mid] - fitted[mid]) / scale
    factor = 1.4826 * float(np.median(np.abs(err - np.median(err))))
    return NullTail.fit(z.max(axis=0)), max(factor, 1.0)


def detect(p: Panel, *, min_positive: float = MIN_POSITIVE, **_) -> pd.DataFrame:
    """Spike rows (one per tested series: its largest month, raw p-value) for the panel ``p``."""
    keep = effective_rows(p.dates, p.usd)
    codes = season_codes(p.dates, keep)
    ue = p.usd[keep]
    if p.n_series == 0 or len(codes) < 13:
        return rows_frame(p, np.zeros(0, dtype=int), KIND)
    tested = np.flatnonzero((ue > 0).mean(axis=0) >= min_positive)
    if len(tested) == 0:
        return rows_frame(p, tested, KIND)
    t = p.dates[keep]
    years = (t.year - t[0].year + (t.month - 1) / 12).to_numpy(dtype=float)
    u = ue[:, tested]
    x_raw, c = log_level(u)
    step = best_step(x_raw, codes, years)
    x = x_raw - step
    z, fitted, scale = spike_z(x, codes, valid=u > 0)
    at = z.argmax(axis=0)
    cols = np.arange(len(tested))
    stat = z[at, cols]
    tail, factor = null_model(tuple(codes.tolist()), tuple(np.round(years, 6).tolist()))
    log_p = tail.log_sf(stat)
    # expected level of the spike month from the other months only (the month itself pulls its fit up)
    loo = u > 0
    loo[at, cols] = False
    fitted, _trend, scale = robust_decompose(x, codes, valid=loo, smooth=SMOOTH)
    fit_at = fitted[at, cols] + step[at, cols]  # the expected level of the month, its step put back
    half = 1.96 * factor * scale
    to_usd = p.scale_or_one()[keep][:, tested][at, cols]  # analysed USD -> recorded USD in that month
    expected = np.maximum(np.exp(fit_at) - c, 0.0) * to_usd
    low = np.maximum(np.exp(fit_at - half) - c, 0.0) * to_usd
    high = (np.exp(fit_at + half) - c) * to_usd
    observed = u[at, cols] * to_usd
    size = (u[at, cols] + c) / np.exp(fit_at)  # = exp(z-scale residual) on the step-adjusted series
    size_low, size_high = size * np.exp(-half), size * np.exp(half)
    wide = half > np.log(MAX_BAND)  # a band this wide says the series is too erratic to size a spike on
    size_low, size_high = np.where(wide, np.nan, size_low), np.where(wide, np.nan, size_high)
    low, high = np.where(wide, np.nan, low), np.where(wide, np.nan, high)
    eff_dates = p.dates[keep]
    jan_feb = np.zeros(len(p.dates), dtype=bool)
    jan_feb[np.flatnonzero(keep)[:-1]] = np.diff(np.flatnonzero(keep)) > 1
    merged = jan_feb[np.flatnonzero(keep)[at]]
    period = [fmt_month(eff_dates[a]) for a in at]
    detail = [
        f"{per}{' (January-February, published together: each month shows half)' if m else ''}: "
        f"{fmt_usd(o)} USD against {fmt_usd(e)} expected "
        + (f"(no band: the series' ordinary months vary over x{MAX_BAND:.0f} either way, so the spike's size has no "
           f"useful interval)" if wd else f"(95% band {fmt_usd(lo)}-{fmt_usd(hi)})")
        + f", x{s:.1f}, robust z {zz:.1f}"
        for per, m, o, e, lo, hi, s, zz, wd in zip(period, merged, observed, expected, low, high, size, stat, wide,
                                                   strict=True)
    ]
    detail = with_basis(p.basis_notes()[tested], detail)
    return rows_frame(
        p, tested, KIND, period=period, score=z_score(log_p), observed_usd=observed, expected_usd=expected,
        expected_low=low, expected_high=high, size=size, size_low=size_low, size_high=size_high,
        p_value=np.exp(log_p), detail=detail,
    )
