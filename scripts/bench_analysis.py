"""Benchmark of the whole analysis (tradeflows analyze): the demo panel and a large SYNTHETIC panel.

    python scripts/bench_analysis.py                 # demo + 200 partners x 60 families x 102 months
    python scripts/bench_analysis.py --partners 300  # larger
    python scripts/bench_analysis.py --no-anomalies  # compare + controls only

Prints, per stage (series, compare, did, anomalies, write), the wall time and
the process's peak resident memory (getrusage maxrss) in a timing pass, then
each stage's peak Python-heap memory (tracemalloc; NumPy reports its buffers
to it) in a second, slower memory pass (--no-heap skips it).
Targets on a 2-core machine: demo under 20 s; large panel under 120 s and
under 2 GB peak.

The large panel is generated directly as a series frame (no records): every
row says synthetic=True. It has the texture of the demo (partner and family
levels, trends, seasonality with merged January/February, AR(1) noise,
zero months for small flows) and no planted effects.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_panels import cube_frame  # noqa: E402

from analysis import registry  # noqa: E402

SEASON = np.array([0.9, 0.7, 1.05, 1.0, 1.0, 1.02, 1.03, 1.03, 1.02, 1.05, 1.08, 1.15])


def partner_codes(n: int) -> np.ndarray:
    """``n`` real Comtrade area codes (China and World excluded) to stand for synthetic partners: the first
    plays the focal partner, the next 12 the comparison partners."""
    areas = registry.areas()["code"].astype(int)
    codes = np.sort(areas[~areas.isin([0, 156])].unique())
    if n > len(codes):
        raise SystemExit(f"at most {len(codes)} synthetic partners (one per Comtrade area code)")
    return codes[:n].astype(np.int64)


def synthetic_series(n_partners: int = 200, n_families: int = 60, start: str = "2017-01", months: int = 102, *,
                     rho: float = 0.3, sigma: float | tuple[float, float] = (0.15, 0.35), trend_mean: float = 0.04,
                     trend_sd: float = 0.03,
                     zero_scale: float = 2.0e4, shock_df: float | None = None, effects: dict | None = None,
                     seed: int = 1) -> pd.DataFrame:
    """A SYNTHETIC series frame: China's monthly exports to ``n_partners`` x ``n_families`` series.

    Partners are :func:`partner_codes` (the first plays the focal partner,
    the next 12 the comparison partners in the benchmark); families are the
    registry's first ``n_families`` families, control families included.
    ``effects`` maps partner position (1 = the first) -> multiplicative factor from 2022-03 on (all
    families). ``shock_df`` gives Student-t shocks (heavy tails) instead of
    normal ones. Zero months appear where the value is small
    (P(present) = 1 - exp(-value / zero_scale)), as in Comtrade.
    """
    rng = np.random.default_rng(seed)
    fams = registry.families()
    ctrl = fams[fams["kind"] == "control"]
    fams = pd.concat([ctrl, fams[fams["kind"] != "control"]]).head(n_families).reset_index(drop=True)
    dates = pd.date_range(start, periods=months, freq="MS")
    P, F, T = n_partners, len(fams), months
    size = np.exp(rng.normal(0.0, 1.0, P))
    base = np.exp(rng.normal(np.log(2.5e5), 1.0, F))
    level = size[:, None] * base[None, :] * np.exp(rng.normal(0, 0.7, (P, F)))
    growth = rng.normal(trend_mean, trend_sd, (P, F)) if trend_sd > 0 else np.full((P, F), trend_mean)
    years = (dates.year - dates.year[0] + (dates.month - 1) / 12).to_numpy()
    sig = (rng.uniform(*sigma, F) if isinstance(sigma, tuple) else np.full(F, sigma))[None, :, None]
    shocks = rng.standard_t(shock_df, (P, F, T)) * np.sqrt((shock_df - 2) / shock_df) if shock_df else \
        rng.standard_normal((P, F, T))
    shocks *= sig
    noise = np.empty_like(shocks)
    noise[..., 0] = shocks[..., 0] / np.sqrt(1 - rho**2)
    for t in range(1, T):
        noise[..., t] = rho * noise[..., t - 1] + shocks[..., t]
    noise -= (sig**2) / (2 * (1 - rho**2))  # mean-one multiplicative noise
    value = level[..., None] * np.exp(growth[..., None] * years) * SEASON[dates.month - 1] * np.exp(noise)
    del shocks, noise
    for partner, factor in (effects or {}).items():
        value[partner - 1][:, dates >= "2022-03-01"] *= factor
    present = rng.random(value.shape) < 1 - np.exp(-value / zero_scale)
    value = np.where(present & (value >= 1), np.round(value), 0.0)
    jan = np.flatnonzero((dates.month == 1)[:-1])
    both = (value[..., jan] + value[..., jan + 1]) / 2  # China publishes January and February together
    value[..., jan] = both
    value[..., jan + 1] = both
    return cube_frame(value, partner_codes(P), fams["family_id"].to_numpy(), fams["group"].to_numpy(),
                      fams["kind"].to_numpy(), dates)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(label: str, data: pd.DataFrame, *, anomalies: bool, heap: bool = False, **config) -> dict:
    """analyze(data) with each stage timed; prints one line per stage.

    Timing pass (``heap=False``): wall time and the process's peak resident
    memory after each stage. Memory pass (``heap=True``): tracemalloc on, the
    peak Python-heap memory of each stage (NumPy reports its buffers to it);
    tracemalloc slows allocation-heavy code, so that pass's times are not
    the benchmark's.
    """
    from analysis import pipeline

    stages: dict[str, list[float]] = {}
    if heap:
        tracemalloc.start()
    names = ("_as_series", "study_panel", "compare_panel", "did_panel", "_findings", "write_result")
    real = {name: getattr(pipeline, name) for name in names}
    mapping = {"_as_series": "series", "study_panel": "compare", "compare_panel": "compare", "did_panel": "did",
               "_findings": "anomalies", "write_result": "write"}

    def timed(stage: str, fn):
        def wrapper(*args, **kwargs):
            if heap:
                tracemalloc.reset_peak()
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            dt = time.perf_counter() - t0
            mem = tracemalloc.get_traced_memory()[1] / 2**20 if heap else _maxrss_mb()
            old = stages.get(stage, [0.0, 0.0])
            stages[stage] = [old[0] + dt, max(old[1], mem)]
            return out
        return wrapper

    try:
        for name, stage in mapping.items():
            setattr(pipeline, name, timed(stage, real[name]))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = pipeline.analyze(data, out=Path(tmp) / "out", anomalies=anomalies, **config)
            total = time.perf_counter() - t0
    finally:
        for name, fn in real.items():
            setattr(pipeline, name, fn)
        if heap:
            tracemalloc.stop()
    what = "peak heap of the stage (tracemalloc)" if heap else "process peak RSS after the stage"
    print(f"\n== {label}: {'memory pass' if heap else 'timing pass'} ==")
    for stage, (dt, mb) in stages.items():
        print(f"  {stage:<10} {dt:7.2f} s   {what} {mb:8.1f} MB")
    print(f"  {'total':<10} {total:7.2f} s   process peak RSS {_maxrss_mb():8.1f} MB")
    if not heap:
        print(f"  compare rows {len(result.compare)}, findings {len(result.findings)}, "
              f"synthetic={result.synthetic}, anomalies: {result.config.get('anomalies')}")
    return {"total": total, "stages": stages, "rss_mb": _maxrss_mb()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--partners", type=int, default=200)
    ap.add_argument("--families", type=int, default=60)
    ap.add_argument("--months", type=int, default=102)
    ap.add_argument("--no-anomalies", action="store_true")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--no-heap", dest="heap", action="store_false",
                    help="skip the second pass that measures each stage's peak heap with tracemalloc")
    args = ap.parse_args(argv)
    anomalies = not args.no_anomalies
    print(f"tradeflows analysis benchmark: {os.cpu_count()} CPU(s), numpy {np.__version__}, pandas {pd.__version__}")
    ok = True
    if not args.skip_demo:
        from analysis.demo import load_demo

        t0 = time.perf_counter()
        records = load_demo()
        print(f"demo panel (SYNTHETIC): {len(records):,} records generated in {time.perf_counter() - t0:.1f} s")
        demo = run("demo panel (SYNTHETIC), from records", records, anomalies=anomalies)
        ok &= demo["total"] < 20
        print(f"  target < 20 s: {'met' if demo['total'] < 20 else 'MISSED'}")
        if args.heap:
            run("demo panel (SYNTHETIC), from records", records, anomalies=anomalies, heap=True)
        del records
    t0 = time.perf_counter()
    big = synthetic_series(args.partners, args.families, months=args.months)
    n_series = big.groupby(["partner_code", "family_id"]).ngroups
    print(f"\nlarge SYNTHETIC panel: {args.partners} partners x {big['family_id'].nunique()} families x "
          f"{args.months} months = {n_series:,} series, {len(big):,} rows, generated in "
          f"{time.perf_counter() - t0:.1f} s")
    codes = partner_codes(args.partners)
    config = {"focal": int(codes[0]), "controls": codes[1:13].tolist()}
    res = run("large panel (SYNTHETIC series frame)", big, anomalies=anomalies, **config)
    met = res["total"] < 120 and res["rss_mb"] < 2048
    ok &= met
    print(f"  targets < 120 s and < 2048 MB peak RSS: {'met' if met else 'MISSED'}")
    if args.heap:
        run("large panel (SYNTHETIC series frame)", big, anomalies=anomalies, heap=True, **config)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
