"""Fetch UN Comtrade final data into the local store: resumable, repeatable offline, never silently short.

(The module is ``analysis.fetching`` so that the public function ``analysis.fetch`` does not share its name.)

:func:`fetch` takes the question as a :class:`~analysis.study.Study` (or the
same keyword arguments) and fetches its reporter's flow to ``study.partners``
(the focal partner and the comparison partners) for ``study.codes`` (empty:
the whole registry). It checks every parameter (no call is made for bad input), plans
the calls (:func:`plan_calls`, one row per call and per store chunk), makes
only the calls whose chunks the store lacks, judges every answer, and writes
each as one chunk. Hence:

- an interrupted fetch resumes: a rerun calls only the chunks still missing;
- a repeated fetch makes **zero** calls, also when the study was fetched with
  a key and is re-run without one or the reverse (``refresh=True`` fetches everything again);
- ``update=True`` asks the data availability endpoint for each period's
  latest release and fetches again only the chunks whose publication date
  changed (plus periods released since);
- a failed call is an error naming the chunk (periods, partners, codes), never a missing month.

Without a key the free preview endpoint is used (500 records per call); with
``api_key`` or ``$COMTRADE_API_KEY`` the keyed one (100,000 per call, 500
calls a day on the free subscription). The key never reaches the store, a
message or a log line.

``end=None`` means the latest released period: when the store already holds
chunks of this reporter, flow and frequency, the latest period they cover
(no call, so a re-run works offline); otherwise, or with ``update=True``, the
latest period the data availability endpoint lists for the reporter.

Every data call is checked against the data availability: an empty answer for
periods the reporter has released is an error (``accept_empty=True`` records
it as an empty chunk, for goods that are truly not traded); an empty answer
for periods not yet released is stored as an empty chunk, which ``update=True``
fetches again once they are released.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Unpack

import pandas as pd
from tqdm.auto import tqdm

from .comtrade import process
from .comtrade.errors import ComtradeClassificationError, ComtradeEmptyError, ComtradeError
from .comtrade.params import Params, check_params
from .comtrade.params import api_key as _api_key
from .comtrade.perform import DEFAULT_CALLS_PER_MINUTE, ComtradeClient, RetryPolicy, Transport
from .comtrade.plan import CAPS, KEY_LENGTH, build_plan
from .countries import area_name
from .errors import InputError
from .store import Store
from .study import Study, StudyArgs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanRow:
    """One row of a call plan, typed (the plan frame's columns the fetch reads)."""

    chunk_id: str
    edition: str
    periods: str
    partners: str
    n_partners: int
    n_codes: int
    bound: int
    query: dict[str, Any]

    @classmethod
    def rows(cls, plan: pd.DataFrame) -> list[PlanRow]:
        """The plan's rows in call order."""
        return [cls(chunk_id=str(r["chunk_id"]), edition=str(r["edition"]), periods=str(r["periods"]),
                    partners=str(r["partners"]), n_partners=int(r["n_partners"]), n_codes=int(r["n_codes"]),
                    bound=int(r["bound"]), query=dict(r["query"]))
                for r in plan.to_dict("records")]

    def period_list(self) -> list[str]:
        """The chunk's Comtrade periods (``"202201"``, ...)."""
        return self.periods.split(",")


@dataclass
class FetchResult:
    """What a fetch did: chunks planned, written, skipped; rows; API calls and quota used."""

    endpoint: str
    reporter: int
    flow: str
    freq: str
    partners: tuple[int, ...]
    codes: dict[str, int]
    start: str
    study: Study | None = field(default=None, repr=False)
    end: str | None = None
    end_source: str = "given"
    plan_endpoint: str | None = None  # the endpoint whose plan the store held, when it differs
    chunks_planned: int = 0
    chunks_written: int = 0
    chunks_empty: int = 0
    chunks_skipped: int = 0
    chunks_updated: int = 0
    rows_written: int = 0
    calls_made: int = 0
    availability_calls: int = 0
    retries: int = 0
    quota_used: int = 0
    quota_limit: int | None = None
    store_root: str = ""
    complete: bool = False
    error: str | None = None
    plan: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def cap(self) -> int:
        """Most records one call of this fetch's endpoint returns."""
        return CAPS[self.endpoint]

    def __repr__(self) -> str:
        freq = "monthly" if self.freq == "M" else "annual"
        codes = ", ".join(f"{ed} {n}" for ed, n in self.codes.items() if n)
        quota = f"{self.quota_used}/{self.quota_limit}" if self.quota_limit is not None else f"{self.quota_used}"
        status = "complete" if self.complete else f"INCOMPLETE ({self.error})" if self.error else "incomplete"
        lines = [
            f"FetchResult: {status}",
            f"  query    {area_name(self.reporter)} ({self.reporter}) flow {self.flow} to {len(self.partners)} "
            f"partner(s), codes {codes}, {freq} {self.start} to {self.end or '?'} (end: {self.end_source})",
            f"  endpoint {self.endpoint} (at most {self.cap:,} records per call)"
            + (f"; the store holds the study as planned for the {self.plan_endpoint} endpoint"
               if self.plan_endpoint else ""),
            f"  chunks   {self.chunks_planned} planned: {self.chunks_written} written ({self.chunks_empty} empty, "
            f"{self.chunks_updated} re-fetched as republished), {self.chunks_skipped} already in the store",
            f"  rows     {self.rows_written:,} written",
            f"  calls    {self.calls_made} made ({self.availability_calls} data availability, {self.retries} retries); "
            f"daily quota used in this session {quota}",
            f"  store    {self.store_root}",
        ]
        return "\n".join(lines)

    __str__ = __repr__


def plan_calls(study: Study | None = None, *, start: str = "2017-01", end: str, endpoint: str | None = None,
               api_key: str | None = None, **study_args: Unpack[StudyArgs]) -> pd.DataFrame:
    """The call plan of a fetch of ``study`` (or the study the keyword arguments make), one row per call and
    chunk (see :mod:`analysis.comtrade.plan`); no call is made.

    ``endpoint`` is ``"preview"`` or ``"keyed"``; None picks by whether a key
    is given (``api_key`` or ``$COMTRADE_API_KEY``).
    """
    key = _api_key(api_key)
    ep = endpoint or ("keyed" if key else "preview")
    if ep not in CAPS:
        raise InputError(f"endpoint {endpoint!r} is not 'preview' or 'keyed'")
    if end is None:
        raise InputError("plan_calls needs an end period")
    params = check_params(Study.resolve(study, **study_args), start=start, end=end)
    return build_plan(params, endpoint=ep, key_length=len(key) if key else KEY_LENGTH)


def _as_store(store: Store | str | Path | None) -> Store:
    return store if isinstance(store, Store) else Store(store)


def _period_text(ts: pd.Timestamp, freq: str) -> str:
    return f"{ts:%Y}" if freq == "A" else f"{ts:%Y-%m}"


def _to_timestamp(period: str) -> pd.Timestamp:
    return pd.Timestamp(year=int(period[:4]), month=int(period[4:6]) if len(period) == 6 else 1, day=1)


def _stored_end(store: Store, params: Params) -> pd.Timestamp | None:
    """Latest period of the stored chunks of this reporter, flow and frequency (None if there are none)."""
    manifest = store.manifest()
    latest: str | None = None
    want = {"typeCode": "C", "clCode": "HS", "freqCode": params.freq, "reporterCode": str(params.reporter),
            "flowCode": params.flow}
    for text in manifest["query"]:
        try:
            q = json.loads(text)
        except (TypeError, ValueError):
            continue
        if all(str(q.get(k)) == v for k, v in want.items()):
            periods = q.get("period", "")
            for per in periods if isinstance(periods, list) else str(periods).split(","):
                if per and (latest is None or per > latest):
                    latest = per
    if latest is None:
        return None
    ts = _to_timestamp(latest)
    return ts if ts >= params.start else None


def _availability(client: ComtradeClient, params: Params, result: FetchResult) -> pd.DataFrame:
    what = f"data availability of reporter {params.reporter} ({params.freq})"
    before = client.calls_made
    try:
        answer = client.get_availability(freq=params.freq, reporter=params.reporter, what=what)
    finally:
        result.availability_calls += client.calls_made - before
    return process.availability(answer, freq=params.freq, reporter=params.reporter, what=what)


def _released(avail: pd.DataFrame, periods: list[str]) -> dict[str, str]:
    """Latest release date of each of ``periods`` that the data availability lists (unreleased ones are absent)."""
    rows = avail[avail["period"].isin(periods)]
    return {str(p): str(d) for p, d in zip(rows["period"], rows["lastReleased"], strict=True)}


def _published(released: dict[str, str]) -> str | None:
    """A chunk's publication date: the latest release among its periods (None if none is released)."""
    if not released:
        return None
    return max(released.values(), key=lambda s: pd.Timestamp(s))


def _same_date(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return pd.Timestamp(a) == pd.Timestamp(b)


def _other_plan_if_stored(store: Store, params: Params, endpoint: str) -> pd.DataFrame | None:
    """The other endpoint's plan when the store already holds all of it, else None.

    A study fetched with a key and re-run without one (or the reverse) then
    makes no call: both plans cover the same cells.
    """
    other = "preview" if endpoint == "keyed" else "keyed"
    alt = build_plan(params, endpoint=other, key_length=KEY_LENGTH)
    if len(alt) and all(store.has_chunk(c) for c in alt["chunk_id"]):
        log.info("the store holds this study as fetched from the %s endpoint: nothing to fetch", other)
        return alt
    return None


def _check_editions(rows: list[PlanRow], avail: pd.DataFrame, reporter: int) -> None:
    """ClassificationError when the reporter reports a planned period in another HS edition than the plan's."""
    edition = dict(zip(avail["period"], avail["classificationCode"], strict=True))
    for row in rows:
        for per in row.period_list():
            reported = edition.get(per)
            if isinstance(reported, str) and reported and reported != row.edition:
                raise ComtradeClassificationError(
                    f"reporter {reporter} reports period {per} in {reported}, but the plan asks for {row.edition} "
                    f"codes; the registry's HS 2017/HS 2022 split (H5 to 2021, H6 from 2022) does not fit this "
                    "reporter")


def _describe(row: PlanRow) -> str:
    """The chunk as error messages and logs name it: id, periods, partners, codes."""
    periods = row.period_list()
    span = periods[0] if len(periods) == 1 else f"{periods[0]}-{periods[-1]}"
    return (f"chunk {row.chunk_id} (periods {span}, {row.n_partners} partner(s) {row.partners}, "
            f"{row.n_codes} {row.edition} code(s))")


def fetch(study: Study | None = None, *, start: str = "2017-01", end: str | None = None,
          store: Store | str | Path | None = None, refresh: bool = False, update: bool = False,
          api_key: str | None = None, progress: bool = True, accept_empty: bool = False,
          calls_per_minute: float | None = DEFAULT_CALLS_PER_MINUTE, daily_quota: int | None = None,
          max_attempts: int = 5, transport: Transport | None = None, base_url: str | None = None,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
          **study_args: Unpack[StudyArgs]) -> FetchResult:
    """Fetch Comtrade final data of ``study`` into the store (see the module docstring); return what was done.

    The study (default: :class:`~analysis.study.Study`'s defaults; keyword
    arguments such as ``focal=``, ``controls=``, ``reporter=``, ``codes=``
    replace its fields) gives the reporter, flow, frequency, codes and the
    partners, ``study.partners``: the focal partner and the comparison
    partners (``controls=()`` or ``"none"``: the focal partner only). By
    default China (156) exports (X) to Belarus and the 12 comparison partners,
    every registry code in the edition China reports per year, monthly from
    2017-01 to the latest period. ``calls_per_minute`` throttles calls
    (default 10), ``daily_quota`` caps the calls of this session (default 500
    with a key), ``max_attempts`` bounds retries of 429, 5xx and network
    errors. ``transport``, ``base_url``, ``clock`` and ``sleep`` are for
    tests. Raises InputError before any call for bad parameters, and a
    ComtradeError subclass for any failed call; its ``fetch_result`` says what
    was stored before the failure.
    """
    st = Study.resolve(study, **study_args)
    key = _api_key(api_key)
    params = check_params(st, start=start, end=end)
    if max_attempts < 1:
        raise InputError("max_attempts must be at least 1")
    if daily_quota is not None and daily_quota < 1:
        raise InputError("daily_quota must be at least 1")
    if calls_per_minute is not None and calls_per_minute < 0:
        raise InputError("calls_per_minute must not be negative")
    store = _as_store(store)
    client = ComtradeClient(key, transport=transport, base_url=base_url, calls_per_minute=calls_per_minute,
                            daily_quota=daily_quota, retry=RetryPolicy(max_attempts=max_attempts),
                            clock=clock, sleep=sleep)
    result = FetchResult(endpoint=client.endpoint, reporter=params.reporter, flow=params.flow, freq=params.freq,
                         partners=params.partners, codes={ed: len(c) for ed, c in params.codes.items()},
                         start=_period_text(params.start, params.freq), study=st, store_root=str(store.root),
                         quota_limit=client.quota.limit)
    bar = None
    try:
        avail: pd.DataFrame | None = None
        if params.end is None:
            stored = None if update else _stored_end(store, params)
            if stored is not None:
                params, result.end_source = replace(params, end=stored), "store"
            else:
                avail = _availability(client, params, result)
                if avail.empty:
                    raise ComtradeEmptyError(f"Comtrade lists no released {params.freq} data for reporter "
                                             f"{params.reporter}")
                latest = _to_timestamp(str(avail["period"].max()))
                if latest < params.start:
                    raise ComtradeEmptyError(f"the latest period released by reporter {params.reporter} is "
                                             f"{_period_text(latest, params.freq)}, before start {result.start}")
                params, result.end_source = replace(params, end=latest), "availability"
        elif update:
            avail = _availability(client, params, result)
        assert params.end is not None  # given, or set above
        result.end = _period_text(params.end, params.freq)
        plan = build_plan(params, endpoint=client.endpoint, key_length=len(key) if key else KEY_LENGTH)
        present = {c: store.has_chunk(c) for c in plan["chunk_id"]}
        if not (refresh or update or all(present.values())):
            alt = _other_plan_if_stored(store, params, client.endpoint)
            if alt is not None:
                plan, present = alt, dict.fromkeys(alt["chunk_id"], True)
                result.plan_endpoint = alt.attrs["endpoint"]
        result.plan, result.chunks_planned = plan, len(plan)

        todo: list[tuple[PlanRow, Literal["new", "update"]]] = []
        for row in PlanRow.rows(plan):
            if refresh or not present[row.chunk_id]:
                todo.append((row, "new"))
            elif update and avail is not None:
                current = _published(_released(avail, row.period_list()))
                if not _same_date(current, store.chunk_published(row.chunk_id)):
                    todo.append((row, "update"))
                else:
                    result.chunks_skipped += 1
            else:
                result.chunks_skipped += 1
        log.info("fetch plan: %d chunk(s), %d to fetch, %d already stored", len(plan), len(todo),
                 result.chunks_skipped)
        if todo and avail is None:
            avail = _availability(client, params, result)
        if todo and avail is not None:
            _check_editions([r for r, _ in todo], avail, params.reporter)
        left = None if client.quota.limit is None else client.quota.limit - client.quota.used
        if left is not None and len(todo) > left:
            log.warning("this fetch needs %d more calls, the daily quota leaves %d: it will stop there; "
                        "rerun tomorrow and it resumes", len(todo), left)

        bar = tqdm(total=len(todo), disable=None if progress else True, unit="call", desc="Comtrade fetch")
        for row, why in todo:
            what = _describe(row)
            answer = client.get_data(row.query, what=what)
            frame = process.records(answer, query=row.query, bound=row.bound, cap=client.cap, edition=row.edition,
                                    what=what)
            released = _released(avail, row.period_list()) if avail is not None else {}  # never None here
            if frame.empty and released and not accept_empty:
                raise ComtradeEmptyError(
                    f"{what}: no records, although reporter {params.reporter} has released "
                    f"{len(released)} of its periods (Comtrade answers some bad queries with 200 and no data); "
                    "if these goods are truly not traded, rerun with accept_empty=True", status=answer.status,
                    chunk_id=row.chunk_id)
            store.write_chunk(frame, query=row.query, endpoint=client.endpoint_url(params.freq),
                              source=client.source, published=_published(released))
            result.chunks_written += 1
            result.chunks_empty += int(frame.empty)
            result.chunks_updated += int(why == "update")
            result.rows_written += len(frame)
            bar.update(1)
            bar.set_postfix_str(f"quota {client.quota}")
        result.complete = True
    except ComtradeError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        exc.fetch_result = result
        raise
    finally:
        if bar is not None:
            bar.close()
        result.calls_made, result.retries, result.quota_used = client.calls_made, client.retries, client.quota.used
    log.info("fetch done: %d chunk(s) written, %d skipped, %d rows, %d call(s), quota used %s",
             result.chunks_written, result.chunks_skipped, result.rows_written, result.calls_made, client.quota)
    return result


__all__ = ["FetchResult", "fetch", "plan_calls"]
