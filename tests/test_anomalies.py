"""Anomaly detectors: the findings table, hand-made series with known answers, and the demo's planted effects."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_script

from analysis import demo
from analysis.anomalies import (
    FINDING_COLUMNS,
    KINDS,
    AnomalyError,
    counterfactual,
    counterfactual_band,
    find_anomalies,
    mirror_gap,
)
from analysis.anomalies.common import ar1_noise, panel
from analysis.errors import InputError
from analysis.series import SERIES_COLUMNS, merge_jan_feb
from analysis.study import Study


def find(*args, **kwargs) -> pd.DataFrame:
    """The findings table of :func:`find_anomalies`."""
    return find_anomalies(*args, **kwargs).findings


DATES = pd.date_range("2017-01", "2025-06", freq="MS")
SEASON = np.log(demo.SEASON)


def _validation():
    return load_script("validate_anomalies")


def noise_panel(n: int, seed: int, *, sigma: float = 0.2, rho: float = 0.3, level: float = 2e5) -> np.ndarray:
    """Months x n USD matrix: log-linear trend, China's season, AR(1) noise (log SD ``sigma``)."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(DATES))[:, None] / 12
    x = (np.log(level) + rng.normal(0, 0.5, n) + rng.normal(0.04, 0.03, n) * t + SEASON[DATES.month - 1][:, None]
         + ar1_noise(rng, len(DATES), n, rho) * sigma * np.sqrt(1 - rho**2))
    return np.exp(x)


def frame(usd: np.ndarray, *, kg: np.ndarray | None = None, partner: int = 112, reporter: int = 156,
          flow: str = "X", families: list[str] | None = None, dates: pd.DatetimeIndex = DATES,
          merge: bool = True) -> pd.DataFrame:
    """A series frame (analysis.series columns) from a months x series matrix, Jan/Feb merged like China's."""
    n_t, n = usd.shape
    fams = families or [f"HS99{i:04d}" for i in range(n)]
    kg = usd / 40.0 if kg is None else kg
    out = pd.DataFrame({
        "reporter_code": reporter, "partner_code": partner, "flow_code": flow,
        "family_id": np.repeat(fams, n_t), "group": "ungrouped", "kind": "ungrouped",
        "date": np.tile(dates, n), "usd": usd.T.ravel(), "kg": np.where(usd > 0, kg, 0.0).T.ravel(),
        "n_records": (usd > 0).T.ravel().astype("int64"), "synthetic": True,
    })[SERIES_COLUMNS]
    out = merge_jan_feb(out) if merge else out
    out.attrs["synthetic"] = True
    return out


# --------------------------------------------------------------- the table --

@pytest.fixture(scope="module")
def demo_validation(demo_series):
    module = _validation()
    table, findings = module.validate(demo_series)
    return table.set_index("detector"), findings


def test_findings_table_ranked_and_synthetic(demo_series):
    result = find_anomalies(demo_series)
    found = result.findings
    assert list(found.columns) == FINDING_COLUMNS
    assert found["synthetic"].all() and result.synthetic is True
    assert result.study.focal == 112 and result.config.detectors == KINDS
    tidy = result.tidy()
    assert len(tidy) == len(found) and set(tidy["term"]) == set(found["kind"]) and tidy["synthetic"].all()
    html = result._repr_html_()
    assert "SYNTHETIC" in html and "<table" in html
    assert set(found["kind"]) <= set(KINDS) and (found["q_value"] < 0.05).all()
    for _, block in found.groupby("kind"):
        assert block["rank"].tolist() == list(range(1, len(block) + 1))
        assert block["score"].is_monotonic_decreasing
        assert (block["p_value"] <= block["q_value"] + 1e-15).all()
    assert found["period"].str.fullmatch(r"\d{4}-\d{2}").all()


# -------------------------------------------------- demo: precision/recall --

def test_demo_targets_of_the_validation_script_hold(demo_validation):
    """Every target scripts/validate_anomalies.py prints (recall and precision floors per detector against the
    planted effects, transit rises included; the focal partner's shifts; the null rate) holds on the demo."""
    table, findings = demo_validation
    module = _validation()
    checks = module.targets(table.reset_index())
    assert checks["met"].all(), checks[~checks["met"]]
    assert module.estimated_weight_trap(findings) == 0  # estimated weights are no price change
    for kind in module.FLOORS:
        assert table.loc[kind, "planted"] > 0, kind


def test_demo_null_series_stay_quiet(demo_validation):
    table, _ = demo_validation
    assert (table["null_tested"] > 80).all()
    # at most 0.5% of the null series a detector tests give a finding (false discovery rate 5% over all of them)
    assert (table["null_findings"] <= np.maximum(1, 0.005 * table["null_tested"])).all(), table


def test_demo_every_planted_belarus_new_flow_unit_value_mirror_gap_and_large_shift(demo_validation):
    """Belarus is twice as noisy as the rest: its x6 spikes and its x1.6 shift are below what a detector can see
    (scripts/validate_anomalies.py, FLOORS), but every new flow, unit-value shift and mirror gap is found, and the
    x3 and larger shifts relative to its comparison group are found by the level-shift or counterfactual test."""
    table, findings = demo_validation
    for kind in ("new_flow", "unit_value", "mirror_gap"):
        assert table.loc[kind, "belarus_found"] == table.loc[kind, "belarus_planted"] > 0
    assert table.loc["level_shift", "belarus_found"] >= 4
    gt = demo.ground_truth()
    large = gt[(gt["kind"] == "level_shift") & (gt["partner_code"] == demo.BELARUS) & (gt["factor"] >= 3)]
    bel = findings[(findings["partner_code"] == demo.BELARUS)
                   & findings["kind"].isin(["level_shift", "counterfactual_excess"])]
    assert set(large["family_id"]) <= set(bel["family"])


def test_demo_findings_sizes(demo_validation):
    _, findings = demo_validation
    uv = findings[(findings["kind"] == "unit_value") & (findings["family"] == "HS901380")].iloc[0]
    assert uv["period"] in ("2022-09", "2022-10", "2022-11") and uv["size_low"] <= 3.0 <= uv["size_high"]
    assert "value flat" in uv["detail"]
    gap = findings[(findings["kind"] == "mirror_gap") & (findings["family"] == "HS852691")].iloc[0]
    assert gap["period"] == "2019-01" and gap["size_low"] <= 2.5 <= gap["size_high"]
    new = findings[(findings["kind"] == "new_flow") & (findings["family"] == "F8514OTHER")].iloc[0]
    assert new["period"] == "2022-07" and new["expected_usd"] == 0 and np.isinf(new["size"])


# --------------------------------------------------- hand-made: level shift --

def test_clean_step_found_at_its_month_with_its_size():
    usd = noise_panel(60, seed=1)
    at = DATES.get_loc(pd.Timestamp("2021-05-01"))
    usd[at:, :3] *= np.array([2.5, 4.0, 0.4])
    found = find(frame(usd), detectors=["level_shift"])
    steps = found.set_index("family")
    for fam, factor in (("HS990000", 2.5), ("HS990001", 4.0), ("HS990002", 0.4)):
        row = steps.loc[fam]
        assert abs((pd.Period(row["period"], "M") - pd.Period("2021-05", "M")).n) <= 1
        assert row["size_low"] <= factor <= row["size_high"]
    assert len(found) <= 4  # the 57 series without a step stay (nearly) quiet


def test_level_shift_of_quantity_says_unit_value_flat():
    usd = noise_panel(30, seed=2)
    usd[60:, 0] *= 3.0
    found = find(frame(usd), detectors=["level_shift", "unit_value"])
    assert found["kind"].tolist().count("level_shift") >= 1
    assert "USD/kg flat" in found.loc[found["family"] == "HS990000", "detail"].iloc[0]
    assert not (found["kind"] == "unit_value").any()


# --------------------------------------------------------- hand-made: spike --

def test_single_spike_found_in_its_month():
    usd = noise_panel(60, seed=3, sigma=0.15)
    at = DATES.get_loc(pd.Timestamp("2020-09-01"))
    usd[at, 5] *= 6.0
    found = find(frame(usd), detectors=["spike"])
    assert found["family"].tolist() == ["HS990005"]
    row = found.iloc[0]
    assert row["period"] == "2020-09" and row["size_low"] <= 6.0 <= row["size_high"]


def test_spike_in_january_is_reported_as_the_merged_pair():
    usd = noise_panel(40, seed=4, sigma=0.15)
    jan = DATES.get_loc(pd.Timestamp("2023-01-01"))
    usd[jan, 0] *= 12.0  # merged with February: each month shows half
    found = find(frame(usd), detectors=["spike"])
    row = found[found["family"] == "HS990000"].iloc[0]
    assert row["period"] == "2023-01" and "January-February" in row["detail"]


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_pure_noise_gives_nothing_much(seed):
    """No effect anywhere: across five seeds and all detectors at most one finding per seed."""
    found = find(frame(noise_panel(150, seed=seed)), detectors=[k for k in KINDS if k != "mirror_gap"],
                           counterfactual_scope="all")
    assert len(found) <= 1, found[["kind", "family", "period", "q_value"]]


# ------------------------------------------------------ hand-made: new flow --

def test_new_flow_found_from_its_first_month_and_one_shipment_is_not():
    usd = noise_panel(20, seed=5)
    start = DATES.get_loc(pd.Timestamp("2022-08-01"))
    usd[:start, 0] = 0.0
    usd[:, 1] = 0.0
    usd[DATES.get_loc(pd.Timestamp("2023-05-01")), 1] = 5e6  # a single big shipment
    found = find(frame(usd), detectors=["new_flow"])
    assert found["family"].tolist() == ["HS990000"]
    assert found.iloc[0]["period"] == "2022-08"


def test_new_flow_thresholds_are_parameters():
    usd = noise_panel(5, seed=6, level=2e4)
    start = DATES.get_loc(pd.Timestamp("2022-05-01"))
    usd[:start, 0] = 0.0
    usd[:, 0] *= 15_000 / usd[start:, 0].mean()
    assert find(frame(usd), detectors=["new_flow"]).empty  # 15k USD a month: below 25k
    assert len(find(frame(usd), detectors=["new_flow"], options={"material_usd": 5_000})) == 1


# ---------------------------------------------------- hand-made: unit value --

def test_unit_value_shift_with_flat_value():
    usd = noise_panel(40, seed=7)
    rng = np.random.default_rng(7)
    kg = usd / 40.0 * np.exp(rng.normal(0, 0.05, usd.shape))
    at = DATES.get_loc(pd.Timestamp("2023-04-01"))
    kg[at:, 2] /= 3.0  # a third of the weight for the same value: USD/kg x3
    found = find(frame(usd, kg=kg), detectors=["unit_value"])
    assert found["family"].tolist() == ["HS990002"]
    row = found.iloc[0]
    assert abs((pd.Period(row["period"], "M") - pd.Period("2023-04", "M")).n) <= 2
    assert row["size_low"] <= 3.0 <= row["size_high"] and "value flat" in row["detail"]


def test_months_without_weight_are_excluded():
    usd = noise_panel(10, seed=8)
    kg = usd / 40.0
    kg[::3, 0] = np.nan  # a third of the months report no weight: series 0 is not tested
    tested = find(frame(usd, kg=kg), detectors=["unit_value"], all_tested=True)
    assert "HS990000" not in set(tested["family"]) and len(tested) == 9


# ---------------------------------------------------- hand-made: mirror gap --

def _mirror_frame(gap_factor: float, gap_years: tuple[int, int] = (2019, 2021), n: int = 40, seed: int = 9):
    rng = np.random.default_rng(seed)
    exports = noise_panel(n, seed=seed, level=1e6)
    dates = DATES[DATES.year <= 2021]
    imports = exports[: len(dates)] * 1.07 * np.exp(rng.normal(0, 0.1, (len(dates), n)))
    in_gap = (dates.year >= gap_years[0]) & (dates.year <= gap_years[1])
    imports[in_gap, 0] *= gap_factor
    fams = [f"HS99{i:04d}" for i in range(n)]
    china = frame(exports, families=fams)
    partner = frame(imports, families=fams, reporter=112, partner=156, flow="M", dates=dates)
    both = pd.concat([china, partner], ignore_index=True)
    both.attrs["synthetic"] = True
    return both


def test_mirror_gap_found_with_its_years_and_size():
    found = find(_mirror_frame(2.5), detectors=["mirror_gap"])
    assert found["family"].tolist() == ["HS990000"]
    row = found.iloc[0]
    assert (row["reporter_code"], row["partner_code"]) == (156, 112)
    assert row["period"] == "2019-01" and row["size_low"] <= 2.5 <= row["size_high"]
    assert "usual ratio" in row["detail"]


def test_mirror_cif_fob_margin_alone_is_not_a_gap():
    assert find(_mirror_frame(1.0), detectors=["mirror_gap"]).empty
    assert find(_mirror_frame(1.3), detectors=["mirror_gap"]).empty  # within the ordinary mirror noise


def test_mirror_gap_needs_the_partner_to_report():
    only_china = frame(noise_panel(20, seed=10))
    assert mirror_gap.detect(only_china, reporter=156, flow="X").empty


# ------------------------------------------------- hand-made: counterfactual --

def test_counterfactual_excess_on_the_focal_partner_only():
    usd = noise_panel(30, seed=11, sigma=0.15)
    usd[DATES >= pd.Timestamp("2022-06-01"), 0] *= 3.0
    focal = frame(usd)
    other = frame(usd, partner=398)
    both = pd.concat([focal, other], ignore_index=True)
    both.attrs["synthetic"] = True
    found = find(both, detectors=["counterfactual_excess"])
    assert found["family"].tolist() == ["HS990000"] and (found["partner_code"] == 112).all()
    row = found.iloc[0]
    assert row["period"] == "2022-03" and row["size"] > 2 and row["observed_usd"] > row["expected_high"]


def test_counterfactual_projection_matches_statsmodels_sarimax():
    """The vectorised model is a regression with AR(1) errors: statsmodels' SARIMAX fits the same thing."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    p = panel(frame(noise_panel(1, seed=12, sigma=0.15)), Study())  # Jan/Feb merged
    usd, dates = p.usd, p.dates
    study = Study().closed(dates.max())
    pre, post = study.pre, study.post
    proj = counterfactual.project(usd, dates, pre, post, n_sim=4000, bands=True)
    in_pre = (dates >= pre.start) & (dates <= pre.end) & (dates.month != 2)
    y = np.log(usd[in_pre, 0])
    months = dates[in_pre].month
    t = np.arange(in_pre.sum()) / 12.0
    exog = np.column_stack([t] + [(months == m).astype(float) for m in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12)])
    fit = SARIMAX(y, exog=exog, order=(1, 0, 0), trend="c").fit(disp=False, maxiter=500)
    ahead = (dates > pre.end) & (dates.month != 2)
    ta = (np.arange(in_pre.sum(), in_pre.sum() + ahead.sum())) / 12.0
    ma = dates[ahead].month
    exog_f = np.column_stack([ta] + [(ma == m).astype(float) for m in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12)])
    fc = fit.get_forecast(int(ahead.sum()), exog=exog_f)
    sm_mean = np.exp(fc.predicted_mean + fc.var_pred_mean / 2)
    ours = proj.month_mean[:, 0]
    # same mean forecasts (within 8%) twelve months out; ours is wider (it also draws the trend and AR coefficient)
    assert np.allclose(ours[:12], sm_mean[:12], rtol=0.08)


def test_counterfactual_band_for_charts(demo_series):
    band = counterfactual_band(demo_series, reporter=156, focal=112, family="HS854231")
    assert list(band.columns) == ["date", "observed", "expected", "low", "high", "synthetic"]
    assert band["synthetic"].all()
    pd.testing.assert_frame_equal(band, counterfactual_band(demo_series, focal="Belarus", family="HS854231"))
    assert band["date"].min() == pd.Timestamp("2019-01-01") and band["date"].max() == pd.Timestamp("2025-06-01")
    assert band["expected"].notna().all()
    assert ((band["low"] <= band["expected"]) & (band["expected"] <= band["high"])).all()
    with pytest.raises(InputError, match="no series"):
        counterfactual_band(demo_series, focal=112, family="NOPE")
    with pytest.raises(InputError, match="too few positive months"):
        counterfactual_band(demo_series, focal=112, family="F8514OTHER")


# ------------------------------------------------------------------ errors --

def test_bad_input_is_one_clear_error(demo_series):
    with pytest.raises(AnomalyError, match="unknown detector"):
        find(demo_series, detectors=["wiggle"])
    with pytest.raises(InputError, match="alpha"):
        find(demo_series, detectors=["new_flow"], alpha=2)
    with pytest.raises(InputError, match="must end before"):
        find(demo_series, detectors=["new_flow"], pre="2019:2023", post="2022-03:2025-06")
    with pytest.raises(AnomalyError, match="series frame"):
        find(pd.DataFrame({"usd": [1.0]}))
    yearly = frame(noise_panel(3, seed=13)[:5], dates=pd.date_range("2017", periods=5, freq="YS"), merge=False)
    with pytest.raises(AnomalyError, match="monthly"):
        find(yearly)
    assert issubclass(AnomalyError, InputError)


def test_no_matching_series_gives_an_empty_table(demo_series):
    result = find_anomalies(demo_series, partners=[124])  # Canada: a country, not in the data
    empty = result.findings
    assert list(empty.columns) == FINDING_COLUMNS and empty.empty and result.synthetic is True



def test_counterfactual_band_is_the_findings_counterfactual(demo_series):
    """The chart band of a focal finding projects the same model as the finding (relative to the comparison
    group, in recorded USD): its expected post-window total is the finding's expected_usd."""
    found = find(demo_series, detectors=["counterfactual_excess"], partners=[112])
    row = found.set_index("family").loc["HS901510"]
    assert row["detail"].startswith("relative to the median of")
    band = counterfactual_band(demo_series, focal=112, family="HS901510")
    post = band[(band["date"] >= pd.Timestamp("2022-03-01"))]
    np.testing.assert_allclose(post["expected"].sum(), row["expected_usd"], rtol=0.1)
    np.testing.assert_allclose(post["observed"].sum(), row["observed_usd"], rtol=1e-9)
    assert band.attrs["basis"].startswith("relative to the median of")
    assert (post["observed"] > post["high"]).mean() > 0.5  # the x8 rangefinders stand out of their band


def test_annual_study_runs_the_detectors_that_make_sense_for_a_few_points(demo_panel):
    """Annual series (the demo's months summed to years): only new flows and mirror gaps are tested (ANNUAL_NOTE
    says why); Belarus's mirror gap of 2019-2021 is found on annual totals; a monthly study of annual series is
    one clear error."""
    from test_compare import ANNUAL, annual_records

    from analysis.anomalies import ANNUAL_KINDS, ANNUAL_NOTE
    from analysis.series import build_series

    series = build_series(annual_records(demo_panel), freq="A")
    result = find_anomalies(series, **ANNUAL)
    assert result.config.detectors == ANNUAL_KINDS and "too few points" in ANNUAL_NOTE
    found = result.findings
    assert set(found["kind"]) <= set(ANNUAL_KINDS)
    gap = found[(found["kind"] == "mirror_gap") & (found["family"] == "HS852691")].iloc[0]
    assert gap["period"] == "2019-01" and gap["size_low"] <= 2.5 <= gap["size_high"]
    with pytest.raises(AnomalyError, match="annual study"):
        find(series, pre="2019:2021", post="2022:2024")
