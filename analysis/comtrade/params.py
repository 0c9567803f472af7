"""Stage 1 of a Comtrade request: check every parameter before any call.

Who, what and to whom come from a :class:`~analysis.study.Study` (built by
:meth:`Study.resolve`, the one resolver of user input: countries, flow,
frequency, HS codes, groups and families); this stage adds what only a fetch
needs: the period range (through :mod:`analysis.periods`) and the HS codes of
each edition. Anything wrong is one :class:`InputError` naming it, raised
before a single call is made.

HS editions by year: China reports HS 2017 (H5) for 2017-2021 and HS 2022
(H6) from 2022, and the registry knows these two editions only, so each
period is asked for with the codes of its edition (Comtrade's ``HS``
classification answers in the edition the reporter used) and periods before
2017 are refused. The data availability check in :mod:`analysis.fetching`
confirms the edition per period before any data call.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack

import pandas as pd

from .. import registry
from ..errors import InputError
from ..periods import parse_period
from ..study import Study, StudyArgs

FIRST_YEAR = 2017
"""First year the registry's editions cover (HS 2017)."""

EDITION_FROM = {"H5": 2017, "H6": 2022}
"""First year each HS edition is used for (China: H5 for 2017-2021, H6 from 2022)."""

API_KEY_ENV = "COMTRADE_API_KEY"


def edition_of_year(year: int) -> str:
    """HS edition of the codes to ask for in ``year`` (H5 for 2017-2021, H6 from 2022)."""
    if year < FIRST_YEAR:
        raise InputError(f"year {year}: the registry holds HS 2017 and HS 2022 codes only; "
                         f"start in {FIRST_YEAR} or later")
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


def check_codes(codes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Registry codes, groups or families (empty: the whole registry), and any other HS code of 2, 4 or 6 digits
    (asked for as given in every edition) -> sorted codes per HS edition."""
    spec = list(codes) if codes else [str(g) for g in registry.groups()["group"]]
    other = [c for c in spec if c.isdigit() and len(c) in (2, 4, 6) and not registry.is_registry_item(c)]
    named = [c for c in spec if c not in other]
    table = registry.resolve_codes(named) if named else pd.DataFrame(columns=["edition", "code"])
    return {ed: tuple(sorted(set(table.loc[table["edition"] == ed, "code"]) | set(other)))
            for ed in registry.EDITIONS}


def api_key(key: str | None) -> str | None:
    """The subscription key to use: ``key``, else ``$COMTRADE_API_KEY``; blank means none (preview)."""
    value = key if key is not None else os.environ.get(API_KEY_ENV)
    value = (value or "").strip()
    if not value:
        return None
    if any(ch.isspace() for ch in value) or not value.isprintable():
        raise InputError(f"the Comtrade subscription key (from {API_KEY_ENV} or api_key) contains spaces or "
                         "control characters")
    return value


def check_params(study: Study | None = None, *, start: str = "2017-01", end: str | None = None,
                 today: pd.Timestamp | None = None, **study_args: Unpack[StudyArgs]) -> Params:
    """Checked fetch parameters of ``study`` (or the study the keyword arguments make) from ``start`` to ``end``.

    The study is resolved by :meth:`Study.resolve`; this adds the checks of
    the period range (not reversed, not in the future, no year before the
    registry's editions) and of the codes (some for every edition asked).
    The partners are ``study.partners`` (focal and controls), sorted. No call is made.
    """
    st = Study.resolve(study, **study_args)
    by_edition = check_codes(st.codes)
    first = parse_period(start)
    last = parse_period(end, end=True) if end is not None else None
    if st.freq == "A":
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
    return Params(st.reporter, st.flow, tuple(sorted(st.partners)), by_edition, first, last, st.freq)
