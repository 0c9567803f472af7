"""Monte-Carlo check of the supplier-share intervals (analysis.suppliers): coverage and false rises. Prints figures.

The reporter's share of a group's mirrored imports before and after is a
ratio of window means of lumpy, autocorrelated monthly flows; its interval
comes from a circular moving-block bootstrap over months (analysis.suppliers.BLOCK
months a block, the two windows resampled independently, the same months for
every supplier). In windows of 36-40 months that bootstrap recovers only part
of the variance of a window mean (about 75% for uncorrelated months, 55% at
lag-one correlation 0.6), so analysis.suppliers.widened_interval divides each
window's bootstrap variance by its exact expected fraction for AR(1) months
with the share's estimated lag-one autocorrelation and widens by Student's t
with the Satterthwaite degrees of freedom of that variance. This
script simulates SYNTHETIC panels where the truth is known and prints, per
scenario, how often the 95% interval of the change in the reporter's share
covers the true change, and how often a "rise" (interval above zero) is found
where there is none (null) or where the share rises by 10 points (power),
with binomial 95% intervals.

Each panel: the reporter and five other suppliers, 36 pre months and 40 post
months (the default study's windows on the demo), expected monthly values
with the demo's seasonality. Scenarios: log-normal AR(1) noise (sd 0.25,
rho 0.3, as the demo; and rho 0.6), and lumpy shipments (a Poisson number
of shipments a month, mean 2, each log-normal with sd 1).

Usage: python scripts/validate_suppliers.py [--reps 1000] [--draws 499]
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from analysis.demo import SEASON
from analysis.suppliers import BLOCK, _boot_means, _interval, _ratio, lag_one, ratio_series, widened_interval

N_PRE, N_POST = 36, 40
LEVELS = np.array([1.0, 2.0, 1.5, 1.0, 0.8, 0.5])  # reporter first
"""Expected monthly value of each supplier before (the reporter's share 1/6.8 = 14.7%)."""


def _noise(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    """Mean-one multiplicative noise of a scenario."""
    if kind == "lumpy":
        count = rng.poisson(2.0, shape)
        size = np.exp(rng.normal(-0.5, 1.0, shape + (8,)))  # E = 1
        take = np.arange(8)[None, None, :] < np.minimum(count, 8)[..., None]
        return (size * take).sum(axis=-1) / 2.0
    rho = 0.6 if kind == "ar0.6" else 0.3
    sd = 0.25
    shocks = rng.normal(0, sd, shape)
    out = np.empty(shape)
    out[:, 0] = shocks[:, 0] / math.sqrt(1 - rho**2)
    for t in range(1, shape[1]):
        out[:, t] = rho * out[:, t - 1] + shocks[:, t]
    return np.exp(out - sd**2 / (1 - rho**2) / 2)


def one(rng: np.random.Generator, kind: str, rise: float, draws: int, plain: bool = False
        ) -> tuple[bool, bool, float]:
    """(interval covers the true change, a rise is found, the estimated change) for one simulated panel;
    ``plain``: the percentile interval without the variance correction and widening (for comparison)."""
    months = N_PRE + N_POST
    season = SEASON[np.arange(months) % 12]
    post_levels = LEVELS.copy()
    if rise:  # the reporter's share rises by `rise`: the others fall proportionally, the total stays
        share = LEVELS[0] / LEVELS.sum()
        post_levels[0] = (share + rise) * LEVELS.sum()
        post_levels[1:] *= (1 - share - rise) / (1 - share)
    level = np.where(np.arange(months) < N_PRE, LEVELS[:, None], post_levels[:, None])
    values = level * season * _noise(rng, (len(LEVELS), months), kind)
    rows = np.vstack([values[0], values.sum(axis=0)])  # reporter, total
    pre = _boot_means(rows[:, :N_PRE], block=BLOCK, draws=draws, rng=rng)
    post = _boot_means(rows[:, N_PRE:], block=BLOCK, draws=draws, rng=rng)
    est = post.point[0] / post.point[1] - pre.point[0] / pre.point[1]
    pre_d, post_d = _ratio(pre.draws[:1], pre.draws[1:]), _ratio(post.draws[:1], post.draws[1:])
    if plain:
        lo, hi = _interval(post_d - pre_d, 0.95)
    else:
        rho = (lag_one(ratio_series(rows[:1, :N_PRE], rows[1:, :N_PRE])),
               lag_one(ratio_series(rows[:1, N_PRE:], rows[1:, N_PRE:])))
        lo, hi = widened_interval(np.array([est]), post_d - pre_d, 0.95, parts=(pre_d, post_d),
                                  months=(N_PRE, N_POST), block=BLOCK, rho=rho)
    true = rise  # seasonality and noise are the same for every supplier's expectation: the share is exact
    return bool(lo[0] <= true <= hi[0]), bool(lo[0] > 0), float(est)


def _binom(k: int, n: int) -> str:
    p = k / n
    half = 1.96 * math.sqrt(p * (1 - p) / n)
    return f"{p:.3f} ({max(0.0, p - half):.3f}-{min(1.0, p + half):.3f})"


def study(reps: int, draws: int, seed: int = 20220224, *, kinds: tuple[str, ...] = ("ar0.3", "ar0.6", "lumpy"),
          plain: bool = False) -> list[dict]:
    """The table the script prints: one row per scenario and planted rise."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in kinds:
        for rise in (0.0, 0.10):
            res = [one(rng, kind, rise, draws, plain) for _ in range(reps)]
            covered = sum(r[0] for r in res)
            found = sum(r[1] for r in res)
            bias = float(np.mean([r[2] for r in res])) - rise
            out.append({"noise": kind, "rise": rise, "reps": reps, "coverage": covered, "rises_found": found,
                        "bias": bias})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=499)
    args = parser.parse_args()
    print("SYNTHETIC panels: the reporter's share of mirrored imports, 95% moving-block bootstrap intervals "
          f"({BLOCK}-month blocks, {args.draws} draws), {N_PRE} pre and {N_POST} post months")
    for plain, name in ((True, "plain percentile interval"),
                        (False, "bias-corrected and widened (as analysis.suppliers)")):
        print(f"\n{name}")
        print(f"{'noise':<7}{'true rise':>10}{'coverage of the change':>28}{'rises found':>26}{'bias (pp)':>11}")
        for row in study(args.reps, args.draws, plain=plain):
            print(f"{row['noise']:<7}{100 * row['rise']:>9.0f}pp{_binom(row['coverage'], row['reps']):>28}"
                  f"{_binom(row['rises_found'], row['reps']):>26}{100 * row['bias']:>11.2f}")
    print("rises found: the share of panels whose interval of the change lies above zero (the size of a "
          "one-sided 2.5% test when the true rise is 0, its power at 10 points)")


if __name__ == "__main__":
    main()
