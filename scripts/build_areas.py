"""Rebuild data/registry/comtrade_areas.csv from a real Comtrade+ export.

Comtrade's area codes are not ISO numeric codes everywhere (France 251,
India 699, USA 842, 'Other Asia, nes' 490), so tradeflows keeps Comtrade's
own table. Source: any Comtrade+ CSV export listing many partners, e.g.
../shared/comtrade-samples/comtradeplus_export_CHN_USA_DEU_2022_A_TOTAL.csv.

Usage: python scripts/build_areas.py PATH_TO_EXPORT.csv
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "data" / "registry" / "comtrade_areas.csv"


def build(export_csv: Path) -> pd.DataFrame:
    raw = pd.read_csv(export_csv, encoding="cp1252", index_col=False, dtype=str)
    parts = [
        raw[[f"{side}Code", f"{side}ISO", f"{side}Desc"]].set_axis(["code", "iso3", "name"], axis=1)
        for side in ("reporter", "partner")
    ]
    areas = pd.concat(parts).drop_duplicates("code")
    areas["code"] = areas["code"].astype(int)
    return areas.sort_values("code").reset_index(drop=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    table = build(Path(sys.argv[1]))
    table.to_csv(OUT, index=False, encoding="utf-8")
    print(f"wrote {len(table)} areas to {OUT}")
