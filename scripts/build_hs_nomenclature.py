"""Rebuild data/registry/hs_nomenclature.csv: every HS 2022 chapter, heading and subheading with its description.

The names of codes outside the registry (a study of any HS code, at level 6, 4 or 2) come from this table.
Source: UN Comtrade's HS 2022 reference list as published in the Open Knowledge "datasets/harmonized-system"
data package (data/harmonized-system.csv, licence ODC-PDDL-1.0, "UN Comtrade data extraction API"), or
Comtrade's own reference file (https://comtradeapi.un.org/files/v1/app/reference/H6.json) saved locally.

    python scripts/build_hs_nomenclature.py harmonized-system.csv      # the data package's CSV
    python scripts/build_hs_nomenclature.py H6.json                    # Comtrade's reference JSON

Writes code (2, 4 or 6 digits), level, description, sorted by code; prints the counts per level.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "data" / "registry" / "hs_nomenclature.csv"


def from_package_csv(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.DataFrame({"code": raw["hscode"], "description": raw["description"]})


def from_comtrade_json(path: Path) -> pd.DataFrame:
    doc = json.loads(path.read_text(encoding="utf-8"))
    rows = doc.get("results", doc)
    frame = pd.DataFrame(rows)
    # Comtrade's text is "854231 - Electronic integrated circuits; processors ..."
    text = frame["text"].str.split(" - ", n=1).str[1].fillna(frame["text"])
    return pd.DataFrame({"code": frame["id"].astype(str), "description": text})


def build(source: Path) -> pd.DataFrame:
    table = from_comtrade_json(source) if source.suffix == ".json" else from_package_csv(source)
    table = table[table["code"].str.fullmatch(r"\d{2}|\d{4}|\d{6}")].copy()
    table["level"] = table["code"].str.len()
    table["description"] = table["description"].str.strip()
    if table["code"].duplicated().any():
        raise SystemExit(f"duplicate codes in {source}: {sorted(table.loc[table['code'].duplicated(), 'code'])[:5]}")
    return table.sort_values("code")[["code", "level", "description"]].reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the data package's CSV or Comtrade's H6.json")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    table = build(args.source)
    table.to_csv(args.out, index=False)
    counts = table["level"].value_counts().sort_index()
    print(f"{args.out}: " + ", ".join(f"{n} codes of {lvl} digits" for lvl, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
