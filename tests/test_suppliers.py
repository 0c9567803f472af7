"""Who supplies Belarus: supplier shares, the reporter's share, substitution, routes, the mirror check, the fetch
of every reporter's exports (planner guarantees, resume, no duplicates), importers, and the report section.

The demo panel's supplier side is SYNTHETIC (analysis.demo_suppliers): its planted truth is checked here.
"""
from __future__ import annotations

import gzip
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import registry
from analysis.comtrade import CAPS, MAX_PERIODS, MAX_URL, minimum_calls
from analysis.comtrade.errors import ComtradeError
from analysis.demo import supplier_effects, supplier_truth
from analysis.demo_suppliers import RUSSIA, SANCTION_FACTOR, TRANSIT_GROUP, TRANSIT_SUPPLIER
from analysis.errors import InputError
from analysis.fetching import fetch, plan_calls, supplier_requests
from analysis.importers import import_files, read_file
from analysis.store import Store
from analysis.study import Study
from analysis.suppliers import (
    ALL_FAMILIES,
    SUPPLIER_FILES,
    _boot_means,
    _bootstrap_form,
    bootstrap_bias,
    has_supplier_data,
    lag_one,
    supplier_sets,
    who_supplies,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.comtrade_server import cell_value, record  # noqa: E402

DRAWS = 299
KEY = "5ecre7c0de5ecre7c0de5ecre7c0de00"


@pytest.fixture(scope="module")
def result(demo_panel):
    return who_supplies(demo_panel, draws=DRAWS)


@pytest.fixture(scope="module")
def truth():
    return supplier_truth().set_index("group")


def _groups(result) -> pd.DataFrame:
    rs = result.reporter_share
    return rs[rs["level"] == "group"].set_index("group")


# ------------------------------------------------------------------ shares


def test_shares_sum_to_one_over_the_suppliers_of_each_period_group_and_family(result, demo_panel):
    sh = result.shares
    assert set(sh.columns) >= {"period", "group", "family", "supplier_code", "usd", "share"}
    assert sh["period"].str.fullmatch(r"\d{4}").all() and (sh["usd"] > 0).all()
    sums = sh.groupby(["period", "group", "family"])["share"].sum()
    assert np.allclose(sums, 1.0) and len(sums) > 1000
    assert set(sh.loc[sh["family"] == ALL_FAMILIES, "level"]) == {"group"}
    # a group row is the sum of its families' rows
    fam = sh[sh["level"] == "family"].groupby(["period", "group", "supplier_code"])["usd"].sum()
    grp = sh[sh["level"] == "group"].set_index(["period", "group", "supplier_code"])["usd"]
    assert np.allclose(fam.reindex(grp.index), grp)
    assert sh["synthetic"].all() and result.synthetic
    monthly = who_supplies(demo_panel, shares_by="M", draws=99).shares
    assert monthly["period"].str.fullmatch(r"\d{4}-\d{2}").all()
    assert np.allclose(monthly.groupby(["period", "group", "family"])["share"].sum(), 1.0)


def test_categories_and_the_non_reporting_supplier(result):
    sh = result.shares
    cats = sh.drop_duplicates("supplier_code").set_index("supplier_code")["category"]
    assert cats[156] == "reporter" and cats[792] == "transit" and cats[643] == "other"
    assert all(cats[c] == "sanctioning" for c in SANCTION_FACTOR)
    assert result.config.left_out == (RUSSIA,)  # publishes nothing after 2021 (planted non_reporting)
    assert sh.loc[sh["supplier_code"] == RUSSIA, "period"].max() == "2021"
    topics = set(result.caveats["topic"])
    assert {"mirror data", "valuation", "non-reporting suppliers", "confidential trade", "synthetic"} <= topics
    text = " ".join(result.caveats["text"])
    assert "Russian Federation (643" in text


def test_supplier_sets_are_data_with_sources():
    sets = supplier_sets()
    assert len(sets.sanctioning) == 36 and {842, 826, 392, 410, 490, 124, 36, 579, 757, 276, 380} <= set(
        sets.sanctioning)
    assert sets.sources and all(len(s) > 20 for s in sets.sources) and 97 in sets.aggregates
    names = registry.areas().set_index("code")["name"]
    assert all(c in names.index for c in sets.sanctioning)


# ------------------------------------------------------------------ planted truth


def test_planted_shares_are_recovered_within_two_points(result, truth):
    g = _groups(result)
    for grp in truth.index:
        assert abs(g.loc[grp, "share_pre"] - truth.loc[grp, "china_share_pre"]) < 0.02, grp
        assert abs(g.loc[grp, "share_post"] - truth.loc[grp, "china_share_post"]) < 0.02, grp
        for w in ("pre", "post"):
            assert g.loc[grp, f"share_{w}_low"] <= g.loc[grp, f"share_{w}"] <= g.loc[grp, f"share_{w}_high"]


def test_china_rises_where_planted_with_an_interval_excluding_no_change(result, truth):
    g = _groups(result)
    planted = truth[(truth["kind"] == "china_share") & (truth["china_share_post"] - truth["china_share_pre"] > 0.1)]
    assert len(planted) >= 10
    for grp in planted.index:
        assert g.loc[grp, "change_low"] > 0, grp
    # where China's own exports fell (the export ban group) its share does not rise
    flat = truth[(truth["kind"] == "china_share") & ((truth["china_share_post"] - truth["china_share_pre"]).abs()
                                                      < 0.03)]
    for grp in flat.index:
        assert g.loc[grp, "change_low"] < 0.03 < g.loc[grp, "change_high"] + 0.03, grp


def test_the_transit_group_is_replaced_by_the_transit_supplier_not_china(result, truth):
    sub = result.substitution.set_index("group")
    t = truth.loc[TRANSIT_GROUP]
    row = sub.loc[TRANSIT_GROUP]
    assert t["transit_share_post"] - t["transit_share_pre"] > 0.3  # what was planted
    assert row["replaced_transit_low"] > 0.7 and row["replaced_reporter_high"] < 0.3
    assert abs(row["rise_transit"] - t["rise_transit"]) < 0.1 * t["fall_sanctioning"]
    shares = result.shares
    tur = shares[(shares["group"] == TRANSIT_GROUP) & (shares["level"] == "group")
                 & (shares["supplier_code"] == TRANSIT_SUPPLIER)].set_index("period")["share"]
    assert tur["2024"] > tur["2020"] + 0.3
    # in the other dual-use groups nobody replaces the fall: the transit share of the fall stays near zero
    others = sub.drop(index=TRANSIT_GROUP)
    others = others[others["replaced_transit"].notna()]
    assert (others["replaced_transit"].abs() < 0.1).all()


def test_sanctioning_suppliers_fall_as_planted(result, truth):
    sub = result.substitution.set_index("group").reindex(truth.index)
    fall, level = truth["fall_sanctioning"], truth["sanctioning_pre"]
    assert (sub["fall_sanctioning_low"] > 0).all()
    assert ((sub["fall_sanctioning"] - fall).abs() < 0.08 * level).all()  # noise: a few per cent of the level
    covered = (sub["fall_sanctioning_low"] <= fall) & (fall <= sub["fall_sanctioning_high"])
    assert covered.mean() >= 0.8  # 95% intervals over 19 groups (17 on this seed)
    effects = supplier_effects()
    assert set(effects.loc[effects["kind"] == "sanctions_fall", "reporter_code"]) == set(SANCTION_FACTOR)
    assert set(effects["kind"]) == {"sanctions_fall", "transit_substitution", "non_reporting", "mirror_gap", "route"}


def test_a_reporter_that_publishes_only_annual_figures_is_spread_over_its_months(demo_panel):
    japan = (demo_panel["reporterCode"] == 392) & (demo_panel["partnerCode"] == 112)
    monthly = demo_panel[japan]
    yearly = (monthly.groupby(["refYear", "cmdCode"], as_index=False)["primaryValue"].sum())
    first = monthly.drop_duplicates(["refYear", "cmdCode"]).set_index(["refYear", "cmdCode"])
    annual = first.loc[list(zip(yearly["refYear"], yearly["cmdCode"], strict=True))].reset_index()
    annual = annual.assign(freqCode="A", period=annual["refYear"].astype(str), refMonth=52,
                           primaryValue=yearly["primaryValue"].to_numpy(), fobvalue=yearly["primaryValue"].to_numpy(),
                           period_date=pd.to_datetime(annual["refYear"].astype(str) + "-01-01"))[demo_panel.columns]
    records = pd.concat([demo_panel[~japan], annual], ignore_index=True)
    res = who_supplies(records, draws=99)
    assert res.config.annual_only == (392,) and "annual reporters" in set(res.caveats["topic"])
    sh = res.shares[(res.shares["supplier_code"] == 392) & (res.shares["level"] == "group")]
    got = sh.groupby("period")["usd"].sum()
    want = monthly.groupby(monthly["refYear"].astype(str))["primaryValue"].sum()
    assert np.allclose(got.reindex(want.index), want)  # spreading keeps every year's total
    assert (sh["months"] == 12).all()


def test_the_study_codes_restrict_the_groups(demo_panel):
    res = who_supplies(demo_panel, codes=["optics"], draws=99)
    assert set(res.shares["group"]) == {"optics", "control_consumer"}  # control goods kept, as Study.select
    assert set(res.substitution["group"]) == {"optics", "control_consumer"}


# ------------------------------------------------------------------ substitution arithmetic


def _series_frame(values: dict[tuple[int, int, str], np.ndarray], months: pd.DatetimeIndex,
                  flow: str = "X") -> pd.DataFrame:
    """A series frame from {(reporter, partner, family): monthly USD} (a zero month has no record)."""
    fams = registry.families().set_index("family_id")
    rows = []
    for (rep, par, fam), v in values.items():
        rows.append(pd.DataFrame({"reporter_code": rep, "partner_code": par, "flow_code": flow, "family_id": fam,
                                  "group": fams.loc[fam, "group"], "kind": fams.loc[fam, "kind"], "date": months,
                                  "usd": v, "kg": np.nan, "n_records": (np.asarray(v) != 0).astype(int),
                                  "synthetic": True}))
    return pd.concat(rows, ignore_index=True)


MONTHS = pd.date_range("2019-01", "2023-12", freq="MS")
POST = MONTHS >= "2022-03"


def test_substitution_arithmetic_on_known_flows():
    fam = "HS854231"
    ones = np.ones(len(MONTHS))
    frame = _series_frame({
        (156, 112, fam): np.where(POST, 300.0, 100.0),  # China +200
        (276, 112, fam): np.where(POST, 100.0, 500.0),  # Germany (sanctioning) -400
        (792, 112, fam): np.where(POST, 150.0, 50.0),  # Türkiye (transit) +100
        (356, 112, fam): 40.0 * ones,  # India (other) flat
    }, MONTHS)
    res = who_supplies(frame, Study(pre="2019-01:2021-12", post="2022-03:2023-12"), draws=99)
    row = res.substitution.set_index("group").loc["microelectronics"]
    assert row["fall_sanctioning"] == pytest.approx(400.0)
    assert row["rise_reporter"] == pytest.approx(200.0) and row["rise_transit"] == pytest.approx(100.0)
    assert row["rise_other"] == pytest.approx(0.0) and row["gap"] == pytest.approx(100.0)
    assert row["gap"] == pytest.approx(row["fall_sanctioning"] - row["rise_reporter"] - row["rise_transit"]
                                       - row["rise_other"])
    assert row["replaced_reporter"] == pytest.approx(0.5) and row["replaced_transit"] == pytest.approx(0.25)
    assert row["not_replaced"] == pytest.approx(0.25)
    # constant flows in each window: every bootstrap draw is the point, so the intervals are the point
    assert row["fall_sanctioning_low"] == pytest.approx(400.0) and row["gap_high"] == pytest.approx(100.0)
    rs = res.reporter_share.set_index(["group", "family"]).loc[("microelectronics", fam)]
    assert rs["share_pre"] == pytest.approx(100 / 690) and rs["share_post"] == pytest.approx(300 / 590)
    assert rs["change"] == pytest.approx(300 / 590 - 100 / 690)


def test_no_material_fall_is_not_apportioned_and_a_short_window_is_not_estimated():
    fam = "HS854231"
    flat = _series_frame({(156, 112, fam): np.full(len(MONTHS), 100.0),
                          (276, 112, fam): np.full(len(MONTHS), 500.0)}, MONTHS)
    row = who_supplies(flat, Study(), draws=99).substitution.iloc[0]
    assert row["fall_sanctioning"] == pytest.approx(0.0) and np.isnan(row["replaced_reporter"])
    assert "did not fall materially" in row["note"]
    short = who_supplies(flat, Study(pre="2021-10:2021-12", post="2022-03:2023-12"), draws=99)
    assert short.reporter_share["share_pre"].isna().all()
    assert short.reporter_share["note"].str.contains("too short").all()
    assert np.isfinite(short.tidy()["estimate"].dropna()).all()  # nothing infinite, NaN where not estimated


def test_moving_block_bootstrap_keeps_means_and_spreads_with_dependence():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (1, 48))
    b = _boot_means(x, block=9, draws=2000, rng=np.random.default_rng(2))
    assert b.point[0] == pytest.approx(x.mean())
    assert abs(b.draws.mean() - x.mean()) < 0.05
    assert 0.6 < b.draws.std() / (x.std() / math.sqrt(48)) < 1.4  # iid data: the usual standard error
    const = _boot_means(np.full((2, 10), 3.0), block=4, draws=50, rng=np.random.default_rng(3))
    assert np.allclose(const.draws, 3.0)


def test_the_bootstrap_variance_and_its_bias_are_exact_for_the_quadratic_form():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (1, 40))
    b = _boot_means(x, block=9, draws=100_000, rng=np.random.default_rng(5))
    assert b.draws.var() == pytest.approx((x @ _bootstrap_form(40, 9) @ x.T)[0, 0], rel=0.03)
    frac, df = bootstrap_bias(36, 9, np.array([0.0, 0.3, 0.6]))
    assert frac[0] == pytest.approx(1 - 9 / 36)  # uncorrelated months: the block means vary about the window mean
    assert frac[1] < frac[0] and frac[2] == pytest.approx(0.556, abs=0.001) and np.all(np.diff(df) < 0)
    frac, df = bootstrap_bias(12, 1, np.array([0.0]))  # one-period blocks: the ordinary bootstrap
    assert frac[0] == pytest.approx(11 / 12) and df[0] == pytest.approx(11)
    ar = np.zeros((1, 2000))
    for t in range(1, 2000):
        ar[0, t] = 0.6 * ar[0, t - 1] + rng.normal()
    assert lag_one(ar)[0] == pytest.approx(0.6, abs=0.05)
    assert lag_one(-ar[:, :1] * np.ones((1, 3)))[0] == 0.0 and lag_one(rng.normal(size=(1, 5)))[0] == 0.0


# ------------------------------------------------------------------ routes and mirror


def test_route_candidates_are_the_planted_ones(result):
    cand = result.candidates()
    assert len(cand) and cand["candidate"].all()
    to_belarus = cand[cand["destination_code"] == 112]
    assert set(to_belarus["transit_code"]) == {TRANSIT_SUPPLIER} and set(to_belarus["group"]) == {TRANSIT_GROUP}
    to_russia = cand[cand["destination_code"] == RUSSIA]
    assert set(to_russia["transit_code"]) == {792, 398}
    assert (to_russia["outbound_ratio"] > 2).all() and (to_russia["inbound_rise_low"] > 0).all()
    assert not len(cand[(cand["transit_code"] == 398) & (cand["destination_code"] == 112)])
    assert cand["note"].str.contains("not evidence of evasion").all()


def test_route_rule_on_known_flows():
    fam = "HS854231"
    up = np.where(POST, 300.0, 100.0)
    frame = _series_frame({(156, 398, fam): up, (398, 112, fam): up, (276, 112, fam): np.full(len(MONTHS), 50.0),
                           (156, 112, fam): np.full(len(MONTHS), 10.0),
                           (156, 417, fam): up, (417, 112, fam): np.where(POST, 110.0, 100.0)}, MONTHS)
    routes = who_supplies(frame, Study(pre="2019-01:2021-12", post="2022-03:2023-12"), draws=99).routes
    by = routes.set_index("transit_code")
    assert bool(by.loc[398, "candidate"]) and by.loc[398, "outbound_ratio"] == pytest.approx(3.0)
    assert not bool(by.loc[417, "candidate"])  # x1.1 onward: not a material rise


def test_mirror_check_flags_the_planted_gap(result):
    m = result.mirror
    total = m[m["group"] == ALL_FAMILIES]
    assert set(total["year"]) == set(range(2017, 2022))
    assert "one-sided years" not in set(result.caveats["topic"])
    flagged = set(total.loc[total["outside_band"], "supplier_code"])
    assert flagged == {440}  # Belarus reports 1.6x Lithuania's exports
    ordinary = total[total["supplier_code"] != 440]
    assert ordinary["ratio"].between(1.0, 1.15).all()  # CIF about 6% above FOB


def test_mirror_rule_on_known_flows():
    fam = "HS854231"
    china, germany = np.full(len(MONTHS), 100.0), np.full(len(MONTHS), 200.0)
    exports = _series_frame({(156, 112, fam): china, (276, 112, fam): germany}, MONTHS)
    until_2021 = MONTHS[MONTHS.year <= 2021]
    year = until_2021.year.to_numpy()
    imports = _series_frame({(112, 156, fam): np.where(year == 2020, 2.0, 1.06) * 100.0,
                             (112, 276, fam): np.where(year == 2021, 1.06 * 200.0, 0.0)}, until_2021, flow="M")
    res = who_supplies(pd.concat([exports, imports], ignore_index=True), Study(), draws=99)
    total = res.mirror[res.mirror["group"] == ALL_FAMILIES].set_index(["supplier_code", "year"])
    assert list(total.index) == [(156, 2019), (156, 2020), (156, 2021), (276, 2021)]
    assert total.loc[(156, 2020), "ratio"] == pytest.approx(2.0) and total.loc[(156, 2020), "outside_band"]
    assert total.loc[(276, 2021), "ratio"] == pytest.approx(1.06) and not total.loc[(276, 2021), "outside_band"]
    caveat = res.caveats.set_index("topic").loc["one-sided years", "text"]
    assert caveat.startswith("2 supplier-year(s)")  # Belarus lists nothing from Germany in 2019 and 2020


# ------------------------------------------------------------------ another focal partner


def test_a_focal_partner_other_than_belarus(demo_panel, tmp_path):
    study = Study(focal="Russia")
    assert has_supplier_data(demo_panel, study)
    res = who_supplies(demo_panel, study, draws=99)
    sh = res.shares
    assert set(sh["supplier_code"]) == {156, 792, 398}
    assert np.allclose(sh.groupby(["period", "group", "family"])["share"].sum(), 1.0)
    assert res.mirror.empty and "no mirror check" in set(res.caveats["topic"])
    assert not has_supplier_data(demo_panel, Study(focal="Poland"))
    with pytest.raises(InputError, match="no exports to Poland"):
        who_supplies(demo_panel, Study(focal="Poland"))
    from analysis.report import suppliers as section
    from analysis.report.document import Document, to_markdown

    blocks = section.section_blocks(res, {})  # the text only (the figures are checked for Belarus)
    assert blocks[0].text == "Who supplies Russian Federation?"
    doc = Document("t")
    doc.add(*blocks)
    md = to_markdown(doc)
    assert "publishes no imports in the data" in md and "China's share" in md
    assert {j.name for j in section.figure_jobs(res)} >= {"supplier_shares_1", "reporter_share"}


# ------------------------------------------------------------------ the report section


def test_report_section_reads_from_the_result(result, tmp_path):
    from matplotlib.text import Text
    from PIL import Image

    from analysis.report import suppliers as section
    from analysis.report.document import Document, Figure, Heading, Table, to_markdown

    blocks, figures = section.supplier_section(result, tmp_path / "figures")
    assert isinstance(blocks[0], Heading) and blocks[0].text == "Who supplies Belarus?"
    assert {"reporter_share", "supplier_shares_1"} <= set(figures)
    assert all(isinstance(b, Figure) for b in blocks if getattr(b, "png", None))
    tables = [b for b in blocks if isinstance(b, Table)]
    assert any("Substitution" in t.caption for t in tables) and any("Candidate routes" in t.caption for t in tables)
    doc = Document("t")
    doc.add(*blocks)
    md = to_markdown(doc)
    assert "SYNTHETIC" in md and "not evidence of evasion" in md and "Caveats" in md
    assert "inf" not in md.replace("infrared", "")
    # the figures: 6.5 inches wide, no text under 8 points, nothing cut at the edges, the synthetic label
    for job in section.figure_jobs(result):
        fig = job.func(**job.kwargs)
        assert fig.get_size_inches()[0] == pytest.approx(6.5) and fig.get_size_inches()[1] <= 9.5
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
                 and (t.axes is None or t.axes.get_visible())]
        assert any("SYNTHETIC" in t.get_text() for t in texts)
        assert min(t.get_fontsize() for t in texts) >= 8
        with Image.open(figures[job.name].png) as im:
            pixels = np.asarray(im.convert("RGB"))
        assert pixels.shape[1] == 1300  # 6.5 inches at 200 dpi
        edge = np.concatenate([pixels[:2].reshape(-1, 3), pixels[-2:].reshape(-1, 3), pixels[:, :2].reshape(-1, 3),
                               pixels[:, -2:].reshape(-1, 3)])
        assert (edge >= 250).all(), job.name  # white margins all round: no label runs off the figure


# ------------------------------------------------------------------ tables and tidy


def test_tables_tidy_and_files(result, tmp_path):
    assert tuple(result.tables()) == SUPPLIER_FILES
    out = result.write(tmp_path / "out")
    assert {p.name for p in out.iterdir()} >= {*SUPPLIER_FILES, "config.json"}
    sub = pd.read_csv(out / "substitution.csv")
    assert {"group", "fall_sanctioning", "rise_reporter", "rise_transit", "gap", "fall_sanctioning_low",
            "rise_reporter_high"} <= set(sub.columns)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["draws"] == DRAWS and cfg["block"] == 9 and cfg["synthetic"]
    tidy = result.tidy()
    assert {"share_pre", "share_post", "share_change", "gap"} <= set(tidy["term"])
    assert "<h4>" in result._repr_html_() and "SYNTHETIC" in result._repr_html_()


# ------------------------------------------------------------------ fetching every reporter


def _cells(plan: pd.DataFrame) -> list[tuple]:
    """Every (part, reporter, partner, code, period) cell a plan asks for (``all``: one cell for every area)."""
    out = []
    for row in plan.itertuples():
        for per in row.periods.split(","):
            for code in row.codes.split(","):
                for rep in row.reporters.split(","):
                    for par in row.partners.split(","):
                        out.append((row.part, rep, par, code, per))
    return out


@pytest.mark.parametrize("suppliers", ["all", [276, 842, 392, 410, 490, 792, 398, 643, "FRA", "Italy"]])
@pytest.mark.parametrize("endpoint", ["preview", "keyed"])
def test_supplier_plan_keeps_the_planner_guarantees_for_many_reporters(suppliers, endpoint):
    plan = plan_calls(focal="Belarus", start="2021-01", end="2022-12", endpoint=endpoint, suppliers=suppliers)
    assert (plan["bound"] < CAPS[endpoint]).all() and (plan["n_periods"] <= MAX_PERIODS).all()
    assert (plan["url_length"] < MAX_URL).all() and plan["chunk_id"].is_unique
    assert set(plan["part"]) == {"suppliers M", "suppliers A", "mirror M", "mirror A"}
    cells = _cells(plan)
    assert len(cells) == len(set(cells)), "a cell is asked for twice"
    reqs = supplier_requests(focal="Belarus", start="2021-01", end="2022-12", suppliers=suppliers)
    for req in reqs:
        got = {c[1:] for c in cells if c[0] == req.part}
        reporters = ["all"] if req.reporters is None else [str(r) for r in req.reporters]
        partners = ["all"] if req.partners is None else [str(p) for p in req.partners]
        want = {(r, p, code, per) for per in req.periods for code in req.codes[
            "H6" if int(per[:4]) >= 2022 else "H5"] for r in reporters for p in partners}
        assert got == want, req.part
    if suppliers == "all":
        assert set(plan["reporters"]) | set(plan["partners"]) >= {"all"}
        assert (plan.loc[plan["part"].str.startswith("suppliers"), "n_reporters"] == len(registry.areas())).all()
    else:
        listed = {int(r) for x in plan.loc[plan["part"] == "suppliers M", "reporters"] for r in x.split(",")}
        assert listed == {156, 276, 842, 392, 410, 490, 792, 398, 643, 251, 380}  # the reporter (China) added
    low = minimum_calls(plan)
    assert len(plan) >= low["minimum"]
    if endpoint == "keyed":
        assert len(plan) <= math.ceil(1.25 * low["minimum"])


def test_supplier_fetch_refuses_bad_input_before_any_call():
    with pytest.raises(InputError, match="suppliers include the focal partner"):
        plan_calls(end="2022-02", suppliers=[112, 276])
    with pytest.raises(InputError, match="suppliers: .*unknown"):
        plan_calls(end="2022-02", suppliers=["Narnia"])
    with pytest.raises(InputError, match="flow X"):
        supplier_requests(end="2022-02", flow="M")


class FakeAll:
    """A fake Comtrade transport for every-reporter queries: data for any reporter/partner list or 'all',
    availability for every reporter (Belarus publishes until 2021). ``fail_after``: calls answered 500 after
    that many data calls."""

    REPORTERS = (156, 276, 842, 112)

    def __init__(self, fail_after: int | None = None) -> None:
        self.data_calls: list[dict] = []
        self.fail_after = fail_after

    def request(self, method, url, fields=None, **kw):
        fields = dict(fields or {})
        freq = url.rstrip("/").split("/")[-2]
        if "/getDa/" in url:
            return self._answer(self._availability(freq))
        self.data_calls.append(fields)
        if self.fail_after is not None and len(self.data_calls) > self.fail_after:
            return Resp(500, b"<html>Internal server error</html>")
        reporters = [int(r) for r in str(fields["reportercode"]).split(",")] if "reportercode" in fields \
            else list(self.REPORTERS)
        partners = [int(p) for p in str(fields["partnerCode"]).split(",")] if "partnerCode" in fields \
            else list(self.REPORTERS)
        out = []
        for per in str(fields["period"]).split(","):
            for r in reporters:
                if r == 112 and per[:4] >= "2022":
                    continue
                for p in partners:
                    if p == r:
                        continue
                    for code in str(fields["cmdCode"]).split(","):
                        if cell_value(r, p, code, per, fields["flowCode"]) is not None:
                            out.append(record(r, p, code, per, fields["flowCode"], freq))
        return self._answer(out)

    def _availability(self, freq):
        out = []
        for r in self.REPORTERS:
            years = range(2020, 2022 if r == 112 else 2023)
            periods = [str(y) for y in years] if freq == "A" else [f"{y}{m:02d}" for y in years for m in range(1, 13)]
            out += [{"reporterCode": r, "freqCode": freq, "period": p, "classificationCode": "H5",
                     "lastReleased": f"{p[:4]}-12-20T10:00:00"} for p in periods]
        return out

    @staticmethod
    def _answer(data):
        return Resp(200, json.dumps({"elapsedTime": "0", "count": len(data), "data": data, "error": ""}).encode())


class Resp:
    def __init__(self, status, data):
        self.status, self.data, self.headers = status, data, {"Content-Type": "application/json"}


def test_supplier_fetch_stores_resumes_and_repeats_with_no_calls(tmp_path):
    store = Store(tmp_path / "store")
    args = dict(focal="Belarus", codes=["854231", "HS901310"], start="2021-11", end="2022-02", store=store,
                api_key=KEY, calls_per_minute=0, sleep=lambda s: None, progress=False, max_attempts=1,
                suppliers="all")
    broken = FakeAll(fail_after=2)
    with pytest.raises(ComtradeError) as err:
        fetch(transport=broken, **args)
    stored = err.value.fetch_result.chunks_written
    assert stored == 2 and len(store.manifest()) == 2
    good = FakeAll()
    result = fetch(transport=good, **args)
    assert result.complete and result.chunks_skipped == 2 and result.suppliers == "all"
    assert len(good.data_calls) == result.chunks_planned - 2  # only what was missing
    assert all("reportercode" not in f for f in good.data_calls if f["flowCode"] == "X")  # every reporter
    assert "every reporter" in str(result)
    again = FakeAll()
    repeat = fetch(transport=again, **args)
    assert repeat.complete and again.data_calls == [] and repeat.calls_made == 0
    records = store.read()
    key = ["typeCode", "freqCode", "period", "reporterCode", "flowCode", "partnerCode", "classificationCode",
           "cmdCode"]
    assert not records.duplicated(key).any()
    exports = records[(records["flowCode"] == "X") & (records["partnerCode"] == 112)]
    assert {156, 276, 842} <= set(exports["reporterCode"].astype(int))
    imports = records[(records["flowCode"] == "M") & (records["reporterCode"] == 112)]
    assert len(imports) and imports["period"].str[:4].max() == "2021"  # Belarus's own imports until 2021
    assert set(records["freqCode"]) == {"M", "A"}  # both frequencies planned for every reporter
    assert has_supplier_data(records, Study())


def test_cli_plans_a_supplier_fetch(capsys):
    from analysis.cli import main

    status = main(["fetch", "--suppliers", "276,842", "--codes", "854231", "--end", "2022-02", "--start", "2022-01",
                   "--plan"])
    out = capsys.readouterr().out
    assert status == 0 and "mirror M" in out and "suppliers A" in out and "call(s) planned" in out


# ------------------------------------------------------------------ importers take other reporters' records


def test_comtrade_csv_export_holds_other_reporters_exports_to_belarus(samples):
    frame = read_file(samples / "comtradeplus_export_CHN_USA_DEU_2022_A_TOTAL.csv")
    to_belarus = frame[(frame["partnerCode"] == 112) & (frame["flowCode"] == "X")]
    assert {842, 276, 156} <= set(to_belarus["reporterCode"].astype(int))
    assert (to_belarus["primaryValue"] > 0).all()


def test_bulk_file_of_other_reporters_imports_and_feeds_the_supplier_view(demo_panel, tmp_path):
    sel = demo_panel[((demo_panel["reporterCode"] == 276) | (demo_panel["reporterCode"] == 156))
                     & (demo_panel["partnerCode"] == 112) & (demo_panel["refYear"].between(2020, 2023))]
    both = set(sel.loc[sel["reporterCode"] == 276, "cmdCode"]) & set(sel.loc[sel["reporterCode"] == 156, "cmdCode"])
    sel = sel[sel["cmdCode"].isin(sorted(both)[:4])]
    body = sel.drop(columns=["period_date"]).to_csv(sep="\t", index=False)
    path = tmp_path / "bulk_DEU_CHN.txt.gz"
    path.write_bytes(gzip.compress(body.encode("utf-8")))
    store = Store(tmp_path / "store")
    summary = import_files([path], store=store)
    assert summary["format"].iloc[0] == "bulk_tsv.gz" and summary["rows"].iloc[0] == len(sel)
    records = store.read()
    assert set(records["reporterCode"].astype(int)) == {156, 276} and records["synthetic"].all()
    res = who_supplies(records, Study(pre="2020-01:2021-12", post="2022-03:2023-12"), draws=99)
    assert set(res.shares["supplier_code"]) == {156, 276}
    assert res.synthetic


def test_small_monte_carlo_the_widened_intervals_cover_better_than_plain_percentiles():
    from conftest import load_script

    mc = load_script("validate_suppliers")
    # 200 panels: the power at AR(1) 0.6 is about 93% (1,000 panels), within 80 panels' noise of 0.9
    plain = mc.study(200, 199, kinds=("ar0.6",), plain=True)
    widened = mc.study(200, 199, kinds=("ar0.6",))
    for p, w in zip(plain, widened, strict=True):
        assert w["coverage"] >= p["coverage"] and w["coverage"] / w["reps"] >= 0.9, (p, w)
    null = widened[0]
    assert null["rise"] == 0 and null["rises_found"] / null["reps"] <= 0.1
    assert widened[1]["rises_found"] / widened[1]["reps"] >= 0.9  # a 10-point rise is found
