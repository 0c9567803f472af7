"""Import Comtrade files a researcher downloaded by hand into the store.

Formats recognised from the bytes, not the file name:

- ``comtrade_csv``: a Comtrade+ website CSV export. Real exports are cp1252,
  quote every value and end each data row with a trailing comma (47 header
  fields, 48 per row); UTF-8 (with or without BOM) is read as well.
- ``api_json``: an API response body, the whole envelope
  ``{"elapsedTime","count","data":[...],"error"}``, the cut ``{"data":[...]}``
  or a bare list of records. A non-empty ``error`` is refused with its text, a
  ``countOnly`` answer (``data`` is one object, not a list) is refused, and an
  envelope whose ``count`` differs from its number of records is refused as cut.
- ``bulk_tsv``: a Comtrade bulk file, tab-separated with the same field names.

Any of them may be gzip-compressed (the format then ends in ``.gz``, e.g.
``bulk_tsv.gz``, the usual bulk download). Header names are matched to the 47
Comtrade fields ignoring case; other columns are ignored except ``synthetic``
(so an exported synthetic panel stays labelled). Mixed HS editions are kept as
reported: ``classificationCode`` is never rewritten.

Every record is checked by :func:`analysis.validation.validate_records`
(areas, HS editions, periods, plausible values, duplicates) after the schema's
coercion. A gzip file may expand to at most ``max_expanded`` bytes (default
:data:`MAX_EXPANDED`), counted while it is streamed, so a gzip bomb is refused
without being held in memory.

A broken file raises :class:`FileImportError` naming the file and the problem
(and the row and field for a bad record).
:func:`import_files` reads and validates every file before it writes any, so a
bad file in a batch means nothing is imported. Each good file becomes one
chunk (source ``import:<file name>``, endpoint ``file``, query ``{file,
sha256}``), so importing the same bytes again is a no-op.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from .errors import InputError, TradeflowsError
from .schema import FIELDS, SchemaError, coerce_records, empty_records, frame_of_json_records
from .store import Store
from .study import check_choice
from .validation import Duplicates, validate_records

SUMMARY_COLUMNS = ["file", "format", "rows", "chunk_id", "status", "note"]
"""Columns of :func:`import_files`'s summary; status is ``imported`` or ``unchanged`` (already stored)."""

API_CAPS = (500, 100_000)
"""Record limits of the preview and the keyed data endpoints: an answer of exactly this size may be cut."""

MAX_EXPANDED = 512 * 2**20
"""Default cap on what a gzip file may expand to (512 MiB of text, several times a large Comtrade bulk file of
one reporter and period); decompression stops as soon as it is passed, so a 1 GB bomb costs at most this."""

_GUNZIP_BLOCK = 2**20

_FIELD_BY_LOWER = {name.lower(): name for name in FIELDS}
_SHOWN = {"utf-8-sig": "UTF-8", "cp1252": "cp1252", "utf-16": "UTF-16"}
_TRUE, _FALSE = {"true", "1", "t", "yes"}, {"false", "0", "f", "no", ""}


class FileImportError(TradeflowsError, ValueError):
    """A file cannot be imported (not Comtrade data, bad encoding, damaged, values that break the schema)."""


@dataclass(frozen=True)
class _Parsed:
    path: Path
    records: pd.DataFrame
    format: str
    note: str


def _fail(name: str, problem: str) -> FileImportError:
    return FileImportError(f"{name}: {problem}")


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise _fail(name, "no such file") from None
    except IsADirectoryError:
        raise _fail(name, "is a folder, not a file") from None
    except OSError as exc:
        raise _fail(name, f"cannot be read ({exc.strerror or exc})") from None


def _gunzip(raw: bytes, name: str, limit: int) -> bytearray:
    """The decompressed bytes of a gzip file (all members), streamed and refused beyond ``limit`` bytes."""
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            while block := stream.read(_GUNZIP_BLOCK):
                out += block
                if len(out) > limit:
                    raise _fail(name, f"expands to more than {limit:,} bytes (the cap on decompressed size; "
                                      "pass a larger max_expanded if the file is genuine)")
    except (OSError, EOFError, zlib.error) as exc:
        raise _fail(name, f"truncated or damaged gzip file ({exc})") from None
    return out


def _blank(raw: bytes | bytearray) -> bool:
    return not raw or raw.isspace()


def _decode(raw: bytes | bytearray, name: str) -> str:
    """UTF-16 if it has a BOM; UTF-8 (BOM stripped) if the bytes are valid UTF-8; else cp1252."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8-sig", "cp1252"]
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError as exc:
            error = exc
    else:
        raise _fail(name, f"bad encoding: not {' or '.join(_SHOWN[e] for e in encodings)} "
                          f"(byte 0x{raw[error.start]:02x} at offset {error.start})")
    if "\x00" in text:
        raise _fail(name, "binary content, not Comtrade data")
    return text


def _fix_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Comtrade field names in Comtrade's spelling; a ``synthetic`` column parsed as booleans."""
    renamed = {c: _FIELD_BY_LOWER.get(str(c).strip().lower(), str(c).strip()) for c in frame.columns}
    seen = pd.Series(list(renamed.values()))
    if seen.duplicated().any():
        raise SchemaError(f"column {seen[seen.duplicated()].iloc[0]} appears twice")
    frame = frame.rename(columns=renamed)
    if "synthetic" in frame.columns:
        col = frame["synthetic"]
        if col.dtype != bool:
            text = col.astype("string").fillna("").str.strip().str.lower()
            bad = ~text.isin(_TRUE | _FALSE)
            if bad.any():
                raise SchemaError(f"field synthetic: not a boolean: {text[bad].iloc[0]!r}")
            frame["synthetic"] = text.isin(_TRUE).to_numpy(dtype=bool)
    return frame


def _parse_delimited(text: str, sep: str, name: str) -> pd.DataFrame:
    header_line = text.lstrip().split("\n", 1)[0]
    quoted = header_line.startswith('"')
    quoting: Literal[0, 3] = csv.QUOTE_MINIMAL if sep == "," or quoted else csv.QUOTE_NONE
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, index_col=False, keep_default_na=False,
                            na_values=[""], quoting=quoting, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        raise _fail(name, f"cannot be parsed as {'CSV' if sep == ',' else 'tab-separated'} data "
                          f"({str(exc).strip().splitlines()[0]})") from None
    _check_last_row(text, sep, quoting, len(frame.columns), name)
    return frame


def _check_last_row(text: str, sep: str, quoting: Literal[0, 3], n_fields: int, name: str) -> None:
    """Refuse a file cut inside its last row (pandas would fill the missing fields with nothing).

    A complete file ends with a line break (Comtrade+ exports, bulk files and
    pandas all write one); without it the last row may be cut anywhere, even
    inside a number, which no count of fields can tell. The last row is also
    cut when it has fewer fields than the header, or when the rows before it
    end with a trailing separator (Comtrade+ exports) and it does not.
    """
    tail = text.rstrip("\r\n")
    if tail.find("\n") < 0:
        return
    if not text.endswith(("\n", "\r")):
        raise _fail(name, "truncated: the last row may be cut (the file does not end with a line break); "
                          "re-download it, or add the line break if the file is complete")
    start = tail.rfind("\n") + 1
    last = tail[start:]
    before = tail[tail.rfind("\n", 0, start - 1) + 1:start - 1].rstrip("\r")
    try:
        fields = next(csv.reader([last], delimiter=sep, quoting=quoting), [])
        previous = next(csv.reader([before], delimiter=sep, quoting=quoting), [])
    except csv.Error:  # a field longer than the csv module's limit (131,072 characters): count unquoted fields
        if quoting != csv.QUOTE_NONE:
            return
        fields, previous = last.split(sep), before.split(sep)
    trailing = len(previous) == n_fields + 1 and previous[-1] == ""
    if fields and fields[-1] == "" and len(fields) == n_fields + 1:
        fields = fields[:-1]  # the trailing comma of Comtrade+ exports
    elif trailing and len(fields) == n_fields:
        raise _fail(name, "truncated: the last row lacks the trailing separator every other row has "
                          f"(its field {n_fields} is cut)")
    if len(fields) < n_fields:
        raise _fail(name, f"truncated: the last row has {len(fields)} of {n_fields} fields")


def _not_json_constant(token: str) -> float:
    raise ValueError(f"{token} is not a JSON value")


def _parse_json(text: str, name: str) -> tuple[pd.DataFrame | None, str]:
    try:
        body = json.loads(text, parse_constant=_not_json_constant)
    except json.JSONDecodeError as exc:
        raise _fail(name, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _fail(name, "malformed JSON: nested too deeply to be Comtrade data") from None
    except ValueError as exc:  # NaN/Infinity tokens, integers longer than Python's digit limit
        raise _fail(name, f"malformed JSON: {str(exc).split(';')[0]}") from None
    note = ""
    if isinstance(body, dict):
        error = body.get("error")
        if error not in (None, "", [], {}):
            raise _fail(name, f"the API answered with an error: {error}")
        if "data" not in body:
            said = body.get("message") or body.get("Message")
            raise _fail(name, f"not a Comtrade data answer (no 'data' field){f': {said}' if said else ''}")
        data = body["data"]
        if isinstance(data, dict):
            raise _fail(name, f"a count answer, not data (countOnly: count={body.get('count')})")
        count = body.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise _fail(name, f"the envelope's count {count!r} is not a number of records")
        if isinstance(data, list) and isinstance(count, int) and count != len(data):
            raise _fail(name, f"the envelope says count={count} but holds {len(data)} records: a cut answer")
    elif isinstance(body, list):
        data = body
    else:
        raise _fail(name, "JSON that is neither a Comtrade answer nor a list of records")
    if not isinstance(data, list):
        raise _fail(name, f"'data' is a {type(data).__name__}, not a list of records")
    if not all(isinstance(r, dict) for r in data):
        raise _fail(name, "'data' holds something other than records (JSON objects)")
    if len(data) in API_CAPS:
        note = f"exactly {len(data)} records, an API limit: the answer may be cut"
    try:
        return (frame_of_json_records(data, name) if data else None), note
    except SchemaError as exc:
        raise FileImportError(str(exc)) from None


def _file_query(path: Path, raw: bytes) -> dict[str, str]:
    """The chunk query of an imported file: its name and the SHA-256 of its bytes."""
    return {"file": path.name, "sha256": hashlib.sha256(raw).hexdigest()}


def _parse(path: Path, raw: bytes | None = None, *, duplicates: Duplicates = "error",
           max_expanded: int = MAX_EXPANDED) -> _Parsed:
    name = str(path)
    data: bytes | bytearray = _read_bytes(path, name) if raw is None else raw
    if _blank(data):
        raise _fail(name, "empty file")
    suffix = ""
    if data[:2] == b"\x1f\x8b":
        data, suffix = _gunzip(bytes(data), name, max_expanded), ".gz"
        if _blank(data):
            raise _fail(name, "empty file inside the gzip")
    if data[:4] == b"PK\x03\x04":
        raise _fail(name, "a ZIP archive or Excel workbook: unzip it, or export CSV from the Comtrade+ website")
    text = _decode(data, name)
    del data
    note = ""
    first = text.lstrip()[:1]
    if first in ("{", "["):
        fmt = "api_json"
        frame, note = _parse_json(text, name)
    else:
        header = text.lstrip().split("\n", 1)[0]
        if "\t" in header:
            fmt, sep = "bulk_tsv", "\t"
        elif "," in header:
            fmt, sep = "comtrade_csv", ","
        else:
            raise _fail(name, "not Comtrade data: neither JSON nor a CSV or tab-separated table")
        frame = _parse_delimited(text, sep, name)
    try:
        if frame is None:
            records = empty_records()
        else:
            records = validate_records(coerce_records(_fix_columns(frame), source=name), source=name,
                                       duplicates=duplicates)
    except SchemaError as exc:
        message = str(exc)
        raise FileImportError(message if message.startswith(name) else f"{name}: {message}") from None
    dropped = int(records.attrs.get("duplicates_dropped", 0))
    if dropped:
        how = "exact copies" if duplicates == "error" else f"copies and conflicts, kept the {duplicates}"
        note = "; ".join(filter(None, [note, f"{dropped} duplicate record(s) dropped ({how})"]))
    return _Parsed(path, records, fmt + suffix, note)


def read_file(path: str | Path, *, duplicates: Duplicates = "error", max_expanded: int = MAX_EXPANDED
              ) -> pd.DataFrame:
    """The records of one Comtrade file as a tidy record frame (not stored); the format is in
    ``attrs["format"]``. ``duplicates`` says what to do with two different records of one cell
    (``"error"``, ``"first"``, ``"last"``); ``max_expanded`` caps a gzip file's decompressed bytes.
    Raises FileImportError naming the file and the problem."""
    _check_options(duplicates, max_expanded)
    parsed = _parse(Path(path), duplicates=duplicates, max_expanded=max_expanded)
    frame = parsed.records
    frame.attrs["format"] = parsed.format
    return frame


def _check_options(duplicates: Duplicates, max_expanded: int) -> None:
    check_choice(duplicates, Duplicates, "duplicates")
    if isinstance(max_expanded, bool) or not isinstance(max_expanded, int) or max_expanded < 1:
        raise InputError(f"max_expanded must be a positive number of bytes, not {max_expanded!r}")


def import_files(paths: list[str | Path], store: Store | None = None, *, duplicates: Duplicates = "error",
                 max_expanded: int = MAX_EXPANDED) -> pd.DataFrame:
    """Import files into ``store`` (default: :class:`Store`()); one summary row per file (``SUMMARY_COLUMNS``).

    Every new file is read and validated before anything is written: if one
    is broken, FileImportError names each broken file and nothing is imported.
    A file already in the store (same name and bytes, checksum intact) is not
    parsed again and is reported ``unchanged``. ``duplicates`` and
    ``max_expanded`` are those of :func:`read_file`.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise InputError("no files to import")
    _check_options(duplicates, max_expanded)
    store = store if store is not None else Store()
    plan: list[tuple[Path, dict[str, str], _Parsed | None]] = []
    errors: list[str] = []
    for path in map(Path, paths):
        try:
            raw = _read_bytes(path, str(path))
            query = _file_query(path, raw)
            stored = store.has_chunk(Store.chunk_id(query))
            parsed = None if stored else _parse(path, raw, duplicates=duplicates, max_expanded=max_expanded)
            plan.append((path, query, parsed))
        except FileImportError as exc:
            errors.append(str(exc))
    if errors:
        raise FileImportError("; ".join(errors) + "; nothing was imported")
    rows = []
    manifest = None
    with store.transaction():  # all files or none (a full disk included), from Python as from the command line
        for path, query, parsed in plan:
            chunk_id = Store.chunk_id(query)
            if parsed is None or store.has_chunk(chunk_id):
                if manifest is None:
                    manifest = store.manifest().set_index("chunk_id")
                fmt, n, status, note = "", int(manifest.loc[chunk_id, "rows"]), "unchanged", "already in the store"
            else:
                store.write_chunk(parsed.records, query=query, endpoint="file", source=f"import:{path.name}")
                fmt, n, status, note = parsed.format, len(parsed.records), "imported", parsed.note
                manifest = None
            rows.append({"file": str(path), "format": fmt, "rows": n, "chunk_id": chunk_id, "status": status,
                         "note": note})
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    flags = store.manifest().set_index("chunk_id")["synthetic"]
    summary.attrs["synthetic"] = bool(flags.reindex(summary["chunk_id"]).fillna(False).any())
    return summary
