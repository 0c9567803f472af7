"""Shared pieces of the anomaly detectors: the findings table, the series matrix, windows, FDR, tails.

Every detector works on a :class:`Panel`: the series of one reporter and flow
as NumPy matrices, months by series (from :func:`analysis.series.wide`), with
one key row per series. Detectors return rows of the one findings table
(:data:`FINDING_COLUMNS`) carrying a raw ``p_value``; :func:`finalize` turns
them into q-values (Benjamini-Hochberg within each kind, over every series the
detector tested), keeps those below ``alpha`` and ranks them.

q-values come from :func:`analysis.stats.bh_qvalues` (Benjamini-Hochberg).

Two conventions hold for all detectors:

- *Effective months.* China publishes January and February together and the
  series frame gives each half of the total by default. A February equal to
  its January carries no information of its own, so the time-series models
  drop it (one "Jan-Feb" observation per year) rather than count the same
  number twice; :func:`effective_rows` finds these rows.
- *Score.* ``score`` is the z-equivalent of the p-value: the standard normal
  deviate with the same one-sided tail probability (``score = -Phi^-1(p)``,
  computed from log p so that it never saturates; p = 1 scores about -6,
  not -inf). Calibrated p-values make scores comparable within a kind;
  higher is stronger evidence.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage, special, stats

from .. import registry
from ..errors import InputError
from ..schema import is_synthetic
from ..series import SERIES_KEY, wide
from ..stats import bh_qvalues
from ..study import Study

KINDS = ("level_shift", "spike", "counterfactual_excess", "new_flow", "unit_value", "mirror_gap", "common_shift",
         "common_spike")
"""The detector kinds, in the order find_anomalies runs and reports them (the reporter-wide events of
:mod:`~analysis.anomalies.common_event` last: they fold the per-partner rows they explain)."""

FINDING_COLUMNS = [
    "kind", "reporter_code", "partner_code", "family", "family_name", "group", "period", "score",
    "observed_usd", "expected_usd", "expected_low", "expected_high", "size", "size_low", "size_high",
    "p_value", "q_value", "rank", "detail", "synthetic", "n_partners",
]
"""Columns of the findings table (see analysis_contract: plus ``size_low``/``size_high``, the size's 95% interval,
and ``n_partners``, how many partners a reporter-wide event (partner_code 0) covers; NaN on other rows)."""

RHO_GRID = np.round(np.arange(0.0, 0.91, 0.05), 2)
"""AR(1) coefficients the GLS fits use: each series' estimate is rounded to this grid so one design serves
many series."""


class AnomalyError(InputError):
    """The series frame or a parameter given to the anomaly detectors is unusable."""


# ------------------------------------------------------------------ panel --

@dataclass
class Panel:
    """Series of one reporter and flow as matrices (months x series).

    ``keys`` has one row per column: SERIES_KEY plus ``group, kind,
    family_name``; ``usd``/``kg`` are float matrices (kg NaN where no weight);
    ``dates`` the months; ``synthetic`` whether the data are synthetic.

    ``scale`` (months x series, None: all 1) and ``basis`` (one note per
    series, None: all "") describe a panel whose ``usd`` is not the recorded
    value but the value relative to a comparison group
    (:mod:`~analysis.anomalies.relative`): recorded USD = ``usd * scale``, and
    ``basis`` says what the series is relative to ("" for a series analysed
    as recorded). ``drift`` (one per series, None: all 0) is how far, in log
    units a year, a series' own trend can stray from its comparison group's
    (measured on the group: :func:`~analysis.anomalies.relative.relative_panel`).
    """

    dates: pd.DatetimeIndex
    keys: pd.DataFrame
    usd: np.ndarray
    kg: np.ndarray
    synthetic: bool
    scale: np.ndarray | None = None
    basis: np.ndarray | None = None
    drift: np.ndarray | None = None

    @property
    def n_series(self) -> int:
        return self.usd.shape[1]

    def raw_usd(self) -> np.ndarray:
        """Recorded USD (months x series): ``usd`` times ``scale``."""
        return self.usd if self.scale is None else self.usd * self.scale

    def scale_or_one(self) -> np.ndarray:
        """``scale`` as a matrix (ones when None)."""
        return np.ones_like(self.usd) if self.scale is None else self.scale

    def basis_notes(self) -> np.ndarray:
        """One note per series on what it is relative to ("" when analysed as recorded)."""
        return np.full(self.n_series, "", dtype=object) if self.basis is None else self.basis

    @property
    def per_year(self) -> int:
        """Periods a year: 1 for annual series (dated January 1, one a year), else 12."""
        d = self.dates
        annual = len(d) > 1 and bool((d.month == 1).all()) and d.year.nunique() == len(d)
        return 1 if annual else 12

    def drift_or_zero(self) -> np.ndarray:
        """``drift`` as an array (zeros when None)."""
        return np.zeros(self.n_series) if self.drift is None else self.drift

    def relative_mask(self) -> np.ndarray:
        """True for series analysed relative to a comparison group (their ``basis`` starts with "relative")."""
        return np.array([str(b).startswith("relative") for b in self.basis_notes()], dtype=bool)

    def recorded(self) -> Panel:
        """The same panel with recorded USD (no comparison basis)."""
        if self.scale is None and self.basis is None:
            return self
        return Panel(self.dates, self.keys, self.raw_usd(), self.kg, self.synthetic)

    def subset(self, cols: np.ndarray) -> Panel:
        """The panel restricted to the columns ``cols`` (boolean mask or indices)."""
        idx = np.flatnonzero(cols) if np.asarray(cols).dtype == bool else np.asarray(cols)
        return Panel(self.dates, self.keys.iloc[idx].reset_index(drop=True), self.usd[:, idx], self.kg[:, idx],
                     self.synthetic, None if self.scale is None else self.scale[:, idx],
                     None if self.basis is None else self.basis[idx], None if self.drift is None else self.drift[idx])


def check_series(series: pd.DataFrame) -> None:
    """Raise AnomalyError unless ``series`` looks like a series frame of analysis.series."""
    if not isinstance(series, pd.DataFrame):
        raise AnomalyError(f"expected a series frame (DataFrame), got {type(series).__name__}")
    missing = [c for c in (*SERIES_KEY, "date", "usd", "kg") if c not in series.columns]
    if missing:
        raise AnomalyError(f"series frame lacks columns {missing}: build it with analysis.series.build_series")


def panel(series: pd.DataFrame, study: Study, *, partners: Iterable[int] | None = None) -> Panel:
    """The :class:`Panel` of the study's series (reporter, flow, codes), to ``partners`` when given."""
    check_series(series)
    if series.empty:
        sel = series
    else:
        sel = series[(series["reporter_code"] == study.reporter) & (series["flow_code"] == study.flow)]
        sel = study.select(series) if len(sel) else sel
    if partners is not None:
        sel = sel[sel["partner_code"].isin(list(partners))]
    synthetic = is_synthetic(series)
    if sel.empty:
        return Panel(pd.DatetimeIndex([]), _empty_keys(), np.zeros((0, 0)), np.zeros((0, 0)), synthetic)
    usd = wide(sel, "usd")
    kg = wide(sel.assign(kg=sel["kg"].where(sel["kg"] > 0)), "kg").reindex(index=usd.index, columns=usd.columns)
    keys = usd.columns.to_frame(index=False)
    meta = sel.drop_duplicates(SERIES_KEY).set_index(SERIES_KEY)
    idx = pd.MultiIndex.from_frame(keys)
    keys["group"] = meta["group"].reindex(idx).to_numpy() if "group" in meta else registry.UNGROUPED
    keys["kind"] = meta["kind"].reindex(idx).to_numpy() if "kind" in meta else registry.UNGROUPED
    keys["family_name"] = family_names(keys["family_id"])
    dates = pd.DatetimeIndex(usd.index)
    full = pd.date_range(dates.min(), dates.max(), freq="YS" if study.freq == "A" else "MS")
    if len(full) != len(dates) or (full != dates).any():
        if study.freq == "A":
            raise AnomalyError("the study is annual (freq='A'): the anomaly detectors need annual series, one value "
                               "a year (analysis.series.build_series(freq='A'))")
        raise AnomalyError("the anomaly detectors need monthly series without gaps (analysis.series.build_series); "
                           "annual series need an annual study (freq='A')")
    return Panel(dates, keys, usd.to_numpy(dtype=float), kg.to_numpy(dtype=float), synthetic)


def _empty_keys() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (*SERIES_KEY, "group", "kind", "family_name")})


def family_names(family_ids: pd.Series) -> np.ndarray:
    """Registry names of family ids (codes outside the registry get their HS description)."""
    table = registry.family_table(pd.unique(family_ids)).set_index("family_id")["name"]
    return pd.Series(family_ids).map(table).to_numpy()


# ------------------------------------------------------- effective months --

def effective_rows(dates: pd.DatetimeIndex, usd: np.ndarray) -> np.ndarray:
    """Boolean mask of the months the time-series models use.

    A February is dropped when it equals its January in (nearly) every series,
    i.e. when the frame holds China's merged Jan-Feb figure twice
    (analysis.series.merge_jan_feb); then the January row stands for both.
    """
    keep = np.ones(len(dates), dtype=bool)
    if usd.size == 0:
        return keep
    pos = {d: i for i, d in enumerate(dates)}
    for i, d in enumerate(dates):
        if d.month != 2:
            continue
        j = pos.get(d - pd.DateOffset(months=1))
        if j is None:
            continue
        a, b = usd[j], usd[i]
        same = np.isclose(a, b, rtol=1e-9, atol=1e-6) | (np.isnan(a) & np.isnan(b))
        if same.mean() >= 0.99:
            keep[i] = False
    return keep


def season_codes(dates: pd.DatetimeIndex, keep: np.ndarray) -> np.ndarray:
    """Month-of-year code (0-11) of each effective row; a merged Jan-Feb row is code 0."""
    return (dates.month.to_numpy() - 1)[keep]


def month_weights(dates: pd.DatetimeIndex, keep: np.ndarray) -> np.ndarray:
    """How many calendar months each effective row stands for (2 for a merged Jan-Feb row, else 1)."""
    idx = np.flatnonzero(keep)
    nxt = np.append(idx[1:], len(dates))
    return (nxt - idx).astype(float)


def design(codes: np.ndarray, years: np.ndarray, *, seasonal: bool = True) -> np.ndarray:
    """Regression design: intercept, linear trend (years), month-of-year dummies (first code dropped)."""
    cols = [np.ones(len(codes)), years - years.mean() if len(years) else years]
    if seasonal:
        levels = np.unique(codes)
        cols += [(codes == c).astype(float) for c in levels[1:]]
    return np.column_stack(cols)


def log_level(usd: np.ndarray, rows: np.ndarray | None = None, frac: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """``log(usd + c)`` with ``c`` per series = ``frac`` x its median positive value (at least 1 USD).

    A small offset keeps shift sizes multiplicative on USD while a zero month
    stays finite (the detectors clip such outliers robustly).
    """
    ref = usd if rows is None else usd[rows]
    pos = np.where(ref > 0, ref, np.nan)
    with np.errstate(all="ignore"):
        med = np.nanmedian(pos, axis=0) if pos.size else np.zeros(usd.shape[1])
    c = np.maximum(np.nan_to_num(med * frac, nan=1.0), 1.0)
    return np.log(np.maximum(usd, 0.0) + c), c


# --------------------------------------------------------------- p-values --

P_MAX = 1.0 - 1e-9
"""p-values are read as at most this for the score, so p = 1 (a rule failed) scores about -6, not -inf."""


def z_score(log_p: np.ndarray) -> np.ndarray:
    """z-equivalent of p given as log p: ``-Phi^-1(p)``, finite for p far below 1e-300 and for p = 1."""
    log_p = np.minimum(np.asarray(log_p, dtype=float), np.log(P_MAX))
    return -special.ndtri_exp(log_p)


@dataclass(frozen=True)
class NullTail:
    """Simulated null distribution of a statistic with a generalized Pareto upper tail.

    Below the ``u`` quantile p-values are empirical ((count >= x) + 1)/(n + 1);
    above it they follow a generalized Pareto distribution fitted to the
    exceedances (peaks over threshold), so a statistic far beyond every
    simulation still gets a finite, smoothly decreasing p-value. A fitted
    shape below 0 (a bounded tail) is replaced by the exponential tail
    (shape 0, scale the mean exceedance): a bounded tail would give p = 0,
    an infinite score, to every statistic beyond its end point, which only
    says that the simulations did not reach that far.
    """

    sims: np.ndarray
    u: float
    frac: float
    shape: float
    scale: float

    @classmethod
    def fit(cls, sims: np.ndarray, q: float = 0.95) -> NullTail:
        sims = np.sort(np.asarray(sims, dtype=float)[np.isfinite(sims)])
        u = float(np.quantile(sims, q))
        exc = sims[sims > u] - u
        shape, _, scale = stats.genpareto.fit(exc, floc=0.0)
        if shape < 0:
            shape, scale = 0.0, float(exc.mean())
        return cls(sims, u, float((sims > u).mean()), float(shape), float(scale))

    def log_sf(self, x: np.ndarray) -> np.ndarray:
        """log P(null statistic >= x)."""
        x = np.asarray(x, dtype=float)
        n = len(self.sims)
        count = n - np.searchsorted(self.sims, x, side="left")
        emp = np.log((count + 1.0) / (n + 1.0))
        tail = np.log(self.frac) + stats.genpareto.logsf(x - self.u, self.shape, loc=0.0, scale=self.scale)
        out = np.where(x > self.u, tail, emp)
        return np.where(np.isnan(x), np.nan, out)


def rng_for(*key) -> np.random.Generator:
    """A fresh generator seeded from ``key`` (so simulated nulls are reproducible across runs)."""
    return np.random.default_rng(zlib.crc32(repr(("tradeflows-anomalies", *key)).encode()))


def ar1_noise(rng: np.random.Generator, n_rows: int, n_cols: int, rho: np.ndarray | float) -> np.ndarray:
    """Stationary Gaussian AR(1) noise with unit innovation variance, rows = time."""
    rho = np.broadcast_to(np.asarray(rho, dtype=float), (n_cols,))
    e = rng.standard_normal((n_rows, n_cols))
    out = np.empty_like(e)
    out[0] = e[0] / np.sqrt(1 - rho**2)
    for t in range(1, n_rows):
        out[t] = rho * out[t - 1] + e[t]
    return out


# ---------------------------------------------------------------- output --

def rows_frame(p: Panel, cols: np.ndarray, kind: str, **values) -> pd.DataFrame:
    """Findings rows for the panel columns ``cols`` with the given per-row values (q, rank filled later)."""
    cols = np.asarray(cols, dtype=int)
    k = p.keys.iloc[cols]
    out = pd.DataFrame({
        "kind": kind,
        "reporter_code": k["reporter_code"].astype("int64").to_numpy(),
        "partner_code": k["partner_code"].astype("int64").to_numpy(),
        "family": k["family_id"].astype(str).to_numpy(),
        "family_name": k["family_name"].to_numpy(),
        "group": k["group"].to_numpy(),
    })
    for name, v in values.items():
        out[name] = v
    return conform(out, p.synthetic)


def conform(frame: pd.DataFrame, synthetic: bool) -> pd.DataFrame:
    """The frame with exactly FINDING_COLUMNS (missing ones NaN/empty), ``synthetic`` set."""
    out = frame.copy()
    for c in FINDING_COLUMNS:
        if c not in out.columns:
            out[c] = "" if c in ("detail", "period", "family_name", "group") else np.nan
    out["synthetic"] = bool(synthetic)
    return out[FINDING_COLUMNS]


def empty_findings(synthetic: bool = False) -> pd.DataFrame:
    """A findings table with no rows (right columns and dtypes)."""
    return conform(pd.DataFrame({c: pd.Series(dtype=float) for c in FINDING_COLUMNS if c != "synthetic"}), synthetic)


def test_families(tested: pd.DataFrame) -> pd.Series:
    """The Benjamini-Hochberg family of every tested row: ``kind`` x ``partner_code``.

    Each partner is its own question (as compare's default ``q_scope``): the
    focal partner's q-values do not depend on how many other partners the
    data hold (a study of Belarus gets the same answer whether the store has
    12 partners or 200), and a group of partners with hundreds of true
    findings (transit routes whose imports rose everywhere) does not loosen
    the threshold for the partners that had none. Reporter-wide events
    (partner_code 0) form their own family per kind.
    """
    who = tested["partner_code"].astype("int64").astype(str)
    return tested["kind"].astype(str) + ":" + who


def add_qvalues(tested: pd.DataFrame) -> pd.DataFrame:
    """``tested`` with BH q-values computed within each family of :func:`test_families`."""
    out = tested.copy()
    if out.empty:
        return out
    fam = test_families(out)
    q = np.full(len(out), np.nan)
    for _, at in out.groupby(fam, sort=False).indices.items():
        q[at] = bh_qvalues(out["p_value"].to_numpy(dtype=float)[at])
    out["q_value"] = q
    return out


def finalize(tested: pd.DataFrame, alpha: float, synthetic: bool) -> pd.DataFrame:
    """Rows with ``q < alpha`` (q-values already set by :func:`add_qvalues`), ranked by score within kind."""
    if tested.empty:
        return empty_findings(synthetic)
    parts = []
    for kind in KINDS:
        block = tested[tested["kind"] == kind]
        keep = block[block["q_value"] < alpha].copy()
        if keep.empty:
            continue
        keep = keep.sort_values(["score", "size"], ascending=[False, False], kind="mergesort")
        keep["rank"] = np.arange(1, len(keep) + 1)
        parts.append(keep)
    out = pd.concat(parts, ignore_index=True) if parts else empty_findings(synthetic)
    out["rank"] = out["rank"].astype("int64")
    return conform(out, synthetic)


def months_apart(a: str, b: str) -> int:
    """Absolute number of months between two ``YYYY-MM`` periods."""
    return abs((pd.Period(a, "M") - pd.Period(b, "M")).n)


def fmt_month(d: pd.Timestamp | np.datetime64) -> str:
    return pd.Timestamp(d).strftime("%Y-%m")


def fmt_usd(x: float) -> str:
    """USD in words-friendly units: 1.2m, 350k."""
    if not np.isfinite(x):
        return "n/a"
    a = abs(x)
    if a >= 1e9:
        return f"{x / 1e9:.2f}bn"
    if a >= 1e6:
        return f"{x / 1e6:.2f}m"
    if a >= 1e3:
        return f"{x / 1e3:.0f}k"
    return f"{x:.0f}"


# ------------------------------------------------- robust decomposition --

def rolling_median(x: np.ndarray, window: int) -> np.ndarray:
    """Centred running median (odd window, ends reflected) down the rows, for every column at once."""
    h = window // 2
    n = x.shape[0]
    if n <= h or h == 0:
        return np.repeat(np.median(x, axis=0, keepdims=True), n, axis=0)
    padded = np.pad(x, ((h, h), (0, 0)), mode="reflect")
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * h + 1, axis=0)
    return np.partition(view, h, axis=-1)[..., h]  # the middle value: 5x faster than np.median


def robust_decompose(x: np.ndarray, codes: np.ndarray, *, valid: np.ndarray | None = None, window: int = 13,
                     smooth: int = 1, n_iter: int = 2, min_scale: float = 0.02
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trend + season by running medians (an STL-like robust decomposition), for every column of ``x`` at once.

    Trend: centred running median over ``window`` effective months (keeps a
    step sharp, ignores single outliers), optionally smoothed by a
    ``smooth``-month moving average. Season: per month-of-year code, the mean
    of the detrended values without the largest and smallest eighth (at least
    one each: more efficient than a median over a handful of years, and a
    spike does not leak into its month's season); left out when any code has
    fewer than three values. Entries where ``valid`` is False (zero months, say) are
    interpolated before fitting and ignored by the scale. Returns ``fitted,
    resid, scale``: ``scale`` is the SD of the central 90% of valid residuals
    rescaled to a normal SD (/0.79; MAD is too small here because a running
    median fits some points exactly), floored at ``min_scale``.
    """
    if valid is not None and not valid.all():
        xi = pd.DataFrame(np.where(valid, x, np.nan)).interpolate(limit_direction="both", axis=0).to_numpy()
        xi = np.where(np.isnan(xi), x, xi)
    else:
        xi = x
    levels, inv = np.unique(codes, return_inverse=True)
    seasonal = len(levels) > 1 and np.bincount(inv).min() >= 3
    season = np.zeros_like(x)
    trend = _smooth(rolling_median(xi, window), smooth)
    for _ in range(n_iter if seasonal else 0):
        detr = xi - trend
        s = np.stack([_trimmed_mean(detr[inv == i]) for i in range(len(levels))])
        season = (s - s.mean(axis=0))[inv]
        trend = _smooth(rolling_median(xi - season, window), smooth)
    fitted = trend + season
    resid = x - fitted
    r = resid if valid is None else np.where(valid, resid, np.nan)
    lo, hi = col_quantiles(r, (0.05, 0.95))
    central = np.where((r >= lo) & (r <= hi), r, np.nan)
    with np.errstate(all="ignore"):
        scale = np.nanstd(central, axis=0) / 0.79
    return fitted, resid, np.maximum(np.nan_to_num(scale, nan=min_scale), min_scale)


def _trimmed_mean(v: np.ndarray) -> np.ndarray:
    """Column means after dropping the largest and smallest eighth (at least one value each side)."""
    n = v.shape[0]
    if n < 4:
        return np.median(v, axis=0)
    cut = max(1, n // 8)
    return np.sort(v, axis=0)[cut:n - cut].mean(axis=0)


def col_quantiles(x: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles of every column ignoring NaN (linear interpolation), without a per-column loop."""
    srt = np.sort(x, axis=0)  # NaN last
    n = np.isfinite(x).sum(axis=0)
    out = []
    for q in qs:
        pos = np.maximum(n - 1, 0) * q
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        a = np.take_along_axis(srt, lo[None, :], axis=0)[0]
        b = np.take_along_axis(srt, hi[None, :], axis=0)[0]
        out.append(np.where(n > 0, a + (b - a) * (pos - lo), np.nan))
    return out


def _smooth(x: np.ndarray, k: int) -> np.ndarray:
    """Centred k-month moving average down the rows (ends: nearest value)."""
    return x if k <= 1 else ndimage.uniform_filter1d(x, k, axis=0, mode="nearest")


# ------------------------------------------------- cross-partner median --

MIN_ACTIVE = 0.75
"""A partner's series enters a cross-partner median when positive in this share of the months of its first
third or of its last third (so a flow that stops, or one that starts, still counts)."""


def active_columns(u: np.ndarray, min_active: float = MIN_ACTIVE) -> np.ndarray:
    """Columns of ``u`` (months x series) positive in ``min_active`` of the months of their first or last third."""
    n = u.shape[0]
    if n == 0 or u.shape[1] == 0:
        return np.zeros(u.shape[1], dtype=bool)
    third = max(n // 3, 1)
    pos = u > 0
    return np.maximum(pos[:third].mean(axis=0), pos[-third:].mean(axis=0)) >= min_active


def median_index(x: np.ndarray) -> np.ndarray:
    """Cross-partner median of log series (months x partners), each first centred on its own median month.

    The movement most partners share: it moves by ``d`` at a month only when
    more than half of the partners move by at least ``d`` there, and one
    partner's own break or spike leaves it (almost) unchanged. Zero months
    enter at the log offset (:func:`log_level`), so a flow that stops for
    most partners shows as a drop of the index.
    """
    if x.shape[1] == 0:
        return np.zeros(x.shape[0])
    return np.median(x - np.median(x, axis=0, keepdims=True), axis=1)
