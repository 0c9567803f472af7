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

``suppliers="all"`` (or a list of countries) fetches instead the data of
"who supplies the focal partner" (:mod:`analysis.suppliers`): every
reporter's (or the listed suppliers', always with the study's reporter)
exports to the focal partner, and the focal partner's own imports from them
(the mirror check; Belarus's end in 2021), through the same planner, store
and provenance (:func:`supplier_requests`). Both frequencies are planned for
every reporter, monthly and annual: which reporters publish monthly is not
known before asking, a plan that depends on the availability answer would
change its chunk ids whenever a reporter changes its publication, and the
annual calls cost little (with a key, a few calls for the whole range). The
analysis then uses a reporter's monthly records where it has any, its annual
ones otherwise. Records are accepted in the HS edition each reporter uses
(from 2022 the HS 2017 codes are asked for as well, for reporters still on
HS 2017); one availability call per frequency covers every reporter.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
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
from .comtrade.plan import ALL, CAPS, KEY_LENGTH, Request, build_plan, concat_plans
from .countries import area_name, resolve_countries
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
    reporters: str = ""
    n_reporters: int = 1
    as_reported: bool = False

    @classmethod
    def rows(cls, plan: pd.DataFrame) -> list[PlanRow]:
        """The plan's rows in call order."""
        return [cls(chunk_id=str(r["chunk_id"]), edition=str(r["edition"]), periods=str(r["periods"]),
                    partners=str(r["partners"]), n_partners=int(r["n_partners"]), n_codes=int(r["n_codes"]),
                    bound=int(r["bound"]), query=dict(r["query"]), reporters=str(r["reporters"]),
                    n_reporters=int(r["n_reporters"]), as_reported=bool(r["as_reported"]))
                for r in plan.to_dict("records")]

    @property
    def freq(self) -> str:
        """The chunk's frequency (``M`` or ``A``)."""
        return str(self.query["freqCode"])

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
    suppliers: str | None = None
    """For a supplier fetch: ``"all"`` or the suppliers asked for (comma-separated codes)."""

    @property
    def cap(self) -> int:
        """Most records one call of this fetch's endpoint returns."""
        return CAPS[self.endpoint]

    def __repr__(self) -> str:
        freq = "monthly" if self.freq == "M" else "annual"
        codes = ", ".join(f"{ed} {n}" for ed, n in self.codes.items() if n)
        quota = f"{self.quota_used}/{self.quota_limit}" if self.quota_limit is not None else f"{self.quota_used}"
        status = "complete" if self.complete else f"INCOMPLETE ({self.error})" if self.error else "incomplete"
        if self.suppliers is not None:
            who = "every reporter" if self.suppliers == ALL else f"{len(self.suppliers.split(','))} supplier(s)"
            focal = f"{area_name(self.partners[0])} ({self.partners[0]})"
            query = (f"{who}: exports to {focal} and {focal}'s imports from them, codes {codes}, monthly and "
                     f"annual {self.start} to {self.end or '?'} (end: {self.end_source})")
        else:
            query = (f"{area_name(self.reporter)} ({self.reporter}) flow {self.flow} to {len(self.partners)} "
                     f"partner(s), codes {codes}, {freq} {self.start} to {self.end or '?'} (end: {self.end_source})")
        lines = [
            f"FetchResult: {status}",
            f"  query    {query}",
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
               api_key: str | None = None, suppliers: str | Iterable[str | int] | None = None,
               **study_args: Unpack[StudyArgs]) -> pd.DataFrame:
    """The call plan of a fetch of ``study`` (or the study the keyword arguments make), one row per call and
    chunk (see :mod:`analysis.comtrade.plan`); no call is made.

    ``endpoint`` is ``"preview"`` or ``"keyed"``; None picks by whether a key
    is given (``api_key`` or ``$COMTRADE_API_KEY``). ``suppliers``: the plan
    of a supplier fetch instead (``"all"`` or a list; see :func:`fetch`).
    """
    key = _api_key(api_key)
    ep = endpoint or ("keyed" if key else "preview")
    if ep not in CAPS:
        raise InputError(f"endpoint {endpoint!r} is not 'preview' or 'keyed'")
    if end is None:
        raise InputError("plan_calls needs an end period")
    st = Study.resolve(study, **study_args)
    key_length = len(key) if key else KEY_LENGTH
    if suppliers is not None:
        return _supplier_plan(supplier_requests(st, suppliers=suppliers, start=start, end=end), endpoint=ep,
                              key_length=key_length)
    params = check_params(st, start=start, end=end)
    return build_plan(params, endpoint=ep, key_length=key_length)


def _as_store(store: Store | str | Path | None) -> Store:
    return store if isinstance(store, Store) else Store(store)


def _period_text(ts: pd.Timestamp, freq: str) -> str:
    return f"{ts:%Y}" if freq == "A" else f"{ts:%Y-%m}"


def _to_timestamp(period: str) -> pd.Timestamp:
    return pd.Timestamp(year=int(period[:4]), month=int(period[4:6]) if len(period) == 6 else 1, day=1)


def _stored_end(store: Store, params: Params) -> pd.Timestamp | None:
    """Latest period of the stored chunks of this reporter, flow and frequency (None if there are none)."""
    want = {"typeCode": "C", "clCode": "HS", "freqCode": params.freq, "reporterCode": str(params.reporter),
            "flowCode": params.flow}
    return _latest_stored(store, lambda q: all(str(q.get(k)) == v for k, v in want.items()), params.start)


def _latest_stored(store: Store, match: Callable[[dict[str, Any]], bool], start: pd.Timestamp) -> pd.Timestamp | None:
    """Latest period of the stored chunks whose query ``match`` accepts, if not before ``start`` (else None)."""
    latest: str | None = None
    for text in store.manifest()["query"]:
        try:
            q = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(q, dict) and match(q):
            periods = q.get("period", "")
            for per in periods if isinstance(periods, list) else str(periods).split(","):
                if per and (latest is None or per > latest):
                    latest = per
    if latest is None:
        return None
    ts = _to_timestamp(latest)
    return ts if ts >= start else None


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


def _stored_plan(store: Store, make_plan: Callable[[str], pd.DataFrame], endpoint: str, *, rebuild: bool,
                 result: FetchResult) -> tuple[pd.DataFrame, dict[str, bool]]:
    """The plan to fetch (``make_plan(endpoint)``) and which of its chunks the store holds; the other endpoint's plan
    instead when the store holds all of that one (unless ``rebuild``: a refresh or an update); recorded in
    ``result``."""
    plan = make_plan(endpoint)
    present = {c: store.has_chunk(c) for c in plan["chunk_id"]}
    if not (rebuild or all(present.values())):
        alt = _other_plan_if_stored(store, make_plan, endpoint)
        if alt is not None:
            plan, present = alt, dict.fromkeys(alt["chunk_id"], True)
            result.plan_endpoint = alt.attrs["endpoint"]
    result.plan, result.chunks_planned = plan, len(plan)
    return plan, present


def _other_plan_if_stored(store: Store, make_plan: Callable[[str], pd.DataFrame],
                          endpoint: str) -> pd.DataFrame | None:
    """The other endpoint's plan (``make_plan(endpoint)``) when the store already holds all of it, else None.

    A study fetched with a key and re-run without one (or the reverse) then
    makes no call: both plans cover the same cells.
    """
    other = "preview" if endpoint == "keyed" else "keyed"
    alt = make_plan(other)
    if len(alt) and all(store.has_chunk(c) for c in alt["chunk_id"]):
        log.info("the store holds this study as fetched from the %s endpoint: nothing to fetch", other)
        return alt
    return None


def _check_editions(rows: list[PlanRow], avail: pd.DataFrame, reporter: int) -> None:
    """ClassificationError when the reporter reports a planned period in another HS edition than the plan's."""
    edition = dict(zip(avail["period"], avail["classificationCode"], strict=True))
    for row in rows:
        if row.as_reported:
            continue
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
    reporters = "" if row.n_reporters == 1 and row.reporters != ALL else (
        "every reporter, " if row.reporters == ALL else f"{row.n_reporters} reporters {row.reporters}, ")
    partners = "every partner" if row.partners == ALL else f"{row.n_partners} partner(s) {row.partners}"
    return f"chunk {row.chunk_id} (periods {span}, {reporters}{partners}, {row.n_codes} {row.edition} code(s))"


def fetch(study: Study | None = None, *, start: str = "2017-01", end: str | None = None,
          store: Store | str | Path | None = None, refresh: bool = False, update: bool = False,
          api_key: str | None = None, progress: bool = True, accept_empty: bool = False,
          calls_per_minute: float | None = DEFAULT_CALLS_PER_MINUTE, daily_quota: int | None = None,
          max_attempts: int = 5, deadline: float | None = None, budget: float | None = None,
          transport: Transport | None = None, base_url: str | None = None,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
          suppliers: str | Iterable[str | int] | None = None,
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
    errors, ``deadline`` (seconds) each call from connecting to its last byte
    and ``budget`` (seconds) the whole fetch (see
    :class:`~analysis.comtrade.perform.ComtradeClient`). ``transport``,
    ``base_url``, ``clock`` and ``sleep`` are for
    tests. Raises InputError before any call for bad parameters, and a
    ComtradeError subclass for any failed call; its ``fetch_result`` says what
    was stored before the failure.

    ``suppliers="all"`` (or a list of countries): fetch who supplies the
    focal partner instead (every reporter's exports to it and its own imports;
    see the module docstring and :func:`supplier_requests`).
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
                            deadline=deadline, budget=budget, clock=clock, sleep=sleep)
    if suppliers is not None:
        return _fetch_suppliers(st, suppliers, client=client, store=store, start=start, end=end, refresh=refresh,
                                update=update, progress=progress, accept_empty=accept_empty,
                                key_length=len(key) if key else KEY_LENGTH)
    result = FetchResult(endpoint=client.endpoint, reporter=params.reporter, flow=params.flow, freq=params.freq,
                         partners=params.partners, codes={ed: len(c) for ed, c in params.codes.items()},
                         start=_period_text(params.start, params.freq), study=st, store_root=str(store.root),
                         quota_limit=client.quota.limit)
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
        key_length = len(key) if key else KEY_LENGTH
        plan, present = _stored_plan(
            store, lambda ep: build_plan(params, endpoint=ep,
                                         key_length=key_length if ep == client.endpoint else KEY_LENGTH),
            client.endpoint, rebuild=refresh or update, result=result)

        published = (None if not (update and avail is not None) else
                     lambda row: _published(_released(avail, row.period_list())))
        todo = _to_fetch(plan, present, store, result, refresh=refresh, published=published)
        log.info("fetch plan: %d chunk(s), %d to fetch, %d already stored", len(plan), len(todo),
                 result.chunks_skipped)
        if todo and avail is None:
            avail = _availability(client, params, result)
        if todo and avail is not None:
            _check_editions([r for r, _ in todo], avail, params.reporter)
        released_of = (lambda row: _released(avail, row.period_list())) if avail is not None else (lambda row: {})
        _write_chunks(client, store, todo, released_of, result, accept_empty=accept_empty, progress=progress)
        result.complete = True
    except ComtradeError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        exc.fetch_result = result
        raise
    finally:
        result.calls_made, result.retries, result.quota_used = client.calls_made, client.retries, client.quota.used
    log.info("fetch done: %d chunk(s) written, %d skipped, %d rows, %d call(s), quota used %s",
             result.chunks_written, result.chunks_skipped, result.rows_written, result.calls_made, client.quota)
    return result


def _to_fetch(plan: pd.DataFrame, present: Mapping[str, bool], store: Store, result: FetchResult, *, refresh: bool,
              published: Callable[[PlanRow], str | None] | None) -> list[tuple[PlanRow, Literal["new", "update"]]]:
    """The plan's chunks to fetch: those not stored (every one with ``refresh``) as new, and, when
    ``published(row)`` gives Comtrade's current publication date of a stored chunk (an update), those whose date
    differs from the stored one; the rest are counted in ``result.chunks_skipped``."""
    todo: list[tuple[PlanRow, Literal["new", "update"]]] = []
    for row in PlanRow.rows(plan):
        if refresh or not present[row.chunk_id]:
            todo.append((row, "new"))
        elif published is not None and not _same_date(published(row), store.chunk_published(row.chunk_id)):
            todo.append((row, "update"))
        else:
            result.chunks_skipped += 1
    return todo


def _write_chunks(client: ComtradeClient, store: Store, todo: list[tuple[PlanRow, Literal["new", "update"]]],
                  released_of: Callable[[PlanRow], dict[str, str]], result: FetchResult, *, accept_empty: bool,
                  progress: bool) -> None:
    """Make the calls of ``todo`` in order, judge each answer and store it as one chunk (``result`` counts).

    ``released_of(row)``: the release date of each of the row's periods that
    its reporters have released; an empty answer for released periods is an
    error unless ``accept_empty``.
    """
    left = None if client.quota.limit is None else client.quota.limit - client.quota.used
    if left is not None and len(todo) > left:
        log.warning("this fetch needs %d more calls, the daily quota leaves %d: it will stop there; "
                    "rerun tomorrow and it resumes", len(todo), left)
    bar = tqdm(total=len(todo), disable=None if progress else True, unit="call", desc="Comtrade fetch")
    try:
        for row, why in todo:
            what = _describe(row)
            answer = client.get_data(row.query, what=what)
            frame = process.records(answer, query=row.query, bound=row.bound, cap=client.cap,
                                    edition=None if row.as_reported else row.edition, what=what)
            released = released_of(row)
            if frame.empty and released and not accept_empty:
                who = f"reporter {row.reporters} has" if row.n_reporters == 1 and row.reporters != ALL else \
                    "the reporters asked for have"
                raise ComtradeEmptyError(
                    f"{what}: no records, although {who} released {len(released)} of its periods (Comtrade "
                    "answers some bad queries with 200 and no data); if these goods are truly not traded, rerun "
                    "with accept_empty=True", status=answer.status, chunk_id=row.chunk_id)
            store.write_chunk(frame, query=row.query, endpoint=client.endpoint_url(row.freq),
                              source=client.source, published=_published(released))
            result.chunks_written += 1
            result.chunks_empty += int(frame.empty)
            result.chunks_updated += int(why == "update")
            result.rows_written += len(frame)
            bar.update(1)
            bar.set_postfix_str(f"quota {client.quota}")
    finally:
        bar.close()


# ------------------------------------------------------------------ who supplies the focal partner

SupplierSpec = str | Iterable[str | int]
"""``"all"`` (every reporter) or the suppliers to ask for: Comtrade codes, ISO3 codes or names."""


def _supplier_areas(study: Study, suppliers: SupplierSpec) -> tuple[int, ...] | None:
    """None for every reporter, else the listed suppliers and the study's reporter (sorted)."""
    if isinstance(suppliers, str) and suppliers.strip().lower() == ALL:
        return None
    try:
        listed = resolve_countries(suppliers)
    except InputError as exc:
        raise InputError(f"suppliers: {exc}") from None
    if study.focal in listed:
        raise InputError(f"suppliers include the focal partner ({study.focal}): a country reports no exports "
                         "to itself; leave it out")
    return tuple(sorted({study.reporter, *listed}))


def supplier_requests(study: Study | None = None, *, suppliers: SupplierSpec = ALL, start: str = "2017-01",
                      end: str, **study_args: Unpack[StudyArgs]) -> list[Request]:
    """What a supplier fetch asks for (see the module docstring), as plan requests:

    ``suppliers M``/``suppliers A``: every reporter's (``suppliers="all"``:
    ``reporterCode`` left out) or the listed suppliers' exports (X) to the
    focal partner, monthly and annual; ``mirror M``/``mirror A``: the focal
    partner's imports (M) from every partner (or from the listed suppliers).
    Codes: the study's (default the registry), in the edition of each year,
    plus from 2022 the HS 2017 codes for reporters still on HS 2017; records
    are accepted in the edition each reporter uses. InputError before any call
    for bad input (the study, the range, unknown suppliers, a flow other than X).
    """
    st = Study.resolve(study, **study_args)
    if st.flow != "X":
        raise InputError(f"a supplier fetch asks who exports to the focal partner (flow X), not flow {st.flow!r}")
    areas = _supplier_areas(st, suppliers)
    monthly = check_params(st.replace(freq="M"), start=start, end=end)
    periods_m = tuple(monthly.periods())
    periods_a = tuple(dict.fromkeys(p[:4] for p in periods_m))
    h5 = set(monthly.codes.get("H5", ()))
    codes = {ed: tuple(sorted(set(c) | (h5 if ed != "H5" else set()))) for ed, c in monthly.codes.items()}
    focal = (st.focal,)
    return [Request(reporters=r, partners=q, flow=flow, freq=freq, codes=codes, periods=periods, as_reported=True,
                    part=f"{part} {freq}")
            for part, flow, r, q in (("suppliers", "X", areas, focal), ("mirror", "M", focal, areas))
            for freq, periods in (("M", periods_m), ("A", periods_a))]


def _supplier_plan(requests: list[Request], *, endpoint: str, key_length: int) -> pd.DataFrame:
    try:
        return concat_plans([build_plan(r, endpoint=endpoint, key_length=key_length) for r in requests])
    except ValueError as exc:  # no call fits the cap: every reporter x every partner on the preview endpoint
        raise InputError(f"the supplier fetch cannot be planned for the {endpoint} endpoint: {exc}") from None


def _released_by(avail: pd.DataFrame, row: PlanRow) -> dict[str, str]:
    """Latest release of each of the row's periods by any of its reporters (from an every-reporter availability)."""
    rows = avail[avail["period"].isin(row.period_list())]
    if row.reporters != ALL:
        rows = rows[rows["reporterCode"].isin([int(r) for r in row.reporters.split(",")])]
    if rows.empty:
        return {}
    stamps = pd.to_datetime(rows["lastReleased"], format="ISO8601")
    latest = rows.assign(_ts=stamps).sort_values("_ts").drop_duplicates("period", keep="last")
    return {str(p): str(d) for p, d in zip(latest["period"], latest["lastReleased"], strict=True)}


def _fetch_suppliers(st: Study, suppliers: SupplierSpec, *, client: ComtradeClient, store: Store, start: str,
                     end: str | None, refresh: bool, update: bool, progress: bool, accept_empty: bool,
                     key_length: int) -> FetchResult:
    """The supplier fetch of :func:`fetch` (its arguments checked): plan, resume, call, store."""
    areas = _supplier_areas(st, suppliers)
    codes = check_params(st.replace(freq="M"), start=start, end=end).codes
    result = FetchResult(endpoint=client.endpoint, reporter=st.reporter, flow="X", freq="M", partners=(st.focal,),
                         codes={ed: len(c) for ed, c in codes.items()}, start=start, study=st,
                         store_root=str(store.root), quota_limit=client.quota.limit,
                         suppliers=ALL if areas is None else ",".join(map(str, areas)))
    avail: dict[str, pd.DataFrame] = {}

    def availability(freq: str) -> pd.DataFrame:
        if freq not in avail:
            what = f"data availability of every reporter ({freq})"
            before = client.calls_made
            try:
                answer = client.get_availability(freq=freq, reporter=None, what=what)
            finally:
                result.availability_calls += client.calls_made - before
            avail[freq] = process.availability(answer, freq=freq, reporter=None, what=what)
        return avail[freq]

    def supplier_chunk(q: dict[str, Any]) -> bool:
        return (q.get("flowCode") == "X" and str(q.get("freqCode")) == "M" and str(q.get("partnerCode")) ==
                str(st.focal) and str(q.get("reporterCode")) != str(st.reporter))

    try:
        if end is None:
            first = _to_timestamp(start.replace("-", ""))
            stored = None if update else _latest_stored(store, supplier_chunk, first)
            if stored is not None:
                end, result.end_source = _period_text(stored, "M"), "store"
            else:
                listed = availability("M")
                if listed.empty:
                    raise ComtradeEmptyError("Comtrade lists no released monthly data for any reporter")
                end, result.end_source = _period_text(_to_timestamp(str(listed["period"].max())), "M"), "availability"
        result.end = end
        requests = supplier_requests(st, suppliers=suppliers, start=start, end=end)
        result.codes = {ed: len(c) for ed, c in requests[0].codes.items()}  # from 2022 the HS 2017 codes too
        plan, present = _stored_plan(
            store, lambda ep: _supplier_plan(requests, endpoint=ep,
                                             key_length=key_length if ep == client.endpoint else KEY_LENGTH),
            client.endpoint, rebuild=refresh or update, result=result)
        todo = _to_fetch(plan, present, store, result, refresh=refresh,
                         published=(lambda row: _published(_released_by(availability(row.freq), row)))
                         if update else None)
        log.info("supplier fetch plan: %d chunk(s), %d to fetch, %d already stored", len(plan), len(todo),
                 result.chunks_skipped)
        for freq in dict.fromkeys(row.freq for row, _ in todo):
            availability(freq)
        _write_chunks(client, store, todo, lambda row: _released_by(avail[row.freq], row), result,
                      accept_empty=accept_empty, progress=progress)
        result.complete = True
    except ComtradeError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        exc.fetch_result = result
        raise
    finally:
        result.calls_made, result.retries, result.quota_used = client.calls_made, client.retries, client.quota.used
    log.info("supplier fetch done: %d chunk(s) written, %d skipped, %d rows, %d call(s)", result.chunks_written,
             result.chunks_skipped, result.rows_written, result.calls_made)
    return result


__all__ = ["FetchResult", "fetch", "plan_calls", "supplier_requests"]
