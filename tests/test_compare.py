"""Before/after comparison and relative ratios: estimators against known answers and statsmodels, then the demo."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis import demo
from analysis.comparison import COMPARE_COLUMNS, compare
from analysis.errors import InputError
from analysis.series import SERIES_COLUMNS
from analysis.stats import (
    bh_qvalues,
    fixed_b_reference,
    fraclogit_batch,
    hac_lags,
    placebo_variance,
    ppml_batch,
    t_pvalues,
)

CONTRACT = ["partner_code", "family", "group", "pre_usd_month", "post_usd_month", "ratio", "ratio_low", "ratio_high",
            "p_value", "q_value", "control_ratio", "relative_ratio", "relative_low", "relative_high",
            "relative_p_value"]


def series_frame(values: dict[tuple[int, str], np.ndarray], start: str = "2019-01", group: str = "optics",
                 kind: str = "dual_use", reporter: int = 156) -> pd.DataFrame:
    """A SYNTHETIC series frame from {(partner, family): monthly values}."""
    rows = []
    for (partner, fam), v in values.items():
        dates = pd.date_range(start, periods=len(v), freq="MS")
        rows.append(pd.DataFrame({
            "reporter_code": reporter, "partner_code": partner, "flow_code": "X", "family_id": fam,
            "group": group if not fam.startswith("C") else "control_consumer",
            "kind": kind if not fam.startswith("C") else "control", "date": dates, "usd": v, "kg": np.nan,
            "n_records": (v > 0).astype(int), "synthetic": True,
        }))
    out = pd.concat(rows, ignore_index=True)[SERIES_COLUMNS]
    out.attrs["synthetic"] = True
    return out


@pytest.fixture(scope="module")
def demo_compare_result(demo_series):
    return compare(demo_series)


@pytest.fixture(scope="module")
def demo_compare(demo_compare_result):
    return demo_compare_result.table


# ------------------------------------------------------------- estimators --

def test_bh_qvalues_hand_computed_and_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan])
    q = bh_qvalues(p)
    # m = 4; sorted 0.01, 0.03, 0.04, 0.20 give m p / rank = 0.04, 0.06, 0.0533, 0.20; then the running
    # minimum from the largest p down: 0.04, 0.0533, 0.0533, 0.20
    np.testing.assert_allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.20], rtol=1e-12)
    assert np.isnan(q[4])
    rng = np.random.default_rng(1)
    pv = rng.uniform(size=200) ** 3
    np.testing.assert_allclose(bh_qvalues(pv), multipletests(pv, method="fdr_bh")[1], rtol=1e-12)
    with pytest.raises(ValueError):
        bh_qvalues(np.array([1.5]))


def _season_design(T: int, post_from: int) -> np.ndarray:
    month = np.arange(T) % 12
    post = (np.arange(T) >= post_from).astype(float)
    return np.column_stack([np.ones(T), post] + [(month == m).astype(float) for m in range(1, 12)])


def test_ppml_equals_statsmodels_glm_hac():
    rng = np.random.default_rng(7)
    T, L = 76, 4
    X = _season_design(T, 36)
    Y = np.exp(9 + 0.4 * X[:, 1] + rng.normal(0, 0.6, (6, T))) * (rng.random((6, T)) > 0.25)
    fit = ppml_batch(Y, X, maxlags=L)
    for s in range(len(Y)):
        res = sm.GLM(Y[s], X, family=sm.families.Poisson()).fit(cov_type="HAC", cov_kwds={"maxlags": L})
        np.testing.assert_allclose(fit.coef[s], res.params, rtol=1e-6, atol=1e-8)
        # statsmodels' GLM HAC has no small-sample factor (use_correction=False): ours neither
        np.testing.assert_allclose(fit.cov[s], res.cov_params(), rtol=1e-6, atol=1e-12)


def test_ppml_known_answers():
    # constant + post only: the PPML post coefficient is log(mean post / mean pre), exactly
    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, 1000.0, (3, 40)) * (rng.random((3, 40)) > 0.2)
    X = np.column_stack([np.ones(40), (np.arange(40) >= 15).astype(float)])
    fit = ppml_batch(y, X, maxlags=2)
    np.testing.assert_allclose(np.exp(fit.coef[:, 1]), y[:, 15:].mean(1) / y[:, :15].mean(1), rtol=1e-9)
    np.testing.assert_allclose(np.exp(fit.coef[:, 0]), y[:, :15].mean(1), rtol=1e-9)
    # a noiseless seasonal series with a x2.5 shift: recovered exactly, zero months included
    Xs = _season_design(60, 30)
    mu = 500.0 * 2.5 ** Xs[:, 1] * np.exp(Xs[:, 2:] @ np.linspace(-0.5, 0.5, 11))[None, :]
    fit = ppml_batch(mu, Xs, maxlags=3)
    assert fit.converged.all()
    np.testing.assert_allclose(np.exp(fit.coef[0, 1]), 2.5, rtol=1e-9)


def test_ppml_drops_always_zero_month_and_keeps_the_rest():
    rng = np.random.default_rng(5)
    X = _season_design(48, 24)
    y = rng.gamma(3.0, 100.0, 48)
    y[np.arange(48) % 12 == 4] = 0.0  # May is always zero: its dummy goes to -inf
    fit = ppml_batch(y[None], X, maxlags=3)
    assert np.isnan(fit.coef[0, 2 + 3]) and not fit.active[0, 5]
    keep = np.arange(48) % 12 != 4
    ref = sm.GLM(y[keep], np.delete(X[keep], 5, axis=1), family=sm.families.Poisson()).fit()
    np.testing.assert_allclose(fit.coef[0, 1], ref.params[1], rtol=1e-7)


def test_two_unit_ppml_is_fractional_logit_statsmodels():
    """PPML of a partner and the pooled comparison with unit and month effects = fractional logit of the share."""
    rng = np.random.default_rng(11)
    T, L = 50, 5
    post = (np.arange(T) >= 20).astype(float)
    yp = rng.gamma(2.0, 50.0, T) * np.exp(0.5 * post)
    yc = rng.gamma(5.0, 200.0, T)
    n = yp + yc
    fit = fraclogit_batch((yp / n)[None], n[None], np.column_stack([np.ones(T), post]), maxlags=L)
    unit = np.r_[np.zeros(T), np.ones(T)]
    tt = np.r_[np.arange(T), np.arange(T)]
    D = np.column_stack([unit == 0, (unit == 0) * np.r_[post, post]] + [tt == t for t in range(T)]).astype(float)
    res = sm.GLM(np.r_[yp, yc], D, family=sm.families.Poisson()).fit(
        cov_type="hac-groupsum", cov_kwds={"time": tt, "maxlags": L, "use_correction": False})
    np.testing.assert_allclose(fit.coef[0], res.params[:2], rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov[0])), res.bse[:2], rtol=1e-6)
    # the relative ratio is the ratio of the two post/pre ratios of mean value
    rr = (yp[20:].mean() / yp[:20].mean()) / (yc[20:].mean() / yc[:20].mean())
    np.testing.assert_allclose(np.exp(fit.coef[0, 1]), rr, rtol=1e-9)


def test_fixed_b_reference_is_normal_for_long_series_and_wider_for_short():
    c, nu = fixed_b_reference(np.column_stack([np.ones(600), np.arange(600) >= 300]).astype(float), 1, 2,
                              nsim=20_000)
    assert abs(c * stats.t.ppf(0.975, nu) - 1.96) < 0.08
    X = _season_design(70, 34)
    c2, nu2 = fixed_b_reference(X, 1, hac_lags(70), nsim=20_000)
    assert c2 * stats.t.ppf(0.975, nu2) > 2.4  # 70 months, 11 lags: far from 1.96


def test_placebo_variance_hand_case():
    d = np.array([0.9, 0.3, -0.3, 0.1, -0.1])
    v = np.array([0.01, 0.01, 0.01, 0.01, 0.01])
    is_pl = np.array([False, True, True, True, True])
    var, df, n = placebo_variance(d, v, np.zeros(5), is_pl, df_v=np.inf)
    tau2 = np.mean([0.09 - 0.01, 0.09 - 0.01, 0.01 - 0.01, 0.01 - 0.01])
    np.testing.assert_allclose(var[0], 0.01 + tau2)
    assert n[0] == 4 and n[1] == 3  # a placebo leaves itself out
    np.testing.assert_allclose(var[1], 0.01 + np.mean([0.08, 0.0, 0.0]))
    np.testing.assert_allclose(df[0], (0.01 + tau2) ** 2 / (tau2**2 / 3))  # Welch-Satterthwaite, 4 placebos


def test_before_after_false_positive_rate_on_autocorrelated_noise():
    """Quick Monte-Carlo (the script runs the long one): 600 pure-noise series, AR(1) 0.3, seasonal."""
    rng = np.random.default_rng(20240601)
    S, T = 600, 72
    e = np.empty((S, T))
    e[:, 0] = rng.normal(0, 0.3 / np.sqrt(1 - 0.09), S)
    for t in range(1, T):
        e[:, t] = 0.3 * e[:, t - 1] + rng.normal(0, 0.3, S)
    X = _season_design(T, 36)
    Y = 1e4 * np.exp(X[:, 2:] @ np.linspace(-0.2, 0.2, 11) + e)
    L = hac_lags(T)
    fit = ppml_batch(Y, X, maxlags=L)
    c, nu = fixed_b_reference(X, 1, L)
    p = t_pvalues(fit.coef[:, 1] / fit.se(1) / c, nu)
    rate = np.mean(p < 0.05)
    assert 0.02 <= rate <= 0.10, rate


# ------------------------------------------------------------------- compare --

def test_compare_contract_and_synthetic(demo_compare, demo_compare_result):
    assert COMPARE_COLUMNS[:25] == [
        "reporter_code", "partner_code", "family", "family_name", "group", "kind", "pre_usd_month", "post_usd_month",
        "ratio", "ratio_low", "ratio_high", "p_value", "q_value", "control_ratio", "relative_ratio", "relative_low",
        "relative_high", "relative_p_value", "relative_q_value", "share_pre", "share_post", "pre_months",
        "post_months", "note", "synthetic"]
    assert set(CONTRACT) <= set(demo_compare.columns)
    assert demo_compare["synthetic"].all() and demo_compare_result.synthetic
    assert not demo_compare.duplicated(["partner_code", "family"]).any()
    assert demo_compare["is_focal"].iloc[0]  # focal partner first
    cfg, study = demo_compare_result.config, demo_compare_result.study
    assert cfg.jan_feb_merged and study.pre.text == "2019-01:2021-12" and study.post.text == "2022-03:2025-06"
    ok = demo_compare["ratio"].notna()
    assert (demo_compare.loc[ok, "ratio_low"] <= demo_compare.loc[ok, "ratio"]).all()
    assert (demo_compare.loc[ok, "ratio"] <= demo_compare.loc[ok, "ratio_high"]).all()


def test_demo_planted_level_shifts_found_in_relative_terms(demo_compare):
    """Every planted Belarus shift is estimated within 0.75-1.33 times its size over the post window; the large
    ones (x3 and more) are seen by the interval despite a focal partner twice as noisy as the rest."""
    gt = demo.ground_truth()
    shifts = gt[(gt["kind"] == "level_shift") & (gt["partner_code"] == demo.BELARUS)]
    bel = demo_compare[demo_compare["is_focal"]].set_index("family")
    post = pd.date_range("2022-03", "2025-06", freq="MS")
    for row in shifts.itertuples():
        r = bel.loc[row.family_id]
        mean_factor = np.where(post >= pd.Timestamp(row.start), row.factor, 1.0).mean()
        assert 0.75 <= r.relative_ratio / mean_factor <= 1.33, (row.family_id, r.relative_ratio, mean_factor)
        if row.factor >= 3:
            assert r.relative_low > 1.0 and r.break_2022, row.family_id


def test_demo_common_shock_rises_but_is_not_belarus_specific(demo_compare):
    bel = demo_compare[demo_compare["is_focal"] & demo_compare["family"].str.startswith("HS8703")]
    assert len(bel) == 4
    assert (bel["ratio"] > 2.5).all() and (bel["q_value"] < 0.05).all()  # a clear rise for Belarus
    assert (bel["relative_p_value"] > 0.05).all()  # not Belarus-specific
    assert (bel["relative_low"] < 1).all()
    assert not bel["break_2022"].any()


def test_demo_null_families_stay_quiet_in_relative_terms(demo_compare):
    """No Belarus family without a planted effect is significant, and the placebo rows (each comparison partner
    against the others, nothing planted) hold their size in the tails too, where Benjamini-Hochberg looks."""
    gt = demo.ground_truth()
    bel = demo_compare[demo_compare["is_focal"] & ~demo_compare["family"].isin(gt["family_id"])]
    assert len(bel) > 80
    assert (bel["relative_q_value"] < 0.05).sum() == 0, bel.nsmallest(3, "relative_q_value")
    placebo = demo_compare[demo_compare["is_comparison"] & ~demo_compare["family"].isin(gt["family_id"])]
    p = placebo["relative_p_value"].dropna()
    assert len(p) > 1000
    assert 0.02 <= (p < 0.05).mean() <= 0.07 and (p < 0.01).mean() <= 0.02 and (p < 0.001).mean() <= 0.003
    assert (placebo["relative_p_hac"] < 0.05).mean() > 0.15  # time-series HAC alone does not


def test_zero_cases_and_notes():
    rng = np.random.default_rng(2)
    T = 48
    base = lambda: rng.gamma(4.0, 250.0, T)  # noqa: E731
    y_new = base()
    y_new[:36] = 0.0  # no pre-period exports
    y_gone = base()
    y_gone[38:] = 0.0  # nothing after
    vals = {(112, "HS000001"): y_new, (112, "HS000002"): y_gone, (112, "HS000003"): np.zeros(T),
            (112, "HS000004"): base()}
    for p in (616, 440, 398):
        for f in ("HS000001", "HS000002", "HS000003", "HS000004"):
            vals[(p, f)] = base()
    s = series_frame(vals)
    out = compare(s, pre="2019-01:2021-12", post="2022-03:2022-12").table.set_index(["partner_code", "family"])
    new, gone, none = out.loc[(112, "HS000001")], out.loc[(112, "HS000002")], out.loc[(112, "HS000003")]
    assert np.isnan(new["ratio"]) and "no pre-period exports" in new["note"]
    assert gone["ratio"] == 0 and gone["p_value"] < 0.05 and "no post-period exports" in gone["note"]
    assert np.isnan(none["p_value"]) and "not tested" in none["note"]
    assert out["share_basis"].eq("partners_in_data").all()
    np.testing.assert_allclose(out.loc[(112, "HS000004"), "share_pre"],
                               vals[(112, "HS000004")][:36].sum()
                               / sum(vals[(p, "HS000004")][:36].sum() for p in (112, 616, 440, 398)))


def test_world_rows_are_the_share_denominator_and_not_a_partner():
    rng = np.random.default_rng(4)
    T = 48
    vals = {(p, "HS000001"): rng.gamma(4.0, 250.0, T) for p in (112, 616, 440, 398)}
    vals[(0, "HS000001")] = 10 * sum(vals.values())
    out = compare(series_frame(vals), post="2022-03:2022-12").table
    assert 0 not in set(out["partner_code"]) and out["share_basis"].eq("world").all()
    b = out[out["partner_code"] == 112].iloc[0]
    np.testing.assert_allclose(b["share_pre"], 0.1 * vals[(112, "HS000001")][:36].sum()
                               / sum(vals[(p, "HS000001")][:36].sum() for p in (112, 616, 440, 398)))


def test_relative_ratio_is_ratio_of_mean_ratios():
    rng = np.random.default_rng(9)
    T = 48
    vals = {(p, "HS000001"): rng.gamma(4.0, 250.0, T) for p in (112, 616, 440, 398, 643)}
    out = compare(series_frame(vals), post="2022-03:2022-12", controls=[616, 440, 398]).table.set_index("partner_code")
    pre, post = slice(0, 36), slice(38, 48)
    pool = sum(vals[(p, "HS000001")] for p in (616, 440, 398))
    yb = vals[(112, "HS000001")]
    expect = (yb[post].mean() / yb[pre].mean()) / (pool[post].mean() / pool[pre].mean())
    np.testing.assert_allclose(out.loc[112, "relative_ratio"], expect, rtol=1e-8)
    # a comparison partner is compared with the others, without itself
    y6 = vals[(616, "HS000001")]
    rest = pool - y6
    np.testing.assert_allclose(out.loc[616, "relative_ratio"],
                               (y6[post].mean() / y6[pre].mean()) / (rest[post].mean() / rest[pre].mean()), rtol=1e-8)


def test_bad_input_raises_input_error(demo_series):
    with pytest.raises(InputError, match="must end before"):
        compare(demo_series, pre="2019-01:2022-06", post="2022-03:2025-06")
    with pytest.raises(InputError, match="reversed"):
        compare(demo_series, pre="2021-12:2019-01")
    with pytest.raises(InputError, match="month"):
        compare(demo_series, pre="2011-01:2012-12")
    with pytest.raises(InputError, match="no series for reporter"):
        compare(demo_series, reporter=124)  # Canada: no series as a reporter in the demo
    with pytest.raises(InputError, match="not a series frame"):
        compare(demo_series.drop(columns=["usd"]))
    with pytest.raises(InputError, match="not in the data"):
        compare(demo_series, partners=[124])  # Canada: a country, not in the data
    with pytest.raises(InputError, match="alpha"):
        compare(demo_series, alpha=2)


def test_partner_names_and_subsets(demo_series):
    res = compare(demo_series, partners=["Belarus", "Poland"], controls=[616, 440, 428, 398, 417])
    out = res.table
    assert sorted(out["partner_code"].unique()) == [112, 616]
    assert res.config.comparison_partners == (398, 417, 428, 440, 616)


def test_focal_by_name_iso3_or_code_gives_the_same_table(demo_series):
    by_name = compare(demo_series, focal="Belarus", partners=["Belarus"]).table
    for focal in ("BLR", 112, "112"):
        pd.testing.assert_frame_equal(compare(demo_series, focal=focal, partners=["Belarus"]).table, by_name)
    assert by_name["is_focal"].all()


def test_compare_result_object(demo_compare_result):
    res = demo_compare_result
    tidy = res.tidy()
    assert set(tidy["term"]) == {"ratio", "relative_ratio"} and len(tidy) == 2 * len(res.table)
    assert tidy["synthetic"].all()
    pd.testing.assert_frame_equal(res.to_frame(), res.table)
    html = res._repr_html_()
    assert "SYNTHETIC" in html and "<table" in html and "relative q-value" in html
    shown = res.focal()
    q = shown["relative_q_value"].dropna().to_numpy()
    assert (np.diff(q) >= 0).all() and shown["partner_code"].eq(112).all()  # sorted as the title says
    assert "SYNTHETIC" in repr(res) and "compare.csv" in repr(res)


def test_compare_result_writes_its_folder(demo_compare_result, tmp_path):
    import json

    out = demo_compare_result.write(tmp_path / "cmp")
    assert sorted(p.name for p in out.iterdir()) == [".tradeflows-analysis", "compare.csv", "config.json"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["focal"] == 112 and cfg["post"] == "2022-03:2025-06" and cfg["synthetic"] is True
    assert len(pd.read_csv(out / "compare.csv")) == len(demo_compare_result.table)


# ------------------------------------------------------------------- annual --

SUMMED = ("primaryValue", "fobvalue", "cifvalue", "netWgt", "qty", "altQty", "grossWgt")


def annual_records(records: pd.DataFrame, last_year: int = 2024) -> pd.DataFrame:
    """The monthly records summed to annual ones (``freqCode`` A, ``period`` YYYY, ``refMonth`` 52), complete years
    up to ``last_year``: a real-schema annual panel (SYNTHETIC when the records are)."""
    r = records[(records["freqCode"] == "M") & (records["refYear"] <= last_year)]
    moving = {"refPeriodId", "refMonth", "period", "period_date", *SUMMED, "isNetWgtEstimated", "isQtyEstimated"}
    keys = [c for c in r.columns if c not in moving]
    agg = {**{c: "sum" for c in SUMMED}, "isNetWgtEstimated": "max", "isQtyEstimated": "max"}
    out = r.groupby(keys, dropna=False, as_index=False, observed=True).agg(agg)
    out["freqCode"], out["refMonth"] = "A", 52
    out["period"] = out["refYear"].astype(str)
    out["refPeriodId"] = out["refYear"] * 10000 + 101
    out["period_date"] = pd.to_datetime(out["refYear"].astype(str) + "-01-01")
    out = out[records.columns]
    out.attrs["synthetic"] = bool(records.attrs.get("synthetic", False))
    return out


ANNUAL = dict(freq="A", pre="2019:2021", post="2022:2024")


@pytest.fixture(scope="module")
def annual_series(demo_panel):
    from analysis.series import build_series

    records = annual_records(demo_panel)
    assert set(records["freqCode"]) == {"A"} and (records["refMonth"] == 52).all()
    return build_series(records, freq="A")


def test_annual_compare_on_the_demo_summed_to_years(annual_series):
    """Annual data (the demo's months summed to years, freqCode A): the ratio of window means relative to the
    comparison partners, no Belarus null family significant, the large planted shifts found, placebos at size."""
    from analysis.comparison import ANNUAL_NOTE

    res = compare(annual_series, **ANNUAL)
    t = res.table
    assert res.study.freq == "A" and (t["inference"] == "annual_placebo").all()
    assert (t["pre_months"] == 3).all() and (t["post_months"] == 3).all()
    gt = demo.ground_truth()
    bel = t[t["is_focal"]].set_index("family")
    for row in gt[(gt["kind"] == "level_shift") & (gt["partner_code"] == demo.BELARUS)].itertuples():
        years = pd.date_range("2022-01", "2024-12", freq="MS")
        true = np.where(years >= pd.Timestamp(row.start), row.factor, 1.0).mean()
        r = bel.loc[row.family_id]
        assert 0.7 <= r["relative_ratio"] / true <= 1.4, (row.family_id, r["relative_ratio"], true)
        if row.factor >= 3:
            assert r["relative_q_value"] < 0.05 and r["relative_low"] > 1, row.family_id
    null = bel[~bel.index.isin(gt["family_id"])]
    assert len(null) > 80 and (null["relative_q_value"] < 0.05).sum() == 0
    assert null["relative_p_hac"].isna().all() and null["pre_trend_p"].isna().all()
    assert null["note"].str.contains(ANNUAL_NOTE, regex=False).all()
    placebo = t[t["is_comparison"] & ~t["family"].isin(gt["family_id"])]
    assert (placebo["relative_p_value"] < 0.05).mean() <= 0.07
    # the relative ratio is the ratio of the two ratios of window means, exactly
    y = annual_series[(annual_series["family_id"] == "HS854231") & (annual_series["reporter_code"] == 156)]
    wide = y.pivot_table(index="date", columns="partner_code", values="usd", aggfunc="sum")
    pre, post = wide.index.year <= 2021, wide.index.year >= 2022
    pre &= wide.index.year >= 2019
    pool = wide[list(res.config.comparison_partners)].sum(axis=1)
    expect = (wide[112][post].mean() / wide[112][pre].mean()) / (pool[post].mean() / pool[pre].mean())
    np.testing.assert_allclose(bel.loc["HS854231", "relative_ratio"], expect, rtol=1e-6)
    values = t[["ratio", "relative_ratio", "relative_low", "relative_high", "rr_low", "rr_high"]].to_numpy(float)
    assert not np.isinf(values[np.isfinite(values) | np.isinf(values)]).any()  # no infinite ratio or interval end
    shown = values[np.isfinite(values) & (values > 0)]
    assert ((shown > 1e-4) & (shown < 1e4)).all()  # no absurd numbers: what is not estimable is empty


def test_annual_windows_and_frequency_errors(annual_series, demo_series):
    from analysis.comparison import in_window
    from analysis.periods import parse_window

    years = pd.date_range("2019", "2025", freq="YS")
    held = lambda text: [d.year for d, k in zip(years, in_window(parse_window(text, open_end=True), years, "A"),  # noqa: E731
                                                strict=True) if k]
    assert held("2022-03:") == [2022, 2023, 2024, 2025] and held("2019:2021") == [2019, 2020, 2021]
    assert held("2022-08:2024-12") == [2023, 2024]  # 2022 has only 5 of its months in the window
    with pytest.raises(InputError, match="freq='A'"):
        compare(annual_series, pre="2019:2021", post="2022:2024")  # a monthly study of annual data
    with pytest.raises(InputError, match="annual"):
        compare(demo_series, **ANNUAL)  # an annual study of monthly data
    with pytest.raises(InputError, match="at least 2 and 1"):
        compare(annual_series, freq="A", pre="2021:2021", post="2022:2024")


def test_real_annual_records_of_another_reporter_and_codes_outside_the_registry(samples):
    """Real Comtrade records (Brazil's 2024 exports to China, HS4 codes outside the registry): one clear error, the
    windows named, from compare; an empty findings table from the detectors (nothing to test in one year)."""
    from analysis.anomalies import find_anomalies
    from analysis.importers import read_file
    from analysis.series import build_series

    s = build_series(read_file(samples / "data_v1_get_comercio_sample_response.json"), freq="A", level=4)
    assert set(s["family_id"]) == {"HS1201", "HS1507", "HS2304"} and not s["synthetic"].any()
    with pytest.raises(InputError, match=r"0 year\(s\) of the pre window .* at least 2 and 1"):
        compare(s, reporter=76, focal=156, **ANNUAL)
    found = find_anomalies(s, reporter=76, focal=156, **ANNUAL)
    assert found.findings.empty and found.config.detectors == ("new_flow", "mirror_gap")
