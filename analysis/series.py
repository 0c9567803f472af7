"""Series: monthly (or annual) USD and net-weight series per reporter, partner, flow and code family.

The tidy *series frame* every analysis step takes has one row per series and
period, with columns ``SERIES_COLUMNS``:

- ``reporter_code, partner_code`` (int), ``flow_code`` (str, "X"/"M"),
  ``family_id, group, kind`` (str: see :mod:`analysis.registry`; codes outside
  the registry are one-code families ``HS<code>``, group ``ungrouped``);
- ``date``: the first day of the month (or year);
- ``usd``: the sum of ``primaryValue`` of the records; ``kg``: the sum of
  ``netWgt`` (NaN when no record of that cell reports a weight);
- ``n_records``: how many records went in; 0 marks a month Comtrade omitted,
  whose value is zero, not missing (small flows are lumpy);
- ``synthetic``: True when built from the synthetic demo panel.

Every series covers every period from the first to the last period of the
input, so a zero month is a row with ``usd == 0``. Families make series
comparable across China's switch from HS 2017 to HS 2022 in 2022.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from . import registry
from .errors import InputError
from .schema import is_synthetic

SERIES_KEY = ["reporter_code", "partner_code", "flow_code", "family_id"]
"""Columns that identify one series."""

SERIES_COLUMNS = [*SERIES_KEY, "group", "kind", "date", "usd", "kg", "n_records", "synthetic"]


def _leaf_records(records: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Six-digit records of the classic breakdown (no partner-2, customs or transport split)."""
    rec = records[records["freqCode"] == freq]
    rec = rec[rec["cmdCode"].str.len() == 6]
    for col, total in (("partner2Code", 0), ("customsCode", "C00"), ("motCode", 0)):
        if col in rec.columns:
            rec = rec[rec[col].isna() | (rec[col] == total)]
    return rec


def merge_jan_feb(series: pd.DataFrame) -> pd.DataFrame:
    """Give January and February each half of their two-month total (per series and year).

    China's customs publishes January and February together; the split between
    the two months carries no information, and a spike or dip in either is an
    artefact. Averaging keeps every annual total exact.
    """
    out = series.copy()
    is_jf = out["date"].dt.month.isin([1, 2])
    if not is_jf.any():
        return out
    jf = out[is_jf]
    groups = jf.groupby([jf[k] for k in SERIES_KEY] + [jf["date"].dt.year.rename("year")], sort=False)
    size = groups["usd"].transform("size")
    out.loc[is_jf, "usd"] = groups["usd"].transform("sum") / size
    kg_sum, kg_n = groups["kg"].transform("sum"), groups["kg"].transform("count")
    out.loc[is_jf, "kg"] = (kg_sum / size).where(kg_n > 0)
    return out


def build_series(
    records: pd.DataFrame,
    *,
    freq: Literal["M", "A"] = "M",
    jan_feb: Literal["merge", "keep"] = "merge",
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Tidy series frame (see the module docstring) from a tidy record frame.

    ``freq="A"`` gives annual totals: from annual records where the input has
    them, else the sums of the monthly series (so annual totals equal the sums
    of the records). ``jan_feb="merge"`` (the default) applies
    :func:`merge_jan_feb` to monthly series; ``"keep"`` leaves the months as
    reported. ``start``/``end`` widen or cut the period range.

    >>> from analysis.demo import load_demo
    >>> s = build_series(load_demo())
    >>> s.columns.tolist() == SERIES_COLUMNS
    True
    """
    if freq not in ("M", "A"):
        raise InputError(f"freq must be 'M' or 'A', not {freq!r}")
    if jan_feb not in ("merge", "keep"):
        raise InputError(f"jan_feb must be 'merge' or 'keep', not {jan_feb!r}")
    synthetic = is_synthetic(records)
    source_freq = freq
    if freq == "A" and not (records["freqCode"] == "A").any():
        source_freq = "M"
    rec = _leaf_records(records, source_freq)
    if rec.empty:
        raise InputError(f"no six-digit {'monthly' if source_freq == 'M' else 'annual'} records to build series from")
    fam = registry.family_of(rec["cmdCode"], rec["classificationCode"])
    date = rec["period_date"]
    if freq == "A":
        date = date.dt.to_period("Y").dt.start_time.astype("datetime64[ns]")
    flat = pd.DataFrame({
        "reporter_code": rec["reporterCode"].astype("int64").to_numpy(),
        "partner_code": rec["partnerCode"].astype("int64").to_numpy(),
        "flow_code": rec["flowCode"].astype(str).to_numpy(),
        "family_id": fam.astype(str).to_numpy(),
        "date": date.to_numpy(),
        "usd": rec["primaryValue"].astype(float).to_numpy(),
        "kg": rec["netWgt"].astype(float).to_numpy(),
    })
    by = flat.groupby([*SERIES_KEY, "date"], sort=True)
    grouped = by.agg(usd=("usd", "sum"), n_records=("usd", "size"))
    grouped["kg"] = by["kg"].sum(min_count=1)
    out = _complete(grouped, freq, start, end)
    if freq == "M" and jan_feb == "merge":
        out = merge_jan_feb(out)
    table = registry.family_table(out["family_id"].unique()).set_index("family_id")
    out["group"] = out["family_id"].map(table["group"])
    out["kind"] = out["family_id"].map(table["kind"])
    out["synthetic"] = synthetic
    out = out[SERIES_COLUMNS]
    out.attrs["synthetic"] = synthetic
    return out


def _complete(grouped: pd.DataFrame, freq: str, start, end) -> pd.DataFrame:
    """Reindex every series onto its reporter's period range, zero-filling omitted periods.

    The range is that of the reporter and flow over all its records (cut or
    widened by ``start``/``end``): a period in which the reporter published
    nothing at all (Belarus after 2021) is not a zero, so it gets no row.
    """
    step = "MS" if freq == "M" else "YS"
    flat = grouped.reset_index()
    parts = []
    for (_, _), block in flat.groupby(["reporter_code", "flow_code"], sort=False):
        lo = pd.Timestamp(start) if start is not None else block["date"].min()
        hi = pd.Timestamp(end) if end is not None else block["date"].max()
        if lo > hi:
            raise InputError(f"start {lo:%Y-%m} is after end {hi:%Y-%m}")
        grid = pd.date_range(lo, hi, freq=step).to_numpy()
        keys = block[SERIES_KEY].drop_duplicates()
        full = keys.loc[keys.index.repeat(len(grid))].reset_index(drop=True)
        full["date"] = np.tile(grid, len(keys))
        parts.append(full.merge(block, on=[*SERIES_KEY, "date"], how="left"))
    out = pd.concat(parts, ignore_index=True)
    out["usd"] = out["usd"].fillna(0.0)
    out["n_records"] = out["n_records"].fillna(0).astype("int64")
    out.loc[out["n_records"] == 0, "kg"] = 0.0
    return out.sort_values([*SERIES_KEY, "date"], ignore_index=True)


def annual(series: pd.DataFrame) -> pd.DataFrame:
    """Annual totals of a monthly series frame (same columns, ``date`` = 1 January)."""
    year = series["date"].dt.to_period("Y").dt.start_time.astype("datetime64[ns]")
    keys = [*SERIES_KEY, "group", "kind"]
    by = series.assign(date=year).groupby([*keys, "date"], sort=True, dropna=False)
    out = by.agg(usd=("usd", "sum"), n_records=("n_records", "sum"))
    out["kg"] = by["kg"].sum(min_count=1)
    out = out.reset_index()
    out["synthetic"] = bool(series["synthetic"].any()) if len(series) else False
    out = out[SERIES_COLUMNS]
    out.attrs["synthetic"] = series.attrs.get("synthetic", False)
    return out


def wide(series: pd.DataFrame, value: str = "usd") -> pd.DataFrame:
    """Series as a matrix: index ``date``, one column per series (MultiIndex of ``SERIES_KEY``).

    The form the vectorised estimators work on: one NumPy matrix, periods by series.
    """
    table = series.pivot_table(index="date", columns=SERIES_KEY, values=value, aggfunc="sum", sort=True)
    table.attrs["synthetic"] = series.attrs.get("synthetic", False)
    return table
