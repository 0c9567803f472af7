"""Stage 1 of a Comtrade request: check every parameter before any call.

Reporter and partners go through :mod:`analysis.countries`, HS codes, groups
and families through :func:`analysis.registry.resolve_codes` (both editions'
codes), periods through :mod:`analysis.periods`. Anything wrong is one
:class:`InputError` naming it, raised before a single call is made.

HS editions by year: China reports HS 2017 (H5) for 2017-2021 and HS 2022
(H6) from 2022, and the registry knows these two editions only, so each
period is asked for with the codes of its edition (Comtrade's ``HS``
classification answers in the edition the reporter used) and periods before
2017 are refused. The data availability check in :mod:`analysis.fetch`
confirms the edition per period before any data call.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from .. import registry
from ..countries import DEFAULT_PARTNERS, resolve_countries, resolve_country
from ..errors import InputError
from ..periods import parse_period

FIRST_YEAR = 2017
"""First year the registry's editions cover (HS 2017)."""

EDITION_FROM = {"H5": 2017, "H6": 2022}
"""First year each HS edition is used for (China: H5 for 2017-2021, H6 from 2022)."""

FLOWS = {"X": "X", "EXPORT": "X", "EXPORTS": "X", "M": "M", "IMPORT": "M", "IMPORTS": "M",
         "RX": "RX", "RM": "RM"}
FREQS = {"M": "M", "MONTHLY": "M", "A": "A", "ANNUAL": "A"}
API_KEY_ENV = "COMTRADE_API_KEY"


def edition_of_year(year: int) -> str:
    """HS edition of the codes to ask for in ``year`` (H5 for 2017-2021, H6 from 2022)."""
    if year < FIRST_YEAR:
        raise InputError(f"year {year}: the registry holds HS 2017 and HS 2022 codes only; start in {FIRST_YEAR} or later")
    return "H6" if year >= EDITION_FROM["H6"] else "H5"


@dataclass(frozen=True)
class Params:
    """Checked parameters of a fetch (codes per edition, periods as first-of-month timestamps)."""

    reporter: int
    flow: str
    partners: tuple[int, ...]
    codes: dict[str, tuple[str, ...]]  # edition -> sorted six-digit codes
    start: pd.Timestamp
    end: pd.Timestamp | None
    freq: str

    def periods(self) -> list[str]:
        """Comtrade period strings from start to end (``"201701"`` monthly, ``"2017"`` annual)."""
        if self.end is None:
            raise InputError("no end period: give end, or let fetch look up the latest released period")
        if self.freq == "A":
            return [str(y) for y in range(self.start.year, self.end.year + 1)]
        return [f"{d:%Y%m}" for d in pd.date_range(self.start, self.end, freq="MS")]


def check_flow(flow: str) -> str:
    """``"X"``/``"exports"`` -> ``"X"``; InputError for anything else."""
    f = FLOWS.get(str(flow).strip().upper())
    if f is None:
        raise InputError(f"flow {flow!r} is not one of X (exports), M (imports), RX, RM")
    return f


def check_freq(freq: str) -> str:
    """``"M"``/``"monthly"`` -> ``"M"``, ``"A"``/``"annual"`` -> ``"A"``."""
    f = FREQS.get(str(freq).strip().upper())
    if f is None:
        raise InputError(f"frequency {freq!r} is not M (monthly) or A (annual)")
    return f


def check_codes(codes: str | Iterable[str] | None) -> dict[str, tuple[str, ...]]:
    """Registry codes, groups or families (None: the whole registry) -> codes per HS edition."""
    if codes is None:
        spec = list(registry.groups()["group"])
    elif isinstance(codes, str):
        spec = codes
    else:
        spec = [str(c) for c in codes]
    table = registry.resolve_codes(spec)
    return {ed: tuple(sorted(set(table.loc[table["edition"] == ed, "code"]))) for ed in registry.EDITIONS}


def api_key(key: str | None) -> str | None:
    """The subscription key to use: ``key``, else ``$COMTRADE_API_KEY``; blank means none (preview)."""
    value = key if key is not None else os.environ.get(API_KEY_ENV)
    value = (value or "").strip()
    if not value:
        return None
    if any(ch.isspace() for ch in value) or not value.isprintable():
        raise InputError(f"the Comtrade subscription key (from {API_KEY_ENV} or api_key) contains spaces or control characters")
    return value


def check_params(*, reporter: str | int = 156, flow: str = "X", partners: str | int | Iterable[str | int] | None = None,
                 codes: str | Iterable[str] | None = None, start: str = "2017-01", end: str | None = None,
                 freq: str = "M", today: pd.Timestamp | None = None) -> Params:
    """Validate and normalize fetch parameters (see the module docstring); no call is made."""
    rep = resolve_country(reporter)
    fl = check_flow(flow)
    fr = check_freq(freq)
    parts = tuple(DEFAULT_PARTNERS if partners is None else resolve_countries(partners))
    if rep in parts:
        raise InputError(f"reporter {rep} is also among the partners")
    by_edition = check_codes(codes)
    first = parse_period(start)
    last = parse_period(end, end=True) if end is not None else None
    if fr == "A":
        first = first.replace(month=1)
        last = last.replace(month=1) if last is not None else None
    edition_of_year(first.year)
    now = (today if today is not None else pd.Timestamp.now()).to_period("M").start_time
    if last is not None:
        if first > last:
            raise InputError(f"period range {start} to {end} is reversed")
        if last > now:
            raise InputError(f"end {end} is in the future: no data exist yet")
    needed = {edition_of_year(y) for y in range(first.year, (last or now).year + 1)}
    empty = sorted(ed for ed in needed if not by_edition.get(ed))
    if empty and all(not by_edition.get(ed) for ed in needed):
        raise InputError(f"the codes given have no {' or '.join(empty)} codes for the periods asked")
    return Params(rep, fl, tuple(sorted(parts)), by_edition, first, last, fr)
