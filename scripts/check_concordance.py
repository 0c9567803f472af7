"""Check the registry's HS 2017/HS 2022 families against a UNSD correlation table.

The UN Statistics Division publishes ``HS2022toHS2017ConversionAndCorrelationTables.xlsx``
(sheet "HS2022-HS2017 Correlations", one row per linked HS 2022 / HS 2017 pair).
It is not committed: download it, or use any CSV holding the same pairs in two
columns, e.g. ``generator/data/concordance_groups/from_H5_to_H6.csv`` of the
public repository harvard-growth-lab/comtrade-conversion-weights (columns
``code.target`` = HS 2022, ``code.source`` = HS 2017).

For every registry family (families.csv plus the one-code families) it checks:

* every H6 code is on the HS 2022 side of the table and every H5 code on the HS 2017 side;
* the family is exactly the connected component of its codes in the link graph, where
  - *sweep* targets are dropped: HS 2022 codes whose HS 2017 sources span more than
    ``--max-headings`` four-digit headings (in the UNSD table: 8524, 8529.90, 8541.51,
    8541.59 and 8549, which list most of chapters 84-95 as possible sources);
  - links in the family's ``excluded_links`` column are dropped (reason in ``basis``);
  - links in the family's ``extra_links`` column are added (asserted from the
    nomenclature where the table has none; reason in ``basis``).

Prints the sweep targets and one row per family; exit status 0 when every family
agrees, 1 when one does not, 2 on bad input.

Usage: python scripts/check_concordance.py PATH [--h6-col NAME --h5-col NAME] [--max-headings 5]
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict, deque
from pathlib import Path

import pandas as pd

if __package__ in (None, "") and str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from analysis import registry  # noqa: E402
from analysis.errors import InputError  # noqa: E402

FILLER = "999999"
"""UNSD pads its tables with a 999999 row; it is not a code."""

LINK = re.compile(r"^(\d{6})>(\d{6})$")


def _code(series: pd.Series) -> pd.Series:
    """Six-digit code strings: float suffixes, dots and blanks removed, leading zeros restored."""
    s = series.astype(str).str.strip().str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    return s.str.replace(".", "", regex=False).str.zfill(6)


def _pick(columns: list[str], pattern: str, given: str | None, what: str) -> str:
    if given is not None:
        if given not in columns:
            raise InputError(f"column {given!r} not in the table (columns: {', '.join(columns)})")
        return given
    hits = [c for c in columns if re.search(pattern, str(c), re.IGNORECASE)]
    if len(hits) != 1:
        raise InputError(f"cannot tell which column holds {what} codes among {columns}; name it with --h6-col/--h5-col")
    return hits[0]


def _read_xlsx(path: Path) -> pd.DataFrame:
    try:
        sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str)
    except ImportError as exc:
        raise InputError(f"reading {path.name} needs openpyxl (pip install openpyxl) or a CSV export") from exc
    names = [n for n in sheets if "correlation" in n.lower()] or list(sheets)
    raw = sheets[names[0]]
    for i in range(min(len(raw), 10)):
        row = [str(v) for v in raw.iloc[i].tolist()]
        if any("2022" in v for v in row) and any("2017" in v for v in row):
            frame = raw.iloc[i + 1:].copy()
            frame.columns = [v if v != "nan" else f"col{j}" for j, v in enumerate(row)]
            return frame
    raise InputError(f"{path.name}: no header row naming HS 2022 and HS 2017 in sheet {names[0]!r}")


def read_links(path: Path | str, h6_col: str | None = None, h5_col: str | None = None) -> pd.DataFrame:
    """The correlation table as unique ``h6, h5`` code pairs (HS 2022 code, HS 2017 code)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"correlation table not found: {path}")
    frame = _read_xlsx(path) if path.suffix.lower() in (".xlsx", ".xls") else pd.read_csv(path, dtype=str)
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    c6 = _pick(cols, r"2022|code\.target", h6_col, "HS 2022")
    c5 = _pick(cols, r"2017|code\.source", h5_col, "HS 2017")
    links = pd.DataFrame({"h6": _code(frame[c6].dropna()), "h5": _code(frame[c5].dropna())}).dropna()
    ok = links["h6"].str.fullmatch(r"\d{6}") & links["h5"].str.fullmatch(r"\d{6}")
    links = links[ok & (links["h6"] != FILLER) & (links["h5"] != FILLER)]
    if links.empty:
        raise InputError(f"{path.name}: no six-digit HS 2022 / HS 2017 code pairs found")
    return links.drop_duplicates().reset_index(drop=True)


def sweep_targets(links: pd.DataFrame, max_headings: int = 5) -> pd.DataFrame:
    """HS 2022 codes whose HS 2017 sources span more than ``max_headings`` headings: ``h6, n_headings``."""
    n = links.assign(heading=links["h5"].str[:4]).groupby("h6")["heading"].nunique()
    out = n[n > max_headings].rename("n_headings").reset_index()
    return out.sort_values("h6").reset_index(drop=True)


def _parse_links(text: str, family_id: str, column: str) -> set[tuple[str, str]]:
    pairs = set()
    for token in str(text or "").split():
        m = LINK.match(token)
        if not m:
            raise InputError(f"family {family_id}: {column} entry {token!r} is not H5>H6 (two six-digit codes)")
        pairs.add((m.group(1), m.group(2)))
    return pairs


def registry_families() -> pd.DataFrame:
    """Registry families with their documented ``excluded_links`` and ``extra_links`` (empty when none)."""
    fams = registry.families()
    raw = pd.read_csv(registry.registry_dir() / "families.csv", dtype=str, keep_default_na=False)
    extra_cols = [c for c in ("excluded_links", "extra_links") if c in raw.columns]
    fams = fams.merge(raw[["family_id", *extra_cols]], on="family_id", how="left")
    for c in ("excluded_links", "extra_links"):
        fams[c] = fams[c].fillna("") if c in fams else ""
    return fams


def _components(edges: set[tuple[str, str]]) -> dict[str, int]:
    """Connected-component id of every node; nodes are 'H5:code' and 'H6:code'."""
    adj: dict[str, set[str]] = defaultdict(set)
    for h5, h6 in edges:
        adj["H5:" + h5].add("H6:" + h6)
        adj["H6:" + h6].add("H5:" + h5)
    comp: dict[str, int] = {}
    for start in adj:
        if start in comp:
            continue
        cid = len(comp)
        comp[start] = cid
        queue = deque([start])
        while queue:
            for nxt in adj[queue.popleft()]:
                if nxt not in comp:
                    comp[nxt] = cid
                    queue.append(nxt)
    return comp


def check_families(links: pd.DataFrame, families: pd.DataFrame, max_headings: int = 5) -> pd.DataFrame:
    """One row per family: ``family_id, status, table_only, family_only, unknown, note``.

    ``status`` is ``ok`` when the family is exactly one connected component;
    ``differs`` when the component holds codes the family lacks (``table_only``) or
    the family's codes are not all linked together (``family_only`` lists codes with
    no remaining link, ``note`` says into how many parts the family falls);
    ``unknown code`` when a family code is missing from its side of the table.
    Codes are written ``H5:xxxxxx`` / ``H6:xxxxxx``.
    """
    sweeps = set(sweep_targets(links, max_headings)["h6"])
    base = {(r.h5, r.h6) for r in links.itertuples() if r.h6 not in sweeps}
    known_h5, known_h6 = set(links["h5"]), set(links["h6"])
    excluded, extra = set(), set()
    for f in families.itertuples():
        excluded |= _parse_links(f.excluded_links, f.family_id, "excluded_links")
        extra |= _parse_links(f.extra_links, f.family_id, "extra_links")
    comp = _components((base - excluded) | extra)
    members: dict[int, set[str]] = defaultdict(set)
    for node, cid in comp.items():
        members[cid].add(node)

    rows = []
    for f in families.itertuples():
        nodes = {"H5:" + c for c in f.h5_codes.split()} | {"H6:" + c for c in f.h6_codes.split()}
        unknown = sorted({n for n in nodes if n.startswith("H5:") and n[3:] not in known_h5}
                         | {n for n in nodes if n.startswith("H6:") and n[3:] not in known_h6})
        cids = {comp[n] for n in nodes if n in comp}
        reached = set().union(*(members[c] for c in cids)) if cids else set()
        table_only = sorted(reached - nodes)
        isolated = sorted(n for n in nodes if n not in comp)
        connected = not isolated and len(cids) == 1
        note = "" if connected else f"family codes fall in {len(cids) + len(isolated)} unlinked parts"
        status = "unknown code" if unknown else ("ok" if connected and not table_only else "differs")
        rows.append({"family_id": f.family_id, "status": status, "table_only": " ".join(table_only),
                     "family_only": " ".join(isolated), "unknown": " ".join(unknown), "note": note})
    return pd.DataFrame(rows, columns=["family_id", "status", "table_only", "family_only", "unknown", "note"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path, help="UNSD HS2022-HS2017 correlation table (.xlsx) or a CSV of code pairs")
    parser.add_argument("--h6-col", help="column holding HS 2022 codes (default: the one named *2022* or code.target)")
    parser.add_argument("--h5-col", help="column holding HS 2017 codes (default: the one named *2017* or code.source)")
    parser.add_argument("--max-headings", type=int, default=5,
                        help="an HS 2022 code drawing from more headings than this is a sweep (default 5)")
    args = parser.parse_args(argv)
    try:
        links = read_links(args.table, args.h6_col, args.h5_col)
        sweeps = sweep_targets(links, args.max_headings)
        result = check_families(links, registry_families(), args.max_headings)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(links)} links, {links['h6'].nunique()} HS 2022 and {links['h5'].nunique()} HS 2017 codes")
    print(f"{len(sweeps)} sweep targets (sources in > {args.max_headings} headings), dropped: "
          + " ".join(f"{r.h6}({r.n_headings})" for r in sweeps.itertuples()))
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 120, "display.width", 200):
        print(result.to_string(index=False))
    bad = result[result["status"] != "ok"]
    print(f"{len(result)} families: {len(result) - len(bad)} ok, {len(bad)} not ok")
    return 1 if len(bad) else 0


if __name__ == "__main__":
    sys.exit(main())
