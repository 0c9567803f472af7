"""The SYNTHETIC demo panel's supplier side: other reporters' exports to Belarus, with planted truth.

SYNTHETIC DATA. Nothing here is real trade. It extends :mod:`analysis.demo`
(whose China records it leaves untouched) so that "who supplies Belarus?"
(:mod:`analysis.suppliers`) runs offline against a known answer.

What it adds, monthly 2017-01 to 2025-06, one record per supplier, family and
month (the family's first code of the edition of the year):

- exports (X) to Belarus reported by :data:`SUPPLIERS`: six EU members, the
  USA (842), Japan (392), Korea (410), Taiwan (490, "Other Asia, nes"),
  Türkiye (792), Kazakhstan (398) and Russia (643); each exports some of
  the registry families (:data:`ACTIVE`: 30%);
- Belarus's own imports (M) from each of them, 2017-2021 (the mirror; Belarus
  publishes until 2021), CIF about 6% above the exporter's FOB;
- Türkiye's and Kazakhstan's exports to Russia (the routes).

Planted truth (:func:`supplier_truth` per group, :func:`supplier_effects`
per supplier):

- ``china_share``: each group's other suppliers are sized so that China's
  share of Belarus's mirrored imports in the pre window (2019-2021) is a
  drawn target (8-30% in dual-use groups, 35% in the control groups), given
  China's own records for Belarus; the realised shares before and after
  follow from the values planted below;
- ``sanctions_fall``: from 2022-03 every sanctioning supplier's exports of
  dual-use goods to Belarus fall to a supplier-specific factor (x0.08 to
  x0.2), control goods to x0.8; nobody replaces them, so China's share of
  every dual-use group rises, more where China's own exports rose;
- ``transit_substitution``: in one group (:data:`TRANSIT_GROUP`) Türkiye
  replaces, from 2022-06, exactly what the sanctioning suppliers stopped
  sending: its share rises instead of China's;
- ``non_reporting``: Russia publishes nothing after 2021 (as in Comtrade),
  so it has no records at all from 2022;
- ``mirror_gap``: Belarus reports 1.6 times Lithuania's recorded exports
  (attribution by origin against consignment), beyond the CIF/FOB margin;
- ``route``: Türkiye's and Kazakhstan's exports of dual-use goods to Russia
  x3 from 2022-06, while China's exports to them rise too (the demo's
  ``transit_rise``): candidate routes.

The expected values are drawn from their own random streams
(``default_rng([seed, 1])`` for levels and ``[seed, 2]`` for noise), so
China's records, drawn first from the demo's stream, do not change.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import registry

CHINA, FOCAL, RUSSIA = 156, 112, 643
SUPPLIERS: dict[int, float] = {
    # Comtrade code: relative size of its exports of the registry goods to Belarus before 2022
    276: 1.0, 616: 0.8, 440: 0.6, 380: 0.5, 528: 0.35, 251: 0.3,  # Germany, Poland, Lithuania, Italy, NL, France
    842: 0.45, 392: 0.4, 410: 0.3, 490: 0.3,  # USA, Japan, Korea, Taiwan
    792: 0.35, 398: 0.2,  # Türkiye, Kazakhstan (transit)
    643: 2.5,  # Russia (stops publishing after 2021)
}
SANCTION_FACTOR: dict[int, float] = {276: 0.12, 616: 0.2, 440: 0.15, 380: 0.18, 528: 0.1, 251: 0.12, 842: 0.08,
                                     392: 0.1, 410: 0.15, 490: 0.1}
"""Sanctioning suppliers: what their exports of dual-use goods to Belarus fall to from :data:`SANCTIONS_START`."""
CONTROL_FACTOR = 0.8
"""What the sanctioning suppliers' exports of control goods (consumer goods, cars) fall to."""
SANCTIONS_START = "2022-03"
TRANSIT_GROUP = "machine_tools"
TRANSIT_SUPPLIER = 792
TRANSIT_START = "2022-06"
STOPS_REPORTING = {RUSSIA: "2021-12"}
"""Suppliers that publish nothing after the given month."""
MIRROR_START, MIRROR_END = "2017-01", "2021-12"
"""Belarus's own imports from the other suppliers are in the panel for these months (it publishes until 2021)."""
CIF_FOB = 1.06
MIRROR_GAP = {440: 1.6}
"""Belarus's reported imports from these suppliers over their reported exports (on top of CIF/FOB)."""
ROUTES = {792: 0.6, 398: 0.5}
"""Transit suppliers whose exports to Russia the panel holds (relative size)."""
ROUTE_START, ROUTE_FACTOR = "2022-06", 3.0
ACTIVE = 0.3
"""Probability that a supplier exports a family to Belarus (or a transit partner to Russia) at all."""
PRE = ("2019-01", "2021-12")
POST_START = "2022-03"
"""The default study's windows (the truth is stated over them)."""
CHINA_SHARE_RANGE = (0.08, 0.30)
CONTROL_CHINA_SHARE = 0.35
RUSSIA_WEIGHT = 0.8
"""Russia's pre-2022 exports to Belarus relative to all other non-Chinese suppliers together, per group."""
NOISE_SD, NOISE_AR = 0.25, 0.3


@dataclass(frozen=True)
class _Planted:
    """Expected monthly USD (no noise) of every planted flow, and the drawn targets."""

    suppliers: np.ndarray  # supplier codes (S)
    exports: np.ndarray  # S x F x T: exports to the focal partner (0: no trade or not published)
    routes: np.ndarray  # R x F x T: the route reporters' exports to Russia
    target: dict[str, float]  # China's pre-window share per group (the drawn target)


def _period(t: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(t.strftime("%Y-%m"))


def china_matrix(records: pd.DataFrame, fams: pd.DataFrame, t: pd.DatetimeIndex) -> np.ndarray:
    """China's original export records to Belarus as USD per family x month (what the truth is stated against)."""
    chosen = ((records["reporterCode"] == CHINA) & (records["partnerCode"] == FOCAL) & (records["flowCode"] == "X")
              & records["isOriginalClassification"].astype(bool))
    rec = records.loc[chosen, ["cmdCode", "classificationCode", "period_date", "primaryValue"]]  # not every field
    fam = registry.family_of(rec["cmdCode"], rec["classificationCode"])
    fi = pd.Index(fams["family_id"]).get_indexer(fam)
    ti = t.get_indexer(pd.DatetimeIndex(rec["period_date"]))
    out = np.zeros((len(fams), len(t)))
    ok = (fi >= 0) & (ti >= 0)
    np.add.at(out, (fi[ok], ti[ok]), rec["primaryValue"].to_numpy(dtype=float)[ok])
    return out


def _plan(china: np.ndarray, fams: pd.DataFrame, t: pd.DatetimeIndex, seed: int) -> _Planted:
    """The expected values of :func:`supplier_records` (see the module docstring for what is planted)."""
    from .demo import SEASON

    rng = np.random.default_rng([seed, 1])
    codes = np.array(list(SUPPLIERS))
    n_s, n_f = len(codes), len(fams)
    period = _period(t)
    pre = (period >= PRE[0]) & (period <= PRE[1])
    groups, kinds = fams["group"].to_numpy(), fams["kind"].to_numpy()
    dual = kinds == "dual_use"
    active = rng.random((n_s, n_f)) < ACTIVE
    weight = np.array(list(SUPPLIERS.values()))[:, None] * np.exp(rng.normal(0, 0.8, (n_s, n_f))) * active
    table = registry.groups()
    target = {g: float(rng.uniform(*CHINA_SHARE_RANGE)) if k == "dual_use" else CONTROL_CHINA_SHARE
              for g, k in zip(table["group"], table["kind"], strict=True)}
    both = np.array([c not in STOPS_REPORTING for c in codes])
    russia = np.flatnonzero(codes == RUSSIA)
    level = np.zeros((n_s, n_f))
    for g, share in target.items():
        fi = np.flatnonzero(groups == g)
        if not len(fi):
            continue
        others = china[fi][:, pre].sum(axis=0).mean() * (1 - share) / share
        w = weight[:, fi] * both[:, None]
        level[:, fi] = others * w / max(w.sum(), 1e-12)
        if len(russia):
            wr = weight[russia[0], fi]
            level[russia[0], fi] = RUSSIA_WEIGHT * others * wr / max(wr.sum(), 1e-12)
    factor = np.ones((n_s, n_f, len(t)))
    on = period >= SANCTIONS_START
    for code, phi in SANCTION_FACTOR.items():
        i = int(np.flatnonzero(codes == code)[0])
        factor[i][:, on] = np.where(dual, phi, CONTROL_FACTOR)[:, None]
    season = SEASON[t.month - 1]
    exports = level[:, :, None] * season[None, None, :] * factor
    sanctioning = np.isin(codes, list(SANCTION_FACTOR))
    fall = (level[sanctioning][:, :, None] * season * (1 - factor[sanctioning])).sum(axis=0)  # F x T
    tg, tr = groups == TRANSIT_GROUP, period >= TRANSIT_START
    i = int(np.flatnonzero(codes == TRANSIT_SUPPLIER)[0])
    exports[i][np.ix_(tg, tr)] += fall[np.ix_(tg, tr)]
    for code, last in STOPS_REPORTING.items():
        exports[np.ix_(codes == code, np.ones(n_f, bool), period > last)] = 0.0
    route_codes = np.array(list(ROUTES))
    base = china[:, pre].mean(axis=1) + 2.0e4
    route_active = (rng.random((len(route_codes), n_f)) < ACTIVE) & dual
    route_level = (np.array(list(ROUTES.values()))[:, None] * base[None, :]
                   * np.exp(rng.normal(0, 0.6, (len(route_codes), n_f))) * route_active)
    routes = route_level[:, :, None] * season * np.where(period >= ROUTE_START, ROUTE_FACTOR, 1.0)
    return _Planted(codes, exports, routes, target)


def _realise(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Expected values times mean-one AR(1) log-normal noise; cells under 1 USD or omitted (small, random) are 0."""
    shocks = rng.normal(0, NOISE_SD, expected.shape)
    noise = np.empty_like(shocks)
    noise[..., 0] = shocks[..., 0] / np.sqrt(1 - NOISE_AR**2)
    for k in range(1, expected.shape[-1]):
        noise[..., k] = NOISE_AR * noise[..., k - 1] + shocks[..., k]
    noise -= NOISE_SD**2 / (1 - NOISE_AR**2) / 2
    value = np.round(expected * np.exp(noise))
    present = rng.random(expected.shape) < 1 - np.exp(-value / 2.0e3)
    return np.where(present & (value >= 1.0), value, 0.0)


def _first_codes(fams: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([c.split()[0] for c in fams["h5_codes"]]), np.array([c.split()[0] for c in fams["h6_codes"]]))


def _cells(value: np.ndarray, reporters: np.ndarray | int, partners: np.ndarray | int, fams: pd.DataFrame,
           t: pd.DatetimeIndex) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero cells of ``value`` (areas x families x months) as (t, code, value) rows, reporter, partner, edition."""
    a, f, k = np.nonzero(value)
    h5, h6 = _first_codes(fams)
    h6_year = np.asarray(t.year >= 2022)[k]
    rec = pd.DataFrame({"t": k, "code": np.where(h6_year, h6[f], h5[f]), "value": value[a, f, k]})
    partner = np.asarray(partners)[a] if np.ndim(partners) else np.full(len(a), partners)
    reporter = np.asarray(reporters)[a] if np.ndim(reporters) else np.full(len(a), reporters)
    return rec, reporter, partner, np.where(h6_year, "H6", "H5")


def supplier_records(exports: pd.DataFrame, fams: pd.DataFrame, t: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    """The supplier side of the demo panel as records in the Comtrade schema (SYNTHETIC), given China's export
    records (``exports``, whose Belarus part the other suppliers are sized against)."""
    from .demo import _to_schema

    planted = _plan(china_matrix(exports, fams, t), fams, t, seed)
    rng = np.random.default_rng([seed, 2])
    sold = _realise(planted.exports, rng)
    routes = _realise(planted.routes, rng)
    period = _period(t)
    gap = np.array([MIRROR_GAP.get(int(c), 1.0) for c in planted.suppliers], dtype=float)[:, None, None]
    cif = sold * CIF_FOB * gap * np.exp(rng.normal(0, 0.1, sold.shape))
    bought = np.round(np.where((period >= MIRROR_START) & (period <= MIRROR_END), cif, 0.0))
    parts = []
    for value, reporters, partners, flow in ((sold, planted.suppliers, FOCAL, "X"),
                                             (routes, np.array(list(ROUTES)), RUSSIA, "X"),
                                             (bought, FOCAL, planted.suppliers, "M")):
        rec, rep, par, editions = _cells(value, reporters, partners, fams, t)
        parts.append(_to_schema(rec, t, reporter=rep, partner=par, flow=flow, editions=editions, kg=None))
    return pd.concat(parts, ignore_index=True)


def _window_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return x[..., mask].mean(axis=-1)


def supplier_truth(seed: int | None = None) -> pd.DataFrame:
    """What was planted, per group, as the default study measures it (pre 2019-2021, post 2022-03 to 2025-06).

    Columns: ``group, kind`` (``china_share`` for the dual-use groups where
    only China's share can rise, ``transit_share`` for :data:`TRANSIT_GROUP`,
    ``control`` for control goods), China's, the sanctioning suppliers',
    the transit suppliers' and the others' mean monthly USD in each window
    (``*_pre``, ``*_post``; expected values, China's as recorded), China's
    and the transit suppliers' shares (``china_share_pre`` ...), the
    substitution (``fall_sanctioning``, ``rise_china``, ``rise_transit``,
    ``rise_other``, ``gap``, USD a month) and ``target`` (the drawn pre-window
    share). Shares are of the suppliers that publish in both windows (Russia
    does not). SYNTHETIC.
    """
    from .demo import SEED, load_demo, months

    seed = SEED if seed is None else seed
    fams, t = registry.families(), months()
    china = china_matrix(load_demo(seed), fams, t)
    planted = _plan(china, fams, t, seed)
    period = _period(t)
    pre, post = (period >= PRE[0]) & (period <= PRE[1]), period >= POST_START
    codes = planted.suppliers
    sets = {"sanctioning": np.isin(codes, list(SANCTION_FACTOR)), "transit": np.isin(codes, [792, 398]),
            "other": ~np.isin(codes, [*SANCTION_FACTOR, 792, 398, *STOPS_REPORTING])}
    rows = []
    groups = fams["group"].to_numpy()
    for g, kind in registry.groups()[["group", "kind"]].itertuples(index=False):
        fi = groups == g
        if not fi.any():
            continue
        usd: dict[str, float] = {}
        for w, mask in (("pre", pre), ("post", post)):
            usd[f"china_{w}"] = float(_window_mean(china[fi].sum(axis=0), mask))
            for name, sel in sets.items():
                usd[f"{name}_{w}"] = float(_window_mean(planted.exports[sel][:, fi].sum(axis=(0, 1)), mask))
            total = usd[f"china_{w}"] + sum(usd[f"{n}_{w}"] for n in sets)
            usd[f"china_share_{w}"] = usd[f"china_{w}"] / total
            usd[f"transit_share_{w}"] = usd[f"transit_{w}"] / total
        usd["fall_sanctioning"] = usd["sanctioning_pre"] - usd["sanctioning_post"]
        for name in ("china", "transit", "other"):
            usd[f"rise_{name}"] = usd[f"{name}_post"] - usd[f"{name}_pre"]
        usd["gap"] = usd["fall_sanctioning"] - usd["rise_china"] - usd["rise_transit"] - usd["rise_other"]
        rows.append({"group": g, "kind": "transit_share" if g == TRANSIT_GROUP else
                     "china_share" if kind == "dual_use" else "control", **usd, "target": planted.target[g]})
    out = pd.DataFrame(rows)
    out.attrs["synthetic"] = True
    return out


def supplier_effects() -> pd.DataFrame:
    """The supplier-level effects planted: ``kind, reporter_code, partner_code, start, end, factor, note``
    (SYNTHETIC). ``factor`` multiplies the value (the mirror ratio for ``mirror_gap``, 0 for ``non_reporting``)."""
    rows = [("sanctions_fall", c, FOCAL, SANCTIONS_START, "", phi,
             f"dual-use goods x{phi:g}, control goods x{CONTROL_FACTOR:g}") for c, phi in SANCTION_FACTOR.items()]
    rows.append(("transit_substitution", TRANSIT_SUPPLIER, FOCAL, TRANSIT_START, "", np.nan,
                 f"replaces the sanctioning suppliers' fall in {TRANSIT_GROUP} exactly"))
    rows += [("non_reporting", c, FOCAL, f"{pd.Period(last, 'M') + 1}", "", 0.0, "publishes nothing after "
              f"{last}") for c, last in STOPS_REPORTING.items()]
    rows += [("mirror_gap", FOCAL, c, MIRROR_START, MIRROR_END, x, "Belarus's reported imports over the supplier's "
              f"reported exports (CIF/FOB {CIF_FOB:g} on top)") for c, x in MIRROR_GAP.items()]
    rows += [("route", c, RUSSIA, ROUTE_START, "", ROUTE_FACTOR, "exports of dual-use goods to Russia")
             for c in ROUTES]
    out = pd.DataFrame(rows, columns=["kind", "reporter_code", "partner_code", "start", "end", "factor", "note"])
    out.attrs["synthetic"] = True
    return out
