"""The Comtrade record schema: the 47 fields of a Comtrade data record, validation and coercion.

Every way data enter tradeflows (API fetch, file import, the synthetic demo)
ends in :func:`coerce_records`, which returns the *tidy record frame*:

- the 47 Comtrade fields, in Comtrade's order, with the dtypes in ``FIELDS``
  (codes such as ``cmdCode`` stay strings: ``"TOTAL"``, ``"854231"``);
- ``period_date``: the first day of the period (month or year), a real date;
- ``synthetic``: True for rows of the generated demo panel, so every table,
  figure and report made from them can say so.

Coercion refuses what cannot be a value of its field (text in a number,
infinity, a whole number beyond :data:`INT_LIMIT`, a JSON object, text that
is not valid Unicode), naming the row and the field; whether a well-typed
record is plausible (areas, editions, dates, value ranges, duplicates) is
:func:`analysis.validation.validate_records`'s question, asked by every
importer and the fetch.

Comtrade conventions kept as they are: exports fill ``fobvalue``, imports
``cifvalue``, and ``primaryValue`` is whichever is filled; ``refMonth`` is 52
in annual data; partner World is code 0 (``W00``); ``qtyUnitCode`` -1 means no
quantity.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import TradeflowsError

STR, INT, FLOAT, BOOL = "str", "Int64", "float64", "boolean"

FIELDS: dict[str, str] = {
    "typeCode": STR, "freqCode": STR, "refPeriodId": INT, "refYear": INT, "refMonth": INT,
    "period": STR, "reporterCode": INT, "reporterISO": STR, "reporterDesc": STR,
    "flowCode": STR, "flowDesc": STR, "partnerCode": INT, "partnerISO": STR, "partnerDesc": STR,
    "partner2Code": INT, "partner2ISO": STR, "partner2Desc": STR, "classificationCode": STR,
    "classificationSearchCode": STR, "isOriginalClassification": BOOL, "cmdCode": STR,
    "cmdDesc": STR, "aggrLevel": INT, "isLeaf": BOOL, "customsCode": STR, "customsDesc": STR,
    "mosCode": STR, "motCode": INT, "motDesc": STR, "qtyUnitCode": INT, "qtyUnitAbbr": STR,
    "qty": FLOAT, "isQtyEstimated": BOOL, "altQtyUnitCode": INT, "altQtyUnitAbbr": STR,
    "altQty": FLOAT, "isAltQtyEstimated": BOOL, "netWgt": FLOAT, "isNetWgtEstimated": BOOL,
    "grossWgt": FLOAT, "isGrossWgtEstimated": BOOL, "cifvalue": FLOAT, "fobvalue": FLOAT,
    "primaryValue": FLOAT, "legacyEstimationFlag": INT, "isReported": BOOL, "isAggregate": BOOL,
}
"""The 47 Comtrade record fields and the dtype tradeflows stores each as."""

EXTRA: dict[str, str] = {"period_date": "datetime64[ns]", "synthetic": "bool"}
"""Columns tradeflows adds to every record frame."""

COLUMNS: list[str] = [*FIELDS, *EXTRA]
"""Column order of the tidy record frame."""

REQUIRED = ["freqCode", "period", "reporterCode", "flowCode", "partnerCode", "cmdCode",
            "classificationCode", "primaryValue"]
"""Fields without which a row cannot be placed in a series; a missing one is an error."""

KEY = ["typeCode", "freqCode", "period", "reporterCode", "flowCode", "partnerCode", "partner2Code",
       "classificationCode", "cmdCode", "customsCode", "mosCode", "motCode"]
"""Fields that identify one Comtrade cell: two records with the same key are the same cell."""

_PERIOD = {"A": re.compile(r"^\d{4}$"), "M": re.compile(r"^\d{6}$")}
_TRUE = {"true", "1", "t", "yes", "y"}
_FALSE = {"false", "0", "f", "no", "n"}
_SURROGATE = re.compile("[\ud800-\udfff]")


class SchemaError(TradeflowsError, ValueError):
    """Records that do not fit the Comtrade schema (missing field, bad value)."""


INT_LIMIT = 2**53
"""Largest magnitude of an integer field: beyond it float64 (how JSON and CSV numbers are parsed) is not exact.
No Comtrade integer field comes near it; ``reporterCode`` "1e20" or 2**63 is refused, never wrapped around."""


def first_row(mask: pd.Series | np.ndarray) -> int:
    """1-based row number of the first True of ``mask`` (rows count records in file order, the header is not a row)."""
    return int(np.flatnonzero(np.asarray(mask, dtype=bool))[0]) + 1


def number_text(value: float) -> str:
    """A number as messages show it: up to 15 significant digits, no float noise (``31499887711``, ``1e+30``)."""
    return f"{value:.15g}"


def _bad(mask: pd.Series, name: str, problem: str) -> SchemaError:
    return SchemaError(f"row {first_row(mask)}, field {name}: {problem}")


def _to_bool(s: pd.Series, name: str) -> pd.Series:
    if s.dtype == bool or str(s.dtype) == "boolean":
        return s.astype(BOOL)
    text = _as_text(s, name).str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype=BOOL)
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE)] = False
    bad = text.notna() & (text != "") & ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise _bad(bad, name, f"not a boolean: {text[bad].iloc[0]!r}")
    return out


def _as_text(s: pd.Series, name: str) -> pd.Series:
    """``s`` as a string Series; a value that is no valid Unicode (a lone surrogate from JSON) is refused."""
    if s.dtype == object:
        nested = s.map(lambda v: isinstance(v, (dict, list)))
        if nested.any():
            raise _bad(nested, name, "a JSON object or list, not a value")
        s = s.map(_text_or_missing)
    try:
        return s.astype("string")
    except UnicodeEncodeError:
        bad = s.map(lambda v: isinstance(v, str) and _SURROGATE.search(v) is not None)
        raise _bad(bad, name, "text that is not valid Unicode (a lone surrogate)") from None


def _text_or_missing(value: object) -> object:
    """A JSON value as text (numbers, booleans, objects) or missing (None, NaN, NA) as it is."""
    if value is None or value is pd.NA or isinstance(value, str) or (isinstance(value, float) and value != value):
        return value
    return str(value)


def _to_float(s: pd.Series, name: str) -> pd.Series:
    """float64 of a numeric or text column (missing: NaN); text that is not a number is refused."""
    if s.dtype == bool or str(s.dtype) == "boolean":
        if s.notna().any():
            raise _bad(s.notna(), name, "true/false, not a number")
        return pd.Series(np.nan, index=s.index, dtype="float64")
    if s.dtype != object and not str(s.dtype).startswith(("str", "string")):
        return pd.Series(s.astype("float64").to_numpy(), index=s.index)
    text = _as_text(s, name)
    try:  # fast path: Arrow parses clean numeric text in one pass
        cast = pc.cast(pa.array(text.array, type=pa.string(), from_pandas=True), pa.float64())
        return pd.Series(cast.to_numpy(zero_copy_only=False), index=s.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        text = text.str.strip().replace("", pd.NA)
    num = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = num.isna() & text.notna()
    if bad.any():
        raise _bad(bad, name, f"not a number: {text[bad].iloc[0]!r}")
    return num


def _to_number(s: pd.Series, name: str, dtype: str) -> pd.Series:
    num = _to_float(s, name)
    values = num.to_numpy()
    infinite = np.isinf(values)
    if infinite.any():
        raise _bad(infinite, name, f"not a finite number: {float(values[infinite][0])!r}")
    if dtype == INT:
        huge = np.abs(np.nan_to_num(values)) > INT_LIMIT
        if huge.any():
            raise _bad(huge, name, f"integer out of range: {number_text(values[huge][0])}")
        frac = ~np.isnan(values) & (values != np.floor(values))
        if frac.any():
            raise _bad(frac, name, f"not a whole number: {float(values[frac][0])!r}")
        return num.astype(INT)
    return num.astype(FLOAT)


def _to_str(s: pd.Series, name: str) -> pd.Series:
    out = _as_text(s, name).str.strip()
    return out.where(out != "", pd.NA).astype(STR)


def frame_of_json_records(data: list[dict[str, Any]], source: str) -> pd.DataFrame:
    """A raw frame of JSON records (API answers, imported JSON files), before :func:`coerce_records`.

    A field holding text that is not valid Unicode (a lone surrogate such as
    ``"\\ud800"``, which JSON allows) is refused naming the row and field, where
    pandas would fail with an encoding error.
    """
    try:
        return pd.DataFrame.from_records(data)
    except UnicodeEncodeError:
        for i, rec in enumerate(data, start=1):
            for key, value in rec.items():
                if not (isinstance(key, str) and _SURROGATE.search(key) is None):
                    raise SchemaError(f"{source}: row {i}: a field name that is not valid Unicode") from None
                if isinstance(value, str) and _SURROGATE.search(value):
                    raise SchemaError(f"{source}: row {i}, field {key}: text that is not valid Unicode "
                                      "(a lone surrogate)") from None
        raise SchemaError(f"{source}: text that is not valid Unicode") from None


def period_dates(freq: pd.Series, period: pd.Series) -> pd.Series:
    """First day of each Comtrade period (``"2023"`` -> 2023-01-01, ``"202303"`` -> 2023-03-01)."""
    text = period.astype(str)
    padded = text.where(freq != "A", text + "01")
    return pd.to_datetime(padded, format="%Y%m", errors="coerce").astype("datetime64[ns]")


def coerce_records(raw: pd.DataFrame, *, synthetic: bool = False, source: str = "records") -> pd.DataFrame:
    """Validate raw Comtrade records and return the tidy record frame (see the module docstring).

    Optional fields that are absent are added as missing; a missing required
    field, a malformed period or HS code, or a value that is not a number
    raises SchemaError naming ``source`` and the problem.
    """
    if not isinstance(raw, pd.DataFrame):
        raise SchemaError(f"{source}: expected a table of records, got {type(raw).__name__}")
    missing = [f for f in REQUIRED if f not in raw.columns]
    if missing:
        raise SchemaError(f"{source}: not Comtrade data: missing field(s) {', '.join(missing)}")
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    src = raw.reset_index(drop=True)
    try:
        for name, dtype in FIELDS.items():
            col = src[name] if name in src.columns else pd.Series(pd.NA, index=out.index, dtype="object")
            if dtype == STR:
                out[name] = _to_str(col, name)
            elif dtype == BOOL:
                out[name] = _to_bool(col, name)
            else:
                out[name] = _to_number(col, name, dtype)
    except SchemaError as exc:
        raise SchemaError(f"{source}: {exc}") from None
    _check_values(out, source)
    out["period_date"] = period_dates(out["freqCode"], out["period"])
    flag = src["synthetic"].astype(bool).to_numpy() if "synthetic" in src.columns else synthetic
    out["synthetic"] = np.broadcast_to(np.asarray(flag, dtype=bool), len(out)).copy()
    out.attrs["synthetic"] = bool(out["synthetic"].any())
    return out


_FLOWS = ("X", "M", "RX", "RM", "DX", "FM")


def _check_values(df: pd.DataFrame, source: str) -> None:
    """The structural checks (required fields, frequency, period and code formats, flow); plausibility
    (areas, editions, dates, value ranges) is :func:`analysis.validation.validate_records`'s."""
    def fail(mask: pd.Series, name: str, problem: str) -> SchemaError:
        return SchemaError(f"{source}: {_bad(mask, name, problem)}")

    for name in REQUIRED:
        if df[name].isna().any():
            raise fail(df[name].isna(), name, "required, but empty")
    bad_freq = ~df["freqCode"].isin(["A", "M"])
    if bad_freq.any():
        raise fail(bad_freq, "freqCode", f"freqCode must be A or M, got {df.loc[bad_freq, 'freqCode'].iloc[0]!r}")
    for freq, pattern in _PERIOD.items():
        bad = ((df["freqCode"] == freq) & ~df["period"].str.match(pattern.pattern)).astype(bool)
        if bad.any():
            raise fail(bad, "period", f"malformed {freq} period {df.loc[bad, 'period'].iloc[0]!r}")
    months = pd.to_numeric(df["period"].str[4:6], errors="coerce")
    bad_month = ((df["freqCode"] == "M") & ((months < 1) | (months > 12))).astype(bool)
    if bad_month.any():
        raise fail(bad_month, "period", f"monthly period {df.loc[bad_month, 'period'].iloc[0]!r} has a month "
                                        "outside 01-12")
    code_bad = ~df["cmdCode"].str.fullmatch(r"TOTAL|\d{2}|\d{4}|\d{6}").astype(bool)
    if code_bad.any():
        raise fail(code_bad, "cmdCode", f"malformed HS code {df.loc[code_bad, 'cmdCode'].iloc[0]!r}")
    flow_bad = ~df["flowCode"].isin(_FLOWS)
    if flow_bad.any():
        raise fail(flow_bad, "flowCode", f"unknown flowCode {df.loc[flow_bad, 'flowCode'].iloc[0]!r}")


def empty_records() -> pd.DataFrame:
    """A tidy record frame with no rows (the right columns and dtypes)."""
    frame = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in {**FIELDS, **EXTRA}.items()})
    frame.attrs["synthetic"] = False
    return frame


def without_attrs(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy of ``frame`` without ``attrs``: pandas deep-copies a frame's attrs (a series frame's record
    of merged January/February years) on every operation, and figures and tables slice their frames dozens of
    times (read the synthetic flag first)."""
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def is_synthetic(frame: pd.DataFrame) -> bool:
    """True when any row of ``frame``, or the frame itself (``attrs``), is marked synthetic: the one test."""
    flag = bool(frame.attrs.get("synthetic", False))
    if "synthetic" in frame.columns and len(frame):
        flag = flag or bool(frame["synthetic"].astype(bool).any())
    return flag


_SECRET_FIELD = re.compile(r"(key|token|secret|password)$")


def query_id(query: Mapping[str, Any], *, error: type[Exception] = SchemaError) -> str:
    """Stable 16-hex-digit id of a query (the store's chunk id): any key order, list order, int or text values
    give the same id; None values are dropped. A field named like an API key, an empty or nested query raise
    ``error``.

    Neutral ground for the fetch plan and the store, so planning a fetch does
    not import the store; the algorithm is the store's chunk id, unchanged (ids
    already stored stay valid): sha256 of the sorted, compact JSON of the
    normalized fields (values as text, lists as sorted unique text).
    """
    return hashlib.sha256(query_text(query, error=error).encode("utf-8")).hexdigest()[:16]


def query_text(query: Mapping[str, Any], *, error: type[Exception] = SchemaError) -> str:
    """The normalized query as compact JSON (what :func:`query_id` hashes and the manifest records)."""
    if not isinstance(query, Mapping) or not query:
        raise error(f"a chunk query must be a non-empty dict, got {query!r}")
    fields: dict[str, str | list[str]] = {}
    for name, value in query.items():
        name = str(name)
        if _SECRET_FIELD.search(re.sub(r"[^a-z0-9]", "", name.lower())):
            raise error(f"query field {name!r} looks like an API key: keys never enter the store")
        if value is None:
            continue
        if isinstance(value, Mapping):
            raise error(f"query field {name!r}: nested dicts are not allowed")
        if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Index, pd.Series)):
            fields[name] = sorted({str(v) for v in value})
        else:
            fields[name] = str(value)
    return json.dumps(dict(sorted(fields.items())), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
