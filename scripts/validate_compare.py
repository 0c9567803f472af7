"""Validation of the before/after comparison and the controls, with the numbers printed.

    python scripts/validate_compare.py            # everything (a few minutes on 2 cores)
    python scripts/validate_compare.py --quick    # smaller Monte-Carlo, no statsmodels placebo runs

1. Known answers: PPML against statsmodels GLM on a textbook data set
   (statsmodels' bundled cpunish, Gill 2001), a hand-computed case, and a
   simulated panel with a known x1.5 ratio (interval coverage).
2. Monte-Carlo on pure noise (no trend, no effect): the false-positive rate
   of the before/after test at 5%, for white, autocorrelated, sparse and
   heavy-tailed noise, against the textbook HAC settings; and of the
   relative-ratio tests.
3. The demo panel (SYNTHETIC): each planted Belarus level shift against the
   same panel generated without it, the common shock to cars, null families.
4. Placebos on the demo panel: each comparison partner in turn treated as the
   focal partner (nothing was planted for it): the false-positive rate of
   every standard-error choice for the relative ratio, the event study and the
   triple difference.
5. The relative test where the answer is known (scripts/sim_panels.py): size
   at 5%, share of all-null panels with any Benjamini-Hochberg discovery,
   power at a x2 focal shift and interval coverage, with 95% binomial (Wilson)
   intervals, for AR(1) 0.3 and 0.6 noise, lumpy compound-Poisson flows, a
   shock to the transit partners only (with the baseline and with the old
   design that counted transit routes as controls), a shock shared by the
   transit partners and the focal partner, and a focal partner twice as noisy
   as the rest. Targets: size within [3%, 6%], coverage at least 93%.

    python scripts/validate_compare.py --only inference [--reps N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analysis import partner_codes, synthetic_series  # noqa: E402

from analysis import demo  # noqa: E402
from analysis.comparison import before_after_design, compare, study_panel  # noqa: E402
from analysis.diffindiff import did  # noqa: E402
from analysis.series import build_series  # noqa: E402
from analysis.stats import fixed_b_reference, hac_lags, ppml_batch, t_pvalues  # noqa: E402
from analysis.study import Study  # noqa: E402

SIM = Study(focal=int(partner_codes(1)[0]), controls=partner_codes(13)[1:].tolist())
"""The simulations' study: the first synthetic partner as the focal partner, the next 12 as comparison partners."""

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)


def section(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}")


# ------------------------------------------------------------ known answers --

def known_answers(quick: bool) -> None:
    import statsmodels.api as sm

    section("1. Known answers")
    data = sm.datasets.cpunish.load_pandas()
    X = data.exog.copy()
    X["VC100k96"] = np.log(X["VC100k96"])
    X = sm.add_constant(X, prepend=True)
    y = data.endog.to_numpy(float)
    res = sm.GLM(y, X.to_numpy(), family=sm.families.Poisson()).fit(cov_type="HAC", cov_kwds={"maxlags": 1})
    ours = ppml_batch(y[None], X.to_numpy(), maxlags=1)
    textbook = [-6.8015, 0.0003, 0.0779, -0.0949, 0.2969, 2.3011, -18.7221]  # Gill (2001), statsmodels docs
    table = pd.DataFrame({"ours": ours.coef[0], "statsmodels": res.params, "textbook (4 dp)": textbook},
                         index=X.columns)
    print("cpunish (executions by US state, 17 obs): Poisson regression, log(violent crime)")
    print(table.round(5).to_string())
    sd = np.sqrt(np.diag(res.cov_params()))
    print(f"max relative difference ours vs statsmodels: coefficients "
          f"{(np.abs(ours.coef[0] - res.params) / np.abs(res.params)).max():.1e}; HAC(1) covariance "
          f"{(np.abs(ours.cov[0] - res.cov_params()) / np.outer(sd, sd)).max():.1e} (as correlations)")

    rng = np.random.default_rng(0)
    v = rng.gamma(2.0, 1000.0, 40)
    Xc = np.column_stack([np.ones(40), (np.arange(40) >= 15).astype(float)])
    f = ppml_batch(v[None], Xc, maxlags=2)
    print(f"hand case (constant + post): exp(b_post) = {np.exp(f.coef[0, 1]):.10f}, "
          f"mean(post)/mean(pre) = {v[15:].mean() / v[:15].mean():.10f}")

    n_fam = 60 if quick else 100
    s = synthetic_series(40, n_fam, rho=0.3, sigma=0.3, trend_mean=0.0, trend_sd=0.0, effects={1: 1.5}, seed=11)
    out = compare(s, SIM).table
    f1 = out[out["partner_code"] == SIM.focal]
    cover = ((f1["ratio_low"] <= 1.5) & (f1["ratio_high"] >= 1.5)).mean()
    cover_rel = ((f1["relative_low"] <= 1.5) & (f1["relative_high"] >= 1.5)).mean()
    print(f"simulated x1.5 from 2022-03 for one partner, {len(f1)} families, AR(1) 0.3 noise: "
          f"median ratio {f1['ratio'].median():.3f}, 95% interval covers 1.5 in {100 * cover:.1f}% ; "
          f"median relative ratio {f1['relative_ratio'].median():.3f}, covers 1.5 in {100 * cover_rel:.1f}%; "
          f"power (q < 0.05): ratio {100 * (f1['q_value'] < 0.05).mean():.0f}%, "
          f"relative {100 * (f1['relative_q_value'] < 0.05).mean():.0f}%")


# ------------------------------------------------------------- Monte-Carlo --

def monte_carlo(quick: bool) -> None:
    section("2. Monte-Carlo on pure noise: false-positive rate at 5% (nominal 5%)")
    n_p, n_f = (20, 100) if quick else (50, 100)
    print(f"{n_p} partners x {n_f} families = {n_p * n_f} series per row, 2017-01..2025-06, seasonal, "
          "Jan/Feb merged, pre 2019-01..2021-12, post 2022-03..2025-06, no trend, no effect")
    variants = [
        ("white noise, sd 0.3", dict(rho=0.0, sigma=0.3)),
        ("AR(1) 0.3, sd 0.3 (the demo's)", dict(rho=0.3, sigma=0.3)),
        ("AR(1) 0.6, sd 0.3", dict(rho=0.6, sigma=0.3)),
        ("AR(1) 0.3, sparse: ~half the months zero", dict(rho=0.3, sigma=0.3, zero_scale=3.0e5)),
        ("AR(1) 0.3, Student t3 shocks", dict(rho=0.3, sigma=0.3, shock_df=3.0)),
    ]
    rows = []
    for i, (label, kw) in enumerate(variants):
        s = synthetic_series(n_p, n_f, trend_mean=0.0, trend_sd=0.0, seed=100 + i, **kw)
        out = compare(s, SIM).table
        tested = out["p_value"].notna()
        # the textbook settings on the same series: floor(4 (T/100)^(2/9)) lags, normal reference
        panel = study_panel(s, SIM)
        d = before_after_design(panel)
        Y = panel.Y.reshape(-1, panel.Y.shape[2])[:, d.cols]
        ok = (Y[:, d.post == 0].sum(1) > 0) & (Y[:, d.post == 1].sum(1) > 0)
        L0 = int(np.floor(4 * (len(d.cols) / 100) ** (2 / 9)))
        fit = ppml_batch(Y[ok], d.X, weight=d.weight, maxlags=L0)
        p_text = 2 * stats.norm.sf(np.abs(fit.coef[:, 1] / fit.se(1)))
        c, nu = fixed_b_reference(d.X, 1, L0, weight=d.weight)
        p_nwfb = t_pvalues(fit.coef[:, 1] / fit.se(1) / c, nu)
        zeros = (Y == 0).mean()
        rows.append({
            "noise": label, "zero months": f"{100 * zeros:.0f}%",
            "ours: ratio p<.05": (out.loc[tested, "p_value"] < 0.05).mean(),
            f"NW {L0} lags, normal": np.mean(p_text < 0.05),
            f"NW {L0} lags, fixed-b": np.mean(p_nwfb < 0.05),
            "relative (placebo-cal.)": (out["relative_p_value"] < 0.05).mean(),
            "relative HAC only": (out["relative_p_hac"] < 0.05).mean(),
            "pre_trend flag": out["pre_trend"].mean(),
        })
    table = pd.DataFrame(rows).set_index("noise")
    print(f"ours: Newey-West, Bartlett, ceil(1.3 sqrt(T)) = {hac_lags(len(d.cols))} lags over T = {len(d.cols)} "
          "rows (Jan+Feb one row), fixed-b reference (c * t_nu simulated for the design)")
    print((table.drop(columns=["zero months"]) * 100).round(1).astype(str).add("%").join(table[["zero months"]])
          .to_string())


# ---------------------------------------------------------------- the demo --

def _expected_factor(start: str, factor: float, post: pd.DatetimeIndex) -> float:
    on = post >= pd.Timestamp(start)
    return float(np.mean(np.where(on, factor, 1.0)))


def demo_checks() -> tuple[pd.DataFrame, pd.DataFrame]:
    section("3. Demo panel (SYNTHETIC): planted effects, the cars shock, null families")
    series = build_series(demo.load_demo())
    comp = compare(series).table
    gt = demo.ground_truth()
    # the same panel generated without the Belarus level shifts: separates the plant from the demo's trends
    saved = demo._EFFECTS
    try:
        demo._EFFECTS = [e for e in saved if not (e[0] == "level_shift")]
        unplanted = build_series(demo._generate.__wrapped__(demo.SEED))
    finally:
        demo._EFFECTS = saved
    base = compare(unplanted).table
    bel = comp[comp["is_focal"]].set_index("family")
    bel0 = base[base["is_focal"]].set_index("family")
    post = pd.date_range("2022-03", "2025-06", freq="MS")
    rows = []
    for e in gt[(gt["kind"] == "level_shift") & (gt["partner_code"] == 112)].itertuples():
        r, r0 = bel.loc[e.family_id], bel0.loc[e.family_id]
        exp_f = _expected_factor(e.start, e.factor, post)
        rel_plant = r.relative_ratio / r0.relative_ratio
        rows.append({
            "family": e.family_id, "planted": f"x{e.factor:g} from {e.start}", "post-window mean factor": exp_f,
            "ratio": f"{r.ratio:.2f} [{r.ratio_low:.2f}, {r.ratio_high:.2f}]",
            "relative": f"{r.relative_ratio:.2f} [{r.relative_low:.2f}, {r.relative_high:.2f}]",
            "relative q": r.relative_q_value,
            "relative w/o plant": r0.relative_ratio,
            "plant (ratio of the two)": rel_plant,
            "CI / w/o-plant covers factor": bool(r.relative_low / r0.relative_ratio <= exp_f
                                                 <= r.relative_high / r0.relative_ratio),
            "CI covers factor": bool(r.relative_low <= exp_f <= r.relative_high),
            "break_2022": bool(r.break_2022),
        })
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    print("Reading: the planted factor averaged over the post window is recovered almost exactly once the demo's\n"
          "own partner-specific trends are divided out (column 'plant'); the interval of the relative ratio\n"
          "itself also covers it where that trend is small, and is wider than the plant's own noise because it\n"
          "includes the spread of the comparison partners' placebo changes.")

    cars = bel[bel.index.str.startswith("HS8703")]
    cis = [398, 417, 860, 762, 51, 31, 498]
    cars_cis = compare(series, partners=[112], controls=cis).table.set_index("family")
    cars_cis = cars_cis[cars_cis.index.str.startswith("HS8703")]
    print("\nCars (x3.5 for every partner from 2022-06, planted as a common shock: China's global car boom):")
    print(pd.DataFrame({
        "ratio": cars["ratio"], "ratio q": cars["q_value"], "control_ratio": cars["control_ratio"],
        "relative": cars["relative_ratio"], "rel. low": cars["relative_low"], "rel. high": cars["relative_high"],
        "relative p": cars["relative_p_value"], "relative p HAC only": cars["relative_p_hac"],
        "relative vs CIS only": cars_cis["relative_ratio"], "p vs CIS": cars_cis["relative_p_value"],
    }).round(4).to_string())
    print("Reading: a clear rise for Belarus (ratio ~3-4, q << 0.05); against the comparison partners, who had the\n"
          "same boom, the relative ratio is near 1 and not significant, and so it is against the CIS partners alone.")

    null = bel[~bel.index.isin(gt["family_id"])]
    print(f"\nNull families for Belarus (nothing planted): {len(null)}; relative q < 0.05: "
          f"{(null['relative_q_value'] < 0.05).sum()}; relative p < 0.05: {(null['relative_p_value'] < 0.05).sum()} "
          f"({100 * (null['relative_p_value'] < 0.05).mean():.1f}%); HAC-only relative p < 0.05: "
          f"{(null['relative_p_hac'] < 0.05).sum()}; pre_trend flagged: {int(null['pre_trend'].sum())}; "
          f"before/after q < 0.05: {(null['q_value'] < 0.05).sum()} (the demo has trends: a change in level is "
          "real, it is just not Belarus-specific)")
    return series, comp


# ----------------------------------------------------------------- placebos --

def placebos(series: pd.DataFrame, quick: bool) -> None:
    section("4. Placebos on the demo panel: each comparison partner as the fake focal partner")
    from analysis.countries import COMPARISON_PARTNERS

    gt = demo.ground_truth()
    planted = set(gt["family_id"])
    controls = list(COMPARISON_PARTNERS)
    fakes = controls[:4] if quick else controls
    fam_rows, es_rows, td_rows = [], [], []
    t0 = time.perf_counter()
    for j in fakes:
        others = [c for c in controls if c != j]
        out = did(series, focal=j, controls=others, cross_check="none" if quick else "all")
        fam_rows.append(out.family.assign(fake=j))
        es_rows.append(out.event_study.assign(fake=j))
        td_rows.append(out.triple_diff.assign(fake=j))
    fam = pd.concat(fam_rows)
    fam = fam[~fam["family"].isin(planted)]
    print(f"{len(fakes)} fake focal partners x {fam['family'].nunique()} null families = {len(fam)} tests "
          f"({time.perf_counter() - t0:.0f} s)")
    rates = {
        "statsmodels GLM, cluster by partner-family (CRV1, t G-1)": fam["sm_p_cluster"],
        "statsmodels GLM, Driscoll-Kraay by month": fam["sm_p_dk"],
        "two-unit PPML, HAC by month, fixed-b": fam["relative_p_hac"],
        "two-unit PPML, placebo-calibrated (what users see)": fam["relative_p_value"],
    }
    print("Family-level relative ratio, false-positive rate at 5%:")
    for label, p in rates.items():
        p = p.dropna()
        if len(p):
            print(f"  {label:<55} {100 * (p < 0.05).mean():5.1f}%  (n={len(p)})")
    es = pd.concat(es_rows)
    es = es[(es["group"] != "control_cars") & ~es["reference"]]
    print("Event study by quarter (groups other than cars), placebo-calibrated, false-positive rate at 5%: "
          f"{100 * (es['p_value'] < 0.05).mean():.1f}% (n={len(es)}); pre-trend flag: "
          f"{100 * es.drop_duplicates(['fake', 'group'])['pre_trend'].mean():.1f}% of groups")
    td = pd.concat(td_rows)
    td = td[td["group"] != "control_cars"]
    print(f"Triple difference (groups other than cars): placebo-calibrated {100 * (td['p_value'] < 0.05).mean():.1f}%,"
          f" HAC by month only {100 * (td['p_hac'] < 0.05).mean():.1f}% (n={len(td)})")
    print("Why: with one treated partner, its own idiosyncratic change (trend, a partner-specific shock)\n"
          "does not average out. Clustering by partner-family sees 13 clusters but only one is treated,\n"
          "and the treated cluster's own score is zero at the optimum; HAC by month sees only time-series\n"
          "noise. Only the spread of the comparison partners' placebo estimates measures the size of\n"
          "partner-specific changes (Conley and Taber 2011), so that is what the relative p-values use.")


# ---------------------------------------------------------------- inference --

SCENARIOS: dict[str, dict] = {
    "AR(1) 0.3": dict(rho=0.3),
    "AR(1) 0.6": dict(rho=0.6),
    "lumpy compound-Poisson (~40% zero months)": dict(lumpy=True),
    "shock x2 to the transit partners only": dict(transit_shock=2.0),
    "same, old design (transit routes among the controls)": dict(transit_shock=2.0, old_design=True),
    "shock x1.5 shared by transit and focal": dict(shared_shock=1.5),
    "focal noise twice the partners'": dict(focal_noise=2.0),
    "lumpy, focal noise twice": dict(lumpy=True, focal_noise=2.0),
}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a binomial proportion k/n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _bh_any(p: np.ndarray, alpha: float = 0.05) -> bool:
    from analysis.stats import bh_qvalues

    p = p[np.isfinite(p)]
    return bool(len(p) and (bh_qvalues(p) < alpha).any())


def inference_scenario(name: str, *, reps: int, n_families: int = 40, n_effect: int = 10, seed: int = 0,
                       p_column: str = "relative_p_value") -> dict:
    """Size, any-BH share, power and coverage of the focal partner's relative test in one scenario."""
    from sim_panels import simulate

    from analysis.countries import COMPARISON_PARTNERS, TRANSIT_PARTNERS

    kw = dict(SCENARIOS[name])
    old = kw.pop("old_design", False)
    shared = kw.get("shared_shock", 1.0)
    study = Study(controls=[*COMPARISON_PARTNERS, *TRANSIT_PARTNERS], transit="none") if old else Study()
    null_rej = null_n = eff_rej = eff_n = cover = cover_n = any_bh = 0
    eff_ratios: list[float] = []
    for r in range(reps):
        s = simulate(n_families=n_families, focal_effect=2.0, n_effect=n_effect, seed=seed + 1000 * r, **kw)
        t = compare(s, study, partners=[112]).table
        p = t[p_column].to_numpy(float)
        eff = np.arange(len(t)) < n_effect  # families HS990000.. are sorted: the first n_effect carry the x2
        truth = np.where(eff, 2.0, 1.0) * shared
        ok = np.isfinite(p)
        null = ok & ~eff
        null_rej += int((p[null] < 0.05).sum()) if shared == 1.0 else 0
        null_n += int(null.sum()) if shared == 1.0 else 0
        eff_rej += int((p[ok & eff] < 0.05).sum())
        eff_ratios += t["relative_ratio"].to_numpy(float)[ok & eff].tolist()
        eff_n += int((ok & eff).sum())
        lo, hi = t["relative_low"].to_numpy(float), t["relative_high"].to_numpy(float)
        has = np.isfinite(lo) & np.isfinite(hi)
        cover += int(((lo <= truth) & (truth <= hi))[has].sum())
        cover_n += int(has.sum())
        any_bh += _bh_any(p[null]) if shared == 1.0 else 0
    return {"scenario": name, "size": null_rej / null_n if null_n else np.nan, "size_ci": wilson(null_rej, null_n),
            "any_bh": any_bh / reps if null_n else np.nan, "any_bh_ci": wilson(any_bh, reps) if null_n else None,
            "power_x2": eff_rej / eff_n if eff_n else np.nan, "power_ci": wilson(eff_rej, eff_n),
            "coverage": cover / cover_n if cover_n else np.nan, "coverage_ci": wilson(cover, cover_n),
            "median_x2": float(np.median(eff_ratios)) / shared if eff_ratios else np.nan,
            "tests": null_n, "intervals": cover_n, "target": not old}


def inference(reps: int) -> pd.DataFrame:
    section("5. The relative test where the answer is known: size, BH, power, coverage (SYNTHETIC)")
    print(f"{reps} panels per scenario: Belarus + 14 baseline + 10 transit partners x 40 families, 2017-01..2025-06,"
          " x2 from 2022-03 on 10 of Belarus's families; pre 2019-01..2021-12, post 2022-03..2025-06")
    rows = []
    t0 = time.perf_counter()
    for name in SCENARIOS:
        rows.append(inference_scenario(name, reps=reps))

    def pct(x: float, ci) -> str:
        if ci is None or not np.isfinite(x):
            return "n/a"
        return f"{100 * x:5.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"

    table = pd.DataFrame({
        "scenario": [r["scenario"] for r in rows],
        "size at 5%": [pct(r["size"], r["size_ci"]) for r in rows],
        "null panels with a BH discovery": [pct(r["any_bh"], r["any_bh_ci"]) for r in rows],
        "power at x2": [pct(r["power_x2"], r["power_ci"]) for r in rows],
        "median estimate of x2": [f"x{r['median_x2']:.2f}" for r in rows],
        "coverage of 95% CI": [pct(r["coverage"], r["coverage_ci"]) for r in rows],
    })
    print(table.to_string(index=False))
    ok = [(3 <= 100 * r["size"] <= 6 or not np.isfinite(r["size"])) and 100 * r["coverage"] >= 93
          for r in rows if r["target"]]
    print(f"targets (size in [3%, 6%], coverage >= 93%): met in {sum(ok)} of {len(ok)} scenarios; the old-design "
          f"row shows the bias a treated comparison group causes ({time.perf_counter() - t0:.0f} s)")
    demo_power(max(reps // 2, 2))
    return pd.DataFrame(rows)


DEMO_SHIFTS = [(1.6, "2022-06"), (2.0, "2023-01"), (3.0, "2022-04")]
"""Planted Belarus shifts of the demo whose power is in question: x1.6 from 2022-06 (printed circuits), x2 from
2023-01 (ball bearings), and x3 from 2022-04 (processors) for reference."""


def demo_power(reps: int, n_families: int = 100, n_effect: int = 7, sigma: float = 0.3) -> pd.DataFrame:
    """Power of the relative test for the demo's small planted shifts with the focal partner twice as noisy.

    The demo's Belarus has a monthly log noise SD of 0.3-0.7 (twice each family's 0.15-0.35) with AR(1) 0.3; here
    0.6, with ``n_effect`` of ``n_families`` families shifted (as in the demo, where 6 of 103 are), so that
    Benjamini-Hochberg over the focal partner's families works at the demo's multiplicity.
    """
    from sim_panels import simulate

    from analysis.stats import bh_qvalues

    rows = []
    for factor, start in DEMO_SHIFTS:
        hit_p = hit_q = n = 0
        for r in range(reps):
            s = simulate(n_families=n_families, sigma=sigma, focal_noise=2.0, focal_effect=factor, n_effect=n_effect,
                         effect_start=start, seed=50_000 + 1000 * r)
            t = compare(s, partners=[112]).table
            p = t["relative_p_value"].to_numpy(float)
            q = bh_qvalues(p)
            eff = np.arange(len(t)) < n_effect
            ok = eff & np.isfinite(p)
            hit_p += int((p[ok] < 0.05).sum())
            hit_q += int((q[ok] < 0.05).sum())
            n += int(ok.sum())
        mean_factor = float(np.mean(np.where(pd.date_range("2022-03", "2025-06", freq="MS") >= start, factor, 1.0)))
        rows.append({"shift": f"x{factor:g} from {start}", "post-window mean factor": f"x{mean_factor:.2f}",
                     "power p < 0.05": f"{100 * hit_p / n:.0f}% [{100 * wilson(hit_p, n)[0]:.0f}, "
                                       f"{100 * wilson(hit_p, n)[1]:.0f}]",
                     "power BH q < 0.05": f"{100 * hit_q / n:.0f}% [{100 * wilson(hit_q, n)[0]:.0f}, "
                                          f"{100 * wilson(hit_q, n)[1]:.0f}]", "tests": n})
    table = pd.DataFrame(rows)
    print(f"\nPower for the demo's planted shifts, focal noise SD {2 * sigma:.1f} (twice the partners'), AR(1) 0.3, "
          f"{n_effect} of {n_families} families shifted, {reps} panels (SYNTHETIC):")
    print(table.to_string(index=False))
    print("Reading: with Belarus twice as noisy as the rest, a x1.6 or x2 shift over part of the post window is\n"
          "seen at p < 0.05 part of the time, but at the demo's multiplicity (BH over ~100 families) rarely:\n"
          "the demo's printed circuits and ball bearings are estimated near their size but not declared.")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller Monte-Carlo, fewer placebo partners")
    ap.add_argument("--only", choices=["inference"], help="run one section only")
    ap.add_argument("--reps", type=int, default=None, help="panels per inference scenario (default 40, quick 10)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    reps = args.reps or (10 if args.quick else 40)
    if args.only == "inference":
        inference(reps)
        print(f"\ndone in {time.perf_counter() - t0:.0f} s")
        return 0
    known_answers(args.quick)
    monte_carlo(args.quick)
    series, _ = demo_checks()
    placebos(series, args.quick)
    inference(reps)
    print(f"\ndone in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
