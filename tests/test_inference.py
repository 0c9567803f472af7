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
