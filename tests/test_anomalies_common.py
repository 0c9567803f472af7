"""Reporter-wide events, the focal partner relative to its comparison group, focal q-values, finite numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_anomalies import DATES, frame, noise_panel

from analysis.anomalies import FINDING_COLUMNS, KINDS, find_anomalies, is_folded
from analysis.anomalies.common import NullTail
from analysis.study import Study

FOCAL = 112
CONTROLS = Study().controls


def panel_of(blocks: dict[int, np.ndarray]) -> pd.DataFrame:
    """One series frame from months x families USD matrices, one per partner code."""
    out = pd.concat([frame(usd, partner=code) for code, usd in blocks.items()], ignore_index=True)
    out.attrs["synthetic"] = True
    return out


def partners_noise(codes: list[int], n_fam: int, seed: int, **kw) -> dict[int, np.ndarray]:
    return {code: noise_panel(n_fam, seed=seed * 1000 + i, **kw) for i, code in enumerate(codes)}


OTHERS = [900 + i for i in range(40)]  # partners outside the comparison group (codes need not be countries here)


def test_all_partners_drop_together_is_one_common_shift():
    codes = [FOCAL, *CONTROLS, *OTHERS[:5]]
    blocks = partners_noise(codes, 6, seed=1)
    at = DATES.get_loc(pd.Timestamp("2023-09-01"))
    for usd in blocks.values():
        usd[at:, 0] *= 0.2  # every partner's family HS990000 falls to a fifth
    found = find_anomalies(panel_of(blocks), detectors=["level_shift", "common_shift", "common_spike"]).findings
    assert list(found.columns) == FINDING_COLUMNS and FINDING_COLUMNS[-1] == "n_partners"
    common = found[found["kind"] == "common_shift"]
    assert common["family"].tolist() == ["HS990000"]
    row = common.iloc[0]
    assert row["partner_code"] == 0 and row["period"] == "2023-09" and row["n_partners"] >= 0.8 * len(codes)
    assert row["size_low"] <= 0.2 <= row["size_high"] or abs(row["size"] - 0.2) < 0.05
    assert not ((found["kind"] == "level_shift") & (found["family"] == "HS990000")).any()
    assert not (found["kind"] == "common_spike").any()
    tested = find_anomalies(panel_of(blocks), detectors=["level_shift", "common_shift"], all_tested=True).findings
    folded = tested[is_folded(tested)]
    assert len(folded) >= 0.8 * (len(codes) - 1) and set(folded["family"]) == {"HS990000"}
    assert FOCAL not in set(folded["partner_code"])  # the focal partner's series is relative: nothing to fold


def test_export_ban_to_zero_has_no_absurd_size():
    codes = [FOCAL, *CONTROLS]
    blocks = partners_noise(codes, 4, seed=2)
    at = DATES.get_loc(pd.Timestamp("2024-01-01"))
    for usd in blocks.values():
        usd[at:, 1] = 0.0
    found = find_anomalies(panel_of(blocks), detectors=["common_shift"]).findings
    row = found.set_index("family").loc["HS990001"]
    assert row["size"] == 0 and np.isnan(row["size_low"]) and "not estimable" in row["detail"]
    assert np.isfinite(row["score"])


def test_one_partner_alone_is_an_ordinary_level_shift():
    codes = [FOCAL, *CONTROLS, *OTHERS[:5]]
    blocks = partners_noise(codes, 6, seed=3)
    at = DATES.get_loc(pd.Timestamp("2021-05-01"))
    blocks[OTHERS[0]][at:, 2] *= 3.0
    found = find_anomalies(panel_of(blocks), detectors=["level_shift", "common_shift", "common_spike"]).findings
    assert not found["kind"].isin(["common_shift", "common_spike"]).any()
    hit = found[(found["kind"] == "level_shift") & (found["partner_code"] == OTHERS[0])]
    assert hit["family"].tolist() == ["HS990002"] and hit.iloc[0]["size_low"] <= 3.0 <= hit.iloc[0]["size_high"]


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_pure_noise_across_30_partners_gives_no_common_event(seed):
    codes = [FOCAL, *CONTROLS, *OTHERS[:30 - 1 - len(CONTROLS)]]
    blocks = partners_noise(codes, 15, seed=seed)
    tested = find_anomalies(panel_of(blocks), detectors=["common_shift", "common_spike"], all_tested=True).findings
    assert len(tested) == 30 and tested["p_value"].between(0, 1).all()
    assert (tested["q_value"] >= 0.05).all(), tested[["kind", "family", "period", "p_value", "detail"]]


def test_null_calibration_of_the_common_tests():
    """Under the null the p-values of the family tests are not piled up near 0 (10 seeds x 15 families x 2 kinds)."""
    ps = []
    for seed in range(31, 41):
        codes = [FOCAL, *CONTROLS, *OTHERS[:6]]
        tested = find_anomalies(panel_of(partners_noise(codes, 15, seed=seed)),
                                detectors=["common_shift", "common_spike"], all_tested=True).findings
        ps.append(tested["p_value"].to_numpy())
    p = np.concatenate(ps)
    assert (p < 0.05).mean() <= 0.08 and (p < 0.01).mean() <= 0.03


def test_focal_moving_with_everyone_is_no_focal_finding():
    codes = [FOCAL, *CONTROLS]
    blocks = partners_noise(codes, 5, seed=4)
    step = DATES.get_loc(pd.Timestamp("2022-06-01"))
    spike = DATES.get_loc(pd.Timestamp("2020-09-01"))
    for usd in blocks.values():
        usd[step:, 0] *= 3.0  # everyone triples in family 0
        usd[spike, 1] *= 6.0  # everyone spikes in family 1
    found = find_anomalies(panel_of(blocks), detectors=["level_shift", "spike", "counterfactual_excess",
                                                        "common_shift", "common_spike"]).findings
    assert not (found["partner_code"] == FOCAL).any(), found[["kind", "family", "partner_code", "detail"]]
    assert set(found.loc[found["kind"] == "common_shift", "family"]) == {"HS990000"}
    assert set(found.loc[found["kind"] == "common_spike", "family"]) == {"HS990001"}
    # on its own recorded series the same focal partner does show the shift (the relative basis removed it)
    own = find_anomalies(panel_of(blocks), detectors=["level_shift"], focal_relative=False).findings
    assert ((own["partner_code"] == FOCAL) & (own["family"] == "HS990000")).any()


def test_focal_alone_is_found_relative_to_the_group():
    codes = [FOCAL, *CONTROLS]
    blocks = partners_noise(codes, 5, seed=5)
    at = DATES.get_loc(pd.Timestamp("2022-09-01"))
    blocks[FOCAL][at:, 3] *= 4.0
    found = find_anomalies(panel_of(blocks), detectors=["level_shift", "counterfactual_excess"]).findings
    mine = found[found["partner_code"] == FOCAL]
    assert set(mine["family"]) == {"HS990003"} and set(mine["kind"]) == {"level_shift", "counterfactual_excess"}
    row = mine[mine["kind"] == "level_shift"].iloc[0]
    assert row["detail"].startswith("relative to the median of") and row["size_low"] <= 4.0 <= row["size_high"]


def test_focal_q_values_do_not_depend_on_other_partners():
    codes = [FOCAL, *CONTROLS]
    base = partners_noise(codes, 8, seed=6)
    base[FOCAL][DATES.get_loc(pd.Timestamp("2022-07-01")):, 0] *= 2.5
    base[FOCAL][DATES.get_loc(pd.Timestamp("2019-03-01")), 1] *= 5.0
    more = {**base, **partners_noise(OTHERS[:20], 8, seed=7)}
    kinds = [k for k in KINDS if k != "mirror_gap"]
    a = find_anomalies(panel_of(base), detectors=kinds, all_tested=True).findings
    b = find_anomalies(panel_of(more), detectors=kinds, all_tested=True).findings
    key = ["kind", "family"]
    qa = a[a["partner_code"] == FOCAL].set_index(key)["q_value"].sort_index()
    qb = b[b["partner_code"] == FOCAL].set_index(key)["q_value"].sort_index()
    assert len(qa) > 20 and (qa < 0.05).sum() >= 2
    pd.testing.assert_series_equal(qa, qb)
    assert len(b) > len(a)


def _compound_poisson(n: int, seed: int, rate: float) -> np.ndarray:
    """Months x n USD: a Poisson number of shipments a month, each log-normal (many zero months)."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate, (len(DATES), n))
    out = np.zeros(counts.shape)
    for (t, j), c in np.ndenumerate(counts):
        if c:
            out[t, j] = np.exp(rng.normal(np.log(3e4), 1.5, c)).sum()
    return out


@pytest.mark.parametrize("rate", [0.3, 1.0, 2.5])
def test_lumpy_series_give_no_absurd_numbers(rate):
    codes = [FOCAL, *CONTROLS]
    blocks = {code: _compound_poisson(12, seed=100 * i + int(rate * 10), rate=rate) for i, code in enumerate(codes)}
    tested = find_anomalies(panel_of(blocks), detectors=[k for k in KINDS if k != "mirror_gap"],
                            counterfactual_scope="all", all_tested=True).findings
    assert np.isfinite(tested["score"]).all() and np.isfinite(tested["p_value"]).all()
    for col in ("size", "size_low", "size_high"):
        v = tested[col].to_numpy(dtype=float)
        ok = np.isnan(v) | ((v >= 0) & (v <= 1e4)) | ((tested["kind"] == "new_flow") & np.isposinf(v)).to_numpy()
        assert ok.all(), tested.loc[~ok, ["kind", "partner_code", "family", col, "detail"]]
    for col in ("observed_usd", "expected_usd", "expected_low", "expected_high"):
        v = tested[col].to_numpy(dtype=float)
        assert (np.isnan(v) | (np.abs(v) < 1e12)).all(), col


def test_null_tail_beyond_the_simulations_stays_finite():
    rng = np.random.default_rng(0)
    tail = NullTail.fit(rng.uniform(0, 1, 5000))  # a bounded distribution: fitted shape < 0
    assert tail.shape >= 0
    assert np.isfinite(tail.log_sf(np.array([2.0, 10.0, 1e3]))).all()
