"""Check that a gzip bomb is refused at the default cap in bounded memory (issue 12: a 1 GB bomb needed 2 GB).

Writes a gzip file that expands to ``--gib`` GiB of zeros (streamed, about 1 MiB on disk per GiB), imports it
into an empty temporary store with the default cap (``analysis.importers.MAX_EXPANDED``) and prints one line:

    expanded_gib=1.0 compressed_mib=1.0 cap_mib=512 refused=yes seconds=T peak_rss_mb=M

``peak_rss_mb`` is the process's peak resident memory (Python, pandas and the import included); the tests use
a 4 MiB cap and a 64 MiB bomb instead (tests/test_fuzz_importers.py).

Usage: python scripts/check_gzip_bomb.py [--gib 1.0]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
import zlib
from pathlib import Path

from analysis.importers import MAX_EXPANDED, FileImportError, import_files
from analysis.store import Store

BLOCK = 16 * 2**20


def write_bomb(path: Path, size: int) -> None:
    """A gzip file of ``size`` zero bytes, compressed block by block (never held in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(BLOCK)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(packer.compress(zeros[: min(BLOCK, left)]))
            left -= BLOCK
        fh.write(packer.flush())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="GiB the bomb expands to (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bomb = Path(tmp) / "bomb.csv.gz"
        write_bomb(bomb, int(args.gib * 2**30))
        began = time.monotonic()
        try:
            import_files([bomb], Store(Path(tmp) / "store"))
            refused = "no"
        except FileImportError as exc:
            refused = "yes" if "expands to more than" in str(exc) else f"other: {exc}"
        seconds = time.monotonic() - began
        compressed = bomb.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"expanded_gib={args.gib:g} compressed_mib={compressed / 2**20:.1f} cap_mib={MAX_EXPANDED // 2**20} "
          f"refused={refused} seconds={seconds:.1f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
