"""Before/after comparison per series, and the relative change against comparison partners.

For every partner and code family of one reporter and flow (default: China's
exports), :func:`compare` returns one row (the ``compare.csv`` table):

**Before/after** (``ratio``, ``p_value``, ``q_value``): Poisson pseudo-maximum
likelihood (PPML) of monthly USD on a constant, a post-period indicator and
month-of-year effects, over the pre and post windows (the transition months
between them left out). PPML needs no log, so zero months count as zeros;
``ratio = exp(b_post)`` is the seasonally adjusted post/pre ratio of mean
monthly value. Standard errors are Newey-West HAC (Bartlett, ``ceil(1.3
sqrt(T))`` lags) and the t statistic is referred to the fixed-b reference of
the design (:func:`analysis.stats.fixed_b_reference`), which keeps the
false-positive rate near 5% in 70 monthly values with autocorrelated noise
(scripts/validate_compare.py prints the Monte-Carlo). All series are fitted at
once (one design matrix, batched IRLS). When China published January and
February together (each month carries half of the total: the default of
:func:`analysis.series.build_series`) the pair is one observation of weight 2.
Benjamini-Hochberg q-values run over every family tested for the same
partner (``q_scope="partner"``, the default: each partner is its own
question, and Belarus's q-values should not depend on how many other
partners the data happen to hold) or over every row (``q_scope="all"``).

**Controls** (``control_ratio``, ``relative_*``): the same partner's change
against the pooled comparison partners' change in the same family. The
estimator is PPML on the two-unit panel (this partner; the sum over the
comparison partners, without this partner) with unit and month fixed effects,
which is exactly a fractional logit of the partner's share of the two, on a
constant and the post indicator, weighted by the monthly total:
``relative_ratio`` is the ratio of the two post/pre ratios of mean value
(tests check both equalities against statsmodels). Inference: with one
treated partner, its own idiosyncratic change does not average out, and time
series or cluster-robust errors ignore it (scripts/validate_compare.py shows
the false-positive rates). The variance therefore adds the spread of the
comparison partners' own placebo estimates (each comparison partner against
the others) to the HAC variance (:func:`analysis.stats.placebo_variance`);
``relative_p_hac`` keeps the HAC-only p-value for reference.

**Pre-trends**: the partner's share of the two-unit total is regressed on a
linear trend within the pre window (same HAC and fixed-b reference). A trend
(p < alpha) in the same direction as the change means the change may have
begun before 2022: ``pre_trend`` is set, the note says so, and
``break_2022`` (relative q < alpha and no such pre-trend) is False.

**Share**: the partner's share of the reporter's exports of the family to all
partners, before and after. Denominator: the reporter's World (partner 0)
series where the data hold one, else the sum over the partners in the data
(``share_basis`` says which).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Unpack

import numpy as np
import pandas as pd

from . import registry
from .countries import WORLD, resolve_countries
from .errors import InputError
from .periods import Window
from .results import CompareConfig, CompareResult, QScope
from .schema import is_synthetic
from .series import SERIES_COLUMNS
from .stats import (
    bh_qvalues,
    fixed_b_reference,
    fraclogit_batch,
    hac_lags,
    placebo_variance,
    ppml_batch,
    ppml_score_test,
    t_pvalues,
    t_quantile,
)
from .study import Countries, Study, StudyArgs, check_choice, jan_feb_split

MIN_PLACEBOS = 3
"""Fewest comparison partners with usable data (placebos) for a relative interval and p-value."""

COMPARE_COLUMNS = [
    "reporter_code", "partner_code", "family", "family_name", "group", "kind",
    "pre_usd_month", "post_usd_month", "ratio", "ratio_low", "ratio_high", "p_value", "q_value",
    "control_ratio", "relative_ratio", "relative_low", "relative_high", "relative_p_value", "relative_q_value",
    "share_pre", "share_post", "pre_months", "post_months", "note", "synthetic",
    # beyond the contract
    "flow_code", "is_focal", "is_comparison", "relative_p_rank", "relative_p_hac", "n_placebo", "pre_trend",
    "pre_trend_p", "pre_trend_pct_year", "break_2022", "share_basis", "changed_content",
    # robustness of the focal partner's relative ratio (analysis.robustness)
    "rel_loo_low", "rel_loo_high", "relative_ratio_baseline", "relative_ratio_transit", "transit_ratio",
    "relative_ratio_synth", "fragile",
]


def resolve_partners(value: Countries | None) -> list[int] | None:
    """Partners to report: None (all in the data), or codes, ISO codes or names as Comtrade codes."""
    if value is None:
        return None
    try:
        return resolve_countries(value)
    except InputError as exc:
        raise InputError(f"partners: {exc}") from None


# ------------------------------------------------------------ the panel --

@dataclass
class StudyPanel:
    """One reporter's and flow's series as a cube: partners x families x months (zeros where no trade).

    ``partners`` are all partners in the data except World; ``controls`` the
    comparison partners found in the data (never the focal partner);
    ``world`` the denominator of shares (World series or the partner sum).
    """

    study: Study
    partners: np.ndarray
    controls: np.ndarray
    families: pd.DataFrame  # family, family_name, group, kind
    months: pd.DatetimeIndex
    Y: np.ndarray  # (P, F, T)
    world: np.ndarray  # (F, T)
    share_basis: str
    synthetic: bool
    missing_controls: list[int] = field(default_factory=list)

    @property
    def reporter(self) -> int:
        return self.study.reporter

    @property
    def flow(self) -> str:
        return self.study.flow

    @property
    def focal(self) -> int:
        return self.study.focal

    @property
    def pre(self) -> Window:
        return self.study.pre

    @property
    def post(self) -> Window:
        return self.study.post

    def index_of(self, codes: Iterable[int]) -> np.ndarray:
        return np.searchsorted(self.partners, np.asarray(list(codes), dtype=np.int64))

    @property
    def in_pre(self) -> np.ndarray:
        return np.asarray(self.pre.contains(pd.Series(self.months)))

    @property
    def in_post(self) -> np.ndarray:
        return np.asarray(self.post.contains(pd.Series(self.months)))

    def control_sum(self) -> np.ndarray:
        """Sum over the comparison partners, (F, T)."""
        return self.Y[self.index_of(self.controls)].sum(axis=0) if len(self.controls) else np.zeros(self.Y.shape[1:])


def _check_series(series: pd.DataFrame) -> None:
    if not isinstance(series, pd.DataFrame):
        raise InputError("series must be a pandas DataFrame (see analysis.series.build_series)")
    missing = [c for c in SERIES_COLUMNS if c not in series.columns]
    if missing:
        raise InputError(f"not a series frame: missing column(s) {missing} "
                         "(build it with analysis.series.build_series)")


def study_panel(series: pd.DataFrame, study: Study, *, require_focal: bool = False) -> StudyPanel:
    """Cut the study's series into a cube and close its windows on the data (see :class:`StudyPanel`)."""
    _check_series(series)
    sel = study.select(series)
    dates = pd.DatetimeIndex(sel["date"])
    if (dates.day != 1).any():
        raise InputError("series dates must be first-of-month (monthly series)")
    if dates.month.nunique() == 1 and dates.nunique() > 1:
        raise InputError("compare needs monthly series, not annual ones (build_series(freq='M'))")
    usd = sel["usd"].to_numpy(float)
    if not np.isfinite(usd).all() or (usd < 0).any():
        raise InputError("series usd must be finite and non-negative (zero for a month without trade)")
    first, last = dates.min(), dates.max()
    months = pd.date_range(first, last, freq="MS")
    study = study.closed(last)
    pre_w, post_w = study.pre, study.post
    n_pre = int(pre_w.contains(pd.Series(months)).sum())
    n_post = int(post_w.contains(pd.Series(months)).sum())
    if n_pre < 12 or n_post < 6:
        raise InputError(
            f"the data ({first:%Y-%m} to {last:%Y-%m}) hold {n_pre} month(s) of the pre window ({pre_w}) and "
            f"{n_post} of the post window ({post_w}); at least 12 and 6 are needed"
        )
    all_partners = np.sort(sel["partner_code"].unique().astype(np.int64))
    has_world = WORLD in set(all_partners.tolist())
    partners = all_partners[all_partners != WORLD]
    if len(partners) == 0:
        raise InputError("the series hold no partner other than World")
    fam_ids = pd.Index(np.sort(sel["family_id"].unique()))
    meta = sel.drop_duplicates("family_id").set_index("family_id").loc[fam_ids, ["group", "kind"]]
    table = registry.family_table(list(fam_ids)).set_index("family_id").reindex(fam_ids)
    families = pd.DataFrame({"family": fam_ids, "family_name": table["name"].to_numpy(),
                             "group": meta["group"].to_numpy(), "kind": meta["kind"].to_numpy(),
                             "changed_content": table["changed_content"].fillna(False).astype(bool).to_numpy(),
                             "changed_note": table["changed_note"].fillna("").astype(str).to_numpy()})
    # the cube; absent (partner, family) series are zeros
    codes_all = np.r_[partners, [WORLD] if has_world else []].astype(np.int64)
    codes_sorted = np.sort(codes_all)
    p_idx = np.searchsorted(codes_sorted, sel["partner_code"].to_numpy(np.int64))
    f_idx = fam_ids.get_indexer(sel["family_id"])
    t_idx = (dates.year - first.year) * 12 + (dates.month - first.month)
    cube = np.zeros((len(codes_sorted), len(fam_ids), len(months)))
    np.add.at(cube, (p_idx, f_idx, np.asarray(t_idx)), sel["usd"].to_numpy(float))
    if has_world:
        w = int(np.searchsorted(codes_sorted, WORLD))
        world = cube[w]
        Y = np.delete(cube, w, axis=0)
        share_basis = "world"
    else:
        Y = cube
        world = Y.sum(axis=0)
        share_basis = "partners_in_data"
    _check_jan_feb_boundaries(Y, months, study)
    in_data = set(partners.tolist())
    present = [c for c in study.controls if c in in_data]
    missing = [c for c in study.controls if c not in in_data]
    if require_focal and study.focal not in in_data:
        raise InputError(f"focal partner {study.focal} is not in the data (partners: {partners.tolist()})")
    synthetic = is_synthetic(series)
    return StudyPanel(study, partners, np.array(sorted(present), dtype=np.int64), families, months, Y, world,
                      share_basis, synthetic, missing)


def _check_jan_feb_boundaries(Y: np.ndarray, months: pd.DatetimeIndex, study: Study) -> None:
    """InputError when a window boundary separates a January from its February in a year the data publish
    them together (the pair is one number split in half: half would land in each window)."""
    if study.jan_feb == "keep":
        return
    merged = {months[i].year for i in merged_januaries(Y, months, np.arange(len(months)))}
    for w, what in ((study.pre, "pre"), (study.post, "post")):
        if (split := jan_feb_split(w)) and split[0] in merged:
            year = split[0]
            raise InputError(f"the {what} window {w.text} {split[1]}, but the data publish January and "
                             f"February {year} together: a window must hold both months or neither")


# ------------------------------------------------------------ the design --

@dataclass(frozen=True)
class Design:
    """Rows of the before/after regressions: months of pre and post, with merged Jan/Feb pairs as one row."""

    cols: np.ndarray  # indices into panel.months of the rows, in time order
    weight: np.ndarray  # frequency weight per row (2 for a merged Jan/Feb pair)
    post: np.ndarray  # 0/1 per row
    X: np.ndarray  # constant, post, month-of-year dummies
    merged: bool
    lags: int


def _month_pairs(months: pd.DatetimeIndex, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(January, February) column pairs of the same year, both inside ``cols``."""
    inside = set(cols.tolist())
    jan = [i for i in cols if months[i].month == 1 and i + 1 in inside]
    return np.array(jan, dtype=int), np.array(jan, dtype=int) + 1


def merged_januaries(Y: np.ndarray, months: pd.DatetimeIndex, cols: np.ndarray) -> np.ndarray:
    """Column indices of the Januaries published together with their February (equal in every series).

    Checked year by year: a reporter may publish the two months together in
    some years only (China from 2020).
    """
    jan, feb = _month_pairs(months, cols)
    if len(jan) == 0:
        return jan
    same = np.isclose(Y[..., jan], Y[..., feb], rtol=1e-9, atol=1e-6).reshape(-1, len(jan)).all(axis=0)
    return jan[same]



def before_after_design(panel: StudyPanel, *, merged: bool | None = None, seasonal: bool = True) -> Design:
    """Design of the before/after regressions (see :class:`Design`); ``merged`` None detects it."""
    in_window = panel.in_pre | panel.in_post
    cols = np.flatnonzero(in_window)
    if merged is None:
        jan = merged_januaries(panel.Y, panel.months, cols)
    else:
        jan = _month_pairs(panel.months, cols)[0] if merged else np.zeros(0, dtype=int)
    weight = np.ones(len(cols))
    weight[np.isin(cols, jan)] = 2.0
    keep = ~np.isin(cols, jan + 1)
    cols, weight = cols[keep], weight[keep]
    post = panel.in_post[cols].astype(float)
    month = np.asarray(panel.months[cols].month)
    merged = len(jan) > 0
    parts = [np.ones(len(cols)), post]
    if seasonal:
        cats = [m for m in sorted(set(month.tolist()))[1:]]
        parts += [(month == m).astype(float) for m in cats]
    X = np.column_stack(parts)
    if np.linalg.matrix_rank(X) < X.shape[1] or len(cols) <= X.shape[1] + 2:
        raise InputError("the windows are too short to estimate month-of-year effects and the change")
    return Design(cols, weight, post, X, bool(merged), hac_lags(len(cols)))


# ------------------------------------------------------------ estimators --

@dataclass
class Changes:
    """Log change, its HAC variance and fixed-b reference (c, nu), per row; NaN where undefined."""

    log_ratio: np.ndarray
    var: np.ndarray
    scale: float
    df: float
    stat: np.ndarray  # t statistic referred to c * t_nu (Wald, or score where the estimate is -inf)

    def p(self) -> np.ndarray:
        return t_pvalues(self.stat / self.scale, self.df)

    def interval(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        half = self.scale * t_quantile(alpha, self.df) * np.sqrt(self.var)
        return self.log_ratio - half, self.log_ratio + half


def level_changes(Y: np.ndarray, design: Design) -> Changes:
    """PPML before/after log ratio for each row of Y (S x months of the design), batched.

    Rows with no value before get NaN (the ratio is undefined); rows with none
    after get log ratio -inf and a robust score-test statistic.
    """
    Yd = Y[:, design.cols]
    w = design.weight
    pre_sum = Yd[:, design.post == 0] @ w[design.post == 0]
    post_sum = Yd[:, design.post == 1] @ w[design.post == 1]
    S = len(Yd)
    log_ratio, var, stat = np.full(S, np.nan), np.full(S, np.nan), np.full(S, np.nan)
    c, nu = fixed_b_reference(design.X, 1, design.lags, weight=w)
    both = (pre_sum > 0) & (post_sum > 0)
    if both.any():
        fit = ppml_batch(Yd[both], design.X, weight=w, maxlags=design.lags)
        log_ratio[both] = fit.coef[:, 1]
        var[both] = np.where(fit.cov[:, 1, 1] > 0, fit.cov[:, 1, 1], np.nan)  # <= 0: lost to rounding
        stat[both] = fit.coef[:, 1] / np.sqrt(var[both])
    gone = (pre_sum > 0) & (post_sum == 0)
    if gone.any():
        log_ratio[gone] = -np.inf
        stat[gone] = ppml_score_test(Yd[gone], design.X, 1, weight=w, maxlags=design.lags)
    return Changes(log_ratio, var, c, nu, stat)


def share_changes(y: np.ndarray, c: np.ndarray, design: Design) -> Changes:
    """Two-unit PPML (unit and month effects) of y against c = fractional logit of y/(y+c) on [1, post].

    exp(coefficient) is the relative ratio (y's post/pre ratio over c's). NaN
    where y or c has nothing before or c nothing after; -inf where y has
    nothing after.
    """
    yd, cd = y[:, design.cols], c[:, design.cols]
    w = design.weight
    post = design.post == 1
    X = design.X[:, :2]
    S = len(yd)
    ok_pre = (yd[:, ~post] @ w[~post] > 0) & (cd[:, ~post] @ w[~post] > 0)
    y_post, c_post = yd[:, post] @ w[post], cd[:, post] @ w[post]
    fit_rows = ok_pre & (y_post > 0) & (c_post > 0)
    log_ratio, var, stat = np.full(S, np.nan), np.full(S, np.nan), np.full(S, np.nan)
    scale, nu = fixed_b_reference(X, 1, design.lags, weight=w)
    if fit_rows.any():
        tot = (yd + cd)[fit_rows] * w
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(tot > 0, yd[fit_rows] * w / tot, 0.0)
        fit = fraclogit_batch(share, tot, X, maxlags=design.lags)
        log_ratio[fit_rows] = fit.coef[:, 1]
        var[fit_rows] = np.where(fit.cov[:, 1, 1] > 0, fit.cov[:, 1, 1], np.nan)
        stat[fit_rows] = fit.coef[:, 1] / np.sqrt(var[fit_rows])
    log_ratio[ok_pre & (y_post == 0) & (c_post > 0)] = -np.inf
    return Changes(log_ratio, var, scale, nu, stat)


def share_trends(y: np.ndarray, c: np.ndarray, panel: StudyPanel, design: Design) -> Changes:
    """Linear trend (per year) of y's share of y + c within the pre window, fractional logit with HAC."""
    rows = ~(design.post == 1)
    cols, w = design.cols[rows], design.weight[rows]
    t = np.asarray((panel.months[cols] - panel.months[cols][0]).days) / 365.25
    X = np.column_stack([np.ones(len(cols)), t - t.mean()])
    lags = hac_lags(len(cols))
    yd, cd = y[:, cols], c[:, cols]
    S = len(yd)
    ok = (yd @ w > 0) & (cd @ w > 0)
    slope, var, stat = np.full(S, np.nan), np.full(S, np.nan), np.full(S, np.nan)
    scale, nu = fixed_b_reference(X, 1, lags, weight=w)
    if ok.any():
        tot = (yd + cd)[ok] * w
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(tot > 0, yd[ok] * w / tot, 0.0)
        fit = fraclogit_batch(share, tot, X, maxlags=lags)
        slope[ok], var[ok] = fit.coef[:, 1], np.where(fit.cov[:, 1, 1] > 0, fit.cov[:, 1, 1], np.nan)
        stat[ok] = slope[ok] / np.sqrt(var[ok])
    return Changes(slope, var, scale, nu, stat)


# ------------------------------------------------------------- compare --

def compare(series: pd.DataFrame, study: Study | None = None, *, partners: Countries | None = None,
            alpha: float = 0.05, q_scope: QScope = "partner", **study_args: Unpack[StudyArgs]) -> CompareResult:
    """The compare.csv table: one row per partner and family (see the module docstring for the methods).

    ``study`` (or its fields as keywords: ``focal``, ``controls``, ``pre``,
    ``post``, ...; see :class:`~analysis.study.Study`) says what is compared;
    ``partners``: partners to report (default: all in the data but World);
    ``q_scope``: Benjamini-Hochberg over each partner's families
    (``"partner"``, default) or over every row of the table (``"all"``).
    """
    s = Study.resolve(study, **study_args)
    return compare_panel(study_panel(series, s), partners=partners, alpha=alpha, q_scope=q_scope)


def compare_panel(panel: StudyPanel, *, partners: Countries | None = None, alpha: float = 0.05,
                  q_scope: QScope = "partner") -> CompareResult:
    """:func:`compare` on a prepared :class:`StudyPanel`."""
    check_alpha(alpha)
    check_choice(q_scope, QScope, "q_scope")
    want = resolve_partners(partners)
    if want is None:
        out_codes = panel.partners
    else:
        unknown = [p for p in want if p not in set(panel.partners.tolist())]
        if unknown:
            raise InputError(f"partner(s) {unknown} not in the data (partners: {panel.partners.tolist()})")
        out_codes = np.array(sorted(set(want)), dtype=np.int64)
    design = before_after_design(panel)
    P_out, F = len(out_codes), len(panel.families)
    is_ctrl_code = np.isin(panel.partners, panel.controls)
    # rows estimated for the relative change: reported partners and every comparison partner (placebos)
    rel_codes = np.union1d(out_codes, panel.controls)
    rel_idx = panel.index_of(rel_codes)
    csum = panel.control_sum()
    y_rel = panel.Y[rel_idx].reshape(-1, panel.Y.shape[2])
    own = is_ctrl_code[rel_idx][:, None, None] * panel.Y[rel_idx]
    c_rel = (csum[None] - own).reshape(-1, panel.Y.shape[2])
    c_rel = np.maximum(c_rel, 0.0)
    fam_rel = np.tile(np.arange(F), len(rel_codes))
    is_placebo = np.repeat(np.isin(rel_codes, panel.controls), F)
    has_controls = len(panel.controls) > 0

    rel = share_changes(y_rel, c_rel, design) if has_controls else None
    trend = share_trends(y_rel, c_rel, panel, design) if has_controls else None
    thin_rel = _thin(y_rel, panel.in_pre)
    if rel is not None and trend is not None:
        _not_estimable(rel, thin_rel)
        _not_estimable(trend, thin_rel)

    # absolute before/after: reported series, plus each distinct comparison sum (for control_ratio)
    out_idx = panel.index_of(out_codes)
    y_out = panel.Y[out_idx].reshape(-1, panel.Y.shape[2])
    lvl = level_changes(y_out, design)
    thin = _thin(y_out, panel.in_pre)
    _not_estimable(lvl, thin)
    ctrl_ratio_rel = None
    if has_controls:
        # the comparison sum is the same for every partner outside the comparison set: fit each distinct one once
        own_pos = np.where(is_ctrl_code[rel_idx], np.searchsorted(panel.controls, rel_codes) + 1, 0)
        own_pos = np.minimum(own_pos, len(panel.controls))
        distinct = np.concatenate([csum[None], csum[None] - panel.Y[panel.index_of(panel.controls)]], axis=0)
        lvl_c = level_changes(np.maximum(distinct, 0.0).reshape(-1, panel.Y.shape[2]), design)
        table = np.exp(lvl_c.log_ratio).reshape(len(panel.controls) + 1, F)
        ctrl_ratio_rel = table[own_pos].reshape(-1)

    # positions of reported rows inside the relative rows
    pos = (np.searchsorted(rel_codes, out_codes)[:, None] * F + np.arange(F)[None, :]).ravel()

    frame = pd.DataFrame({
        "reporter_code": panel.reporter,
        "partner_code": np.repeat(out_codes, F),
        "family": np.tile(panel.families["family"].to_numpy(), P_out),
        "family_name": np.tile(panel.families["family_name"].to_numpy(), P_out),
        "group": np.tile(panel.families["group"].to_numpy(), P_out),
        "kind": np.tile(panel.families["kind"].to_numpy(), P_out),
        "changed_content": np.tile(panel.families["changed_content"].to_numpy(), P_out),
    })
    in_pre, in_post = panel.in_pre, panel.in_post
    frame["pre_usd_month"] = y_out[:, in_pre].mean(axis=1)
    frame["post_usd_month"] = y_out[:, in_post].mean(axis=1)
    lo, hi = lvl.interval(alpha)
    frame["ratio"] = np.exp(lvl.log_ratio)
    frame["ratio_low"] = np.exp(lo)
    frame["ratio_high"] = np.exp(hi)
    gone = np.isneginf(lvl.log_ratio)
    frame.loc[gone, "ratio_low"] = 0.0
    frame.loc[gone, "ratio_high"] = np.nan
    frame["p_value"] = lvl.p()
    frame["q_value"] = _qvalues(frame, "p_value", q_scope)
    notes: list[list[str]] = [[] for _ in range(len(frame))]
    pre_sum = y_out[:, in_pre].sum(axis=1)
    post_sum = y_out[:, in_post].sum(axis=1)
    for i in np.flatnonzero((pre_sum == 0) & (post_sum == 0)):
        notes[i].append("no exports in either window: not tested")
    for i in np.flatnonzero((pre_sum == 0) & (post_sum > 0)):
        notes[i].append("no pre-period exports: ratio undefined")
    for i in np.flatnonzero(gone):
        notes[i].append("no post-period exports: ratio 0, p-value from a robust score test")
    for i in np.flatnonzero(np.isfinite(lvl.log_ratio) & ~np.isfinite(lvl.var)):
        notes[i].append("variance not estimable (values span too many orders of magnitude?): no p-value")
    changed = np.tile(panel.families["changed_note"].to_numpy(), P_out)
    for i in np.flatnonzero(frame["changed_content"].to_numpy()):
        notes[i].append(f"content changed at the HS 2022 break ({changed[i]}): before and after are not the same "
                        "goods")
    for i in np.flatnonzero(thin):
        notes[i].append(f"trade in only {int((y_out[i, in_pre] > 0).sum())} month(s) of the pre window (fewer "
                        f"than {MIN_ACTIVE_MONTHS}): no ratio, interval or trend is estimable from it")
    nz = (y_out[:, design.cols] > 0).sum(axis=1)
    for i in np.flatnonzero((nz > 0) & (nz < 12)):
        notes[i].append(f"sparse: {nz[i]} non-zero months in the windows")

    if rel is not None and trend is not None and ctrl_ratio_rel is not None:
        frame["control_ratio"] = ctrl_ratio_rel[pos]
        d, v_hac = rel.log_ratio, rel.var
        v_star = rel.scale**2 * v_hac  # HAC variance on the scale of a t_nu statistic
        d_ok = np.where(np.isfinite(d), d, np.nan)
        unit_scale, unit_df = in_time_scales(panel, y_rel, c_rel, len(rel_codes), F)
        # scaled to the spread each unit shows where nothing happened, the sampling part has variance ~1 and
        # t-like tails whose quantiles at that variance are near the normal's; its df are those of the scale's
        # estimate, the families it was measured on (see in_time_scales)
        var, df, n_pl = placebo_variance(d_ok, v_star, fam_rel, is_placebo, scale=np.repeat(unit_scale, F),
                                         df_v=np.repeat(np.where(np.isfinite(unit_df), unit_df, rel.df), F))
        calibrated = n_pl >= MIN_PLACEBOS
        var = np.where(calibrated, var, np.nan)  # no valid interval without placebos (see the docstring)
        se = np.sqrt(var)
        with np.errstate(invalid="ignore"):
            p_rel = t_pvalues(d / se, df)
        half = t_quantile(alpha, df) * se
        frame["relative_ratio"] = np.exp(d[pos])
        frame["relative_low"] = np.exp((d - half)[pos])
        frame["relative_high"] = np.exp((d + half)[pos])
        rel_gone = np.isneginf(d[pos])
        frame.loc[rel_gone, "relative_low"] = 0.0
        frame.loc[rel_gone, "relative_high"] = np.nan
        frame["relative_p_value"] = np.where(np.isfinite(d[pos]), p_rel[pos], np.nan)
        frame["relative_q_value"] = _qvalues(frame, "relative_p_value", q_scope)
        frame["relative_p_rank"] = placebo_rank_p(d_ok / se, fam_rel, is_placebo)[pos]
        frame["relative_p_hac"] = rel.p()[pos]
        frame["n_placebo"] = n_pl[pos]
        tp = _calibrated_trend_p(trend, fam_rel, is_placebo)[pos]
        slope = trend.log_ratio[pos]
        frame["pre_trend_p"] = tp
        frame["pre_trend_pct_year"] = 100 * (np.exp(slope) - 1)  # on the odds of the share
        same_dir = np.sign(slope) == np.sign(d[pos])
        frame["pre_trend"] = (tp < alpha) & same_dir
        frame["break_2022"] = (frame["relative_q_value"] < alpha) & ~frame["pre_trend"]
        c_pre = c_rel[pos][:, in_pre].sum(axis=1)
        for i in np.flatnonzero((c_pre == 0) & (pre_sum > 0)):
            notes[i].append("comparison partners had no pre-period exports: relative ratio undefined")
        c_post = c_rel[pos][:, in_post].sum(axis=1)
        for i in np.flatnonzero((c_pre > 0) & (c_post == 0) & (pre_sum > 0)):
            notes[i].append("comparison partners had no post-period exports: relative ratio undefined")
        for i in np.flatnonzero(rel_gone):
            notes[i].append("relative ratio 0 (no post-period exports)")
        for i in np.flatnonzero(frame["pre_trend"].to_numpy()):
            notes[i].append(f"pre_trend: share already trending {frame['pre_trend_pct_year'].iat[i]:+.0f}%/yr "
                            f"before 2022 (p={tp[i]:.3f}): not reported as a 2022 break")
        for i in np.flatnonzero(~calibrated[pos] & np.isfinite(d[pos])):
            notes[i].append(f"fewer than {MIN_PLACEBOS} comparison partners with data: no valid relative interval "
                            "or p-value (relative_p_hac is time-series only and too liberal)")
    else:
        for col in ("control_ratio", "relative_ratio", "relative_low", "relative_high", "relative_p_value",
                    "relative_q_value", "relative_p_hac", "pre_trend_p", "pre_trend_pct_year"):
            frame[col] = np.nan
        frame["n_placebo"] = 0
        frame["pre_trend"] = False
        frame["break_2022"] = False
        for n in notes:
            n.append("no comparison partners in the data: no relative ratio")

    world = np.tile(panel.world, (P_out, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["share_pre"] = pre_sum / world[:, in_pre].sum(axis=1)
        frame["share_post"] = post_sum / world[:, in_post].sum(axis=1)
    frame["pre_months"] = int(in_pre.sum())
    frame["post_months"] = int(in_post.sum())
    frame["note"] = ["; ".join(n) for n in notes]
    frame["synthetic"] = panel.synthetic
    frame["flow_code"] = panel.flow
    frame["is_focal"] = frame["partner_code"] == panel.focal
    frame["is_comparison"] = frame["partner_code"].isin(panel.controls)
    frame["share_basis"] = panel.share_basis
    frame = _with_robustness(frame, panel, alpha)
    frame = frame[COMPARE_COLUMNS]
    order = np.lexsort((frame["family"].to_numpy(), frame["partner_code"].to_numpy(), ~frame["is_focal"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    return CompareResult(frame, panel.study, _config(panel, design, alpha, lvl, rel, q_scope), panel.synthetic)


MIN_ACTIVE_MONTHS = 3
"""Fewest months with trade in the pre window for a ratio to be estimated: from one or two shipments a ratio is
an absurd number (x1e6), not an estimate."""


def _thin(Y: np.ndarray, in_pre: np.ndarray) -> np.ndarray:
    """Rows with some trade in the pre window, but in fewer than MIN_ACTIVE_MONTHS months."""
    n = (Y[:, in_pre] > 0).sum(axis=1)
    return (n > 0) & (n < MIN_ACTIVE_MONTHS)


def _not_estimable(ch: Changes, rows: np.ndarray) -> None:
    """Blank the estimates of ``rows`` (NaN: not estimable; the caller says why in the note)."""
    ch.log_ratio[rows] = np.nan
    ch.var[rows] = np.nan
    ch.stat[rows] = np.nan


def check_alpha(alpha: float) -> None:
    """InputError unless 0 < alpha < 1."""
    if not 0 < alpha < 1:
        raise InputError(f"alpha must lie between 0 and 1, not {alpha}")


def _fake_break(panel: StudyPanel) -> StudyPanel | None:
    """The panel with a fake break in the middle of the pre window (nothing happened there), or None when
    the pre window is shorter than 24 months."""
    months = panel.months[panel.in_pre]
    if len(months) < 24:
        return None
    mid = months[len(months) // 2]
    if mid.month == 2:  # never separate a January from its February
        mid = mid + pd.DateOffset(months=1)
    pre, post = Window(months[0], mid - pd.DateOffset(months=1)), Window(mid, months[-1])
    study = panel.study.replace(pre=pre, post=post)
    return dataclasses.replace(panel, study=study)


IN_TIME_SHRINK = 10.0
"""Families' worth of weight the pooled in-time scale gets when a unit's own scale is estimated."""


def in_time_scales(panel: StudyPanel, y: np.ndarray, c: np.ndarray, n_units: int,
                   F: int) -> tuple[np.ndarray, np.ndarray]:
    """Per unit (blocks of ``F`` rows of ``y``/``c``): how much its HAC variance understates the spread of its
    relative estimates, measured where nothing happened.

    The two-unit estimate is refitted on a fake break in the middle of the pre
    window; over a unit's families, the mean of estimate^2 / variance is its
    scale (1 when the time-series variance is right). Estimated for every
    unit from its own months, it lets a focal partner noisier or lumpier than
    the comparison partners carry its own, wider, interval: the placebos'
    spread alone cannot tell (Ferman and Pinto 2019 on heteroskedasticity with
    few treated units; in-time placebos as in Abadie, Diamond and Hainmueller
    2015). Shrunk toward the pooled value by :data:`IN_TIME_SHRINK` families'
    worth, floored at 1. Returns (scales, their degrees of freedom: the
    families measured plus the shrinkage weight); scales of 1 with the HAC
    reference's df (NaN here) when the pre window is too short to split.
    """
    fake = _fake_break(panel)
    if fake is None:
        return np.ones(n_units), np.full(n_units, np.nan)
    try:
        ch = share_changes(y, c, before_after_design(fake))
    except InputError:
        return np.ones(n_units), np.full(n_units, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (ch.log_ratio**2 / (ch.scale**2 * ch.var)).reshape(n_units, F)
    ok = np.isfinite(ratio)
    total, n = np.where(ok, ratio, 0.0).sum(axis=1), ok.sum(axis=1)
    if n.sum() == 0:
        return np.ones(n_units), np.full(n_units, np.nan)
    pooled = total.sum() / n.sum()
    return np.maximum((total + IN_TIME_SHRINK * pooled) / (n + IN_TIME_SHRINK), 1.0), n + IN_TIME_SHRINK


def placebo_rank_p(t: np.ndarray, cell: np.ndarray, is_placebo: np.ndarray) -> np.ndarray:
    """Exact placebo rank p-value of each row: (1 + #placebos of its cell with |t| >= its |t|) / (1 + #placebos),
    a placebo compared with the others. Valid when the studentized statistics are exchangeable; its
    resolution is 1 / (1 + number of comparison partners)."""
    t = np.asarray(t, float)
    out = np.full(len(t), np.nan)
    for code in np.unique(cell):
        rows = np.flatnonzero(cell == code)
        pl = rows[np.asarray(is_placebo)[rows] & np.isfinite(t[rows])]
        for i in rows[np.isfinite(t[rows])]:
            others = pl[pl != i]
            if len(others):
                out[i] = (1 + (np.abs(t[others]) >= abs(t[i])).sum()) / (1 + len(others))
    return out


def _calibrated_trend_p(trend: Changes, cell: np.ndarray, is_placebo: np.ndarray) -> np.ndarray:
    """p-values of the pre-window share trends with the same placebo calibration as the relative ratios."""
    d = np.where(np.isfinite(trend.log_ratio), trend.log_ratio, np.nan)
    var, df, n_pl = placebo_variance(d, trend.scale**2 * trend.var, cell, is_placebo, df_v=trend.df)
    with np.errstate(invalid="ignore"):
        return np.where(n_pl >= MIN_PLACEBOS, t_pvalues(d / np.sqrt(var), df), trend.p())


ROBUST_COLUMNS = ["rel_loo_low", "rel_loo_high", "relative_ratio_baseline", "relative_ratio_transit", "transit_ratio",
                  "relative_ratio_synth"]


def _with_robustness(frame: pd.DataFrame, panel: StudyPanel, alpha: float) -> pd.DataFrame:
    """The focal partner's rows with the robustness of their relative ratios (:mod:`analysis.robustness`):
    leave-one-partner-out range, the ratio against each named set, the transit group's own change, the
    synthetic-control ratio, and ``fragile`` for findings (relative q < alpha) that do not survive them."""
    from .robustness import robustness

    for col in ROBUST_COLUMNS:
        frame[col] = np.nan
    frame["fragile"] = False
    focal = frame["is_focal"].to_numpy()
    if not focal.any() or len(panel.controls) == 0:
        return frame
    rob = robustness(panel, alpha=alpha, main=frame[focal]).set_index("family")
    fams = frame.loc[focal, "family"]
    for col in ROBUST_COLUMNS:
        if col in rob.columns:
            frame.loc[focal, col] = rob[col].reindex(fams).to_numpy(float)
    finding = focal & (frame["relative_q_value"].to_numpy(float) < alpha)
    fragile = rob["fragile"].reindex(frame.loc[finding, "family"]).fillna(False).to_numpy(bool)
    frame.loc[finding, "fragile"] = fragile
    why = rob["fragile_why"].reindex(frame.loc[finding, "family"]).fillna("").to_numpy(str)
    rows = np.flatnonzero(finding)[fragile]
    notes = frame["note"].to_numpy(object)
    for i, text in zip(rows, why[fragile], strict=True):
        notes[i] = "; ".join(x for x in (notes[i], f"fragile: {text}") if x)
    frame["note"] = notes
    return frame


def _qvalues(frame: pd.DataFrame, col: str, scope: str) -> np.ndarray:
    """Benjamini-Hochberg q-values of ``col`` over the whole frame or within each partner."""
    p = frame[col].to_numpy(float)
    if scope == "all":
        return bh_qvalues(p)
    q = np.full(len(p), np.nan)
    for _, idx in frame.groupby("partner_code", sort=False).indices.items():
        q[idx] = bh_qvalues(p[idx])
    return q


def _config(panel: StudyPanel, design: Design, alpha: float, lvl: Changes, rel: Changes | None,
            q_scope: QScope) -> CompareConfig:
    """What the table was computed with, beyond the study (goes into config.json)."""
    return CompareConfig(
        alpha=alpha, q_scope=q_scope, jan_feb_merged=design.merged, hac_lags=design.lags,
        fixed_b_ratio=(round(lvl.scale, 4), round(lvl.df, 2)),
        fixed_b_relative=None if rel is None else (round(rel.scale, 4), round(rel.df, 2)),
        share_basis=panel.share_basis, comparison_partners=tuple(panel.controls.tolist()),
        comparison_partners_missing=tuple(panel.missing_controls))
