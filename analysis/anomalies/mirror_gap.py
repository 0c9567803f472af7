"""Mirror gap: the partner's reported imports against China's reported exports, beyond what CIF/FOB explains.

Comtrade's mirror statistics compare what one country says it sent with what
the other says it received. The two never agree exactly: imports are valued
CIF (with freight and insurance), exports FOB, so imports run a few percent
above (typically 5-10%); goods shipped in December arrive in January;
partner attribution and confidentiality differ. Comtrade's own practice is to
compare annual totals and to judge a gap against the usual ratio, not
against 1. This detector does that per family.

Method. For every partner that also reports (its ``flow`` opposite to
China's, with China as partner, e.g. Belarus's imports from China until
2021: reporter 112, flow M, partner 156), annual totals of both sides are
formed over the years both cover completely (12 months each), and family-
years with at least ``min_usd`` (50,000 USD) on both sides are kept. With
``d = log(partner's figure / China's figure)``:

- the typical ratio ``mu`` is the median of ``d`` over all the partner's
  family-years (the CIF/FOB margin and the rest, estimated robustly from the
  data rather than assumed);
- the year-to-year noise ``s_w`` is 1.4826 x MAD of the within-family
  changes ``d_y - d_(y-1)`` over sqrt(2) (robust to a family's lasting offset);
- the spread of lasting family offsets ``tau`` is the robust SD of family
  medians of ``d`` around ``mu``, less the part the yearly noise explains.

For every run of consecutive years of a family the mean excess ``D =
mean(d) - mu`` gets ``z = D / sqrt(tau^2 + s_w^2 / L)`` (L years); the
family's statistic is its largest ``|z|`` and its two-sided normal p-value is
multiplied by the number of runs looked at (Bonferroni), so a family is
flagged when the gap is far beyond the usual spread of families, not merely
beyond 1.

Output: one row per family (``reporter_code``/``partner_code`` as China's
side: China's exports to the partner); ``period`` = first month of the run
(January of its first year); ``size`` = exp(D), how many times the usual
ratio the partner reports, with a 95% interval from the same variance;
``observed_usd`` = the partner's figure over the run, ``expected_usd`` = China's
figure times the typical ratio (what valuation and timing explain),
``expected_low/high`` from the size interval.

Assumes: most families' gaps are ordinary (the typical ratio and spreads are
estimated from all of them), years independent given the family offset.
When it fails: with few families the spreads are poorly estimated; partners
that attribute imports by country of origin while China records the country
of destination (re-exports via third countries) produce large, real but
innocent gaps; an HS revision applied on one side only shifts a family's
ratio (families bridge HS 2017/2022 on China's side only).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..schema import is_synthetic
from .common import Panel, family_names, fmt_usd, rows_frame, z_score

KIND = "mirror_gap"
MIN_USD = 50_000.0
"""Smallest annual USD on both sides for a family-year to count."""
MIN_FAMILIES = 5
MIN_GAP = 1.5
"""Gaps within this factor of the usual ratio (either way) count as ordinary mirror noise."""
N_BINS = 5
MIN_BIN = 40
TAIL_Q = 0.9
OPPOSITE = {"X": "M", "M": "X"}
FLOW_WORD = {"X": "exports", "M": "imports"}


def _annual(frame: pd.DataFrame) -> pd.DataFrame:
    """Annual USD per series over complete years (12 months present; an annual series' years as they are)."""
    year = frame["date"].dt.year.rename("year")
    g = frame.groupby([frame["partner_code"], frame["reporter_code"], frame["family_id"], year], sort=False)
    out = g["usd"].agg(["sum", "size"]).reset_index()
    annual = bool((frame["date"].dt.month == 1).all()) and bool((out["size"] == 1).all())
    return out[out["size"] == (1 if annual else 12)].drop(columns="size").rename(columns={"sum": "usd"})


def detect(series: pd.DataFrame, *, reporter: int, flow: str, partners=None, min_usd: float = MIN_USD,
           min_gap: float = MIN_GAP, **_) -> pd.DataFrame:
    """Mirror-gap rows (one per family with enough overlap, raw p-values) from the series frame."""
    synthetic = is_synthetic(series)
    own = series[(series["reporter_code"] == reporter) & (series["flow_code"] == flow)]
    if partners is not None:
        own = own[own["partner_code"].isin(list(partners))]
    mirror = series[(series["flow_code"] == OPPOSITE.get(flow, "")) & (series["partner_code"] == reporter)
                    & series["reporter_code"].isin(own["partner_code"].unique())]
    if own.empty or mirror.empty:
        return _rows(pd.DataFrame(), own, synthetic)
    a = _annual(own)
    b = _annual(mirror.rename(columns={"reporter_code": "partner_code", "partner_code": "reporter_code"}))
    both = a.merge(b, on=["partner_code", "reporter_code", "family_id", "year"], suffixes=("_own", "_mirror"))
    both = both[(both["usd_own"] >= min_usd) & (both["usd_mirror"] >= min_usd)]
    parts = [_partner(block, flow, min_gap) for _, block in both.groupby("partner_code", sort=True)]
    parts = [x for x in parts if len(x)]
    result = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return _rows(result, own, synthetic)


def _partner(block: pd.DataFrame, flow: str, min_gap: float) -> pd.DataFrame:
    """Tests for one partner's families (vectorised over families; a loop over runs of years)."""
    years = np.arange(block["year"].min(), block["year"].max() + 1)
    wide_ = {v: block.pivot_table(index="family_id", columns="year", values=v).reindex(columns=years)
             for v in ("usd_own", "usd_mirror")}
    X, M = wide_["usd_own"].to_numpy(), wide_["usd_mirror"].to_numpy()
    if len(X) < MIN_FAMILIES:
        return pd.DataFrame()  # too few families to know what a usual gap is
    d = np.log(M / X)
    mu, spread = _usual(d, np.log(np.sqrt(M * X)))
    u = (d - mu) / spread
    # share of the standardised variance that is a lasting family offset (intra-class correlation)
    steps_ = np.diff(u, axis=1)
    steps_ = steps_[np.isfinite(steps_)]
    within = (1.4826 * np.median(np.abs(steps_))) ** 2 / 2 if len(steps_) >= 10 else 1.0
    icc = float(np.clip(1.0 - within, 0.0, 1.0))
    margin = np.log(min_gap)
    n_f, n_y = d.shape
    best = np.full((n_f, 4), np.nan)  # z, i, j, sd
    best[:, 0] = -np.inf
    n_runs = np.zeros(n_f)
    for i in range(n_y):
        for j in range(i, n_y):
            ok = np.isfinite(d[:, i:j + 1]).all(axis=1)
            n_runs += ok
            L = j - i + 1
            with np.errstate(all="ignore"):
                gap = np.nanmean(d[:, i:j + 1] - mu[:, i:j + 1], axis=1)
                sd = np.nanmean(spread[:, i:j + 1], axis=1) * np.sqrt(icc + (1 - icc) / L)
            z = np.where(ok, (np.abs(gap) - margin) / sd, -np.inf)
            better = z > best[:, 0]
            best[better] = np.column_stack([z, np.full(n_f, i), np.full(n_f, j), sd])[better]
    tested = n_runs > 0
    z, sd = best[:, 0], best[:, 3]
    first, last = np.nan_to_num(best[:, 1]).astype(int), np.nan_to_num(best[:, 2]).astype(int)
    # P(|gap| - margin >= z sd) at the boundary |true gap| = margin, times the number of runs looked at
    tail = np.logaddexp(stats.norm.logsf(z), stats.norm.logsf(z + 2 * margin / np.where(sd > 0, sd, 1.0)))
    log_p = np.minimum(tail + np.log(np.maximum(n_runs, 1)), 0.0)
    inside = (np.arange(n_y)[None, :] >= first[:, None]) & (np.arange(n_y)[None, :] <= last[:, None])
    obs = np.nansum(np.where(inside, M, 0.0), axis=1)
    china = np.nansum(np.where(inside, X, 0.0), axis=1)
    with np.errstate(all="ignore"):
        usual = np.exp(np.nanmean(np.where(inside, mu, np.nan), axis=1))
        gap = np.log(obs / china) - np.log(usual)
    size, lo, hi = np.exp(gap), np.exp(gap - 1.96 * sd), np.exp(gap + 1.96 * sd)
    span = [f"{years[a]}" if a == b else f"{years[a]}-{years[b]}" for a, b in zip(first, last, strict=True)]
    with np.errstate(all="ignore"):
        detail = [
            f"partner reports {o / c:.2f}x China's {FLOW_WORD.get(flow, flow)} in {sp} (USD {fmt_usd(o)} vs "
            f"{fmt_usd(c)}); usual ratio for flows this size {us:.2f}, so x{sz:.2f} the usual (95% {a:.2f}-{b:.2f})"
            for o, c, sp, us, sz, a, b in zip(obs, china, span, usual, size, lo, hi, strict=False)
        ]
    out = pd.DataFrame({
        "partner_code": int(block["partner_code"].iloc[0]), "family_id": wide_["usd_own"].index.to_numpy(),
        "period": [f"{years[a]}-01" for a in first], "score": z_score(log_p), "observed_usd": obs,
        "expected_usd": china * usual, "expected_low": obs / hi, "expected_high": obs / lo, "size": size,
        "size_low": lo, "size_high": hi, "p_value": np.exp(log_p), "detail": detail,
    })
    return out[tested].reset_index(drop=True)


def _usual(d: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Usual log ratio and its spread for each family-year, by bins of flow size (small flows are noisier).

    Family-years are cut into up to ``N_BINS`` equal-count bins of log size
    (at least ``MIN_BIN`` per bin); within each, the median is the usual log
    ratio and the spread is the larger of 1.4826 x MAD and the 90% quantile
    of absolute deviations over its normal value (mirror gaps are heavy-tailed).
    """
    ok = np.isfinite(d)
    mu, spread = np.full(d.shape, np.nan), np.full(d.shape, np.nan)
    n_bins = int(np.clip(ok.sum() // MIN_BIN, 1, N_BINS))
    edges = np.quantile(size[ok], np.linspace(0, 1, n_bins + 1))
    b = np.clip(np.searchsorted(edges, size, side="right") - 1, 0, n_bins - 1)
    for k in range(n_bins):
        at = ok & (b == k)
        med = np.median(d[at])
        dev = np.abs(d[at] - med)
        mu[at] = med
        spread[at] = max(1.4826 * np.median(dev), np.quantile(dev, TAIL_Q) / stats.norm.ppf(0.5 + TAIL_Q / 2), 1e-3)
    return mu, spread


def _rows(result: pd.DataFrame, own: pd.DataFrame, synthetic: bool) -> pd.DataFrame:
    """Findings rows with China's side as reporter and the family's registry group and name."""
    reporter = int(own["reporter_code"].iloc[0]) if len(own) else 0
    if result.empty:
        keys = pd.DataFrame({"reporter_code": [], "partner_code": [], "flow_code": [], "family_id": [],
                             "group": [], "kind": [], "family_name": []})
        return rows_frame(Panel(pd.DatetimeIndex([]), keys, np.zeros((0, 0)), np.zeros((0, 0)), synthetic),
                          np.zeros(0, dtype=int), KIND)
    meta = own.drop_duplicates(["partner_code", "family_id"]).set_index(["partner_code", "family_id"])
    idx = pd.MultiIndex.from_frame(result[["partner_code", "family_id"]])
    keys = pd.DataFrame({
        "reporter_code": reporter, "partner_code": result["partner_code"].to_numpy(),
        "flow_code": own["flow_code"].iloc[0], "family_id": result["family_id"].to_numpy(),
        "group": meta["group"].reindex(idx).to_numpy(), "kind": meta["kind"].reindex(idx).to_numpy(),
        "family_name": family_names(result["family_id"]),
    })
    p = Panel(pd.DatetimeIndex([]), keys, np.zeros((0, len(keys))), np.zeros((0, len(keys))), synthetic)
    values = result.drop(columns=["partner_code", "family_id"]).to_dict("series")
    return rows_frame(p, np.arange(len(keys)), KIND, **{k: v.to_numpy() for k, v in values.items()})
