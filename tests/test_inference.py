"""The relative test where the answer is known: a small, fast version of scripts/validate_compare.py section 5.

SYNTHETIC panels (scripts/sim_panels.py). The script runs 40 panels per scenario and prints the table; here
a few panels per scenario keep the suite fast while still failing if the size or coverage goes wrong.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def validate():
    return load_script("validate_compare")


@pytest.mark.parametrize("scenario", ["AR(1) 0.3", "focal noise twice the partners'", "lumpy, focal noise twice"])
def test_size_and_coverage_hold_for_a_noisy_or_lumpy_focal_partner(validate, scenario):
    row = validate.inference_scenario(scenario, reps=4, n_families=40)
    assert row["tests"] >= 100 and row["size"] <= 0.09, row  # target 3-6% at 40 panels (see the script)
    assert row["coverage"] >= 0.9, row
    assert row["power_x2"] > (0.5 if "lumpy" not in scenario else 0.02), row


def test_a_treated_comparison_group_understates_the_focal_rise(validate):
    old = validate.inference_scenario("same, old design (transit routes among the controls)", reps=2)
    new = validate.inference_scenario("shock x2 to the transit partners only", reps=2)
    assert old["median_x2"] < 1.6 < 1.8 < new["median_x2"], (old["median_x2"], new["median_x2"])


def test_exact_rank_p_value_is_shown_beside_and_is_on_the_placebo_grid(validate):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from sim_panels import simulate

    from analysis import compare

    t = compare(simulate(n_families=20, seed=3), partners=[112]).table
    p = t["relative_p_rank"].dropna().to_numpy()
    n = t["n_placebo"].iloc[0]
    assert len(p) == 20 and np.allclose(p * (n + 1), np.round(p * (n + 1)))
    assert ((p > 0) & (p <= 1)).all()


# ------------------------------------------------------------ the pieces of the calibration --

def test_moderated_variances_pool_noisy_variances_toward_the_unit_by_cell_pattern():
    """Variances drawn as sigma^2 chi^2_nu / nu around a unit x cell pattern: the prior recovers the pattern,
    and with no extra spread the prior degrees of freedom are large (complete pooling is right)."""
    from analysis.stats import moderated_variances

    rng = np.random.default_rng(5)
    U, C, nu = 15, 80, 10.0
    true = np.exp(rng.normal(0, 0.5, U))[:, None] * np.exp(rng.normal(0, 0.5, C))[None, :]
    v = true * rng.chisquare(nu, (U, C)) / nu
    unit, cell = np.repeat(np.arange(U), C), np.tile(np.arange(C), U)
    mod = moderated_variances(v.ravel(), nu, unit, cell)
    assert mod.d0 > 50
    np.testing.assert_allclose(np.median(mod.prior / true.ravel()), 1.0, atol=0.05)
    assert np.abs(np.log(mod.var / true.ravel())).mean() < 0.5 * np.abs(np.log(v / true).ravel()).mean()
    # extra spread of the true variances around the pattern: finite prior df, posterior between prior and v
    v2 = true * np.exp(rng.normal(0, 0.6, (U, C))) * rng.chisquare(nu, (U, C)) / nu
    mod2 = moderated_variances(v2.ravel(), nu, unit, cell)
    assert 2 < mod2.d0 < 50 and np.allclose(mod2.df, mod2.d0 + nu)
    lo, hi = np.minimum(mod2.prior, v2.ravel()), np.maximum(mod2.prior, v2.ravel())
    assert ((mod2.var >= lo - 1e-12) & (mod2.var <= hi + 1e-12)).all()
    # too few rows to tell a pattern from noise: no moderation
    few = moderated_variances(v[:3, :4].ravel(), nu, unit[:12] % 3, cell[:12] % 4)
    assert few.d0 == 0 and np.allclose(few.var, v[:3, :4].ravel())


def test_in_time_scale_widens_a_focal_partner_noisier_than_the_rest():
    """The same x2 shift for a focal partner twice as noisy as the comparison partners: its intervals are about
    twice as wide, so a noisy focal partner does not borrow the comparison partners' precision."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from sim_panels import simulate

    from analysis import compare

    def width(noise: float) -> float:
        t = compare(simulate(n_families=40, focal_noise=noise, seed=21), partners=[112]).table
        return float(np.median(np.log(t["relative_high"] / t["relative_low"])))

    assert 1.5 < width(2.0) / width(1.0) < 2.6


def _series(values: dict[tuple[int, str], np.ndarray]):
    import pandas as pd

    from analysis.series import SERIES_COLUMNS

    dates = pd.date_range("2019-01", periods=len(next(iter(values.values()))), freq="MS")
    out = pd.concat([pd.DataFrame({
        "reporter_code": 156, "partner_code": p, "flow_code": "X", "family_id": f, "group": "optics",
        "kind": "dual_use", "date": dates, "usd": v, "kg": np.nan, "n_records": (v > 0).astype(int),
        "synthetic": True}) for (p, f), v in values.items()], ignore_index=True)[SERIES_COLUMNS]
    out.attrs["synthetic"] = True
    return out


def test_a_placebo_whose_flow_vanished_stays_in_the_spread():
    """A comparison partner that stops trading a family after 2022 counts among the placebos (at a bounded
    value, see bounded_log_ratio): dropping it would understate the spread and narrow the focal interval."""
    from analysis import compare

    rng = np.random.default_rng(8)
    T = 48
    controls = (616, 440, 428, 642, 348, 203)
    vals = {(p, f): rng.gamma(6.0, 500.0, T) for p in (112, *controls) for f in ("HS000001", "HS000002")}
    vals[(616, "HS000001")][38:] = 0.0  # Poland stops after the break
    kw = dict(pre="2019-01:2021-12", post="2022-03:2022-12", controls=list(controls), partners=[112])
    out = compare(_series(vals), **kw).table.set_index("family")
    assert out.loc["HS000001", "n_placebo"] == len(controls)  # Poland's vanished flow is counted
    assert out.loc["HS000002", "n_placebo"] == len(controls)
    without = {k: v for k, v in vals.items() if k != (616, "HS000001")}
    dropped = compare(_series(without), **kw).table.set_index("family")
    wide = np.log(out.loc["HS000001", "relative_high"] / out.loc["HS000001", "relative_low"])
    assert np.isfinite(wide) and wide > np.log(dropped.loc["HS000001", "relative_high"]
                                               / dropped.loc["HS000001", "relative_low"])


def test_bounded_log_ratio_is_the_estimate_where_defined_and_bounded_where_a_flow_vanished():
    from analysis.comparison import SPREAD_BOUND, before_after_design, bounded_log_ratio, share_changes, study_panel
    from analysis.study import Study

    rng = np.random.default_rng(3)
    T = 48
    vals = {(p, "HS000001"): rng.gamma(5.0, 300.0, T) for p in (112, 616, 440)}
    panel = study_panel(_series(vals), Study(pre="2019-01:2021-12", post="2022-03:2022-12", controls=[616, 440]))
    design = before_after_design(panel)
    y, c = panel.Y[:, 0, :], panel.Y[:, 0, :].sum(axis=0)[None] - panel.Y[:, 0, :]
    np.testing.assert_allclose(bounded_log_ratio(y, c, design), share_changes(y, c, design).log_ratio, rtol=1e-8)
    y0 = y.copy()
    y0[0, 38:] = 0.0  # the flow vanished: share_changes gives -inf, the bounded value a large finite fall
    assert np.isneginf(share_changes(y0, c, design).log_ratio[0])
    b = bounded_log_ratio(y0, c, design)[0]
    assert -np.log(SPREAD_BOUND) <= b < -2.0


def test_honest_bounds_hand_case_and_no_row_dropped_by_a_pre_test():
    """The relative ratio's interval widened by the largest pre-window year-to-year change; a significant rise
    after a pre-trend keeps break_2022 (the pre-test only flags it) and reports its breakdown M."""
    from analysis import compare

    T = 48  # 2019-01 .. 2022-12
    years = np.repeat([0, 1, 2, 3], 12)
    rng = np.random.default_rng(12)
    controls = (616, 440, 428, 642, 348)
    vals = {(p, "HS000001"): 1e4 * np.exp(rng.normal(0, 0.03, T)) for p in controls}
    # the focal partner: +30%/yr before the break, then x4
    vals[(112, "HS000001")] = 1e3 * 1.3 ** years * np.where(np.arange(T) >= 38, 4.0, 1.0) * np.exp(
        rng.normal(0, 0.03, T))
    out = compare(_series(vals), pre="2019-01:2021-12", post="2022-03:2022-12", controls=list(controls),
                  partners=[112]).table.iloc[0]
    pool = sum(vals[(p, "HS000001")] for p in controls)
    level = [np.log(vals[(112, "HS000001")][years == y].sum() / pool[years == y].sum()) for y in (0, 1, 2)]
    step = max(abs(np.diff(level)))
    np.testing.assert_allclose(out["rr_pre_step"], np.exp(step), rtol=1e-9)
    d, lo, hi = np.log(out["relative_ratio"]), np.log(out["relative_low"]), np.log(out["relative_high"])
    np.testing.assert_allclose(np.log([out["rr_low"], out["rr_high"]]), [lo - step, hi + step], rtol=1e-9)
    np.testing.assert_allclose(out["rr_breakdown"], (d - (hi - lo) / 2) / step, rtol=1e-6)
    assert out["pre_trend"] and out["break_2022"] and out["relative_q_value"] < 0.05
    assert "pre_trend" in out["note"]


def test_placebo_spread_is_shrunk_toward_the_pooled_spread_within_its_pool():
    """A family whose placebos happen to agree gets part of the other families' spread, not tau^2 = 0; with
    ``pool`` only the cells of the same pool count."""
    from analysis.stats import placebo_variance

    d = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6, -0.6, 0.6, -0.6])
    v = np.full(10, 0.01)
    cell = np.repeat([0, 1], 5)
    is_pl = np.tile([False, True, True, True, True], 2)
    plain, _, _ = placebo_variance(d, v, cell, is_pl)
    assert plain[0] == pytest.approx(0.01)  # agreeing placebos: no spread
    shrunk, df, n = placebo_variance(d, v, cell, is_pl, tau_shrink=4.0)
    tau2_other = 0.36 - 0.01  # Paule-Mandel of cell 1: mean d^2 minus v
    pooled = (0 * 4 + tau2_other * 4) / 8
    np.testing.assert_allclose(shrunk[0], 0.01 + 4 * pooled / (4 + 4), rtol=1e-6)
    assert n[0] == 4 and df[0] > 3  # the shrinkage adds its weight to the degrees of freedom
    apart, _, _ = placebo_variance(d, v, cell, is_pl, tau_shrink=4.0, pool=cell)
    assert apart[0] == pytest.approx(0.01)  # its own pool: nothing to borrow
