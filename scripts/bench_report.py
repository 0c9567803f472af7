"""Benchmark: `tradeflows report` on the demo panel, step by step, and what the report costs over its analysis.

Two runs, each in a fresh Python process as a command runs (caches warmed by
one run would flatter the other), as the commands do them:

1. the report (``tradeflows report``): load the demo panel, build the
   series, analyze (compare, DiD with its statsmodels cross-check,
   suppliers, anomalies) while a worker draws each figure as soon as the
   analysis has its tables (:class:`analysis.report.drawing.Drawing`), then
   write the report (tables, the figures left on every worker, HTML and
   Markdown);
2. the analysis alone (what ``tradeflows analyze`` computes): load, series,
   analyze, nothing drawn.

Each step is timed in wall-clock seconds and in CPU seconds (this process
and its figure workers, counted when they exit): on a shared machine the
wall clock also measures the neighbours, the CPU time does not.

The target (issue 10, section 3): the whole report no slower than 1.5 times
its analysis. The last line prints that ratio, ``report/analysis``: the
wall-clock time of the whole report run over that of the analyze step of
the analysis run, the median over ``--repeat`` pairs of runs (default 3: on
a shared machine one run's analyze step varies by 20%). The line before it gives the ratio over the whole
analysis run (load, series, analyze) and the CPU-time ratio. Also prints the
figures written and the size of the output.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import matplotlib

matplotlib.use("Agg")

from analysis.demo import load_demo  # noqa: E402
from analysis.pipeline import analyze  # noqa: E402
from analysis.provenance import describe_source  # noqa: E402
from analysis.report import Drawing, write_report  # noqa: E402
from analysis.series import build_series  # noqa: E402

T = TypeVar("T")
TARGET = 1.5


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the figure workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(times: dict[str, tuple[float, float]], step: str, fn: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), _cpu()
    out = fn()
    times[step] = (time.perf_counter() - wall, _cpu() - cpu)
    return out


def run_report() -> dict:
    """The report as ``tradeflows report`` makes it; step timings and the output's size."""
    times: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        records = timed(times, "load demo panel", load_demo)
        series = timed(times, "build series", lambda: build_series(records))
        cpu0 = _cpu()
        with Drawing() as drawing:
            result = timed(times, "analyze (drawing meanwhile)",
                           lambda: analyze(series, on_partial=drawing.partial))
            out = timed(times, "write report", lambda: write_report(
                result, Path(tmp) / "report", source=describe_source(records, origin="demo"), drawing=drawing))
        workers_cpu = _cpu() - cpu0 - times["analyze (drawing meanwhile)"][1] - times["write report"][1]
        figures = out / "figures"
        return {"times": times, "timings": result.timings, "records": len(records), "workers_cpu": workers_cpu,
                "png": len(list(figures.glob("*.png"))), "svg": len(list(figures.glob("*.svg"))),
                "figures_mb": sum(p.stat().st_size for p in figures.iterdir()) / 2**20,
                "html_mb": (out / "report.html").stat().st_size / 2**20}


def run_analysis() -> dict:
    """The analysis alone, as ``tradeflows analyze`` computes it."""
    times: dict[str, tuple[float, float]] = {}
    records = timed(times, "load demo panel", load_demo)
    series = timed(times, "build series", lambda: build_series(records))
    result = timed(times, "analyze", lambda: analyze(series))
    return {"times": times, "timings": result.timings}


def _fresh(run: str) -> dict:
    """``run`` in a fresh Python process (this script with ``--run``)."""
    done = subprocess.run([sys.executable, __file__, "--run", run], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_pair(rep: dict, alone: dict) -> None:
    for title, run in (("the report (tradeflows report)", rep), ("the analysis alone (tradeflows analyze)", alone)):
        print(f"  {title:<40} {'wall':>7} {'CPU':>7}")
        for step, (wall, cpu) in run["times"].items():
            print(f"    {step:<38} {wall:6.1f}s {cpu:6.1f}s")
            if step.startswith("analyze"):
                print("      " + ", ".join(f"{k} {v:.1f}s" for k, v in run["timings"].items()))
        print(f"    {'total':<38} {sum(w for w, _ in run['times'].values()):6.1f}s "
              f"{sum(c for _, c in run['times'].values()):6.1f}s")
    print(f"  the report's figure workers: {rep['workers_cpu']:.1f}s CPU")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs (default 3); the medians are reported")
    parser.add_argument("--run", choices=["report", "analysis"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_report() if args.run == "report" else run_analysis()))
        return 0
    ratios, overall, cpu_ratios = [], [], []
    for i in range(args.repeat):
        if i % 2:  # alternate which run goes first: the first process after a pause finds colder caches
            alone, rep = _fresh("analysis"), _fresh("report")
        else:
            rep, alone = _fresh("report"), _fresh("analysis")
        if i == 0:
            print(f"tradeflows report on the demo panel ({rep['records']:,} records, {os.cpu_count()} CPU(s), "
                  f"load average {os.getloadavg()[0]:.1f}); first pair of runs:")
            _print_pair(rep, alone)
            print(f"  output: {rep['png']} figures (PNG; SVG for {rep['svg']}), {rep['figures_mb']:.1f} MiB; "
                  f"report.html {rep['html_mb']:.1f} MiB")
        total = sum(w for w, _ in rep["times"].values())
        ratios.append(total / alone["times"]["analyze"][0])
        overall.append(total / sum(w for w, _ in alone["times"].values()))
        cpu_ratios.append((sum(c for _, c in rep["times"].values()) + rep["workers_cpu"])
                          / sum(c for _, c in alone["times"].values()))
        print(f"  pair {i + 1}: report {total:.1f}s, analyze step {alone['times']['analyze'][0]:.1f}s, "
              f"ratio {ratios[-1]:.2f}")
    print(f"  median over {args.repeat} pair(s): over the whole analysis run (load+series+analyze) wall "
          f"{statistics.median(overall):.2f}, CPU {statistics.median(cpu_ratios):.2f}")
    ratio = statistics.median(ratios)
    print(f"report/analysis ratio = {ratio:.2f} (median of {args.repeat}; target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
