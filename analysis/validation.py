"""Plausibility of Comtrade records: the one check every importer and the fetch run before anything is stored.

:func:`analysis.schema.coerce_records` makes records fit the schema's types
(numbers, whole numbers in range, booleans, formats of periods and codes);
:func:`validate_records` refuses records that fit the types but cannot be
true, with one line naming the source (file or call), the row (records
counted from 1 in file or answer order) and the field:

- *areas*: ``reporterCode``, ``partnerCode`` and ``partner2Code`` are area
  codes of Comtrade's area table (the registry's ``comtrade_areas.csv``); a
  reporter that can only be a partner (World, the "nes" areas, Bunkers), or
  an ISO code that names another area than its code, is refused with the hint
  that the reporter and partner columns may be swapped;
- *HS editions*: ``classificationCode`` is one of Comtrade's HS editions H0
  to H6 and not newer than the period (HS 2022 records for 2019 cannot exist);
- *periods*: not in the future, and ``refYear``/``refMonth`` agree with ``period``;
- *values*: ``primaryValue``, ``cifvalue``, ``fobvalue`` (USD) and ``qty``,
  ``altQty``, ``netWgt``, ``grossWgt`` are not negative and below the caps
  :data:`VALUE_CAP` and :data:`QUANTITY_CAP` (infinite values are refused by
  the schema already), and ``primaryValue`` is the FOB value of exports and
  re-exports and the CIF value of imports and re-imports where that is given
  (as in every real record of the samples; else value columns are swapped);
- *duplicates*: exact copies of a record are dropped (counted in
  ``attrs["duplicates_dropped"]``); two records of one cell (the schema's
  ``KEY``) with different values are an error unless the caller picks the
  rule ``"first"`` or ``"last"`` (keep that record of the cell, in file order).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd

from . import registry
from .schema import FIELDS, KEY, SchemaError, first_row, number_text
from .study import check_choice

Duplicates = Literal["error", "first", "last"]
"""What to do with two records of one cell that differ: refuse (default), keep the first or the last."""

VALUE_CAP = 1e14
"""Largest plausible value of one record, in USD: about four times a whole year's world merchandise trade
(about 2.5e13 USD in 2022, WTO), so no record of one reporter, partner, code and period comes near it, while
1e30-type values (a unit mix-up, a corrupted field) are refused instead of becoming a top-ranked "anomaly"."""

QUANTITY_CAP = 1e15
"""Largest plausible quantity or weight of one record (kg or the record's unit): about 80 times the world's
yearly seaborne trade in kg (about 1.2e13), and far above any count of items one reporter ships in a year."""

VALUE_FIELDS = ("primaryValue", "cifvalue", "fobvalue")
QUANTITY_FIELDS = ("qty", "altQty", "netWgt", "grossWgt")
AREA_FIELDS = ("reporterCode", "partnerCode", "partner2Code")

HS_EDITIONS = {"H0": 1988, "H1": 1996, "H2": 2002, "H3": 2007, "H4": 2012, "H5": 2017, "H6": 2022}
"""Comtrade's HS editions (``classificationCode``) and the first year each can hold data for: H0 (HS 1992,
Comtrade's data from 1988) to H6 (HS 2022). Comtrade converts data to older editions, never to newer ones."""

ANNUAL_REF_MONTH = 52
"""``refMonth`` of annual records in Comtrade data."""

@lru_cache(maxsize=1)
def _area_table() -> tuple[dict[int, str], frozenset[int]]:
    """(ISO code by Comtrade area code, the areas Comtrade never lists as reporters) from Comtrade's reference
    areas (:func:`analysis.registry.reference_areas`; ISO codes of current areas as the data spell them)."""
    ref = registry.reference_areas()
    iso = dict(zip(ref["code"].astype(int), ref["iso3"].astype(str), strict=True))
    modern = registry.areas()
    iso.update(zip(modern["code"].astype(int), modern["iso3"].astype(str).str.strip(), strict=True))
    partner_only = frozenset(int(c) for c in ref.loc[~ref["reporter"], "code"])
    return iso, partner_only


def _problem(source: str, mask: pd.Series | np.ndarray, field: str, problem: str) -> SchemaError:
    return SchemaError(f"{source}: row {first_row(mask)}, field {field}: {problem}")


def _first(frame: pd.DataFrame, mask: pd.Series, field: str) -> object:
    return frame.loc[mask, field].iloc[0]


def _check_areas(df: pd.DataFrame, source: str) -> None:
    iso, partner_only = _area_table()
    for field in AREA_FIELDS:
        unknown = (df[field].notna() & ~df[field].isin(list(iso))).to_numpy(dtype=bool)
        if unknown.any():
            raise _problem(source, unknown, field, f"{df.loc[unknown, field].iloc[0]} is not a Comtrade area code "
                                                   "(not in Comtrade's reference areas, comtrade_reference_areas.csv)")
    reporter_partner_only = df["reporterCode"].isin(list(partner_only)).to_numpy(dtype=bool)
    if reporter_partner_only.any():
        code = int(df.loc[reporter_partner_only, "reporterCode"].iloc[0])
        raise _problem(source, reporter_partner_only, "reporterCode",
                       f"{code} ({iso[code]}) is a partner area, never a reporter: are the reporter and partner "
                       "columns swapped?")
    known = set(iso.values())
    for side, other in (("reporter", "partner"), ("partner", "reporter"), ("partner2", None)):
        given = df[f"{side}ISO"].astype("string").str.strip()
        expected = df[f"{side}Code"].map(iso).astype("string")
        wrong = (given.notna() & given.isin(known) & expected.notna() & (given != expected)).to_numpy(dtype=bool)
        if not wrong.any():
            continue
        row = df[wrong].iloc[0]
        hint = "the code and ISO columns disagree"
        if other is not None and iso.get(int(row[f"{other}Code"])) == row[f"{side}ISO"]:
            hint = "are the reporter and partner columns swapped?"
        raise _problem(source, wrong, f"{side}ISO", f"{row[f'{side}ISO']} is the ISO code of another area than "
                                                    f"{side}Code {row[f'{side}Code']} ({iso[int(row[f'{side}Code'])]}):"
                                                    f" {hint}")


def _check_editions(df: pd.DataFrame, source: str, year: pd.Series) -> None:
    edition = df["classificationCode"]
    unknown = ~edition.isin(list(HS_EDITIONS)).to_numpy(dtype=bool)
    if unknown.any():
        raise _problem(source, unknown, "classificationCode",
                       f"{edition[unknown].iloc[0]!r} is not an HS edition as Comtrade spells them (H0 to H6)")
    first = edition.map(HS_EDITIONS).astype("int64")
    early = (year < first).to_numpy(dtype=bool)
    if early.any():
        row = df[early].iloc[0]
        raise _problem(source, early, "classificationCode",
                       f"{row['classificationCode']} (used from {HS_EDITIONS[row['classificationCode']]}) cannot hold "
                       f"data for period {row['period']}")


def _check_periods(df: pd.DataFrame, source: str, year: pd.Series, today: pd.Timestamp) -> None:
    future = (df["period_date"] > today.normalize()).to_numpy(dtype=bool)
    if future.any():
        raise _problem(source, future, "period", f"{_first(df, future, 'period')} is in the future "
                                                 f"(today is {today:%Y-%m-%d})")
    wrong_year = (df["refYear"].notna() & (df["refYear"] != year)).to_numpy(dtype=bool)
    if wrong_year.any():
        row = df[wrong_year].iloc[0]
        raise _problem(source, wrong_year, "refYear", f"{row['refYear']} does not match period {row['period']}")
    monthly = (df["freqCode"] == "M").to_numpy(dtype=bool)
    month = pd.Series(ANNUAL_REF_MONTH, index=df.index, dtype="int64")
    month[monthly] = df.loc[monthly, "period"].str[4:6].astype("int64")
    wrong_month = (df["refMonth"].notna() & (df["refMonth"] != month)).to_numpy(dtype=bool)
    if wrong_month.any():
        row = df[wrong_month].iloc[0]
        raise _problem(source, wrong_month, "refMonth", f"{row['refMonth']} does not match "
                                                        f"{'monthly' if row['freqCode'] == 'M' else 'annual'} "
                                                        f"period {row['period']}")


def _check_amounts(df: pd.DataFrame, source: str) -> None:
    for fields, cap, unit in ((VALUE_FIELDS, VALUE_CAP, " USD"), (QUANTITY_FIELDS, QUANTITY_CAP, "")):
        for field in fields:
            values = df[field].to_numpy(dtype=float, na_value=np.nan)
            negative = values < 0
            if negative.any():
                raise _problem(source, negative, field, f"negative: {number_text(values[negative][0])}")
            huge = values > cap
            if huge.any():
                raise _problem(source, huge, field, f"{number_text(values[huge][0])}{unit} is above the "
                                                    f"plausibility cap of {cap:g}{unit} for one record")


def _check_primary(df: pd.DataFrame, source: str) -> None:
    primary = df["primaryValue"].to_numpy(dtype=float, na_value=np.nan)
    wrong = np.zeros(len(df), dtype=bool)
    other = np.full(len(df), np.nan)
    side = np.full(len(df), "", dtype=object)
    for field, flows in (("fobvalue", ("X", "RX")), ("cifvalue", ("M", "RM"))):
        values = df[field].to_numpy(dtype=float, na_value=np.nan)
        pick = (df["flowCode"].isin(flows) & df[field].notna()).to_numpy(dtype=bool)
        bad = pick & ~np.isclose(primary, values, rtol=1e-9, atol=0.5)
        wrong |= bad
        other[bad], side[bad] = values[bad], field
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        what = "the FOB value of exports" if side[i] == "fobvalue" else "the CIF value of imports"
        raise _problem(source, wrong, "primaryValue",
                       f"{number_text(primary[i])} differs from {side[i]} {number_text(other[i])}, although "
                       f"Comtrade's primaryValue is {what}: are value columns swapped?")


def _shown(value: object) -> str:
    return number_text(value) if isinstance(value, float) else str(value)


def _resolve_duplicates(df: pd.DataFrame, source: str, rule: Duplicates) -> pd.DataFrame:
    if not df.duplicated(KEY).any():
        df.attrs["duplicates_dropped"] = 0
        return df
    fields = list(FIELDS)
    copies = df.duplicated(fields).to_numpy(dtype=bool)
    distinct = df[~copies]
    clash = distinct.duplicated(KEY, keep=False).to_numpy(dtype=bool)
    if clash.any() and rule == "error":
        rows = distinct[clash]
        cell = rows.groupby(KEY, dropna=False, sort=False).ngroup().to_numpy()
        a, b = rows.index[cell == cell[0]][:2]
        first = df.loc[a]
        differ = next(f for f in fields if not (pd.isna(df.at[a, f]) and pd.isna(df.at[b, f]))
                      and (pd.isna(df.at[a, f]) or pd.isna(df.at[b, f]) or df.at[a, f] != df.at[b, f]))
        raise SchemaError(
            f"{source}: rows {a + 1} and {b + 1}, field {differ}: the same cell (reporter {first['reporterCode']}, "
            f"partner {first['partnerCode']}, flow {first['flowCode']}, code {first['cmdCode']}, period "
            f"{first['period']}) twice with different values ({_shown(df.at[a, differ])} and "
            f"{_shown(df.at[b, differ])}); choose "
            "which to keep: duplicates='first' or 'last' (tradeflows import --duplicates)")
    kept = distinct.drop_duplicates(KEY, keep="first" if rule == "error" else rule)
    out = kept.reset_index(drop=True)
    out.attrs.update(df.attrs)
    out.attrs["duplicates_dropped"] = len(df) - len(out)
    return out


def validate_records(records: pd.DataFrame, *, source: str, duplicates: Duplicates = "error",
                     today: pd.Timestamp | None = None) -> pd.DataFrame:
    """The tidy record frame ``records`` (from :func:`analysis.schema.coerce_records`) if every record is plausible
    (see the module docstring), with exact copies dropped and conflicting duplicates resolved by ``duplicates``.

    Raises SchemaError with one line naming ``source``, the row and the field.
    ``today`` (default: now) is the date after which a period is in the future.
    """
    check_choice(duplicates, Duplicates, "duplicates")
    if records.empty:
        records.attrs["duplicates_dropped"] = 0
        return records
    df = records.reset_index(drop=True)
    df.attrs.update(records.attrs)
    year = df["period"].str[:4].astype("int64")
    _check_areas(df, source)
    _check_editions(df, source, year)
    _check_periods(df, source, year, pd.Timestamp.now() if today is None else pd.Timestamp(today))
    _check_amounts(df, source)
    _check_primary(df, source)
    return _resolve_duplicates(df, source, duplicates)
