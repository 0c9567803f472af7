"""Rebuild data/registry/comtrade_reference_areas.csv: every Comtrade partner area, and which of them report.

The record validator (analysis.validation) accepts an area code only if Comtrade knows it, and a reporter only
if Comtrade lists it as a reporter (World, Bunkers, Free Zones, Special Categories and most 'nes' areas are
partners only; Other Asia, nes (490) and the European Union (97) do report). Source: Comtrade's reference
files https://comtradeapi.un.org/files/v1/app/reference/partnerAreas.json and Reporters.json (also cached, as R
data, by rOpenSci's comtradr in inst/extdata/partner.rds and reporter.rds; reading those needs `pyreadr`).

    python scripts/build_reference_areas.py partnerAreas.json Reporters.json
    python scripts/build_reference_areas.py partner.rds reporter.rds

Writes code, iso3, name, reporter (true/false), entry_year, exit_year; prints the counts.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "data" / "registry" / "comtrade_reference_areas.csv"


def _read(path: Path, side: str) -> pd.DataFrame:
    if path.suffix == ".rds":
        import pyreadr  # optional: only to read comtradr's cache

        frame = next(iter(pyreadr.read_r(str(path)).values()))
        return pd.DataFrame({"code": frame["id"].astype(int), "iso3": frame["iso_3"], "name": frame["country"],
                             "entry_year": frame["entry_year"], "exit_year": frame["exit_year"]})
    doc = json.loads(path.read_text(encoding="utf-8-sig"))
    rows = pd.DataFrame(doc.get("results", doc))
    iso = "reporterCodeIsoAlpha3" if side == "reporter" else "PartnerCodeIsoAlpha3"
    return pd.DataFrame({"code": rows["id"].astype(int), "iso3": rows.get(iso), "name": rows["text"],
                         "entry_year": pd.to_datetime(rows.get("entryEffectiveDate"), errors="coerce").dt.year,
                         "exit_year": pd.to_datetime(rows.get("exitEffectiveDate"), errors="coerce").dt.year})


def build(partners: Path, reporters: Path) -> pd.DataFrame:
    part, rep = _read(partners, "partner"), _read(reporters, "reporter")
    table = pd.concat([part, rep[~rep["code"].isin(part["code"])]], ignore_index=True)
    table["reporter"] = table["code"].isin(rep["code"])
    for col in ("entry_year", "exit_year"):
        table[col] = table[col].astype("Int64")
    return table.sort_values("code")[["code", "iso3", "name", "reporter", "entry_year", "exit_year"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("partners", type=Path)
    parser.add_argument("reporters", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    table = build(args.partners, args.reporters)
    table.to_csv(args.out, index=False)
    print(f"{args.out}: {len(table)} areas, {int(table['reporter'].sum())} of them reporters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
