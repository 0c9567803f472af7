"""Benchmark: time to generate the synthetic demo panel (target: under 2 s). Prints its figures."""
from __future__ import annotations

import time

from analysis import demo, registry


def main() -> None:
    t0 = time.perf_counter()
    registry.load_registry()
    t1 = time.perf_counter()
    runs = [0.0] * 3
    for i in range(3):
        start = time.perf_counter()
        panel = demo._generate.__wrapped__(demo.SEED)
        runs[i] = time.perf_counter() - start
    copies = int((~panel["isOriginalClassification"].astype(bool)).sum())
    estimated = int(panel["isNetWgtEstimated"].astype(bool).sum())
    print(f"registry load: {t1 - t0:.2f} s")
    print(f"demo panel: {len(panel):,} records, {panel.memory_usage(deep=True).sum() / 2**20:.0f} MiB; "
          f"{len(demo.PARTNERS)} partners, {copies:,} converted copies, {estimated:,} estimated weights")
    print(f"generation: best {min(runs):.2f} s, worst {max(runs):.2f} s over 3 runs (target < 2 s)")


if __name__ == "__main__":
    main()
