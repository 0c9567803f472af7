"""Who supplies the focal partner: its imports rebuilt from every reporter's exports to it (mirror data).

The study's reporter (China) says what it sent the focal partner (Belarus).
Whether it *replaced* the suppliers that sanctions removed needs the other
side: what every other country reports exporting to the focal partner.
Belarus publishes no detailed trade after 2021, so its imports can only be
rebuilt that way (as Carnegie and KSE did for Russia). Estimation only; the
report draws from :class:`SuppliersResult`.

Tables (:func:`who_supplies`):

- ``shares`` (suppliers.csv): for each period (``YYYY``, or ``YYYY-MM``
  with ``freq="M"``), group and family (and each group as a whole,
  ``level`` group, ``family`` ``"*"``) every supplier's exports to the focal
  partner (``usd``) and its ``share`` of all suppliers' exports that period:
  shares sum to 1 over the suppliers that published in the period;
- ``reporter_share``: the study reporter's share before and after, per group
  and family, with intervals, and the change;
- ``substitution`` (substitution.csv): per group, the fall of the
  sanctioning suppliers' exports (:func:`supplier_sets`) between the windows
  and the rise of the reporter's, the transit partners' (``study.transit``)
  and everyone else's; the ``gap`` is the part replaced by nobody (fall less
  all rises = the fall of the focal partner's total mirrored imports); each
  with an interval, and as shares of the fall where the fall is material;
- ``routes`` (routes.csv): for each transit partner and family, the
  reporter's exports to it and its exports to the focal partner (and to
  Russia when the data hold them); a material rise in both legs
  (:data:`MIN_RISE`) is a *candidate route*, listed with its numbers:
  consistent with re-routing, never evidence of evasion by itself;
- ``mirror`` (mirror.csv): before the focal partner stopped publishing, its
  reported imports from each supplier against the supplier's reported
  exports, per group and year, flagged outside the CIF/FOB band
  :data:`MIRROR_BAND`;
- ``caveats``: what limits these numbers, as sentences the report prints.

Which suppliers count. Categories: the study's ``reporter``, the
``sanctioning`` set (``data/registry/supplier_sets.toml``), the study's
``transit`` partners, and ``other``; aggregate reporters (World, the EU as a
reporter) are left out. Comparisons between the windows use the suppliers
that publish in both (a supplier with no record after the post window starts,
Russia from 2022, is left out and named in the caveats); a month without a
record of such a supplier counts as zero. The post window ends at the last
month in which suppliers holding :data:`COVERAGE` (90%) of the pre-window
imports have published, so late reporters do not read as a fall. Reporters
that publish only annual figures are spread evenly over their year's months
(their timing within the year is unknown); with no monthly data at all the
statistics run on years.

Intervals. A moving-block bootstrap over the months of each window, in its
circular form (:data:`BLOCK` = 9 months, :data:`DRAWS` = 999 draws, seeded):
blocks of consecutive months are drawn with replacement until the window's length,
the same months for every supplier, group and family (their common shocks
stay together), the two windows independently. A statistic's interval is the
2.5-97.5 percentile interval of its draws, corrected for the bias of the
bootstrap variance in windows only a few blocks long
(:func:`widened_interval`): each window's bootstrap variance is divided by
its expected fraction of the true variance of the window mean, computed exactly
for AR(1) months with the lag-one autocorrelation of the statistic's monthly
terms in that window (for a share: the reporter's exports less the share
times the total; about 75% for uncorrelated months, 9-month blocks and 36
months, 55% at autocorrelation 0.6), and the interval is widened by Student's
t over the normal quantile with that variance's Satterthwaite degrees of
freedom (Welch-Satterthwaite for a change between the windows).
``scripts/validate_suppliers.py`` prints its coverage and false-rise rate on
simulated panels. Blocks keep the serial correlation and the seasonality within
three quarters of a year; with fewer than :data:`MIN_PERIODS` months in a window
nothing is estimated; with years (annual figures only) the blocks are single
years and, below :data:`MIN_PERIODS` years, no autocorrelation is estimated
(zero is taken). Shares of lumpy flows need this: one large shipment moves a month's share by tens of points.
"""
from __future__ import annotations

import html
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Unpack

import numpy as np
import pandas as pd
from scipy.stats import norm as normal
from scipy.stats import t as student_t

from . import registry
from .errors import InputError
from .results import _ESTIMATE_COLUMNS, SYNTHETIC_HTML, _Result, html_table
from .schema import is_synthetic, without_attrs
from .series import SERIES_COLUMNS, build_series
from .study import Study, StudyArgs, check_choice

SupplierFreq = Literal["A", "M"]
"""Periods of suppliers.csv: years (default) or months."""
Category = Literal["reporter", "sanctioning", "transit", "other"]
CATEGORIES: tuple[Category, ...] = ("reporter", "sanctioning", "transit", "other")
RUSSIA = 643
ALL_FAMILIES = "*"
"""``family`` of a group-level row."""

BLOCK = 9
"""Months per bootstrap block. With the variance correction of :func:`widened_interval`, 6, 9 and 12 all keep
95% intervals of the change within 93-97% on the panels of ``scripts/validate_suppliers.py`` (36 and 40 months;
AR(1) 0.3 and 0.6, lumpy); 6 finds more false rises (3.3-3.5%), 12 loses power. The Politis-White automatic
length (Patton-Politis-White correction) picks 3-4 months in windows this short (it minimises the error of the
variance, not of coverage): 83% coverage at AR(1) 0.6 without the correction, 92-94% with it, which then rests
more on the AR(1) model; a fixed length is also one set of months for every row."""
RHO_MAX = 0.9
"""Largest lag-one autocorrelation the bootstrap correction assumes (estimates above it are taken as it)."""
RHO_GRID = np.linspace(0.0, RHO_MAX, 91)
DRAWS = 999
SEED = 20220224
CONFIDENCE = 0.95
"""Level of every interval."""
COVERAGE = 0.9
"""Share of the pre-window imports whose suppliers must have published for a month to be in the post window."""
MIN_PERIODS = 6
"""Fewest months (or 3 years) a window needs for an estimate."""
MIN_FALL = 0.1
"""The sanctioning suppliers' fall, as a share of their pre-window value, below which 'how much was replaced' is
not asked (nothing material fell)."""
MIN_RISE = 0.25
"""A route leg *rises* when its post-window mean exceeds the pre-window mean by at least this share (or starts
from zero) and the interval of the difference excludes no change: a material rise, not one of the many small
moves that sampling noise gives some of dozens of families."""
MIRROR_BAND = (0.95, 1.20)
"""Importer's CIF figure over the exporter's FOB figure within which a group-year is ordinary: freight and
insurance add about 2-10% (the IMF's world CIF/FOB factor is about 1.06), timing and rounding a few per cent
either way; outside it the two sides disagree by more than valuation explains."""

SHARE_COLUMNS = ["period", "group", "family", "level", "supplier_code", "supplier", "category", "usd", "share",
                 "months", "synthetic"]
REPORTER_SHARE_COLUMNS = ["group", "family", "level", "supplier_code", "usd_pre", "usd_post", "total_pre",
                          "total_post", "share_pre", "share_pre_low", "share_pre_high", "share_post",
                          "share_post_low", "share_post_high", "change", "change_low", "change_high", "note",
                          "synthetic"]
_TERMS = ("fall_sanctioning", "rise_reporter", "rise_transit", "rise_other", "gap")
_FRACTIONS = ("replaced_reporter", "replaced_transit", "replaced_other", "not_replaced")
SUBSTITUTION_COLUMNS = (["group", "sanctioning_pre", "sanctioning_post", "reporter_pre", "reporter_post",
                         "transit_pre", "transit_post", "other_pre", "other_post"]
                        + [f"{t}{s}" for t in _TERMS for s in ("", "_low", "_high")]
                        + [f"{t}{s}" for t in _FRACTIONS for s in ("", "_low", "_high")] + ["note", "synthetic"])
ROUTE_COLUMNS = ["transit_code", "transit", "family", "group", "destination_code", "destination",
                 "inbound_pre", "inbound_post", "inbound_ratio", "inbound_rise_low", "inbound_rise_high",
                 "outbound_pre", "outbound_post", "outbound_ratio", "outbound_rise_low", "outbound_rise_high",
                 "candidate", "note", "synthetic"]
MIRROR_COLUMNS = ["supplier_code", "supplier", "group", "year", "exports_usd", "imports_usd", "ratio", "band_low",
                  "band_high", "outside_band", "synthetic"]
CAVEAT_COLUMNS = ["topic", "text"]
SUPPLIER_FILES = ("suppliers.csv", "reporter_share.csv", "substitution.csv", "routes.csv", "mirror.csv",
                  "supplier_caveats.csv")
"""The tables of :class:`SuppliersResult`, as written."""


# ------------------------------------------------------------------ the supplier sets


@dataclass(frozen=True)
class SupplierSets:
    """The sanctioning suppliers and the aggregate reporters (``data/registry/supplier_sets.toml``)."""

    name: str
    rationale: str
    sources: tuple[str, ...]
    sanctioning: tuple[int, ...]
    aggregates: tuple[int, ...]


@lru_cache(maxsize=1)
def supplier_sets() -> SupplierSets:
    """The supplier sets of the registry, read once."""
    with open(registry.registry_dir() / "supplier_sets.toml", "rb") as fh:
        doc = tomllib.load(fh)
    s = doc["sanctioning"]
    return SupplierSets(str(s["name"]), " ".join(str(s["rationale"]).split()), tuple(map(str, s["sources"])),
                        tuple(int(c) for c in s["partners"]), tuple(int(c) for c in doc["aggregates"]["codes"]))


def category_of(codes: pd.Series, study: Study) -> pd.Series:
    """Each supplier's category: the study's reporter, sanctioning, transit (the study's) or other (in that order)."""
    sets = supplier_sets()
    out = np.where(codes == study.reporter, "reporter",
                   np.where(codes.isin(sets.sanctioning), "sanctioning",
                            np.where(codes.isin(study.transit), "transit", "other")))
    return pd.Series(out, index=codes.index)


@lru_cache(maxsize=1)
def _names() -> dict[int, str]:
    areas = registry.areas()
    names = dict(zip(areas["code"].astype(int), areas["name"].astype(str), strict=True))
    names[490] = f"{names.get(490, 'Other Asia, nes')} (Taiwan)"  # Comtrade files Taiwan under 490
    return names


def _name(code: int) -> str:
    return _names().get(int(code), str(code))


# ------------------------------------------------------------------ the flows read


@dataclass(frozen=True)
class _Flows:
    """The series the supplier view reads, one time step for all (months, or years when no one is monthly)."""

    frame: pd.DataFrame  # reporter_code, partner_code, flow_code, family_id, group, kind, date, usd, n_records
    step: SupplierFreq
    annual_only: tuple[int, ...]  # reporters spread evenly over their year's months


def _is_records(data: pd.DataFrame) -> bool:
    return {"cmdCode", "primaryValue", "period_date", "freqCode"} <= set(data.columns)


def _wanted(reporter: pd.Series, partner: pd.Series, flow: pd.Series, study: Study) -> pd.Series:
    """The flows read: exports to the focal partner, its imports, the reporter's exports to the transit partners
    and the transit partners' exports to Russia."""
    aggregates = set(supplier_sets().aggregates)
    return (~reporter.isin(aggregates)) & (
        ((flow == "X") & (partner == study.focal))
        | ((flow == "M") & (reporter == study.focal))
        | ((flow == "X") & (reporter == study.reporter) & partner.isin(study.transit))
        | ((flow == "X") & reporter.isin(study.transit) & (partner == RUSSIA)))


def _spread(frame: pd.DataFrame) -> pd.DataFrame:
    """Annual rows as twelve monthly rows of a twelfth each (a reporter's timing within the year is unknown)."""
    months = np.repeat(frame.to_numpy(), 12, axis=0)
    out = pd.DataFrame(months, columns=frame.columns).astype(frame.dtypes.to_dict())
    offset = np.tile(np.arange(12), len(frame))
    out["date"] = (out["date"].dt.to_period("M") + offset).dt.start_time.astype("datetime64[ns]")
    out["usd"] = out["usd"] / 12.0
    return out


def _pairs(reporter: pd.Series, flow: pd.Series) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([reporter.to_numpy(dtype="int64"), flow.astype(str).to_numpy()])


def _flows(data: pd.DataFrame, study: Study, series: pd.DataFrame | None) -> _Flows:
    """The flows :func:`who_supplies` reads as one series frame, restricted to the study's codes (control goods
    kept, as :meth:`Study.select` does)."""
    flows = _all_flows(data, study, series)
    wanted = study.family_ids()
    if wanted is None:
        return flows
    f = flows.frame
    keep = f["family_id"].isin(wanted) | (f["kind"] == "control")
    return _Flows(f[keep.to_numpy()].reset_index(drop=True), flows.step, flows.annual_only)


def _all_flows(data: pd.DataFrame, study: Study, series: pd.DataFrame | None) -> _Flows:
    """Every flow :func:`who_supplies` reads: monthly for every reporter and flow with monthly records (from
    ``series`` when given), annual-only ones spread over their months."""
    keep = [*SERIES_COLUMNS[:-1]]
    if not _is_records(data):
        frame = data[_wanted(data["reporter_code"], data["partner_code"], data["flow_code"], study)][keep]
        step: SupplierFreq = "A" if len(frame) and (frame["date"].dt.month == 1).all() and study.freq == "A" else "M"
        return _Flows(without_attrs(frame.reset_index(drop=True)), step, ())
    wanted = _wanted(data["reporterCode"], data["partnerCode"], data["flowCode"], study).to_numpy()
    rows = np.flatnonzero(wanted)
    if not len(rows):
        return _Flows(pd.DataFrame(columns=keep), "M", ())
    pair = _pairs(data["reporterCode"].iloc[rows], data["flowCode"].iloc[rows])
    freq = data["freqCode"].iloc[rows].astype(str).to_numpy()
    monthly_pairs = pair[freq == "M"].unique()
    has_monthly = pair.isin(monthly_pairs)
    parts = []
    if has_monthly.any():
        if series is not None and study.freq == "M" and study.level == 6:  # the registry's families
            sel = series[_wanted(series["reporter_code"], series["partner_code"], series["flow_code"], study)]
            parts.append(sel[_pairs(sel["reporter_code"], sel["flow_code"]).isin(monthly_pairs)][keep])
        else:
            parts.append(build_series(data.iloc[rows[has_monthly & (freq == "M")]], freq="M")[keep])
    yearly = rows[~has_monthly & (freq == "A")]
    annual_only: tuple[int, ...] = ()
    if len(yearly):
        a = without_attrs(build_series(data.iloc[yearly], freq="A")[keep].reset_index(drop=True))
        annual_only = tuple(sorted(int(r) for r in a["reporter_code"].unique()))
        parts.append(_spread(a) if has_monthly.any() else a)
    frame = (pd.concat([without_attrs(p.reset_index(drop=True)) for p in parts], ignore_index=True) if parts
             else pd.DataFrame(columns=keep))
    return _Flows(frame, "M" if has_monthly.any() else "A", annual_only)


def has_supplier_data(data: pd.DataFrame, study: Study | None = None, **study_args: Unpack[StudyArgs]) -> bool:
    """True when ``data`` (records or series) hold exports to the focal partner reported by someone other than the
    study's reporter (and not an aggregate): what :func:`who_supplies` needs."""
    s = Study.resolve(study, **study_args)
    cols = ("reporterCode", "partnerCode", "flowCode") if _is_records(data) else (
        "reporter_code", "partner_code", "flow_code")
    if not set(cols) <= set(data.columns):
        return False
    r, p, f = (data[c] for c in cols)
    others = (f == "X") & (p == s.focal) & (r != s.reporter) & ~r.isin(supplier_sets().aggregates)
    return bool(others.any())


# ------------------------------------------------------------------ bootstrap


@dataclass(frozen=True)
class _Boot:
    point: np.ndarray  # (K,) means over the window
    draws: np.ndarray  # (K, B) bootstrap means


def _boot_means(x: np.ndarray, *, block: int, draws: int, rng: np.random.Generator) -> _Boot:
    """Means over the columns (periods) of ``x`` (K x n) and their circular block bootstrap draws.

    Blocks of ``block`` consecutive periods start anywhere in the window and
    wrap around its end (the circular form of the moving-block bootstrap:
    every period is equally likely to be drawn, so the draws centre on the
    mean); ``n // block`` full blocks and one shorter block make each draw
    ``n`` periods long. Block sums come from cumulative sums and the draws
    from one matrix product (how often each start was drawn), so thousands of
    rows cost little.
    """
    k, n = x.shape
    if n == 0:
        return _Boot(np.full(k, np.nan), np.full((k, draws), np.nan))
    size = min(block, n)
    full, rest = divmod(n, size)
    wrapped = np.concatenate([x, x[:, :size]], axis=1)
    csum = np.concatenate([np.zeros((k, 1)), np.cumsum(wrapped, axis=1)], axis=1)

    def sums(m: int) -> np.ndarray:  # (K, n): the sum of m periods from each start, wrapping
        return csum[:, m:m + n] - csum[:, :n]

    starts = rng.integers(0, n, size=(draws, full)) + np.arange(draws)[:, None] * n
    counts = np.bincount(starts.ravel(), minlength=draws * n).reshape(draws, n).astype(float)
    total = sums(size) @ counts.T
    if rest:
        last = np.zeros((draws, n))
        last[np.arange(draws), rng.integers(0, n, size=draws)] = 1.0
        total += sums(rest) @ last.T
    return _Boot(x.mean(axis=1), total / n)


def _interval(draws: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each row's draws (NaN draws ignored; an all-NaN row stays NaN, with a note)."""
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail], axis=-1)
    gaps = np.isnan(draws).any(axis=-1)
    if gaps.any():  # np.nanpercentile is slow: only for the rows that need it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: not estimated
            lo[gaps], hi[gaps] = np.nanpercentile(draws[gaps], [tail, 100 - tail], axis=-1)
    return lo, hi


def _var(draws: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanvar(draws, axis=-1)


def lag_one(x: np.ndarray) -> np.ndarray:
    """Lag-one autocorrelation of each row of ``x`` (K x n periods), clipped to [0, :data:`RHO_MAX`] (negative
    correlation only makes the bootstrap variance larger); 0 for a constant row or fewer than
    :data:`MIN_PERIODS` periods (three annual periods say nothing about correlation)."""
    x = np.atleast_2d(np.nan_to_num(np.asarray(x, dtype=float)))
    if x.shape[1] < MIN_PERIODS:
        return np.zeros(x.shape[0])
    d = x - x.mean(axis=1, keepdims=True)
    num, den = (d[:, :-1] * d[:, 1:]).sum(axis=1), (d * d).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(den > 0, num / den, 0.0)
    return np.clip(np.nan_to_num(r), 0.0, RHO_MAX)


def ratio_series(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """The periods' terms of a ratio of window means, linearized (``num - share * den``, rows): what
    :func:`lag_one` reads for a share."""
    mean_num, mean_den = num.mean(axis=-1, keepdims=True), den.mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(mean_den > 0, mean_num / mean_den, 0.0)
    return num - share * den


@lru_cache(maxsize=64)
def _bootstrap_form(n: int, block: int) -> np.ndarray:
    """The n x n matrix A with the circular block bootstrap variance of a window mean = x' A x (the draws of
    :func:`_boot_means`: ``n // block`` full blocks and one shorter one)."""
    size = min(block, n)
    full, rest = divmod(n, size)
    lag = np.subtract.outer(np.arange(n), np.arange(n)) % n

    def form(m: int) -> np.ndarray:  # variance over the n starts of the sum of m periods from each start
        both = np.maximum(m - lag, 0) + np.maximum(m - n + lag, 0)  # starts whose block holds both periods
        return both / n - (m / n) ** 2

    return (full * form(size) + (form(rest) if rest else 0.0)) / n**2


@lru_cache(maxsize=64)
def _ar1_table(n: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Over :data:`RHO_GRID`: the bootstrap variance's expected fraction of the variance of the window mean, and
    its Satterthwaite degrees of freedom, for AR(1) periods (exact: the bootstrap variance is a quadratic form)."""
    a = _bootstrap_form(n, block)
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    frac, df = np.ones(len(RHO_GRID)), np.ones(len(RHO_GRID))
    for i, rho in enumerate(RHO_GRID):
        cov = rho**lag
        a_cov = a @ cov
        mean, spread = np.trace(a_cov), np.trace(a_cov @ a_cov)
        frac[i] = mean / (cov.sum() / n**2)
        df[i] = mean**2 / spread if spread > 0 else 1.0
    return frac, df


def bootstrap_bias(n: int, block: int, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(expected fraction of the variance of a window mean that the circular block bootstrap recovers, its
    degrees of freedom) for a window of ``n`` periods, ``block``-period blocks and AR(1) periods with lag-one
    autocorrelation ``rho`` (per row): about 1 - block / n for uncorrelated months, less with correlation beyond
    a block."""
    frac, df = _ar1_table(n, min(block, n)) if n else (np.ones(len(RHO_GRID)), np.ones(len(RHO_GRID)))
    r = np.clip(np.asarray(rho, dtype=float), 0.0, RHO_MAX)
    return np.interp(r, RHO_GRID, frac), np.maximum(np.interp(r, RHO_GRID, df), 1.0)


def widened_interval(point: np.ndarray, draws: np.ndarray, confidence: float, *, parts: tuple[np.ndarray, ...],
                     months: tuple[int, ...], block: int, rho: tuple[np.ndarray, ...]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of ``draws`` around ``point``, corrected for the bias of the block bootstrap
    variance in short windows and widened for its sampling error.

    The bootstrap variance of a window mean is a quadratic form in the
    window's periods; for AR(1) periods with the lag-one autocorrelation
    ``rho`` of the statistic's series in each window (:func:`lag_one`), its
    expectation and (for Gaussian periods) Satterthwaite degrees of freedom
    are exact (:func:`bootstrap_bias`). Blocks of 9 in 36-40 months recover about 75%
    of the variance of uncorrelated months (the block means vary about the
    window mean, not the true one) and 55% at lag-one correlation 0.6 (less
    is carried beyond a block), so a plain percentile interval covers too
    rarely (``scripts/validate_suppliers.py``). Each window's bootstrap
    variance (of its ``parts``: the draws of the statistic's pre- and
    post-window parts, one for a statistic of one window) is divided by
    its expected fraction, each end's distance from the point is scaled by
    the square root of the corrected over the plain variance, and then by
    Student's t quantile over the normal one, with the windows' degrees of
    freedom (Welch-Satterthwaite for a comparison of two).
    """
    lo, hi = _interval(draws, confidence)
    v, vc, dfs = [], [], []
    for part, n, r in zip(parts, months, rho, strict=True):
        frac, df = bootstrap_bias(n, block, np.broadcast_to(r, np.shape(point)))
        vi = _var(part)
        v.append(vi)
        vc.append(np.where(frac > 0, vi / np.where(frac > 0, frac, 1.0), vi))
        dfs.append(df)
    plain, corrected = sum(v), sum(vc)
    den = sum(vi**2 / d for vi, d in zip(vc, dfs, strict=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(plain > 0, np.sqrt(corrected / plain), 1.0)
        df = np.where(den > 0, corrected**2 / den, sum(dfs))
    tail = 1 - (1 - confidence) / 2
    factor = scale * student_t.ppf(tail, np.maximum(df, 1.0)) / normal.ppf(tail)
    return point - (point - lo) * factor, point + (hi - point) * factor


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den > 0, out, np.nan)


# ------------------------------------------------------------------ result


@dataclass(frozen=True)
class SuppliersConfig:
    """How the supplier tables were computed (beyond the study)."""

    shares_by: SupplierFreq
    step: SupplierFreq
    block: int
    draws: int
    seed: int
    confidence: float
    coverage: float
    mirror_band: tuple[float, float]
    min_fall: float
    pre: str
    post: str
    sanctioning: tuple[int, ...]
    transit: tuple[int, ...]
    suppliers: tuple[int, ...]
    left_out: tuple[int, ...]
    annual_only: tuple[int, ...]


@dataclass(frozen=True, repr=False)
class SuppliersResult(_Result):
    """Who supplies the focal partner: ``shares`` (suppliers.csv), ``reporter_share``, ``substitution``
    (substitution.csv), ``routes`` (routes.csv), ``mirror`` (mirror.csv) and ``caveats``."""

    shares: pd.DataFrame
    reporter_share: pd.DataFrame
    substitution: pd.DataFrame
    routes: pd.DataFrame
    mirror: pd.DataFrame
    caveats: pd.DataFrame
    study: Study
    config: SuppliersConfig
    synthetic: bool
    title = "Who supplies the focal partner? Mirror data from every reporter"
    sort_note = "the reporter's share by group, before and after"

    def tables(self) -> dict[str, pd.DataFrame]:
        tables = (self.shares, self.reporter_share, self.substitution, self.routes, self.mirror, self.caveats)
        return dict(zip(SUPPLIER_FILES, tables, strict=True))

    def candidates(self) -> pd.DataFrame:
        """The candidate routes (a rise in both legs), largest outbound rise first."""
        r = self.routes[self.routes["candidate"].astype(bool)]
        order = (r["outbound_post"] - r["outbound_pre"]).sort_values(ascending=False, kind="mergesort").index
        return r.loc[order].reset_index(drop=True)

    def tidy(self) -> pd.DataFrame:
        """The reporter's shares and their change, the substitution terms and the route legs as one long table."""
        parts = []
        rs = self.reporter_share
        for term, est in (("share_pre", "share_pre"), ("share_post", "share_post"), ("share_change", "change")):
            lo, hi = (f"{est}_low", f"{est}_high")
            parts.append(pd.DataFrame({"table": "reporter_share", "partner_code": rs["supplier_code"],
                                       "family": rs["family"], "group": rs["group"], "period": pd.NA,
                                       "term": term, "estimate": rs[est], "low": rs[lo], "high": rs[hi],
                                       "p_value": np.nan, "q_value": np.nan, "note": rs["note"],
                                       "synthetic": rs["synthetic"]}))
        sub = self.substitution
        for term in (*_TERMS, *_FRACTIONS):
            parts.append(pd.DataFrame({"table": "substitution", "partner_code": pd.NA, "family": ALL_FAMILIES,
                                       "group": sub["group"], "period": pd.NA, "term": term,
                                       "estimate": sub[term], "low": sub[f"{term}_low"], "high": sub[f"{term}_high"],
                                       "p_value": np.nan, "q_value": np.nan, "note": sub["note"],
                                       "synthetic": sub["synthetic"]}))
        out = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
        return out[_ESTIMATE_COLUMNS]

    def _shown(self) -> pd.DataFrame:
        rs = self.reporter_share
        return rs[rs["level"] == "group"].drop(columns=["family", "level", "synthetic"])

    def _repr_html_(self) -> str:
        head = (f"<h4>{html.escape(self.title)}</h4><p>{html.escape(self.study.describe())}; "
                f"{html.escape(self.sort_note)}</p>")
        cav = "".join(f"<li><b>{html.escape(str(t))}</b>: {html.escape(str(x))}</li>"
                      for t, x in zip(self.caveats["topic"], self.caveats["text"], strict=True))
        return ((SYNTHETIC_HTML if self.synthetic else "") + head + html_table(self._shown())
                + "<h4>Substitution of the sanctioning suppliers, USD a month</h4>"
                + html_table(self.substitution.drop(columns=["synthetic"]))
                + "<h4>Candidate routes</h4>" + html_table(self.candidates().drop(columns=["synthetic"]))
                + f"<h4>Caveats</h4><ul>{cav}</ul>")


# ------------------------------------------------------------------ the analysis


def who_supplies(data: pd.DataFrame, study: Study | None = None, *, series: pd.DataFrame | None = None,
                 shares_by: SupplierFreq = "A", block: int = BLOCK, draws: int = DRAWS, seed: int = SEED,
                 confidence: float = CONFIDENCE, coverage: float = COVERAGE, **study_args: Unpack[StudyArgs]
                 ) -> SuppliersResult:
    """Who supplies the study's focal partner (see the module docstring), from records or a series frame.

    ``data``: a tidy record frame (the store's, or the demo panel) or a
    series frame; ``series``: the monthly series :func:`analysis.analyze`
    already built from the same records (saves building them again; used for
    six-digit studies: shares are always by registry family and group).
    ``shares_by``: periods of the shares table, years (``"A"``, default) or
    months. ``block``, ``draws``, ``seed``, ``confidence``: the bootstrap; ``coverage``:
    the share of pre-window imports whose suppliers must have published for a
    month to be in the post window. InputError when the data hold no other
    reporter's exports to the focal partner.
    """
    s = Study.resolve(study, **study_args)
    check_choice(shares_by, SupplierFreq, "shares_by")
    if block < 1 or draws < 99 or not 0 < confidence < 1 or not 0 < coverage <= 1:
        raise InputError("block must be at least 1, draws at least 99, confidence and coverage between 0 and 1")
    if not isinstance(data, pd.DataFrame):
        raise InputError("who_supplies needs a pandas DataFrame of records or series")
    if not has_supplier_data(data, s):
        raise InputError(f"no exports to {_name(s.focal)} ({s.focal}) reported by anyone but {_name(s.reporter)}: "
                         "fetch them with `tradeflows fetch --suppliers` (or import them)")
    synthetic = is_synthetic(data)
    flows = _flows(data, s, series)
    f = flows.frame
    sup = f[(f["flow_code"] == "X") & (f["partner_code"] == s.focal)].copy()
    sup["category"] = category_of(sup["reporter_code"], s)
    spans = sup.groupby("reporter_code")["date"].agg(["min", "max"])
    grid = pd.DatetimeIndex(sorted(f["date"].unique()))
    pre_end = s.pre.end if s.pre.end is not None else grid.max()
    in_pre = (sup["date"] >= s.pre.start) & (sup["date"] <= pre_end)
    pre_value = sup[in_pre].groupby("reporter_code")["usd"].sum()
    balanced = [int(r) for r in spans.index if r in pre_value.index and spans.loc[r, "max"] >= s.post.start]
    left_out = tuple(sorted(int(r) for r in spans.index if int(r) not in balanced))
    post_end = _post_end(spans.loc[balanced, "max"], pre_value.reindex(balanced).fillna(0.0), coverage,
                         s.post.end if s.post.end is not None else grid.max())
    rng = np.random.default_rng(seed)
    windows = _windows(grid, s, post_end, flows.step)
    block_n = block if flows.step == "M" else 1
    shares = _shares(sup, shares_by, synthetic)
    rep_share, substitution = _window_tables(sup[sup["reporter_code"].isin(balanced)], s, grid, windows,
                                             block=block_n, draws=draws, rng=rng, confidence=confidence,
                                             synthetic=synthetic)
    routes = _routes(f, s, grid, windows, block=block_n, draws=draws, rng=rng, confidence=confidence,
                     synthetic=synthetic)
    mirror, one_sided = _mirror(f, s, synthetic)
    config = SuppliersConfig(
        shares_by=shares_by, step=flows.step, block=block_n, draws=draws, seed=seed, confidence=confidence,
        coverage=coverage,
        mirror_band=MIRROR_BAND, min_fall=MIN_FALL, pre=f"{s.pre.start:%Y-%m}:{pre_end:%Y-%m}",
        post=f"{s.post.start:%Y-%m}:{post_end:%Y-%m}", sanctioning=supplier_sets().sanctioning, transit=s.transit,
        suppliers=tuple(sorted(int(r) for r in spans.index)), left_out=left_out, annual_only=flows.annual_only)
    caveats = _caveats(s, config, spans, pre_value, grid, mirror, one_sided, synthetic)
    return SuppliersResult(shares, rep_share, substitution, routes, mirror, caveats, s, config, synthetic)


def _post_end(last: pd.Series, pre_value: pd.Series, coverage: float, end: pd.Timestamp) -> pd.Timestamp:
    """The last month (not after ``end``) by which suppliers holding ``coverage`` of the pre-window value have
    published."""
    if last.empty or pre_value.sum() <= 0:
        return end
    order = last.sort_values(ascending=False)
    held = pre_value.reindex(order.index).cumsum() / pre_value.sum()
    reach = order[held.to_numpy() >= coverage - 1e-12]
    return min(end, pd.Timestamp(reach.iloc[0])) if len(reach) else end


def _windows(grid: pd.DatetimeIndex, s: Study, post_end: pd.Timestamp, step: SupplierFreq
             ) -> dict[str, np.ndarray]:
    """Boolean masks of the pre and post windows over ``grid`` (a year belongs to a window holding 6+ of its
    months)."""
    pre_end = s.pre.end if s.pre.end is not None else grid.max()
    if step == "M":
        return {"pre": np.asarray((grid >= s.pre.start) & (grid <= pre_end)),
                "post": np.asarray((grid >= s.post.start) & (grid <= post_end))}
    out = {}
    for w, (a, b) in {"pre": (s.pre.start, pre_end), "post": (s.post.start, post_end)}.items():
        months = [len(pd.date_range(max(a, y), min(b, y + pd.offsets.YearEnd(0)), freq="MS")) for y in grid]
        out[w] = np.array([m >= 6 for m in months], dtype=bool)
    return out


def _shares(sup: pd.DataFrame, by: SupplierFreq, synthetic: bool) -> pd.DataFrame:
    """suppliers.csv: each supplier's exports and share per period, group and family (and group)."""
    period = sup["date"].dt.strftime("%Y" if by == "A" else "%Y-%m")
    base = sup.assign(period=period)
    parts = []
    for lvl, fam in (("family", base["family_id"]), ("group", pd.Series(ALL_FAMILIES, index=base.index))):
        g = (base.assign(family=fam).groupby(["period", "group", "family", "reporter_code", "category"],
                                             sort=True, observed=True)
             .agg(usd=("usd", "sum"), months=("date", "nunique")).reset_index())
        g["level"] = lvl
        parts.append(g)
    out = pd.concat(parts, ignore_index=True)
    out = out[out["usd"] > 0]
    total = out.groupby(["period", "group", "family"])["usd"].transform("sum")
    out = out.assign(share=out["usd"] / total, supplier=out["reporter_code"].map(_name),
                     synthetic=synthetic).rename(columns={"reporter_code": "supplier_code"})
    out = out.sort_values(["period", "level", "group", "family", "usd"], ascending=[True, False, True, True, False])
    return out[SHARE_COLUMNS].reset_index(drop=True)


def _units(frame: pd.DataFrame, value_cols: list[str], grid: pd.DatetimeIndex) -> tuple[pd.DataFrame, np.ndarray]:
    """Family and group units (``group, family, level``) and their values: array (len(value_cols), units, grid)."""
    fams = frame[["group", "family_id"]].drop_duplicates().sort_values(["group", "family_id"])
    units = pd.concat([pd.DataFrame({"group": fams["group"], "family": fams["family_id"], "level": "family"}),
                       pd.DataFrame({"group": sorted(fams["group"].unique()), "family": ALL_FAMILIES,
                                     "level": "group"})], ignore_index=True)
    out = np.zeros((len(value_cols), len(units), len(grid)))
    fam_idx = {f: i for i, f in enumerate(units.loc[units["level"] == "family", "family"])}
    grp_idx = {g: i for i, g in units[units["level"] == "group"]["group"].items()}
    ti = grid.get_indexer(pd.DatetimeIndex(frame["date"]))
    fi = frame["family_id"].map(fam_idx).to_numpy()
    gi = frame["group"].map(grp_idx).to_numpy()
    for k, col in enumerate(value_cols):
        v = frame[col].to_numpy(dtype=float)
        np.add.at(out[k], (fi, ti), v)
        np.add.at(out[k], (gi, ti), v)
    return units, out


def _window_tables(sup: pd.DataFrame, s: Study, grid: pd.DatetimeIndex, windows: Mapping[str, np.ndarray], *,
                   block: int, draws: int, rng: np.random.Generator, confidence: float, synthetic: bool
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reporter's share before and after, and the substitution table, from one bootstrap of both windows."""
    cat = sup.assign(**{c: np.where(sup["category"] == c, sup["usd"], 0.0) for c in CATEGORIES})
    units, values = _units(cat, list(CATEGORIES), grid)  # (4, U, T)
    n_u = len(units)
    boot: dict[str, _Boot] = {}
    enough = {}
    months = tuple(int(mask.sum()) for mask in windows.values())
    monthly = {w: values[:, :, mask] for w, mask in windows.items()}  # (4, U, months) per window
    for w, mask in windows.items():
        x = monthly[w].reshape(len(CATEGORIES) * n_u, int(mask.sum()))
        boot[w] = _boot_means(x, block=block, draws=draws, rng=rng)
        enough[w] = int(mask.sum()) >= (MIN_PERIODS if block > 1 else 3)

    def get(w: str, c: Category) -> tuple[np.ndarray, np.ndarray]:
        i = CATEGORIES.index(c)
        b = boot[w]
        return b.point[i * n_u:(i + 1) * n_u], b.draws[i * n_u:(i + 1) * n_u]

    def series(w: str, c: str) -> np.ndarray:  # (U, months): a category's (or the total's) monthly values
        return monthly[w].sum(axis=0) if c == "total" else monthly[w][CATEGORIES.index(c)]

    share_rho = {w: lag_one(ratio_series(series(w, "reporter"), series(w, "total"))) for w in windows}
    point: dict[str, np.ndarray] = {}
    drawn: dict[str, np.ndarray] = {}
    for w in windows:
        for c in CATEGORIES:
            point[f"{c}_{w}"], drawn[f"{c}_{w}"] = get(w, c)
        point[f"total_{w}"] = np.sum([point[f"{c}_{w}"] for c in CATEGORIES], axis=0)
        drawn[f"total_{w}"] = np.sum([drawn[f"{c}_{w}"] for c in CATEGORIES], axis=0)
    rs = units.copy()
    rs["supplier_code"] = s.reporter
    notes = np.full(n_u, "", dtype=object)
    for w in windows:
        rs[f"usd_{w}"], rs[f"total_{w}"] = point[f"reporter_{w}"], point[f"total_{w}"]
        share = _ratio(point[f"reporter_{w}"], point[f"total_{w}"])
        share_draws = _ratio(drawn[f"reporter_{w}"], drawn[f"total_{w}"])
        lo, hi = widened_interval(share, share_draws, confidence, parts=(share_draws,),
                                  months=(int(windows[w].sum()),), block=block, rho=(share_rho[w],))
        ok = enough[w] & (point[f"total_{w}"] > 0)
        rs[f"share_{w}"] = np.where(ok, share, np.nan)
        rs[f"share_{w}_low"], rs[f"share_{w}_high"] = np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)
        notes = np.where(point[f"total_{w}"] > 0, notes, notes + f"no imports recorded in the {w} window; ")
        if not enough[w]:
            notes = notes + f"the {w} window is too short for an estimate; "
    pre_draws = _ratio(drawn["reporter_pre"], drawn["total_pre"])
    post_draws = _ratio(drawn["reporter_post"], drawn["total_post"])
    change = _ratio(point["reporter_post"], point["total_post"]) - _ratio(point["reporter_pre"], point["total_pre"])
    lo, hi = widened_interval(change, post_draws - pre_draws, confidence, parts=(pre_draws, post_draws),
                              months=months, block=block, rho=(share_rho["pre"], share_rho["post"]))
    both = rs["share_pre"].notna() & rs["share_post"].notna()
    rs["change"] = np.where(both, change, np.nan)
    rs["change_low"], rs["change_high"] = np.where(both, lo, np.nan), np.where(both, hi, np.nan)
    rs["note"] = [n.rstrip("; ") for n in notes]
    rs["synthetic"] = synthetic
    # substitution, per group
    g = (units["level"] == "group").to_numpy()
    sub = pd.DataFrame({"group": units.loc[g, "group"].to_numpy()})
    for c in CATEGORIES:
        for w in windows:
            sub[f"{c}_{w}"] = point[f"{c}_{w}"][g]
    parts_of = {"fall_sanctioning": "sanctioning", "rise_reporter": "reporter", "rise_transit": "transit",
                "rise_other": "other", "gap": "total"}  # each term is a change of one category (gap: of the total)
    term_draws = {t: (drawn[f"{c}_post"][g] - drawn[f"{c}_pre"][g]) * (-1 if t in ("fall_sanctioning", "gap")
                                                                        else 1) for t, c in parts_of.items()}
    term_point = {
        "fall_sanctioning": sub["sanctioning_pre"] - sub["sanctioning_post"],
        "rise_reporter": sub["reporter_post"] - sub["reporter_pre"],
        "rise_transit": sub["transit_post"] - sub["transit_pre"],
        "rise_other": sub["other_post"] - sub["other_pre"],
    }
    term_point["gap"] = (term_point["fall_sanctioning"] - term_point["rise_reporter"] - term_point["rise_transit"]
                         - term_point["rise_other"])
    both_ok = enough["pre"] and enough["post"]
    for t in _TERMS:
        part = parts_of[t]
        lo, hi = widened_interval(term_point[t].to_numpy(dtype=float), term_draws[t], confidence,
                                  parts=(drawn[f"{part}_pre"][g], drawn[f"{part}_post"][g]), months=months,
                                  block=block, rho=(lag_one(series("pre", part)[g]), lag_one(series("post", part)[g])))
        sub[t] = term_point[t] if both_ok else np.nan
        sub[f"{t}_low"], sub[f"{t}_high"] = (lo, hi) if both_ok else (np.nan, np.nan)
    fell = ((sub["fall_sanctioning_low"] > 0) & (sub["fall_sanctioning"] >= MIN_FALL * sub["sanctioning_pre"])
            ).to_numpy() & both_ok
    fall_draws = term_draws["fall_sanctioning"]
    for frac, t in zip(_FRACTIONS, ("rise_reporter", "rise_transit", "rise_other", "gap"), strict=True):
        est = _ratio(sub[t].to_numpy(dtype=float), sub["fall_sanctioning"].to_numpy(dtype=float))
        # each window's part of the fraction, linearized: (sign * term's category + fraction * sanctioning)
        part, sign, r = parts_of[t], (-1.0 if t == "gap" else 1.0), np.nan_to_num(est)[:, None]
        lin = {w: sign * drawn[f"{part}_{w}"][g] + r * drawn[f"sanctioning_{w}"][g] for w in windows}
        rho = tuple(lag_one(sign * series(w, part)[g] + r * series(w, "sanctioning")[g]) for w in windows)
        lo, hi = widened_interval(est, _ratio(term_draws[t], np.where(fall_draws > 0, fall_draws, np.nan)),
                                  confidence, parts=(lin["pre"], lin["post"]), months=months, block=block, rho=rho)
        sub[frac] = np.where(fell, est, np.nan)
        sub[f"{frac}_low"], sub[f"{frac}_high"] = np.where(fell, lo, np.nan), np.where(fell, hi, np.nan)
    sub["note"] = np.where(
        fell, np.where(sub["gap"] < 0, "the rises exceed the fall: the focal partner's mirrored imports of these "
                       "goods grew", ""), np.where(sub["sanctioning_pre"] > 0,
                           f"the sanctioning suppliers' exports did not fall materially (less than {MIN_FALL:.0%} "
                           "of their pre-window value, or an interval reaching no fall): nothing to apportion",
                           "no sanctioning supplier exported these goods in the pre window"))
    if not both_ok:
        sub["note"] = "a window is too short for an estimate"
    sub["synthetic"] = synthetic
    return rs[REPORTER_SHARE_COLUMNS], sub[SUBSTITUTION_COLUMNS]


def _leg_matrix(frame: pd.DataFrame, keys: pd.DataFrame, grid: pd.DatetimeIndex) -> np.ndarray:
    """Monthly USD of each key row (``reporter_code, partner_code, family_id``) over ``grid``; NaN where the
    reporter published nothing (outside its series)."""
    cols = ["reporter_code", "partner_code", "family_id"]
    wanted = pd.MultiIndex.from_frame(keys[cols])
    unique = wanted.unique()
    out = np.full((len(unique), len(grid)), np.nan)
    row = unique.get_indexer(pd.MultiIndex.from_frame(frame[cols]))
    col = grid.get_indexer(pd.DatetimeIndex(frame["date"]))
    ok = (row >= 0) & (col >= 0)
    out[row[ok], col[ok]] = 0.0
    np.add.at(out, (row[ok], col[ok]), frame["usd"].to_numpy(dtype=float)[ok])
    return out[unique.get_indexer(wanted)]


def _routes(f: pd.DataFrame, s: Study, grid: pd.DatetimeIndex, windows: Mapping[str, np.ndarray], *, block: int,
            draws: int, rng: np.random.Generator, confidence: float, synthetic: bool) -> pd.DataFrame:
    """routes.csv: each transit partner's inbound leg from the reporter and outbound legs to the focal partner and
    Russia, per family, with the rise of each leg between the windows."""
    x = f[f["flow_code"] == "X"]
    inbound = x[(x["reporter_code"] == s.reporter) & x["partner_code"].isin(s.transit)]
    destinations = [d for d in dict.fromkeys((s.focal, RUSSIA)) if d != s.reporter]
    outbound = x[x["reporter_code"].isin(s.transit) & x["partner_code"].isin(destinations)]
    if inbound.empty or outbound.empty:
        return pd.DataFrame(columns=ROUTE_COLUMNS)
    pairs = outbound[["reporter_code", "partner_code", "family_id"]].drop_duplicates()
    pairs = pairs.merge(inbound[["partner_code", "family_id"]].drop_duplicates().rename(
        columns={"partner_code": "reporter_code"}), on=["reporter_code", "family_id"])
    if pairs.empty:
        return pd.DataFrame(columns=ROUTE_COLUMNS)
    pairs = pairs.sort_values(["reporter_code", "partner_code", "family_id"], ignore_index=True)
    in_keys = pd.DataFrame({"reporter_code": s.reporter, "partner_code": pairs["reporter_code"],
                            "family_id": pairs["family_id"]})
    legs = {"inbound": _leg_matrix(inbound, in_keys, grid), "outbound": _leg_matrix(outbound, pairs, grid)}
    out = pd.DataFrame({"transit_code": pairs["reporter_code"], "transit": pairs["reporter_code"].map(_name),
                        "family": pairs["family_id"], "destination_code": pairs["partner_code"],
                        "destination": pairs["partner_code"].map(_name)})
    groups = registry.family_table(list(pairs["family_id"].unique())).set_index("family_id")["group"]
    out["group"] = out["family"].map(groups)
    notes = np.full(len(out), "", dtype=object)
    rises = {}
    for leg, m in legs.items():
        b = {w: _boot_means(np.nan_to_num(m[:, mask]), block=block, draws=draws, rng=rng)
             for w, mask in windows.items()}
        covered = np.all(~np.isnan(m[:, windows["pre"] | windows["post"]]), axis=1)
        out[f"{leg}_pre"] = np.where(covered, b["pre"].point, np.nan)
        out[f"{leg}_post"] = np.where(covered, b["post"].point, np.nan)
        out[f"{leg}_ratio"] = _ratio(out[f"{leg}_post"].to_numpy(), out[f"{leg}_pre"].to_numpy())
        lo, hi = widened_interval(b["post"].point - b["pre"].point, b["post"].draws - b["pre"].draws, confidence,
                                  parts=(b["pre"].draws, b["post"].draws),
                                  months=tuple(int(mask.sum()) for mask in windows.values()), block=block,
                                  rho=tuple(lag_one(np.nan_to_num(m[:, mask])) for mask in windows.values()))
        out[f"{leg}_rise_low"], out[f"{leg}_rise_high"] = np.where(covered, lo, np.nan), np.where(covered, hi, np.nan)
        pre_v, post_v = out[f"{leg}_pre"].to_numpy(), out[f"{leg}_post"].to_numpy()
        rises[leg] = covered & (lo > 0) & (post_v >= (1 + MIN_RISE) * pre_v)
        notes = np.where(covered, notes, notes + f"{leg} leg not published over both windows; ")
        new = covered & (out[f"{leg}_pre"].to_numpy() == 0) & (out[f"{leg}_post"].to_numpy() > 0)
        notes = np.where(new, notes + f"{leg} leg from zero (no ratio); ", notes)
    out["candidate"] = rises["inbound"] & rises["outbound"]
    out["note"] = np.where(out["candidate"], "both legs rose: a candidate route (consistent with re-routing; not "
                           "evidence of evasion by itself); " + notes, notes)
    out["note"] = out["note"].str.rstrip("; ")
    out["synthetic"] = synthetic
    return out[ROUTE_COLUMNS]


def _mirror(f: pd.DataFrame, s: Study, synthetic: bool) -> tuple[pd.DataFrame, int]:
    """mirror.csv: the focal partner's reported imports from each supplier against the supplier's reported
    exports, per group and year (and all groups, ``"*"``), in the complete years both sides cover; and how many
    supplier-years were left out because one side records nothing at all from (or to) the other."""
    x = f[(f["flow_code"] == "X") & (f["partner_code"] == s.focal)]
    m = f[(f["flow_code"] == "M") & (f["reporter_code"] == s.focal)]
    if x.empty or m.empty:
        return pd.DataFrame(columns=MIRROR_COLUMNS), 0

    def yearly(frame: pd.DataFrame, who: str) -> tuple[pd.Series, pd.Index]:
        y = frame.assign(year=frame["date"].dt.year, supplier_code=frame[who])
        by = y.groupby(["supplier_code", "year"])
        full = by["date"].nunique()
        listed = by["n_records"].sum()
        complete = full[full == 12].index
        parts = [y.groupby(["supplier_code", "group", "year"])["usd"].sum(),
                 y.assign(group=ALL_FAMILIES).groupby(["supplier_code", "group", "year"])["usd"].sum()]
        out = pd.concat(parts)
        keep = pd.MultiIndex.from_arrays([out.index.get_level_values(0), out.index.get_level_values(2)]).isin(
            complete)
        return out[keep], listed[listed > 0].index

    (ex, ex_listed), (im, im_listed) = yearly(x, "reporter_code"), yearly(m, "partner_code")
    both = pd.concat([ex.rename("exports_usd"), im.rename("imports_usd")], axis=1, join="inner").reset_index()
    pair = pd.MultiIndex.from_frame(both[["supplier_code", "year"]])
    two_sided = pair.isin(ex_listed) & pair.isin(im_listed)
    one_sided = int(both.loc[~two_sided, ["supplier_code", "year"]].drop_duplicates().shape[0])
    both = both[two_sided]
    both = both[(both["exports_usd"] > 0) | (both["imports_usd"] > 0)]
    both["ratio"] = _ratio(both["imports_usd"].to_numpy(), both["exports_usd"].to_numpy())
    both["band_low"], both["band_high"] = MIRROR_BAND
    both["outside_band"] = ~both["ratio"].between(*MIRROR_BAND)
    both["supplier"] = both["supplier_code"].map(_name)
    both["synthetic"] = synthetic
    return both.sort_values(["supplier_code", "group", "year"])[MIRROR_COLUMNS].reset_index(drop=True), one_sided


def _caveats(s: Study, config: SuppliersConfig, spans: pd.DataFrame, pre_value: pd.Series,
             grid: pd.DatetimeIndex, mirror: pd.DataFrame, one_sided: int, synthetic: bool) -> pd.DataFrame:
    """The limits of these numbers, as sentences (``topic, text``), with the data's own facts."""
    focal = _name(s.focal)
    total_pre = float(pre_value.sum())
    rows = [("mirror data", f"{focal}'s imports are rebuilt from what {len(config.suppliers)} reporters say they "
             f"exported to it (mirror data), not from {focal}'s own records; a country that does not report, or "
             "reports late, is missing from them, and exports recorded by country of final destination may go "
             "through third countries first.")]
    rows.append(("valuation", f"Exporters value their goods FOB, at their own border; {focal}'s own import figures "
                 f"(where it published them) are CIF, including freight and insurance, so they normally run "
                 f"2-10% higher; the mirror check flags group-years whose ratio lies outside "
                 f"{MIRROR_BAND[0]:g}-{MIRROR_BAND[1]:g}. Timing differs too: goods shipped in December arrive in "
                 "January."))
    if config.left_out:
        named = [f"{_name(r)} ({r}; {pre_value.get(r, 0.0) / total_pre:.0%} of the pre-window imports, records to "
                 f"{spans.loc[r, 'max']:%Y-%m})" if total_pre > 0 else f"{_name(r)} ({r})" for r in config.left_out]
        russia = " (Russia has published no detailed trade since 2022)" if RUSSIA in config.left_out else ""
        rows.append(("non-reporting suppliers", f"Left out of the before/after comparison because they publish no "
                     f"records after the post window starts: {'; '.join(named)}. Their trade may continue unseen"
                     f"{russia}."))
    late = [int(r) for r in spans.index if int(r) not in config.left_out and spans.loc[r, "max"] < grid.max()]
    if late:
        rows.append(("late reporters", f"The post window ends {config.post.split(':')[1]}: the last month by which "
                     f"suppliers holding {config.coverage:.0%} of the pre-window imports had published. Reporters "
                     f"whose records end earlier count as zero after their last record: "
                     + "; ".join(f"{_name(r)} ({spans.loc[r, 'max']:%Y-%m})" for r in late) + "."))
    if config.annual_only:
        rows.append(("annual reporters", "Reporters that publish only annual figures are spread evenly over the "
                     "months of their year: " + ", ".join(f"{_name(r)} ({r})" for r in config.annual_only) + "."))
    rows.append(("confidential trade", "Reporters leave confidential trade out of the partner and product detail "
                 "(or put it under other codes), and small shipments may be missing; a supplier's fall in a code "
                 "can be a reclassification or confidentiality, not less trade."))
    rows.append(("editions", "Each reporter's records are used in the HS edition it reports; codes that split or "
                 "merged between HS 2017 and HS 2022 are read through the registry's families, and a reporter "
                 "still on an older edition is seen only in codes the editions share."))
    if one_sided:
        rows.append(("one-sided years", f"{one_sided} supplier-year(s) in which only one side records any trade "
                     f"between {focal} and the supplier are left out of the mirror check (a partner the importer "
                     "does not list, or trade kept confidential on one side)."))
    if mirror.empty:
        rows.append(("no mirror check", f"{focal} publishes no imports in the data, so the two sides cannot be "
                     "compared."))
    if synthetic:
        rows.insert(0, ("synthetic", "These numbers come from the SYNTHETIC demo panel (planted effects), not "
                        "from real trade."))
    return pd.DataFrame(rows, columns=CAVEAT_COLUMNS)


__all__ = ["SUPPLIER_FILES", "SupplierSets", "SuppliersConfig", "SuppliersResult", "category_of", "has_supplier_data",
           "supplier_sets", "who_supplies"]
