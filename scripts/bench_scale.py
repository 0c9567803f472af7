"""Benchmark of the screen at scale: a SYNTHETIC store of N records, screened out of core.

    python scripts/bench_scale.py --rows 2000000                    # a temporary store, deleted afterwards
    python scripts/bench_scale.py --rows 50000000 --store /tmp/big  # kept; a second run re-uses it
    python scripts/bench_scale.py --rows 1000000 --engine dask      # the same screen on a local Dask cluster

The store is written chunk by chunk with the store's own writer
(:meth:`analysis.store.Store.write_chunk`: Parquet chunks, manifest,
checksums), one chunk per reporter and partner, never all in memory. It holds
China (156) and as many further reporters as N needs, each exporting to
``--partners`` partners (the study's focal, comparison and transit partners
first) ``--codes`` six-digit codes (a few registry codes, the rest codes outside
the registry), monthly 2017-01 to 2025-06 (102 months), with the traps of
real records: HS 2017 codes before 2022 and HS 2022 codes from 2022, China's
January and February published together from 2020, HS 2017 converted copies of
the focal partner's records from 2022, a few estimated weights, months with
no record where a flow is small. Every record is marked synthetic. A few codes
outside the registry carry a planted focal-only rise (x3 from 2022-03), so the
run also says whether the screen finds them; one more rises x3 to every partner (a common shock the
screen should not rank).

Prints the generation, the screen's steps, how the planted codes ranked, the
series per second beside the demo's (the demo panel written to a store and
screened the same way), and last ``rows=N series=S seconds=T peak_rss_mb=M``:
S series built, T seconds of the screen (reading, series, test; not the
generation), M the peak resident memory of this process plus that of its
children (``resource.getrusage``; the generation runs in this process too).
Target: 50 million rows under 4,000 MB.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import registry  # noqa: E402
from analysis.schema import FIELDS  # noqa: E402
from analysis.screen import ScreenResult, screen_store  # noqa: E402
from analysis.store import Store  # noqa: E402
from analysis.study import Study  # noqa: E402

MONTHS = pd.date_range("2017-01", "2025-06", freq="MS")
POST = pd.Timestamp("2022-03-01")
SEASON = np.array([0.9, 0.7, 1.05, 1.0, 1.0, 1.02, 1.03, 1.03, 1.02, 1.05, 1.08, 1.15])
PLANTED_FACTOR = 3.0
N_PLANTED = 5
N_REGISTRY_CODES = 10
REPORTERS = (156, 276, 842, 392, 410, 699, 251, 380, 826, 124, 36, 76, 484, 710, 360, 458, 764, 704, 608, 792)
"""China first, then further reporters as the row count needs them (real Comtrade codes, synthetic data)."""


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus that of its children, MB (Linux reports KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024.0


def bench_codes(n: int, seed: int) -> list[str]:
    """``n`` six-digit codes: the first registry codes that are one-code families, then codes outside the registry."""
    fams = registry.families()
    own = fams[(fams["h5_codes"] == fams["h6_codes"]) & ~fams["h6_codes"].str.contains(" ")]["h6_codes"]
    in_registry = set(registry.load_registry().code_family["code"])
    outside = [f"{ch:02d}{hd:02d}{sub:02d}" for ch in range(1, 98) if ch != 77 for hd in range(1, 60)
               for sub in (10, 20, 90)]
    outside = [c for c in outside if c not in in_registry]
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(outside), size=max(n - N_REGISTRY_CODES, 0), replace=False)
    return (list(own.head(min(n, N_REGISTRY_CODES))) + [outside[i] for i in sorted(picked)])[:n]


def planted_codes(codes: list[str]) -> list[str]:
    """The codes outside the registry with a focal-only rise (spread over the list)."""
    outside = codes[N_REGISTRY_CODES:-1]
    step = max(len(outside) // N_PLANTED, 1)
    return outside[::step][:N_PLANTED]


def common_code(codes: list[str]) -> str:
    """The code outside the registry whose exports rise x3 to every partner (not focal-specific)."""
    return codes[-1]


def bench_partners(n: int) -> list[int]:
    """``n`` partners: the default study's (focal, comparison, transit) first, then other Comtrade areas."""
    study = Study()
    first = list(dict.fromkeys(study.partners))
    areas = registry.areas()["code"].astype(int)
    others = [int(c) for c in sorted(areas.unique()) if c not in (0, 156) and c not in first and c < 900]
    return (first + others)[:max(n, len(first))]


def _block(reporter: int, partner: int, codes: np.ndarray, planted: np.ndarray, common: int, focal: int,
           seed: int) -> pd.DataFrame:
    """The SYNTHETIC records of one reporter's exports to one partner (one chunk)."""
    rng = np.random.default_rng([seed, reporter, partner])
    C, T = len(codes), len(MONTHS)
    level = np.exp(rng.normal(np.log(6e4), 1.4, C)) * np.exp(rng.normal(0, 0.5))
    trade = rng.random(C) < 0.85  # series the pair has at all
    growth = rng.normal(0.03, 0.03, C)
    years = (MONTHS.year - 2017 + (MONTHS.month - 1) / 12).to_numpy()
    value = (level[:, None] * np.exp(growth[:, None] * years) * SEASON[MONTHS.month - 1]
             * np.exp(rng.normal(-0.045, 0.3, (C, T))))
    post = np.asarray(MONTHS >= POST)
    if reporter == 156 and partner == focal:
        value[np.ix_(planted, post)] *= PLANTED_FACTOR
    if reporter == 156:
        value[common, post] *= PLANTED_FACTOR
    present = trade[:, None] & (rng.random((C, T)) < 1 - np.exp(-value / 2e4))
    value = np.round(value)
    if reporter == 156:  # China publishes January and February together from 2020
        jan = np.flatnonzero((MONTHS.month == 1) & (MONTHS.year >= 2020))
        pair = present[:, jan] | present[:, jan + 1]
        half = np.round((value[:, jan] * present[:, jan] + value[:, jan + 1] * present[:, jan + 1]) / 2)
        value[:, jan], value[:, jan + 1] = half, half
        present[:, jan], present[:, jan + 1] = pair, pair
    ci, ti = np.nonzero(present & (value > 0))
    frame = _records(reporter, partner, codes, ci, ti, value[ci, ti], rng)
    if reporter == 156 and partner == focal:  # HS 2017 converted copies of the HS 2022 records
        copies = frame[(frame["classificationCode"] == "H6").to_numpy()].copy()
        copies["classificationCode"] = _text(["H5"], np.zeros(len(copies), dtype=np.int64))
        copies["isOriginalClassification"] = pd.array(np.zeros(len(copies), dtype=bool), dtype="boolean")
        frame = pd.concat([frame, copies], ignore_index=True)
    return frame


def _text(values: list[str], index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[index]`` as a string array (taken from the few distinct values: fast for millions of rows)."""
    return pd.array(values, dtype=FIELDS["cmdCode"]).take(index)


def _records(reporter: int, partner: int, codes: np.ndarray, ci: np.ndarray, ti: np.ndarray, value: np.ndarray,
             rng: np.random.Generator) -> pd.DataFrame:
    """Comtrade records of codes ``codes[ci]`` in months ``MONTHS[ti]`` (the 47 fields, those a synthetic record
    cannot know empty), all synthetic."""
    n, one = len(ci), np.zeros(len(ci), dtype=np.int64)
    kg = np.round(value / np.exp(rng.normal(np.log(30), 1.0, n)), 1)
    month = MONTHS[ti]
    code_list = [str(c) for c in codes]
    frame = pd.DataFrame({
        "typeCode": _text(["C"], one), "freqCode": _text(["M"], one),
        "refPeriodId": (month.year * 10000 + month.month * 100 + 1).to_numpy(),
        "refYear": month.year.to_numpy(), "refMonth": month.month.to_numpy(),
        "period": _text(list(MONTHS.strftime("%Y%m")), ti), "reporterCode": np.full(n, reporter),
        "flowCode": _text(["X"], one), "flowDesc": _text(["Export"], one), "partnerCode": np.full(n, partner),
        "partner2Code": one, "classificationCode": _text(["H5", "H6"], np.asarray(month.year >= 2022, dtype=np.int64)),
        "classificationSearchCode": _text(["HS"], one), "isOriginalClassification": np.ones(n, dtype=bool),
        "cmdCode": _text(code_list, ci), "cmdDesc": _text([f"SYNTHETIC goods {c}" for c in code_list], ci),
        "aggrLevel": np.full(n, 6), "isLeaf": np.ones(n, dtype=bool), "customsCode": _text(["C00"], one),
        "mosCode": _text(["0"], one), "motCode": one, "qtyUnitCode": np.full(n, 8), "qtyUnitAbbr": _text(["kg"], one),
        "qty": kg, "isQtyEstimated": np.zeros(n, dtype=bool), "netWgt": kg, "isNetWgtEstimated": rng.random(n) < 0.01,
        "fobvalue": value, "primaryValue": value, "isReported": np.ones(n, dtype=bool),
        "isAggregate": np.zeros(n, dtype=bool),
    })
    # every field in the store's dtype (absent ones empty): the store's checks then need no per-value work
    frame = frame.reindex(columns=list(FIELDS)).astype(FIELDS)
    frame["synthetic"] = True
    return frame


def _pairs(partners: list[int]) -> Iterator[tuple[int, int]]:
    for reporter in REPORTERS:
        for partner in partners:
            if partner != reporter:
                yield reporter, partner


def write_store(root: Path, rows: int, *, codes: int = 2000, partners: int = 60, seed: int = 7,
                quiet: bool = False) -> dict:
    """Write a SYNTHETIC store of exactly ``rows`` records at ``root`` (see the module docstring)."""
    store = Store(root)
    code_list = np.array(bench_codes(codes, seed))
    planted = np.flatnonzero(np.isin(code_list, planted_codes(list(code_list))))
    partner_list = bench_partners(partners)
    focal = Study().focal
    params = {"rows": rows, "codes": codes, "partners": partners, "seed": seed}
    t0, written, chunks = time.perf_counter(), 0, 0
    for reporter, partner in _pairs(partner_list):
        if written >= rows:
            break
        frame = _block(reporter, partner, code_list, planted, len(code_list) - 1, focal, seed)
        frame = frame.iloc[:rows - written]
        store.write_chunk(frame, query={"bench": "scale", "reporter": reporter, "partner": partner, **params},
                          endpoint="synthetic", source="scripts/bench_scale.py (SYNTHETIC)")
        written += len(frame)
        chunks += 1
        if not quiet and chunks % 25 == 0:
            print(f"  {written:,} rows in {chunks} chunks, {time.perf_counter() - t0:.0f} s, "
                  f"peak RSS {peak_rss_mb():.0f} MB", flush=True)
    if written < rows:
        raise SystemExit(f"--rows {rows:,} needs more reporters than the {len(REPORTERS)} listed: raise --codes or "
                         "--partners")
    return {**params, "chunks": chunks, "seconds": time.perf_counter() - t0,
            "planted": [str(c) for c in code_list[planted]], "common": common_code(list(code_list))}


def _stored_params(root: Path) -> dict | None:
    """The parameters a store at ``root`` was generated with (None if it is not a complete bench store)."""
    store = Store(root)
    if not store.manifest_path.exists():
        return None
    manifest = store.manifest()
    queries = [json.loads(q) for q in manifest["query"]]
    keys = {json.dumps({k: q.get(k) for k in ("rows", "codes", "partners", "seed")}) for q in queries}
    if len(keys) != 1 or any(q.get("bench") != "scale" for q in queries):
        return None
    params = {k: int(v) for k, v in json.loads(keys.pop()).items()}
    return params if int(manifest["rows"].sum()) == params["rows"] else None


def report_planted(result: ScreenResult, planted: list[str], common: str) -> None:
    """How the planted focal-only rises and the common rise ranked, and what else was called significant."""
    table = result.table
    alpha = result.config.alpha
    fams = [f"HS{c}" for c in planted]
    hit = table[table["family"].isin(fams)]
    top = set(table.head(len(fams))["family"])
    shared = table[table["family"] == f"HS{common}"]
    others = table[~table["family"].isin([*fams, f"HS{common}"])]
    print(f"planted focal-only rises (x{PLANTED_FACTOR:g} from 2022-03, SYNTHETIC): {len(fams)} codes; ranks "
          f"{sorted(hit['rank'].tolist())}; in the top {len(fams)}: {len(top & set(fams))}; q < {alpha:g}: "
          f"{int((hit['relative_q_value'] < alpha).sum())}")
    for row in shared.itertuples():
        print(f"common rise (every partner x{PLANTED_FACTOR:g}, SYNTHETIC): HS{common} rank {row.rank}, relative "
              f"ratio {row.relative_ratio:.2f}, q {row.relative_q_value:.2f} (not focal-specific: should not rank)")
    print(f"other codes with q < {alpha:g}: {int((others['relative_q_value'] < alpha).sum())} of "
          f"{int(others['relative_p_value'].notna().sum())} tested (no effect planted there)")


def run_screen(root: Path, label: str, args: argparse.Namespace) -> tuple[ScreenResult, float]:
    print(f"\n== screen: {label} ({args.engine}) ==", flush=True)
    t0 = time.perf_counter()
    result = screen_store(root, engine=args.engine, memory_limit=args.memory_limit, threads=args.threads,
                          workers=args.workers, progress=lambda text: print(f"  {text}", flush=True))
    seconds = time.perf_counter() - t0
    print(f"  {result.config.series:,} series, {result.config.codes_screened:,} code families screened in "
          f"{seconds:.1f} s ({result.config.series / seconds:,.0f} series/s); peak RSS so far "
          f"{peak_rss_mb():.0f} MB", flush=True)
    return result, seconds


def demo_rate(args: argparse.Namespace) -> float:
    """Series per second of the same screen on the demo panel (SYNTHETIC), written to a temporary store."""
    from analysis.demo import SEED, load_demo

    with tempfile.TemporaryDirectory(prefix="tradeflows-bench-demo-") as tmp:
        Store(tmp).write_chunk(load_demo(), query={"demo": "load_demo", "seed": SEED}, endpoint="demo",
                               source="demo")
        result, seconds = run_screen(Path(tmp), "demo panel (SYNTHETIC)", args)
    return result.config.series / seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, required=True, help="records in the generated store")
    ap.add_argument("--codes", type=int, default=2000, help="six-digit codes per reporter-partner pair (default 2000)")
    ap.add_argument("--partners", type=int, default=60, help="partners per reporter (default 60)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--store", metavar="DIR", help="keep the store here (re-used when it matches --rows etc.)")
    ap.add_argument("--engine", choices=("local", "dask"), default="local")
    ap.add_argument("--workers", type=int, default=2, help="workers of the local Dask cluster (default 2)")
    ap.add_argument("--memory-limit", default="1500MB", help="DuckDB's memory budget (default 1500MB)")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: every core)")
    ap.add_argument("--skip-demo", action="store_true", help="do not screen the demo panel for comparison")
    args = ap.parse_args(argv)
    if args.rows < 1:
        ap.error("--rows must be positive")
    root = Path(args.store).expanduser().absolute() if args.store else \
        Path(tempfile.mkdtemp(prefix="tradeflows-bench-scale-"))
    params = {"rows": args.rows, "codes": args.codes, "partners": args.partners, "seed": args.seed}
    try:
        if _stored_params(root) == params:
            print(f"re-using the SYNTHETIC store at {root} ({args.rows:,} rows)")
            codes = bench_codes(args.codes, args.seed)
            planted, common = planted_codes(codes), common_code(codes)
        else:
            if root.is_dir() and any(root.iterdir()):
                raise SystemExit(f"{root} is not empty and holds no bench store with these parameters")
            print(f"writing a SYNTHETIC store of {args.rows:,} rows at {root} ({args.codes} codes x "
                  f"{args.partners} partners per reporter, {len(MONTHS)} months)", flush=True)
            info = write_store(root, args.rows, codes=args.codes, partners=args.partners, seed=args.seed)
            planted, common = info["planted"], info["common"]
            size = sum(p.stat().st_size for p in (root / "chunks").iterdir()) / 2**20
            print(f"  written: {info['chunks']} chunks, {size:,.0f} MB on disk, {info['seconds']:.0f} s; peak RSS "
                  f"{peak_rss_mb():.0f} MB", flush=True)
        result, seconds = run_screen(root, f"{args.rows:,} rows (SYNTHETIC)", args)
        report_planted(result, planted, common)
        rate = result.config.series / seconds
        demo = None if args.skip_demo else demo_rate(args)
        print(f"\nseries per second: {rate:,.0f} here; the demo: "
              f"{'not run (--skip-demo)' if demo is None else f'{demo:,.0f}'}")
        print(f"rows={args.rows} series={result.config.series} seconds={seconds:.1f} peak_rss_mb={peak_rss_mb():.0f}")
    finally:
        if not args.store:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
