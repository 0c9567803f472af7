"""Benchmark: `tradeflows report` on the demo panel, step by step (target: well under a minute). Prints its figures.

Steps timed: load the demo panel, build the series, analyze (compare, DiD with
its statsmodels cross-check, anomalies), write the report (tables,
counterfactual bands, figures, HTML and Markdown). Also prints the size of the
output (figures, report.html).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from analysis.demo import load_demo  # noqa: E402
from analysis.pipeline import analyze  # noqa: E402
from analysis.provenance import describe_source  # noqa: E402
from analysis.report import write_report  # noqa: E402
from analysis.series import build_series  # noqa: E402


def main() -> int:
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    records = load_demo()
    times["load demo panel"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    series = build_series(records)
    times["build series"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = analyze(series)
    times["analyze"] = time.perf_counter() - t0
    for step, seconds in result.timings.items():
        times[f"  analyze: {step}"] = seconds
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = write_report(result, Path(tmp) / "report", source=describe_source(records, origin="demo"))
        times["write report"] = time.perf_counter() - t0
        n_fig = len(list((out / "figures").glob("*.png")))
        html_mb = (out / "report.html").stat().st_size / 2**20
        fig_mb = sum(p.stat().st_size for p in (out / "figures").iterdir()) / 2**20
    total = sum(v for k, v in times.items() if not k.startswith("  "))
    print(f"tradeflows report on the demo panel ({len(records):,} records, {os.cpu_count()} CPU(s))")
    for step, seconds in times.items():
        print(f"  {step:<28} {seconds:6.1f} s")
    print(f"  {'total':<28} {total:6.1f} s   (target: well under 60 s)")
    print(f"  output: {n_fig} figures (PNG+SVG, {fig_mb:.1f} MiB), report.html {html_mb:.1f} MiB")
    return 0 if total < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
