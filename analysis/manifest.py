"""The store's manifest document and the provenance each chunk file carries, so each can be checked against the other.

``manifest.json`` (format 2)::

    {"chunks": {<chunk_id>: <entry>, ...}, "format": 2, "sha256": <SHA-256 of the canonical JSON of "chunks">}

Format 1, written before chunk files carried provenance, has no checksum: it
is still read, and the next write saves format 2. Reading checks the whole
document (:func:`parse`): valid UTF-8 and JSON, a known format, the checksum,
and every entry's fields (types, a 16-hex-digit chunk id equal to its key, a
64-hex-digit SHA-256, a non-negative row count, parseable dates, and a
``file`` that is exactly ``chunks/<chunk_id>.<sha256[:12]>.parquet``, so no
entry can name a file outside the store). Any failure raises
:class:`ManifestError`: one line naming the problem and the repair command.
:func:`chunk_path` also refuses a chunk file reached through a link that
leaves the store's ``chunks/`` folder.

Each chunk's Parquet file carries its entry's provenance
(:data:`PROVENANCE_FIELDS`) as JSON under the key-value metadata key
:data:`PROVENANCE_KEY`, so the manifest can be rebuilt from the chunks
(``tradeflows store --repair``). The checksum cannot be inside the file it
checks: it is recomputed from the bytes, and its first 12 digits are in the
file name.
"""
from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import TradeflowsError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 2
READABLE_FORMATS = (1, 2)
PROVENANCE_KEY = b"tradeflows.chunk"
PROVENANCE_FORMAT = 1
PROVENANCE_FIELDS = ("chunk_id", "source", "endpoint", "query", "fetched_at", "rows", "comtradeapicall_version",
                     "published", "synthetic")
"""Fields of a manifest entry that its chunk file carries (the rest are derived from the file: sha256, file,
scope, superseded_by)."""

CHUNK_ID = re.compile(r"[0-9a-f]{16}")
CHUNK_NAME = re.compile(r"(?P<chunk_id>[0-9a-f]{16})\.(?P<sha12>[0-9a-f]{12})\.parquet")
"""Name of a chunk file the store writes: ``<chunk_id>.<first 12 hex digits of its SHA-256>.parquet``."""
TMP_NAME = re.compile(r"\.(?:[0-9a-f]{16}\.[0-9a-f]{12}\.parquet|manifest\.json)\.[a-z0-9_]{8}\.tmp")
"""Name of a temporary file of the store's atomic writes (:func:`analysis._io.atomic_write`)."""
SCOPE_FIELDS = ("reporterCode", "partnerCode", "flowCode", "freqCode", "date_min", "date_max")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class StoreError(TradeflowsError):
    """The store cannot do what was asked (empty store, damaged manifest, bad chunk id or query)."""


class ManifestError(StoreError):
    """The manifest is missing, unreadable or fails its checks: the store must be repaired.

    ``problem`` is what is wrong, without the file name and the repair command.
    """

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message


def repair_command(root: Path) -> str:
    return f"tradeflows store --repair --store {shlex.quote(str(root))}"


def damaged(root: Path, problem: str) -> ManifestError:
    """The one-line error of a damaged store: the manifest, the problem, the repair command."""
    return ManifestError(f"the store manifest {root / MANIFEST_NAME} is damaged: {problem}; "
                         f"run `{repair_command(root)}`", problem)


def chunk_file(chunk_id: str, sha256: str) -> str:
    """The ``file`` of a manifest entry: the chunk's path relative to the store folder."""
    return f"chunks/{chunk_id}.{sha256[:12]}.parquet"


def chunk_path(root: Path, file: str) -> Path:
    """The chunk file named by a (checked) manifest entry; StoreError if a link takes it out of ``root/chunks``."""
    path = root / file
    real = path.resolve()
    if real.parent != root.resolve() / "chunks" or real.name != path.name:
        raise StoreError(f"chunk file {path} leads outside the store's chunks folder (to {real}): refused; "
                         f"remove the link and run `{repair_command(root)}`")
    return path


def checksum(chunks: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the manifest's chunk entries."""
    text = json.dumps(chunks, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dumps(chunks: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The manifest document (current format, with its checksum) as UTF-8 bytes."""
    body = {cid: dict(chunks[cid]) for cid in sorted(chunks)}
    doc = {"format": MANIFEST_FORMAT, "sha256": checksum(body), "chunks": body}
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _decode(data: bytes, root: Path) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise damaged(root, f"byte {exc.start} is not UTF-8") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise damaged(root, "not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise damaged(root, f"not valid JSON ({exc})") from None


def parse(data: bytes, root: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """The checked entries of the manifest bytes ``data`` of the store at ``root``, and the document's format."""
    doc = _decode(data, root)
    if not isinstance(doc, dict):
        raise damaged(root, "not a JSON object")
    fmt = doc.get("format")
    if fmt not in READABLE_FORMATS or isinstance(fmt, bool):
        raise damaged(root, f"unknown format {fmt!r} (this tradeflows reads formats "
                            f"{', '.join(map(str, READABLE_FORMATS))})")
    chunks = doc.get("chunks")
    if not isinstance(chunks, dict):
        raise damaged(root, "no \"chunks\" object")
    if fmt >= 2:
        if not isinstance(doc.get("sha256"), str):
            raise damaged(root, "it has no checksum (\"sha256\")")
        if checksum(chunks) != doc["sha256"]:
            raise damaged(root, "its checksum does not match its content (an entry was edited, added or removed)")
    for key, entry in chunks.items():
        problem = entry_problem(key, entry)
        if problem:
            raise damaged(root, f"entry {key!r}: {problem}")
    return chunks, fmt


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        pass
    try:
        return not pd.isna(pd.Timestamp(value))
    except (ValueError, TypeError, OverflowError):
        return False


def entry_problem(key: str, entry: Any) -> str | None:
    """What is wrong with one manifest entry (None if nothing)."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    if not CHUNK_ID.fullmatch(key) or entry.get("chunk_id") != key:
        return f"chunk_id {entry.get('chunk_id')!r} is not its key, or not 16 hex digits"
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        return "no sha256" if sha is None else f"sha256 {sha!r} is not 64 hex digits"
    if entry.get("file") != chunk_file(key, sha):
        return (f"file {entry.get('file')!r} is not this chunk's file {chunk_file(key, sha)!r} "
                "(a manifest may name no other file, in the store or outside it)")
    rows = entry.get("rows")
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        return f"rows {rows!r} is not a count"
    for field in ("source", "endpoint"):
        if not isinstance(entry.get(field), str):
            return f"{field} {entry.get(field)!r} is not text"
    for field in ("query", "comtradeapicall_version"):
        if entry.get(field) is not None and not isinstance(entry.get(field), str):
            return f"{field} {entry.get(field)!r} is not text"
    if not _is_date(entry.get("fetched_at")):
        return f"fetched_at {entry.get('fetched_at')!r} is not a date"
    if entry.get("published") is not None and not _is_date(entry.get("published")):
        return f"published {entry.get('published')!r} is not a date"
    if not isinstance(entry.get("synthetic"), bool):
        return f"synthetic {entry.get('synthetic')!r} is not true or false"
    superseded = entry.get("superseded_by")
    if not isinstance(superseded, list) or not all(isinstance(c, str) and CHUNK_ID.fullmatch(c) for c in superseded):
        return f"superseded_by {superseded!r} is not a list of chunk ids"
    scope = entry.get("scope")
    if not isinstance(scope, dict) or (rows > 0 and set(scope) != set(SCOPE_FIELDS)):
        return f"scope {scope!r} does not describe the chunk's records"
    return None


def parse_loose(data: bytes) -> dict[str, dict[str, Any]]:
    """Entries of a damaged manifest as far as they can be read (for repair; never trusted for rows or checks)."""
    try:
        doc = json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return {}
    chunks = doc.get("chunks") if isinstance(doc, dict) else None
    if not isinstance(chunks, dict):
        return {}
    return {k: v for k, v in chunks.items() if isinstance(k, str) and isinstance(v, dict)}


def provenance_metadata(entry: Mapping[str, Any]) -> dict[bytes, bytes]:
    """The Parquet key-value metadata that makes a chunk file describe itself."""
    doc = {"format": PROVENANCE_FORMAT, **{f: entry[f] for f in PROVENANCE_FIELDS}}
    return {PROVENANCE_KEY: json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")}


def read_provenance(metadata: Mapping[bytes, bytes] | None) -> dict[str, Any] | None:
    """The provenance a chunk file carries; None for a chunk written before chunks carried it.

    Raises ValueError when the metadata is there but malformed.
    """
    raw = (metadata or {}).get(PROVENANCE_KEY)
    if raw is None:
        return None
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != PROVENANCE_FORMAT:
        raise ValueError(f"unknown chunk provenance format {doc.get('format') if isinstance(doc, dict) else doc!r}")
    missing = [f for f in PROVENANCE_FIELDS if f not in doc]
    if missing:
        raise ValueError(f"chunk provenance lacks {', '.join(missing)}")
    return {f: doc[f] for f in PROVENANCE_FIELDS}
