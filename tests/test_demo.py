"""The SYNTHETIC demo panel: its schema, its planted effects and the traps of real data it carries.

Each trap listed by ``demo.ground_truth()`` is checked in the records themselves, so the analysis can be
checked against a known answer: transit routes that rise on their own, a family in which Belarus moves with
the routes, cars rising everywhere, HS 2017 copies of HS 2022 records, a year of estimated weights, an export
ban, a noisier focal partner, and January/February published together from 2020 only.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import demo, registry
from analysis.countries import COMPARISON_PARTNERS, TRANSIT_PARTNERS
from analysis.schema import COLUMNS, coerce_records

KINDS = {"level_shift", "spike", "new_flow", "unit_value", "common_shock", "mirror_gap", "transit_rise",
         "shared_transit_shift", "duplicate_edition", "estimated_weight", "export_ban", "noisy_focal",
         "jan_feb_joint"}
PRE = ("2019-01", "2021-12")
PERIOD = demo.months().strftime("%Y-%m")


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return demo.ground_truth()


@pytest.fixture(scope="module")
def china(demo_panel) -> pd.DataFrame:
    """China's export records with their family id."""
    rec = demo_panel[demo_panel["reporterCode"] == demo.REPORTER]
    return rec.assign(family=registry.family_of(rec["cmdCode"], rec["classificationCode"]).to_numpy())


@pytest.fixture(scope="module")
def originals(china) -> pd.DataFrame:
    return china[china["isOriginalClassification"].astype(bool)]


@pytest.fixture(scope="module")
def monthly(originals) -> pd.DataFrame:
    """USD per (partner, family) x month from the original records; omitted months are zeros."""
    table = originals.groupby(["partnerCode", "family", "period_date"])["primaryValue"].sum()
    return table.unstack("period_date").reindex(columns=demo.months()).fillna(0.0)


def _mean(series: pd.Series, start: str, end: str = "9999-12") -> float:
    return float(series[(PERIOD >= start) & (PERIOD <= end)].mean())


def _ratio(series: pd.Series, start: str, end: str = "9999-12", pre: tuple[str, str] = PRE) -> float:
    """Mean month from ``start`` to ``end`` over the mean month of ``pre``."""
    return _mean(series, start, end) / _mean(series, *pre)


def _pooled(monthly: pd.DataFrame, partners, families) -> pd.Series:
    """Sum over the (partner, family) rows that exist."""
    keys = [(p, f) for p in partners for f in families if (p, f) in monthly.index]
    return monthly.loc[keys].sum()


# ----------------------------------------------------------------------------- schema, partners

def test_schema_and_synthetic_mark(demo_panel):
    assert list(demo_panel.columns) == COLUMNS
    assert demo_panel["synthetic"].all() and demo_panel.attrs["synthetic"]
    again = coerce_records(demo_panel.drop(columns=["period_date", "synthetic"]), synthetic=True)
    pd.testing.assert_frame_equal(again, demo_panel)


def test_deterministic_and_seeded():
    a = demo.load_demo()
    b = demo._generate.__wrapped__(demo.SEED)
    pd.testing.assert_frame_equal(a, b)
    c = demo._generate.__wrapped__(demo.SEED + 1)
    assert not a["primaryValue"].equals(c["primaryValue"])


def test_coverage_editions_and_partners(china, originals):
    assert china["period_date"].min() == pd.Timestamp("2017-01-01")
    assert china["period_date"].max() == pd.Timestamp("2025-06-01")
    assert set(originals.loc[originals["refYear"] < 2022, "classificationCode"]) == {"H5"}
    assert set(originals.loc[originals["refYear"] >= 2022, "classificationCode"]) == {"H6"}
    assert set(china["family"]) == set(registry.families()["family_id"])
    # Comtrade omits empty cells: no zero values, and some cells are missing
    assert (china["primaryValue"] > 0).all()
    cells = originals.groupby(["partnerCode", "cmdCode"]).size()
    assert (cells < 54).any()  # a code's edition spans 60 or 42 months: gaps exist


def test_every_baseline_and_transit_partner_is_present(china):
    wanted = {demo.BELARUS, demo.RUSSIA, *COMPARISON_PARTNERS, *TRANSIT_PARTNERS}
    assert wanted <= set(demo.PARTNERS) and set(demo.PARTNERS) == set(china["partnerCode"].astype(int))
    years = china.groupby("partnerCode")["refYear"].nunique()
    assert (years == 9).all()  # every partner in every year, 2017-2025
    # plausible relative sizes: China's exports before 2022 follow the partners' sizes
    pre = china[china["refYear"] <= 2021].groupby("partnerCode")["primaryValue"].sum()
    size = pd.Series(demo.PARTNERS).reindex(pre.index.astype(int))
    assert pre.rank().corr(size.rank().set_axis(pre.index)) > 0.8
    assert pre[demo.RUSSIA] > 3 * pre[demo.BELARUS]


def test_values_in_kg_and_fob(china):
    assert (china["qtyUnitAbbr"] == "kg").all() and (china["netWgt"] > 0).all()
    assert (china["fobvalue"] == china["primaryValue"]).all() and china["cifvalue"].isna().all()


def test_ground_truth_rows(truth):
    assert list(truth.columns) == ["effect_id", "kind", "reporter_code", "partner_code", "family_id", "start",
                                   "end", "factor", "note"]
    assert set(truth["kind"]) == KINDS and truth["effect_id"].is_unique and truth.attrs["synthetic"]
    assert truth["note"].str.len().gt(0).all() and truth["factor"].dtype == float
    known = set(registry.families()["family_id"]) | {demo.ALL_FAMILIES}
    assert set(truth["family_id"]) <= known
    china_side = truth["kind"] != "mirror_gap"
    assert set(truth.loc[china_side, "partner_code"]) <= set(demo.PARTNERS) | {demo.WORLD}
    assert (truth.loc[china_side, "reporter_code"] == demo.REPORTER).all()


# ----------------------------------------------------------------------------- Belarus's planted effects

def test_ground_truth_matches_what_was_planted(truth, monthly):
    for eff in truth[truth["kind"] == "level_shift"].itertuples():
        s = monthly.loc[(eff.partner_code, eff.family_id)]
        pre = s[(PERIOD < eff.start) & (PERIOD >= "2019-01")].mean()
        post = s[PERIOD >= eff.start].mean()
        assert post / pre > eff.factor * 0.6, eff.note
    for eff in truth[truth["kind"] == "spike"].itertuples():
        s = monthly.loc[(eff.partner_code, eff.family_id)]
        i = list(PERIOD).index(eff.start)
        neighbours = np.median(np.r_[s.iloc[i - 6:i], s.iloc[i + 1:i + 7]])
        assert s.iloc[i] > 3 * neighbours, eff.note
    new = truth[truth["kind"] == "new_flow"].iloc[0]
    s = monthly.loc[(new.partner_code, new.family_id)]
    assert s[PERIOD < new.start].sum() == 0 and (s[PERIOD >= new.start] > 0).mean() > 0.9


def test_unit_value_shift_keeps_value_flat(truth, originals):
    eff = truth.query("kind == 'unit_value'").iloc[0]
    sel = originals[(originals["partnerCode"] == eff.partner_code) & (originals["family"] == eff.family_id)
                    & ~originals["isNetWgtEstimated"].astype(bool)]
    after = sel["period"] >= eff.start.replace("-", "")
    window = sel["period"] >= "202101"
    uv_ratio = (sel.loc[after, "primaryValue"].sum() / sel.loc[after, "netWgt"].sum()) / (
        sel.loc[window & ~after, "primaryValue"].sum() / sel.loc[window & ~after, "netWgt"].sum())
    assert 2.0 < uv_ratio < 4.5


def test_mirror_records_are_belarus_imports_until_2021(demo_panel):
    belarus = demo_panel[demo_panel["reporterCode"] == demo.BELARUS]
    assert (belarus["flowCode"] == "M").all() and belarus["refYear"].max() == 2021
    mirror = belarus[belarus["partnerCode"] == demo.REPORTER]  # its imports from the other suppliers: demo_suppliers
    assert mirror["refYear"].max() == 2021 and mirror["cifvalue"].notna().all()
    # Belarus publishes every month on its own, also in 2020-2021
    jf = mirror[mirror["refMonth"].isin([1, 2]) & (mirror["refYear"] >= 2020)]
    wide = jf.pivot_table(index=["refYear", "cmdCode"], columns="refMonth", values="primaryValue").dropna()
    assert ((wide[1] - wide[2]).abs() <= 1).mean() < 0.05


# ----------------------------------------------------------------------------- comparison groups

def test_transit_partners_rise_on_their_own(truth, monthly):
    rows = truth[truth["kind"] == "transit_rise"]
    assert sorted(rows["partner_code"]) == sorted(TRANSIT_PARTNERS) and (rows["family_id"] == "*").all()
    assert rows["factor"].between(2, 3).all() and rows["start"].between("2022-04", "2022-09").all()
    fams = registry.families()
    own = [f for f in fams.loc[fams["kind"] == "dual_use", "family_id"] if f not in (demo.SHARED_FAMILY,
                                                                                       demo.BAN_FAMILY)]
    for eff in rows.itertuples():
        ratio = _ratio(_pooled(monthly, [eff.partner_code], own), eff.start)
        assert 0.9 * eff.factor < ratio < 1.5 * eff.factor, eff.partner_code  # the factor and a trend
    for p in COMPARISON_PARTNERS:
        assert _ratio(_pooled(monthly, [p], own), "2022-06") < 1.6, p
    # the trap: against the transit routes every Belarus level shift looks smaller than against the baseline
    for eff in truth[truth["kind"] == "level_shift"].itertuples():
        bel = _ratio(monthly.loc[(demo.BELARUS, eff.family_id)], eff.start)
        vs_base = bel / _ratio(_pooled(monthly, COMPARISON_PARTNERS, [eff.family_id]), eff.start)
        vs_transit = bel / _ratio(_pooled(monthly, TRANSIT_PARTNERS, [eff.family_id]), eff.start)
        assert vs_transit < 0.75 * vs_base, eff.family_id


def test_belarus_moves_with_the_routes_in_one_family(truth, monthly):
    rows = truth[truth["kind"] == "shared_transit_shift"]
    assert set(rows["partner_code"]) == {demo.BELARUS, *TRANSIT_PARTNERS}
    (family,), (start,), (factor,) = rows["family_id"].unique(), rows["start"].unique(), rows["factor"].unique()
    level_shifts = truth.loc[truth["kind"] == "level_shift", "family_id"]
    assert len(level_shifts) == 6 and family not in set(level_shifts)
    assert registry.families().set_index("family_id").loc[family, "kind"] == "dual_use"
    for p in rows["partner_code"]:
        assert 0.6 * factor < _ratio(monthly.loc[(p, family)], start) < 2.0 * factor, p  # the factor, a trend
    bel = _ratio(monthly.loc[(demo.BELARUS, family)], start)
    assert 0.7 < bel / _ratio(_pooled(monthly, TRANSIT_PARTNERS, [family]), start) < 1.4  # with the routes
    assert bel / _ratio(_pooled(monthly, COMPARISON_PARTNERS, [family]), start) > 1.7  # not with the baseline


def test_cars_rise_for_every_partner(truth, monthly):
    rows = truth[truth["kind"] == "common_shock"]
    cars = set(registry.families().query("kind == 'common_shock'")["family_id"])
    assert set(rows["family_id"]) == cars and set(rows["partner_code"]) == set(demo.PARTNERS)
    assert len(rows) == len(cars) * len(demo.PARTNERS)
    assert (rows["factor"] == 3.5).all() and (rows["start"] == "2022-06").all()
    for p in demo.PARTNERS:
        assert 2.5 < _ratio(_pooled(monthly, [p], cars), "2022-06") < 5.5, p


# ----------------------------------------------------------------------------- traps of real records

def test_hs2017_copies_of_hs2022_records(truth, china, originals):
    rows = truth[truth["kind"] == "duplicate_edition"]
    partners = set(rows["partner_code"])
    assert demo.BELARUS in partners and len(partners) >= 3 and (rows["family_id"] == "*").all()
    copies = china[~china["isOriginalClassification"].astype(bool)]
    assert set(copies["partnerCode"]) == partners
    assert (copies["classificationCode"] == "H5").all() and copies["period"].min() == "202201"
    assert originals["isOriginalClassification"].all() and len(originals) + len(copies) == len(china)
    # every original HS 2022 cell of these partners has its converted copy, at the same value
    key = ["partnerCode", "period", "family"]
    orig = originals[originals["partnerCode"].isin(partners) & (originals["refYear"] >= 2022)]
    both = pd.concat([orig.groupby(key)["primaryValue"].sum(), copies.groupby(key)["primaryValue"].sum()],
                     axis=1, keys=["original", "copy"])
    assert both.notna().all().all()
    assert (both["copy"] - both["original"]).abs().max() <= 5  # rounding of split values only
    # a family with one code on each side maps directly: 880730 (HS 2022) <- 880330 (HS 2017)
    fams = registry.families().set_index("family_id")
    one = fams[(fams["h5_codes"].str.split().str.len() == 1) & (fams["h6_codes"].str.split().str.len() == 1)]
    ban = copies[copies["family"] == demo.BAN_FAMILY]
    assert demo.BAN_FAMILY in one.index and set(ban["cmdCode"]) == {fams.loc[demo.BAN_FAMILY, "h5_codes"]}
    single = both.loc[both.index.get_level_values("family").isin(one.index)]
    assert (single["copy"] == single["original"]).all()


def test_a_year_of_estimated_weights(truth, china, originals):
    eff = truth[truth["kind"] == "estimated_weight"].iloc[0]
    assert (eff.partner_code, eff.start, eff.end) == (demo.BELARUS, "2023-01", "2023-12")
    in_year = (china["partnerCode"] == demo.BELARUS) & (china["period"] >= "202301") & (china["period"] <= "202312")
    flagged = china["isNetWgtEstimated"].astype(bool)
    assert flagged[in_year].all() and not flagged[~in_year].any()
    assert china.loc[in_year, "isQtyEstimated"].all()  # the same kg figure fills qty
    est = china[in_year]
    assert np.allclose(est["netWgt"], np.maximum((est["primaryValue"] / demo.ESTIMATE_PRICE).round(1), 0.1))
    # the unit value jumps in 2023 and comes back in 2024, while the value does not jump
    bel = originals[originals["partnerCode"] == demo.BELARUS]
    by = bel.groupby(["family", "refYear"])[["primaryValue", "netWgt"]].sum().unstack("refYear")
    uv = by["primaryValue"] / by["netWgt"]
    value = by["primaryValue"]
    steady = ~by.index.isin(truth["family_id"])
    jump = (uv[2023] / uv[2022])[steady]
    assert (~jump.between(1 / 1.5, 1.5)).mean() > 0.7
    assert (uv[2024] / uv[2022])[steady].between(1 / 1.5, 1.5).mean() > 0.9
    assert (value[2023] / value[2022])[steady].between(1 / 2, 2).mean() > 0.9


def test_export_ban_collapses_the_family_for_every_partner(truth, monthly):
    eff = truth[truth["kind"] == "export_ban"].iloc[0]
    assert eff.partner_code == demo.WORLD and eff.factor <= 0.05
    start = pd.Timestamp(eff.start)
    before = ((start - pd.DateOffset(months=12)).strftime("%Y-%m"),
              (start - pd.DateOffset(months=1)).strftime("%Y-%m"))
    end = (start + pd.DateOffset(months=11)).strftime("%Y-%m")
    partners = monthly.xs(eff.family_id, level="family").index
    assert set(partners) == set(demo.PARTNERS)
    for p in partners:
        assert _ratio(monthly.loc[(p, eff.family_id)], eff.start, end, pre=before) < 0.1, p
    total = _pooled(monthly, partners, [eff.family_id])
    assert _ratio(total, eff.start, pre=before) < 0.04


def test_belarus_is_noisier_than_the_other_partners(truth, monthly):
    eff = truth[truth["kind"] == "noisy_focal"].iloc[0]
    assert (eff.partner_code, eff.factor) == (demo.BELARUS, 2.0)
    # month-to-month changes of log value, March to December 2017-2021, on families with nothing planted
    fams = registry.families()
    null = set(fams.loc[fams["kind"] != "common_shock", "family_id"]) - set(truth["family_id"])
    pre = demo.months().year <= 2021
    same_year = (demo.months()[pre].month >= 4)[1:]
    season = demo.SEASON[demo.months()[pre].month - 1]
    sd = {}
    for (p, f), row in monthly.iterrows():
        x = row.to_numpy()[pre]
        if f in null and f.startswith("HS") and (x > 0).all():
            sd[(p, f)] = np.diff(np.log(x / season))[same_year].std()
    table = pd.Series(sd).unstack(0)
    ratio = table[demo.BELARUS] / table.drop(columns=demo.BELARUS).median(axis=1)
    assert ratio.notna().sum() > 20
    assert 1.7 < ratio.median() < 2.4


def test_january_and_february_joint_from_2020_only(truth, originals):
    eff = truth[truth["kind"] == "jan_feb_joint"].iloc[0]
    assert (eff.partner_code, eff.family_id, eff.start) == (demo.WORLD, "*", "2020-01")
    jf = originals[originals["refMonth"].isin([1, 2])]
    wide = jf.pivot_table(index=["refYear", "partnerCode", "cmdCode"], columns="refMonth",
                          values="primaryValue").dropna()
    equal = ((wide[1] - wide[2]).abs() <= 1).groupby(level="refYear").mean()
    assert (equal[equal.index < 2020] < 0.05).all()  # published separately
    assert (equal[equal.index >= 2020] > 0.95).all()  # one two-month figure, split in half
    # separately published, the Chinese New Year trough shows in February
    sep = wide[wide.index.get_level_values("refYear") < 2020]
    assert (sep[2] < sep[1]).mean() > 0.6
