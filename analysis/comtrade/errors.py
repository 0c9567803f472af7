"""Typed Comtrade failures: every way a call can fail is one ComtradeError subclass.

Each carries the HTTP ``status`` (None when no answer came), the API's own
``api_message``, ``wait`` (seconds the API asked to wait, if any) and
``retryable`` (only rate limits, server and network errors can pass by
themselves). Messages are redacted on construction, so no subscription key
can reach a traceback, a log or a report through them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import TradeflowsError
from .redact import redact

if TYPE_CHECKING:  # pragma: no cover
    from ..fetching import FetchResult


class ComtradeError(TradeflowsError):
    """A UN Comtrade call failed or answered something unusable."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, api_message: str | None = None,
                 wait: float | None = None, chunk_id: str | None = None) -> None:
        self.status = status
        self.api_message = redact(api_message) if api_message else None
        self.wait = wait
        self.chunk_id = chunk_id
        self.fetch_result: FetchResult | None = None  # set by analysis.fetching.fetch: what was done before the failure
        parts = [redact(message)]
        if status is not None or self.api_message:
            detail = f"HTTP {status}" if status is not None else "API"
            parts.append(f"({detail}: {self.api_message})" if self.api_message else f"({detail})")
        super().__init__(" ".join(parts))


class ComtradeAuthError(ComtradeError):
    """401/403: the subscription key is missing, wrong or not subscribed (never retried)."""


class ComtradeQuotaError(ComtradeError):
    """The daily call quota is used up (Comtrade's 403, or tradeflows' own count): rerun later, it resumes."""


class ComtradeRateLimitError(ComtradeError):
    """429: too many calls; ``wait`` holds the seconds the API named ("Try again in N seconds")."""

    retryable = True


class ComtradeServerError(ComtradeError):
    """5xx: the API failed on its side."""

    retryable = True


class ComtradeNetworkError(ComtradeError):
    """No HTTP answer at all (connection refused or reset, timeout, DNS)."""

    retryable = True


class ComtradeDeadlineError(ComtradeNetworkError):
    """No complete answer within the call's overall deadline (a stalled or very slow server: the per-read timeout
    never fires when a server sends one byte every few seconds)."""


class ComtradeBudgetError(ComtradeError):
    """The fetch's time budget is spent: what was stored stays stored, and a rerun resumes (never retried)."""


class ComtradeRequestError(ComtradeError):
    """Another non-200 answer (400 bad parameter, 404, 414 URL too long, a redirect): the request is wrong."""


class ComtradeResponseError(ComtradeError):
    """A 200 whose body is not JSON, not the Comtrade envelope, or breaks the record schema or the query."""


class ComtradeAPIError(ComtradeError):
    """A 200 whose envelope carries a non-empty ``error`` field."""


class ComtradeEmptyError(ComtradeError):
    """No records where the data availability says the reporter's data for those periods are released."""


class ComtradeTruncatedError(ComtradeError):
    """As many records as the endpoint's cap: the answer may be cut; the plan must split it."""


class ComtradeClassificationError(ComtradeError):
    """The reporter reports a planned period in another HS edition than the plan's codes."""
