"""SYNTHETIC panels whose answer is known, for the Monte-Carlo checks of the relative (focal vs comparison) test.

One reporter (156) exports to a focal partner, the baseline comparison partners and the transit partners
(real Comtrade codes from analysis.countries, so the Study resolves them), monthly 2017-01..2025-06, with
seasonality, partner and family levels, and either AR(1) lognormal noise or lumpy compound-Poisson
shipments (many zero months). Effects multiply the value from 2022-03 on:

- ``focal_effect``: on the first ``n_effect`` families of the focal partner (power and coverage), from
  ``effect_start`` (default 2022-03, the post window's start);
- ``transit_shock``: on every family of every transit partner;
- ``shared_shock``: on every family of the transit partners AND the focal partner (relative to the
  baseline the focal partner then truly rose by that factor);
- ``focal_noise``: the focal partner's noise standard deviation relative to the others'.

Everything is labelled synthetic.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.countries import BELARUS, COMPARISON_PARTNERS, TRANSIT_PARTNERS
from analysis.series import SERIES_COLUMNS

SEASON = np.array([0.9, 0.7, 1.05, 1.0, 1.0, 1.02, 1.03, 1.03, 1.02, 1.05, 1.08, 1.15])
POST_START = "2022-03-01"


def simulate(*, n_families: int = 50, rho: float = 0.3, sigma: float = 0.3, lumpy: bool = False,
             focal_noise: float = 1.0, focal_effect: float = 1.0, n_effect: int = 0, transit_shock: float = 1.0,
             shared_shock: float = 1.0, seed: int = 0, months: int = 102, effect_start: str = POST_START
             ) -> pd.DataFrame:
    """A SYNTHETIC series frame (SERIES_COLUMNS) for focal = Belarus, the baseline and the transit partners."""
    rng = np.random.default_rng(seed)
    partners = np.array([BELARUS, *COMPARISON_PARTNERS, *TRANSIT_PARTNERS], dtype=np.int64)
    is_transit = np.isin(partners, TRANSIT_PARTNERS)
    P, F, T = len(partners), n_families, months
    dates = pd.date_range("2017-01", periods=T, freq="MS")
    post = np.asarray(dates >= POST_START)
    on = np.asarray(dates >= pd.Timestamp(effect_start))
    size = np.exp(rng.normal(0.0, 0.8, P))
    base = np.exp(rng.normal(np.log(2e5), 1.0, F))
    level = size[:, None] * base[None, :] * np.exp(rng.normal(0, 0.5, (P, F)))
    season = SEASON[dates.month - 1]
    factor = np.ones((P, F, T))
    factor[0, :n_effect][:, on] *= focal_effect
    factor[np.ix_(is_transit, np.arange(F), post)] *= transit_shock * shared_shock
    factor[np.ix_([0], np.arange(F), post)] *= shared_shock
    mean = level[..., None] * season * factor
    noise_sd = np.full(P, sigma)
    noise_sd[0] *= focal_noise
    if lumpy:
        # compound Poisson: ~0.9 shipments a month, lognormal sizes; the focal noise scales the size spread
        lam = 0.9
        n_ship = rng.poisson(lam, (P, F, T))
        spread = np.where(np.arange(P) == 0, 1.0 * focal_noise, 1.0)[:, None, None]
        # the sum of n lognormal shipments, mean-one per shipment
        total = np.zeros((P, F, T))
        max_n = int(n_ship.max()) if n_ship.size else 0
        for k in range(1, max_n + 1):
            draw = np.exp(rng.normal(0, 1, (P, F, T)) * spread - spread**2 / 2)
            total += np.where(n_ship >= k, draw, 0.0)
        value = mean / lam * total
    else:
        shocks = rng.standard_normal((P, F, T)) * noise_sd[:, None, None]
        noise = np.empty_like(shocks)
        noise[..., 0] = shocks[..., 0] / np.sqrt(1 - rho**2)
        for t in range(1, T):
            noise[..., t] = rho * noise[..., t - 1] + shocks[..., t]
        var = noise_sd[:, None, None] ** 2 / (1 - rho**2)
        value = mean * np.exp(noise - var / 2)
    fams = np.array([f"HS99{i:04d}" for i in range(F)])
    return cube_frame(np.round(value), partners, fams, np.full(F, "simulated"), np.full(F, "dual_use"), dates)


def cube_frame(value: np.ndarray, partners: np.ndarray, family_ids: np.ndarray, groups: np.ndarray,
               kinds: np.ndarray, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """A SYNTHETIC series frame (reporter 156, exports) from a partners x families x months cube of USD."""
    P, F, T = value.shape
    frame = pd.DataFrame({
        "reporter_code": np.int64(156),
        "partner_code": np.repeat(np.asarray(partners, dtype=np.int64), F * T),
        "flow_code": "X",
        "family_id": np.tile(np.repeat(family_ids, T), P),
        "group": np.tile(np.repeat(groups, T), P),
        "kind": np.tile(np.repeat(kinds, T), P),
        "date": np.tile(dates.to_numpy(), P * F),
        "usd": value.ravel(),
        "kg": np.nan,
        "n_records": (value.ravel() > 0).astype(np.int64),
        "synthetic": True,
    })[SERIES_COLUMNS]
    frame.attrs["synthetic"] = True
    return frame
