"""Is it specific to the focal partner? Difference-in-differences, event study and triple difference.

All three compare the focal partner (Belarus) with the comparison partners,
by Poisson pseudo-maximum likelihood with fixed effects:

- :func:`family_did` (``did_family.csv``), per family: the relative ratio of
  :func:`analysis.compare.compare` (two-unit PPML: focal vs the pooled
  comparison partners, unit and month effects) with its placebo-calibrated
  interval and q-value (Benjamini-Hochberg over the focal partner's
  families), the pre-trend check,
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
idiosyncratic change, and rejects true nulls far too often: on the demo
panel, with each comparison partner in turn as the fake focal partner, 5%
tests of the family DiD reject 54% of true nulls with partner-family
clusters, 33% with Driscoll-Kraay errors and 21% with the two-unit HAC
(scripts/validate_compare.py prints the numbers). For an event-study
quarter the HAC variance is degenerate (the quarter dummy's own score sums
to zero within its one quarter). What users see
is therefore placebo-calibrated (Conley and Taber 2011): each comparison
partner is estimated against the others as if it were treated, and the
spread of those placebo estimates beyond their own sampling noise is added to
the variance (:func:`analysis.stats.placebo_variance`), with a Student-t
reference whose degrees of freedom reflect the number of placebos: 6% false
positives in the same placebo runs (family DiD, event study, triple
difference).

Pre-trends: a trend in the focal partner's share within the pre window
(family level: see compare; group level: a common linear trend with family
effects, placebo-calibrated) flags ``pre_trend``; the event study shows the
pre-2022 path itself.
"""
from __future__ import annotations

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
from .stats import bh_qvalues, fraclogit_batch, hac_lags, placebo_variance, t_pvalues, t_quantile
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
    "relative_p_value", "relative_q_value", "relative_p_hac", "n_placebo", "pre_trend", "pre_trend_p", "break_2022",
    "sm_ratio", "sm_p_cluster", "sm_p_dk", "sm_partners", "note", "synthetic",
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
                "relative_p_hac", "n_placebo", "pre_trend", "pre_trend_p", "break_2022", "note"):
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
    """Month columns from lo to hi, with merged Jan/Feb pairs as one weight-2 row."""
    cols = np.flatnonzero((panel.months >= lo) & (panel.months <= hi))
    weight = np.ones(len(cols))
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


def _calibrated(coef: np.ndarray, var: np.ndarray, df_v: float, cell: np.ndarray, alpha: float):
    """Placebo calibration over units (axis 0 = focal, then placebos) for each column (cell) of coef."""
    S, K = coef.shape
    d = coef.ravel()
    v = var.ravel()
    cells = np.tile(np.asarray(cell), S)
    is_pl = np.repeat(np.arange(S) > 0, K)
    tot_var, df, n_pl = placebo_variance(d, v, cells, is_pl, df_v=df_v)
    se = np.sqrt(np.where(n_pl >= MIN_PLACEBOS, tot_var, np.nan))
    with np.errstate(invalid="ignore"):
        p = t_pvalues(d / se, df)
    half = t_quantile(alpha, df) * se
    shape = (S, K)
    return (p.reshape(shape), (d - half).reshape(shape), (d + half).reshape(shape), n_pl.reshape(shape),
            df.reshape(shape))


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
    comparison partners, against the reference quarter (ratio 1).
    """
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
    parts = []
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
        time = np.tile(np.arange(T), F)
        fit = _share_fit(y, c, weight, X, time, hac_lags(T))
        coef = fit.coef[:, F:]
        var = np.diagonal(fit.cov, axis1=1, axis2=2)[:, F:]
        # the HAC variance of a quarter coefficient is nearly zero (its own score sums to zero within the
        # quarter, one block): the placebo spread carries the uncertainty
        p, low, high, n_pl, _ = _calibrated(coef, var, T - 1, np.arange(len(q_cols)), alpha)
        trend_p = _group_pre_trend(panel, fam_idx[use], alpha)
        frame = pd.DataFrame({
            "group": group, "kind": fam["kind"].iat[0], "quarter": [str(q) for q in q_cols],
            "event_time": [(q - first_post).n for q in q_cols], "reference": False,
            "coef": coef[0], "ratio": np.exp(coef[0]), "ratio_low": np.exp(low[0]), "ratio_high": np.exp(high[0]),
            "p_value": p[0], "n_placebo": n_pl[0], "n_families": F,
        })
        ref_row = pd.DataFrame({"group": [group], "kind": [fam["kind"].iat[0]], "quarter": [str(ref)],
                                "event_time": [(ref - first_post).n], "reference": [True], "coef": [0.0],
                                "ratio": [1.0], "ratio_low": [1.0], "ratio_high": [1.0], "p_value": [np.nan],
                                "n_placebo": [0], "n_families": [F]})
        frame = pd.concat([frame, ref_row], ignore_index=True).sort_values("event_time", ignore_index=True)
        frame["pre_trend_p"] = trend_p
        frame["pre_trend"] = bool(trend_p < alpha) if np.isfinite(trend_p) else False
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["synthetic"] = panel.synthetic
    return out[EVENT_COLUMNS]


def _group_pre_trend(panel: StudyPanel, fam_idx: np.ndarray, alpha: float) -> float:
    """Placebo-calibrated p-value of a common linear trend in the focal share within the pre window."""
    cols, weight = _month_rows(panel, panel.pre.start, panel.pre.end)
    y, c = _two_unit(panel, fam_idx, cols)
    use = _usable_families(y, c) & (y[0].sum(axis=1) > 0)
    if use.sum() == 0:
        return np.nan
    y, c = y[:, use], c[:, use]
    F, T = y.shape[1], y.shape[2]
    t = np.asarray((panel.months[cols] - panel.months[cols][0]).days) / 365.25
    X = np.zeros((F * T, F + 1))
    X[np.arange(F * T), np.repeat(np.arange(F), T)] = 1.0
    X[:, F] = np.tile(t - t.mean(), F)
    fit = _share_fit(y, c, weight, X, np.tile(np.arange(T), F), hac_lags(T))
    p, *_ = _calibrated(fit.coef[:, [F]], fit.cov[:, F, F][:, None], T - 1, np.array([0]), alpha)
    return float(p[0, 0])


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
    the focal share). q-values: Benjamini-Hochberg over the groups;
    ``break_2022``: q < alpha and no pre-trend (the group's relative share
    did not already trend away from the control families' before 2022).
    """
    fams = panel.families
    ctrl_idx = fams.index[fams["kind"] == "control"].to_numpy()
    if len(ctrl_idx) == 0:
        return pd.DataFrame(columns=TRIPLE_COLUMNS)
    design = before_after_design(panel)
    cols, weight, post = design.cols, design.weight, design.post
    pre_cols, pre_weight = _month_rows(panel, panel.pre.start, panel.pre.end)
    parts = []
    for group, fam in fams[fams["kind"] != "control"].groupby("group", sort=True):
        g_idx = fam.index.to_numpy()
        res = _ddd_fit(panel, g_idx, ctrl_idx, cols, weight, post, trend=False)
        note = ""
        if res is None:
            parts.append({"group": group, "kind": fam["kind"].iat[0], "n_families": 0, "n_control_families": 0,
                          "note": "too few families with exports by the focal and comparison partners"})
            continue
        coef, var, T, n_g, n_c = res
        p, low, high, n_pl, _ = _calibrated(coef[:, None], var[:, None], T - 1, np.array([0]), alpha)
        with np.errstate(invalid="ignore"):
            p_hac = float(t_pvalues(coef[0] / np.sqrt(var[0]), T - 1))
        tr = _ddd_fit(panel, g_idx, ctrl_idx, pre_cols, pre_weight, None, trend=True)
        trend_p = np.nan
        if tr is not None:
            tp, *_ = _calibrated(tr[0][:, None], tr[1][:, None], tr[2] - 1, np.array([0]), alpha)
            trend_p = float(tp[0, 0])
        pre_trend = bool(np.isfinite(trend_p) and trend_p < alpha)
        if pre_trend:
            note = "pre_trend: the group already diverged from the control families before 2022"
        if n_pl[0, 0] < MIN_PLACEBOS:
            note = (f"fewer than {MIN_PLACEBOS} comparison partners with data: no valid interval or p-value "
                    "(p_hac is time-series only and too liberal)")
        parts.append({
            "group": group, "kind": fam["kind"].iat[0], "n_families": n_g, "n_control_families": n_c,
            "ratio": float(np.exp(coef[0])), "ratio_low": float(np.exp(low[0, 0])),
            "ratio_high": float(np.exp(high[0, 0])), "p_value": float(p[0, 0]), "p_hac": p_hac,
            "n_placebo": int(n_pl[0, 0]), "pre_trend_p": trend_p, "pre_trend": pre_trend, "note": note,
        })
    out = pd.DataFrame(parts)
    out["q_value"] = bh_qvalues(out["p_value"].to_numpy(float)) if "p_value" in out else np.nan
    pre_trend = out["pre_trend"].fillna(False).astype(bool) if "pre_trend" in out else False
    out["break_2022"] = (out["q_value"] < alpha) & ~pre_trend
    out["synthetic"] = panel.synthetic
    return out.reindex(columns=TRIPLE_COLUMNS)


def _ddd_fit(panel: StudyPanel, g_idx: np.ndarray, ctrl_idx: np.ndarray, cols: np.ndarray, weight: np.ndarray,
             post: np.ndarray | None, *, trend: bool) -> tuple[np.ndarray, np.ndarray, int, int, int] | None:
    """Share model with family and month effects plus (post or trend) x group; focal and placebo units."""
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
    fit = _share_fit(y, c, weight, X, t_of, hac_lags(T))
    return fit.coef[:, -1], fit.cov[:, -1, -1], T, int(in_g.sum()), int((~in_g).sum())
