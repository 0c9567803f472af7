from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import demo, registry
from analysis.schema import COLUMNS, coerce_records


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


def test_coverage_editions_and_partners(demo_panel):
    china = demo_panel[demo_panel["reporterCode"] == demo.REPORTER]
    assert china["period_date"].min() == pd.Timestamp("2017-01-01")
    assert china["period_date"].max() == pd.Timestamp("2025-06-01")
    assert china["partnerCode"].nunique() >= 11 and demo.BELARUS in set(china["partnerCode"])
    assert set(china.loc[china["refYear"] < 2022, "classificationCode"]) == {"H5"}
    assert set(china.loc[china["refYear"] >= 2022, "classificationCode"]) == {"H6"}
    fam = registry.family_of(china["cmdCode"], china["classificationCode"])
    assert set(fam) == set(registry.families()["family_id"])
    # Comtrade omits empty cells: no zero values, and some cells are missing
    assert (china["primaryValue"] > 0).all()
    cells = china.groupby(["partnerCode", "cmdCode"]).size()
    assert (cells < 54).any()  # a code's edition spans 60 or 42 months: gaps exist


def test_values_in_kg_and_fob(demo_panel):
    china = demo_panel[demo_panel["reporterCode"] == demo.REPORTER]
    assert (china["qtyUnitAbbr"] == "kg").all() and (china["netWgt"] > 0).all()
    assert (china["fobvalue"] == china["primaryValue"]).all() and china["cifvalue"].isna().all()


def _family_month(panel: pd.DataFrame, partner: int, family: str) -> pd.Series:
    china = panel[(panel["reporterCode"] == demo.REPORTER) & (panel["partnerCode"] == partner)]
    fam = registry.family_of(china["cmdCode"], china["classificationCode"])
    sel = china[fam == family]
    return sel.groupby("period_date")["primaryValue"].sum().reindex(demo.months(), fill_value=0.0)


def test_ground_truth_matches_what_was_planted(demo_panel):
    gt = demo.ground_truth()
    assert set(gt["kind"]) == {"level_shift", "spike", "new_flow", "unit_value", "common_shock", "mirror_gap"}
    months = demo.months().strftime("%Y-%m")
    for eff in gt[gt["kind"] == "level_shift"].itertuples():
        s = _family_month(demo_panel, eff.partner_code, eff.family_id)
        pre = s[(months < eff.start) & (months >= "2019-01")].mean()
        post = s[months >= eff.start].mean()
        assert post / pre > eff.factor * 0.6, eff.note
    for eff in gt[gt["kind"] == "spike"].itertuples():
        s = _family_month(demo_panel, eff.partner_code, eff.family_id)
        i = list(months).index(eff.start)
        neighbours = np.median(np.r_[s.iloc[i - 6:i], s.iloc[i + 1:i + 7]])
        assert s.iloc[i] > 3 * neighbours, eff.note
    new = gt[gt["kind"] == "new_flow"].iloc[0]
    s = _family_month(demo_panel, new.partner_code, new.family_id)
    assert s[months < new.start].sum() == 0 and (s[months >= new.start] > 0).mean() > 0.9


def test_unit_value_shift_keeps_value_flat(demo_panel):
    eff = demo.ground_truth().query("kind == 'unit_value'").iloc[0]
    china = demo_panel[(demo_panel["reporterCode"] == demo.REPORTER) & (demo_panel["partnerCode"] == eff.partner_code)]
    sel = china[registry.family_of(china["cmdCode"], china["classificationCode"]) == eff.family_id]
    after = sel["period"] >= eff.start.replace("-", "")
    window = sel["period"] >= "202101"
    uv_ratio = (sel.loc[after, "primaryValue"].sum() / sel.loc[after, "netWgt"].sum()) / (
        sel.loc[window & ~after, "primaryValue"].sum() / sel.loc[window & ~after, "netWgt"].sum())
    assert 2.0 < uv_ratio < 4.5


def test_mirror_records_are_belarus_imports_until_2021(demo_panel):
    mirror = demo_panel[demo_panel["reporterCode"] == demo.BELARUS]
    assert (mirror["flowCode"] == "M").all() and (mirror["partnerCode"] == demo.REPORTER).all()
    assert mirror["refYear"].max() == 2021 and mirror["cifvalue"].notna().all()
