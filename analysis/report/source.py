"""Where the analysed records came from: origin, coverage and provenance, for the report's Data section."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from ..schema import is_synthetic
from ..store import Store, coverage_of


@dataclass
class DataSource:
    """The input of one analysis, described for readers.

    ``origin`` is ``demo`` (the embedded synthetic panel), ``store`` (records
    read from a local store) or ``frame`` (records handed over in Python);
    ``coverage`` has the columns of :meth:`analysis.store.Store.coverage` for
    the records actually analysed; ``manifest`` lists the store chunks they
    came from (queries, endpoints, fetch and import dates).
    """

    origin: str
    synthetic: bool
    coverage: pd.DataFrame
    manifest: pd.DataFrame | None = None
    store_root: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def editions(self) -> list[str]:
        return sorted(set(self.coverage["classification"].dropna().astype(str)))


def describe(records: pd.DataFrame, *, origin: str = "frame", store: Store | None = None) -> DataSource:
    """A :class:`DataSource` for ``records`` (with the store's manifest when they came from ``store``)."""
    manifest = None
    if store is not None:
        try:
            manifest = store.manifest()
        except Exception:  # noqa: BLE001 - a manifest the store cannot read is reported, not fatal here
            manifest = None
        if manifest is not None:
            manifest = _used_chunks(manifest, records)
    return DataSource(origin=origin, synthetic=is_synthetic(records), coverage=coverage_of(records),
                      manifest=manifest, store_root=str(store.root) if store is not None else None)


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
