"""Series: monthly (or annual) USD and net-weight series per reporter, partner, flow and code family.

The tidy *series frame* every analysis step takes has one row per series and
period, with columns ``SERIES_COLUMNS``:

- ``reporter_code, partner_code`` (int), ``flow_code`` (str, "X"/"M"),
  ``family_id, group, kind`` (str: see :mod:`analysis.registry`; codes outside
  the registry are one-code families ``HS<code>``, group ``ungrouped``);
- ``date``: the first day of the month (or year);
- ``usd``: the sum of ``primaryValue`` of the records; ``kg``: the sum of
  ``netWgt`` (NaN when no record of that cell reports a weight, or when any
  record of it carries an *estimated* weight: see below);
- ``n_records``: how many records went in; 0 marks a month Comtrade omitted,
  whose value is zero, not missing (small flows are lumpy);
- ``synthetic``: True when built from the synthetic demo panel.

Every series covers every period from the first to the last period of the
input, so a zero month is a row with ``usd == 0``. Families make series
comparable across China's switch from HS 2017 to HS 2022 in 2022.

Three traps of real Comtrade records are handled here, and :func:`set_aside`
lists what each one removed, so the report can say it:

- *Duplicate editions.* Comtrade+ converts records into other HS editions
  (``isOriginalClassification`` False) and an export in HS 2017 holds
  converted copies of HS 2022 records; the store keeps both editions. Within
  a cell (reporter, partner, flow, period, family) only the records in their
  original classification are used when there are any; converted copies
  are used only for cells that have no original record.
- *January and February.* Some reporters (China's customs, from 2020) publish
  the two months together; ``jan_feb="auto"`` merges only the reporter-years
  whose records show it (:func:`jan_feb_merged_years`).
- *Estimated weights.* Comtrade fills missing weights with estimates
  (``isNetWgtEstimated``); a unit value computed from an estimate measures the
  estimate, so such cells get ``kg = NaN``.
"""
from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from . import registry
from .errors import InputError
from .schema import is_synthetic
from .study import JanFeb, Level, check_choice

SERIES_KEY = ["reporter_code", "partner_code", "flow_code", "family_id"]
"""Columns that identify one series."""

SERIES_COLUMNS = [*SERIES_KEY, "group", "kind", "date", "usd", "kg", "n_records", "synthetic"]

SET_ASIDE_COLUMNS = ["reporter_code", "partner_code", "flow_code", "classification", "reason", "records", "cells",
                     "usd"]
"""Columns of :func:`set_aside`."""

CONVERTED = "converted copy of an original record"
CONVERTED_USED = "converted copy used: no original record in the cell"
AGGREGATE = "not a code of the study's level (total or other aggregate)"
FINER_USED = "summed up to the level: no record as reported at the level"
REPORTED_USED = "left out: the level's own record (as reported) is used"
BREAKDOWN = "partner-2, customs or transport breakdown"
OTHER_FREQ = "other frequency"
ESTIMATED_KG = "estimated weight: kg left out"
"""The reasons :func:`set_aside` gives (``CONVERTED_USED`` rows were used, and are listed to be counted)."""

KG_UNIT = 8
"""Comtrade's ``qtyUnitCode`` for kilograms."""
JOINT_MIN_CELLS = 3
"""Fewest February cells for an empty January to count as a joint publication (not an omitted small flow)."""
JOINT_SHARE = 0.5
"""Share of January/February pairs that must be equal for a reporter-year to count as published together."""
_BREAKDOWN_TOTALS = (("partner2Code", 0), ("customsCode", "C00"), ("motCode", 0))
_CELL = ["reporterCode", "partnerCode", "flowCode", "period"]
_FIELDS_READ = ["freqCode", "period", "reporterCode", "flowCode", "partnerCode", "classificationCode", "cmdCode",
                "isOriginalClassification", *(col for col, _ in _BREAKDOWN_TOTALS), "primaryValue", "netWgt",
                "isNetWgtEstimated", "qty", "qtyUnitCode", "isQtyEstimated", "period_date"]
"""Every field :func:`build_series` reads. It drops the others before selecting records: copying every field
(long descriptions included) of every record kept was most of its time. A field it comes to read must be added."""


class _Selection(NamedTuple):
    """Records build_series uses, their family ids, and the records it leaves out, by reason."""

    used: pd.DataFrame
    family: pd.Series
    left_out: list[tuple[str, pd.DataFrame]]


def _flag(records: pd.DataFrame, name: str) -> pd.Series:
    """A boolean field as plain bools (missing field or value: False)."""
    if name not in records.columns:
        return pd.Series(False, index=records.index)
    return records[name].astype("boolean").fillna(False).astype(bool)


def _is_false(records: pd.DataFrame, name: str) -> pd.Series:
    """True where a boolean field says False explicitly (missing field or value: not False)."""
    if name not in records.columns:
        return pd.Series(False, index=records.index)
    return records[name].astype("boolean").eq(False).fillna(False).astype(bool)


def _source_freq(records: pd.DataFrame, freq: Literal["M", "A"] | None) -> str:
    """The record frequency series of ``freq`` are built from (annual series fall back on monthly records)."""
    has = set(records["freqCode"].dropna().unique())
    if freq is None:
        return "M" if "M" in has or "A" not in has else "A"
    return "A" if freq == "A" and "A" in has else "M"


def _is_breakdown(records: pd.DataFrame) -> pd.Series:
    """True for rows split by partner 2, customs procedure or transport mode (not the classic totals)."""
    split = pd.Series(False, index=records.index)
    for col, total in _BREAKDOWN_TOTALS:
        if col in records.columns:
            split |= (records[col].notna() & (records[col] != total)).astype(bool)
    return split


def _converted_masks(rec: pd.DataFrame, family: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(dropped, used) masks of converted records (``isOriginalClassification`` False).

    A converted record is dropped when its cell (reporter, partner, flow,
    period, family) also holds a record in its original classification (or
    one that does not say, as the demo and old imports), used otherwise.
    """
    converted = _is_false(rec, "isOriginalClassification")
    if not converted.any():
        return converted, converted
    keys = [rec[c] for c in _CELL] + [family]
    has_original = (~converted).groupby(keys, sort=False).transform("any").astype(bool)
    return converted & has_original, converted & ~has_original


def _level_codes(records: pd.DataFrame, level: Level) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(code at ``level``, used as reported, used summed from six digits) for each record.

    At level 6 the six-digit records are used. At level 4 or 2 a series
    (reporter, partner, flow, heading) uses the reporter's own records at that
    level where it publishes any (complete headings), and otherwise the sum of
    its six-digit records (which holds only the six-digit codes in the data:
    the family's name says so).
    """
    code = records["cmdCode"].astype(str)
    length = code.str.len()
    if level == 6:
        return code, (length == 6).to_numpy(dtype=bool), np.zeros(len(records), dtype=bool)
    head = code.str[:level]
    own = (length == level).to_numpy(dtype=bool)
    finer = (length == 6).to_numpy(dtype=bool)
    keys = [records["reporterCode"], records["partnerCode"], records["flowCode"], head]
    has_own = pd.Series(own, index=records.index).groupby(keys, sort=False).transform("any").to_numpy(dtype=bool)
    return head, own, finer & ~has_own


def _family_ids(records: pd.DataFrame) -> pd.Series:
    """:func:`analysis.registry.family_of` of each record's code and edition, as str.

    Looked up once per distinct (code, edition) pair, not once per record: a
    panel holds a few hundred pairs in hundreds of thousands of records.
    """
    pairs = records[["cmdCode", "classificationCode"]]
    pair_id = pairs.groupby(["cmdCode", "classificationCode"], sort=False, dropna=False).ngroup().to_numpy()
    first = np.unique(pair_id, return_index=True)[1]  # one record of each pair, in pair_id order
    distinct = pairs.iloc[first]
    family = registry.family_of(distinct["cmdCode"], distinct["classificationCode"]).astype(str)
    return pd.Series(family.array.take(pair_id), index=records.index)


def _select(records: pd.DataFrame, freq: Literal["M", "A"] | None, level: Level = 6) -> _Selection:
    """Split records into those series are built from and those left out (see :func:`set_aside`)."""
    other = (records["freqCode"] != _source_freq(records, freq)).to_numpy(dtype=bool)
    code, as_reported, summed = _level_codes(records, level)
    at_level = as_reported | summed
    superseded = ~other & ~at_level & (records["cmdCode"].str.len() == 6).to_numpy(dtype=bool)
    aggregate = ~other & ~at_level & ~superseded
    split = ~other & at_level & _is_breakdown(records).to_numpy(dtype=bool)
    left = [(reason, records[mask]) for reason, mask in ((OTHER_FREQ, other), (AGGREGATE, aggregate),
                                                          (REPORTED_USED, superseded), (BREAKDOWN, split))
            if mask.any()]
    if level != 6 and (summed & ~other & ~split).any():
        left.append((FINER_USED, records[summed & ~other & ~split]))
    keep = ~(other | aggregate | superseded | split)
    rec = records if keep.all() else records[keep]
    if level == 6:
        family = _family_ids(rec)
    else:
        family = ("HS" + code[keep]).astype(str)
    dropped, used_converted = _converted_masks(rec, family)
    for reason, mask in ((CONVERTED, dropped), (CONVERTED_USED, used_converted)):
        if mask.any():
            left.append((reason, rec[mask].assign(family_id=family[mask])))
    if dropped.any():
        rec, family = rec[~dropped], family[~dropped]
    return _Selection(rec, family, left)


def estimated_weight(records: pd.DataFrame) -> pd.Series:
    """True for records whose net weight is an estimate, not a reported figure.

    ``isNetWgtEstimated``; also ``isQtyEstimated`` when the quantity is in kg
    (``qtyUnitCode`` 8) and ``netWgt`` is that quantity, as Comtrade fills an
    estimated kg quantity into both. A unit value (USD/kg) from an estimated
    weight measures Comtrade's estimate, not a price.
    """
    est = _flag(records, "isNetWgtEstimated")
    if {"isQtyEstimated", "qtyUnitCode", "qty", "netWgt"} <= set(records.columns):
        same = (records["qtyUnitCode"] == KG_UNIT) & np.isclose(records["qty"].astype(float),
                                                                 records["netWgt"].astype(float))
        est |= _flag(records, "isQtyEstimated") & same.fillna(False).astype(bool)
    return est


# ------------------------------------------------------- January and February --

JAN_FEB_COLUMNS = ["reporter_code", "year", "merged"]
"""Columns of :func:`jan_feb_merged_years`."""


def _joint_years(years: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """``reporter_code, year, merged`` for each of ``years`` (``reporter_code, year``).

    ``cells`` has one row per cell with data in January or February
    (``reporter_code, year, month, cell, value``). The rule is that of
    :func:`jan_feb_merged_years`.
    """
    years = years.drop_duplicates()
    if cells.empty:
        return years.assign(merged=False)
    wide = (cells.pivot_table(index=["reporter_code", "year", "cell"], columns="month", values="value",
                              aggfunc="sum").reindex(columns=[1, 2]))
    jan, feb = wide[1], wide[2]
    both = jan.notna() & feb.notna()
    agree = both & np.isclose(jan.fillna(0.0), feb.fillna(0.0), rtol=1e-6, atol=1.0)
    stats = pd.DataFrame({"jan": jan.notna(), "feb": feb.notna(), "both": both, "agree": agree})
    per = stats.groupby(level=["reporter_code", "year"]).sum()
    empty_jan = (per["jan"] == 0) & (per["feb"] >= JOINT_MIN_CELLS)
    equal = (per["both"] > 0) & (per["agree"] > JOINT_SHARE * per["both"])
    merged = ((per["feb"] > 0) & (empty_jan | equal)).rename("merged").reset_index()
    out = years.merge(merged, on=["reporter_code", "year"], how="left")
    out["merged"] = out["merged"].astype("boolean").fillna(False).astype(bool)
    return out


def _record_years(used: pd.DataFrame) -> pd.DataFrame:
    """:func:`_joint_years` of records (a cell: reporter, partner, flow, edition, code; monthly records only)."""
    reporter, year = used["reporterCode"].astype("int64"), used["period_date"].dt.year.astype("int64")
    month = used["period_date"].dt.month.astype("int64")
    years = pd.DataFrame({"reporter_code": reporter, "year": year})
    jf = ((used["freqCode"] == "M") & month.isin([1, 2])).to_numpy(dtype=bool)
    cell = ["partnerCode", "flowCode", "classificationCode", "cmdCode"]
    cells = pd.DataFrame({
        "reporter_code": reporter[jf], "year": year[jf], "month": month[jf],
        "cell": used.loc[jf, cell].groupby(cell, sort=False).ngroup(),
        "value": used.loc[jf, "primaryValue"].astype(float),
    })
    return _joint_years(years, cells)


def _series_detected(series: pd.DataFrame) -> pd.DataFrame:
    """:func:`_joint_years` of a monthly series frame (a cell: a series; months with records or a value)."""
    years = pd.DataFrame({"reporter_code": series["reporter_code"].astype("int64"),
                          "year": series["date"].dt.year.astype("int64")})
    s = series[((series["n_records"] > 0) | (series["usd"] != 0)) & series["date"].dt.month.isin([1, 2])]
    cells = pd.DataFrame({
        "reporter_code": s["reporter_code"].astype("int64"), "year": s["date"].dt.year.astype("int64"),
        "month": s["date"].dt.month.astype("int64"), "cell": s.groupby(SERIES_KEY, sort=False).ngroup(),
        "value": s["usd"].astype(float),
    })
    return _joint_years(years, cells)


def jan_feb_merged_years(data: pd.DataFrame) -> pd.DataFrame:
    """Which reporter-years publish January and February together: ``reporter_code, year, merged``.

    ``data`` is a tidy record frame or a series frame; one row per
    reporter-year in it (``merged`` False for annual data). ``merged`` is True
    when the year's January and February are one two-month figure, that is
    when February has data and either

    - January has no record at all while February has records in at least
      ``JOINT_MIN_CELLS`` cells (the joint figure filed under February; with
      fewer cells an empty January is as likely an omitted small flow), or
    - in more than half (``JOINT_SHARE``) of the cells with data in both months
      January equals February (within a dollar): the joint figure split in
      half, as in the demo panel. Separately published months are almost never
      equal; "more than half" rather than "every" tolerates families in which
      one code is omitted in one of the two months.

    A cell is a reporter, partner, flow, edition and code for records, a
    series for series frames. For a frame made by :func:`build_series` the
    answer it recorded from the records is returned: with ``"auto"`` the
    years it merged, with ``"merge"`` every year, with ``"keep"`` the years
    published together (left as reported, but still one two-month figure).
    Other stages use this to treat January and February as one observation.
    """
    if "cmdCode" in data.columns:
        used = _select(data, None).used if len(data) else data
        return _record_years(used).sort_values(["reporter_code", "year"], ignore_index=True)
    return _series_years(data)


def _series_years_present(series: pd.DataFrame) -> pd.DataFrame:
    """The reporter-years of a series frame: ``reporter_code, year``."""
    return pd.DataFrame({"reporter_code": series["reporter_code"].astype("int64"),
                         "year": series["date"].dt.year.astype("int64")}).drop_duplicates(ignore_index=True)


def _with_years(present: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (``JAN_FEB_COLUMNS``) on the reporter-years ``present``; years it does not list are not merged."""
    table = table.astype({"reporter_code": "int64", "year": "int64", "merged": bool})
    out = present.merge(table, on=["reporter_code", "year"], how="left")
    out["merged"] = out["merged"].astype("boolean").fillna(False).astype(bool)
    return out


def _series_years(series: pd.DataFrame) -> pd.DataFrame:
    """:func:`jan_feb_merged_years` of a series frame: the recorded answer, else the rule on the series values."""
    recorded = series.attrs.get("jan_feb_merged")
    if recorded is not None:
        out = _with_years(_series_years_present(series), pd.DataFrame(list(recorded), columns=JAN_FEB_COLUMNS))
    else:
        out = _series_detected(series)
    return out.sort_values(["reporter_code", "year"], ignore_index=True)[JAN_FEB_COLUMNS]


def merge_jan_feb(series: pd.DataFrame, years: pd.DataFrame | None = None) -> pd.DataFrame:
    """Give January and February each half of their two-month total (per series and year).

    China's customs publishes January and February together; the split between
    the two months carries no information, and a spike or dip in either is an
    artefact. Averaging keeps every annual total exact. ``years`` (the frame of
    :func:`jan_feb_merged_years`) limits the merge to the reporter-years marked
    ``merged``; None merges every year. The merged ``kg`` is NaN when either
    month's is (an unknown or estimated weight leaves the two-month total unknown).
    """
    out = series.copy()
    is_jf = out["date"].dt.month.isin([1, 2])
    if years is not None:
        chosen = years.loc[years["merged"], ["reporter_code", "year"]]
        key = pd.MultiIndex.from_arrays([out["reporter_code"].astype("int64"), out["date"].dt.year.astype("int64")])
        is_jf &= key.isin(pd.MultiIndex.from_frame(chosen.astype("int64")))
    if not is_jf.any():
        return out
    jf = out[is_jf]
    groups = jf.groupby([jf[k] for k in SERIES_KEY] + [jf["date"].dt.year.rename("year")], sort=False)
    size = groups["usd"].transform("size")
    out.loc[is_jf, "usd"] = groups["usd"].transform("sum") / size
    kg_sum, kg_n = groups["kg"].transform("sum"), groups["kg"].transform("count")
    out.loc[is_jf, "kg"] = (kg_sum / size).where(kg_n == size)
    return out


# ------------------------------------------------------------- series --

def _flat(used: pd.DataFrame, family: pd.Series, freq: str) -> pd.DataFrame:
    """One row per used record: series key, date (month, or year for ``freq="A"``), usd, kg, estimated kg."""
    date = used["period_date"]
    if freq == "A":
        date = date.dt.to_period("Y").dt.start_time.astype("datetime64[ns]")
    return pd.DataFrame({
        "reporter_code": used["reporterCode"].astype("int64").to_numpy(),
        "partner_code": used["partnerCode"].astype("int64").to_numpy(),
        # the str arrays as they are: to_numpy would make (and the frame re-parse) a Python object per record
        "flow_code": used["flowCode"].astype(str).array,
        "family_id": family.array,
        "date": date.to_numpy(),
        "usd": used["primaryValue"].astype(float).to_numpy(),
        "kg": used["netWgt"].astype(float).to_numpy(),
        "kg_estimated": estimated_weight(used).to_numpy(),
    })


def _cells(flat: pd.DataFrame) -> pd.DataFrame:
    """Sum records per series and period; ``kg`` NaN where none reports one or any is estimated."""
    by = flat.groupby([*SERIES_KEY, "date"], sort=True)
    grouped = by.agg(usd=("usd", "sum"), n_records=("usd", "size"))
    grouped["kg"] = by["kg"].sum(min_count=1).where(~by["kg_estimated"].any())
    return grouped


def build_series(
    records: pd.DataFrame,
    *,
    freq: Literal["M", "A"] = "M",
    jan_feb: JanFeb = "auto",
    level: Level = 6,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Tidy series frame (see the module docstring) from a tidy record frame.

    ``freq="A"`` gives annual totals: from annual records where the input has
    them, else the sums of the monthly series (so annual totals equal the sums
    of the records). ``jan_feb`` applies to monthly series: ``"auto"`` (the
    default) gives January and February each half their two-month total in the
    reporter-years that publish them together (:func:`jan_feb_merged_years`)
    and keeps the others as reported; ``"merge"`` does so in every year (as if
    every reporter published them together), ``"keep"`` in none. ``start``/``end``
    widen or cut the period range. ``level`` (6, 4 or 2) is the HS code level
    of the series: at 4 or 2 one series per heading or chapter, from the
    reporter's own records at that level or, where it publishes none, the sum
    of its six-digit records (see :func:`set_aside`). Converted copies of original records are
    left out and weights from estimated records are NaN; :func:`set_aside`
    lists both. The reporter-years merged are recorded for
    :func:`jan_feb_merged_years`.

    >>> from analysis.demo import load_demo
    >>> s = build_series(load_demo())
    >>> s.columns.tolist() == SERIES_COLUMNS
    True
    """
    if freq not in ("M", "A"):
        raise InputError(f"freq must be 'M' or 'A', not {freq!r}")
    check_choice(jan_feb, JanFeb, "jan_feb")
    check_choice(level, Level, "level")
    synthetic = is_synthetic(records)
    source_freq = _source_freq(records, freq)
    used, family, _ = _select(records[[c for c in records.columns if c in _FIELDS_READ]], freq, level)
    if used.empty:
        lengths = sorted({len(str(c)) for c in records["cmdCode"].dropna().unique()} & {2, 4, 6})
        hint = (f"; the records hold {', '.join(f'{n}-digit' for n in lengths)} codes: choose level "
                f"{' or '.join(str(n) for n in lengths)}" if lengths and level not in lengths else "")
        freqs = set(records["freqCode"].dropna().astype(str)) - {source_freq}
        if freqs:
            hint += f"; the records are {'annual' if 'A' in freqs else 'monthly'}: choose freq {sorted(freqs)[0]!r}"
        if not lengths:
            hint += "; they hold only totals or codes that are not HS codes of 2, 4 or 6 digits"
        raise InputError(f"no {'monthly' if source_freq == 'M' else 'annual'} records at HS level {level} to build "
                         f"series from{hint}")
    out = _complete(_cells(_flat(used, family, freq)), freq, start, end)
    years = None
    if freq == "M":
        years = _with_years(_series_years_present(out), _record_years(used))
        if jan_feb == "merge":
            years["merged"] = True
        if jan_feb != "keep":
            out = merge_jan_feb(out, years)
    # looked up per distinct family, then spread over the rows (mapping every row searched the table each time)
    row_family, ids = pd.factorize(out["family_id"], use_na_sentinel=False)
    table = registry.family_table(ids, summed=_summed_ids(used, family, level)).set_index("family_id")
    out["group"] = table["group"].reindex(ids).array.take(row_family)
    out["kind"] = table["kind"].reindex(ids).array.take(row_family)
    out["synthetic"] = synthetic
    out = out[SERIES_COLUMNS]
    out.attrs["synthetic"] = synthetic
    if years is not None:
        out.attrs["jan_feb_merged"] = tuple(
            (int(r), int(y), bool(m)) for r, y, m in years[JAN_FEB_COLUMNS].itertuples(index=False))
    return out


# ---------------------------------------------------------- set aside --

def _summed_ids(used: pd.DataFrame, family: pd.Series, level: Level) -> frozenset[str]:
    """Family ids at level 4 or 2 built by summing six-digit records (not as reported)."""
    if level == 6:
        return frozenset()
    return frozenset(family[(used["cmdCode"].str.len() == 6).to_numpy(dtype=bool)].unique())


def set_aside(records: pd.DataFrame, *, freq: Literal["M", "A"] | None = None, level: Level = 6) -> pd.DataFrame:
    """What :func:`build_series` leaves out of a record frame, and why (``SET_ASIDE_COLUMNS``).

    One row per reporter, partner, flow, HS edition and reason, with the
    number of ``records``, of ``cells`` (distinct code or family and period)
    and their ``usd``. Reasons: converted copies of original records
    (``CONVERTED``, left out so editions do not double), converted copies used
    because their cell has no original (``CONVERTED_USED``, used: listed to be
    counted), totals and aggregates of another level (``AGGREGATE``), at
    level 4 or 2 six-digit records left out because the reporter publishes the
    level itself (``REPORTED_USED``) or summed because it does not
    (``FINER_USED``: used, listed to be counted), partner-2,
    customs or transport breakdowns (``BREAKDOWN``), records of the other
    frequency (``OTHER_FREQ``), and records with an estimated weight
    (``ESTIMATED_KG``: their value is used, the cells' kg is NaN; ``cells``
    counts the series cells affected). ``freq`` is that of the series
    (None: monthly when there are monthly records). Empty when nothing is set aside.
    """
    if records.empty:
        return _empty_set_aside()
    used, family, left_out = _select(records, freq, level)
    parts = [_summarise(frame, reason) for reason, frame in left_out]
    est = estimated_weight(used).to_numpy(dtype=bool)
    if est.any():
        parts.append(_summarise(used[est].assign(family_id=family[est]), ESTIMATED_KG))
    if not parts:
        return _empty_set_aside()
    return pd.concat(parts, ignore_index=True)[SET_ASIDE_COLUMNS]


def _empty_set_aside() -> pd.DataFrame:
    """A :func:`set_aside` table with no rows (the columns and dtypes of a full one)."""
    dtypes = dict(zip(SET_ASIDE_COLUMNS, ["int64", "int64", "str", "str", "str", "int64", "int64", "float64"],
                      strict=True))
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})


def _summarise(frame: pd.DataFrame, reason: str) -> pd.DataFrame:
    """Count records, cells and USD of ``frame`` per reporter, partner, flow and edition."""
    what = frame["family_id"] if "family_id" in frame.columns else frame["cmdCode"]
    flat = pd.DataFrame({
        "reporter_code": frame["reporterCode"].astype("int64"), "partner_code": frame["partnerCode"].astype("int64"),
        "flow_code": frame["flowCode"].astype(str), "classification": frame["classificationCode"].astype(str),
        "cell": what.astype(str) + ":" + frame["freqCode"].astype(str) + frame["period"].astype(str),
        "usd": frame["primaryValue"].astype(float),
    })
    out = (flat.groupby(["reporter_code", "partner_code", "flow_code", "classification"], sort=True)
           .agg(records=("usd", "size"), cells=("cell", "nunique"), usd=("usd", "sum")).reset_index())
    out["reason"] = reason
    return out


def _complete(grouped: pd.DataFrame, freq: str, start: str | pd.Timestamp | None,
              end: str | pd.Timestamp | None) -> pd.DataFrame:
    """Reindex every series onto its reporter's period range, zero-filling omitted periods.

    The range is that of the reporter and flow over all its records (cut or
    widened by ``start``/``end``): a period in which the reporter published
    nothing at all (Belarus after 2021) is not a zero, so it gets no row.
    The rows are made sorted by series and date, and each cell of ``grouped``
    is put at its period's row (no merge: this runs on every series).
    """
    step = "MS" if freq == "M" else "YS"
    flat = grouped.reset_index()
    block = flat.groupby(["reporter_code", "flow_code"], sort=False).ngroup().to_numpy()  # reporter and flow
    grids: list[np.ndarray] = []  # each block's periods, by block number
    where = np.empty(len(flat), dtype=np.intp)  # each cell's position in its block's periods (-1: outside)
    for _, cells in flat.groupby(block, sort=False):  # blocks in the order ngroup numbered them
        lo = pd.Timestamp(start) if start is not None else cells["date"].min()
        hi = pd.Timestamp(end) if end is not None else cells["date"].max()
        if lo > hi:
            raise InputError(f"start {lo:%Y-%m} is after end {hi:%Y-%m}")
        grid = pd.date_range(lo, hi, freq=step)
        # the dtype a merge of the cells onto this grid would give (the finer of the two resolutions)
        grids.append(grid.to_numpy().astype(np.result_type(grid.dtype, cells["date"].dtype)))
        where[cells.index.to_numpy()] = grid.get_indexer(cells["date"])
    series = flat.groupby(SERIES_KEY, sort=True).ngroup().to_numpy()  # series numbered in sorted order
    first = np.unique(series, return_index=True)[1]  # a cell of each series, by series number
    length = np.array([len(grids[b]) for b in block[first]], dtype=np.intp)  # its block's periods
    offset = np.concatenate([[0], np.cumsum(length)[:-1]])  # its first row
    out = flat[SERIES_KEY].iloc[np.repeat(first, length)].reset_index(drop=True)
    out["date"] = np.concatenate([grids[b] for b in block[first]])
    found = where >= 0  # a cell outside start/end has no row
    row = offset[series[found]] + where[found]
    out["usd"] = _placed(flat["usd"].to_numpy()[found], row, len(out))
    out["n_records"] = _placed(flat["n_records"].to_numpy(dtype="int64")[found], row, len(out))
    out["kg"] = _placed(flat["kg"].to_numpy()[found], row, len(out))
    return out


def _placed(values: np.ndarray, row: np.ndarray, n: int) -> np.ndarray:
    """n zeros with ``values`` at ``row``: an omitted period has 0 USD, 0 records and 0 kg."""
    out = np.zeros(n, dtype=values.dtype)
    out[row] = values
    return out


def annual(series: pd.DataFrame) -> pd.DataFrame:
    """Annual totals of a monthly series frame (same columns, ``date`` = 1 January).

    A year's ``kg`` is NaN when any of its months' is (an unknown or estimated
    weight leaves the annual weight unknown; a partial sum would fake a price).
    """
    year = series["date"].dt.to_period("Y").dt.start_time.astype("datetime64[ns]")
    keys = [*SERIES_KEY, "group", "kind"]
    by = series.assign(date=year).groupby([*keys, "date"], sort=True, dropna=False)
    out = by.agg(usd=("usd", "sum"), n_records=("n_records", "sum"))
    out["kg"] = by["kg"].sum(min_count=1).where(by["kg"].count() == by["kg"].size())
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
