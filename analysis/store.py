"""The local store: validated Comtrade records as Parquet chunks in one folder, listed by a manifest.

Layout of a store folder (``root``, see :func:`default_store_dir`)::

    root/manifest.json                       one entry per chunk (Store.manifest), with its own checksum
    root/chunks/<chunk_id>.<sha12>.parquet   the tidy record frame of one query or imported file
    root/quarantine/                         files the store set aside rather than delete (see below)
    root/.lock                               taken while the store is written

A *chunk* is what one query (API call or imported file) returned, coerced by
:func:`analysis.schema.coerce_records`; a chunk with no rows is kept too (the
query has no data, so a re-run needs no call). Its id is a hash of the
normalized query (:meth:`Store.chunk_id`), which never holds an API key.
Each chunk file carries its own provenance (query, source, endpoint, fetch
and publication dates, rows, synthetic flag) as Parquet key-value metadata,
so the manifest can be rebuilt from the chunks (:func:`repair_store`,
``tradeflows store --repair``). The manifest's format and checks are in
:mod:`analysis.manifest`: a damaged manifest (bad bytes or JSON, a missing
field, an entry edited, added or removed, a file outside the store) raises
:class:`ManifestError`, one line with the repair command, on every use; a
store with chunk files and no manifest is damaged, never empty.

Every write is a transaction (:meth:`Store.transaction`): the Parquet files go
to temporary files, are fsynced and renamed, and only then is the manifest
replaced the same way. The manifest replacement is the commit: an
interrupted or failed write (a full disk included: :class:`DiskFullError`)
leaves the previous store as it was; several writes grouped in one
transaction (a multi-file import) commit together or not at all.

Nothing is deleted that the store cannot prove it wrote and no longer needs:
the file of a refreshed or removed chunk is deleted only when it still
matches its checksum; chunk files the manifest does not list (left by a
write killed before its commit) are moved to ``quarantine/``, never removed,
as is anything damaged that a repair sets aside; only temporary files of the
store's own atomic writes are deleted (under the lock, so their writer is
dead). Files of other names are left alone.

:meth:`Store.read` returns one tidy record frame (the columns and dtypes of
:data:`analysis.schema.COLUMNS`: the 47 Comtrade fields, ``period_date``,
``synthetic``) de-duplicated on :data:`analysis.schema.KEY`: when two chunks
hold the same cell, the record from the chunk with the later publication date
wins (an unknown publication date counts as older than any known one), then
the later fetch. The manifest's ``superseded_by`` names, for each chunk, the
chunks that replaced at least one of its records. A chunk whose file is
missing, no longer matches its checksum or holds another number of rows is
refused by :meth:`Store.read` and reported by :meth:`Store.verify`, which
also reports chunk files the manifest does not list.

Concurrent writers are serialized by an exclusive ``flock`` on ``root/.lock``
(POSIX; on other systems only threads of one process are serialized).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import threading
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._io import DiskFullError, atomic_write, disk_full_is_an_error
from .errors import InputError
from .manifest import (
    CHUNK_ID,
    CHUNK_NAME,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    PROVENANCE_FIELDS,
    TMP_NAME,
    ManifestError,
    StoreError,
    chunk_file,
    chunk_path,
    dumps,
    parse,
    parse_loose,
    provenance_metadata,
    read_provenance,
    repair_command,
)
from .periods import parse_period
from .provenance import COVERAGE_COLUMNS, coverage_of
from .schema import COLUMNS, EXTRA, FIELDS, KEY, coerce_records, empty_records, query_id, query_text

try:  # POSIX only: cross-process lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["Store", "StoreError", "ManifestError", "ChecksumError", "DiskFullError", "default_store_dir",
           "repair_store", "MANIFEST_COLUMNS", "VERIFY_COLUMNS", "REPAIR_COLUMNS"]

MANIFEST_COLUMNS = ["chunk_id", "file", "source", "endpoint", "query", "fetched_at", "rows",
                    "comtradeapicall_version", "sha256", "published", "superseded_by", "synthetic"]
"""Columns of :meth:`Store.manifest` (``synthetic``: the chunk holds synthetic rows)."""

VerifyStatus = Literal["ok", "missing", "checksum_mismatch", "rows_mismatch", "manifest_mismatch", "unreadable",
                       "outside_store", "orphan", "foreign"]
VERIFY_COLUMNS = ["chunk_id", "file", "status", "detail"]
"""Columns of :meth:`Store.verify`; ``status`` is a :data:`VerifyStatus`."""

RepairAction = Literal["listed", "listed_legacy", "dropped", "quarantined", "removed_temporary", "left_alone"]
REPAIR_COLUMNS = ["chunk_id", "file", "action", "detail"]
"""Columns of :func:`repair_store`; ``action`` is a :data:`RepairAction`."""

QUARANTINE = "quarantine"
PARQUET_COMPRESSION = "zstd"
_DTYPES = {**FIELDS, **EXTRA}
_SCOPE_COLUMNS = ["reporterCode", "partnerCode", "flowCode", "freqCode", "period_date"]
_REPAIR_READ = [c for c in COLUMNS if c in {*KEY, *_SCOPE_COLUMNS, "synthetic"}]
_LEGACY_DEFAULTS: dict[str, Any] = {"source": "unknown (rebuilt by repair)", "endpoint": "unknown", "query": None,
                                    "published": None, "comtradeapicall_version": None}

_THREAD_LOCK = threading.RLock()


class ChecksumError(StoreError):
    """A chunk's file is missing or no longer matches the checksum (or row count) in the manifest."""


# --------------------------------------------------------------------------- where the store lives

def _checkout_root(package_dir: Path | None = None) -> Path | None:
    """The project folder when the package (``package_dir``, default: this one) runs from a source
    checkout, else None. A checkout is recognised by a ``pyproject.toml`` naming the project
    ``tradeflows`` beside the package folder.
    """
    top = (package_dir or Path(__file__).resolve().parent).parent
    try:
        doc = tomllib.loads((top / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    return top if doc.get("project", {}).get("name") == "tradeflows" else None


def default_store_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The store folder: ``root`` if given; else ``$TRADEFLOWS_HOME/store``; else ``<checkout>/data/store``
    when running from a source checkout; else ``<user data dir>/tradeflows/store`` (platformdirs).

    ``TRADEFLOWS_HOME`` names a tradeflows home folder (which may hold more
    than the store), so the store is its ``store`` subfolder.
    """
    if root is not None and str(root).strip():
        return Path(root).expanduser().absolute()
    home = os.environ.get("TRADEFLOWS_HOME", "").strip()
    if home:
        return Path(home).expanduser().absolute() / "store"
    checkout = _checkout_root()
    if checkout is not None:
        return checkout / "data" / "store"
    import platformdirs

    return Path(platformdirs.user_data_dir("tradeflows", appauthor=False)) / "store"


# --------------------------------------------------------------------------- small helpers

def _query_text(query: Mapping[str, Any]) -> str:
    return query_text(query, error=StoreError)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _timestamp(text: str | None) -> pd.Timestamp:
    """A publication/fetch time as a naive UTC timestamp (missing -> the earliest time)."""
    if text is None:
        return pd.Timestamp.min
    ts = pd.Timestamp(text)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _check_published(published: str | None) -> str | None:
    if published is None or str(published).strip() == "":
        return None
    text = str(published).strip()
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts):
        raise InputError(f"publication date {text!r} is not a date")
    return text


def _rank(entry: Mapping[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """Order of precedence of chunks: later publication, then later fetch, then chunk id."""
    return _timestamp(entry.get("published")), _timestamp(entry["fetched_at"]), entry["chunk_id"]


def _comtradeapicall_version() -> str | None:
    try:
        return metadata.version("comtradeapicall")
    except metadata.PackageNotFoundError:
        return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _to_records(records: pd.DataFrame, source: str) -> pd.DataFrame:
    """The tidy record frame of ``records`` (an empty frame is a valid, empty chunk)."""
    if isinstance(records, pd.DataFrame) and len(records) == 0:
        frame = empty_records()
        if "synthetic" in records.columns:
            frame.attrs["synthetic"] = bool(records.attrs.get("synthetic", False))
        return frame
    return coerce_records(records, source=source)


def _parquet_bytes(frame: pd.DataFrame, provenance: Mapping[bytes, bytes]) -> bytes:
    """The chunk file of ``frame``, carrying ``provenance`` as Parquet key-value metadata."""
    table = pa.Table.from_pandas(frame[COLUMNS], preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **provenance})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=PARQUET_COMPRESSION)
    return buf.getvalue()


def _with_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    wrong = {c: t for c, t in _DTYPES.items() if c in frame.columns and str(frame[c].dtype) != t}
    return frame.astype(wrong) if wrong else frame


def _key_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per record of its KEY fields (frames must carry the schema dtypes)."""
    if len(frame) == 0:
        return np.empty(0, dtype=np.uint64)
    return np.unique(pd.util.hash_pandas_object(_with_dtypes(frame[KEY]), index=False).to_numpy())


def _scope(frame: pd.DataFrame) -> dict[str, Any]:
    """What a chunk covers, kept in the manifest to skip chunks cheaply (reads, supersession)."""
    if len(frame) == 0:
        return {}
    return {
        "reporterCode": sorted(int(v) for v in frame["reporterCode"].dropna().unique()),
        "partnerCode": sorted(int(v) for v in frame["partnerCode"].dropna().unique()),
        "flowCode": sorted(str(v) for v in frame["flowCode"].dropna().unique()),
        "freqCode": sorted(str(v) for v in frame["freqCode"].dropna().unique()),
        "date_min": frame["period_date"].min().date().isoformat(),
        "date_max": frame["period_date"].max().date().isoformat(),
    }


def _scopes_overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if not a or not b:
        return False
    for field in ("reporterCode", "partnerCode", "flowCode", "freqCode"):
        if not set(a[field]) & set(b[field]):
            return False
    return a["date_min"] <= b["date_max"] and b["date_min"] <= a["date_max"]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (str, int, np.integer)):
        return [value]
    return list(value)


# --------------------------------------------------------------------------- read filters

class _Filter:
    """The filters of :meth:`Store.read`, validated, as an Arrow expression and a scope test."""

    def __init__(self, reporters: Any, partners: Any, flows: Any, freq: Any, start: Any, end: Any) -> None:
        self.parts: list[pc.Expression] = []
        self.codes: dict[str, set[int] | None] = {}
        for field, iso_field, value in (("reporterCode", "reporterISO", reporters),
                                        ("partnerCode", "partnerISO", partners)):
            self.codes[field] = None
            if value is None:
                continue
            codes, isos = set(), set()
            values = _as_list(value)
            if not values:
                raise InputError(f"{field}: an empty list selects nothing (leave it out to read all)")
            for v in values:
                text = str(v).strip()
                if re.fullmatch(r"\d{1,4}", text):
                    codes.add(int(text))
                elif re.fullmatch(r"[A-Za-z]{3}", text):
                    isos.add(text.upper())
                else:
                    raise InputError(f"{field}: {v!r} is neither a Comtrade area code nor an ISO3 code")
            expr = pc.field(field).isin(sorted(codes)) if codes else None
            if isos:
                by_iso = pc.field(iso_field).isin(sorted(isos))
                expr = by_iso if expr is None else (expr | by_iso)
            else:
                self.codes[field] = codes
            self.parts.append(expr)
        self.flows = self._text_set("flowCode", flows, {"X", "M", "RX", "RM", "DX", "FM"})
        self.freqs = self._text_set("freqCode", freq, {"A", "M"})
        self.start = parse_period(start) if start is not None else None
        self.end = parse_period(end, end=True) if end is not None else None
        if self.start is not None and self.end is not None and self.start > self.end:
            raise InputError(f"period range {start} to {end} is reversed")
        if self.start is not None:
            start = pa.scalar(self.start.as_unit("ns").to_datetime64(), pa.timestamp("ns"))
            self.parts.append(pc.field("period_date") >= start)
        if self.end is not None:
            end = pa.scalar(self.end.as_unit("ns").to_datetime64(), pa.timestamp("ns"))
            self.parts.append(pc.field("period_date") <= end)

    def _text_set(self, field: str, value: Any, allowed: set[str]) -> set[str] | None:
        if value is None:
            return None
        wanted = {str(v).strip().upper() for v in _as_list(value)}
        if not wanted:
            raise InputError(f"{field}: an empty list selects nothing (leave it out to read all)")
        bad = wanted - allowed
        if bad:
            raise InputError(f"{field}: unknown value(s) {', '.join(sorted(bad))} "
                             f"(expected {', '.join(sorted(allowed))})")
        self.parts.append(pc.field(field).isin(sorted(wanted)))
        return wanted

    @property
    def expression(self) -> pc.Expression | None:
        expr = None
        for part in self.parts:
            expr = part if expr is None else (expr & part)
        return expr

    def may_match(self, scope: Mapping[str, Any]) -> bool:
        """False when the chunk's scope rules out every row (the chunk need not be read)."""
        if not scope:
            return False
        for field, wanted in self.codes.items():
            if wanted is not None and not wanted & set(scope[field]):
                return False
        if self.flows is not None and not self.flows & set(scope["flowCode"]):
            return False
        if self.freqs is not None and not self.freqs & set(scope["freqCode"]):
            return False
        if self.start is not None and pd.Timestamp(scope["date_max"]) < self.start:
            return False
        if self.end is not None and pd.Timestamp(scope["date_min"]) > self.end:
            return False
        return True


# --------------------------------------------------------------------------- transactions

@dataclass
class _Txn:
    """The pending state of one transaction: entries to commit, files written, files to discard after the commit."""

    entries: dict[str, dict[str, Any]]
    committed_files: set[str]
    written: list[str] = dataclasses.field(default_factory=list)
    discard: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (file, sha256) replaced/removed
    changed: bool = False


_TXNS: dict[tuple[int, str], _Txn] = {}
"""Open transactions by (thread, real store folder): every Store of that folder in that thread joins them."""


# --------------------------------------------------------------------------- the store

class Store:
    """A folder of validated Comtrade record chunks with a manifest (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root: Path = default_store_dir(root)
        self._cache: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = None

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ------------------------------------------------------------------ ids and paths

    @staticmethod
    def chunk_id(query: dict) -> str:
        """Stable 16-hex-digit id of a query: the same query (any key order, list order, int or
        text values) gives the same id. A field named like an API key is refused."""
        return query_id(query, error=StoreError)

    @property
    def chunks_dir(self) -> Path:
        return self.root / "chunks"

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def quarantine_dir(self) -> Path:
        """Where the store moves files it will not use but may not delete (see the module docstring)."""
        return self.root / QUARANTINE

    @staticmethod
    def _check_id(chunk_id: str) -> str:
        if not isinstance(chunk_id, str) or not CHUNK_ID.fullmatch(chunk_id):
            raise StoreError(f"malformed chunk id {chunk_id!r} (expected 16 hex digits)")
        return chunk_id

    def _chunk_names(self) -> list[Path]:
        """Entries of ``chunks/`` named like the store's chunk files (sorted)."""
        try:
            return sorted(p for p in self.chunks_dir.iterdir() if CHUNK_NAME.fullmatch(p.name))
        except (FileNotFoundError, NotADirectoryError):
            return []

    # ------------------------------------------------------------------ manifest

    def _txn_key(self) -> tuple[int, str]:
        return threading.get_ident(), os.path.realpath(self.root)

    def _load(self, *, private: bool = False) -> dict[str, dict[str, Any]]:
        """The checked manifest entries (the pending ones inside a transaction); {} for a store not yet written.

        The parsed manifest is kept until the file changes, so callers must not
        change what they get, unless they ask for a ``private`` copy. Raises
        ManifestError when the manifest is damaged, or missing while chunk files exist.
        """
        txn = _TXNS.get(self._txn_key())
        if txn is not None and not private:
            return txn.entries
        try:
            stat = self.manifest_path.stat()
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if not private and self._cache is not None and self._cache[0] == seen:
                return self._cache[1]
            data = self.manifest_path.read_bytes()
        except FileNotFoundError:
            found = self._chunk_names()
            if found:
                raise ManifestError(
                    f"the store at {self.root} holds {len(found)} chunk file(s) but no {MANIFEST_NAME}: it is "
                    f"damaged, not empty; run `{repair_command(self.root)}` to rebuild the manifest from the "
                    "chunks") from None
            return {}
        except OSError as exc:
            raise StoreError(f"cannot read the store manifest {self.manifest_path}: {exc}") from None
        entries = parse(data, self.root)[0]
        if not private:
            self._cache = (seen, entries)
        return entries

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive write access to the store (threads and, on POSIX, processes).

        A ``chunks`` folder that is a link is refused: writes and clean-ups never leave the store.
        """
        if self.chunks_dir.is_symlink():
            raise StoreError(f"{self.chunks_dir} is a link: the store writes only inside its own folder; "
                             "replace the link by the folder it points to")
        self.chunks_dir.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCK, open(self.root / ".lock", "a+b") as fh:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: every :meth:`write_chunk` and :meth:`remove_chunk` inside (by any Store of this
        folder, in this thread) commits with one manifest replacement at the end, or none does.

        On any error (a full disk raises :class:`DiskFullError`) the chunk files
        written inside are removed and the store is as it was. The store stays
        locked for other writers until the end. Nested transactions join the
        outer one.
        """
        key = self._txn_key()
        if key in _TXNS:
            yield
            return
        with disk_full_is_an_error(f"writing the store at {self.root}"), self._locked():
            created = not self.manifest_path.exists()
            entries = self._load(private=True)
            if created:  # a store's first write: an empty manifest first, so chunks never lie about without one
                self._save({})
            txn = _Txn(entries=entries, committed_files={e["file"] for e in entries.values()})
            self._sweep(txn.committed_files)
            _TXNS[key] = txn
            try:
                yield
                if txn.changed:
                    self._save(txn.entries)
            except BaseException:
                for file in txn.written:
                    with suppress(OSError):
                        (self.root / file).unlink()
                if created:
                    with suppress(OSError):
                        self.manifest_path.unlink()
                raise
            finally:
                del _TXNS[key]
            for file, sha in txn.discard:
                self._discard(file, sha)

    def _save(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        atomic_write(self.manifest_path, dumps(entries))

    def _quarantine(self, path: Path) -> Path:
        """Move ``path`` into ``quarantine/`` (a rename on the same file system, never a copy and delete)."""
        self.quarantine_dir.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        dest, n = self.quarantine_dir / f"{stamp}.{path.name}", 1
        while dest.exists() or dest.is_symlink():
            dest, n = self.quarantine_dir / f"{stamp}.{n}.{path.name}", n + 1
        os.rename(path, dest)
        return dest

    def _discard(self, file: str, sha256: str) -> None:
        """Delete a chunk file the store no longer needs if it provably wrote it (it matches ``sha256``);
        quarantine it otherwise."""
        try:
            path = chunk_path(self.root, file)
            data = path.read_bytes()
        except (StoreError, OSError):
            return  # gone already, or a link out of the store: never followed
        with suppress(OSError):
            if _sha256(data) == sha256:
                path.unlink()
            else:
                self._quarantine(path)

    def _sweep(self, listed_files: set[str]) -> None:
        """Under the lock: delete temporary files of the store's own killed writes, quarantine chunk files the
        manifest does not list (a write killed before its commit). Other files are left alone."""
        listed = {Path(f).name for f in listed_files}
        for folder in (self.chunks_dir, self.root):
            for path in sorted(folder.iterdir()):
                if path.is_symlink() or not path.is_file():
                    continue
                if TMP_NAME.fullmatch(path.name):
                    with suppress(OSError):
                        path.unlink()
                elif folder == self.chunks_dir and CHUNK_NAME.fullmatch(path.name) and path.name not in listed:
                    with suppress(OSError):
                        self._quarantine(path)

    def manifest(self) -> pd.DataFrame:
        """One row per chunk (columns ``MANIFEST_COLUMNS``), in fetch order.

        ``query`` is the normalized query as JSON text (never a key; missing for
        an old chunk whose query a repair could not recover); ``fetched_at`` is
        UTC ISO 8601; ``superseded_by`` lists, comma-separated, the chunks that
        replaced at least one record of this chunk (missing if none).
        """
        rows = [{c: e.get(c) for c in MANIFEST_COLUMNS} for e in self._load().values()]
        for row in rows:
            row["superseded_by"] = ",".join(row["superseded_by"]) if row["superseded_by"] else None
            row["synthetic"] = bool(row["synthetic"])
        frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
        frame["rows"] = frame["rows"].astype("int64")
        frame["synthetic"] = frame["synthetic"].astype(bool)
        frame = frame.sort_values(["fetched_at", "chunk_id"], ignore_index=True)
        frame.attrs["synthetic"] = bool(frame["synthetic"].any())
        return frame

    # ------------------------------------------------------------------ chunk state

    def _read_chunk(self, entry: Mapping[str, Any]) -> tuple[VerifyStatus, bytes | None]:
        """The bytes of an entry's chunk file and whether they match its checksum."""
        try:
            data = chunk_path(self.root, entry["file"]).read_bytes()
        except StoreError:
            return "outside_store", None
        except FileNotFoundError:
            return "missing", None
        except OSError:
            return "unreadable", None
        return ("ok" if _sha256(data) == entry["sha256"] else "checksum_mismatch"), data

    def has_chunk(self, chunk_id: str) -> bool:
        """True when the chunk is in the manifest, its file exists and matches its checksum."""
        entry = self._load().get(self._check_id(chunk_id))
        return entry is not None and self._read_chunk(entry)[0] == "ok"

    def chunk_published(self, chunk_id: str) -> str | None:
        """The publication date recorded for a chunk (as given to write_chunk), or None."""
        entry = self._load().get(self._check_id(chunk_id))
        return None if entry is None else entry.get("published")

    def _check_chunk(self, entry: Mapping[str, Any]) -> tuple[VerifyStatus, str]:
        """Status and detail of one manifest entry checked against its chunk file."""
        status, data = self._read_chunk(entry)
        if status != "ok" or data is None:
            return status, {"missing": "the file is missing: re-fetch or re-import it",
                            "outside_store": "the file is a link leading out of the store: refused",
                            "unreadable": "the file cannot be read",
                            }.get(status, "the file no longer matches its checksum: re-fetch or re-import it")
        try:
            parquet = pq.ParquetFile(pa.BufferReader(data))
            provenance = read_provenance(parquet.schema_arrow.metadata)
        except (pa.ArrowException, ValueError) as exc:
            return "unreadable", " ".join(str(exc).split())
        rows = parquet.metadata.num_rows
        if rows != entry["rows"]:
            return "rows_mismatch", f"the manifest says {entry['rows']} rows, the chunk holds {rows}"
        if provenance is None:
            return "ok", "written before chunks carried provenance: checksum and rows checked"
        differ = [f for f in PROVENANCE_FIELDS if provenance[f] != entry.get(f)]
        if differ:
            return "manifest_mismatch", "the manifest and the chunk's own provenance differ in " + ", ".join(differ)
        return "ok", ""

    def verify(self) -> pd.DataFrame:
        """The manifest checked against the chunks both ways (columns ``VERIFY_COLUMNS``).

        One row per manifest entry (status ``ok``, ``missing``,
        ``checksum_mismatch``, ``rows_mismatch``, ``manifest_mismatch``: the
        entry disagrees with the provenance its chunk carries, ``unreadable``,
        ``outside_store``), then one per file in ``chunks/`` the manifest does
        not list (``orphan``: a chunk file of this store; ``foreign``: any other
        file, left alone). Raises ManifestError when the manifest itself is damaged.
        """
        entries = self._load()
        rows = []
        for cid, entry in sorted(entries.items()):
            status, detail = self._check_chunk(entry)
            rows.append({"chunk_id": cid, "file": entry["file"], "status": status, "detail": detail})
        listed = {Path(e["file"]).name for e in entries.values()}
        if self.chunks_dir.is_dir():
            for path in sorted(self.chunks_dir.iterdir()):
                match = CHUNK_NAME.fullmatch(path.name)
                if path.name in listed or TMP_NAME.fullmatch(path.name):
                    continue
                if match and path.is_file() and not path.is_symlink():
                    rows.append({"chunk_id": match["chunk_id"], "file": f"chunks/{path.name}", "status": "orphan",
                                 "detail": "a chunk file the manifest does not list: "
                                           f"`{repair_command(self.root)}` adopts or quarantines it"})
                else:
                    rows.append({"chunk_id": None, "file": f"chunks/{path.name}", "status": "foreign",
                                 "detail": "not a file this store writes: left alone"})
        return pd.DataFrame(rows, columns=VERIFY_COLUMNS)

    # ------------------------------------------------------------------ writing

    def write_chunk(self, records: pd.DataFrame, *, query: dict, endpoint: str, source: str,
                    published: str | None = None) -> dict:
        """Validate ``records`` and store them as the chunk of ``query``; return its manifest entry.

        Records are coerced by :func:`analysis.schema.coerce_records` (a
        SchemaError propagates and nothing is written). Writing the same query
        again replaces its chunk (a refresh). An empty frame is a valid chunk.
        A full disk raises :class:`DiskFullError` and leaves the store as it was.
        """
        chunk_id = self.chunk_id(query)
        entry: dict[str, Any] = {
            "chunk_id": chunk_id, "source": str(source), "endpoint": str(endpoint), "query": _query_text(query),
            "fetched_at": _utc_now(), "comtradeapicall_version": _comtradeapicall_version(),
            "published": _check_published(published), "superseded_by": [],
        }
        frame = _to_records(records, source)
        entry["rows"] = int(len(frame))
        entry["synthetic"] = bool(frame["synthetic"].any()) if len(frame) else bool(frame.attrs.get("synthetic"))
        data = _parquet_bytes(frame, provenance_metadata(entry))
        entry["sha256"] = _sha256(data)
        entry["file"] = chunk_file(chunk_id, entry["sha256"])
        entry["scope"] = _scope(frame)
        keys = _key_hashes(frame)
        with self.transaction():
            txn = _TXNS[self._txn_key()]
            old = txn.entries.get(chunk_id)
            atomic_write(self.root / entry["file"], data)
            if entry["file"] not in txn.committed_files:
                txn.written.append(entry["file"])
            if old is not None and old["file"] != entry["file"]:
                self._forget_file(txn, old)
            self._link(txn.entries, entry, keys)
            txn.entries[chunk_id] = entry
            txn.changed = True
        return {k: v for k, v in entry.items() if k != "scope"}

    def _forget_file(self, txn: _Txn, old: Mapping[str, Any]) -> None:
        """The file of a replaced or removed chunk: deleted now if this transaction wrote it, else after the commit."""
        if old["file"] in txn.written:
            txn.written.remove(old["file"])
            with suppress(OSError):
                (self.root / old["file"]).unlink()
        else:
            txn.discard.append((old["file"], old["sha256"]))

    def _chunk_keys(self, entry: Mapping[str, Any]) -> np.ndarray | None:
        """KEY hashes of a stored chunk (None if its file cannot be read: verify reports it)."""
        try:
            table = pq.read_table(chunk_path(self.root, entry["file"]), columns=KEY)
        except (OSError, pa.ArrowException, StoreError):
            return None
        return _key_hashes(table.to_pandas())

    def _link(self, entries: dict[str, dict[str, Any]], new: dict[str, Any], keys: np.ndarray) -> None:
        """Update ``superseded_by`` in ``entries`` for the chunk ``new`` (replacing any older version)."""
        cid = new["chunk_id"]
        for entry in entries.values():
            if cid in entry.get("superseded_by", []):
                entry["superseded_by"] = [c for c in entry["superseded_by"] if c != cid]
        new_rank = _rank(new)
        for other_id, other in entries.items():
            if other_id == cid or not _scopes_overlap(new["scope"], other.get("scope", {})):
                continue
            other_keys = self._chunk_keys(other)
            if other_keys is None or not np.intersect1d(keys, other_keys, assume_unique=True).size:
                continue
            loser, winner = (other, cid) if new_rank > _rank(other) else (new, other_id)
            loser["superseded_by"] = sorted({*loser.get("superseded_by", []), winner})

    def remove_chunk(self, chunk_id: str) -> None:
        """Remove a chunk (its manifest entry, then its file), e.g. to re-fetch a damaged one.

        Chunks it had superseded count again. Its file is deleted if it still
        matches its checksum, else moved to ``quarantine/``. Raises StoreError
        if the manifest has no such chunk.
        """
        self._check_id(chunk_id)
        if chunk_id not in self._load():
            raise StoreError(f"no chunk {chunk_id} in the store at {self.root}")
        with self.transaction():
            txn = _TXNS[self._txn_key()]
            entry = txn.entries.pop(chunk_id, None)
            if entry is None:  # removed by another writer meanwhile
                raise StoreError(f"no chunk {chunk_id} in the store at {self.root}")
            for other in txn.entries.values():
                if chunk_id in other.get("superseded_by", []):
                    other["superseded_by"] = [c for c in other["superseded_by"] if c != chunk_id]
            self._forget_file(txn, entry)
            txn.changed = True

    # ------------------------------------------------------------------ reading

    def read(self, *, reporters: Iterable[int | str] | int | str | None = None,
             partners: Iterable[int | str] | int | str | None = None,
             flows: Iterable[str] | str | None = None, freq: Iterable[str] | str | None = None,
             start: str | None = None, end: str | None = None) -> pd.DataFrame:
        """All stored records as one tidy record frame, de-duplicated on ``KEY`` (see the module docstring).

        Filters (all optional, combined with AND): ``reporters``/``partners`` as
        Comtrade area codes or ISO3 codes; ``flows`` ("X", "M", ...); ``freq``
        ("A"/"M"); ``start``/``end`` as ``YYYY`` or ``YYYY-MM``, keeping records
        whose ``period_date`` (first day of the period) lies in the range.
        Raises StoreError on an empty store, ManifestError on a damaged one and
        ChecksumError when a chunk that would be read is missing or damaged.
        """
        entries = self._load()
        if not entries:
            raise StoreError(f"store at {self.root} is empty: run tradeflows fetch or tradeflows import first")
        flt = _Filter(reporters, partners, flows, freq, start, end)
        expr = flt.expression
        tables = []
        for entry in sorted(entries.values(), key=_rank):
            if not flt.may_match(entry.get("scope", {})):
                continue
            status, data = self._read_chunk(entry)
            table = pq.read_table(pa.BufferReader(data)) if status == "ok" and data is not None else None
            if table is None or table.num_rows != entry["rows"]:
                what = (f"holds {table.num_rows} rows, not the {entry['rows']} the manifest says" if table is not None
                        else {"missing": "is missing", "outside_store": "leads out of the store",
                              "unreadable": "cannot be read"}.get(status, "no longer matches its checksum"))
                raise ChecksumError(
                    f"chunk {entry['chunk_id']} ({entry['file']}, {entry['source']}) {what}: it is not used; "
                    "run `tradeflows store --verify` and re-fetch or re-import it")
            tables.append(table.filter(expr) if expr is not None else table)
        if not tables:
            return empty_records()
        frame = _with_dtypes(pa.concat_tables(tables).to_pandas())
        if len(tables) > 1 or frame.duplicated(KEY).any():
            frame = frame.drop_duplicates(KEY, keep="last", ignore_index=True)
        frame = frame[COLUMNS].reset_index(drop=True)
        frame.attrs["synthetic"] = bool(frame["synthetic"].any())
        return frame

    def coverage(self) -> pd.DataFrame:
        """What the store holds: one row per reporter, partner, flow, frequency and HS edition
        (``COVERAGE_COLUMNS``), with the first and last period and the number of records."""
        cov = coverage_of(self.read()) if self._load() else pd.DataFrame(columns=COVERAGE_COLUMNS)
        cov.attrs["synthetic"] = bool(cov["synthetic"].any())
        return cov


# --------------------------------------------------------------------------- repair

@dataclass
class _Scanned:
    """A chunk file found by a repair, with what it says about itself and what its records cover."""

    path: Path
    chunk_id: str
    sha256: str
    rows: int
    provenance: dict[str, Any] | None
    keys: np.ndarray
    scope: dict[str, Any]
    synthetic: bool
    mtime: str

    @property
    def file(self) -> str:
        return chunk_file(self.chunk_id, self.sha256)

    @property
    def fetched_at(self) -> str:
        return self.provenance["fetched_at"] if self.provenance else self.mtime


def _scan(path: Path) -> _Scanned | str:
    """What a chunk file holds, or why it cannot be used (a one-line reason)."""
    match = CHUNK_NAME.fullmatch(path.name)
    assert match is not None  # the caller picks chunk files by name
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    sha = _sha256(data)
    if sha[:12] != match["sha12"]:
        return "its content no longer matches the checksum in its name"
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        provenance = read_provenance(parquet.schema_arrow.metadata)
        frame = _with_dtypes(parquet.read(columns=_REPAIR_READ).to_pandas())
    except (pa.ArrowException, ValueError, KeyError) as exc:
        return f"not a readable chunk ({' '.join(str(exc).split())[:200]})"
    if provenance is not None and (provenance["chunk_id"] != match["chunk_id"] or provenance["rows"] != len(frame)):
        return "the provenance it carries names another chunk or row count"
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="microseconds")
    return _Scanned(path, match["chunk_id"], sha, len(frame), provenance, _key_hashes(frame), _scope(frame),
                    bool(frame["synthetic"].any()), mtime)


def _legacy_fields(old: Mapping[str, Any] | None) -> tuple[dict[str, Any], bool]:
    """Provenance of a chunk that carries none: from the earlier manifest's entry where its fields are
    well-formed, else unknown. Second value: whether there was an entry to take them from."""
    fields = dict(_LEGACY_DEFAULTS)
    if old is None:
        return fields, False
    for name in ("source", "endpoint", "query", "comtradeapicall_version", "published", "fetched_at"):
        value = old.get(name)
        if isinstance(value, str) and (name not in ("published", "fetched_at") or _check_date(value) is not None):
            fields[name] = value
    return fields, True


def _check_date(text: str) -> str | None:
    try:
        return _check_published(text)
    except InputError:
        return None


def _rebuild_entry(found: _Scanned, old: Mapping[str, Any] | None) -> tuple[dict[str, Any], RepairAction, str]:
    """The manifest entry of a chunk file (``old``: its entry in the earlier manifest with the same checksum)."""
    entry: dict[str, Any] = {"chunk_id": found.chunk_id, "file": found.file, "sha256": found.sha256,
                             "rows": found.rows, "scope": found.scope, "superseded_by": []}
    if found.provenance is not None:
        entry.update({f: found.provenance[f] for f in PROVENANCE_FIELDS if f not in entry})
        return entry, "listed", "rebuilt from the chunk's own provenance"
    fields, from_old = _legacy_fields(old)
    entry.update(fields)
    entry.setdefault("fetched_at", found.mtime)
    entry["synthetic"] = found.synthetic
    written_before = "written before chunks carried provenance: checksum, rows, coverage and synthetic flag rebuilt"
    if from_old:
        return entry, "listed_legacy", f"{written_before}; source, query and dates taken from the earlier manifest"
    return entry, "listed_legacy", (f"{written_before}; its source, query and dates are lost: fetched_at is now "
                                    "the file's time and the publication date unknown, so where chunks share a "
                                    "cell the record kept may differ from before")


def _relink(entries: dict[str, dict[str, Any]], keys: Mapping[str, np.ndarray]) -> None:
    """``superseded_by`` of every entry from scratch: the chunks of higher rank sharing at least one cell.

    The pairs of chunks sharing a cell come from one sort of every chunk's cell
    hashes (no pairwise comparison of chunks).
    """
    ids = sorted(entries)
    for entry in entries.values():
        entry["superseded_by"] = []
    if len(ids) < 2:
        return
    hashes = np.concatenate([keys[cid] for cid in ids])
    owner = np.concatenate([np.full(len(keys[cid]), i, dtype=np.int64) for i, cid in enumerate(ids)])
    order = np.argsort(hashes, kind="stable")
    hashes, owner = hashes[order], owner[order]
    pairs: set[int] = set()
    for step in range(1, len(ids)):  # cells held by more than two chunks pair up at larger steps
        same = hashes[step:] == hashes[:-step]
        if not same.any():
            break
        a, b = owner[:-step][same], owner[step:][same]
        pairs.update(np.unique(np.minimum(a, b) * len(ids) + np.maximum(a, b)).tolist())
    for code in sorted(pairs):
        ea, eb = entries[ids[code // len(ids)]], entries[ids[code % len(ids)]]
        loser, winner = (ea, eb["chunk_id"]) if _rank(eb) > _rank(ea) else (eb, ea["chunk_id"])
        loser["superseded_by"].append(winner)
    for entry in entries.values():
        entry["superseded_by"].sort()


def repair_store(root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Make the store consistent again, rebuilding its manifest from the chunk files; what was done, one row
    per file or entry (``REPAIR_COLUMNS``).

    With an intact manifest (current format, checksum and entries valid) the
    manifest decides which chunks belong to the store: an entry whose file is
    missing or damaged is dropped (re-fetch or re-import it), a chunk file it
    does not list is quarantined (a write killed before its commit). With a
    damaged, old-format or lost manifest every readable chunk file is listed
    (the newest version of a chunk when there are several). Entries are
    rebuilt from the provenance each chunk carries; a chunk written before
    chunks carried provenance gets its checksum, rows, coverage and synthetic
    flag from its file and its source, query and dates from the earlier
    manifest's entry with the same checksum when one can be read, else they
    are reported lost. ``superseded_by`` is recomputed from the records.
    Damaged chunk files and the earlier manifest (when it changes) are moved
    or copied to ``quarantine/``; nothing is deleted but temporary files of
    the store's own killed writes. ``attrs["rewritten"]`` says whether the
    manifest changed.
    """
    store = Store(root)
    if not store.root.is_dir():
        raise StoreError(f"no store at {store.root}: nothing to repair")
    try:
        return _repair(store)
    except (DiskFullError, StoreError):
        raise
    except OSError as exc:
        raise StoreError(f"cannot repair the store at {store.root}: {exc.strerror or exc}") from None


def _repair(store: Store) -> pd.DataFrame:
    """The work of :func:`repair_store`."""
    rows: list[dict[str, Any]] = []

    def note(chunk_id: str | None, file: str, action: RepairAction, detail: str) -> None:
        rows.append({"chunk_id": chunk_id, "file": file, "action": action, "detail": detail})

    def set_aside(path: Path, chunk_id: str | None, why: str) -> None:
        try:
            moved = store._quarantine(path)
        except OSError as exc:
            note(chunk_id, f"chunks/{path.name}", "left_alone", f"{why}; it could not be moved to quarantine/ "
                                                                f"({exc.strerror or exc})")
            return
        note(chunk_id, f"chunks/{path.name}", "quarantined", f"{why}; moved to {moved.relative_to(store.root)}")

    with disk_full_is_an_error(f"repairing the store at {store.root}"), store._locked():
        try:
            old_bytes: bytes | None = store.manifest_path.read_bytes()
        except FileNotFoundError:
            old_bytes = None
        intact: dict[str, dict[str, Any]] | None = None
        problem = "missing" if old_bytes is None else ""
        if old_bytes is not None:
            try:
                parsed, fmt = parse(old_bytes, store.root)
                intact = parsed if fmt == MANIFEST_FORMAT else None
                problem = "" if intact is not None else f"format {fmt}, without a checksum"
            except ManifestError as exc:
                problem = exc.problem
        earlier = parse_loose(old_bytes) if old_bytes else {}

        found: dict[str, _Scanned] = {}
        for path in sorted(store.chunks_dir.iterdir()):
            if path.is_symlink() or not path.is_file() or not (CHUNK_NAME.fullmatch(path.name)
                                                                or TMP_NAME.fullmatch(path.name)):
                note(None, f"chunks/{path.name}", "left_alone", "not a chunk file this store writes")
            elif TMP_NAME.fullmatch(path.name):
                path.unlink()
                note(None, f"chunks/{path.name}", "removed_temporary", "a temporary file of a killed write")
            else:
                scanned = _scan(path)
                if isinstance(scanned, str):
                    set_aside(path, path.name[:16], scanned)
                else:
                    found[path.name] = scanned

        keep: dict[str, tuple[_Scanned, Mapping[str, Any] | None]] = {}
        if intact is not None:
            for cid, entry in sorted(intact.items()):
                scanned_entry = found.pop(Path(entry["file"]).name, None)
                if scanned_entry is None:
                    note(cid, entry["file"], "dropped", "its file is missing or damaged: re-fetch or re-import it")
                else:
                    keep[cid] = (scanned_entry, entry)
            for scanned in found.values():
                set_aside(scanned.path, scanned.chunk_id, "not in the intact manifest (a write killed before "
                                                          "its commit)")
        else:
            versions: dict[str, list[_Scanned]] = defaultdict(list)
            for scanned in found.values():
                versions[scanned.chunk_id].append(scanned)
            for cid, candidates in sorted(versions.items()):
                candidates.sort(key=lambda s: (_timestamp(s.fetched_at), s.sha256))
                for older in candidates[:-1]:
                    set_aside(older.path, cid, f"an older version of chunk {cid}")
                newest = candidates[-1]
                same = earlier.get(cid)
                keep[cid] = (newest, same if same is not None and same.get("sha256") == newest.sha256 else None)

        entries = {}
        for cid, (scanned, earlier_entry) in sorted(keep.items()):
            entry, action, detail = _rebuild_entry(scanned, earlier_entry)
            entries[cid] = entry
            note(cid, entry["file"], action, detail)
        _relink(entries, {cid: scanned.keys for cid, (scanned, _) in keep.items()})
        new_bytes = dumps(entries)
        rewritten = new_bytes != old_bytes
        if rewritten:
            if old_bytes is not None:
                store.quarantine_dir.mkdir(exist_ok=True)
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                copy = atomic_write(store.quarantine_dir / f"{stamp}.{MANIFEST_NAME}", old_bytes)
                note(None, MANIFEST_NAME, "quarantined",
                     f"the earlier manifest ({problem or 'its entries disagreed with the chunks'}), copied to "
                     f"{copy.relative_to(store.root)}")
            store._save(entries)
    frame = pd.DataFrame(rows, columns=REPAIR_COLUMNS)
    frame.attrs["rewritten"] = rewritten
    return frame
