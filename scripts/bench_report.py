"""Benchmark: `tradeflows report` on the demo panel, step by step, and what the report costs over its analysis.

Steps timed: load the demo panel, build the series, analyze (compare, DiD with
its statsmodels cross-check, anomalies), write the report (tables, figure
plan, figures drawn in worker processes, HTML and Markdown). Each step is
timed in wall-clock seconds and in CPU seconds (this process and, for the
figures, its worker processes): on a shared machine the wall clock also
measures the neighbours, the CPU time does not.

The target (issue 10, section 3): the whole report no slower than 1.5 times
its analysis. The last line prints that ratio, ``report/analysis``: the
wall-clock time of all steps over that of the analyze step. The line before
it gives the ratio over what ``tradeflows analyze`` computes (load, series,
analyze) and the CPU-time ratios. Also prints the figures drawn, by role,
and the size of the output.
"""
from __future__ import annotations

import os
import resource
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
from analysis.report import write_report  # noqa: E402
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


def main() -> int:
    times: dict[str, tuple[float, float]] = {}
    records = timed(times, "load demo panel", load_demo)
    series = timed(times, "build series", lambda: build_series(records))
    result = timed(times, "analyze", lambda: analyze(series))
    with tempfile.TemporaryDirectory() as tmp:
        out = timed(times, "write report", lambda: write_report(
            result, Path(tmp) / "report", source=describe_source(records, origin="demo")))
        figures = out / "figures"
        n_png = len(list(figures.glob("*.png")))
        n_svg = len(list(figures.glob("*.svg")))
        html_mb = (out / "report.html").stat().st_size / 2**20
        fig_mb = sum(p.stat().st_size for p in figures.iterdir()) / 2**20
    print(f"tradeflows report on the demo panel ({len(records):,} records, {os.cpu_count()} CPU(s), "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"  {'step':<28} {'wall':>7} {'CPU':>7}")
    for step, (wall, cpu) in times.items():
        print(f"  {step:<28} {wall:6.1f}s {cpu:6.1f}s")
        if step == "analyze":
            for sub, seconds in result.timings.items():
                print(f"    {sub:<26} {seconds:6.1f}s")
    total = sum(w for w, _ in times.values())
    total_cpu = sum(c for _, c in times.values())
    analysis = times["analyze"][0]
    upstream = sum(times[s][0] for s in ("load demo panel", "build series", "analyze"))
    upstream_cpu = sum(times[s][1] for s in ("load demo panel", "build series", "analyze"))
    print(f"  {'total':<28} {total:6.1f}s {total_cpu:6.1f}s")
    print(f"  output: {n_png} figures (PNG; SVG for {n_svg}), {fig_mb:.1f} MiB; report.html {html_mb:.1f} MiB")
    print(f"  over load+series+analyze (what `tradeflows analyze` computes): wall {total / upstream:.2f}, "
          f"CPU {total_cpu / upstream_cpu:.2f}; over the analyze step, CPU {total_cpu / times['analyze'][1]:.2f}")
    ratio = total / analysis
    print(f"report/analysis ratio = {ratio:.2f} (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
