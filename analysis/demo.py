"""The synthetic demo panel: China's monthly exports in the Comtrade record schema, with planted effects.

SYNTHETIC DATA. Nothing here is real trade. The panel exists so the whole
pipeline runs offline and so the analysis can be checked against a known
answer: :func:`ground_truth` lists every effect that was planted, including
the traps of real Comtrade data.

What it holds: China (156) exports (X), monthly 2017-01 to 2025-06, to Belarus,
Russia, every partner of the baseline and transit comparison sets
(:data:`analysis.countries.COMPARISON_PARTNERS`,
:data:`analysis.countries.TRANSIT_PARTNERS`), Germany and India, for every
registry code (HS 2017 codes before 2022, HS 2022 codes from 2022, as China
reports), plus Belarus's own mirror imports from China for 2017-2021, and the
supplier side (:mod:`analysis.demo_suppliers`): other reporters' exports to
Belarus, Belarus's imports from them to 2021 and two transit routes to
Russia, whose planted truth is :func:`supplier_truth` (per group) and
:func:`supplier_effects` (per supplier).
Texture: level differences by partner and family, trends, Chinese New Year
seasonality, AR(1) noise, months with no record when a flow is small
(Comtrade omits empty cells), quantities in kg.

The traps of real data, each a ground-truth kind:

- ``transit_rise``: the transit routes' imports of every dual-use family rise
  x2 to x3 from mid-2022 for their own reasons, so a comparison group that
  included them would understate Belarus's rises;
- ``shared_transit_shift``: one dual-use family in which Belarus and the
  transit routes rise together by the same factor (Belarus moves with the
  routes, not alone);
- ``common_shock``: China's car exports rise x3.5 to every partner (a global
  boom), so cars are not Belarus-specific;
- ``duplicate_edition``: from 2022, HS 2017 (H5) copies of the HS 2022 records
  (``isOriginalClassification`` False) beside the originals for Belarus and a
  few other partners, as a Comtrade+ download in both editions holds them;
- ``estimated_weight``: Belarus's records of 2023 carry estimated net weights
  (``isNetWgtEstimated``; value / a fixed price), whose unit-value jump is no
  price change;
- ``export_ban``: a reporter-wide ban on one dual-use family from 2023-09;
- ``noisy_focal``: Belarus's noise is twice the other partners';
- ``jan_feb_joint``: January and February published together from 2020 (each
  month carries half the two-month total, as in China's customs releases),
  separately in 2017-2019.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from . import registry
from .countries import COMPARISON_PARTNERS, TRANSIT_PARTNERS
from .demo_suppliers import supplier_effects as supplier_effects  # the supplier-side truth, re-exported
from .demo_suppliers import supplier_records
from .demo_suppliers import supplier_truth as supplier_truth
from .schema import FIELDS, STR

SEED = 20220224
START, END = "2017-01", "2025-06"
REPORTER = 156
BELARUS, RUSSIA, GERMANY, INDIA = 112, 643, 276, 699
WORLD = 0
"""``partner_code`` of a ground-truth row that holds for every partner (a reporter-wide effect)."""
ALL_FAMILIES = "*"
"""``family_id`` of a ground-truth row that holds for every family it concerns (see its note)."""

SIZE: dict[int, float] = {
    # Comtrade code: typical size of China's exports of the registry goods relative to Belarus
    BELARUS: 1.0, RUSSIA: 8.0, GERMANY: 6.0, INDIA: 4.0,
    # baseline economies
    616: 3.0, 440: 0.5, 428: 0.4, 642: 1.0, 348: 1.2, 703: 0.6, 203: 1.5, 100: 0.4, 498: 0.1,
    818: 1.2, 360: 4.0, 76: 4.5, 710: 1.5, 484: 5.0,
    # transit routes
    398: 1.5, 417: 0.6, 860: 0.8, 762: 0.15, 51: 0.2, 31: 0.3, 268: 0.25, 792: 3.0, 784: 3.5, 344: 8.0,
}
DEFAULT_SIZE = 0.5
"""Size of a comparison partner the table above does not list (a set in the registry may grow)."""
PARTNERS: dict[int, float] = {
    p: SIZE.get(p, DEFAULT_SIZE)
    for p in dict.fromkeys((BELARUS, RUSSIA, *COMPARISON_PARTNERS, *TRANSIT_PARTNERS, GERMANY, INDIA))
}
"""The panel's partners (Comtrade code: relative size), baseline and transit sets from the registry."""

SEASON = np.array([0.9, 0.7, 1.05, 1.0, 1.0, 1.02, 1.03, 1.03, 1.02, 1.05, 1.08, 1.15])
"""Month-of-year factors: the Chinese New Year trough in February, the year-end peak."""

CARS = ("HS870321", "HS870322", "HS870323", "HS870324")
SHARED_FAMILY = "HS854232"
"""The dual-use family in which Belarus and the transit routes rise together (memories)."""
BAN_FAMILY = "F8807PARTS"
"""The dual-use family China stops exporting from 2023-09 (parts of aircraft and unmanned aircraft)."""
ESTIMATE_PRICE = 8.0
"""USD per kg behind the estimated net weights (netWgt = primaryValue / ESTIMATE_PRICE)."""
TRANSIT_RISE: dict[int, tuple[str, float]] = {
    # transit partner: (start, factor) of its own rise in dual-use imports
    398: ("2022-05", 2.4), 417: ("2022-04", 3.0), 860: ("2022-06", 2.2), 762: ("2022-07", 2.0),
    51: ("2022-04", 2.8), 31: ("2022-06", 2.1), 268: ("2022-05", 2.5), 792: ("2022-06", 2.3),
    784: ("2022-05", 2.6), 344: ("2022-07", 2.0),
}
"""Partner-specific rises; a transit partner not listed rises x2.5 from 2022-06."""
DUPLICATE_PARTNERS = tuple(dict.fromkeys((BELARUS, RUSSIA, COMPARISON_PARTNERS[0], TRANSIT_PARTNERS[0])))
"""Partners whose 2022+ records also come as HS 2017 converted copies."""

_Effect = tuple[str, int, str, str, str, float, str]

_EFFECTS: list[_Effect] = [
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
    ("common_shock", p, f, "2022-06", "", 3.5, "cars to every partner x3.5 (China's global car export boom)")
    for p in PARTNERS for f in CARS
] + [
    ("transit_rise", p, ALL_FAMILIES, start, "", factor,
     f"transit route's own rise: every dual-use family except {SHARED_FAMILY} (shared_transit_shift)")
    for p in TRANSIT_PARTNERS for start, factor in [TRANSIT_RISE.get(p, ("2022-06", 2.5))]
] + [
    ("shared_transit_shift", p, SHARED_FAMILY, "2022-05", "", 2.5,
     "Belarus and every transit route x2.5 together (Belarus moves with the routes)")
    for p in dict.fromkeys((BELARUS, *TRANSIT_PARTNERS))
] + [
    ("export_ban", WORLD, BAN_FAMILY, "2023-09", "", 0.02, "China's export ban: every partner x0.02"),
] + [
    ("duplicate_edition", p, ALL_FAMILIES, "2022-01", "", 2.0,
     "HS 2017 (H5) converted copies of every HS 2022 record, isOriginalClassification False: "
     "counted beside the originals they double the totals")
    for p in DUPLICATE_PARTNERS
] + [
    ("estimated_weight", BELARUS, ALL_FAMILIES, "2023-01", "2023-12", 1.0,
     f"isNetWgtEstimated: netWgt = value / {ESTIMATE_PRICE:g} USD per kg; value unchanged, the unit-value "
     "jump is no price change"),
    ("noisy_focal", BELARUS, ALL_FAMILIES, START, "", 2.0,
     "noise standard deviation twice the other partners' (every family)"),
    ("jan_feb_joint", WORLD, ALL_FAMILIES, "2020-01", "", 0.5,
     "January and February published together from 2020 (each carries half the two-month total); "
     "2017-2019 separately"),
]


def months() -> pd.DatetimeIndex:
    """The demo panel's months, 2017-01 to 2025-06."""
    return pd.date_range(START, END, freq="MS")


def ground_truth() -> pd.DataFrame:
    """Every planted effect: ``effect_id, kind, reporter_code, partner_code, family_id, start, end, factor, note``.

    ``factor`` multiplies the value, with these exceptions: the unit value
    for kind unit_value; Belarus's reported imports over China's exports for
    mirror_gap; inf for a new flow; the noise standard deviation for
    noisy_focal; the share of the two-month total each of January and
    February carries for jan_feb_joint; what counting the converted copies
    beside the originals would do to the totals for duplicate_edition; 1 (the
    value unchanged) for estimated_weight. ``end`` is empty for effects that
    last to the end. ``partner_code`` 0 means every partner (a reporter-wide
    effect), ``family_id`` ``"*"`` every family the ``note`` names. The effects
    on the other suppliers of Belarus (shares, sanctions, substitution) are in
    :func:`supplier_truth` and :func:`supplier_effects`.
    """
    rows = [
        {"effect_id": i + 1, "kind": k, "reporter_code": BELARUS if k == "mirror_gap" else REPORTER,
         "partner_code": p if k != "mirror_gap" else REPORTER, "family_id": f, "start": s, "end": e,
         "factor": float(x), "note": n}
        for i, (k, p, f, s, e, x, n) in enumerate(_EFFECTS)
    ]
    gt = pd.DataFrame(rows)
    gt.attrs["synthetic"] = True
    return gt


def _effects(kind: str) -> list[_Effect]:
    return [e for e in _EFFECTS if e[0] == kind]


def _family_panel(rng: np.random.Generator, fams: pd.DataFrame, t: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Family-level monthly USD value and USD/kg unit value, shape (partners, families, months).

    The log noise is AR(1), centred so that a partner's mean level does not
    depend on its noise (a noisier focal partner is not a larger one).
    """
    n_p, n_f, n_t = len(PARTNERS), len(fams), len(t)
    base = np.exp(rng.normal(np.log(2.5e5), 1.0, n_f))
    size = np.array(list(PARTNERS.values()))
    level = size[:, None] * base[None, :] * np.exp(rng.normal(0, 0.7, (n_p, n_f)))
    growth = rng.normal(0.04, 0.03, (n_p, n_f))
    years = (t.year - 2017 + (t.month - 1) / 12).to_numpy()
    noisy = {p: x for _, p, _, _, _, x, _ in _effects("noisy_focal")}
    scale = np.array([noisy.get(p, 1.0) for p in PARTNERS])[:, None, None]
    sigma = rng.uniform(0.15, 0.35, n_f)[None, :, None] * scale
    shocks = rng.normal(0, 1, (n_p, n_f, n_t)) * sigma
    noise = np.empty_like(shocks)
    noise[..., 0] = shocks[..., 0] / np.sqrt(1 - 0.3**2)
    for i in range(1, n_t):
        noise[..., i] = 0.3 * noise[..., i - 1] + shocks[..., i]
    noise -= sigma**2 / (1 - 0.3**2) / 2
    value = level[..., None] * np.exp(growth[..., None] * years) * SEASON[t.month - 1] * np.exp(noise)
    uv = np.exp(rng.normal(np.log(40), 1.2, n_f))[None, :, None] * np.exp(rng.normal(0, 0.2, (n_p, n_f, 1)))
    uv = np.broadcast_to(uv, value.shape).copy()
    return value, uv


def _window(period: np.ndarray, start: str, end: str) -> np.ndarray:
    return (period >= start) & ((period <= end) if end else True)


def _plant(value: np.ndarray, uv: np.ndarray, fams: pd.DataFrame, t: pd.DatetimeIndex) -> None:
    """Apply the effects of :func:`ground_truth` that change China's values or unit values (in place)."""
    p_idx = {p: i for i, p in enumerate(PARTNERS)}
    f_idx = {f: i for i, f in enumerate(fams["family_id"])}
    period = np.asarray(t.strftime("%Y-%m"))
    dual_use = np.flatnonzero((fams["kind"] == "dual_use").to_numpy())
    shared = {f for k, _, f, *_ in _EFFECTS if k == "shared_transit_shift"}
    own_rise = np.array([i for i in dual_use if fams["family_id"].iloc[i] not in shared], dtype=np.intp)
    for kind, p, f, start, end, factor, _ in _EFFECTS:
        on = _window(period, start, end)
        if kind == "transit_rise":
            value[p_idx[p], own_rise[:, None], on] *= factor
        elif kind == "export_ban":
            value[:, f_idx[f], on] *= factor
        elif kind in ("level_shift", "spike", "common_shock", "shared_transit_shift"):
            value[p_idx[p], f_idx[f], on] *= factor
        elif kind == "new_flow":
            value[p_idx[p], f_idx[f], ~on] = 0.0
        elif kind == "unit_value":
            uv[p_idx[p], f_idx[f], on] *= factor


def _make_material(value: np.ndarray, fams: pd.DataFrame, floor: float = 2.5e5) -> None:
    """Raise every series planted alone to a median of at least ``floor`` USD a month (in place).

    A planted effect on a flow of a few thousand dollars, half its months
    omitted, would test the demo's luck rather than the detectors. Effects on
    every partner or every family (cars, transit rises, the ban, the traps)
    keep the panel's own sizes.
    """
    p_idx = {p: i for i, p in enumerate(PARTNERS)}
    f_idx = {f: i for i, f in enumerate(fams["family_id"])}
    for kind, p, f, *_ in _EFFECTS:
        if kind == "common_shock" or p == WORLD or f == ALL_FAMILIES:
            continue
        row = value[p_idx[p], f_idx[f]]
        row *= max(1.0, floor / float(np.median(row)))


def _merge_jan_feb(value: np.ndarray, t: pd.DatetimeIndex) -> None:
    """China publishes January and February together (from the jan_feb_joint start): each month gets half."""
    starts = [s for _, _, _, s, _, _, _ in _effects("jan_feb_joint")]
    if not starts:
        return
    jan = np.flatnonzero((t.month == 1) & (np.asarray(t.strftime("%Y-%m")) >= min(starts)))
    jan = jan[jan + 1 < len(t)]
    both = (value[..., jan] + value[..., jan + 1]) / 2
    value[..., jan] = both
    value[..., jan + 1] = both


def _shares(rng: np.random.Generator, codes: list[str]) -> np.ndarray:
    return rng.dirichlet(np.full(len(codes), 2.0)) if len(codes) > 1 else np.ones(1)


def _records(value: np.ndarray, uv: np.ndarray, baseline: np.ndarray, fams: pd.DataFrame, t: pd.DatetimeIndex,
             rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split family values over their codes (H5 before 2022, H6 after) and drop empty cells.

    A cell is omitted with a probability that falls with the family's *unplanted*
    value, the same for every code of the family: so omission neither inflates a
    planted effect nor makes a break where a family's code list changes in 2022.
    Returns the records (``partner, t, edition, code, family, value, kg``) and
    each family's HS 2017 code shares (``family, code, share``).
    """
    partners = np.array(list(PARTNERS))
    is_h6 = np.asarray(t.year >= 2022)
    cells: dict[str, list[np.ndarray]] = {"partner": [], "t": [], "value": [], "uv": [], "label": []}
    labels: list[tuple[str, str, str]] = []  # (edition, code, family) of each block of records
    share_family: list[str] = []  # each family's HS 2017 codes and their shares, one table at the end
    share_code: list[str] = []
    share_value: list[np.ndarray] = []
    for fi, fam in enumerate(fams.itertuples()):
        for edition, cols, codes in (("H5", ~is_h6, fam.h5_codes.split()), ("H6", is_h6, fam.h6_codes.split())):
            shares = _shares(rng, codes)
            if edition == "H5":
                share_family += [fam.family_id] * len(codes)
                share_code += codes
                share_value.append(shares)
            v = value[:, fi, :][:, cols]  # partners x months
            p_present = 1 - np.exp(-baseline[:, fi, :][:, cols] / 2.0e4)
            tt = np.flatnonzero(cols)
            for code, share in zip(codes, shares, strict=False):
                cv = v * share
                present = rng.random(cv.shape) < p_present
                pi, ti = np.nonzero(present & (cv >= 1.0))
                cells["partner"].append(partners[pi])
                cells["t"].append(tt[ti])
                cells["value"].append(np.round(cv[pi, ti]))
                cells["uv"].append(uv[pi, fi, tt[ti]])
                cells["label"].append(np.full(len(pi), len(labels)))
                labels.append((edition, code, fam.family_id))
    flat = {k: np.concatenate(v) for k, v in cells.items()}
    names = np.array(labels, dtype=object).reshape(-1, 3)
    label = flat.pop("label")
    uv_rec = flat.pop("uv")
    rec = pd.DataFrame({"partner": flat["partner"], "t": flat["t"], "edition": _strings(names[:, 0], label),
                        "code": _strings(names[:, 1], label), "family": _strings(names[:, 2], label),
                        "value": flat["value"]})
    rec["kg"] = np.round(rec["value"].to_numpy() / uv_rec * np.exp(rng.normal(0, 0.08, len(rec))), 1)
    h5_shares = pd.DataFrame({"family": pd.Series(share_family, dtype=STR), "code": pd.Series(share_code, dtype=STR),
                              "share": np.concatenate(share_value)})
    return rec.assign(original=True), h5_shares


def _estimate_weights(rec: pd.DataFrame, t: pd.DatetimeIndex) -> pd.DataFrame:
    """Mark the estimated_weight effects: ``estimated`` True and kg = value / ESTIMATE_PRICE."""
    period = np.asarray(t.strftime("%Y-%m"))[rec["t"].to_numpy()]
    est = np.zeros(len(rec), dtype=bool)
    for _, p, _, start, end, _, _ in _effects("estimated_weight"):
        est |= (rec["partner"].to_numpy() == p) & _window(period, start, end)
    rec = rec.assign(estimated=est)
    rec.loc[est, "kg"] = np.maximum(np.round(rec.loc[est, "value"] / ESTIMATE_PRICE, 1), 0.1)
    return rec


def _converted_copies(rec: pd.DataFrame, h5_shares: pd.DataFrame, t: pd.DatetimeIndex) -> pd.DataFrame:
    """HS 2017 copies of the HS 2022 records of the duplicate_edition partners (``original`` False).

    Each family's HS 2022 value in a month goes to its HS 2017 codes with the
    shares the family has before 2022 (a family with one code each side maps
    directly); the weight likewise.
    """
    period = np.asarray(t.strftime("%Y-%m"))[rec["t"].to_numpy()]
    chosen = np.zeros(len(rec), dtype=bool)
    for _, p, _, start, end, _, _ in _effects("duplicate_edition"):
        chosen |= (rec["partner"].to_numpy() == p) & _window(period, start, end)
    h6 = rec[chosen & (rec["edition"] == "H6").to_numpy()]
    if h6.empty:
        return rec.iloc[:0]
    cells = h6.groupby(["partner", "t", "family"], sort=False).agg(
        value=("value", "sum"), kg=("kg", "sum")).reset_index()
    copies = cells.merge(h5_shares, on="family", how="inner")
    copies["value"] = np.round(copies["value"] * copies["share"])
    copies["kg"] = np.maximum(np.round(copies["kg"] * copies["share"], 1), 0.1)
    copies = copies[copies["value"] >= 1.0]
    return copies.assign(edition="H5", original=False)[list(rec.columns)].reset_index(drop=True)


def _mirror(value: np.ndarray, fams: pd.DataFrame, t: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    """Belarus's reported imports from China, 2017-2021 (CIF ~6% above China's FOB, timing noise).

    Belarus publishes every month on its own: ``value`` is China's side before
    January and February are published together.
    """
    bi = list(PARTNERS).index(BELARUS)
    cols = np.flatnonzero(np.asarray(t.year <= 2021))
    gap = {f: (s, e, x) for _, _, f, s, e, x, _ in _effects("mirror_gap")}
    period = np.asarray(t.strftime("%Y-%m"))
    parts: dict[str, list[np.ndarray]] = {"t": [], "family": [], "value": []}  # arrays per family, one frame at the end
    codes: list[str] = []  # each family's first HS 2017 code
    for fi, fam in enumerate(fams.itertuples()):
        cif = value[bi, fi, cols] * 1.06 * np.exp(rng.normal(0, 0.1, len(cols)))
        if fam.family_id in gap:
            s, e, x = gap[fam.family_id]
            cif = np.where(_window(period[cols], s, e), cif * x, cif)
        codes.append(fam.h5_codes.split()[0])
        keep = cif >= 1.0
        parts["t"].append(cols[keep])
        parts["family"].append(np.full(int(keep.sum()), fi))
        parts["value"].append(np.round(cif[keep]))
    family = np.concatenate(parts["family"])
    code = _strings(np.array(codes), family)
    return pd.DataFrame({"t": np.concatenate(parts["t"]), "code": code, "value": np.concatenate(parts["value"])})


def _to_schema(rec: pd.DataFrame, t: pd.DatetimeIndex, *, reporter: int | np.ndarray, partner: np.ndarray,
               flow: str, editions: np.ndarray | pd.Series, kg: np.ndarray | None, original: np.ndarray | bool = True,
               estimated: np.ndarray | bool = False) -> pd.DataFrame:
    areas = registry.areas().set_index("code")
    desc = registry.load_registry().descriptions.set_index("code")["description"]
    n = len(rec)
    ti = rec["t"].to_numpy()
    when = t[ti]
    r_codes, r_uniq = pd.factorize(np.broadcast_to(np.asarray(reporter), (n,)))
    p_codes, p_uniq = pd.factorize(partner)
    c_codes, c_uniq = pd.factorize(rec["code"])
    e_codes, e_uniq = pd.factorize(editions)
    period = (np.asarray(t.strftime("%Y%m")), ti)
    value = rec["value"].to_numpy(dtype=float)
    cols: dict[str, object] = {
        "typeCode": "C", "freqCode": "M", "refPeriodId": (when.year * 10000 + when.month * 100 + 1).to_numpy(),
        "refYear": when.year.to_numpy(), "refMonth": when.month.to_numpy(), "period": period,
        "reporterCode": reporter, "reporterISO": (areas.loc[r_uniq, "iso3"].to_numpy(), r_codes),
        "reporterDesc": (areas.loc[r_uniq, "name"].to_numpy(), r_codes),
        "flowCode": flow, "flowDesc": "Export" if flow == "X" else "Import",
        "partnerCode": partner, "partnerISO": (areas.loc[p_uniq, "iso3"].to_numpy(), p_codes),
        "partnerDesc": (areas.loc[p_uniq, "name"].to_numpy(), p_codes),
        "partner2Code": 0, "partner2ISO": "W00", "partner2Desc": "World",
        "classificationCode": (np.asarray(e_uniq), e_codes), "classificationSearchCode": "HS",
        "isOriginalClassification": original,
        "cmdCode": (np.asarray(c_uniq), c_codes), "cmdDesc": (desc.reindex(c_uniq).to_numpy(), c_codes), "aggrLevel": 6,
        "isLeaf": True, "customsCode": "C00", "customsDesc": "TOTAL CPC", "mosCode": "0", "motCode": 0,
        "motDesc": "TOTAL MOT", "qtyUnitCode": 8 if kg is not None else -1,
        "qtyUnitAbbr": "kg" if kg is not None else "N/A", "qty": kg if kg is not None else 0.0,
        "isQtyEstimated": estimated, "altQtyUnitCode": -1, "altQtyUnitAbbr": "N/A", "altQty": 0.0,
        "isAltQtyEstimated": False, "netWgt": kg if kg is not None else np.nan, "isNetWgtEstimated": estimated,
        "grossWgt": 0.0, "isGrossWgtEstimated": False,
        "cifvalue": value if flow == "M" else np.nan, "fobvalue": value if flow == "X" else np.nan,
        "primaryValue": value, "legacyEstimationFlag": 0, "isReported": True, "isAggregate": False,
    }
    frame = pd.DataFrame({k: _column(v, n, FIELDS[k]) for k, v in cols.items()}, copy=False)  # columns are new
    frame["period_date"] = when.to_numpy().astype("datetime64[ns]")
    frame["synthetic"] = True
    return frame


def _column(value: Any, n: int, dtype: str) -> pd.Series:
    """A typed column of length n from a scalar, an array, or (distinct values, codes) for strings."""
    if isinstance(value, tuple):
        return _strings(*value)
    if np.ndim(value) == 0:
        if dtype == STR:
            return _strings(np.asarray([value]), np.zeros(n, dtype=np.intp))
        return pd.Series(value, index=pd.RangeIndex(n), dtype=dtype)
    return pd.Series(value, dtype=dtype)


def _strings(uniques: np.ndarray, codes: np.ndarray) -> pd.Series:
    """A str column: ``uniques[codes]``, missing where a unique is.

    Decoded by Arrow from a dictionary array, never one Python object per
    record; several times faster than a take for the long descriptions.
    """
    values = pa.array(uniques, type=pa.large_string(), from_pandas=True)
    decoded = pa.DictionaryArray.from_arrays(pa.array(codes), values).cast(pa.large_string())
    return pd.Series(pd.array(decoded, dtype=STR))


@lru_cache(maxsize=4)
def _generate(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fams = registry.families()
    t = months()
    value, uv = _family_panel(rng, fams, t)
    _make_material(value, fams)
    baseline = value.copy()
    _plant(value, uv, fams, t)
    monthly = value.copy()
    _merge_jan_feb(value, t)
    china, h5_shares = _records(value, uv, baseline, fams, t, rng)
    china = pd.concat([china, _converted_copies(china, h5_shares, t)], ignore_index=True)
    china = _estimate_weights(china, t)
    exports = _to_schema(china, t, reporter=REPORTER, partner=china["partner"].to_numpy(), flow="X",
                         editions=china["edition"], kg=china["kg"].to_numpy(),
                         original=china["original"].to_numpy(), estimated=china["estimated"].to_numpy())
    mirror = _mirror(monthly, fams, t, rng)
    imports = _to_schema(mirror, t, reporter=BELARUS, partner=np.full(len(mirror), REPORTER), flow="M",
                         editions=np.full(len(mirror), "H5"), kg=None)
    suppliers = supplier_records(exports, fams, t, seed)  # other reporters' exports to Belarus: demo_suppliers
    panel = pd.concat([exports, imports, suppliers], ignore_index=True)
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
