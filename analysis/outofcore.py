"""Series from the Parquet store, out of core: DuckDB (one machine) or Dask (a cluster) does the reading and summing.

The store's chunks are read where they lie, with the selection (reporter,
flow, partners, months) pushed down into the Parquet scan, and the records are
summed per reporter, partner, flow, family, HS edition, code and month inside
the engine. Only those sums (:data:`CELL_COLUMNS`, the *code cells*) reach
pandas, never the records, so a store far larger than memory can be screened.

The record rules are those of :mod:`analysis.series` and of
:meth:`analysis.store.Store.read`, with one definition each:

- which record of a cell (:data:`analysis.schema.KEY`) stored twice counts:
  the one from the chunk of highest precedence (:func:`analysis.store._rank`:
  later publication, then later fetch), then the later row of that chunk, as
  in ``Store.read``;
- monthly six-digit records only, no partner-2, customs or transport
  breakdowns (:data:`analysis.series._BREAKDOWN_TOTALS`), families from the
  registry (:func:`analysis.registry.family_of`), converted copies of an
  original record left out of its cell, estimated weights flagged
  (:func:`analysis.series.estimated_weight`). The DuckDB engine states them in
  SQL built from those constants (:func:`record_rules_sql`); the Dask engine
  runs series.py's own functions on blocks that hold whole cells. Tests check
  both against :func:`analysis.series.build_series` on the demo.

:func:`series_from_cells` then runs :func:`analysis.series.build_series` itself
on the code cells (one pseudo-record per code, edition and month: sums of sums
are the sums), so zero months, the period grid and January/February are
handled by the one function that defines them; only the record counts are
carried over from the engine.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from . import registry
from .errors import InputError
from .manifest import chunk_path
from .schema import FIELDS, KEY
from .series import _BREAKDOWN_TOTALS, KG_UNIT, SERIES_COLUMNS, SERIES_KEY, _select, build_series, estimated_weight
from .store import ChecksumError, Store, StoreError, _rank
from .study import JanFeb, Study, check_choice

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

Engine = Literal["local", "dask"]
"""Where the store is read and summed: ``local`` (DuckDB, embedded) or ``dask`` (a Dask cluster)."""

CELL_COLUMNS = ["reporter_code", "partner_code", "flow_code", "family_id", "classification", "cmd_code", "date",
                "usd", "kg", "kg_estimated", "n_records", "synthetic"]
"""The engines' output: the used records summed per reporter, partner, flow, family, edition, code and month.

``kg`` is the sum of the reported net weights (NaN when none reports one),
``kg_estimated`` True when any of them is an estimate, ``n_records`` the
number of records, ``synthetic`` True when any record is synthetic.
"""

DESCRIPTION_COLUMNS = ["cmd_code", "classification", "description"]
"""Comtrade's own description of each code the focal partner trades (``cmdDesc`` of its records)."""

ISCLOSE_RTOL, ISCLOSE_ATOL = 1e-5, 1e-8
"""numpy.isclose's defaults, with which :func:`analysis.series.estimated_weight` compares qty and netWgt."""

DEFAULT_MEMORY_LIMIT = "2GB"
"""DuckDB's memory budget unless told otherwise (it spills to a temporary folder beyond it)."""

_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
_VALUE_COLUMNS = ["isOriginalClassification", "primaryValue", "netWgt", "isNetWgtEstimated", "isQtyEstimated",
                  "qtyUnitCode", "qty", "period_date", "synthetic"]
_READ_COLUMNS = list(dict.fromkeys([*KEY, *_VALUE_COLUMNS]))
"""Columns the engines read: the record key and what the record rules and sums look at."""


# --------------------------------------------------------------------------- what is read

@dataclass(frozen=True)
class Selection:
    """The records a series build reads (pushed down into the scan): one reporter and flow, some partners,
    the months ``start`` to ``end`` (None: open), and, with ``traded_by``, only the families in which that
    partner has a record (the screen's focal partner)."""

    reporter: int
    flow: str
    partners: tuple[int, ...]
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    traded_by: int | None = None

    @classmethod
    def of_study(cls, study: Study) -> Selection:
        """The study's reporter, flow and partners (focal, comparison, transit) over its windows, the families
        the focal partner trades."""
        return cls(study.reporter, study.flow, tuple(dict.fromkeys(study.partners)), study.pre.start,
                   study.post.end, study.focal)

    def arrow_filters(self) -> list[tuple[str, str, Any]]:
        """The selection as pyarrow.parquet filters (a conjunction)."""
        out: list[tuple[str, str, Any]] = [("reporterCode", "=", self.reporter), ("flowCode", "=", self.flow),
                                           ("freqCode", "=", "M"), ("partnerCode", "in", list(self.partners))]
        if self.start is not None:
            out.append(("period_date", ">=", pd.Timestamp(self.start)))
        if self.end is not None:
            out.append(("period_date", "<=", pd.Timestamp(self.end)))
        return out


def _store(store: Store | str | os.PathLike[str] | None) -> Store:
    return store if isinstance(store, Store) else Store(store)


def chunk_files(store: Store | str | os.PathLike[str] | None) -> pd.DataFrame:
    """The chunk files to read: ``path`` (absolute) and ``rank`` (precedence: the higher wins a cell stored
    twice); only chunks with records, each confined to the store and checked by :meth:`Store.verify`.

    InputError for an empty store; StoreError for a manifest entry leading outside the store's chunks
    folder (:func:`analysis.manifest.chunk_path`); ChecksumError for a chunk :meth:`Store.verify` does not
    find ok (as :meth:`Store.read` refuses it).
    """
    st = _store(store)
    manifest = st.manifest()
    if manifest.empty:
        raise InputError(f"the store at {st.root} is empty: run `tradeflows fetch` or `tradeflows import` first")
    manifest = manifest[manifest["rows"] > 0]
    if manifest.empty:
        raise InputError(f"the store at {st.root} holds no records (only empty query results)")
    paths = [str(chunk_path(st.root, str(f)).resolve()) for f in manifest["file"]]  # StoreError if outside
    check = st.verify()
    check = check[check["chunk_id"].isin(manifest["chunk_id"]) & check["file"].isin(manifest["file"])]
    for row in check[check["status"] != "ok"].itertuples():
        raise ChecksumError(f"chunk {row.chunk_id} ({row.file}): {str(row.status).replace('_', ' ')}: it is not "
                            "used; run `tradeflows store --verify`, then re-fetch or re-import it")
    entries = [{"published": None if pd.isna(p) else str(p), "fetched_at": str(f), "chunk_id": str(c)}
               for p, f, c in zip(manifest["published"], manifest["fetched_at"], manifest["chunk_id"], strict=True)]
    order = sorted(range(len(entries)), key=lambda i: _rank(entries[i]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return pd.DataFrame({"path": paths, "rank": rank}).sort_values("rank", ignore_index=True)


# --------------------------------------------------------------------------- the rules in SQL

def _sql_literal(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(int(value))  # type: ignore[call-overload]


def record_rules_sql() -> dict[str, str]:
    """series.py's record rules as DuckDB expressions over the stored columns.

    ``breakdown``: a partner-2, customs or transport breakdown row (from
    :data:`analysis.series._BREAKDOWN_TOTALS`); ``six_digit``: a six-digit
    code; ``edition``: the HS edition the registry looks the code up in
    (others count as HS 2022, as :func:`analysis.registry.family_of`);
    ``converted``: a converted copy (``isOriginalClassification`` False);
    ``estimated``: an estimated net weight (:func:`analysis.series.estimated_weight`).
    """
    breakdown = " OR ".join(f'("{col}" IS NOT NULL AND "{col}" <> {_sql_literal(total)})'
                            for col, total in _BREAKDOWN_TOTALS)
    editions = ", ".join(_sql_literal(e) for e in registry.EDITIONS)
    return {
        "breakdown": f"({breakdown})",
        "six_digit": 'length("cmdCode") = 6',
        "edition": f'(CASE WHEN "classificationCode" IN ({editions}) THEN "classificationCode" ELSE \'H6\' END)',
        "converted": 'coalesce("isOriginalClassification" = false, false)',
        "estimated": (f'(coalesce("isNetWgtEstimated", false) OR (coalesce("isQtyEstimated", false) AND '
                      f'coalesce("qtyUnitCode" = {KG_UNIT} AND abs("qty" - "netWgt") <= {ISCLOSE_ATOL!r} + '
                      f'{ISCLOSE_RTOL!r} * abs("netWgt"), false)))'),
    }


_CELL = '"partnerCode", "period_date", family_id'
"""A series cell within the selection (one reporter and flow): partner, month, family."""


def _where(selection: Selection) -> tuple[str, dict[str, Any]]:
    """The selection and the record rules that drop rows (aggregates, breakdowns) as a WHERE clause + parameters."""
    rules = record_rules_sql()
    where = ['r."reporterCode" = $reporter', 'r."flowCode" = $flow', "r.\"freqCode\" = 'M'",
             'r."partnerCode" IN (SELECT unnest($partners::BIGINT[]))', rules["six_digit"], f"NOT {rules['breakdown']}"]
    params: dict[str, Any] = {"reporter": selection.reporter, "flow": selection.flow,
                              "partners": list(selection.partners)}
    if selection.start is not None:
        where.append('r."period_date" >= $start::TIMESTAMP')
        params["start"] = pd.Timestamp(selection.start).to_pydatetime()
    if selection.end is not None:
        where.append('r."period_date" <= $end::TIMESTAMP')
        params["end"] = pd.Timestamp(selection.end).to_pydatetime()
    return " AND ".join(where), params


def _family_sql() -> tuple[str, str]:
    """(family id expression, join) of :func:`analysis.registry.family_of` over the registered ``code_family``."""
    join = f'LEFT JOIN code_family AS cf ON cf.edition = {record_rules_sql()["edition"]} AND cf.code = r."cmdCode"'
    return "coalesce(cf.family_id, 'HS' || r.\"cmdCode\")", join


def _families_sql(selection: Selection) -> tuple[str, dict[str, Any]]:
    """The families in which ``selection.traded_by`` has a selected record (a family is a function of the
    edition and code, so this equals its families after de-duplication and the converted-copy rule)."""
    where, params = _where(selection)
    family, join = _family_sql()
    sql = (f"SELECT DISTINCT {family} AS family_id FROM read_parquet($files, union_by_name = true) AS r {join} "
           f'WHERE {where} AND r."partnerCode" = $focal')
    return sql, {**params, "focal": selection.traded_by}


def _cells_sql(selection: Selection, families: list[str] | None) -> tuple[str, dict[str, Any]]:
    """The DuckDB query of the code cells and its parameters (all but ``files``).

    Steps: the selected rows of the chunks (and of ``families``, when given),
    each with the precedence of its chunk and its row (``ord``); the store's
    de-duplication, exact but cheap: rows whose KEY hash is unique pass, the
    few others keep the row of highest precedence per KEY; the sums per code,
    edition and month (``fine``); the converted-copy rule per series cell.
    """
    rules = record_rules_sql()
    where, params = _where(selection)
    family, join = _family_sql()
    if families is not None:
        where += f" AND {family} IN (SELECT unnest($families::VARCHAR[]))"
        params["families"] = families
    key = ", ".join(f'"{c}"' for c in KEY)
    cols = ", ".join(f'r."{c}"' for c in _READ_COLUMNS)
    sql = f"""
    WITH sel AS (
        SELECT {cols}, {family} AS family_id, hash({", ".join(f'r."{c}"' for c in KEY)}) AS h,
               f.rank * 4294967296 + r.file_row_number AS ord
        FROM read_parquet($files, filename = true, file_row_number = true, union_by_name = true) AS r
        JOIN chunk_files AS f ON r.filename = f.path
        {join}
        WHERE {where}
    ), twice AS (
        SELECT h FROM sel GROUP BY h HAVING count(*) > 1
    ), rec AS (
        SELECT * FROM sel ANTI JOIN twice USING (h)
        UNION ALL
        SELECT * FROM (SELECT * FROM sel SEMI JOIN twice USING (h))
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY ord DESC) = 1
    ), fine AS (
        SELECT "partnerCode", family_id, "classificationCode", "cmdCode", "period_date",
               {rules['converted']} AS converted, sum("primaryValue") AS usd, sum("netWgt") AS kg,
               bool_or({rules['estimated']}) AS kg_estimated, count(*) AS n_records, bool_or("synthetic") AS synthetic
        FROM rec GROUP BY ALL
    ), conv AS (
        SELECT * FROM fine WHERE converted
    ), covered AS (
        SELECT DISTINCT {_CELL} FROM (SELECT * FROM fine WHERE NOT converted)
        SEMI JOIN (SELECT DISTINCT {_CELL} FROM conv) USING ({_CELL})
    ), used AS (
        SELECT * FROM fine WHERE NOT converted
        UNION ALL
        SELECT * FROM conv ANTI JOIN covered USING ({_CELL})
    )
    SELECT $reporter::BIGINT AS reporter_code, "partnerCode" AS partner_code, $flow AS flow_code, family_id,
           "classificationCode" AS classification, "cmdCode" AS cmd_code, "period_date" AS date, usd, kg,
           kg_estimated, n_records::BIGINT AS n_records, synthetic
    FROM used
    """
    return sql, params


def _check_memory_limit(memory_limit: str | None) -> str:
    text = DEFAULT_MEMORY_LIMIT if memory_limit is None else str(memory_limit)
    if not _MEMORY.match(text):
        raise InputError(f"memory limit {text!r} is not a size such as 2GB or 1500MB")
    return text.replace(" ", "")


@contextmanager
def _duckdb(memory_limit: str | None, threads: int | None) -> Iterator[Any]:
    """An in-memory DuckDB connection with a memory budget, a thread count and a private spill folder."""
    import duckdb

    limit = _check_memory_limit(memory_limit)
    if threads is not None and threads < 1:
        raise InputError(f"threads must be at least 1, not {threads}")
    with tempfile.TemporaryDirectory(prefix="tradeflows-duckdb-") as spill:
        con = duckdb.connect(config={"memory_limit": limit, "threads": threads or os.cpu_count() or 1,
                                     "temp_directory": spill, "preserve_insertion_order": False})
        try:
            yield con
        finally:
            con.close()


def _read_error(exc: Exception) -> StoreError:
    return StoreError(f"cannot read the store's chunks: {' '.join(str(exc).split())}")


def _local_cells(files: pd.DataFrame, selection: Selection, memory_limit: str | None,
                 threads: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Code cells and descriptions with DuckDB."""
    import duckdb

    paths = files["path"].tolist()
    with _duckdb(memory_limit, threads) as con:
        con.register("chunk_files", files[["path", "rank"]])
        con.register("code_family", registry.load_registry().code_family[["edition", "code", "family_id"]])
        try:
            families = None
            if selection.traded_by is not None:
                sql, params = _families_sql(selection)
                families = [str(row[0]) for row in con.execute(sql, {**params, "files": paths}).fetchall()]
            sql, params = _cells_sql(selection, families)
            cells = con.execute(sql, {**params, "files": paths}).df()
            desc = con.execute(_DESCRIPTIONS_SQL, {"files": paths, "reporter": selection.reporter,
                                                   "flow": selection.flow, "partner": _described(selection)}).df()
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            raise _read_error(exc) from None
    return _typed_cells(cells), desc


def _described(selection: Selection) -> int:
    """The partner whose records give Comtrade's descriptions of the codes: the focal partner (else the first)."""
    return selection.traded_by if selection.traded_by is not None else selection.partners[0]


_DESCRIPTIONS_SQL = """
SELECT "cmdCode" AS cmd_code, "classificationCode" AS classification, any_value("cmdDesc") AS description
FROM read_parquet($files, union_by_name = true)
WHERE "reporterCode" = $reporter AND "flowCode" = $flow AND "partnerCode" = $partner AND "cmdDesc" IS NOT NULL
GROUP BY ALL
"""


def _typed_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Code cells with the dtypes of :data:`CELL_COLUMNS`, in one order (engines return rows in any order)."""
    out = cells[CELL_COLUMNS].astype({"reporter_code": "int64", "partner_code": "int64", "flow_code": "str",
                                      "family_id": "str", "classification": "str", "cmd_code": "str",
                                      "date": "datetime64[ns]", "usd": "float64", "kg": "float64",
                                      "kg_estimated": bool, "n_records": "int64", "synthetic": bool})
    order = ["reporter_code", "partner_code", "flow_code", "family_id", "classification", "cmd_code", "date"]
    return out.sort_values(order, ignore_index=True)


# --------------------------------------------------------------------------- Dask

def _read_chunk(part: tuple[str, int], fields: list[str], filters: list[tuple[str, str, Any]]) -> pd.DataFrame:
    """One chunk file's selected records (filters pushed into the Parquet read), with its precedence and row order.

    (``fields``, not ``columns``: dask.dataframe.from_map would take a ``columns`` argument for its own
    column projection and drop the two columns added here.)
    """
    import pyarrow.parquet as pq

    path, rank = part
    frame = pq.read_table(path, columns=fields, filters=filters).to_pandas()
    frame = frame.astype({c: FIELDS[c] for c in fields if c in FIELDS and str(frame[c].dtype) != FIELDS[c]})
    frame["_rank"] = np.int64(rank)
    frame["_row"] = np.arange(len(frame), dtype=np.int64)
    return frame


def _empty_cells() -> pd.DataFrame:
    return _typed_cells(pd.DataFrame({c: [] for c in CELL_COLUMNS}))


def _sum_cells(used: pd.DataFrame, family: pd.Series) -> pd.DataFrame:
    """Code cells (:data:`CELL_COLUMNS`) of used records (a tidy record frame) and their families."""
    if used.empty:
        return _empty_cells()
    flat = pd.DataFrame({
        "reporter_code": used["reporterCode"].astype("int64").to_numpy(),
        "partner_code": used["partnerCode"].astype("int64").to_numpy(),
        "flow_code": used["flowCode"].astype(str).to_numpy(), "family_id": family.to_numpy(),
        "classification": used["classificationCode"].astype(str).to_numpy(),
        "cmd_code": used["cmdCode"].astype(str).to_numpy(), "date": used["period_date"].to_numpy(),
        "usd": used["primaryValue"].astype(float).to_numpy(), "kg": used["netWgt"].astype(float).to_numpy(),
        "kg_estimated": estimated_weight(used).to_numpy(bool), "synthetic": used["synthetic"].to_numpy(bool),
    })
    by = flat.groupby(CELL_COLUMNS[:7], sort=False)
    out = by.agg(usd=("usd", "sum"), kg_estimated=("kg_estimated", "any"), n_records=("usd", "size"),
                 synthetic=("synthetic", "any"))
    out["kg"] = by["kg"].sum(min_count=1)
    return _typed_cells(out.reset_index())


def _block_cells(block: pd.DataFrame) -> pd.DataFrame:
    """Code cells of one block holding every selected record of some reporter-partner pairs (so whole cells):
    the store's precedence, then series.py's own record rules."""
    if block.empty:
        return _empty_cells()
    block = block.sort_values(["_rank", "_row"], kind="stable").drop_duplicates(KEY, keep="last")
    used, family, _ = _select(block.drop(columns=["_rank", "_row"]), "M")
    return _sum_cells(used, family)


def _dask_frame(files: pd.DataFrame, columns: list[str], filters: list[tuple[str, str, Any]]) -> dd.DataFrame:
    import dask.dataframe as dd

    meta = _empty_records(columns)
    parts = list(zip(files["path"], files["rank"].astype(int), strict=True))
    return dd.from_map(_read_chunk, parts, fields=columns, filters=filters, meta=meta, enforce_metadata=False)


def _empty_records(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=FIELDS.get(c, "datetime64[ns]" if c == "period_date" else "bool"))
                          for c in columns})
    frame["_rank"] = pd.Series(dtype="int64")
    frame["_row"] = pd.Series(dtype="int64")
    return frame


@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int = 2) -> Iterator[Client]:
    """A client of the Dask scheduler at ``scheduler``, or of a local cluster of ``workers`` processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("the dask engine needs dask[distributed]: pip install 'tradeflows[scale]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {' '.join(str(exc).split())}") from None
        with client:
            yield client
        return
    if workers < 1:
        raise InputError(f"workers must be at least 1, not {workers}")
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
    except (RuntimeError, OSError) as exc:
        raise InputError(f"cannot start a local Dask cluster of {workers} worker(s): {' '.join(str(exc).split())}; "
                         "give the address of a running scheduler") from None
    with cluster, Client(cluster) as client:
        yield client


def _dask_cells(files: pd.DataFrame, selection: Selection, client: Client) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Code cells and descriptions on a Dask cluster: chunks read in parallel, shuffled so that every record of
    a reporter-partner pair lies in one partition, then series.py's rules per partition."""
    records = _dask_frame(files, _READ_COLUMNS, selection.arrow_filters())
    shuffled = records.shuffle(on=["reporterCode", "partnerCode"])
    cells = client.persist(shuffled.map_partitions(_block_cells, meta=_empty_cells()))
    if selection.traded_by is not None:
        focal = client.compute(cells[cells["partner_code"] == selection.traded_by]["family_id"].unique()).result()
        cells = cells[cells["family_id"].isin(list(focal))]
    out = client.compute(cells).result()
    cols = ["cmdCode", "classificationCode", "cmdDesc"]
    flt = [("reporterCode", "=", selection.reporter), ("flowCode", "=", selection.flow),
           ("partnerCode", "=", _described(selection))]
    desc = _dask_frame(files, cols, flt)[cols].dropna().drop_duplicates(["cmdCode", "classificationCode"])
    return _typed_cells(out), pd.DataFrame(client.compute(desc).result().to_numpy(), columns=DESCRIPTION_COLUMNS)


# --------------------------------------------------------------------------- the entry points

@dataclass(frozen=True)
class CodeCells:
    """What an engine returns: the code cells and Comtrade's descriptions of the focal partner's codes."""

    cells: pd.DataFrame
    descriptions: pd.DataFrame


def code_cells(store: Store | str | os.PathLike[str] | None, selection: Selection, *, engine: Engine = "local",
               scheduler: str | None = None, workers: int = 2, memory_limit: str | None = None,
               threads: int | None = None) -> CodeCells:
    """The code cells (:data:`CELL_COLUMNS`) of the selected records of ``store``, summed by ``engine``.

    ``local``: DuckDB in this process (``memory_limit``, e.g. "2GB", and
    ``threads`` bound it; it spills to a temporary folder). ``dask``: the Dask
    scheduler at ``scheduler`` (every worker must see the store's folder and
    have tradeflows installed), else a local cluster of ``workers`` processes.
    """
    check_choice(engine, Engine, "engine")
    if scheduler and engine != "dask":
        raise InputError("a scheduler address needs engine 'dask'")
    if not selection.partners:
        raise InputError("no partners selected")
    files = chunk_files(store)
    if engine == "local":
        cells, desc = _local_cells(files, selection, memory_limit, threads)
    else:
        with dask_client(scheduler, workers=workers) as client:
            cells, desc = _dask_cells(files, selection, client)
    return CodeCells(cells, desc[DESCRIPTION_COLUMNS].astype(str).reset_index(drop=True))


def series_from_cells(cells: pd.DataFrame, *, jan_feb: JanFeb = "auto") -> pd.DataFrame:
    """The monthly series frame (``SERIES_COLUMNS``) of code cells: :func:`analysis.series.build_series` on one
    pseudo-record per cell, with the engine's record counts (``n_records``)."""
    if cells.empty:
        raise InputError("no six-digit monthly records to build series from")
    records = pd.DataFrame({
        "freqCode": "M", "reporterCode": cells["reporter_code"].astype("Int64"),
        "partnerCode": cells["partner_code"].astype("Int64"), "flowCode": cells["flow_code"].astype(str),
        "classificationCode": cells["classification"].astype(str), "cmdCode": cells["cmd_code"].astype(str),
        "period_date": cells["date"], "primaryValue": cells["usd"], "netWgt": cells["kg"],
        "isNetWgtEstimated": cells["kg_estimated"].astype("boolean"), "synthetic": cells["synthetic"],
    })
    series = build_series(records, freq="M", jan_feb=jan_feb)
    counts = cells.groupby([*SERIES_KEY, "date"], sort=False)["n_records"].sum()
    key = pd.MultiIndex.from_frame(series[[*SERIES_KEY, "date"]])
    series["n_records"] = counts.reindex(key).fillna(0).astype("int64").to_numpy()
    return series[SERIES_COLUMNS]


def store_series(store: Store | str | os.PathLike[str] | None, selection: Selection, *, jan_feb: JanFeb = "auto",
                 engine: Engine = "local", scheduler: str | None = None, workers: int = 2,
                 memory_limit: str | None = None, threads: int | None = None) -> pd.DataFrame:
    """The monthly series of the selected records of ``store``, read out of core (see the module docstring):
    equal to ``build_series`` of the same records read with :meth:`Store.read`."""
    found = code_cells(store, selection, engine=engine, scheduler=scheduler, workers=workers,
                       memory_limit=memory_limit, threads=threads)
    return series_from_cells(found.cells, jan_feb=jan_feb)
