"""Level shift: a lasting change in a series' level, its date found from the data, its size with an interval.

Method. Each series is put on a log scale, ``x = log(usd + c)`` with ``c`` 1% of
its median positive month (so the size is a ratio of USD levels and a zero
month stays finite), on its effective months (a merged Jan-Feb counts once).
Single outlying months are pulled in first: residuals from a running-median
trend + season fit (:func:`~analysis.anomalies.common.robust_decompose`) are
clipped at +-3 robust SDs; the running median keeps a step sharp, so this
cleans spikes and zero months without blunting shifts. The model is

    x_t = a + b t + season(month) + delta * 1[t >= k] + e_t,   e_t AR(1),

fitted by GLS (Prais-Winsten). The AR coefficient comes from the lag-1
autocorrelation of the OLS residuals of the best single-break fit, corrected
by a regression calibration from simulations (that autocorrelation is biased
low) and rounded to a 0.05 grid, so each grid value is one design and the
scan over all series is a few matrix products. The break month ``k`` is
searched over every effective month leaving at least ``MIN_SEGMENT`` (6)
months on each side; the statistic is the largest F for adding the step
(sup-F, Andrews 1993). Its p-value accounts for that search: the whole
procedure (cleaning, AR estimate, search) is run on 12,000 simulated
Gaussian AR(1) series of the same month pattern (AR coefficients uniform on
0-0.9), and the observed sup-F is referred to the simulations whose AR
estimate is within 0.1 of its own (the null depends on the AR coefficient),
with a fitted generalized Pareto upper tail
(:class:`~analysis.anomalies.common.NullTail`). Simulated once per month
pattern and process (a second or two).

Output per finding: ``period`` = first month after the break; ``size`` =
exp(delta), the ratio of the level after to the level before (trend and season
held fixed), with a 95% interval exp(delta +- 1.96 se) conditional on the
found date; ``observed_usd`` = mean monthly USD from the break on,
``expected_usd`` = that divided by the size (the level without the shift),
``expected_low/high`` from the size interval. ``detail`` also says whether the
unit value (USD/kg) moved at the same date: a shift with USD/kg flat is a
change in quantity, the reverse of a unit-value finding. A shift *into*
mostly-zero months (fewer than half the months after the break positive) has
no log-scale size (it would only measure the 1% offset): ``size`` is then the
ratio of mean monthly USD after to before, without an interval (NaN), and
``detail`` says so.

The study's focal partner is tested relative to its comparison group
(:mod:`~analysis.anomalies.relative`): ``size`` is then its change relative
to the group, ``observed_usd`` its recorded USD and ``expected_usd`` what it
would have recorded moving with the group.

Assumes: one break (with several, the largest is found; the others inflate
the noise); a linear trend and a fixed season on the log scale before and
after; Gaussian-like AR(1) noise after cleaning. When it fails: a change in
trend (not level) looks like a shift near the middle; a break in the first
or last six months is not searched (not "lasting" yet); lumpy series (many
zero months) have noise far from Gaussian, so they are tested only when
positive in at least ``MIN_POSITIVE`` (75%) of months, and a "shift" from
mostly-zero months to a steady flow is left to the new-flow detector (the
finding is dropped when fewer than half the months before the break are
positive). The size interval ignores the uncertainty of the date, which is
small for large shifts and not for small ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .common import (
    RHO_GRID,
    NullTail,
    Panel,
    ar1_noise,
    design,
    effective_rows,
    fmt_month,
    fmt_usd,
    log_level,
    month_weights,
    months_apart,
    rng_for,
    robust_decompose,
    rows_frame,
    season_codes,
    z_score,
)
from .relative import with_basis

KIND = "level_shift"
MIN_SEGMENT = 6
"""Fewest effective months on either side of a break."""
MIN_POSITIVE = 0.75
"""Fewest share of positive months for a series to be tested."""
CLIP = 3.0
"""Residuals beyond this many robust SDs are pulled in before the break search."""
N_SIM = 12000


@dataclass
class BreakFit:
    """Best single break per column: index ``k`` (first effective row after it), sup-F ``stat``,
    step ``delta`` (log scale) with standard error ``se``, AR coefficient ``rho``, residual SD ``sigma``."""

    k: np.ndarray
    stat: np.ndarray
    delta: np.ndarray
    se: np.ndarray
    rho: np.ndarray
    sigma: np.ndarray


def prais(rho: float, n: int) -> np.ndarray:
    """The Prais-Winsten transform matrix for AR(1) errors with coefficient ``rho``."""
    P = np.eye(n)
    P[0, 0] = np.sqrt(1.0 - rho**2)
    i = np.arange(1, n)
    P[i, i - 1] = -rho
    return P


def _gls_blocks(x: np.ndarray, Z: np.ndarray, S: np.ndarray, rho: np.ndarray):
    """Per AR coefficient on the grid: (rho, columns, Prais-Winsten-transformed steps and series with Z
    projected out)."""
    n = x.shape[0]
    for r in np.unique(rho):
        cols = np.flatnonzero(rho == r)
        P = prais(float(r), n)
        Q = np.linalg.qr(P @ Z)[0]
        Ss = P @ S
        xs = P @ x[:, cols]
        yield r, cols, Ss - Q @ (Q.T @ Ss), xs - Q @ (Q.T @ xs)


def _scan(x: np.ndarray, Z: np.ndarray, S: np.ndarray, rho: np.ndarray) -> tuple[BreakFit, np.ndarray]:
    """GLS single-break scan of every column of ``x`` over the step columns ``S``.

    One design per AR coefficient on the grid, so each block of series is a
    couple of matrix products (Frisch-Waugh: base regressors projected out).
    Returns the fit and the residuals in the transformed space.
    """
    n, m = x.shape
    dof = max(n - Z.shape[1] - 1, 1)
    k = np.zeros(m, dtype=int)
    stat, delta, se, sigma = (np.zeros(m) for _ in range(4))
    resid = np.zeros_like(x)
    for _, cols, RS, rx in _gls_blocks(x, Z, S, rho):
        den = np.maximum((RS**2).sum(axis=0), 1e-12)
        num = RS.T @ rx
        kb = np.argmax(num**2 / den[:, None], axis=0)
        at = np.arange(len(cols))
        d = num[kb, at] / den[kb]
        gain = d * num[kb, at]
        sig2 = np.maximum((rx**2).sum(axis=0) - gain, 1e-12) / dof
        k[cols], delta[cols] = kb, d
        stat[cols] = gain / sig2
        se[cols] = np.sqrt(sig2 / den[kb])
        sigma[cols] = np.sqrt(sig2)
        resid[:, cols] = rx - RS[:, kb] * d
    return BreakFit(k, stat, delta, se, rho.astype(float), sigma), resid


def _ar1_raw(resid: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each column of ``resid``."""
    num = (resid[1:] * resid[:-1]).sum(axis=0)
    den = np.maximum((resid**2).sum(axis=0), 1e-300)
    return np.nan_to_num(num / den)


def to_grid(rho: np.ndarray) -> np.ndarray:
    """AR coefficients clipped to [0, 0.9] and rounded to RHO_GRID."""
    r = np.clip(rho, RHO_GRID[0], RHO_GRID[-1])
    return RHO_GRID[np.abs(r[:, None] - RHO_GRID[None, :]).argmin(axis=1)]


def steps(n: int, min_segment: int = MIN_SEGMENT) -> tuple[np.ndarray, np.ndarray]:
    """Candidate break rows and the matching step regressors (n x K)."""
    cand = np.arange(min_segment, n - min_segment + 1)
    S = (np.arange(n)[:, None] >= cand[None, :]).astype(float)
    return cand, S


def break_search(x: np.ndarray, codes: np.ndarray, years: np.ndarray, *, rho_map: tuple[float, float] = (0.0, 1.0),
                 min_segment: int = MIN_SEGMENT, clean: np.ndarray | None = None, raw: bool = False) -> BreakFit:
    """Best single level break in each column of ``x`` (effective rows), by the two-pass GLS sup-F scan.

    Pass 1 (OLS) finds a break and the lag-1 autocorrelation ``r`` of its
    residuals; ``rho_map = (a, b)`` turns that into the AR coefficient of
    pass 2 (``a + b r``: a regression calibration from simulations, since the
    residual autocorrelation of a fitted break model is biased low). With
    ``raw`` pass 2 is skipped and ``rho`` holds ``r``. ``clean`` may pass
    ``cleaned(x, codes)`` when already computed.
    """
    n = x.shape[0]
    Z = design(codes, years, seasonal=n >= 36)
    if clean is None:
        clean = cleaned(x, codes)
    cand, S = steps(n, min_segment)
    first, e = _scan(clean, Z, S, np.zeros(x.shape[1]))
    r = _ar1_raw(e)
    if raw:
        first.rho, first.k = r, cand[first.k]
        return first
    fit, _ = _scan(clean, Z, S, to_grid(rho_map[0] + rho_map[1] * r))
    fit.k = cand[fit.k]
    return fit


def cleaned(x: np.ndarray, codes: np.ndarray, clip: float = CLIP, valid: np.ndarray | None = None) -> np.ndarray:
    """``x`` with residuals from the robust trend + season fit clipped at +-``clip`` robust SDs.

    Entries where ``valid`` is False (zero months) do not shape the fit; they
    are clipped like any other outlier.
    """
    fitted, resid, scale = robust_decompose(x, codes, valid=valid)
    return fitted + np.clip(resid, -clip * scale[None, :], clip * scale[None, :])


def step_at(x: np.ndarray, codes: np.ndarray, years: np.ndarray, k: np.ndarray, *,
            rho_map: tuple[float, float] = (0.0, 1.0), valid: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Size (log scale) and standard error of a step at the given row ``k`` of each column (same GLS model)."""
    n, m = x.shape
    Z = design(codes, years, seasonal=n >= 36)
    clean = cleaned(x, codes, valid=valid)
    k = np.clip(np.asarray(k, dtype=int), 1, n - 1)
    S = (np.arange(n)[:, None] >= np.arange(1, n)[None, :]).astype(float)  # a step at every row 1..n-1
    _, e = _fixed(clean, Z, S, k, np.zeros(m))
    return _fixed(clean, Z, S, k, to_grid(rho_map[0] + rho_map[1] * _ar1_raw(e)))[0]


def _fixed(x: np.ndarray, Z: np.ndarray, S: np.ndarray, k: np.ndarray, rho: np.ndarray
           ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """GLS step estimates with the step of column j at row ``k[j]`` (columns of S are steps at rows 1..n-1)."""
    n, m = x.shape
    dof = max(n - Z.shape[1] - 1, 1)
    est, se = np.zeros(m), np.zeros(m)
    resid = np.zeros_like(x)
    for _, cols, RS, rx in _gls_blocks(x, Z, S, rho):
        RS = RS[:, k[cols] - 1]
        den = np.maximum((RS**2).sum(axis=0), 1e-12)
        d = (RS * rx).sum(axis=0) / den
        res = rx - RS * d
        est[cols] = d
        se[cols] = np.sqrt((res**2).sum(axis=0) / dof / den)
        resid[:, cols] = res
    return (est, se), resid


@dataclass(frozen=True)
class BreakNull:
    """Null distribution of the sup-F of :func:`break_search` for one month pattern.

    ``rho_map`` calibrates the AR estimate; ``tails`` maps each AR grid value
    to the simulated null of sup-F among simulations whose calibrated AR
    estimate lies within 0.1 of it (the null depends on the AR coefficient
    through its estimate, so p-values are conditional on it).
    """

    rho_map: tuple[float, float]
    tails: dict

    def log_sf(self, stat: np.ndarray, rho: np.ndarray) -> np.ndarray:
        out = np.zeros(len(stat))
        for r in np.unique(rho):
            at = rho == r
            out[at] = self.tails[float(r)].log_sf(stat[at])
        return out


@lru_cache(maxsize=16)
def null_model(codes: tuple, years: tuple, min_segment: int = MIN_SEGMENT, n_sim: int = N_SIM) -> BreakNull:
    """Simulate Gaussian AR(1) series (AR coefficients uniform on 0-0.9) through :func:`break_search`."""
    codes_a, years_a = np.asarray(codes), np.asarray(years, dtype=float)
    rng = rng_for("level_shift", codes, years, min_segment, n_sim)
    rho = rng.uniform(0.0, 0.9, n_sim)
    sims = ar1_noise(rng, len(codes_a), n_sim, rho) * 0.25
    clean = cleaned(sims, codes_a)
    raw = break_search(sims, codes_a, years_a, min_segment=min_segment, clean=clean, raw=True).rho
    b, a = np.polyfit(raw, rho, 1)
    fit = break_search(sims, codes_a, years_a, min_segment=min_segment, clean=clean, rho_map=(float(a), float(b)))
    tails = {}
    for r in RHO_GRID:
        near = np.abs(fit.rho - r) <= 0.1 + 1e-9
        width = 0.1
        while near.sum() < 1000 and width < 1.0:
            width += 0.05
            near = np.abs(fit.rho - r) <= width + 1e-9
        tails[float(r)] = NullTail.fit(fit.stat[near])
    return BreakNull((float(a), float(b)), tails)


def effective(p: Panel, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Effective rows mask, their month codes, their times in years, and the row weights."""
    keep = effective_rows(p.dates, value)
    t = p.dates[keep]
    years = (t.year - t[0].year + (t.month - 1) / 12).to_numpy(dtype=float) if len(t) else np.zeros(0)
    return keep, season_codes(p.dates, keep), years, month_weights(p.dates, keep)


def score_breaks(x: np.ndarray, codes: np.ndarray, years: np.ndarray, *, min_segment: int = MIN_SEGMENT,
                 valid: np.ndarray | None = None) -> tuple[BreakFit, np.ndarray]:
    """Break fits and their log p-values (against the simulated null) for the columns of ``x``."""
    null = null_model(tuple(codes.tolist()), tuple(np.round(years, 6).tolist()), min_segment)
    fit = break_search(x, codes, years, rho_map=null.rho_map, min_segment=min_segment,
                       clean=cleaned(x, codes, valid=valid))
    return fit, null.log_sf(fit.stat, fit.rho)


def detect(p: Panel, *, min_positive: float = MIN_POSITIVE, alpha: float = 0.05, **_) -> pd.DataFrame:
    """Level-shift rows (one per tested series, raw p-values) for the panel ``p``.

    The unit-value note of ``detail`` is worked out where ``p < alpha`` only
    (no other row can become a finding).
    """
    usd = p.usd
    keep, codes, years, w = effective(p, usd)
    n = int(keep.sum())
    if p.n_series == 0 or n < 2 * MIN_SEGMENT + 4:
        return rows_frame(p, np.zeros(0, dtype=int), KIND)
    ue = usd[keep]
    tested = np.flatnonzero((ue > 0).mean(axis=0) >= min_positive)
    if len(tested) == 0:
        return rows_frame(p, tested, KIND)
    x, c = log_level(ue[:, tested])
    fit, log_p = score_breaks(x, codes, years, valid=ue[:, tested] > 0)
    rows = np.arange(n)[:, None]
    after = rows >= fit.k[None, :]
    raw = p.raw_usd()[keep][:, tested]
    obs = (raw * w[:, None] * after).sum(axis=0) / (w[:, None] * after).sum(axis=0)
    pos = ue[:, tested] > 0
    pos_before = (pos & ~after).sum(axis=0) / np.maximum((~after).sum(axis=0), 1)
    pos_after = (pos & after).sum(axis=0) / np.maximum(after.sum(axis=0), 1)
    size = np.exp(fit.delta)
    lo, hi = np.exp(fit.delta - 1.96 * fit.se), np.exp(fit.delta + 1.96 * fit.se)
    log_p = np.where(pos_before >= 0.5, log_p, 0.0)  # a shift out of mostly-zero months is a new flow
    # a shift into mostly-zero months: the log-scale size only measures the 1% offset, so give the ratio of
    # mean USD after to before (trend and season not held fixed) and no interval
    to_zero = pos_after < 0.5
    if to_zero.any():
        mean_before = (ue[:, tested] * w[:, None] * ~after).sum(axis=0) / np.maximum((w[:, None] * ~after).sum(axis=0),
                                                                                     1e-12)
        mean_after = (ue[:, tested] * w[:, None] * after).sum(axis=0) / np.maximum((w[:, None] * after).sum(axis=0),
                                                                                   1e-12)
        ratio = np.divide(mean_after, mean_before, out=np.full(len(tested), np.nan), where=mean_before > 0)
        size = np.where(to_zero, ratio, size)
        lo, hi = np.where(to_zero, np.nan, lo), np.where(to_zero, np.nan, hi)
    eff_dates = p.dates[keep]
    period = [fmt_month(eff_dates[k]) for k in fit.k]
    uv_note = np.full(len(tested), "", dtype=object)
    worth = np.flatnonzero(np.exp(log_p) < alpha)
    uv_note[worth] = _unit_value_note(p, keep, codes, years, tested[worth], fit.k[worth])
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(size > 0, obs / size, np.nan)
        e_low, e_high = obs / hi, obs / lo
    detail = [
        (f"level x{s:.2f} (95% {a:.2f}-{b:.2f})" if not z else
         f"level x{s:.2f} (ratio of mean months; no interval: most months after the break are zero, so the "
         f"log-scale size is not estimable)")
        + f" from {per}: {fmt_usd(e)} -> {fmt_usd(o)} USD/month; AR(1) {r:.2f}" + (f"; {note}" if note else "")
        for s, a, b, z, per, o, e, r, note in zip(size, lo, hi, to_zero, period, obs, expected, fit.rho, uv_note,
                                                  strict=True)
    ]
    detail = with_basis(p.basis_notes()[tested], detail)
    return rows_frame(
        p, tested, KIND, period=period, score=z_score(log_p), observed_usd=obs, expected_usd=expected,
        expected_low=e_low, expected_high=e_high, size=size, size_low=lo, size_high=hi,
        p_value=np.exp(log_p), detail=detail,
    )


def _unit_value_note(p: Panel, keep: np.ndarray, codes: np.ndarray, years: np.ndarray, cols: np.ndarray,
                     k: np.ndarray) -> list[str]:
    """Whether USD/kg moved at each break (the same GLS model with the step fixed at ``k``)."""
    from .unit_value import unit_value_matrix

    uv, ok = unit_value_matrix(p.raw_usd()[keep][:, cols], p.kg[keep][:, cols])
    notes = ["USD/kg not available"] * len(cols)
    if ok.any():
        null = null_model(tuple(codes.tolist()), tuple(np.round(years, 6).tolist()))
        est, se = step_at(np.log(uv[:, ok]), codes, years, k[ok], rho_map=null.rho_map)
        for j, e, s in zip(np.flatnonzero(ok), est, se, strict=False):
            ratio, lo, hi = np.exp(e), np.exp(e - 1.96 * s), np.exp(e + 1.96 * s)
            moved = not (lo <= 1.0 <= hi) and abs(e) > np.log(1.25)
            notes[j] = (f"USD/kg also x{ratio:.2f} ({lo:.2f}-{hi:.2f})" if moved
                        else f"USD/kg flat (x{ratio:.2f}, {lo:.2f}-{hi:.2f}): a change in quantity")
    return notes


def fold_edge_spikes(tested: pd.DataFrame, alpha: float, folded: str) -> pd.DataFrame:
    """``tested`` with each spike row that sits within a month of its own series' level shift (q < alpha) folded
    into it: ``detail`` prefixed by ``folded`` and the shift. The first months after a break sit above a
    smoothed trend that has not caught up yet; such a "spike" is the shift's edge, not an event of its own."""
    out = tested.copy()
    kind = out["kind"].to_numpy()
    shifts = out[(kind == KIND) & (out["q_value"].to_numpy(dtype=float) < alpha)]
    if shifts.empty or not (kind == "spike").any():
        return out
    at = {(r, p, f): per for r, p, f, per in zip(shifts["reporter_code"], shifts["partner_code"], shifts["family"],
                                                  shifts["period"], strict=True)}
    detail = out["detail"].astype(str).to_numpy(dtype=object).copy()
    for i in np.flatnonzero(kind == "spike"):
        key = (out["reporter_code"].iat[i], out["partner_code"].iat[i], out["family"].iat[i])
        per = at.get(key)
        if per is not None and not detail[i].startswith(folded) and months_apart(out["period"].iat[i], per) <= 1:
            detail[i] = f"{folded}{KIND} of {key[2]} from {per}: {detail[i]}"
    out["detail"] = detail
    return out
