"""The screen: every HS code the focal partner trades in the store, ranked by its focal-specific change.

The study's questions (:func:`analysis.compare`) cover the registry's codes.
The screen asks the same question of every six-digit code in the store, in
the registry or not, to find what else moved: for each code family the focal
partner has a record of, the focal partner's post/pre ratio relative to the
pooled comparison partners' (``relative_ratio``), with the interval and
p-value of the same placebo-calibrated test :func:`analysis.compare` reports
(HAC variance plus the comparison partners' in-time and cross-partner
placebos), and a Benjamini-Hochberg q-value over the screened codes. The
series are built out of core (:mod:`analysis.outofcore`: DuckDB, or Dask with
``engine="dask"``), so the store may be far larger than memory; only the
study's partners (focal, comparison, transit) over its windows are read.

Codes outside the registry are one-code families (``HS<code>``): no
concordance joins them across the HS 2017/2022 break, so a code that only
one edition holds carries a note (a change there may be a reclassification).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Unpack

import numpy as np
import pandas as pd

from . import registry
from .comparison import check_alpha, compare
from .errors import InputError
from .outofcore import Engine, Selection, code_cells, series_from_cells
from .results import _long, _Result
from .schema import is_synthetic
from .stats import bh_qvalues
from .store import Store
from .study import Study, StudyArgs, check_choice

SCREEN_COLUMNS = [
    "rank", "reporter_code", "partner_code", "family", "hs6", "description", "group", "in_registry",
    "pre_usd_month", "post_usd_month", "ratio", "relative_ratio", "relative_low", "relative_high",
    "relative_p_value", "relative_q_value", "n_placebo", "pre_trend", "break_2022", "fragile", "note", "synthetic",
]
"""Columns of screen.csv: one row per code family the focal partner trades, the most significant change first.

``family`` is the registry family or ``HS<code>`` outside it; ``hs6`` its
HS 2022 code(s); ``description`` the registry's, else Comtrade's
(``cmdDesc``); ``pre_usd_month``/``post_usd_month`` the focal partner's mean
monthly value in the windows and ``ratio`` its seasonally adjusted post/pre
ratio; ``relative_*`` the change relative to the comparison partners (ratio,
interval, p-value of the calibrated test, BH q-value over the screened
codes); ``note`` says what could not be estimated and why.
"""

INFERENCE = ("relative ratio: two-unit PPML (focal vs pooled comparison partners), placebo-calibrated variance "
             "(HAC, in-time and cross-partner placebos) as in compare; BH q-values over the screened codes")


@dataclass(frozen=True)
class ScreenConfig:
    """How screen.csv was computed (beyond the study)."""

    alpha: float
    engine: Engine
    scheduler: str | None
    partners_read: tuple[int, ...]
    comparison_partners: tuple[int, ...]
    codes_screened: int
    codes_tested: int
    series: int
    inference: str = INFERENCE


@dataclass(frozen=True, repr=False)
class ScreenResult(_Result):
    """The screen (``table``, screen.csv): one row per code family of the focal partner, ranked."""

    table: pd.DataFrame
    study: Study
    config: ScreenConfig
    synthetic: bool
    timings: dict[str, float] = field(default_factory=dict)
    title = "Screen: every stored code the focal partner trades, by its change relative to the comparison partners"
    sort_note = "smallest relative q-value first"

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"screen.csv": self.table}

    def top(self, n: int = 20) -> pd.DataFrame:
        """The ``n`` highest-ranked rows."""
        return self.table.head(n).copy()

    def significant(self) -> pd.DataFrame:
        """Rows with a relative q-value below alpha."""
        return self.table[self.table["relative_q_value"] < self.config.alpha].copy()

    def tidy(self) -> pd.DataFrame:
        """Each code's relative ratio with its interval, p- and q-value, as one long table."""
        return _long(self.table, "screen", {"relative_ratio": ("relative_ratio", "relative_low", "relative_high",
                                                               "relative_p_value", "relative_q_value")})

    def _shown(self) -> pd.DataFrame:
        cols = ["rank", "family", "description", "pre_usd_month", "post_usd_month", "relative_ratio", "relative_low",
                "relative_high", "relative_q_value", "note"]
        return self.table[cols]


def screen_store(store: Store | str | os.PathLike[str] | None = None, study: Study | None = None, *,
                 engine: Engine = "local", scheduler: str | None = None, workers: int = 2, alpha: float = 0.05,
                 memory_limit: str | None = None, threads: int | None = None,
                 progress: Callable[[str], None] | None = None, **study_args: Unpack[StudyArgs]) -> ScreenResult:
    """Screen every code the focal partner trades in ``store`` (see the module docstring).

    ``study`` (or its fields as keywords) gives the reporter, flow, focal and
    comparison partners and windows; it must be monthly and name no codes
    (the screen covers them all). ``engine``: ``"local"`` (DuckDB; bounded by
    ``memory_limit``, e.g. "2GB", and ``threads``) or ``"dask"`` (the
    scheduler at ``scheduler``, else a local cluster of ``workers``
    processes). ``progress`` receives one line per step.
    """
    s = Study.resolve(study, **study_args)
    check_choice(engine, Engine, "engine")
    check_alpha(alpha)
    if s.freq != "M":
        raise InputError("the screen compares monthly series: leave freq at 'M'")
    if s.level != 6:
        raise InputError("the screen ranks six-digit codes: leave level at 6 (HS level 6)")
    if s.codes:
        raise InputError("the screen covers every code in the store: leave out codes (use compare for a selection)")
    say = progress or (lambda _text: None)
    timings: dict[str, float] = {}
    selection = Selection.of_study(s)

    t0 = time.perf_counter()
    found = code_cells(store, selection, engine=engine, scheduler=scheduler, workers=workers,
                       memory_limit=memory_limit, threads=threads)
    timings["read"] = time.perf_counter() - t0
    cells, descriptions = found.cells, found.descriptions
    del found
    if not (cells["partner_code"] == s.focal).any():
        raise InputError(f"the store holds no monthly six-digit records of reporter {s.reporter} flow {s.flow} to "
                         f"the focal partner {s.focal} from {s.pre.start:%Y-%m}")
    say(f"{len(cells):,} code cells read from the store ({engine}) in {timings['read']:.1f} s")

    t0 = time.perf_counter()
    editions = _editions(cells)
    series = series_from_cells(cells, jan_feb=s.jan_feb)
    del cells
    timings["series"] = time.perf_counter() - t0
    n_series = int(series.groupby(["partner_code", "family_id"], sort=False).ngroups)
    say(f"{n_series:,} series of {series['family_id'].nunique():,} code families built in {timings['series']:.1f} s")

    t0 = time.perf_counter()
    result = compare(series, s, partners=[s.focal], alpha=alpha)
    timings["test"] = time.perf_counter() - t0
    table = _screen_table(result.table, descriptions, editions)
    say(f"{int(table['relative_p_value'].notna().sum()):,} of {len(table):,} code families tested in "
        f"{timings['test']:.1f} s")
    synthetic = is_synthetic(series)
    config = ScreenConfig(alpha=alpha, engine=engine, scheduler=scheduler, partners_read=selection.partners,
                          comparison_partners=result.config.comparison_partners, codes_screened=len(table),
                          codes_tested=int(table["relative_p_value"].notna().sum()), series=n_series)
    return ScreenResult(table, result.study, config, synthetic, timings)


# --------------------------------------------------------------------------- the table

def _editions(cells: pd.DataFrame) -> pd.DataFrame:
    """Per family: the HS editions its records are in (``editions``), and all the editions of the reporter's
    records (``reporter_editions``), for the note on codes outside the registry."""
    per = cells.groupby("family_id", sort=False)["classification"].agg(lambda s: " ".join(sorted(set(s))))
    out = per.rename("editions").reset_index()
    out["reporter_editions"] = " ".join(sorted(set(cells["classification"])))
    return out


def _description(families: pd.Series, names: pd.Series, descriptions: pd.DataFrame,
                 in_registry: np.ndarray) -> np.ndarray:
    """The registry's name of each family; outside it, Comtrade's description of the code (HS 2022 first)."""
    desc = descriptions.assign(first=descriptions["classification"].ne("H6"))
    desc = desc.sort_values(["cmd_code", "first"]).drop_duplicates("cmd_code").set_index("cmd_code")["description"]
    code = families.str.removeprefix("HS")
    comtrade = code.map(desc)
    return np.where(in_registry | comtrade.isna().to_numpy(), names.to_numpy(), comtrade.to_numpy())


def _edition_note(family: str, editions: str, reporter_editions: str) -> str:
    ed = editions.split()
    if len(ed) != 1 or len(reporter_editions.split()) < 2:
        return ""
    return (f"HS {family[2:]} appears only in {ed[0]} records (the reporter also reports in "
            f"{', '.join(e for e in reporter_editions.split() if e not in ed)}): outside the registry no "
            "concordance joins it to its other edition, so a change here may be a reclassification")


def _screen_table(compared: pd.DataFrame, descriptions: pd.DataFrame, editions: pd.DataFrame) -> pd.DataFrame:
    """screen.csv (SCREEN_COLUMNS) from the focal rows of compare.csv."""
    rows = compared[compared["is_focal"]].reset_index(drop=True)
    fam = registry.family_table(rows["family"]).set_index("family_id").reindex(rows["family"])
    known = set(registry.families()["family_id"])
    in_registry = rows["family"].isin(known).to_numpy()
    ed = editions.set_index("family_id").reindex(rows["family"])
    extra = [_edition_note(f, str(e), str(r)) if not reg and isinstance(e, str) else ""
             for f, e, r, reg in zip(rows["family"], ed["editions"], ed["reporter_editions"], in_registry,
                                     strict=True)]
    notes = ["; ".join(x for x in (n, e) if x) for n, e in zip(rows["note"].fillna(""), extra, strict=True)]
    table = pd.DataFrame({
        "reporter_code": rows["reporter_code"].astype("int64"), "partner_code": rows["partner_code"].astype("int64"),
        "family": rows["family"], "hs6": fam["h6_codes"].to_numpy(),
        "description": _description(rows["family"], rows["family_name"], descriptions, in_registry),
        "group": rows["group"], "in_registry": in_registry,
        **{c: rows[c] for c in ("pre_usd_month", "post_usd_month", "ratio", "relative_ratio", "relative_low",
                                "relative_high", "relative_p_value")},
        "relative_q_value": bh_qvalues(rows["relative_p_value"].to_numpy(float)),
        "n_placebo": rows["n_placebo"].astype("int64"), "pre_trend": rows["pre_trend"].astype(bool),
        "break_2022": rows["break_2022"].astype(bool), "fragile": rows["fragile"].astype(bool), "note": notes,
        "synthetic": rows["synthetic"].astype(bool),
    })
    size = np.abs(np.log(table["relative_ratio"].where(table["relative_ratio"] > 0)))
    order = np.lexsort((table["family"].to_numpy(), -size.fillna(-1).to_numpy(),
                        table["relative_p_value"].fillna(np.inf).to_numpy(),
                        table["relative_q_value"].fillna(np.inf).to_numpy()))
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table[SCREEN_COLUMNS]
