"""Number formatting for report text and tables: USD amounts, ratios with intervals, p- and q-values."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _finite(x: object) -> bool:
    try:
        return x is not None and not pd.isna(x) and math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def usd(x: object, *, unit: bool = True) -> str:
    """``3.28bn``, ``12.4m``, ``85.3k``, ``950`` (with ``USD`` when ``unit``); ``n/a`` when missing."""
    if not _finite(x):
        return "n/a"
    v = float(x)  # type: ignore[arg-type]
    a = abs(v)
    if a >= 1e9:
        s = f"{v / 1e9:.2f}bn"
    elif a >= 1e6:
        s = f"{v / 1e6:.2f}m"
    elif a >= 1e3:
        s = f"{v / 1e3:.1f}k"
    else:
        s = f"{v:.0f}"
    return f"USD {s}" if unit else s


def ratio(x: object) -> str:
    """A multiplicative change: ``×3.06``, ``×0.45``; ``n/a`` when missing, ``0`` when nothing is left."""
    if x is not None and not pd.isna(x) and float(x) == 0:  # type: ignore[arg-type]
        return "×0"
    if not _finite(x):
        return "n/a"
    return f"×{_sig(float(x))}"  # type: ignore[arg-type]


def _sig(v: float) -> str:
    """A ratio with about three significant figures: ``345``, ``34.5``, ``3.45``."""
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def interval(lo: object, hi: object) -> str:
    """``1.86–3.42`` (open ends written as ``…``)."""
    def one(v: object) -> str:
        if v is not None and not pd.isna(v) and float(v) == 0:  # type: ignore[arg-type]
            return "0"
        if not _finite(v):
            return "…"
        return _sig(float(v))  # type: ignore[arg-type]
    return f"{one(lo)}–{one(hi)}"


def ratio_ci(x: object, lo: object, hi: object) -> str:
    """``×2.52 (1.86–3.42)``."""
    if not _finite(x) and not (x is not None and not pd.isna(x) and float(x) == 0):  # type: ignore[arg-type]
        return "n/a"
    return f"{ratio(x)} ({interval(lo, hi)})"


def pvalue(p: object) -> str:
    """``<0.001``, ``0.002``, ``0.31``; ``n/a`` when missing."""
    if not _finite(p):
        return "n/a"
    v = float(p)  # type: ignore[arg-type]
    if v < 0.001:
        return "<0.001"
    if v < 0.01:
        return f"{v:.3f}"
    return f"{v:.2f}"


def score(x: object) -> str:
    """A z-equivalent score: ``7.4``; ``>37`` when the p-value underflowed (score infinite)."""
    if x is None or pd.isna(x):
        return "n/a"
    v = float(x)  # type: ignore[arg-type]
    return f"{v:.1f}" if math.isfinite(v) else ">37"


def share(x: object) -> str:
    """A share as a percentage: ``4.2%``."""
    if not _finite(x):
        return "n/a"
    v = 100 * float(x)  # type: ignore[arg-type]
    return f"{v:.1f}%" if v >= 1 else f"{v:.2f}%"


def count(n: int, word: str, plural: str | None = None) -> str:
    """``1 family``, ``3 families``."""
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def join(items: list[str], last: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``; items that hold a comma ("China, Hong Kong SAR") are separated by
    semicolons so the list stays readable."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    sep = "; " if any("," in i for i in items) else ", "
    return sep.join(items[:-1]) + f" {last} " + items[-1]


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as a string (NaN as empty), for the document tables."""
    out = frame.copy()
    for c in out.columns:
        out[c] = [("" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v)) for v in out[c]]
    return out
