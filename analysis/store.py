"""The local store: validated Comtrade records as Parquet chunks in one folder, listed by a manifest.

Layout of a store folder (``root``, see :func:`default_store_dir`)::

    root/manifest.json                       one entry per chunk (Store.manifest)
    root/chunks/<chunk_id>.<sha12>.parquet   the tidy record frame of one query or imported file
    root/.lock                               taken while the store is written

A *chunk* is what one query (API call or imported file) returned, coerced by
:func:`analysis.schema.coerce_records`; a chunk with no rows is kept too (the
query has no data, so a re-run needs no call). Its id is a hash of the
normalized query (:meth:`Store.chunk_id`), which never holds an API key.

Every write is atomic: the Parquet file goes to a temporary file in the same
folder, is fsynced and renamed, and only then is the manifest replaced the
same way. The manifest replacement is the commit: an interrupted write leaves
the previous store as it was and no half file (debris from a killed process is
swept at the next write). The manifest records each file's SHA-256; a chunk
whose file no longer matches is reported by :meth:`Store.verify` and refused
by :meth:`Store.read`.

:meth:`Store.read` returns one tidy record frame (the columns and dtypes of
:data:`analysis.schema.COLUMNS`: the 47 Comtrade fields, ``period_date``,
``synthetic``) de-duplicated on :data:`analysis.schema.KEY`: when two chunks
hold the same cell, the record from the chunk with the later publication date
wins (an unknown publication date counts as older than any known one), then
the later fetch. The manifest's ``superseded_by`` names, for each chunk, the
chunks that replaced at least one of its records.

Concurrent writers are serialized by an exclusive ``flock`` on ``root/.lock``
(POSIX; on other systems only threads of one process are serialized).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._io import TMP_SUFFIX, atomic_write
from .errors import InputError, TradeflowsError
from .periods import parse_period
from .provenance import COVERAGE_COLUMNS, coverage_of
from .schema import COLUMNS, EXTRA, FIELDS, KEY, coerce_records, empty_records, query_id, query_text

try:  # POSIX only: cross-process lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
MANIFEST_COLUMNS = ["chunk_id", "file", "source", "endpoint", "query", "fetched_at", "rows",
                    "comtradeapicall_version", "sha256", "published", "superseded_by", "synthetic"]
"""Columns of :meth:`Store.manifest` (``synthetic``: the chunk holds synthetic rows)."""

VERIFY_COLUMNS = ["chunk_id", "file", "status"]
PARQUET_COMPRESSION = "zstd"
_DTYPES = {**FIELDS, **EXTRA}
_CHUNK_ID = re.compile(r"^[0-9a-f]{16}$")

_THREAD_LOCK = threading.RLock()


class StoreError(TradeflowsError):
    """The store cannot do what was asked (empty store, unreadable manifest, bad chunk id or query)."""


class ChecksumError(StoreError):
    """A chunk's file is missing or no longer matches the checksum in the manifest."""


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


def default_store_dir(root: str | Path | None = None) -> Path:
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


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame[COLUMNS], preserve_index=False)
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


# --------------------------------------------------------------------------- the store

class Store:
    """A folder of validated Comtrade record chunks with a manifest (see the module docstring)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root: Path = default_store_dir(root)
        self._swept = False

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

    @staticmethod
    def _check_id(chunk_id: str) -> str:
        if not isinstance(chunk_id, str) or not _CHUNK_ID.match(chunk_id):
            raise StoreError(f"malformed chunk id {chunk_id!r} (expected 16 hex digits)")
        return chunk_id

    # ------------------------------------------------------------------ manifest

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"cannot read the store manifest {self.manifest_path}: {exc}") from None
        try:
            doc = json.loads(text)
            if doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("chunks"), dict):
                raise ValueError(f"unknown format {doc.get('format')!r}")
        except (ValueError, AttributeError) as exc:
            raise StoreError(f"store manifest {self.manifest_path} is unreadable: {exc}") from None
        return doc["chunks"]

    def _save(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        doc = {"format": MANIFEST_FORMAT, "chunks": dict(sorted(entries.items()))}
        atomic_write(self.manifest_path, json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8"))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive write access to the store (threads and, on POSIX, processes)."""
        self.chunks_dir.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCK, open(self.root / ".lock", "a+b") as fh:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _sweep(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Delete debris of killed writes (temporary files, chunk files no manifest entry names).

        Called with the lock held, so no other writer can be mid-write.
        """
        if self._swept:
            return
        listed = {Path(e["file"]).name for e in entries.values()}
        for path in list(self.chunks_dir.iterdir()) + list(self.root.glob(f".{MANIFEST_NAME}.*{TMP_SUFFIX}")):
            stray = path.name.endswith(TMP_SUFFIX) or (path.suffix == ".parquet" and path.name not in listed)
            if stray and path.is_file():
                with suppress(OSError):
                    path.unlink()
        self._swept = True

    def manifest(self) -> pd.DataFrame:
        """One row per chunk (columns ``MANIFEST_COLUMNS``), in fetch order.

        ``query`` is the normalized query as JSON text (never a key);
        ``fetched_at`` is UTC ISO 8601; ``superseded_by`` lists, comma-separated,
        the chunks that replaced at least one record of this chunk (missing if none).
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

    def _status(self, entry: Mapping[str, Any]) -> tuple[str, bytes | None]:
        try:
            data = (self.root / entry["file"]).read_bytes()
        except FileNotFoundError:
            return "missing", None
        return ("ok" if _sha256(data) == entry["sha256"] else "checksum_mismatch"), data

    def has_chunk(self, chunk_id: str) -> bool:
        """True when the chunk is in the manifest, its file exists and matches its checksum."""
        entry = self._load().get(self._check_id(chunk_id))
        return entry is not None and self._status(entry)[0] == "ok"

    def chunk_published(self, chunk_id: str) -> str | None:
        """The publication date recorded for a chunk (as given to write_chunk), or None."""
        entry = self._load().get(self._check_id(chunk_id))
        return None if entry is None else entry.get("published")

    def verify(self) -> pd.DataFrame:
        """``chunk_id, file, status`` for every chunk; status is ``ok``, ``missing`` or ``checksum_mismatch``."""
        rows = [{"chunk_id": cid, "file": e["file"], "status": self._status(e)[0]}
                for cid, e in sorted(self._load().items())]
        return pd.DataFrame(rows, columns=VERIFY_COLUMNS)

    # ------------------------------------------------------------------ writing

    def write_chunk(self, records: pd.DataFrame, *, query: dict, endpoint: str, source: str,
                    published: str | None = None) -> dict:
        """Validate ``records`` and store them as the chunk of ``query``; return its manifest entry.

        Records are coerced by :func:`analysis.schema.coerce_records` (a
        SchemaError propagates and nothing is written). Writing the same query
        again replaces its chunk (a refresh). An empty frame is a valid chunk.
        """
        chunk_id = self.chunk_id(query)
        query_text = _query_text(query)
        published = _check_published(published)
        frame = _to_records(records, source)
        data = _parquet_bytes(frame)
        sha = _sha256(data)
        entry: dict[str, Any] = {
            "chunk_id": chunk_id, "file": f"chunks/{chunk_id}.{sha[:12]}.parquet", "source": str(source),
            "endpoint": str(endpoint), "query": query_text, "fetched_at": _utc_now(), "rows": int(len(frame)),
            "comtradeapicall_version": _comtradeapicall_version(), "sha256": sha, "published": published,
            "superseded_by": [], "synthetic": bool(frame["synthetic"].any()) if len(frame) else
            bool(frame.attrs.get("synthetic", False)), "scope": _scope(frame),
        }
        with self._locked():
            entries = self._load()
            self._sweep(entries)
            old = entries.get(chunk_id)
            path = self.root / entry["file"]
            atomic_write(path, data)
            try:
                self._link(entries, entry, _key_hashes(frame))
                entries[chunk_id] = entry
                self._save(entries)
            except BaseException:
                if old is None or old["file"] != entry["file"]:
                    with suppress(OSError):
                        path.unlink()
                raise
            if old is not None and old["file"] != entry["file"]:
                with suppress(OSError):
                    (self.root / old["file"]).unlink()
        return {k: v for k, v in entry.items() if k != "scope"}

    def _chunk_keys(self, entry: Mapping[str, Any]) -> np.ndarray | None:
        """KEY hashes of a stored chunk (None if its file cannot be read: verify reports it)."""
        try:
            table = pq.read_table(self.root / entry["file"], columns=KEY)
        except (OSError, pa.ArrowException):
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
        """Delete a chunk (its manifest entry first, then its file), e.g. to re-fetch a damaged one.

        Chunks it had superseded count again. Raises StoreError if the store has no such chunk.
        """
        self._check_id(chunk_id)
        if not self.root.is_dir():
            raise StoreError(f"no chunk {chunk_id} in the store at {self.root}")
        with self._locked():
            entries = self._load()
            entry = entries.pop(chunk_id, None)
            files = set(self.chunks_dir.glob(f"{chunk_id}.*.parquet"))
            if entry is None and not files:
                raise StoreError(f"no chunk {chunk_id} in the store at {self.root}")
            if entry is not None:
                for other in entries.values():
                    if chunk_id in other.get("superseded_by", []):
                        other["superseded_by"] = [c for c in other["superseded_by"] if c != chunk_id]
                self._save(entries)
                files.add(self.root / entry["file"])
            for path in files:
                with suppress(FileNotFoundError):
                    path.unlink()

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
        Raises StoreError on an empty store and ChecksumError when a chunk
        that would be read is missing or damaged.
        """
        entries = self._load()
        if not entries:
            raise StoreError(f"store at {self.root} is empty: run tradeflows fetch or tradeflows import first")
        flt = _Filter(reporters, partners, flows, freq, start, end)
        expr = flt.expression
        tables = []
        for entry in sorted(entries.values(), key=_rank):
            if entry["rows"] == 0 or not flt.may_match(entry.get("scope", {})):
                continue
            status, data = self._status(entry)
            if status != "ok":
                what = "is missing" if status == "missing" else "no longer matches its checksum"
                raise ChecksumError(
                    f"chunk {entry['chunk_id']} ({entry['file']}, {entry['source']}) {what}: it is not used; "
                    "run `tradeflows store --verify` and re-fetch or re-import it")
            table = pq.read_table(pa.BufferReader(data))
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
