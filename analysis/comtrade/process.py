"""Stage 4 of a Comtrade request: judge an answer and turn it into the tidy record frame.

An answer is used only if it is the Comtrade envelope ``{"elapsedTime",
"count", "data": [...], "error"}`` with an empty ``error``, a ``count`` (the
API always sends one: without it a cut answer cannot be told from a whole
one) equal to the records given, fewer records than the endpoint's cap (as
many as the cap may be a cut answer), no more records than the plan row's
bound, every record inside the query (reporter, flow, frequency, periods,
partners, codes, the planned HS edition, the classic breakdown), no cell
twice, and every record valid for :func:`analysis.schema.coerce_records` and
plausible for :func:`analysis.validation.validate_records`. A data
availability answer that lists no period of the reporter is refused too:
with it released and unreleased periods cannot be told apart, and an empty
data answer would be stored as a complete "no data". Anything else is a
typed :class:`~.errors.ComtradeError` carrying the API's own message where it
sent one, never a silently shorter table.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ..schema import KEY, SchemaError, coerce_records, empty_records, frame_of_json_records
from ..validation import validate_records
from .errors import ComtradeAPIError, ComtradeEmptyError, ComtradeResponseError, ComtradeTruncatedError
from .perform import Answer

AVAILABILITY_COLUMNS = ["period", "classificationCode", "lastReleased", "totalRecords"]


def _not_json_constant(token: str) -> float:
    raise ValueError(f"{token} is not a JSON value")


def _said(doc: dict[str, Any]) -> str | None:
    """The API's own message in a body that is not a data envelope (``message``, ``Message``, ``statusCode``)."""
    for name in ("message", "Message", "title"):
        if doc.get(name):
            return str(doc[name])[:500]
    return None


def envelope(answer: Answer, what: str) -> dict[str, Any]:
    """The parsed JSON envelope of a 200 answer; malformed bodies, a non-empty ``error``, a missing or wrong
    ``count`` raise (see the module docstring)."""
    try:
        doc = json.loads(answer.body.decode("utf-8-sig"), parse_constant=_not_json_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:120]
        raise ComtradeResponseError(f"{what}: the answer is not valid JSON ({type(exc).__name__}: {detail})",
                                    status=answer.status) from None
    if isinstance(doc, dict) and doc.get("error") not in (None, "", [], {}):
        raise ComtradeAPIError(f"{what}: Comtrade answered 200 with an error; nothing was stored",
                               status=answer.status, api_message=str(doc["error"]))
    if not isinstance(doc, dict) or "data" not in doc:
        said = _said(doc) if isinstance(doc, dict) else None
        raise ComtradeResponseError(f"{what}: the answer is not a Comtrade envelope (no 'data')",
                                    status=answer.status, api_message=said)
    data = doc["data"]
    if data is None:
        data = []
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ComtradeResponseError(f"{what}: 'data' is not a list of records", status=answer.status)
    count = doc.get("count")
    if count is None:
        raise ComtradeResponseError(f"{what}: the envelope has no 'count' ({len(data)} records): Comtrade always "
                                    "sends one, and without it a cut answer cannot be told from a whole one; "
                                    "nothing was stored", status=answer.status)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ComtradeResponseError(f"{what}: the envelope's count {count!r} is not a number of records",
                                    status=answer.status)
    if count != len(data):
        cls = ComtradeTruncatedError if count > len(data) else ComtradeResponseError
        raise cls(f"{what}: the envelope counts {count} records but holds {len(data)}; nothing was stored",
                  status=answer.status)
    if answer.frame is not None and len(answer.frame) != len(data):
        raise ComtradeResponseError(f"{what}: comtradeapicall parsed {len(answer.frame)} records, the body holds "
                                    f"{len(data)}", status=answer.status)
    doc["data"] = data
    return doc


def _split(text: str) -> list[str]:
    return [t for t in str(text).split(",") if t]


def _areas(value: object) -> set[int] | None:
    """Area codes of a query field (one code or a comma list); None when the field was left out (every area)."""
    return None if value is None else {int(a) for a in _split(str(value))}


def records(answer: Answer, *, query: dict, bound: int, cap: int, edition: str | None, what: str,
            today: pd.Timestamp | None = None) -> pd.DataFrame:
    """The tidy record frame of a data call's answer (empty frame for no records); see the module docstring.

    A query without ``reporterCode`` or ``partnerCode`` asked for every area on that side (not checked);
    ``edition`` None accepts records in any HS edition (as many reporters report them). ``today`` (default:
    now) is the date after which a record's period is in the future.
    """
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
        frame = coerce_records(frame_of_json_records(data, what), source=what)
    except SchemaError as exc:
        raise ComtradeResponseError(f"schema-breaking answer: {exc}", status=answer.status) from None
    expect: dict[str, set | None] = {
        "typeCode": {query["typeCode"]}, "freqCode": {query["freqCode"]},
        "reporterCode": _areas(query.get("reporterCode")), "flowCode": {query["flowCode"]},
        "period": set(_split(query["period"])), "partnerCode": _areas(query.get("partnerCode")),
        "cmdCode": set(_split(query["cmdCode"])), "partner2Code": {int(query["partner2Code"])},
        "customsCode": {query["customsCode"]}, "motCode": {int(query["motCode"])},
        "classificationCode": None if edition is None else {edition},
    }
    for col, allowed in expect.items():
        if allowed is None:
            continue
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
    try:
        return validate_records(frame, source=what, today=today)
    except SchemaError as exc:
        raise ComtradeResponseError(f"implausible answer, nothing was stored: {exc}", status=answer.status) from None


def availability(answer: Answer, *, freq: str, reporter: int | None, what: str) -> pd.DataFrame:
    """Data availability rows (``AVAILABILITY_COLUMNS``), one per period: the latest release of each.

    An answer that lists no period (of ``reporter``, in ``freq``) raises ComtradeEmptyError (see the module
    docstring). ``reporter`` None (an answer for every reporter): one row per reporter and period, with ``reporterCode``
    (int) first.
    """
    columns = AVAILABILITY_COLUMNS if reporter is not None else ["reporterCode", *AVAILABILITY_COLUMNS]
    data = envelope(answer, what)["data"]
    whose = f"reporter {reporter}" if reporter is not None else "any reporter"
    empty = ComtradeEmptyError(f"{what}: Comtrade lists no released {freq} data for {whose}, so released and "
                               "unreleased periods cannot be told apart and nothing is stored (an outage would be "
                               "cached as 'no data'); rerun later", status=answer.status)
    if not data:
        raise empty
    try:
        frame = frame_of_json_records(data, what)
    except SchemaError as exc:
        raise ComtradeResponseError(str(exc), status=answer.status) from None
    for col in ("period", "lastReleased") if reporter is not None else ("reporterCode", "period", "lastReleased"):
        if col not in frame.columns:
            raise ComtradeResponseError(f"{what}: availability records lack {col!r}", status=answer.status)
    if "reporterCode" in frame.columns:
        code = pd.to_numeric(frame["reporterCode"], errors="coerce")
        frame = frame[code == reporter] if reporter is not None else frame[code.notna()].assign(
            reporterCode=code[code.notna()].astype("int64"))
    if "freqCode" in frame.columns:
        frame = frame[frame["freqCode"].astype(str) == freq]
    if frame.empty:
        raise empty
    for col in columns:
        if col not in frame.columns:
            frame[col] = None
    frame = frame[columns].copy()
    frame["period"] = frame["period"].astype(str).str.strip()
    pattern = r"\d{6}" if freq == "M" else r"\d{4}"
    if not frame["period"].str.fullmatch(pattern).all():
        raise ComtradeResponseError(f"{what}: malformed period in availability records", status=answer.status)
    stamps = pd.to_datetime(frame["lastReleased"], errors="coerce", format="ISO8601")
    if stamps.isna().any():
        raise ComtradeResponseError(f"{what}: malformed lastReleased in availability records", status=answer.status)
    frame["_ts"] = stamps
    keys = columns[:columns.index("period") + 1]
    frame = frame.sort_values([*keys, "_ts"]).drop_duplicates(keys, keep="last")
    return frame.drop(columns="_ts").reset_index(drop=True)
