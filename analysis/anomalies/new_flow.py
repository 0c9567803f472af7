"""New flow: a family absent or negligible before and material after.

Rule (thresholds are parameters of :func:`detect` and of find_anomalies):

- *negligible before*: the mean monthly USD over the pre window is at most
  ``negligible_share`` (5%) of the mean over the post window (so "absent" is
  the special case 0, and a trickle of samples still counts as negligible);
- *material after*: the post window averages at least ``material_usd``
  (25,000 USD a month, i.e. 300,000 USD a year: the threshold annual series
  are held to) and at least ``min_post_share`` (50%) of its effective months
  (years) are positive (a steady flow, not one shipment).

p-value: a one-sided Mann-Whitney test that post-window months are larger
than pre-window months (effective months: a merged Jan-Feb counts once;
normal approximation with the tie correction, since pre months are mostly
tied at zero). With annual series the test compares years: with three
years on each side its smallest p-value is 0.05 (1 in 20 orderings), so a new
flow is declared only over longer windows (five years before and three
after give 1 in 56). Series that fail the rule get p = 1, so the Benjamini-Hochberg
step runs over every series tested and the rule only ever removes findings.

Output: ``period`` = the first month of the flow (the month that best splits
the series into small months before and material months after, a month
being material at 10% of the post window's median positive month);
``observed_usd`` = mean monthly USD over the post window,
``expected_usd`` = the same over the pre window (what "before" predicts),
``expected_low/high`` = 0 and the largest pre-window month; ``size`` = the
ratio (inf when nothing was exported before; empty, NaN, when fewer than
half the pre months had trade: a mean of a few stray months is no baseline
and the ratio would read x10,000; no interval).

Assumes: months are exchangeable within each window under the null (the
test ignores autocorrelation, which matters little for a jump from zero).
When it fails: a flow that is material but irregular (shipments every few
months) fails the share-of-months rule; a series reclassified across the
HS 2017/2022 break outside a registry family looks like one flow ending and
a new one starting (families exist to avoid this); thresholds in USD do not
scale with the partner, so a small partner's new flow can be below them.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..periods import Window
from .common import Panel, effective_rows, fmt_month, fmt_usd, month_weights, rows_frame, z_score

KIND = "new_flow"
NEGLIGIBLE_SHARE = 0.05
MATERIAL_USD = 25_000.0
MIN_POST_SHARE = 0.5
START_FRACTION = 0.1


def detect(p: Panel, *, pre: Window, post: Window, negligible_share: float = NEGLIGIBLE_SHARE,
           material_usd: float = MATERIAL_USD, min_post_share: float = MIN_POST_SHARE, **_) -> pd.DataFrame:
    """New-flow rows (one per series with data in both windows, raw p-values) for the panel ``p``."""
    keep = effective_rows(p.dates, p.usd)
    w = month_weights(p.dates, keep)
    d = p.dates[keep]
    in_pre = np.asarray(pre.contains(pd.Series(d)))
    in_post = np.asarray(post.contains(pd.Series(d)))
    least = 3 if p.per_year == 12 else 2
    if p.n_series == 0 or in_pre.sum() < least or in_post.sum() < least:
        return rows_frame(p, np.zeros(0, dtype=int), KIND)
    u = p.usd[keep]
    pre_u, post_u = u[in_pre], u[in_post]
    pre_mean = (pre_u * w[in_pre, None]).sum(axis=0) / w[in_pre].sum()
    post_mean = (post_u * w[in_post, None]).sum(axis=0) / w[in_post].sum()
    post_share = (post_u > 0).mean(axis=0)
    material = material_usd * 12 / p.per_year  # the threshold per period (a year holds 12 months)
    rule = (pre_mean <= negligible_share * post_mean) & (post_mean >= material) & (post_share >= min_post_share)
    res = stats.mannwhitneyu(post_u, pre_u, alternative="greater", axis=0, method="asymptotic")
    log_p = np.where(rule, np.log(np.clip(np.nan_to_num(res.pvalue, nan=1.0), 1e-300, 1.0)), 0.0)
    start = _start(u, d, in_post)
    pre_share = (pre_u > 0).mean(axis=0)
    trickle = (pre_mean > 0) & (pre_share < 0.5)  # a few stray pre months: their mean is no baseline
    with np.errstate(divide="ignore"):
        size = np.where(pre_mean > 0, post_mean / np.where(pre_mean > 0, pre_mean, 1.0), np.inf)
    size = np.where(trickle, np.nan, size)
    pre_max = pre_u.max(axis=0)
    unit = "year" if p.per_year == 1 else "month"
    detail = [
        f"from {per}: {fmt_usd(b)} USD/{unit} in {post} against {fmt_usd(a)} in {pre}; "
        f"positive in {sh:.0%} of post {unit}s"
        + (f"; no ratio: only {ps:.0%} of pre months had trade, too few for a baseline" if tr else "")
        for per, a, b, sh, ps, tr in zip(start, pre_mean, post_mean, post_share, pre_share, trickle, strict=True)
    ]
    cols = np.arange(p.n_series)
    return rows_frame(
        p, cols, KIND, period=start, score=z_score(log_p), observed_usd=post_mean, expected_usd=pre_mean,
        expected_low=0.0, expected_high=pre_max, size=size, size_low=np.nan, size_high=np.nan,
        p_value=np.exp(log_p), detail=detail,
    )


def _start(u: np.ndarray, d: pd.DatetimeIndex, in_post: np.ndarray) -> list[str]:
    """First month of the flow: the split that best separates small months before from material months after.

    A month is material when it reaches 10% of the post window's median
    positive month; the start is the month m maximising (small months before
    m) + (material months from m on).
    """
    post = np.where(u[in_post] > 0, u[in_post], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # series with no positive post month
        level = np.nan_to_num(np.nanmedian(post, axis=0), nan=np.inf) * START_FRACTION
    big = (u >= level[None, :]).astype(int)
    small_before = np.vstack([np.zeros((1, u.shape[1]), int), np.cumsum(1 - big, axis=0)[:-1]])
    big_after = np.cumsum(big[::-1], axis=0)[::-1]
    idx = np.argmax(small_before + big_after, axis=0)
    return [fmt_month(d[i]) for i in idx]
