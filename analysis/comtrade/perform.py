"""Stage 3 of a Comtrade request: perform one planned call through comtradeapicall, safely.

comtradeapicall 1.3.2 (pinned) builds each request itself (endpoint, parameter
names, the key as the ``subscription-key`` query parameter) and then hides
what a careful fetch needs: on a non-200 it prints the body and returns None
(the status is lost), on a network error it prints urllib3's message (which
quotes the URL, key included) and returns None, it ignores a non-empty
``error`` in a 200, a malformed JSON body raises a bare ``JSONDecodeError``,
its multi-period helpers (``_getFinalData`` ...) concatenate per-period
results so a failed period silently vanishes, ``getFinalData(None, ...)``
silently uses the preview endpoint, and every call makes a fresh
``urllib3.PoolManager()`` whose default retry policy sleeps and retries 429s
on its own (spending quota unseen).

So each call here goes through the single-request functions only
(``previewFinalData``/``getFinalData``, ``_getFinalDataAvailability``/
``getFinalDataAvailability``), one call per plan row; sees the HTTP status,
headers and raw body of that one request through the seam below; checks the
endpoint actually used against the one intended; and turns every failure into
a typed :class:`~.errors.ComtradeError`. Retries are ours: bounded,
exponential, honouring the wait the API names, only for errors that can pass.
A client-side throttle spaces calls, and a counter shows the calls used
against the daily quota.

The seam (design (a): one permanent shim, the recorder in a context variable).
comtradeapicall looks up ``urllib3.PoolManager`` on its modules' global
``urllib3`` at call time, its only seam. At import of this module that global
of ``PreviewGet`` and ``DataAvailability`` is replaced once (idempotently) by
:class:`Urllib3Seam`, a stand-in for the urllib3 module: every attribute is
urllib3's own, except that ``PoolManager``/``ProxyManager`` return the
recorder of the current context when one of our calls is running in it (the
recorder is a :class:`contextvars.ContextVar`, set for the duration of that
call in its own thread or task) and otherwise real urllib3's, built with the
same arguments. So a comtradeapicall call made by anyone else, in any thread,
goes to real urllib3 unchanged, and our calls need no lock and no swap.
comtradeapicall prints only on its failure paths; the recorder keeps the
exchange and, for a non-200 or a transport error, stops comtradeapicall with
a private exception before it reaches those prints, so nothing has to be
captured and ``sys.stdout`` is never touched (another thread's prints stay
its own). A 200 goes back to comtradeapicall, which parses it as usual.

Why (a) rather than building the URL ourselves (b): comtradeapicall stays
the code that builds and sends every real request (the manifest's ``source``
says so truthfully), its answer parsing stays as a cross-check of the body,
and a comtradeapicall upgrade that changes the endpoint or the number of
requests is caught on the real call (endpoint check, one exchange per call),
not only in a parity test. The cost is one attribute of two comtradeapicall
modules replaced for the life of the process, with unchanged behaviour for
every caller outside our context.

The same transport seam lets tests point the client at a local HTTP server
(``base_url``) with real urllib3 and real comtradeapicall in between.

Deadlines. urllib3's read timeout applies to each read of the socket, so a
server that sends its headers and then one byte every few seconds never
trips it. Every call therefore has an overall *deadline* (connect, headers
and body; default :data:`DEFAULT_DEADLINE`): a :class:`Deadline` timer shuts
down the sockets of the call's connections when it passes (the connections of
:func:`default_transport` register with the running call's deadline), so a
blocked read returns at once, and an answer completed after the deadline is
refused too. The whole client has a time *budget* (default
:data:`DEFAULT_BUDGET`, measured on the client's clock and including the
throttle's and the backoff's waits); a call or a wait that would overrun it
ends the fetch with :class:`~.errors.ComtradeBudgetError` (what was stored
stays stored; a rerun resumes).
"""
from __future__ import annotations

import contextvars
import json
import logging
import math
import re
import socket
import threading
import time
import types
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import urlencode, urlsplit

import comtradeapicall
import comtradeapicall.DataAvailability as _ca_availability
import comtradeapicall.PreviewGet as _ca_get
import pandas as pd
import urllib3
import urllib3.connection

from ..errors import InputError
from .errors import (
    ComtradeAuthError,
    ComtradeBudgetError,
    ComtradeDeadlineError,
    ComtradeError,
    ComtradeNetworkError,
    ComtradeQuotaError,
    ComtradeRateLimitError,
    ComtradeRequestError,
    ComtradeServerError,
)
from .plan import AVAILABILITY_PATHS, BASE_URL, CAPS, PATHS, request_fields
from .redact import redact, register_secret

log = logging.getLogger("analysis.comtrade")

DEFAULT_CALLS_PER_MINUTE = 10.0
DEFAULT_DAILY_QUOTA = 500
"""Calls per day of Comtrade's free keyed subscription (configurable)."""
DEFAULT_DEADLINE = 300.0
"""Seconds one call may take from connecting to the last byte of its answer (a keyed answer of 100,000
records, tens of MB, arrives well within it on an ordinary connection)."""
DEFAULT_BUDGET = 3 * 3600.0
"""Seconds a whole fetch may take, waits included: the default study's 725 preview calls at the default
throttle take about 73 minutes, so the default leaves room for retries and stops a fetch stuck in them."""
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 120.0
"""Per-connect and per-read timeouts (comtradeapicall's own read timeout), both cut to what the deadline leaves."""

_WAIT = re.compile(r"(?i)try again in\s+(\d+(?:\.\d+)?)\s*second")
_QUOTA = re.compile(r"(?i)quota")
_TAGS = re.compile(r"<[^>]+>")


class Response(Protocol):
    """What the client reads of an HTTP answer (urllib3's ``HTTPResponse`` has it)."""

    status: int
    headers: Mapping[str, str]
    data: bytes


class Transport(Protocol):
    """What comtradeapicall calls on its pool manager: ``request(method, url, fields=..., timeout=...)``."""

    def request(self, method: str, url: str, fields: dict[str, Any] | None = None, **kw: Any) -> Any: ...


class _DeadlinePassed(Exception):
    """The exchange's error when its call's deadline passed before a complete answer (its text says which)."""


class Deadline:
    """The overall deadline of one call, active in the current context while the call runs.

    When it passes, a timer thread shuts down the sockets of the connections
    the call registered (:meth:`watch`), so a read blocked on a server that
    trickles bytes returns at once instead of after each per-read timeout.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._connections: list[object] = []
        self._finished = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._token: contextvars.Token[Deadline | None] | None = None

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self.end - time.monotonic())

    def passed(self) -> bool:
        return self.expired or self.remaining() <= 0

    def failure(self) -> _DeadlinePassed:
        return _DeadlinePassed(f"no complete answer within the call's deadline of {self.seconds:g} s "
                               "(the server is stalled or too slow)")

    def watch(self, connection: object) -> None:
        """Shut ``connection``'s socket down when the deadline passes (at once if it has)."""
        with self._lock:
            if self._finished:
                return
            self._connections.append(connection)
            if self.expired:
                _shut(connection)

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for connection in self._connections:
                _shut(connection)

    def __enter__(self) -> Deadline:
        self._token = _DEADLINE.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._finished = True
            self._connections.clear()
        self._timer.cancel()
        if self._token is not None:
            _DEADLINE.reset(self._token)


_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("tradeflows_comtrade_deadline",
                                                                          default=None)
"""The deadline of the call running in this context (thread or task), None outside our calls."""


def _shut(connection: object) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _watch(connection: object) -> None:
    deadline = _DEADLINE.get()
    if deadline is not None:
        deadline.watch(connection)


class _Watched:
    """Mixin for urllib3 connections: registered with the running call's :class:`Deadline` before it connects or
    sends."""

    def connect(self) -> None:
        _watch(self)
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kw: Any) -> None:
        _watch(self)
        super().request(*args, **kw)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    """urllib3's HTTP connection, watched by the call's deadline."""


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    """urllib3's HTTPS connection, watched by the call's deadline."""


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def default_transport() -> Transport:
    """A urllib3 pool that never retries or sleeps by itself (retries are the client's, counted and visible) and
    whose connections a call's :class:`Deadline` can cut."""
    retries = urllib3.Retry(total=0, connect=0, read=0, status=0, other=0, redirect=False,
                            respect_retry_after_header=False, raise_on_status=False)
    pool = urllib3.PoolManager(retries=retries)
    pool.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
    return cast(Transport, pool)


@dataclass
class Exchange:
    """One HTTP request as comtradeapicall made it, and its answer (key redacted from ``url``)."""

    url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: BaseException | None = None


class _Stopped(Exception):
    """Raised by the recorder through comtradeapicall after a failed exchange, so it prints nothing.

    Its message holds no URL (hence no key), should a comtradeapicall version catch and print it.
    """


class _Recorder:
    """Stands in for urllib3's PoolManager inside comtradeapicall: forwards to the transport, keeps the exchange.

    The request's timeouts are cut to what the call's deadline leaves, and an
    answer that completes after the deadline is recorded as a failure.
    """

    def __init__(self, transport: Transport, base_url: str | None, deadline: Deadline | None = None) -> None:
        self.transport, self.base_url = transport, base_url.rstrip("/") if base_url else None
        self.deadline = deadline
        self.exchanges: list[Exchange] = []

    def request(self, method: str, url: str, fields: dict[str, Any] | None = None, **kw: Any) -> Any:
        full = f"{url}?{urlencode(fields)}" if fields else url
        ex = Exchange(url=redact(full))
        self.exchanges.append(ex)
        target = url
        if self.base_url and url.startswith(BASE_URL):
            target = self.base_url + url[len(BASE_URL):]
        deadline = self.deadline
        if deadline is not None:
            left = deadline.remaining()
            if left <= 0:
                ex.error = deadline.failure()
                raise _Stopped("the deadline passed; tradeflows judges it")
            kw["timeout"] = urllib3.Timeout(connect=min(CONNECT_TIMEOUT, left), read=min(READ_TIMEOUT, left))
        try:
            resp = cast(Response, self.transport.request(method, target, fields=fields, **kw))
        except Exception as exc:
            ex.error = deadline.failure() if deadline is not None and deadline.passed() else exc
            raise _Stopped("the request failed; tradeflows judges it") from None
        if deadline is not None and deadline.passed():  # e.g. a body without length, cut off by the deadline
            ex.error = deadline.failure()
            raise _Stopped("the deadline passed; tradeflows judges it")
        ex.status = int(resp.status)
        ex.headers = {str(k): str(v) for k, v in dict(resp.headers).items()}
        ex.body = bytes(resp.data or b"")
        if ex.status != 200:
            raise _Stopped(f"HTTP {ex.status}; tradeflows judges it")
        return resp


_ACTIVE: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar("tradeflows_comtrade_recorder",
                                                                           default=None)
"""The recorder of the call running in this context (thread or task), None outside our calls."""


class Urllib3Seam(types.ModuleType):
    """Stand-in for the ``urllib3`` module inside comtradeapicall: the recorder of the current context, else urllib3.

    Attributes other than the two pool managers are urllib3's own (``exceptions``, ...).
    """

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__("urllib3", "urllib3 as comtradeapicall sees it (tradeflows seam)")
        self.real = real

    def PoolManager(self, *args: Any, **kw: Any) -> Any:  # noqa: N802 (urllib3's name)
        recorder = _ACTIVE.get()
        return recorder if recorder is not None else self.real.PoolManager(*args, **kw)

    def ProxyManager(self, *args: Any, **kw: Any) -> Any:  # noqa: N802 (urllib3's name)
        recorder = _ACTIVE.get()
        return recorder if recorder is not None else self.real.ProxyManager(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


SEAM_MODULES = (_ca_get, _ca_availability)
"""The comtradeapicall modules whose functions the client calls."""


def install_seam() -> None:
    """Put one :class:`Urllib3Seam` in place of ``urllib3`` in :data:`SEAM_MODULES` (idempotent, never nested)."""
    for mod in SEAM_MODULES:
        current = getattr(mod, "urllib3", urllib3)
        if type(current) is Urllib3Seam:
            continue
        mod.urllib3 = Urllib3Seam(getattr(current, "real", current))


install_seam()


class Throttle:
    """Spaces calls at least ``60 / calls_per_minute`` seconds apart (0 or None: no spacing)."""

    def __init__(self, calls_per_minute: float | None = DEFAULT_CALLS_PER_MINUTE, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if calls_per_minute is not None and calls_per_minute < 0:
            raise ValueError("calls_per_minute must be positive")
        self.interval = 60.0 / calls_per_minute if calls_per_minute else 0.0
        self.clock, self.sleep = clock, sleep
        self._last: float | None = None

    def wait(self) -> float:
        """Sleep until the next call may go; return the clock's time of that call."""
        if self._last is not None and self.interval:
            gap = self.interval - (self.clock() - self._last)
            if gap > 0:
                self.sleep(gap)
        self._last = self.clock()
        return self._last


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff: attempt k waits ``base * factor**(k-1)`` seconds,
    or the wait the API names; a named wait longer than ``max_wait`` is not waited for."""

    max_attempts: int = 5
    base_delay: float = 5.0
    factor: float = 2.0
    max_wait: float = 600.0

    def delay(self, attempt: int, named: float | None) -> float:
        if named is not None:
            return float(named)
        return min(self.base_delay * self.factor ** (attempt - 1), self.max_wait)


class QuotaCounter:
    """Calls used in this session against a daily quota (None: no known quota, only counted)."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.used = limit, 0

    def take(self) -> None:
        if self.limit is not None and self.used >= self.limit:
            raise ComtradeQuotaError(
                f"daily quota of {self.limit} calls used up in this session; rerun tomorrow (the fetch resumes)")
        self.used += 1

    def __str__(self) -> str:
        return f"{self.used}/{self.limit}" if self.limit is not None else f"{self.used}"


@dataclass
class Answer:
    """A 200 answer: raw body (parsed later), comtradeapicall's own frame, the redacted URL."""

    status: int
    body: bytes
    url: str
    frame: pd.DataFrame | None
    attempts: int


def _api_message(body: bytes, note: str = "") -> str | None:
    """The API's message from an error body (APIM ``message``, ``errorObject``, ``error``) or its text."""
    text = body.decode("utf-8", "replace").strip() if body else note.strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for path in (("message",), ("errorObject", "errorMessage"), ("error",), ("title",)):
            val: Any = doc
            for k in path:
                val = val.get(k) if isinstance(val, dict) else None
            if val:
                return redact(str(val))[:500]
    text = " ".join(_TAGS.sub(" ", text).split())
    return redact(text)[:500] or None


def _named_wait(headers: dict[str, str], message: str | None) -> float | None:
    if message and (m := _WAIT.search(message)):
        return float(m.group(1))
    for k, v in headers.items():
        if k.lower() == "retry-after" and v.strip().isdigit():
            return float(v.strip())
    return None


def classify(ex: Exchange, note: str, what: str) -> ComtradeError:
    """The typed error for a failed exchange (status != 200, or no answer); ``note`` stands in for an empty body."""
    if isinstance(ex.error, _DeadlinePassed):
        return ComtradeDeadlineError(f"{what}: {ex.error}")
    if ex.status is None:
        reason = type(ex.error).__name__ if ex.error is not None else "no request made"
        detail = redact(str(ex.error)) if ex.error is not None else redact(note)
        return ComtradeNetworkError(f"{what}: no answer from Comtrade ({reason}: {detail[:300]})")
    msg = _api_message(ex.body, note)
    st = ex.status
    if st == 429:
        wait = _named_wait(ex.headers, msg)
        return ComtradeRateLimitError(f"{what}: rate limit", status=st, api_message=msg, wait=wait)
    if st == 403 and msg and _QUOTA.search(msg):
        return ComtradeQuotaError(f"{what}: Comtrade's call quota is used up; rerun later (the fetch resumes)",
                                  status=st, api_message=msg)
    if st in (401, 403):
        return ComtradeAuthError(f"{what}: the subscription key was refused (check COMTRADE_API_KEY)",
                                 status=st, api_message=msg)
    if st >= 500:
        return ComtradeServerError(f"{what}: Comtrade server error", status=st, api_message=msg)
    return ComtradeRequestError(f"{what}: Comtrade refused the request", status=st, api_message=msg)


class ComtradeClient:
    """Performs single Comtrade calls through comtradeapicall with retries, throttle and a quota count.

    ``api_key`` None means the free preview endpoints (record cap 500); a key
    means the keyed ones (cap 100,000). ``deadline`` (seconds, default
    :data:`DEFAULT_DEADLINE`) bounds each call, ``budget`` (seconds, default
    :data:`DEFAULT_BUDGET`) all calls and waits of this client together.
    ``transport`` (anything with urllib3's ``request`` method) and ``base_url``
    (to replace ``https://comtradeapi.un.org``) exist for tests;
    ``clock``/``sleep`` drive the throttle, the backoff and the budget.
    """

    def __init__(self, api_key: str | None = None, *, transport: Transport | None = None,
                 base_url: str | None = None, calls_per_minute: float | None = DEFAULT_CALLS_PER_MINUTE,
                 daily_quota: int | None = None, retry: RetryPolicy | None = None,
                 deadline: float | None = None, budget: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.deadline = _seconds(deadline, DEFAULT_DEADLINE, "deadline")
        self.budget = _seconds(budget, DEFAULT_BUDGET, "budget")
        self._key = api_key or None
        register_secret(self._key)
        self.endpoint = "keyed" if self._key else "preview"
        self.cap = CAPS[self.endpoint]
        self.transport: Transport = transport if transport is not None else default_transport()
        self.base_url = base_url
        self.throttle = Throttle(calls_per_minute, clock=clock, sleep=sleep)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self._started = clock()
        limit = daily_quota if daily_quota is not None else (DEFAULT_DAILY_QUOTA if self._key else None)
        self.quota = QuotaCounter(limit)
        self.calls_made = 0
        self.retries = 0

    def __repr__(self) -> str:  # never shows the key
        return f"ComtradeClient(endpoint={self.endpoint!r}, calls_made={self.calls_made}, quota={self.quota})"

    @property
    def source(self) -> str:
        fn = "getFinalData" if self._key else "previewFinalData"
        return f"UN Comtrade API via comtradeapicall {_version()} {fn}"

    def endpoint_url(self, freq: str, *, availability: bool = False) -> str:
        """The endpoint URL (no query, no key) the calls of this client use."""
        paths = AVAILABILITY_PATHS if availability else PATHS
        return BASE_URL + paths[self.endpoint].format(freq=freq)

    # ------------------------------------------------------------------ the calls

    def get_data(self, query: dict, *, what: str = "data call") -> Answer:
        """One data call for a plan row's ``query`` (comtradeapicall's single-period-string function)."""
        f = request_fields(query, cap=self.cap, key=None)
        args = (query["typeCode"], query["freqCode"], query["clCode"], query["period"], query["reporterCode"],
                query["cmdCode"], query["flowCode"], query["partnerCode"], query["partner2Code"],
                query["customsCode"], query["motCode"])
        kwargs = dict(maxRecords=f["maxRecords"], format_output=None, aggregateBy=None,
                      breakdownMode=f["breakdownMode"], countOnly=None, includeDesc=True)
        if self._key:
            call = lambda: comtradeapicall.getFinalData(self._key, *args, **kwargs)  # noqa: E731
        else:
            call = lambda: comtradeapicall.previewFinalData(*args, **kwargs)  # noqa: E731
        return self._with_retries(call, self.endpoint_url(query["freqCode"]), what)

    def get_availability(self, *, freq: str, reporter: int | None, what: str = "data availability call") -> Answer:
        """The data availability (getDa) of a reporter (None: every reporter) for every period of ``freq``."""
        if self._key:
            call = lambda: comtradeapicall.getFinalDataAvailability(self._key, "C", freq, "HS", None, reporter)  # noqa: E731
        else:
            call = lambda: comtradeapicall._getFinalDataAvailability("C", freq, "HS", None, reporter)  # noqa: E731
        return self._with_retries(call, self.endpoint_url(freq, availability=True), what)

    def budget_left(self, now: float | None = None) -> float:
        """Seconds of the budget left at ``now`` (default: the clock's time; 0 once spent)."""
        return max(0.0, self.budget - ((self.clock() if now is None else now) - self._started))

    def _budget_spent(self, what: str, why: str) -> ComtradeBudgetError:
        return ComtradeBudgetError(f"{what}: {why}; the fetch's time budget of {self.budget:g} s is spent: what was "
                                   "stored stays stored, rerun (with a larger --budget) to resume")

    def _with_retries(self, call: Callable[[], Any], endpoint: str, what: str) -> Answer:
        for attempt in range(1, self.retry.max_attempts + 1):
            left = self.budget_left(self.throttle.wait())
            if left <= 0:
                raise self._budget_spent(what, "not called")
            self.quota.take()
            self.calls_made += 1
            log.info("Comtrade call %d (quota used %s): %s", self.calls_made, self.quota, what)
            seconds = min(self.deadline, left)
            try:
                answer = self._once(call, endpoint, what, seconds)
                answer.attempts = attempt
                return answer
            except ComtradeDeadlineError as exc:
                if seconds < self.deadline:
                    raise self._budget_spent(what, f"no complete answer in the {seconds:.0f} s left") from None
                failure: ComtradeError = exc
            except ComtradeError as exc:
                failure = exc
            if not failure.retryable or attempt == self.retry.max_attempts:
                if failure.retryable:
                    failure.args = (f"{failure.args[0]} [gave up after {attempt} attempts]",)
                raise failure
            delay = self.retry.delay(attempt, failure.wait)
            if delay > self.retry.max_wait:
                failure.args = (f"{failure.args[0]} [the API asks to wait {delay:.0f}s; rerun later]",)
                raise failure
            if delay >= self.budget_left():
                raise self._budget_spent(what, f"{failure}; a retry would wait {delay:.0f} s") from None
            log.warning("%s; retrying in %.0f s (attempt %d of %d)", failure, delay, attempt + 1,
                        self.retry.max_attempts)
            self.retries += 1
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, call: Callable[[], Any], endpoint: str, what: str, seconds: float) -> Answer:
        """One comtradeapicall call with this call's recorder and deadline active in the current context only."""
        failure: Exception | None = None
        frame = None
        with Deadline(seconds) as deadline:
            recorder = _Recorder(self.transport, self.base_url, deadline)
            token = _ACTIVE.set(recorder)
            try:
                frame = call()
            except _Stopped:
                pass  # a failed exchange, recorded: judged below
            except Exception as exc:  # e.g. JSONDecodeError on a malformed 200: judged from the raw body below
                failure = exc
            finally:
                _ACTIVE.reset(token)
        if len(recorder.exchanges) != 1:
            raise ComtradeError(f"{what}: comtradeapicall made {len(recorder.exchanges)} requests instead of one "
                                f"through the tradeflows transport (is comtradeapicall {_version()} the pinned 1.3.2?)")
        ex = recorder.exchanges[0]
        used = urlsplit(ex.url)
        if used.path != urlsplit(endpoint).path:
            raise ComtradeError(f"{what}: comtradeapicall called {used.path} instead of {urlsplit(endpoint).path}")
        if ex.status != 200:
            raise classify(ex, "", what)
        if failure is not None:
            log.debug("comtradeapicall raised %s on a 200 answer", type(failure).__name__)
        return Answer(status=200, body=ex.body, url=ex.url, frame=frame if isinstance(frame, pd.DataFrame) else None,
                      attempts=1)


def _seconds(value: float | None, default: float, what: str) -> float:
    """A positive, finite number of seconds (None: ``default``); InputError otherwise."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("comtradeapicall")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"
