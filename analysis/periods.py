"""Periods as users write them: ``YYYY`` or ``YYYY-MM``, single or as ranges ``FROM:TO``.

Used by every step that takes a period (fetch plans, before/after windows, the
CLI), so a typo or a reversed range is one clear :class:`InputError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from .errors import InputError

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-?(\d{2})$")


def parse_period(text: str | pd.Timestamp, *, end: bool = False) -> pd.Timestamp:
    """First month of ``text`` (``"2022"`` -> 2022-01-01), or its last month when ``end`` (-> 2022-12-01)."""
    if isinstance(text, pd.Timestamp):
        return text.to_period("M").start_time
    s = str(text).strip()
    if m := _YEAR.match(s):
        year = int(m.group(1))
        month = 12 if end else 1
    elif m := _MONTH.match(s):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise InputError(f"period {s!r}: month must be 01-12")
    else:
        raise InputError(f"period {s!r} is not YYYY or YYYY-MM")
    if not 1962 <= year <= 2100:
        raise InputError(f"period {s!r}: year out of range")
    return pd.Timestamp(year=year, month=month, day=1)


@dataclass(frozen=True)
class Window:
    """A range of months, ``start`` to ``end`` inclusive (both first-of-month).

    ``end`` is None for a window that runs to the last month of the data
    (``"2022-03:"``); :meth:`closed` fixes it once the data are known.
    """

    start: pd.Timestamp
    end: pd.Timestamp | None

    def __str__(self) -> str:
        return f"{self.start:%Y-%m} to {'the last month' if self.end is None else f'{self.end:%Y-%m}'}"

    @property
    def text(self) -> str:
        """``"YYYY-MM:YYYY-MM"`` (``"YYYY-MM:"`` when open-ended), the form users write."""
        return f"{self.start:%Y-%m}:{'' if self.end is None else f'{self.end:%Y-%m}'}"

    def text_at(self, freq: str) -> str:
        """:attr:`text` at a study's frequency: ``"2019-01:2021-12"`` monthly, ``"2019:2021"`` annual."""
        if freq == "M":
            return self.text
        return f"{self.start.year}:{'' if self.end is None else self.end.year}"

    @property
    def is_open(self) -> bool:
        return self.end is None

    def closed(self, last: pd.Timestamp) -> Window:
        """This window with an open end set to ``last``; InputError if it starts after ``last``."""
        if self.end is not None:
            return self
        last = parse_period(last)
        if self.start > last:
            raise InputError(f"window {self.text} starts after the last month of the data ({last:%Y-%m})")
        return Window(self.start, last)

    def months(self) -> pd.DatetimeIndex:
        if self.end is None:
            raise InputError(f"window {self.text} is open-ended: close it at the data's last month first")
        return pd.date_range(self.start, self.end, freq="MS")

    def contains(self, dates: pd.Series) -> pd.Series:
        inside = dates >= self.start
        return inside if self.end is None else inside & (dates <= self.end)


def parse_window(text: str | None = None, *, start: str | None = None, end: str | None = None,
                 open_end: bool = False) -> Window:
    """A window from ``"FROM:TO"`` or ``start``/``end``.

    ``"2019:2021"`` is 2019-01 to 2021-12; ``"2022-03:2025-06"`` is what it
    says; ``"2022-03:"`` runs to the last month of the data when
    ``open_end`` (else it is an error). A reversed range is an error.
    """
    if text is not None:
        if ":" not in str(text):
            start = end = str(text)
        else:
            start, end = (p.strip() or None for p in str(text).split(":", 1))
    if start is None or (end is None and not open_end):
        raise InputError(f"window {text!r} needs a start and an end (FROM:TO)")
    w = Window(parse_period(start), None if end is None else parse_period(end, end=True))
    if w.end is not None and w.start > w.end:
        raise InputError(f"period range {start} to {end} is reversed")
    return w
