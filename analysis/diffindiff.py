"""Is it specific to the focal partner? Difference-in-differences, event study and triple difference.

All three compare the focal partner (Belarus) with the comparison partners,
by Poisson pseudo-maximum likelihood with fixed effects:

- :func:`family_did` (``did_family.csv``), per family: the relative ratio of
  :func:`analysis.compare.compare` (two-unit PPML: focal vs the pooled
  comparison partners, unit and month effects) with its placebo-calibrated
  interval and q-value (Benjamini-Hochberg over the focal partner's
  families), the pre-trend check and the honest bounds,
  and the model the issue names as a cross-check: statsmodels GLM Poisson on
  the focal and each comparison partner separately, with partner-by-family
  and month fixed effects, standard errors clustered by partner-family
  (``sm_p_cluster``) and Driscoll-Kraay by month (``sm_p_dk``). Its point
  estimate ``sm_ratio`` equals ``relative_ratio`` exactly (the likelihood
  factorises: how the comparison partners share their own total says
  nothing about the focal coefficient; a test checks it), so only the
  standard errors differ.
- :func:`event_study` (``event_study.csv``), per group: the focal partner's
  share of the two-unit total by quarter (focal x quarter effects, reference
  2021Q4), with partner-by-family and family-by-month fixed effects. On two
  units these are exactly a fractional logit of the share on family effects
  and the quarter dummies, weighted by the total.
- :func:`triple_diff` (``triple_diff.csv``), per group: the focal partner's
  relative change in the group's families over its relative change in the
  control families (partner-by-family, family-by-month and partner-by-month
  fixed effects; as a share model: family and month effects plus
  post x group).

Inference. With one treated partner, clustering by partner-family (the
textbook choice) or by time does not see the treated partner's own
idiosyncratic change, and rejects true nulls far too often (on the demo
panel, with each comparison partner in turn as the fake focal partner, 5%
tests of the family DiD reject about half of the true nulls with
partner-family clusters; scripts/validate_compare.py prints the numbers).
What users see is the studentized placebo calibration of
:func:`analysis.stats.studentized_placebo`, the same for the family DiD
(through compare), the event study, the triple difference and their
pre-trend checks: each unit's (focal or comparison partner's) HAC variance,
moderated over units x cells; times the unit's in-time scale, measured
where nothing happened (a fake break in the middle of the pre window for
the triple difference, the pre-break quarters for the event study), so
that a focal partner noisier or lumpier than the comparison partners keeps
its own, wider, interval (Ferman and Pinto 2019); plus the spread of the
comparison partners' placebo estimates (each against the others, as if
treated: Conley and Taber 2011) beyond their own sampling noise; referred
to a Student t with Welch-Satterthwaite degrees of freedom.

Pre-trends: a trend in the focal partner's share within the pre window
(family level: see compare; group level: a common linear trend with family
effects), with the same calibration, flags ``pre_trend`` and never drops a
row (family level: the honest bounds ``rr_*`` of compare say how large a
departure from parallel trends would explain a finding); the event study
shows the pre-2022 path itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

import numpy as np
import pandas as pd

from .comparison import (
    MIN_PLACEBOS,
    StudyPanel,
    before_after_design,
    check_alpha,
    compare_panel,
    merged_januaries,
    study_panel,
)
from .errors import InputError
from .results import CompareResult, CrossCheck, DidConfig, DidResult
from .stats import (
    UnitScales,
    bh_qvalues,
    fixed_b_reference,
    fraclogit_batch,
    hac_lags,
    in_time_scales,
    moderated_variances,
    studentized_placebo,
    t_pvalues,
)
from .study import Study, StudyArgs, check_choice

REFERENCE_QUARTER = "2021Q4"
SCREEN_P = 0.05
"""cross_check="screened" fits the statsmodels cross-check where the HAC-only relative p-value is below this
(or the placebo-calibrated one below 0.2)."""


def did(series: pd.DataFrame, study: Study | None = None, *, alpha: float = 0.05,
        cross_check: CrossCheck = "screened", compared: CompareResult | None = None,
        reference_quarter: str = REFERENCE_QUARTER, **study_args: Unpack[StudyArgs]) -> DidResult:
    """Family DiD, group event study and triple difference for the focal partner (a :class:`DidResult`).

    ``study`` or its fields as keywords say what is compared. ``compared``
    (the :func:`analysis.comparison.compare` result for the same data and
    study) saves recomputing the family-level relative ratios.
    ``cross_check``: the statsmodels cross-check for every family (``"all"``),
    only where a cheap test saw a change (``"screened"``, default: HAC-only
    relative p < 0.05 or placebo-calibrated p < 0.2) or never (``"none"``).
    """
    s = Study.resolve(study, **study_args)
    panel = study_panel(series, s, require_focal=True)
    if len(panel.controls) < 2:
        raise InputError(f"the DiD needs at least 2 comparison partners in the data (found {len(panel.controls)})")
    return did_panel(panel, alpha=alpha, cross_check=cross_check, compared=compared,
                     reference_quarter=reference_quarter)


def did_panel(panel: StudyPanel, *, alpha: float = 0.05, cross_check: CrossCheck = "screened",
              compared: CompareResult | None = None, reference_quarter: str = REFERENCE_QUARTER) -> DidResult:
    """:func:`did` on a prepared :class:`~analysis.comparison.StudyPanel`."""
    from threadpoolctl import threadpool_limits

    check_alpha(alpha)
    check_choice(cross_check, CrossCheck, "cross_check")
    if compared is None:
        compared = compare_panel(panel, partners=[panel.focal], alpha=alpha)
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: BLAS threads only add overhead
        family = family_did(panel, compared.table, alpha=alpha, cross_check=cross_check)
        events = event_study(panel, alpha=alpha, reference_quarter=reference_quarter)
        triple = triple_diff(panel, alpha=alpha)
    for frame in (family, events, triple):
        frame["synthetic"] = panel.synthetic
    config = DidConfig(alpha=alpha, reference_quarter=reference_quarter, cross_check=cross_check,
                       comparison_partners=tuple(panel.controls.tolist()))
    return DidResult(family, events, triple, panel.study, config, panel.synthetic)


# ------------------------------------------------------------ family DiD --

FAMILY_COLUMNS = [
    "partner_code", "family", "family_name", "group", "kind", "relative_ratio", "relative_low", "relative_high",
    "relative_p_value", "relative_q_value", "relative_p_hac", "n_placebo", "pre_trend", "pre_trend_p", "rr_low",
    "rr_high", "rr_breakdown", "break_2022", "sm_ratio", "sm_p_cluster", "sm_p_dk", "sm_partners", "note", "synthetic",
]


def family_did(panel: StudyPanel, compare_frame: pd.DataFrame, *, alpha: float = 0.05,
               cross_check: CrossCheck = "screened") -> pd.DataFrame:
    """Per family, the focal partner's relative change (see the module docstring)."""
    rows = compare_frame[compare_frame["partner_code"] == panel.focal]
    if rows.empty:
        raise InputError(f"compare_frame has no rows for the focal partner {panel.focal}")
    fam = rows.set_index("family").reindex(panel.families["family"])
    out = pd.DataFrame({
        "partner_code": panel.focal,
        "family": panel.families["family"].to_numpy(),
        "family_name": panel.families["family_name"].to_numpy(),
        "group": panel.families["group"].to_numpy(),
        "kind": panel.families["kind"].to_numpy(),
    })
    for col in ("relative_ratio", "relative_low", "relative_high", "relative_p_value", "relative_q_value",
                "relative_p_hac", "n_placebo", "pre_trend", "pre_trend_p", "rr_low", "rr_high", "rr_breakdown",
                "break_2022", "note"):
        out[col] = fam[col].to_numpy()
    if cross_check != "none":
        from threadpoolctl import threadpool_limits

        if cross_check == "screened":  # the expensive model only where a cheap test saw something
            run = (out["relative_p_hac"].to_numpy(float) < SCREEN_P) | (out["relative_p_value"].to_numpy(float) < 0.2)
        else:
            run = np.ones(len(out), dtype=bool)
        skipped = {"sm_ratio": np.nan, "sm_p_cluster": np.nan, "sm_p_dk": np.nan, "sm_partners": 0,
                   "note": "statsmodels cross-check not run (screened out: no sign of a relative change)"}
        with threadpool_limits(limits=1, user_api="blas"):  # many small fits: threads only add overhead
            sm_rows = [_statsmodels_did(panel, f) if run[f] else skipped for f in range(len(panel.families))]
        sm = pd.DataFrame(sm_rows)
        for col in ("sm_ratio", "sm_p_cluster", "sm_p_dk", "sm_partners"):
            out[col] = sm[col].to_numpy()
        extra = sm["note"].to_numpy()
        out["note"] = [("; ".join(x for x in (a, b) if x)) for a, b in zip(out["note"].fillna(""), extra, strict=False)]
    else:
        out["sm_ratio"] = out["sm_p_cluster"] = out["sm_p_dk"] = np.nan
        out["sm_partners"] = 0
    out["synthetic"] = panel.synthetic
    return out[FAMILY_COLUMNS]


def _statsmodels_did(panel: StudyPanel, f: int) -> dict:
    """statsmodels GLM Poisson: focal + each comparison partner, partner and month effects, focal x post."""
    import statsmodels.api as sm
    from statsmodels.stats import sandwich_covariance as sw

    cols = np.flatnonzero(panel.in_pre | panel.in_post)
    codes = np.r_[[panel.focal], panel.controls]
    Ysub = panel.Y[panel.index_of(codes), f][:, cols]
    keep_p = Ysub.sum(axis=1) > 0
    post = panel.in_post[cols]
    empty = {"sm_ratio": np.nan, "sm_p_cluster": np.nan, "sm_p_dk": np.nan, "sm_partners": int(keep_p[1:].sum()),
             "note": ""}
    if not keep_p[0] or Ysub[0, ~post].sum() == 0 or Ysub[0, post].sum() == 0 or keep_p[1:].sum() < 2:
        return empty
    Ysub = Ysub[keep_p]
    keep_t = Ysub.sum(axis=0) > 0
    Ysub, post = Ysub[:, keep_t], post[keep_t]
    P, T = Ysub.shape
    unit = np.repeat(np.arange(P), T)
    time = np.tile(np.arange(T), P)
    X = np.zeros((P * T, P + T))
    X[np.arange(P * T), unit] = 1.0
    later = time > 0
    X[np.flatnonzero(later), P + time[later] - 1] = 1.0
    X[:, -1] = (unit == 0) & np.tile(post, P)
    Yn = Ysub / Ysub.mean()
    # start from constant partner shares of each month's total (close to the optimum: 2-3 IRLS steps)
    N = Yn.sum(axis=0)
    start = np.r_[np.log(np.maximum(Yn.sum(axis=1), 1e-12) / N.sum()) + np.log(N[0]), np.log(N[1:] / N[0]), 0.0]
    try:
        res = sm.GLM(Yn.ravel(), X, family=sm.families.Poisson()).fit(start_params=start, maxiter=100)
        b = float(res.params[-1])
        v_cl = sw.cov_cluster(res, unit)[-1, -1]  # CRV1 with statsmodels' small-sample factor
        v_dk = sw.cov_nw_groupsum(res, hac_lags(T), time)[-1, -1]
    except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - numerical failure
        return {**empty, "note": f"statsmodels fit failed: {exc}"}
    return {
        "sm_ratio": float(np.exp(b)),
        "sm_p_cluster": float(t_pvalues(b / np.sqrt(v_cl), P - 1)),
        "sm_p_dk": float(t_pvalues(b / np.sqrt(v_dk), T - 1)),
        "sm_partners": P - 1,
        "note": "",
    }


# ------------------------------------------------------- shared helpers --

def _two_unit(panel: StudyPanel, fam_idx: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Focal first, then each comparison partner as a placebo: y and pooled comparison c, (1+J, F', T')."""
    Yc = panel.Y[panel.index_of(panel.controls)][:, fam_idx][:, :, cols]
    yf = panel.Y[panel.index_of([panel.focal])][:, fam_idx][:, :, cols]
    csum = Yc.sum(axis=0)
    y = np.concatenate([yf, Yc], axis=0)
    c = np.concatenate([csum[None], csum[None] - Yc], axis=0)
    return y, np.maximum(c, 0.0)


def _month_rows(panel: StudyPanel, lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Month columns from lo to hi, with merged Jan/Feb pairs as one weight-2 row (annual panels: the years)."""
    cols = np.flatnonzero((panel.months >= lo) & (panel.months <= hi))
    weight = np.ones(len(cols))
    if panel.annual:
        return cols, weight
    jan = merged_januaries(panel.Y, panel.months, cols)
    weight[np.isin(cols, jan)] = 2.0
    keep = ~np.isin(cols, jan + 1)
    return cols[keep], weight[keep]


def _share_fit(y: np.ndarray, c: np.ndarray, weight: np.ndarray, X: np.ndarray, time: np.ndarray,
               lags: int):
    """Fractional logit of y/(y+c) for the focal and every placebo unit (rows of y), rows (F' x T') stacked."""
    S = y.shape[0]
    tot = (y + c) * weight[None, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tot > 0, y * weight[None, None, :] / tot, 0.0)
    return fraclogit_batch(share.reshape(S, -1), tot.reshape(S, -1), X, time=time, maxlags=lags)


@dataclass
class UnitFits:
    """Estimates of one coefficient per cell for the focal partner and every placebo unit: (units, cells)."""

    coef: np.ndarray
    var: np.ndarray  # HAC variance on the scale of its fixed-b reference (c^2 x variance)
    nu: float  # degrees of freedom of that reference

    @classmethod
    def stack(cls, parts: list[tuple[np.ndarray, np.ndarray]], nu: float) -> UnitFits:
        """Columns (coef, var) of the units, one pair per cell."""
        if not parts:
            return cls(np.zeros((0, 0)), np.zeros((0, 0)), nu)
        return cls(np.column_stack([p[0] for p in parts]), np.column_stack([p[1] for p in parts]), nu)


def _unit_codes(panel: StudyPanel) -> np.ndarray:
    """Codes of the units of :func:`_two_unit`: the focal partner, then each comparison partner."""
    return np.r_[[panel.focal], panel.controls].astype(np.int64)


def _scales(panel: StudyPanel, fake: UnitFits) -> UnitScales:
    """Each unit's in-time scale from estimates where nothing happened (:func:`analysis.stats.in_time_scales`),
    their variances moderated first."""
    if fake.coef.size == 0:
        return UnitScales.none()
    S, K = fake.coef.shape
    unit = np.repeat(_unit_codes(panel)[:S], K)
    mod = moderated_variances(fake.var.ravel(), fake.nu, unit, np.tile(np.arange(K), S))
    return in_time_scales(fake.coef.ravel(), mod.var, mod.df, unit)


def _calibrated(panel: StudyPanel, fits: UnitFits, scales: UnitScales, alpha: float,
                pool: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Studentized placebo calibration (:func:`analysis.stats.studentized_placebo`) of every cell's focal
    estimate: units on axis 0 (the focal partner, then the placebos), cells on axis 1. Returns (units, cells)
    arrays ``p``, ``low``, ``high`` (log scale) and ``n_placebo``; NaN with fewer than MIN_PLACEBOS placebos."""
    S, K = fits.coef.shape
    d = fits.coef.ravel()
    unit = np.repeat(_unit_codes(panel)[:S], K)
    cell = np.tile(np.arange(K), S)
    cal = studentized_placebo(d, fits.var.ravel(), fits.nu, unit, cell, np.repeat(np.arange(S) > 0, K),
                              scales=scales, pool=None if pool is None else np.tile(pool, S),
                              min_placebos=MIN_PLACEBOS)
    half = cal.half_width(alpha)
    return {"p": cal.p(d).reshape(S, K), "low": (d - half).reshape(S, K), "high": (d + half).reshape(S, K),
            "n_placebo": cal.n_placebo.reshape(S, K)}


def _reference(weight: np.ndarray, x: np.ndarray, lags: int) -> tuple[float, float]:
    """Degrees of freedom nu and scale c of a HAC t statistic of ``x`` (a post indicator or a trend) over the
    months with frequency ``weight`` (:func:`analysis.stats.fixed_b_reference`): (c, nu)."""
    return fixed_b_reference(np.column_stack([np.ones(len(x)), x]), 1, lags, weight=weight)


def _usable_families(y: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Families where the focal and the pooled comparison partners both exported something."""
    return (y[0].sum(axis=1) > 0) & (c[0].sum(axis=1) > 0)


# ---------------------------------------------------------- event study --

EVENT_COLUMNS = [
    "group", "kind", "quarter", "event_time", "reference", "coef", "ratio", "ratio_low", "ratio_high", "p_value",
    "n_placebo", "n_families", "pre_trend_p", "pre_trend", "synthetic",
]


def event_study(panel: StudyPanel, *, alpha: float = 0.05, reference_quarter: str = REFERENCE_QUARTER) -> pd.DataFrame:
    """Quarterly path of the focal partner's share against the pooled comparison partners, per group.

    Months from the start of the pre window to the end of the post window
    (the transition included: the path shows it). ``ratio`` is exp of the
    focal x quarter coefficient: the focal partner's value relative to the
    comparison partners, against the reference quarter (ratio 1). Annual
    panels have no quarters: the table is empty.

    Inference (see the module docstring): each quarter coefficient's
    variance clusters the scores by month (a HAC sum over months would be
    degenerate: a quarter dummy's own score sums to zero within its quarter),
    is moderated over units x (group, quarter), scaled by the unit's in-time
    scale measured on its pre-break quarters (nothing happened there: a
    focal partner twice as noisy as the rest gets intervals about twice as
    wide), and the placebos' spread in the same quarter is added (shrunk
    toward the same quarter's spread in the other groups).
    """
    if panel.annual:  # quarters need months: a few annual points give no path (see the compare note)
        return pd.DataFrame(columns=EVENT_COLUMNS)
    lo, hi = panel.pre.start, panel.post.end
    cols, weight = _month_rows(panel, lo, hi)
    quarters = panel.months[cols].to_period("Q")
    ref = pd.Period(reference_quarter, freq="Q")
    if ref not in set(quarters):
        raise InputError(f"reference quarter {reference_quarter} is outside the event window {lo:%Y-%m} to {hi:%Y-%m}")
    qs = sorted(set(quarters))
    q_cols = [q for q in qs if q != ref]
    q_index = {q: i for i, q in enumerate(q_cols)}
    first_post = ref + 1  # event time 0: the quarter after the reference
    before = np.array([q < ref for q in q_cols])
    nu = _quarter_df(quarters, ref, q_cols)
    fitted = []
    for group, fam in panel.families.groupby("group", sort=True):
        fam_idx = fam.index.to_numpy()
        y, c = _two_unit(panel, fam_idx, cols)
        use = _usable_families(y, c)
        if use.sum() == 0:
            continue
        y, c = y[:, use], c[:, use]
        F, T = y.shape[1], y.shape[2]
        X = np.zeros((F * T, F + len(q_cols)))
        rows = np.arange(F * T)
        X[rows, np.repeat(np.arange(F), T)] = 1.0
        qpos = np.array([q_index.get(q, -1) for q in quarters])
        qrow = np.tile(qpos, F)
        has = qrow >= 0
        X[rows[has], F + qrow[has]] = 1.0
        fit = _share_fit(y, c, weight, X, np.tile(np.arange(T), F), 0)
        fitted.append((group, fam, fam_idx[use], fit.coef[:, F:], np.diagonal(fit.cov, axis1=1, axis2=2)[:, F:]))
    if not fitted:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    K = len(q_cols)
    all_fits = UnitFits(np.concatenate([f[3] for f in fitted], axis=1), np.concatenate([f[4] for f in fitted], axis=1),
                        nu)
    pre_cols = np.flatnonzero(np.tile(before, len(fitted)))
    scales = _scales(panel, UnitFits(all_fits.coef[:, pre_cols], all_fits.var[:, pre_cols], nu))
    cal = _calibrated(panel, all_fits, scales, alpha, pool=np.tile(np.arange(K), len(fitted)))
    trends = _group_pre_trends(panel, [f[2] for f in fitted], scales, alpha)
    parts = []
    for g, (group, fam, _, coef, _) in enumerate(fitted):
        at = slice(g * K, (g + 1) * K)
        frame = pd.DataFrame({
            "group": group, "kind": fam["kind"].iat[0], "quarter": [str(q) for q in q_cols],
            "event_time": [(q - first_post).n for q in q_cols], "reference": False,
            "coef": coef[0], "ratio": np.exp(coef[0]), "ratio_low": np.exp(cal["low"][0, at]),
            "ratio_high": np.exp(cal["high"][0, at]), "p_value": cal["p"][0, at], "n_placebo": cal["n_placebo"][0, at],
            "n_families": len(fitted[g][2]),
        })
        ref_row = pd.DataFrame({"group": [group], "kind": [fam["kind"].iat[0]], "quarter": [str(ref)],
                                "event_time": [(ref - first_post).n], "reference": [True], "coef": [0.0],
                                "ratio": [1.0], "ratio_low": [1.0], "ratio_high": [1.0], "p_value": [np.nan],
                                "n_placebo": [0], "n_families": [len(fitted[g][2])]})
        frame = pd.concat([frame, ref_row], ignore_index=True).sort_values("event_time", ignore_index=True)
        frame["pre_trend_p"] = trends[g]
        frame["pre_trend"] = bool(trends[g] < alpha) if np.isfinite(trends[g]) else False
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True)
    out["synthetic"] = panel.synthetic
    return out[EVENT_COLUMNS]


def _quarter_df(quarters: pd.PeriodIndex, ref: pd.Period, q_cols: list) -> float:
    """Degrees of freedom of a quarter coefficient's month-clustered variance: the months of a typical quarter
    and of the reference quarter, less the two means (the coefficient is a difference of two quarter means)."""
    q = np.asarray(quarters)
    n_ref = int((q == ref).sum())
    n_q = float(np.median([(q == k).sum() for k in q_cols])) if q_cols else 1.0
    return max(n_ref + n_q - 2.0, 1.0)


def _group_pre_trends(panel: StudyPanel, fam_sets: list[np.ndarray], scales: UnitScales, alpha: float) -> np.ndarray:
    """Per group: p-value of a common linear trend in the focal share within the pre window, with the same
    calibration as the event study (moderated HAC variances, the units' in-time scales, the placebos' spread)."""
    cols, weight = _month_rows(panel, panel.pre.start, panel.pre.end)
    t = np.asarray((panel.months[cols] - panel.months[cols][0]).days) / 365.25
    lags = hac_lags(len(cols))
    c_ref, nu = _reference(weight, t - t.mean(), lags)
    parts, groups = [], []
    for g, fam_idx in enumerate(fam_sets):
        y, c = _two_unit(panel, fam_idx, cols)
        use = _usable_families(y, c) & (y[0].sum(axis=1) > 0)
        if use.sum() == 0:
            continue
        y, c = y[:, use], c[:, use]
        F, T = y.shape[1], y.shape[2]
        X = np.zeros((F * T, F + 1))
        X[np.arange(F * T), np.repeat(np.arange(F), T)] = 1.0
        X[:, F] = np.tile(t - t.mean(), F)
        fit = _share_fit(y, c, weight, X, np.tile(np.arange(T), F), lags)
        parts.append((fit.coef[:, F], c_ref**2 * fit.cov[:, F, F]))
        groups.append(g)
    out = np.full(len(fam_sets), np.nan)
    if parts:
        cal = _calibrated(panel, UnitFits.stack(parts, nu), scales, alpha)
        out[groups] = cal["p"][0]
    return out


# ------------------------------------------------------ triple difference --

TRIPLE_COLUMNS = [
    "group", "kind", "n_families", "n_control_families", "ratio", "ratio_low", "ratio_high", "p_value", "q_value",
    "p_hac", "n_placebo", "pre_trend_p", "pre_trend", "break_2022", "note", "synthetic",
]


def triple_diff(panel: StudyPanel, *, alpha: float = 0.05) -> pd.DataFrame:
    """Per group: the focal partner's relative change in the group over that in the control families.

    ratio > 1: relative to the comparison partners, the focal partner's
    imports of the group rose more than its imports of control goods
    (exp of the post x group coefficient with family and month effects on
    the focal share; annual panels: the same with year effects, the variance
    clustered by year). q-values: Benjamini-Hochberg over the groups;
    ``break_2022``: q < alpha (a pre-trend is reported, ``pre_trend``, and
    does not drop the row). Inference as in the module docstring: the
    HAC variance (fixed-b reference) moderated over units x groups, scaled by
    each unit's in-time scale (the same triple difference on a fake break in
    the middle of the pre window), plus the placebos' spread.
    """
    fams = panel.families
    ctrl_idx = fams.index[fams["kind"] == "control"].to_numpy()
    if len(ctrl_idx) == 0:
        return pd.DataFrame(columns=TRIPLE_COLUMNS)
    design = before_after_design(panel)
    cols, weight, post = design.cols, design.weight, design.post
    pre_cols, pre_weight = _month_rows(panel, panel.pre.start, panel.pre.end)
    fake = _fake_post(panel, pre_cols)
    annual = panel.annual  # a few years: no HAC (lag 0: clustered by year), no fake break, no trend test
    lags, pre_lags = (0, 0) if annual else (hac_lags(len(cols)), hac_lags(len(pre_cols)))
    c_main, nu_main = _reference(weight, post, lags)
    t = np.asarray((panel.months[pre_cols] - panel.months[pre_cols][0]).days) / 365.25
    c_tr, nu_tr = _reference(pre_weight, t - t.mean(), pre_lags) if not annual else (1.0, np.inf)
    c_fk, nu_fk = _reference(pre_weight, fake, pre_lags) if fake is not None else (1.0, np.inf)
    rows, main, trend, fake_fits, trend_at = [], [], [], [], []
    for group, fam in fams[fams["kind"] != "control"].groupby("group", sort=True):
        g_idx = fam.index.to_numpy()
        res = _ddd_fit(panel, g_idx, ctrl_idx, cols, weight, post, trend=False, lags=lags)
        if res is None:
            rows.append({"group": group, "kind": fam["kind"].iat[0], "n_families": 0, "n_control_families": 0,
                         "note": "too few families with exports by the focal and comparison partners"})
            continue
        coef, var, T, n_g, n_c = res
        rows.append({"group": group, "kind": fam["kind"].iat[0], "n_families": n_g, "n_control_families": n_c,
                     "ratio": float(np.exp(coef[0])), "note": ""})
        with np.errstate(invalid="ignore"):
            rows[-1]["p_hac"] = float(t_pvalues(coef[0] / np.sqrt(var[0]) / c_main, nu_main))
        main.append((coef, c_main**2 * var))
        if fake is not None:
            fk = _ddd_fit(panel, g_idx, ctrl_idx, pre_cols, pre_weight, fake, trend=False, lags=pre_lags)
            if fk is not None:
                fake_fits.append((fk[0], c_fk**2 * fk[1]))
        tr = None if annual else _ddd_fit(panel, g_idx, ctrl_idx, pre_cols, pre_weight, None, trend=True,
                                          lags=pre_lags)
        if tr is not None:
            trend.append((tr[0], c_tr**2 * tr[1]))
            trend_at.append(len(main) - 1)
    out = pd.DataFrame(rows)
    if main:
        scales = _scales(panel, UnitFits.stack(fake_fits, nu_fk))
        cal = _calibrated(panel, UnitFits.stack(main, nu_main), scales, alpha)
        done = out["n_families"].to_numpy() > 0
        out.loc[done, "ratio_low"] = np.exp(cal["low"][0])
        out.loc[done, "ratio_high"] = np.exp(cal["high"][0])
        out.loc[done, "p_value"] = cal["p"][0]
        out.loc[done, "n_placebo"] = cal["n_placebo"][0]
        trend_p = np.full(len(main), np.nan)
        if trend:
            trend_p[trend_at] = _calibrated(panel, UnitFits.stack(trend, nu_tr), scales, alpha)["p"][0]
        out.loc[done, "pre_trend_p"] = trend_p
        notes = out["note"].to_numpy(object)
        pre_trend = np.zeros(len(out), dtype=bool)
        for j, i in enumerate(np.flatnonzero(done)):
            pre_trend[i] = bool(np.isfinite(trend_p[j]) and trend_p[j] < alpha)
            if pre_trend[i]:
                notes[i] = "pre_trend: the group already diverged from the control families before the post window"
            if cal["n_placebo"][0, j] < MIN_PLACEBOS:
                notes[i] = (f"fewer than {MIN_PLACEBOS} comparison partners with data: no valid interval or p-value "
                            "(p_hac is time-series only and too liberal)")
            elif annual:
                notes[i] = ("annual: year effects, the variance clustered by year plus the placebos' spread; no "
                            "pre-trend test and no event study from a few annual points")
        out["note"] = notes
        out["pre_trend"] = pre_trend
    out["q_value"] = bh_qvalues(out["p_value"].to_numpy(float)) if "p_value" in out else np.nan
    out["break_2022"] = out["q_value"] < alpha
    out["synthetic"] = panel.synthetic
    return out.reindex(columns=TRIPLE_COLUMNS)


def _fake_post(panel: StudyPanel, pre_cols: np.ndarray) -> np.ndarray | None:
    """0/1 per pre-window row: a fake break in the middle of the pre window (None when shorter than 24 months)."""
    if len(pre_cols) < 12 or panel.in_pre.sum() < 24:
        return None
    months = panel.months[pre_cols]
    mid = panel.months[panel.in_pre][int(panel.in_pre.sum()) // 2]
    if mid.month == 2:  # never separate a January from its February
        mid = mid + pd.DateOffset(months=1)
    return np.asarray(months >= mid, dtype=float)


def _ddd_fit(panel: StudyPanel, g_idx: np.ndarray, ctrl_idx: np.ndarray, cols: np.ndarray, weight: np.ndarray,
             post: np.ndarray | None, *, trend: bool, lags: int) -> tuple[np.ndarray, np.ndarray, int, int, int] | None:
    """Share model with family and month effects plus (post or trend) x group; focal and placebo units; HAC
    over months with ``lags`` (0: clustered by period)."""
    fam_idx = np.r_[g_idx, ctrl_idx]
    y, c = _two_unit(panel, fam_idx, cols)
    use = _usable_families(y, c)
    in_g = np.r_[np.ones(len(g_idx), bool), np.zeros(len(ctrl_idx), bool)][use]
    if in_g.sum() == 0 or (~in_g).sum() == 0:
        return None
    y, c = y[:, use], c[:, use]
    F, T = y.shape[1], y.shape[2]
    rows = np.arange(F * T)
    t_of = np.tile(np.arange(T), F)
    f_of = np.repeat(np.arange(F), T)
    X = np.zeros((F * T, F + T))
    X[rows, f_of] = 1.0
    later = t_of > 0
    X[rows[later], F + t_of[later] - 1] = 1.0
    if trend:
        t = np.asarray((panel.months[cols] - panel.months[cols][0]).days) / 365.25
        X[:, -1] = in_g[f_of] * (t - t.mean())[t_of]
    else:
        assert post is not None, "a post indicator is needed unless trend=True"
        X[:, -1] = in_g[f_of] * post[t_of]
    fit = _share_fit(y, c, weight, X, t_of, lags)
    return fit.coef[:, -1], fit.cov[:, -1, -1], T, int(in_g.sum()), int((~in_g).sum())
