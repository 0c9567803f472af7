"""Counterfactual excess: what the pre-period predicts for the post-period, and how far the data are above it.

Model. On the pre window, each series' ``x = log(usd + c)`` (``c`` 1% of its
median positive pre month; effective months, a merged Jan-Feb counted once)
follows

    x_t = a + b t + season(month) + e_t,    e_t AR(1),

a regression with ARMA(1,0) errors, the SARIMAX model that three years of
monthly data can support (a seasonal ARIMA needs more; the tests check the
forecasts against statsmodels' SARIMAX). Single outlying pre months are
clipped first (robust trend + season fit, +-3 robust SDs). The model is
fitted by GLS (Prais-Winsten) under every AR coefficient of a 0.05 grid, one
matrix solve each for all series.

The AR coefficient is uncertain on ~33 months, and it matters: it scales the
long-run variance of a projected sum by (1 + rho) / (1 - rho). So each path
draws it: from the lag-1 autocorrelation of the OLS residuals, a regression
calibration fitted on simulations of this design gives its mean and spread.

Projection. ``n_sim`` paths per series from the end of the pre window to the
end of the post window (the transition months are projected too, then left
out): the AR coefficient drawn as above, the residual variance from its
scaled inverse chi-square, the coefficients from their GLS normal given both
(parameter uncertainty, notably of the trend, which dominates long
horizons), the AR(1) errors continued from the last pre residual. Each path is taken back to USD (``exp(x) - c``:
the mean of the back-transformed paths, not exp of the mean log, which would
be a median and too low) and summed over the post window, a merged Jan-Feb
counting for both months. ``expected_usd`` is the mean of those sums,
``expected_low/high`` their 2.5% and 97.5% points, ``observed_usd`` the
actual post-window total, ``size`` = observed / expected with the interval
observed / high .. observed / low (the upper end empty, NaN, when the
projection's 2.5% point is 0; size, interval and the expected columns
empty, with the reason in ``detail``, when the band spans more than
``MAX_SPREAD``, x1000: the mean of such a projection, and a ratio to it,
mean nothing). For the study's focal partner the model is fitted to its
series relative to the comparison group (:mod:`~analysis.anomalies.relative`)
without a fitted trend of its own: its counterfactual is parallel trends,
had it moved with the group. Each path then draws an own trend from the
spread of the comparison partners' own pre-window trends about the group's
(``drift``, :func:`~analysis.anomalies.relative.trend_drift`), because a
partner's trend can stray from the group's as theirs do; and the projected
paths are multiplied back by the group's actual index, so ``expected_usd``
is what the focal partner would have recorded had it moved with the group
(in recorded USD, like ``observed_usd``). Extrapolating the focal partner's
own three-year trend instead (as for a series without a comparison group)
would make every interval three to five times wider and answer a different
question. The p-value is two-sided: the log of the
observed sum is standardised by the mean and SD of the log simulated sums
(a sum of log-normals is close to log-normal; the simulations alone cannot
give p-values small enough for a multiple-testing correction) and referred
to a t distribution with the residual degrees of freedom (the mixture over
drawn AR coefficients and variances has heavier tails than a normal). On
simulated series of exactly this model the p-values are conservative for
AR coefficients up to 0.3 and close to nominal at 0.6.

Scope: it runs on the focal partner's series only (a pre-specified set, so
the false discovery rate is controlled over it); other partners are the
comparison's business (analysis.compare). Vectorised, it costs about a
second for a thousand series.

Assumes: the pre-window trend and season would have continued, on the log
scale, with AR(1) noise (for a focal series relative to its comparison
group: its level relative to the group, give or take an own trend as far
from the group's as the comparison partners' own trends are); the pre window has at least ``MIN_PRE_MONTHS``
effective months and is positive in ``MIN_POSITIVE`` (75%) of them. When it
fails: a trend that was bending before 2022 (a linear log trend
extrapolated for three years is a strong assumption: the interval widens
with the horizon but only for the trend uncertainty the pre window shows);
a one-off pre-window shock shifts the baseline; series with sparse pre data
are not tested (see the new-flow detector).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Unpack

import numpy as np
import pandas as pd
from scipy import stats

from ..periods import Window
from ..results import USD_KINDS, ranked_findings
from ..study import Study, StudyArgs
from .common import (
    RHO_GRID,
    AnomalyError,
    Panel,
    ar1_noise,
    design,
    effective_rows,
    fmt_month,
    fmt_usd,
    log_level,
    month_weights,
    panel,
    rng_for,
    rows_frame,
    season_codes,
    z_score,
)
from .level_shift import cleaned, prais
from .relative import with_basis

KIND = "counterfactual_excess"
N_SIM = 1000
MIN_PRE_MONTHS = 24
MIN_POSITIVE = 0.75
CHUNK = 50
MAX_SPREAD = 1000.0
"""Widest projected 95% band (high over low) for which a size is reported."""


@dataclass
class Projection:
    """Simulated post-window paths summarised per series.

    ``month_mean/low/high`` (projected months x series, USD) over ``months``;
    ``total_mean/low/high`` and ``log_mean/log_sd`` of the post-window sums;
    ``fitted`` (pre months x series, USD) the in-sample fit, ``sigma`` the
    residual SD, ``rho`` the AR coefficient.
    """

    months: pd.DatetimeIndex
    pre_months: pd.DatetimeIndex
    month_mean: np.ndarray
    month_low: np.ndarray
    month_high: np.ndarray
    total_mean: np.ndarray
    total_low: np.ndarray
    total_high: np.ndarray
    log_mean: np.ndarray
    log_sd: np.ndarray
    fitted: np.ndarray
    sigma: np.ndarray
    rho: np.ndarray
    dof: np.ndarray  # residual degrees of freedom per series


def _years(d: pd.DatetimeIndex, origin: pd.Timestamp) -> np.ndarray:
    return ((d.year - origin.year) + (d.month - origin.month) / 12).to_numpy(dtype=float)


@lru_cache(maxsize=16)
def rho_map(codes: tuple, years: tuple, n_sim: int = 4000, trend: bool = True) -> tuple[float, float, float]:
    """Regression calibration of the AR estimate for this design.

    Simulates AR(1) series (coefficient uniform on 0-0.9) and regresses the
    true coefficient on the raw residual autocorrelation ``r``: returns
    ``(a, b, s)`` so that the coefficient given ``r`` is about
    ``N(a + b r, s^2)``; projections draw it from there (on three years of
    data the AR coefficient is uncertain, and it scales the long-run
    variance of the projected sum by (1 + rho) / (1 - rho)).
    """
    codes_a, years_a = np.asarray(codes), np.asarray(years, dtype=float)
    rng = rng_for("counterfactual", codes, years, n_sim)
    rho = rng.uniform(0.0, 0.9, n_sim)
    sims = ar1_noise(rng, len(codes_a), n_sim, rho)
    Z = _base_design(codes_a, years_a, _seasonal(codes_a), trend)
    raw = _raw_rho(cleaned(sims, codes_a), Z)
    b, a = np.polyfit(raw, rho, 1)
    spread = float(np.std(rho - (a + b * raw), ddof=2))
    return float(a), float(b), spread


def _base_design(codes: np.ndarray, years: np.ndarray, seasonal: bool, trend: bool) -> np.ndarray:
    """The pre-window design: intercept, trend (unless ``trend`` is False), month-of-year dummies."""
    Z = design(codes, years, seasonal=seasonal)
    return Z if trend else np.delete(Z, 1, axis=1)


def _seasonal(codes: np.ndarray) -> bool:
    return len(codes) >= 24 and np.bincount(np.unique(codes, return_inverse=True)[1]).min() >= 2


def _raw_rho(x: np.ndarray, Z: np.ndarray) -> np.ndarray:
    beta = np.linalg.lstsq(Z, x, rcond=None)[0]
    e = x - Z @ beta
    return (e[1:] * e[:-1]).sum(axis=0) / np.maximum((e**2).sum(axis=0), 1e-300)


def project(usd: np.ndarray, dates: pd.DatetimeIndex, pre: Window, post: Window, *, n_sim: int = N_SIM,
            seed: int = 0, bands: bool = False, scale: np.ndarray | None = None, trend: bool = True,
            drift: np.ndarray | None = None) -> Projection:
    """Fit the pre-window model to every column of ``usd`` and simulate the months after the pre window.

    ``bands`` also keeps each month's mean and 2.5%/97.5% points (for charts).
    ``scale`` (months x series, like ``usd``) multiplies the projected paths
    month by month: for a series analysed relative to a comparison index,
    the index, so that the projection comes back in recorded USD (what the
    pre-window model predicts given how the comparison group actually moved).
    ``trend=False`` leaves the linear trend out of the model (level, season
    and AR(1) errors only): the counterfactual of a series relative to its
    comparison group, which is parallel trends. ``drift`` (per column, log
    units a year) then gives each path a trend of its own drawn from
    N(0, drift^2), pivoting at the middle of the pre window: parallel trends
    up to the spread of own trends seen among the comparison partners.
    """
    keep = effective_rows(dates, usd)
    w = month_weights(dates, keep)
    d = dates[keep]
    in_pre = np.asarray((d >= pre.start) & (d <= pre.end))
    ahead = np.asarray((d > pre.end) & (d <= post.end))
    in_post = np.asarray((d >= post.start) & (d <= post.end))[ahead]
    u = usd[keep]
    x_pre, c = log_level(u[in_pre])
    codes = season_codes(dates, keep)
    origin = d[in_pre][0]
    yrs = _years(d, origin)
    codes_pre, yrs_pre = codes[in_pre], yrs[in_pre]
    seasonal = _seasonal(codes_pre)
    Z = _base_design(codes_pre, yrs_pre, seasonal, trend)
    Zf = _design_like(codes[ahead], yrs[ahead] - yrs_pre.mean(), codes_pre, seasonal, trend)
    clean = cleaned(x_pre, codes_pre, valid=u[in_pre] > 0)
    a, b, spread = rho_map(tuple(codes_pre.tolist()), tuple(np.round(yrs_pre, 6).tolist()), trend=trend)
    centre = np.clip(a + b * _raw_rho(clean, Z), RHO_GRID[0], RHO_GRID[-1])
    n, k = Z.shape
    dof = max(n - k, 1)
    m, h = usd.shape[1], int(ahead.sum())
    # the GLS fit under every AR coefficient of the grid (one solve each for all series)
    n_g = len(RHO_GRID)
    beta = np.zeros((n_g, k, m))
    sig2 = np.zeros((n_g, m))
    chol = np.zeros((n_g, k, k))
    for g, r in enumerate(RHO_GRID):
        P = prais(float(r), n)
        Zs, xs = P @ Z, P @ clean
        beta[g] = np.linalg.lstsq(Zs, xs, rcond=None)[0]
        sig2[g] = ((xs - Zs @ beta[g]) ** 2).sum(axis=0) / dof
        chol[g] = np.linalg.cholesky(np.linalg.inv(Zs.T @ Zs))
    e_last = clean[-1][None, :] - np.einsum("k,gkm->gm", Z[-1], beta)  # last pre residual under each fit
    rng = np.random.default_rng(seed)
    out = {name: np.zeros((h, m)) for name in ("mean", "low", "high")}
    tot = {name: np.zeros(m) for name in ("mean", "low", "high", "lmean", "lsd")}
    wf = w[ahead] * in_post
    mult = np.ones((h, m)) if scale is None else scale[keep][ahead]
    for start in range(0, m, CHUNK):
        cols = np.arange(start, min(start + CHUNK, m))
        nc = len(cols)
        rho_draw = np.clip(centre[cols][None, :] + spread * rng.standard_normal((n_sim, nc)),
                           RHO_GRID[0], RHO_GRID[-1])
        g = np.rint((rho_draw - RHO_GRID[0]) / (RHO_GRID[1] - RHO_GRID[0])).astype(int)
        cc = np.broadcast_to(cols, (n_sim, nc))
        s2 = sig2[g, cc] * dof / rng.chisquare(dof, (n_sim, nc))  # residual variance draws
        zb = rng.standard_normal((n_sim, nc, k))
        dev = np.empty_like(zb)
        for gi in np.unique(g):
            at = g == gi
            dev[at] = zb[at] @ chol[gi].T
        b_draw = beta[g, :, cc] + np.sqrt(s2)[..., None] * dev
        paths = np.einsum("nsk,hk->nsh", b_draw, Zf)  # (sim, series, h): trend + season
        if drift is not None:
            slope = drift[cols][None, :] * rng.standard_normal((n_sim, nc))
            paths += slope[:, :, None] * (yrs[ahead] - yrs_pre.mean())[None, None, :]
        r_ = RHO_GRID[g]
        e = e_last[g, cc]
        sd = np.sqrt(s2)
        for t in range(h):  # AR(1) errors continued from the last pre residual (steps = effective months)
            e = r_ * e + sd * rng.standard_normal((n_sim, nc))
            paths[:, :, t] += e
        y = np.maximum(np.exp(paths) - c[cols][None, :, None], 0.0) * mult[:, cols].T[None, :, :]
        if bands:
            out["mean"][:, cols] = y.mean(axis=0).T
            out["low"][:, cols], out["high"][:, cols] = (q.T for q in np.quantile(y, [0.025, 0.975], axis=0))
        total = (y * wf[None, None, :]).sum(axis=2)
        tot["mean"][cols] = total.mean(axis=0)
        tot["low"][cols], tot["high"][cols] = np.quantile(total, [0.025, 0.975], axis=0)
        lt = np.log(total + c[cols] * wf.sum())
        tot["lmean"][cols], tot["lsd"][cols] = lt.mean(axis=0), lt.std(axis=0, ddof=1)
    g0 = np.rint((centre - RHO_GRID[0]) / (RHO_GRID[1] - RHO_GRID[0])).astype(int)
    b0 = beta[g0, :, np.arange(m)].T
    fitted = np.maximum(np.exp(Z @ b0) - c, 0.0)  # on the analysed scale (relative series: before the index)
    return Projection(d[ahead], d[in_pre], out["mean"], out["low"], out["high"], tot["mean"], tot["low"],
                      tot["high"], tot["lmean"], tot["lsd"], fitted, np.sqrt(sig2[g0, np.arange(m)]), centre,
                      np.full(m, dof))


def project_panel(p: Panel, cols: np.ndarray, pre: Window, post: Window, *, n_sim: int = N_SIM,
                  bands: bool = False) -> Projection:
    """:func:`project` of the panel's columns ``cols``, each with the model its basis calls for.

    A series relative to its comparison group (:mod:`~analysis.anomalies.relative`)
    is projected without a fitted trend of its own (parallel trends: had it
    moved with the group), each path drawing an own trend from the spread
    of the comparison partners' own trends (``drift``), and multiplied back
    by the group's index, so its projection is in recorded USD; a series
    analysed as recorded keeps its own fitted pre-window trend. The detector and the chart bands
    (:func:`counterfactual_band`) both project through here, so a band shows
    exactly the counterfactual behind a finding.
    """
    cols = np.asarray(cols, dtype=int)
    rel = p.relative_mask()[cols]
    parts = {}
    for flag in (True, False):
        at = cols[rel == flag]
        if len(at):
            parts[flag] = project(p.usd[:, at], p.dates, pre, post, n_sim=n_sim, bands=bands,
                                  scale=p.scale_or_one()[:, at], trend=not flag,
                                  drift=p.drift_or_zero()[at] if flag else None)
    if len(parts) == 1:
        return next(iter(parts.values()))
    a, b = parts[True], parts[False]
    order = np.argsort(np.r_[np.flatnonzero(rel), np.flatnonzero(~rel)], kind="stable")

    def join(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.concatenate([x, y], axis=-1)[..., order]

    return Projection(a.months, a.pre_months, *(join(getattr(a, f), getattr(b, f)) for f in (
        "month_mean", "month_low", "month_high", "total_mean", "total_low", "total_high", "log_mean", "log_sd",
        "fitted", "sigma", "rho", "dof")))


def _design_like(codes: np.ndarray, years_centred: np.ndarray, ref_codes: np.ndarray, seasonal: bool,
                 trend: bool = True) -> np.ndarray:
    """Design rows for new months with the columns of ``_base_design(ref_codes, ...)`` (trend centred like the
    fit)."""
    cols = [np.ones(len(codes)), years_centred] if trend else [np.ones(len(codes))]
    if seasonal:
        cols += [(codes == c).astype(float) for c in np.unique(ref_codes)[1:]]
    return np.column_stack(cols)


def eligible(usd: np.ndarray, dates: pd.DatetimeIndex, pre: Window, post: Window) -> np.ndarray:
    """Series with enough positive pre-window months and some post-window months to project."""
    keep = effective_rows(dates, usd)
    d = dates[keep]
    in_pre = np.asarray((d >= pre.start) & (d <= pre.end))
    in_post = np.asarray((d >= post.start) & (d <= post.end))
    if in_pre.sum() < MIN_PRE_MONTHS or in_post.sum() < 3:
        return np.zeros(usd.shape[1], dtype=bool)
    return (usd[keep][in_pre] > 0).mean(axis=0) >= MIN_POSITIVE


def detect(p: Panel, *, pre: Window, post: Window, focal: int | None = None, n_sim: int = N_SIM,
           **_) -> pd.DataFrame:
    """Counterfactual-excess rows for the focal partner's eligible series (raw p-values)."""
    scope = np.ones(p.n_series, dtype=bool) if focal is None else (p.keys["partner_code"] == focal).to_numpy()
    if p.n_series == 0 or not scope.any():
        return rows_frame(p, np.zeros(0, dtype=int), KIND)
    ok = scope & eligible(p.usd, p.dates, pre, post)
    tested = np.flatnonzero(ok)
    if len(tested) == 0:
        return rows_frame(p, tested, KIND)
    proj = project_panel(p, tested, pre, post, n_sim=n_sim)
    keep = effective_rows(p.dates, p.usd[:, tested])
    w = month_weights(p.dates, keep)
    d = p.dates[keep]
    in_post = np.asarray((d >= post.start) & (d <= post.end))
    observed = (p.raw_usd()[keep][:, tested] * (w * in_post)[:, None]).sum(axis=0)
    _logged, c = log_level(p.usd[keep][:, tested][np.asarray((d >= pre.start) & (d <= pre.end))])
    zobs = (np.log(observed + c * (w * in_post).sum()) - proj.log_mean) / np.maximum(proj.log_sd, 1e-12)
    log_p = np.minimum(np.log(2) + stats.t.logsf(np.abs(zobs), proj.dof), 0.0)
    # the projected band is uninformative when it spans more than MAX_SPREAD (a trend extrapolated with a
    # large uncertainty): no size, no interval (they would read x0.0001 or x10,000)
    wide = ~(proj.total_high <= MAX_SPREAD * np.maximum(proj.total_low, 0.0)) | ~(proj.total_mean > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(wide, np.nan, observed / proj.total_mean)
        size_low = np.where(wide, np.nan, observed / proj.total_high)
        size_high = np.where(wide | (proj.total_low <= 0), np.nan, observed / proj.total_low)
    excess, ex_lo, ex_hi = observed - proj.total_mean, observed - proj.total_high, observed - proj.total_low
    detail = [
        f"{post}: {fmt_usd(o)} USD; "
        + (f"no projection, no size: the 95% band projected from {pre} spans more than x{MAX_SPREAD:.0f} (the pre "
           f"window does not pin down the trend)" if wd else
           f"against {fmt_usd(e)} projected from {pre} (95% {fmt_usd(lo)}-{fmt_usd(hi)}); excess {fmt_usd(x)} "
           f"(95% {fmt_usd(a)} to {fmt_usd(b)})")
        for o, e, lo, hi, x, a, b, wd in zip(observed, proj.total_mean, proj.total_low, proj.total_high, excess,
                                             ex_lo, ex_hi, wide, strict=True)
    ]
    expected, e_low, e_high = (np.where(wide, np.nan, v) for v in (proj.total_mean, proj.total_low, proj.total_high))
    detail = with_basis(p.basis_notes()[tested], detail)
    return rows_frame(
        p, tested, KIND, period=fmt_month(post.start), score=z_score(log_p), observed_usd=observed,
        expected_usd=expected, expected_low=e_low, expected_high=e_high, size=size,
        size_low=size_low, size_high=size_high, p_value=np.exp(log_p), detail=detail,
    )


def counterfactual_band(series: pd.DataFrame, study: Study | None = None, *, family: str, n_sim: int = 2000,
                        **study_args: Unpack[StudyArgs]) -> pd.DataFrame:
    """Monthly observed USD of the focal partner's ``family`` with the pre-window fit and the projected band.

    Columns ``date, observed, expected, low, high, synthetic``: over the pre
    window ``expected`` is the in-sample fit (low/high its 95% band for an
    ordinary month); after it, the mean of the simulated paths and their
    2.5%/97.5% points (transition months included). A merged Jan-Feb row
    stands for both months (each shows the same values). The model is the
    detector's (:func:`project_panel`): where the focal partner's series is
    analysed relative to its comparison group, the band is what it would
    have recorded had it moved with the group (the group's actual index
    times the projection without an own trend), in recorded USD like
    ``observed``; otherwise its own pre-window trend projected.
    """
    from .relative import relative_panel

    st = Study.resolve(study, **study_args)
    whole = panel(series, st, partners=[st.focal, *st.controls])
    if len(whole.dates):
        st = st.closed(whole.dates.max())
    p = relative_panel(whole, st.focal, st.controls, st.pre)
    sel = ((p.keys["family_id"] == family) & (p.keys["partner_code"] == st.focal)).to_numpy()
    if not sel.any():
        raise AnomalyError(f"no series for reporter {st.reporter}, flow {st.flow}, partner {st.focal}, "
                           f"family {family!r}")
    p = p.subset(sel)
    pre_w, post_w = st.pre, st.post
    if not eligible(p.usd, p.dates, pre_w, post_w)[0]:
        raise AnomalyError(f"family {family} for partner {st.focal}: too few positive months in {pre_w} to project")
    proj = project_panel(p, np.array([0]), pre_w, post_w, n_sim=n_sim, bands=True)
    keep = effective_rows(p.dates, p.usd)
    d = p.dates[keep]
    in_pre = np.asarray((d >= pre_w.start) & (d <= pre_w.end))
    _, c = log_level(p.usd[keep][in_pre])
    band = np.exp(1.96 * proj.sigma[0])
    fit = proj.fitted[:, 0] + c[0]
    index = p.scale_or_one()[keep][in_pre, 0]  # the comparison group's index (1 for a series as recorded)
    rows = pd.DataFrame({
        "date": np.concatenate([proj.pre_months, proj.months]),
        "expected": np.concatenate([proj.fitted[:, 0] * index, proj.month_mean[:, 0]]),
        "low": np.concatenate([np.maximum(fit / band - c[0], 0.0) * index, proj.month_low[:, 0]]),
        "high": np.concatenate([(fit * band - c[0]) * index, proj.month_high[:, 0]]),
    })
    obs = pd.DataFrame({"date": p.dates, "observed": p.raw_usd()[:, 0]})
    out = obs.merge(rows, on="date", how="left")
    out[["expected", "low", "high"]] = out[["expected", "low", "high"]].ffill(limit=1).where(
        out["date"] >= pre_w.start)  # a merged February shows its January's values
    out = out[(out["date"] >= pre_w.start) & (out["date"] <= post_w.end)].reset_index(drop=True)
    out["synthetic"] = p.synthetic
    out.attrs["basis"] = str(p.basis_notes()[0]) or "own series"
    return out


BAND_COLUMNS = ["family", "date", "observed", "expected", "low", "high", "note", "basis", "synthetic"]
"""``basis``: what the band's counterfactual is ("relative to the median of N comparison partners": had the focal
partner moved with them; "own series: ...": its own pre-window trend)."""


def counterfactual_bands(series: pd.DataFrame, findings: pd.DataFrame, study: Study, *, top: int = 6,
                         n_sim: int = 2000) -> pd.DataFrame:
    """Bands (:func:`counterfactual_band`) of the focal partner's ``top`` families with value findings.

    Families in the order of :func:`~analysis.anomalies.common.ranked_findings`,
    each once. Where the pre window gives nothing to project from (a new
    flow), the observed series alone, with the reason in ``note``. ``basis``
    says what each band's counterfactual is (:data:`BAND_COLUMNS`).
    """
    flags = findings[(findings["partner_code"] == study.focal) & findings["kind"].isin(USD_KINDS)]
    families = list(dict.fromkeys(ranked_findings(flags)["family"]))[:max(top, 0)] if len(flags) else []
    parts = []
    for family in families:
        try:
            band = counterfactual_band(series, study, family=family, n_sim=n_sim)
            band = band.assign(note="", basis=band.attrs.get("basis", ""))
        except AnomalyError:
            p = panel(series, study, partners=[study.focal])
            col = int(np.flatnonzero((p.keys["family_id"] == family).to_numpy())[0])
            band = pd.DataFrame({"date": p.dates, "observed": p.usd[:, col], "expected": np.nan, "low": np.nan,
                                 "high": np.nan, "note": "no counterfactual: too few months with trade in the "
                                                         "pre window to project from", "basis": "",
                                 "synthetic": p.synthetic})
        parts.append(band.assign(family=family))
    if not parts:
        return pd.DataFrame(columns=BAND_COLUMNS)
    return pd.concat(parts, ignore_index=True)[BAND_COLUMNS]
