"""How many Comtrade API calls a supplier fetch needs (every reporter's exports to the focal partner and its own
imports, monthly and annual), against the floors any plan must meet. Prints its figures; no call is made.

For "who supplies Belarus" (``tradeflows fetch --suppliers``): every reporter (``reporterCode`` left out, its
bound counted as every Comtrade area), and the listed sanctioning and transit suppliers, each on the free preview
endpoint (500 records a call) and the keyed one (100,000), 2017-01 to the given month. Per part of the plan
(suppliers M/A, mirror M/A) and in total: calls planned, the floor the record cap allows (ceil(bound / cap)),
the floor of at most 12 periods a call, the largest bound and the longest URL (limit 4,096), and planning time.

Usage: python scripts/bench_supplier_plan.py [--end YYYY-MM]
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
from analysis.suppliers import supplier_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    last_month = (pd.Timestamp.now().to_period("M") - 1).strftime("%Y-%m")
    parser.add_argument("--end", default=last_month, help=f"last month (default {last_month})")
    args = parser.parse_args()
    study = Study()
    listed = sorted({*supplier_sets().sanctioning, *study.transit, 643})
    print(f"supplier fetch for focal {study.focal}, 2017-01 to {args.end}, every registry code")
    print(f"{'suppliers':<12}{'endpoint':<9}{'part':<13}{'calls':>7}{'floor cap':>11}{'floor 12p':>11}{'floor':>7}"
          f"{'over floor':>12}{'max bound':>11}{'max URL':>9}{'plan s':>8}")
    for who, suppliers in (("all", "all"), (f"{len(listed) + 1} listed", listed)):
        for endpoint in ("preview", "keyed"):
            t0 = time.perf_counter()
            plan = plan_calls(study, end=args.end, endpoint=endpoint, suppliers=suppliers)
            seconds = time.perf_counter() - t0
            cap = CAPS[endpoint]
            for part, block in [*plan.groupby("part", sort=False), ("total", plan)]:
                block = block.copy()
                block.attrs.update(plan.attrs)
                low = minimum_calls(block)
                print(f"{who:<12}{endpoint:<9}{part:<13}{len(block):>7}{low['by_cap']:>11}{low['by_periods']:>11}"
                      f"{low['minimum']:>7}{len(block) / low['minimum'] - 1:>11.1%}{int(block['bound'].max()):>11,}"
                      f"{int(block['url_length'].max()):>9}{seconds if part == 'total' else float('nan'):>8.2f}")
            minutes = len(plan) / DEFAULT_CALLS_PER_MINUTE
            days = math.ceil(len(plan) / DEFAULT_DAILY_QUOTA)
            print(f"{'':<21}at {DEFAULT_CALLS_PER_MINUTE:.0f} calls/minute: {minutes:,.0f} min (+2 data "
                  f"availability calls){f', {days} day(s) of the keyed quota' if endpoint == 'keyed' else ''}; "
                  f"every bound under {cap:,}: {bool((plan['bound'] < cap).all())}; every URL under {MAX_URL}: "
                  f"{bool((plan['url_length'] < MAX_URL).all())}")


if __name__ == "__main__":
    main()
