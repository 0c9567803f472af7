"""The synthetic demo panel: China's monthly exports in the Comtrade record schema, with planted effects.

SYNTHETIC DATA. Nothing here is real trade. The panel exists so the whole
pipeline runs offline and so the detectors can be checked against a known
answer: :func:`ground_truth` lists every effect that was planted.

What it holds: China (156) exports (X), monthly 2017-01 to 2025-06, to Belarus
and 15 other partners, for every registry code (HS 2017 codes before 2022,
HS 2022 codes from 2022, as China reports), plus Belarus's own mirror imports
from China for 2017-2021. Texture: level differences by partner and family,
trends, Chinese New Year seasonality with January and February published
together (each month carries half the two-month total, as in China's
customs releases), AR(1) noise, months with no record when a flow is small
(Comtrade omits empty cells), quantities in kg.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from . import registry
from .schema import FIELDS

SEED = 20220224
START, END = "2017-01", "2025-06"
REPORTER = 156
BELARUS = 112
PARTNERS: dict[int, float] = {
    # Comtrade code: typical size of China's exports relative to Belarus
    112: 1.0, 643: 8.0, 616: 3.0, 440: 0.5, 428: 0.4, 398: 1.5, 417: 0.6, 860: 0.8,
    762: 0.15, 51: 0.2, 31: 0.3, 268: 0.25, 792: 3.0, 498: 0.1, 276: 6.0, 699: 4.0,
}
CIS = [112, 643, 398, 417, 860, 762, 51, 31, 498]
SEASON = np.array([0.9, 0.7, 1.05, 1.0, 1.0, 1.02, 1.03, 1.03, 1.02, 1.05, 1.08, 1.15])
"""Month-of-year factors: the Chinese New Year trough in February, the year-end peak."""

_EFFECTS = [
    # kind, partner, family, start, end, factor, note
    ("level_shift", BELARUS, "HS854231", "2022-04", "", 3.0, "processors and controllers x3"),
    ("level_shift", BELARUS, "HS901310", "2022-09", "", 5.0, "telescopic sights x5"),
    ("level_shift", BELARUS, "F8462", "2023-03", "", 4.0, "forging presses x4"),
    ("level_shift", BELARUS, "HS848210", "2023-01", "", 2.0, "ball bearings x2"),
    ("level_shift", BELARUS, "HS853400", "2022-06", "", 1.6, "printed circuits x1.6 (small)"),
    ("level_shift", BELARUS, "HS901510", "2023-06", "", 8.0, "rangefinders x8"),
    ("spike", BELARUS, "HS845891", "2019-07", "2019-07", 6.0, "one-month spike before 2022"),
    ("spike", BELARUS, "HS854239", "2023-10", "2023-10", 6.0, "one-month spike after 2022"),
    ("spike", 398, "HS900510", "2020-05", "2020-05", 6.0, "spike for Kazakhstan"),
    ("spike", 616, "HS940360", "2024-04", "2024-04", 5.0, "spike for Poland (control goods)"),
    ("new_flow", BELARUS, "F8514OTHER", "2022-07", "", np.inf, "no exports before, steady after"),
    ("unit_value", BELARUS, "HS901380", "2022-10", "", 3.0, "USD per kg x3, value flat"),
    ("mirror_gap", BELARUS, "HS852691", "2019-01", "2021-12", 2.5, "Belarus reports 2.5x China's figure"),
] + [
    ("common_shock", p, f, "2022-06", "", 3.5, "cars to every CIS partner x3.5")
    for p in CIS for f in ("HS870321", "HS870322", "HS870323", "HS870324")
]


def months() -> pd.DatetimeIndex:
    """The demo panel's months, 2017-01 to 2025-06."""
    return pd.date_range(START, END, freq="MS")


def ground_truth() -> pd.DataFrame:
    """Every planted effect: ``effect_id, kind, reporter_code, partner_code, family_id, start, end, factor, note``.

    ``factor`` multiplies the value (or the unit value, for kind unit_value;
    Belarus's reported imports over China's exports, for mirror_gap); it is
    inf for a new flow. ``end`` is empty for effects that last to the end.
    """
    rows = [
        {"effect_id": i + 1, "kind": k, "reporter_code": BELARUS if k == "mirror_gap" else REPORTER,
         "partner_code": p if k != "mirror_gap" else REPORTER, "family_id": f, "start": s, "end": e,
         "factor": x, "note": n}
        for i, (k, p, f, s, e, x, n) in enumerate(_EFFECTS)
    ]
    gt = pd.DataFrame(rows)
    gt.attrs["synthetic"] = True
    return gt


def _family_panel(rng: np.random.Generator, fams: pd.DataFrame, t: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Family-level monthly USD value and USD/kg unit value, shape (partners, families, months)."""
    n_p, n_f, n_t = len(PARTNERS), len(fams), len(t)
    base = np.exp(rng.normal(np.log(2.5e5), 1.0, n_f))
    size = np.array(list(PARTNERS.values()))
    level = size[:, None] * base[None, :] * np.exp(rng.normal(0, 0.7, (n_p, n_f)))
    growth = rng.normal(0.04, 0.03, (n_p, n_f))
    years = (t.year - 2017 + (t.month - 1) / 12).to_numpy()
    sigma = rng.uniform(0.15, 0.35, n_f)[None, :, None]
    shocks = rng.normal(0, 1, (n_p, n_f, n_t)) * sigma
    noise = np.empty_like(shocks)
    noise[..., 0] = shocks[..., 0] / np.sqrt(1 - 0.3**2)
    for i in range(1, n_t):
        noise[..., i] = 0.3 * noise[..., i - 1] + shocks[..., i]
    value = level[..., None] * np.exp(growth[..., None] * years) * SEASON[t.month - 1] * np.exp(noise)
    uv = np.exp(rng.normal(np.log(40), 1.2, n_f))[None, :, None] * np.exp(rng.normal(0, 0.2, (n_p, n_f, 1)))
    uv = np.broadcast_to(uv, value.shape).copy()
    return value, uv


def _plant(value: np.ndarray, uv: np.ndarray, fams: pd.DataFrame, t: pd.DatetimeIndex) -> None:
    """Apply the effects of :func:`ground_truth` (China's side) in place."""
    p_idx = {p: i for i, p in enumerate(PARTNERS)}
    f_idx = {f: i for i, f in enumerate(fams["family_id"])}
    period = t.strftime("%Y-%m")
    for kind, p, f, start, end, factor, _ in _EFFECTS:
        pi, fi = p_idx[p], f_idx[f]
        on = (period >= start) & ((period <= end) if end else True)
        if kind in ("level_shift", "spike", "common_shock"):
            value[pi, fi, on] *= factor
        elif kind == "new_flow":
            value[pi, fi, ~on] = 0.0
        elif kind == "unit_value":
            uv[pi, fi, on] *= factor


def _make_material(value: np.ndarray, fams: pd.DataFrame, floor: float = 2.5e5) -> None:
    """Raise every planted series to a median of at least ``floor`` USD a month (in place).

    A planted effect on a flow of a few thousand dollars, half its months
    omitted, would test the demo's luck rather than the detectors.
    """
    p_idx = {p: i for i, p in enumerate(PARTNERS)}
    f_idx = {f: i for i, f in enumerate(fams["family_id"])}
    for kind, p, f, *_ in _EFFECTS:
        if kind == "common_shock":
            continue
        row = value[p_idx[p], f_idx[f]]
        row *= max(1.0, floor / float(np.median(row)))


def _merge_jan_feb(value: np.ndarray, t: pd.DatetimeIndex) -> None:
    """China publishes January and February together: give each month half the total."""
    jan = np.flatnonzero(t.month == 1)
    jan = jan[jan + 1 < len(t)]
    both = (value[..., jan] + value[..., jan + 1]) / 2
    value[..., jan] = both
    value[..., jan + 1] = both


def _shares(rng: np.random.Generator, codes: list[str]) -> np.ndarray:
    return rng.dirichlet(np.full(len(codes), 2.0)) if len(codes) > 1 else np.ones(1)


def _records(value: np.ndarray, uv: np.ndarray, baseline: np.ndarray, fams: pd.DataFrame, t: pd.DatetimeIndex,
             rng: np.random.Generator) -> pd.DataFrame:
    """Split family values over their codes (H5 before 2022, H6 after) and drop empty cells.

    A cell is omitted with a probability that falls with the family's *unplanted*
    value, the same for every code of the family: so omission neither inflates a
    planted effect nor makes a break where a family's code list changes in 2022.
    """
    partners = np.array(list(PARTNERS))
    is_h6 = np.asarray(t.year >= 2022)
    parts = []
    for fi, fam in enumerate(fams.itertuples()):
        for edition, cols, codes in (("H5", ~is_h6, fam.h5_codes.split()), ("H6", is_h6, fam.h6_codes.split())):
            shares = _shares(rng, codes)
            v = value[:, fi, :][:, cols]  # partners x months
            p_present = 1 - np.exp(-baseline[:, fi, :][:, cols] / 2.0e4)
            tt = np.flatnonzero(cols)
            for code, share in zip(codes, shares, strict=False):
                cv = v * share
                present = rng.random(cv.shape) < p_present
                pi, ti = np.nonzero(present & (cv >= 1.0))
                parts.append(pd.DataFrame({
                    "partner": partners[pi], "t": tt[ti], "edition": edition, "code": code,
                    "value": np.round(cv[pi, ti]), "uv": uv[pi, fi, tt[ti]],
                }))
    rec = pd.concat(parts, ignore_index=True)
    rec["kg"] = np.round(rec["value"] / rec["uv"] * np.exp(rng.normal(0, 0.08, len(rec))), 1)
    return rec


def _mirror(value: np.ndarray, fams: pd.DataFrame, t: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    """Belarus's reported imports from China, 2017-2021 (CIF ~6% above China's FOB, timing noise)."""
    bi = list(PARTNERS).index(BELARUS)
    cols = np.flatnonzero(np.asarray(t.year <= 2021))
    gap = {f: x for k, p, f, s, e, x, _ in _EFFECTS if k == "mirror_gap"}
    gap_span = {f: (s, e) for k, p, f, s, e, x, _ in _EFFECTS if k == "mirror_gap"}
    period = t.strftime("%Y-%m")
    parts = []
    for fi, fam in enumerate(fams.itertuples()):
        cif = value[bi, fi, cols] * 1.06 * np.exp(rng.normal(0, 0.1, len(cols)))
        if fam.family_id in gap:
            s, e = gap_span[fam.family_id]
            cif = np.where((period[cols] >= s) & (period[cols] <= e), cif * gap[fam.family_id], cif)
        code = fam.h5_codes.split()[0]
        keep = cif >= 1.0
        parts.append(pd.DataFrame({"t": cols[keep], "code": code, "value": np.round(cif[keep])}))
    return pd.concat(parts, ignore_index=True)


def _to_schema(rec: pd.DataFrame, t: pd.DatetimeIndex, *, reporter: int, partner: np.ndarray, flow: str,
               editions: np.ndarray, kg: np.ndarray | None) -> pd.DataFrame:
    areas = registry.areas().set_index("code")
    desc = registry.load_registry().descriptions.set_index("code")["description"]
    n = len(rec)
    ti = rec["t"].to_numpy()
    when = t[ti]
    p_codes, p_uniq = pd.factorize(partner)
    c_codes, c_uniq = pd.factorize(rec["code"])
    e_codes, e_uniq = pd.factorize(editions)
    period = (np.asarray(t.strftime("%Y%m")), ti)
    value = rec["value"].to_numpy(dtype=float)
    cols: dict[str, object] = {
        "typeCode": "C", "freqCode": "M", "refPeriodId": (when.year * 10000 + when.month * 100 + 1).to_numpy(),
        "refYear": when.year.to_numpy(), "refMonth": when.month.to_numpy(), "period": period,
        "reporterCode": reporter, "reporterISO": areas.loc[reporter, "iso3"],
        "reporterDesc": areas.loc[reporter, "name"],
        "flowCode": flow, "flowDesc": "Export" if flow == "X" else "Import",
        "partnerCode": partner, "partnerISO": (areas.loc[p_uniq, "iso3"].to_numpy(), p_codes),
        "partnerDesc": (areas.loc[p_uniq, "name"].to_numpy(), p_codes),
        "partner2Code": 0, "partner2ISO": "W00", "partner2Desc": "World",
        "classificationCode": (np.asarray(e_uniq), e_codes), "classificationSearchCode": "HS",
        "isOriginalClassification": True,
        "cmdCode": (np.asarray(c_uniq), c_codes), "cmdDesc": (desc.reindex(c_uniq).to_numpy(), c_codes), "aggrLevel": 6,
        "isLeaf": True, "customsCode": "C00", "customsDesc": "TOTAL CPC", "mosCode": "0", "motCode": 0,
        "motDesc": "TOTAL MOT", "qtyUnitCode": 8 if kg is not None else -1,
        "qtyUnitAbbr": "kg" if kg is not None else "N/A", "qty": kg if kg is not None else 0.0,
        "isQtyEstimated": False, "altQtyUnitCode": -1, "altQtyUnitAbbr": "N/A", "altQty": 0.0,
        "isAltQtyEstimated": False, "netWgt": kg if kg is not None else np.nan, "isNetWgtEstimated": False,
        "grossWgt": 0.0, "isGrossWgtEstimated": False,
        "cifvalue": value if flow == "M" else np.nan, "fobvalue": value if flow == "X" else np.nan,
        "primaryValue": value, "legacyEstimationFlag": 0, "isReported": True, "isAggregate": False,
    }
    frame = pd.DataFrame({k: _column(v, n, FIELDS[k]) for k, v in cols.items()})
    frame["period_date"] = when.to_numpy().astype("datetime64[ns]")
    frame["synthetic"] = True
    return frame


def _column(value: Any, n: int, dtype: str) -> pd.Series:
    """A typed column of length n from a scalar, an array, or (distinct values, codes) for strings."""
    if isinstance(value, tuple):
        uniques, codes = value
    elif np.ndim(value) == 0:
        uniques, codes = np.asarray([value]), np.zeros(n, dtype=np.intp)
    else:
        return pd.Series(value, dtype=dtype)
    return pd.Series(uniques, dtype=dtype).take(codes).reset_index(drop=True)


@lru_cache(maxsize=4)
def _generate(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fams = registry.families()
    t = months()
    value, uv = _family_panel(rng, fams, t)
    _make_material(value, fams)
    baseline = value.copy()
    _plant(value, uv, fams, t)
    _merge_jan_feb(value, t)
    china = _records(value, uv, baseline, fams, t, rng)
    exports = _to_schema(china, t, reporter=REPORTER, partner=china["partner"].to_numpy(), flow="X",
                         editions=china["edition"].to_numpy(), kg=china["kg"].to_numpy())
    mirror = _mirror(value, fams, t, rng)
    imports = _to_schema(mirror, t, reporter=BELARUS, partner=np.full(len(mirror), REPORTER), flow="M",
                         editions=np.full(len(mirror), "H5"), kg=None)
    panel = pd.concat([exports, imports], ignore_index=True)
    panel.attrs["synthetic"] = True
    return panel


def load_demo(seed: int = SEED) -> pd.DataFrame:
    """The SYNTHETIC demo panel as a tidy record frame (every row has ``synthetic=True``).

    Deterministic for a given seed; :func:`ground_truth` lists what was planted.

    >>> panel = load_demo()
    >>> bool(panel["synthetic"].all())
    True
    """
    panel = _generate(seed).copy()
    panel.attrs["synthetic"] = True
    return panel
