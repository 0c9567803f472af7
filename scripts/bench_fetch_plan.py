"""How many Comtrade API calls the full default study needs, against the floors any plan must meet.

The default study (analysis.study.Study()): China (156) exports to its
partners study.partners, Belarus and the 12 comparison partners, every registry code in the edition
China reports each year (H5 to 2021, H6 from 2022), monthly, 2017-01 to the
latest month. No call is made: the latest month is not known offline, so it
defaults to last month (pass --end YYYY-MM for another).

For the free preview endpoint (500 records per call) and the keyed one
(100,000) it prints the calls planned, the floor the record cap allows
(ceil(total bound / cap)), the floor of at most 12 periods per call, the
largest call bound and the longest URL (limit 4,096), and how long planning took.

Usage: python scripts/bench_fetch_plan.py [--end YYYY-MM]
"""
from __future__ import annotations

import argparse
import math
import time

import pandas as pd

from analysis.comtrade import CAPS, MAX_URL, minimum_calls
from analysis.comtrade.perform import DEFAULT_CALLS_PER_MINUTE, DEFAULT_DAILY_QUOTA
from analysis.fetching import plan_calls
from analysis.study import Study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    last_month = (pd.Timestamp.now().to_period("M") - 1).strftime("%Y-%m")
    parser.add_argument("--end", default=last_month, help=f"last month of the study (default {last_month})")
    args = parser.parse_args()

    study = Study()
    print(f"default study: reporter {study.reporter}, flow {study.flow}, {len(study.partners)} partners "
          f"(focal {study.focal} + {len(study.controls)} controls), monthly 2017-01 to {args.end}")
    header = (f"{'endpoint':<9}{'cap':>9}{'calls':>7}{'floor cap':>11}{'floor 12p':>11}{'floor':>7}"
              f"{'over floor':>12}{'max bound':>11}{'max URL':>9}{'plan s':>8}")
    print(header)
    for endpoint in ("preview", "keyed"):
        t0 = time.perf_counter()
        plan = plan_calls(study, end=args.end, endpoint=endpoint)
        seconds = time.perf_counter() - t0
        low = minimum_calls(plan)
        cap = CAPS[endpoint]
        floor_cap = math.ceil(low["total_bound"] / cap)
        floor = max(floor_cap, low["by_periods"])
        print(f"{endpoint:<9}{cap:>9,}{len(plan):>7}{floor_cap:>11}{low['by_periods']:>11}{floor:>7}"
              f"{len(plan) / floor - 1:>11.1%}{int(plan['bound'].max()):>11,}{int(plan['url_length'].max()):>9}"
              f"{seconds:>8.2f}")
        if endpoint == "preview":
            codes = plan.groupby("edition")["codes"].apply(lambda s: len({c for x in s for c in x.split(',')}))
            print(f"{'':<9}codes per edition: {', '.join(f'{e} {n}' for e, n in codes.items())}; "
                  f"total bound {low['total_bound']:,} records (periods x partners x codes)")
        minutes = len(plan) / DEFAULT_CALLS_PER_MINUTE
        quota = f", {len(plan) / DEFAULT_DAILY_QUOTA:.0%} of the keyed daily quota" if endpoint == "keyed" else ""
        print(f"{'':<9}at {DEFAULT_CALLS_PER_MINUTE:.0f} calls/minute: {minutes:.0f} min "
              f"(+1 data availability call){quota}; every URL under {MAX_URL}: "
              f"{bool((plan['url_length'] < MAX_URL).all())}")


if __name__ == "__main__":
    main()
