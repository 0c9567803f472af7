"""SYNTHETIC test panels in the true Comtrade record schema, for studies other than the demo's.

:func:`other_panel` gives China's exports of three HS6 codes outside the
dual-use registry (natural graphite 250410, cobalt articles 810590, silicon
280461) to 39 partners, 2017-2024, monthly or annual, as Comtrade records
(the 47 fields, coerced by :func:`analysis.schema.coerce_records`) with every
row marked ``synthetic``. The focal partner's cobalt articles rise after
February 2022 on their own (x3), the transit partners' three codes rise with
the re-routing (x1.8) and the rest move with season and noise only, so a
report on it has a focal-specific rise, a transit movement and flat codes.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from analysis import registry
from analysis.countries import comparison_sets
from analysis.schema import coerce_records

REPORTER = 156
CODES = {"250410": "Natural graphite; in powder or in flakes", "810590": "Cobalt; articles thereof, n.e.c.",
         "280461": "Silicon; containing by weight not less than 99.99% of silicon"}
OTHERS = (276, 392, 410, 699, 704, 764, 458, 842, 124, 36, 380, 724, 528, 608)
"""Partners beyond the comparison and transit sets (39 partners in all with the focal partner)."""
FOCAL_RISE = ("810590", 3.0)
TRANSIT_RISE = 1.8
BREAK = pd.Timestamp("2022-03-01")
PRICE = {"250410": 0.6, "810590": 45.0, "280461": 2.2}
"""USD per kg, for the net weight."""


def partners(focal: int = 643) -> list[int]:
    """The focal partner, the baseline and transit sets (less the focal partner) and :data:`OTHERS`."""
    sets = comparison_sets()
    rest = [p for p in (*sets["baseline"].partners, *sets["transit"].partners, *OTHERS) if p != focal]
    return [focal, *dict.fromkeys(rest)]


def other_panel(freq: Literal["M", "A"] = "M", focal: int = 643, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC Comtrade records (see the module docstring): monthly 2017-01 to 2024-12, or their annual sums
    (``freqCode`` A, ``period`` ``"2017"``, ``refMonth`` 52)."""
    if freq not in ("M", "A"):
        raise ValueError(f"freq must be 'M' or 'A', not {freq!r}")
    rng = np.random.default_rng(seed)
    months = pd.date_range("2017-01-01", "2024-12-01", freq="MS")
    who = partners(focal)
    transit = set(comparison_sets()["transit"].partners)
    season = 1 + 0.12 * np.sin(2 * np.pi * (months.month.to_numpy() - 3) / 12)
    after = np.asarray(months >= BREAK)
    rows = []
    for p in who:
        for code in CODES:
            level = float(rng.lognormal(np.log(4e5), 1.0))
            value = level * season * rng.lognormal(0.0, 0.25, len(months))
            if p in transit:
                value = np.where(after, value * TRANSIT_RISE, value)
            if p == focal and code == FOCAL_RISE[0]:
                value = np.where(after, value * FOCAL_RISE[1], value)
            rows.append(pd.DataFrame({"partner": p, "code": code, "date": months, "usd": np.round(value)}))
    flat = pd.concat(rows, ignore_index=True)
    if freq == "A":
        flat = (flat.assign(date=flat["date"].dt.to_period("Y").dt.start_time)
                .groupby(["partner", "code", "date"], as_index=False)["usd"].sum())
    return _records(flat, freq)


def _records(flat: pd.DataFrame, freq: str) -> pd.DataFrame:
    areas = registry.areas().set_index("code")
    when = pd.DatetimeIndex(flat["date"])
    annual = freq == "A"
    kg = np.round(flat["usd"].to_numpy() / flat["code"].map(PRICE).to_numpy())
    raw = pd.DataFrame({
        "typeCode": "C", "freqCode": freq,
        "refPeriodId": when.year * 10000 + (1 if annual else when.month) * 100 + 1,
        "refYear": when.year, "refMonth": 52 if annual else when.month,
        "period": when.strftime("%Y" if annual else "%Y%m"),
        "reporterCode": REPORTER, "reporterISO": areas.loc[REPORTER, "iso3"],
        "reporterDesc": areas.loc[REPORTER, "name"], "flowCode": "X", "flowDesc": "Export",
        "partnerCode": flat["partner"].to_numpy(), "partnerISO": areas.loc[flat["partner"], "iso3"].to_numpy(),
        "partnerDesc": areas.loc[flat["partner"], "name"].to_numpy(),
        "partner2Code": 0, "partner2ISO": "W00", "partner2Desc": "World",
        "classificationCode": np.where(when.year >= 2022, "H6", "H5"), "classificationSearchCode": "HS",
        "isOriginalClassification": True, "cmdCode": flat["code"].to_numpy(),
        "cmdDesc": flat["code"].map(CODES).to_numpy(), "aggrLevel": 6, "isLeaf": True,
        "customsCode": "C00", "customsDesc": "TOTAL CPC", "mosCode": "0", "motCode": 0, "motDesc": "TOTAL MOT",
        "qtyUnitCode": 8, "qtyUnitAbbr": "kg", "qty": kg, "isQtyEstimated": False, "altQtyUnitCode": -1,
        "altQtyUnitAbbr": "N/A", "altQty": 0.0, "isAltQtyEstimated": False, "netWgt": kg,
        "isNetWgtEstimated": False, "grossWgt": 0.0, "isGrossWgtEstimated": False, "cifvalue": np.nan,
        "fobvalue": flat["usd"].to_numpy(), "primaryValue": flat["usd"].to_numpy(), "legacyEstimationFlag": 0,
        "isReported": True, "isAggregate": False,
    })
    return coerce_records(raw, synthetic=True, source="SYNTHETIC tests/panels.py")
