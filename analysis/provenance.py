"""Where analysed records came from: origin, coverage and provenance (for the report's Data section).

The report describes its data from a :class:`DataSource` made here, so it
never reads the store itself; the CLI and notebooks make one with
:func:`describe_source`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pandas as pd

from .schema import empty_records, is_synthetic
from .series import CONVERTED, ESTIMATED_KG
from .series import set_aside as series_set_aside
from .study import check_choice

if TYPE_CHECKING:
    from .store import Store

SET_ASIDE_CONVERTED, SET_ASIDE_ESTIMATED_KG = CONVERTED, ESTIMATED_KG
"""Reasons of ``DataSource.set_aside`` the report looks for (the report reads provenance, not the series)."""

Origin = Literal["demo", "store", "frame"]
"""The embedded synthetic panel, records read from a local store, or records handed over in Python."""

COVERAGE_COLUMNS = ["reporter", "partner", "flow", "freq", "classification", "first_period",
                    "last_period", "records", "synthetic"]


def coverage_of(records: pd.DataFrame) -> pd.DataFrame:
    """Coverage of a tidy record frame: one row per reporter, partner, flow, frequency and HS edition
    (``COVERAGE_COLUMNS``), with the first and last period and the number of records."""
    keys = ["reporterCode", "partnerCode", "flowCode", "freqCode", "classificationCode"]
    if records.empty:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    cov = (records.groupby(keys, dropna=False, sort=True)
           .agg(first_period=("period", "min"), last_period=("period", "max"),
                records=("period", "size"), synthetic=("synthetic", "any"))
           .reset_index()
           .rename(columns=dict(zip(keys, COVERAGE_COLUMNS, strict=False))))
    cov["records"] = cov["records"].astype("int64")
    return cov[COVERAGE_COLUMNS]


@dataclass
class DataSource:
    """The input of one analysis, described for readers.

    ``origin`` is ``demo`` (the embedded synthetic panel), ``store`` (records
    read from a local store) or ``frame`` (records handed over in Python);
    ``coverage`` has the columns of :meth:`analysis.store.Store.coverage` for
    the records actually analysed; ``manifest`` lists the store chunks they
    came from (queries, endpoints, fetch and import dates); ``set_aside``
    (:func:`analysis.series.set_aside`) lists what the series leave out and
    why: converted copies of original records, aggregates and breakdowns,
    weights that are estimates (empty when nothing, or when only a series
    frame was given).
    """

    origin: Origin
    synthetic: bool
    coverage: pd.DataFrame
    manifest: pd.DataFrame | None = None
    store_root: str | None = None
    notes: list[str] = field(default_factory=list)
    set_aside: pd.DataFrame = field(default_factory=lambda: series_set_aside(empty_records()))

    @property
    def editions(self) -> list[str]:
        return sorted(set(self.coverage["classification"].dropna().astype(str)))


def describe_source(data: pd.DataFrame, *, origin: Origin = "frame", store: Store | None = None) -> DataSource:
    """A :class:`DataSource` for ``data``, a tidy record frame or a series frame (with the store's manifest
    when the records came from ``store``)."""
    check_choice(origin, Origin, "origin")
    if "cmdCode" not in data.columns and {"reporter_code", "partner_code", "date"} <= set(data.columns):
        return DataSource(origin=origin, synthetic=is_synthetic(data), coverage=_series_coverage(data))
    records = data
    manifest = None
    if store is not None:
        try:
            manifest = store.manifest()
        except Exception:  # noqa: BLE001 - a manifest the store cannot read is reported, not fatal here
            manifest = None
        if manifest is not None:
            manifest = _used_chunks(manifest, records)
    return DataSource(origin=origin, synthetic=is_synthetic(records), coverage=coverage_of(records),
                      manifest=manifest, store_root=str(store.root) if store is not None else None,
                      set_aside=series_set_aside(records))


def _used_chunks(manifest: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Manifest rows whose query names one of the analysed reporters (or any imported file)."""
    reporters = {str(r) for r in records["reporterCode"].dropna().unique()}

    def used(row) -> bool:
        if row["endpoint"] == "file":
            return True
        try:
            query = json.loads(row["query"])
        except (TypeError, ValueError):
            return True
        rep = query.get("reporterCode", query.get("reporter"))
        if rep is None:
            return True
        reps = rep if isinstance(rep, list) else str(rep).split(",")
        return any(str(r) in reporters for r in reps)

    keep = manifest[manifest.apply(used, axis=1)] if len(manifest) else manifest
    return keep.reset_index(drop=True)


def _series_coverage(series: pd.DataFrame) -> pd.DataFrame:
    """Coverage of a series frame (no HS edition: series are families across editions)."""
    cov = (series.groupby(["reporter_code", "partner_code", "flow_code"])
           .agg(first_period=("date", "min"), last_period=("date", "max"), records=("n_records", "sum"))
           .reset_index())
    return pd.DataFrame({"reporter": cov["reporter_code"], "partner": cov["partner_code"], "flow": cov["flow_code"],
                         "freq": "M", "classification": "", "first_period": cov["first_period"].dt.strftime("%Y%m"),
                         "last_period": cov["last_period"].dt.strftime("%Y%m"), "records": cov["records"],
                         "synthetic": is_synthetic(series)})[COVERAGE_COLUMNS]
