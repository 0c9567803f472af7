"""The one exception family of tradeflows: the CLI turns any of these into one clear line and exit status 2."""
from __future__ import annotations


class TradeflowsError(Exception):
    """Base of every error a user can cause or fix (bad input, bad data, API refusal)."""


class InputError(TradeflowsError, ValueError):
    """A parameter is malformed or unknown: an HS code, a country, a period, a path."""
