"""Keep the Comtrade subscription key out of every message, log line and stored text.

comtradeapicall sends the key as the query parameter ``subscription-key``, so
it is part of every keyed request URL, and urllib3 quotes URLs in its debug
log lines and in ``MaxRetryError`` messages (which comtradeapicall prints).
:func:`redact` removes both the parameter value (any key, by pattern) and
every key registered with :func:`register_secret` (in any form it was seen);
:class:`RedactingFilter` applies it to log records of urllib3 and tradeflows.
"""
from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"

_PARAM = re.compile(r"(?i)((?:subscription-key|subscription_key|ocp-apim-subscription-key)[\"']?\s*[=:]\s*[\"']?)"
                    r"[^&\s\"'<>,;)]+")
_SECRETS: set[str] = set()
_LOCK = threading.Lock()

LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry",
           "urllib3.response", "analysis", "analysis.fetching", "analysis.comtrade")
"""Loggers that get a :class:`RedactingFilter` (a filter acts only on records its own logger creates)."""


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` removes it wherever it appears."""
    if not secret:
        return
    with _LOCK:
        _SECRETS.update({secret, quote(secret, safe=""), quote_plus(secret)})
    install_log_filter()


def redact(text: object) -> str:
    """``text`` with every subscription key replaced by ``***``."""
    s = _PARAM.sub(lambda m: m.group(1) + MASK, str(text))
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret:
            s = s.replace(secret, MASK)
    return s


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message with :func:`redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the logging machinery
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_log_filter() -> None:
    """Attach the redacting filter to urllib3's and tradeflows' loggers (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


install_log_filter()
