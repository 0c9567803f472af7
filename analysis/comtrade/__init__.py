"""UN Comtrade requests in four stages, as rOpenSci's comtradr does them:
check parameters (:mod:`.params`) -> build the call plan (:mod:`.plan`) ->
perform each call through comtradeapicall (:mod:`.perform`) -> process the
answer (:mod:`.process`). :func:`analysis.fetching.fetch` runs them and stores
each answer as one chunk. Failures are the typed errors of :mod:`.errors`;
the subscription key is kept out of every message by :mod:`.redact` (its
function is ``analysis.comtrade.redact.redact``: no function here shares a
submodule's name).
"""
from __future__ import annotations

from .errors import (
    ComtradeAPIError,
    ComtradeAuthError,
    ComtradeClassificationError,
    ComtradeEmptyError,
    ComtradeError,
    ComtradeNetworkError,
    ComtradeQuotaError,
    ComtradeRateLimitError,
    ComtradeRequestError,
    ComtradeResponseError,
    ComtradeServerError,
    ComtradeTruncatedError,
)
from .params import Params, check_params, edition_of_year
from .perform import ComtradeClient, RetryPolicy, Throttle
from .plan import CAPS, MAX_PERIODS, MAX_URL, build_plan, chunk_query, minimum_calls, request_url

__all__ = [
    "CAPS", "MAX_PERIODS", "MAX_URL", "ComtradeAPIError", "ComtradeAuthError", "ComtradeClassificationError",
    "ComtradeClient", "ComtradeEmptyError", "ComtradeError", "ComtradeNetworkError", "ComtradeQuotaError",
    "ComtradeRateLimitError", "ComtradeRequestError", "ComtradeResponseError", "ComtradeServerError",
    "ComtradeTruncatedError", "Params", "RetryPolicy", "Throttle", "build_plan", "check_params", "chunk_query",
    "edition_of_year", "minimum_calls", "request_url",
]
