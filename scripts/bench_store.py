"""Benchmark of the local store and the file importers on the SYNTHETIC demo panel.

Prints wall times and row counts for: writing the panel as one chunk, reading
it back (whole and filtered), verifying the manifest against the chunks, and
importing the same panel as a bulk .gz file and as a Comtrade+-style CSV (then
reading the store, which now de-duplicates three copies of every record);
then rebuilding a lost manifest from the chunks (``repair_store``, checked to
give the same bytes), and reading a 5,000-entry manifest (made-up entries,
all checks and the checksum) once and then from the cache.

    python scripts/bench_store.py            # in a temporary store, deleted afterwards
    python scripts/bench_store.py --store DIR
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.demo import SEED, load_demo  # noqa: E402
from analysis.importers import import_files  # noqa: E402
from analysis.manifest import dumps, parse  # noqa: E402
from analysis.schema import FIELDS  # noqa: E402
from analysis.store import Store, repair_store  # noqa: E402

RESULTS: list[tuple[str, float, int]] = []


@contextmanager
def timed(label: str, rows: list[int]) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    RESULTS.append((label, time.perf_counter() - t0, rows[0] if rows else 0))


def run(root: Path) -> None:
    store = Store(root)
    n: list[int] = []
    with timed("load_demo() (synthetic panel)", n):
        panel = load_demo()
        n.append(len(panel))
    with timed("write_chunk(panel)", n):
        store.write_chunk(panel, query={"demo": "load_demo", "seed": SEED}, endpoint="demo", source="demo")
    n = []
    with timed("read() all", n):
        n.append(len(store.read()))
    n = []
    with timed("read(partners=112, start=2022)", n):
        n.append(len(store.read(partners=112, start="2022")))
    n = []
    with timed("verify()", n):
        n.append(int((store.verify()["status"] == "ok").sum()))

    work = root / "_files"
    work.mkdir(exist_ok=True)
    gz, csv_path = work / "demo_bulk.txt.gz", work / "demo_comtradeplus.csv"
    fields = [*FIELDS, "synthetic"]
    china = panel[panel["reporterCode"] == 156]  # China's own reports: files as a researcher downloads them
    china[fields].to_csv(gz, sep="\t", index=False, compression="gzip")
    china[fields].to_csv(csv_path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    n = [len(china)]
    with timed(f"import_files(bulk .gz, {gz.stat().st_size / 1e6:.1f} MB)", n):
        import_files([gz], store)
    with timed(f"import_files(CSV, {csv_path.stat().st_size / 1e6:.1f} MB)", n):
        import_files([csv_path], store)
    n = []
    with timed("read() all, 3 copies de-duplicated", n):
        back = store.read()
        n.append(len(back))
    assert len(back) == len(panel) and back["synthetic"].all()
    n = []
    with timed("re-import both files (no-op)", n):
        n.append(int((import_files([gz, csv_path], store)["status"] == "unchanged").sum()))

    n = []
    with timed("verify() after the imports (3 chunks)", n):
        n.append(int((store.verify()["status"] == "ok").sum()))
    original = store.manifest_path.read_bytes()
    store.manifest_path.unlink()
    n = []
    with timed("repair_store() of a lost manifest", n):
        n.append(int(repair_store(root)["action"].eq("listed").sum()))
    assert store.manifest_path.read_bytes() == original, "repair must rebuild the same manifest"
    big = _made_up_manifest(5000)
    n = [5000]
    with timed(f"parse a 5,000-entry manifest ({len(big) / 1e6:.1f} MB)", n):
        parse(big, root)
    (root / "big").mkdir()
    (root / "big" / "manifest.json").write_bytes(big)
    many = Store(root / "big")
    many.manifest()
    n = [5000]
    with timed("has_chunk() x 5,000 on it (cached manifest)", n):
        for cid in list(parse(big, root)[0]):
            many.has_chunk(cid)

    size = sum(p.stat().st_size for p in store.chunks_dir.iterdir()) / 1e6
    print(f"store: {root}  ({len(store.manifest())} chunks, {size:.1f} MB of Parquet)")
    print("SYNTHETIC demo panel; times are wall clock on this machine.")
    print(f"{'step':<46} {'seconds':>8} {'rows':>9}")
    for label, seconds, rows in RESULTS:
        print(f"{label:<46} {seconds:8.2f} {rows:9,d}")


def _made_up_manifest(count: int) -> bytes:
    """A manifest of ``count`` made-up entries shaped like a fetch's (no chunk files behind them)."""
    entries = {}
    query = '{"cmdCode":"854231,901310","partnerCode":"112,398","period":"202101,202102","reporterCode":"156"}'
    for i in range(count):
        cid, sha = f"{i:016x}", f"{i:064x}"
        entries[cid] = {"chunk_id": cid, "file": f"chunks/{cid}.{sha[:12]}.parquet", "source": "comtrade",
                        "endpoint": "data/v1/get/C/M/HS", "query": query, "fetched_at": "2026-01-01T00:00:00+00:00",
                        "rows": 300, "comtradeapicall_version": "1.3.2", "sha256": sha, "published": "2025-06-15",
                        "superseded_by": [], "synthetic": True,
                        "scope": {"reporterCode": [156], "partnerCode": [112, 398], "flowCode": ["X"],
                                  "freqCode": ["M"], "date_min": "2021-01-01", "date_max": "2021-02-01"}}
    return dumps(entries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="store folder to use (default: a temporary one)")
    args = parser.parse_args()
    if args.store:
        run(args.store)
    else:
        with tempfile.TemporaryDirectory(prefix="tradeflows-bench-") as tmp:
            run(Path(tmp) / "store")
    return 0


if __name__ == "__main__":
    sys.exit(main())
