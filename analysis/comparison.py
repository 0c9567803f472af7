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
the false-positive rates). The variance is therefore the studentized
placebo calibration of :func:`analysis.stats.studentized_placebo`:

1. each row's HAC variance, on the scale of its fixed-b reference, is
   moderated over partners x families (empirical Bayes, Smyth 2004): one
   HAC variance has ~10 degrees of freedom, and a family whose variance is
   low by chance would otherwise get a p-value far out in the tail;
2. times the partner's in-time scale (:func:`unit_scales`): the same
   estimate on a fake break in the middle of the pre window, where nothing
   happened, says how far the partner's estimates spread beyond their
   variances; measured for every partner from its own months, it keeps a
   focal partner noisier or lumpier than the comparison partners from
   borrowing their precision (Ferman and Pinto 2019);
3. plus the spread of the comparison partners' own placebo estimates (each
   comparison partner against the others, as if it were treated; Conley and
   Taber 2011) beyond their sampling variances, per family, shrunk toward
   the spread over all families; placebos whose flow vanished or began, or
   whose pre window has too few months of trade, count at a bounded value
   (:func:`bounded_log_ratio`) instead of being dropped, which would
   understate the spread.

The t reference has Welch-Satterthwaite degrees of freedom from the three
parts. ``relative_p_rank`` is the exact placebo rank p-value beside it (its
resolution is 1 / (1 + number of comparison partners)); ``relative_p_hac``
keeps the HAC-only p-value for reference.

**Pre-trends and honest bounds**: the partner's share of the two-unit total
is regressed on a linear trend within the pre window (same HAC, fixed-b
reference and calibration as the relative ratio); a trend (p < alpha) in the
same direction as the change sets ``pre_trend`` with a note, but drops
nothing: ``break_2022`` is relative q < alpha. What a pre-trend would mean for
a finding is in the honest bounds ``rr_*`` (:func:`honest_bounds`, relative
magnitudes after Rambachan and Roth 2023): the interval widened by the
largest year-to-year change of the relative ratio before the break, and the
breakdown M at which it reaches 1.

**Annual studies** (``freq="A"``: one value a year, windows such as
``2019:2021`` and ``2022:2024``; a year belongs to a window holding at least
6 of its months): the same ratios of window means, but a handful of years
gives no HAC variance, no season, no trend test and no event study. The
before/after ratio is tested with the quasi-Poisson variance (Pearson
dispersion over the years, t with years - 2 df); the relative ratio with
each partner's own year-to-year swings before the break as its sampling
variance, moderated and plus the placebos' spread
(:func:`annual_calibration`). ``inference`` says which (``studentized_placebo``
or ``annual_placebo``) and the ``note`` of every annual row says what annual
data cannot show (:data:`ANNUAL_NOTE`).

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
    Calibration,
    UnitScales,
    bh_qvalues,
    fixed_b_reference,
    fraclogit_batch,
    hac_lags,
    in_time_scales,
    moderated_variances,
    ppml_batch,
    ppml_score_test,
    studentized_placebo,
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
    "pre_trend_p", "pre_trend_pct_year", "rr_pre_step", "rr_low", "rr_high", "rr_breakdown", "break_2022",
    "share_basis", "changed_content", "inference",
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
    def annual(self) -> bool:
        """Annual periods (one per year, dated January 1): see :func:`in_window`."""
        return self.study.freq == "A"

    @property
    def in_pre(self) -> np.ndarray:
        return in_window(self.pre, self.months, self.study.freq)

    @property
    def in_post(self) -> np.ndarray:
        return in_window(self.post, self.months, self.study.freq)

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


def in_window(w: Window, periods: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Which periods fall in the window ``w``: months inside it; for annual data (periods dated January 1), the
    years with at least 6 of their months inside it (``2022-03:`` holds 2022, ``2019:2021`` holds 2019-2021)."""
    if freq != "A":
        return np.asarray(w.contains(pd.Series(periods)))
    start = np.asarray(periods, dtype="datetime64[M]")
    end = start + np.timedelta64(11, "M")
    lo = np.maximum(start, np.datetime64(w.start, "M"))
    hi = end if w.end is None else np.minimum(end, np.datetime64(w.end, "M"))
    return (hi - lo).astype(int) + 1 >= 6


MIN_PERIODS = {"M": (12, 6), "A": (2, 1)}
"""Fewest periods of the pre and the post window in the data, by frequency."""


def study_panel(series: pd.DataFrame, study: Study, *, require_focal: bool = False) -> StudyPanel:
    """Cut the study's series into a cube and close its windows on the data (see :class:`StudyPanel`).

    Monthly studies need monthly series; annual studies (``freq="A"``) annual
    ones (one value a year, dated January 1: ``build_series(freq="A")``).
    """
    _check_series(series)
    sel = study.select(series)
    dates = pd.DatetimeIndex(sel["date"])
    if (dates.day != 1).any():
        raise InputError("series dates must be first-of-month (monthly) or January 1 (annual series)")
    looks_annual = bool((dates.month == 1).all() and dates.year.nunique() == dates.nunique() and dates.nunique() > 1)
    if study.freq == "M" and looks_annual:
        raise InputError("the series are annual but the study is monthly: pass freq='A' (and windows in years, "
                         "e.g. pre='2019:2021', post='2022:2024'), or build monthly series (build_series(freq='M'))")
    if study.freq == "A" and not (dates.month == 1).all():
        raise InputError("the study is annual (freq='A') but the series are monthly: build annual series "
                         "(build_series(freq='A'))")
    usd = sel["usd"].to_numpy(float)
    if not np.isfinite(usd).all() or (usd < 0).any():
        raise InputError("series usd must be finite and non-negative (zero for a period without trade)")
    first, last = dates.min(), dates.max()
    annual = study.freq == "A"
    months = pd.date_range(first, last, freq="YS" if annual else "MS")
    study = study.closed(last + pd.DateOffset(months=11) if annual else last)
    pre_w, post_w = study.pre, study.post
    n_pre = int(in_window(pre_w, months, study.freq).sum())
    n_post = int(in_window(post_w, months, study.freq).sum())
    need_pre, need_post = MIN_PERIODS[study.freq]
    if n_pre < need_pre or n_post < need_post:
        unit = "year" if annual else "month"
        raise InputError(
            f"the data ({first:%Y-%m} to {last:%Y-%m}) hold {n_pre} {unit}(s) of the pre window ({pre_w}) and "
            f"{n_post} of the post window ({post_w}); at least {need_pre} and {need_post} are needed"
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
    t_idx = (dates.year - first.year) if annual else (dates.year - first.year) * 12 + (dates.month - first.month)
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
    if not annual:
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
    annual: bool = False  # one row a year: no season, no HAC (see level_changes)

    @property
    def period_word(self) -> str:
        """"year" or "month": what one row of the design is."""
        return "year" if self.annual else "month"


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
    """Design of the before/after regressions (see :class:`Design`); ``merged`` None detects it.

    Annual panels: a constant and the post indicator (no season, no January/February pair)."""
    in_window = panel.in_pre | panel.in_post
    cols = np.flatnonzero(in_window)
    if panel.annual:
        post = panel.in_post[cols].astype(float)
        if len(cols) < 3:
            raise InputError("the windows hold fewer than 3 years: nothing to estimate a change from")
        return Design(cols, np.ones(len(cols)), post, np.column_stack([np.ones(len(cols)), post]), False, 0, True)
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
    after get log ratio -inf and a robust score-test statistic. An annual
    design (a handful of years) has no HAC: the variance is the
    Poisson quasi-likelihood one with the Pearson dispersion, referred to t
    with (years - 2) degrees of freedom.
    """
    Yd = Y[:, design.cols]
    w = design.weight
    pre_sum = Yd[:, design.post == 0] @ w[design.post == 0]
    post_sum = Yd[:, design.post == 1] @ w[design.post == 1]
    S = len(Yd)
    log_ratio, var, stat = np.full(S, np.nan), np.full(S, np.nan), np.full(S, np.nan)
    if design.annual:
        return _annual_level_changes(Yd, design, pre_sum, post_sum)
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


def _annual_level_changes(Yd: np.ndarray, design: Design, pre_sum: np.ndarray, post_sum: np.ndarray) -> Changes:
    """:func:`level_changes` of an annual design: the ratio of window means, the quasi-Poisson variance
    phi (1 / pre total + 1 / post total) with phi the Pearson dispersion over the years, t with n - 2 df; a
    flow that vanished gets ratio 0 and no test (its dispersion is not estimable from one window)."""
    post = design.post == 1
    n_pre, n_post = int((~post).sum()), int(post.sum())
    S, n = Yd.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ratio = np.where((pre_sum > 0) & (post_sum > 0), np.log(post_sum / n_post) - np.log(pre_sum / n_pre),
                             np.nan)
        mu = np.where(post[None, :], (post_sum / n_post)[:, None], (pre_sum / n_pre)[:, None])
        phi = np.where(mu > 0, (Yd - mu) ** 2 / mu, 0.0).sum(axis=1) / max(n - 2, 1)
        var = np.where(np.isfinite(log_ratio) & (phi > 0), phi * (1 / pre_sum + 1 / post_sum), np.nan)
    log_ratio[(pre_sum > 0) & (post_sum == 0)] = -np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = log_ratio / np.sqrt(var)
    return Changes(log_ratio, var, 1.0, float(max(n - 2, 1)), np.where(np.isfinite(stat), stat, np.nan))


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
    trend = (share_trends(y_rel, c_rel, panel, design) if not panel.annual else _untested(len(y_rel))) \
        if has_controls else None
    thin_rel = _thin(y_rel, panel)
    if rel is not None and trend is not None:
        _not_estimable(rel, thin_rel)
        _not_estimable(trend, thin_rel)

    # absolute before/after: reported series, plus each distinct comparison sum (for control_ratio)
    out_idx = panel.index_of(out_codes)
    y_out = panel.Y[out_idx].reshape(-1, panel.Y.shape[2])
    lvl = level_changes(y_out, design)
    thin = _thin(y_out, panel)
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
    period_word = "year" if panel.annual else "month"
    for i in np.flatnonzero(thin):
        notes[i].append(f"trade in only {int((y_out[i, in_pre] > 0).sum())} {period_word}(s) of the pre window (fewer "
                        f"than {min_active(panel)}): no ratio, interval or trend is estimable from it")
    nz = (y_out[:, design.cols] > 0).sum(axis=1)
    for i in np.flatnonzero((nz > 0) & (nz < 12) & (not panel.annual)):
        notes[i].append(f"sparse: {nz[i]} non-zero months in the windows")

    if rel is not None and trend is not None and ctrl_ratio_rel is not None:
        frame["control_ratio"] = ctrl_ratio_rel[pos]
        d = rel.log_ratio
        unit = np.repeat(rel_codes, F)
        spread = np.where(np.isfinite(d), d, bounded_log_ratio(y_rel, c_rel, design))
        if panel.annual:
            scales = UnitScales.none()
            cal = annual_calibration(d, y_rel, c_rel, panel, unit, fam_rel, is_placebo, spread)
        else:
            scales = unit_scales(panel, y_rel, c_rel, unit, thin_rel)
            cal = relative_calibration(rel, unit, fam_rel, is_placebo, scales, spread)
        var = np.where(cal.n_placebo >= MIN_PLACEBOS, cal.var, np.nan)  # no valid interval without placebos
        half = np.where(np.isfinite(var), cal.half_width(alpha), np.nan)
        frame["relative_ratio"] = np.exp(d[pos])
        frame["relative_low"] = np.exp((d - half)[pos])
        frame["relative_high"] = np.exp((d + half)[pos])
        rel_gone = np.isneginf(d[pos])
        frame.loc[rel_gone, "relative_low"] = 0.0
        frame.loc[rel_gone, "relative_high"] = np.nan
        p_rel = np.where(np.isfinite(var), cal.p(d), np.nan)
        frame["relative_p_value"] = p_rel[pos]
        frame["relative_q_value"] = _qvalues(frame, "relative_p_value", q_scope)
        with np.errstate(invalid="ignore", divide="ignore"):
            rank = placebo_rank_p(spread / np.sqrt(cal.spread_var), fam_rel, is_placebo)
        frame["relative_p_rank"] = np.where(np.isfinite(p_rel), rank, np.nan)[pos]
        frame["relative_p_hac"] = rel.p()[pos] if not panel.annual else np.nan
        frame["n_placebo"] = cal.n_placebo[pos]
        if panel.annual:  # a trend through three or four pre-window years tests nothing: the honest bounds remain
            tp = np.full(len(pos), np.nan)
        else:
            tcal = trend_calibration(trend, unit, fam_rel, is_placebo, scales)
            tp = np.where(tcal.n_placebo >= MIN_PLACEBOS, tcal.p(trend.log_ratio), trend.p())[pos]
        slope = trend.log_ratio[pos]
        frame["pre_trend_p"] = tp
        frame["pre_trend_pct_year"] = np.where(np.isfinite(tp), 100 * (np.exp(slope) - 1), np.nan)  # share odds
        same_dir = np.sign(slope) == np.sign(d[pos])
        frame["pre_trend"] = (tp < alpha) & same_dir
        frame["break_2022"] = frame["relative_q_value"] < alpha  # never dropped by a pre-test: see rr_*
        bounds = honest_bounds(y_rel[pos], c_rel[pos], panel, d[pos], half[pos])
        for col in HONEST_COLUMNS:
            frame[col] = bounds[col].to_numpy()
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
                            f"before the post window (p={tp[i]:.3f}, same calibration as the relative test); see "
                            "the honest bounds rr_low-rr_high")
        for j, text in enumerate(bounds["rr_note"].to_numpy(str)):
            if text and np.isfinite(d[pos][j]):
                notes[j].append(text)
        for i in np.flatnonzero((cal.n_placebo < MIN_PLACEBOS)[pos] & np.isfinite(d[pos])):
            notes[i].append(f"fewer than {MIN_PLACEBOS} comparison partners with data: no valid relative interval "
                            "or p-value (relative_p_hac is time-series only and too liberal)")
        if panel.annual:
            for i in np.flatnonzero(np.isfinite(d[pos])):
                notes[i].append(ANNUAL_NOTE)
    else:
        for col in ("control_ratio", "relative_ratio", "relative_low", "relative_high", "relative_p_value",
                    "relative_q_value", "relative_p_rank", "relative_p_hac", "pre_trend_p", "pre_trend_pct_year",
                    *HONEST_COLUMNS):
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
    frame["inference"] = "annual_placebo" if panel.annual else "studentized_placebo"
    frame = _with_robustness(frame, panel, alpha)
    frame = frame[COMPARE_COLUMNS]
    order = np.lexsort((frame["family"].to_numpy(), frame["partner_code"].to_numpy(), ~frame["is_focal"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    return CompareResult(frame, panel.study, _config(panel, design, alpha, lvl, rel, q_scope), panel.synthetic)


MIN_ACTIVE = {"M": 3, "A": 2}
"""Fewest periods with trade in a window for a ratio to be estimated, by frequency: from one or two shipments a
ratio is an absurd number (x1e6), not an estimate; of three annual totals, two."""


def min_active(panel: StudyPanel) -> int:
    """:data:`MIN_ACTIVE` for the panel's frequency."""
    return MIN_ACTIVE[panel.study.freq]


def _thin(Y: np.ndarray, panel: StudyPanel) -> np.ndarray:
    """Rows with some trade in the pre window, but in fewer than :func:`min_active` periods."""
    n = (Y[:, panel.in_pre] > 0).sum(axis=1)
    return (n > 0) & (n < min_active(panel))


def _untested(n: int) -> Changes:
    """Changes for ``n`` rows that were not estimated (all NaN)."""
    return Changes(np.full(n, np.nan), np.full(n, np.nan), 1.0, np.inf, np.full(n, np.nan))


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


def unit_scales(panel: StudyPanel, y: np.ndarray, c: np.ndarray, unit: np.ndarray, thin: np.ndarray) -> UnitScales:
    """Each unit's in-time scale (:func:`analysis.stats.in_time_scales`): the two-unit estimate of every row
    refitted on a fake break in the middle of the pre window, its HAC variance moderated like the real one's.
    No scale (1) when the pre window is too short to split."""
    fake = _fake_break(panel)
    if fake is None:
        return UnitScales.none()
    try:
        ch = share_changes(y, c, before_after_design(fake))
    except InputError:
        return UnitScales.none()
    _not_estimable(ch, thin)
    fam = np.tile(np.arange(len(panel.families)), len(y) // max(len(panel.families), 1))
    mod = moderated_variances(ch.scale**2 * ch.var, ch.df, unit, fam)
    return in_time_scales(ch.log_ratio, mod.var, mod.df, unit)


def relative_calibration(rel: Changes, unit: np.ndarray, fam: np.ndarray, is_placebo: np.ndarray,
                         scales: UnitScales, spread: np.ndarray) -> Calibration:
    """The relative ratios' studentized placebo calibration (:func:`analysis.stats.studentized_placebo`).

    The HAC variance enters on the scale of its fixed-b reference
    (scale^2 x variance, a t with ``rel.df`` degrees of freedom); placebos whose
    estimate is not finite (a flow that vanished or began, or a pre window
    with too few months of trade) still count in the spread, at ``spread``
    (:func:`bounded_log_ratio`): dropping them would understate it.
    """
    return studentized_placebo(rel.log_ratio, rel.scale**2 * rel.var, rel.df, unit, fam, is_placebo, scales=scales,
                               spread=spread)


def trend_calibration(trend: Changes, unit: np.ndarray, fam: np.ndarray, is_placebo: np.ndarray,
                      scales: UnitScales) -> Calibration:
    """The pre-window share trends' calibration: the same as the relative ratios' (moderated HAC variances,
    each unit's in-time scale, the placebo trends' spread), so that the pre-trend check is neither more nor
    less liberal than the test it qualifies."""
    return studentized_placebo(trend.log_ratio, trend.scale**2 * trend.var, trend.df, unit, fam, is_placebo,
                               scales=scales)


SPREAD_BOUND = 20.0
"""A placebo's change counts in the spread at most as x20 or /20 (see :func:`bounded_log_ratio`)."""


def bounded_log_ratio(y: np.ndarray, c: np.ndarray, design: Design, bound: float = SPREAD_BOUND) -> np.ndarray:
    """Log relative ratio of every row, defined even where a flow vanished or began, bounded at +-log(bound).

    The ratio of the two post/pre ratios of mean value (what
    :func:`share_changes` estimates), where a window with no trade gets, in
    place of its zero mean, half the row's smallest positive month spread over
    the window (as if half the smallest shipment it ever sent had arrived
    once): a flow that vanished then shows a large fall, one that began a
    large rise, instead of minus or plus infinity. Bounded at a factor
    ``bound`` either way, so that one vanished placebo widens its family's
    interval (as it should: the comparison partners' flows come and go) but
    not to an absurd width. NaN for a row whose series or comparison series
    never traded. Used for the placebos' spread and rank, never as an estimate.
    """
    w = design.weight
    post = design.post == 1

    def means(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xd = x[:, design.cols]
        with np.errstate(invalid="ignore"):
            smallest = np.where(xd > 0, xd, np.inf).min(axis=1) / 2
        smallest = np.where(np.isfinite(smallest), smallest, np.nan)
        out = []
        for rows in (~post, post):
            total = xd[:, rows] @ w[rows]
            out.append(np.where(total > 0, total, smallest) / w[rows].sum())
        return out[0], out[1]

    y_pre, y_post = means(y)
    c_pre, c_post = means(c)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.log(y_post / y_pre) - np.log(c_post / c_pre)
    return np.clip(d, -np.log(bound), np.log(bound))


def pre_year_levels(y: np.ndarray, c: np.ndarray, panel: StudyPanel) -> np.ndarray:
    """Log of each row's annual value over its comparison series' (rows x calendar years of the pre window with at
    least 6 of their months in it; every pre year of annual data); NaN where either side has no trade."""
    pre = panel.in_pre
    years = np.asarray(panel.months[pre].year)
    uniq = [yr for yr in np.unique(years) if (years == yr).sum() >= 6 or panel.annual]
    if not uniq:
        return np.zeros((len(y), 0))
    yy = np.stack([y[:, pre][:, years == yr].sum(axis=1) for yr in uniq], axis=1)
    cc = np.stack([c[:, pre][:, years == yr].sum(axis=1) for yr in uniq], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((yy > 0) & (cc > 0), np.log(yy / cc), np.nan)


ANNUAL_NOTE = ("annual: the relative ratio of window means, its variance from the partner's own year-to-year swings "
               "before the break plus the comparison partners' placebo spread; no HAC, no pre-trend test, no event "
               "study: a few annual points cannot show when within a year a change began, nor trends or spikes "
               "within the windows")
"""The ``note`` of every annual relative ratio (``inference`` column: ``annual_placebo``)."""


def annual_calibration(d: np.ndarray, y: np.ndarray, c: np.ndarray, panel: StudyPanel, unit: np.ndarray,
                       fam: np.ndarray, is_placebo: np.ndarray, spread: np.ndarray) -> Calibration:
    """Annual relative ratios: :func:`analysis.stats.studentized_placebo` with each row's sampling variance
    measured on its own year-to-year swings before the break.

    A few annual points give no HAC variance, but the pre window's changes
    of each row's relative level from one year to the next
    (:func:`pre_year_levels`) show its noise: with sigma^2 the variance of a
    year's relative level, a change has variance 2 sigma^2, and the log
    ratio of the window means about sigma^2 (1 / pre years + 1 / post
    years). That variance (on as many degrees of freedom as there are
    changes) is moderated over partners x families, so a focal partner more
    volatile than the comparison partners keeps its wider variance, and the
    placebos' spread adds what partner-specific trends add (no in-time
    scale: the pre window is too short to split).
    """
    level = pre_year_levels(y, c, panel)
    with np.errstate(invalid="ignore"):
        sq = np.diff(level, axis=1) ** 2
    n = np.isfinite(sq).sum(axis=1)
    n_steps = int(n.max(initial=0))
    n_pre, n_post = int(panel.in_pre.sum()), int(panel.in_post.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma2 = np.where(n == n_steps, np.where(np.isfinite(sq), sq, 0.0).sum(axis=1) / np.maximum(n, 1) / 2, np.nan)
    v = sigma2 * (1 / n_pre + 1 / n_post)
    return studentized_placebo(d, v, float(max(n_steps, 1)), unit, fam, is_placebo, spread=spread,
                               min_placebos=1)


HONEST_COLUMNS = ["rr_pre_step", "rr_low", "rr_high", "rr_breakdown"]
"""Honest bounds of the relative ratio (:func:`honest_bounds`)."""


def honest_bounds(y: np.ndarray, c: np.ndarray, panel: StudyPanel, d: np.ndarray, half: np.ndarray) -> pd.DataFrame:
    """Honest bounds on the relative ratio for a departure from parallel trends after the break (relative
    magnitudes, in the manner of Rambachan and Roth 2023).

    The pre-test this replaces dropped rows whose share trended before the
    break; but a trend test has little power where it matters and distorts
    what it keeps (Roth 2022). Instead, every row keeps its estimate, and the
    question is how large a departure from parallel trends after the break
    would be needed to explain it, measured against those seen before it.
    ``rr_pre_step``: the largest year-to-year change of the relative ratio
    (the row's annual value over its comparison series' annual value) between
    consecutive calendar years of the pre window (years with at least 6 of
    their months in the window; as a factor, >= 1). The interval
    ``rr_low``-``rr_high`` is the relative ratio's interval widened on the log
    scale by M = 1 times log(rr_pre_step) either way: the effect allowing the
    post-period's departure to be as large as the largest pre-period one.
    ``rr_breakdown`` is the M at which the widened interval first reaches 1:
    (|log ratio| - half-width) / log(rr_pre_step), 0 when the interval itself
    holds 1. Below 1, a departure no larger than one already seen before the
    break could explain the finding. NaN, with the reason in ``rr_note``,
    where fewer than two pre-window years have trade by both sides.
    """
    level = pre_year_levels(y, c, panel)
    with np.errstate(invalid="ignore"):
        steps = np.abs(np.diff(level, axis=1))
    enough = np.isfinite(steps).all(axis=1) & (steps.shape[1] >= 1)
    step = np.where(enough, np.nanmax(np.where(np.isfinite(steps), steps, -np.inf), axis=1, initial=-np.inf), np.nan)
    step = np.where(np.isfinite(step), step, np.nan)
    finite = np.isfinite(d) & np.isfinite(half)
    with np.errstate(invalid="ignore", divide="ignore"):
        breakdown = np.where(np.abs(d) > half, (np.abs(d) - half) / step, 0.0)
    ok = finite & np.isfinite(step) & (step > 0)
    notes = np.full(len(d), "", dtype=object)
    notes[finite & ~np.isfinite(step)] = (f"no honest bound: fewer than two pre-window years with trade by both sides "
                                          f"({level.shape[1]} year(s) in the pre window)")
    weak = ok & (breakdown < 1) & (np.abs(d) > half)
    for i in np.flatnonzero(weak):
        notes[i] = (f"honest bound: a departure from parallel trends after the break as large as the largest "
                    f"pre-window year-to-year change (x{np.exp(step[i]):.2f}) would explain it (breakdown "
                    f"M = {breakdown[i]:.2f})")
    return pd.DataFrame({
        "rr_pre_step": np.where(np.isfinite(step), np.exp(step), np.nan),
        "rr_low": np.where(ok, np.exp(d - half - step), np.nan),
        "rr_high": np.where(ok, np.exp(d + half + step), np.nan),
        "rr_breakdown": np.where(ok, breakdown, np.nan),
        "rr_note": notes,
    })


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
