"""Stage 4 of a Comtrade request: judge an answer and turn it into the tidy record frame.

An answer is used only if it is the Comtrade envelope ``{"elapsedTime",
"count", "data": [...], "error"}`` with an empty ``error``, ``count`` (when
present) equal to the records given, fewer records than the endpoint's cap
(as many as the cap may be a cut answer), no more records than the plan row's
bound, every record inside the query (reporter, flow, frequency, periods,
partners, codes, the planned HS edition, the classic breakdown), no cell
twice, and every record valid for :func:`analysis.schema.coerce_records`.
Anything else is a typed :class:`~.errors.ComtradeError`, never a silently
shorter table.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ..schema import KEY, SchemaError, coerce_records, empty_records
from .errors import ComtradeAPIError, ComtradeResponseError, ComtradeTruncatedError
from .perform import Answer

AVAILABILITY_COLUMNS = ["period", "classificationCode", "lastReleased", "totalRecords"]


def envelope(answer: Answer, what: str) -> dict[str, Any]:
    """The parsed JSON envelope of a 200 answer; malformed bodies and a non-empty ``error`` raise."""
    try:
        doc = json.loads(answer.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ComtradeResponseError(f"{what}: the answer is not valid JSON ({type(exc).__name__}: {str(exc)[:120]})",
                                    status=answer.status) from None
    if not isinstance(doc, dict) or "data" not in doc:
        raise ComtradeResponseError(f"{what}: the answer is not a Comtrade envelope (no 'data')", status=answer.status)
    err = doc.get("error")
    if err not in (None, "", [], {}):
        raise ComtradeAPIError(f"{what}: Comtrade answered 200 with an error", status=answer.status,
                               api_message=str(err))
    data = doc["data"]
    if data is None:
        data = []
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ComtradeResponseError(f"{what}: 'data' is not a list of records", status=answer.status)
    count = doc.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(data):
        cls = ComtradeTruncatedError if count > len(data) else ComtradeResponseError
        raise cls(f"{what}: the envelope counts {count} records but holds {len(data)}", status=answer.status)
    if answer.frame is not None and len(answer.frame) != len(data):
        raise ComtradeResponseError(f"{what}: comtradeapicall parsed {len(answer.frame)} records, the body holds "
                                    f"{len(data)}", status=answer.status)
    doc["data"] = data
    return doc


def _split(text: str) -> list[str]:
    return [t for t in str(text).split(",") if t]


def records(answer: Answer, *, query: dict, bound: int, cap: int, edition: str, what: str) -> pd.DataFrame:
    """The tidy record frame of a data call's answer (empty frame for no records); see the module docstring."""
    data = envelope(answer, what)["data"]
    n = len(data)
    if n >= cap:
        raise ComtradeTruncatedError(f"{what}: {n} records, the endpoint's cap of {cap}: the answer may be cut "
                                     "(the plan should never allow this)", status=answer.status)
    if n > bound:
        raise ComtradeResponseError(f"{what}: {n} records, more than the {bound} cells asked for "
                                    "(one per partner x code x period in the classic breakdown)", status=answer.status)
    if n == 0:
        return empty_records()
    try:
        frame = coerce_records(pd.DataFrame.from_records(data), source=what)
    except SchemaError as exc:
        raise ComtradeResponseError(f"schema-breaking answer: {exc}", status=answer.status) from None
    expect: dict[str, set] = {
        "typeCode": {query["typeCode"]}, "freqCode": {query["freqCode"]},
        "reporterCode": {int(query["reporterCode"])}, "flowCode": {query["flowCode"]},
        "period": set(_split(query["period"])), "partnerCode": {int(p) for p in _split(query["partnerCode"])},
        "cmdCode": set(_split(query["cmdCode"])), "partner2Code": {int(query["partner2Code"])},
        "customsCode": {query["customsCode"]}, "motCode": {int(query["motCode"])},
        "classificationCode": {edition},
    }
    for col, allowed in expect.items():
        bad = ~frame[col].isin(allowed)
        if bad.any():
            raise ComtradeResponseError(
                f"{what}: a record outside the query: {col}={frame.loc[bad, col].iloc[0]} "
                f"(asked for {', '.join(map(str, sorted(allowed, key=str)))[:200]})", status=answer.status)
    dup = frame.duplicated(KEY)
    if dup.any():
        row = frame.loc[dup].iloc[0]
        raise ComtradeResponseError(f"{what}: the same cell twice (partner {row['partnerCode']}, code "
                                    f"{row['cmdCode']}, period {row['period']})", status=answer.status)
    return frame


def availability(answer: Answer, *, freq: str, reporter: int, what: str) -> pd.DataFrame:
    """Data availability rows (``AVAILABILITY_COLUMNS``), one per period: the latest release of each."""
    data = envelope(answer, what)["data"]
    if not data:
        return pd.DataFrame(columns=AVAILABILITY_COLUMNS)
    frame = pd.DataFrame.from_records(data)
    for col in ("period", "lastReleased"):
        if col not in frame.columns:
            raise ComtradeResponseError(f"{what}: availability records lack {col!r}", status=answer.status)
    if "reporterCode" in frame.columns:
        frame = frame[pd.to_numeric(frame["reporterCode"], errors="coerce") == reporter]
    if "freqCode" in frame.columns:
        frame = frame[frame["freqCode"].astype(str) == freq]
    for col in AVAILABILITY_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame = frame[AVAILABILITY_COLUMNS].copy()
    frame["period"] = frame["period"].astype(str).str.strip()
    pattern = r"\d{6}" if freq == "M" else r"\d{4}"
    if not frame["period"].str.fullmatch(pattern).all():
        raise ComtradeResponseError(f"{what}: malformed period in availability records", status=answer.status)
    stamps = pd.to_datetime(frame["lastReleased"], errors="coerce", format="ISO8601")
    if stamps.isna().any():
        raise ComtradeResponseError(f"{what}: malformed lastReleased in availability records", status=answer.status)
    frame["_ts"] = stamps
    frame = frame.sort_values(["period", "_ts"]).drop_duplicates("period", keep="last")
    return frame.drop(columns="_ts").reset_index(drop=True)
