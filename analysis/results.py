"""Result objects: what :func:`~analysis.compare`, :func:`~analysis.did`, :func:`~analysis.find_anomalies` and
:func:`~analysis.analyze` return.

In the manner of fitted models in pyfixest: each result holds its tables as
attributes, the :class:`~analysis.study.Study` it answered and the settings
it was computed with as typed fields, and ``synthetic`` as a field; it gives
its main table with :meth:`to_frame`, estimates in one long table with
:meth:`tidy`, shows itself as a readable table in Jupyter
(``_repr_html_``) and writes its tables with :meth:`write`. Reports and
figures take results and never estimate.
"""
from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._io import atomic_write, staged_dir
from .study import Study

if TYPE_CHECKING:
    from .suppliers import SuppliersResult

QScope = Literal["partner", "all"]
"""Benjamini-Hochberg over each partner's families (``partner``) or over every row (``all``)."""
CrossCheck = Literal["screened", "all", "none"]
"""Which families get the statsmodels cross-check of the family DiD."""

SYNTHETIC_HTML = "<p style='color:#b00;font-weight:bold'>SYNTHETIC DATA: demo panel, not real trade.</p>"
_ESTIMATE_COLUMNS = ["table", "partner_code", "family", "group", "period", "term", "estimate", "low", "high",
                     "p_value", "q_value", "note", "synthetic"]


def _fmt(x: float) -> str:
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return "" if np.isnan(x) else ("inf" if x > 0 else "-inf")
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"
    return str(x)


def html_table(frame: pd.DataFrame, *, rows: int = 15) -> str:
    """A short, formatted HTML table (3 significant digits, thousands separated) for Jupyter."""
    if frame.empty:
        return "<p><i>none</i></p>"
    shown = frame.head(rows)
    body = shown.to_html(index=False, float_format=_fmt, na_rep="", border=0)
    more = f"<p><i>{len(frame) - rows} more rows</i></p>" if len(frame) > rows else ""
    return body + more


def _long(frame: pd.DataFrame, table: str, terms: Mapping[str, tuple[str, str, str, str, str | None]],
          *, period: str | None = None) -> pd.DataFrame:
    """Estimates of ``frame`` in the long tidy layout: one row per term (estimate, interval, p, q)."""
    parts = []
    for term, (est, lo, hi, p, q) in terms.items():
        if est not in frame.columns:
            continue
        parts.append(pd.DataFrame({
            "table": table,
            "partner_code": frame["partner_code"] if "partner_code" in frame else pd.NA,
            "family": frame["family"] if "family" in frame else pd.NA,
            "group": frame["group"] if "group" in frame else pd.NA,
            "period": frame[period] if period else pd.NA,
            "term": term, "estimate": frame[est], "low": frame[lo], "high": frame[hi], "p_value": frame[p],
            "q_value": frame[q] if q else np.nan,
            "note": frame["note"] if "note" in frame else "",
            "synthetic": frame["synthetic"] if "synthetic" in frame else False,
        }))
    if not parts:
        return pd.DataFrame(columns=_ESTIMATE_COLUMNS)
    return pd.concat(parts, ignore_index=True)[_ESTIMATE_COLUMNS]


def _write_tables(out: str | os.PathLike[str], tables: Mapping[str, pd.DataFrame],
                  config: Mapping[str, Any]) -> Path:
    """Write ``tables`` (CSV) and ``config.json`` into the analysis folder ``out``, all or nothing."""
    with staged_dir(out, "analysis") as folder:
        write_tables_into(folder, tables, config)
    return Path(out).expanduser().absolute()


def _csv_writer(frame: pd.DataFrame) -> Callable[[IO[str]], object]:
    return lambda fh: frame.to_csv(fh, index=False)


def write_tables_into(folder: Path, tables: Mapping[str, pd.DataFrame], config: Mapping[str, Any]) -> list[Path]:
    """Write ``tables`` and ``config.json`` into an existing (staged) ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [atomic_write(folder / name, _csv_writer(frame)) for name, frame in tables.items()]
    written.append(atomic_write(folder / "config.json", json.dumps(dict(config), indent=2, default=str)))
    return written


USD_KINDS = ("level_shift", "spike", "counterfactual_excess", "new_flow")
"""Finding kinds about the monthly value, drawn against a counterfactual band."""


def ranked_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """All findings ranked across kinds by score (the z-equivalent of the p-value), then size."""
    if findings.empty:
        return findings
    f = findings.copy()
    f["_size"] = np.log(f["size"].where(f["size"] > 0)).abs().fillna(0)
    f = f.sort_values(["score", "_size"], ascending=[False, False], kind="mergesort").drop(columns="_size")
    f["overall_rank"] = np.arange(1, len(f) + 1)
    return f.reset_index(drop=True)


class _Result:
    """Shared behaviour: ``to_frame``, ``tidy``, ``write`` and the Jupyter display."""

    study: Study
    config: Any
    synthetic: bool
    title = "result"
    sort_note = ""

    def tables(self) -> dict[str, pd.DataFrame]:  # pragma: no cover - every result defines it
        raise NotImplementedError

    def config_dict(self) -> dict[str, Any]:
        """What config.json records: the study, the settings of the estimate, the synthetic flag."""
        return {**self.study.to_dict(), **asdict(self.config), "synthetic": self.synthetic}

    def to_frame(self) -> pd.DataFrame:
        """The main table (a copy)."""
        return next(iter(self.tables().values())).copy()

    def write(self, out: str | os.PathLike[str]) -> Path:
        """Write the tables and config.json into the folder ``out`` (built beside it, swapped in when complete)."""
        return _write_tables(out, self.tables(), self.config_dict())

    def _shown(self) -> pd.DataFrame:
        return self.to_frame()

    def _repr_html_(self) -> str:
        head = f"<h4>{html.escape(self.title)}</h4><p>{html.escape(self.study.describe())}"
        head += f"; {html.escape(self.sort_note)}</p>" if self.sort_note else "</p>"
        return (SYNTHETIC_HTML if self.synthetic else "") + head + html_table(self._shown())

    def __repr__(self) -> str:
        tag = " SYNTHETIC" if self.synthetic else ""
        sizes = ", ".join(f"{name} {len(frame)} rows" for name, frame in self.tables().items())
        return f"<{type(self).__name__}{tag}: {self.study.describe()}; {sizes}>"


# ------------------------------------------------------------------ compare --

@dataclass(frozen=True)
class CompareConfig:
    """How compare.csv was computed (beyond the study)."""

    alpha: float
    q_scope: QScope
    jan_feb_merged: bool
    hac_lags: int
    fixed_b_ratio: tuple[float, float]
    fixed_b_relative: tuple[float, float] | None
    share_basis: str
    comparison_partners: tuple[int, ...]
    comparison_partners_missing: tuple[int, ...]


@dataclass(frozen=True, repr=False)
class CompareResult(_Result):
    """Before/after ratios and relative ratios, one row per partner and family (``table``, compare.csv)."""

    table: pd.DataFrame
    study: Study
    config: CompareConfig
    synthetic: bool
    title = "Before/after and relative to the comparison partners"
    sort_note = "focal partner's families, smallest relative q-value first"

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"compare.csv": self.table}

    def focal(self) -> pd.DataFrame:
        """Rows of the focal partner, the most significant relative change first."""
        rows = self.table[self.table["is_focal"]]
        return rows.sort_values(["relative_q_value", "q_value"], na_position="last").reset_index(drop=True)

    def tidy(self) -> pd.DataFrame:
        """Every estimate as one row: ``term`` ratio or relative_ratio, with its interval, p- and q-value."""
        return _long(self.table, "compare", {
            "ratio": ("ratio", "ratio_low", "ratio_high", "p_value", "q_value"),
            "relative_ratio": ("relative_ratio", "relative_low", "relative_high", "relative_p_value",
                               "relative_q_value"),
        })

    def _shown(self) -> pd.DataFrame:
        cols = ["family", "family_name", "group", "pre_usd_month", "post_usd_month", "ratio", "relative_ratio",
                "relative_low", "relative_high", "relative_q_value", "pre_trend", "break_2022"]
        return self.focal()[cols]


# ---------------------------------------------------------------------- did --

@dataclass(frozen=True)
class DidConfig:
    """How the DiD tables were computed."""

    alpha: float
    reference_quarter: str
    cross_check: CrossCheck
    comparison_partners: tuple[int, ...]


@dataclass(frozen=True, repr=False)
class DidResult(_Result):
    """Family DiD (``family``), event study by group (``event_study``) and triple difference (``triple_diff``)."""

    family: pd.DataFrame
    event_study: pd.DataFrame
    triple_diff: pd.DataFrame
    study: Study
    config: DidConfig
    synthetic: bool
    title = "Is it the focal partner's own change? Triple difference by group"
    sort_note = "groups, smallest q-value first"

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"did_family.csv": self.family, "event_study.csv": self.event_study,
                "triple_diff.csv": self.triple_diff}

    def tidy(self) -> pd.DataFrame:
        """Family relative ratios, event-study quarters and triple differences as one long table."""
        fam = _long(self.family, "did_family", {"relative_ratio": ("relative_ratio", "relative_low",
                                                                     "relative_high", "relative_p_value",
                                                                     "relative_q_value")})
        ev = _long(self.event_study, "event_study", {"quarter_ratio": ("ratio", "ratio_low", "ratio_high",
                                                                        "p_value", None)}, period="quarter")
        tri = _long(self.triple_diff, "triple_diff", {"triple_ratio": ("ratio", "ratio_low", "ratio_high",
                                                                        "p_value", "q_value")})
        return pd.concat([x for x in (fam, ev, tri) if len(x)] or [fam], ignore_index=True)

    def _shown(self) -> pd.DataFrame:
        return self.triple_diff.sort_values("q_value", na_position="last").drop(columns=["synthetic"])


# ---------------------------------------------------------------- anomalies --

@dataclass(frozen=True)
class AnomalyConfig:
    """How findings.csv was computed."""

    alpha: float
    detectors: tuple[str, ...]
    partners: tuple[int, ...] | None
    all_tested: bool = False
    focal_relative: bool = True
    """Whether the focal partner's series were tested relative to the comparison partners' median index."""


@dataclass(frozen=True, repr=False)
class AnomalyResult(_Result):
    """Anomaly findings (``findings``, findings.csv): q < alpha within each kind, ranked by score."""

    findings: pd.DataFrame
    study: Study
    config: AnomalyConfig
    synthetic: bool
    title = "Anomaly findings"
    sort_note = "by kind, strongest first (rank)"

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"findings.csv": self.findings}

    def tidy(self) -> pd.DataFrame:
        """Each finding's size with its interval, p- and q-value, as one long table."""
        f = self.findings
        return pd.DataFrame({
            "table": "findings", "partner_code": f["partner_code"], "family": f["family"], "group": f["group"],
            "period": f["period"], "term": f["kind"], "estimate": f["size"], "low": f["size_low"],
            "high": f["size_high"], "p_value": f["p_value"], "q_value": f["q_value"], "note": f["detail"],
            "synthetic": f["synthetic"]}, columns=_ESTIMATE_COLUMNS)

    def _shown(self) -> pd.DataFrame:
        cols = ["kind", "partner_code", "family", "family_name", "period", "score", "size", "q_value", "detail"]
        return self.findings[[c for c in cols if c in self.findings.columns]]


# ------------------------------------------------------------------ analyze --

@dataclass(frozen=True)
class AnalysisConfig:
    """What :func:`~analysis.analyze` ran, for config.json and the report's methods text."""

    alpha: float
    q_scope: QScope
    cross_check: CrossCheck
    anomalies: str
    did: str
    inference: str
    versions: dict[str, str]


Stage = Literal["compared", "found"]
"""How far :func:`analysis.analyze` has got when it calls its ``on_partial`` hook with the result so far:
``compared`` (the comparison, DiD and supplier tables; no findings yet: the anomaly scan, the longest step, comes
next), ``found`` (the findings too; the counterfactual bands of the strongest come next)."""


@dataclass(repr=False)
class AnalysisResult(_Result):
    """Everything :func:`~analysis.analyze` computed, as tables and result objects.

    ``comparison`` (:class:`CompareResult`), ``diffindiff``
    (:class:`DidResult`, None when the focal partner or the comparison
    partners are missing), ``anomalies`` (:class:`AnomalyResult`), the
    ``series`` they were estimated on, ``families`` (families.csv) and the
    counterfactual ``bands`` of the strongest counterfactual findings (for
    the report's charts). The tables are also attributes: ``compare``,
    ``findings``, ``did_family``, ``event_study``, ``triple_diff``.
    ``suppliers`` (:class:`~analysis.suppliers.SuppliersResult`): who
    supplies the focal partner, when the data hold other reporters' exports
    to it (else None); its tables are written with the others.
    """

    series: pd.DataFrame
    comparison: CompareResult
    diffindiff: DidResult | None
    anomalies: AnomalyResult
    families: pd.DataFrame
    bands: pd.DataFrame
    study: Study
    config: AnalysisConfig
    synthetic: bool
    timings: dict[str, float] = field(default_factory=dict)
    out: Path | None = None
    suppliers: SuppliersResult | None = None
    title = "Analysis"
    sort_note = "focal partner's families, smallest relative q-value first"

    @property
    def compare(self) -> pd.DataFrame:
        return self.comparison.table

    @property
    def findings(self) -> pd.DataFrame:
        return self.anomalies.findings

    def _did_table(self, name: str) -> pd.DataFrame:
        if self.diffindiff is None:
            return pd.DataFrame(columns=["synthetic"])
        return getattr(self.diffindiff, name)

    @property
    def did_family(self) -> pd.DataFrame:
        return self._did_table("family")

    @property
    def event_study(self) -> pd.DataFrame:
        return self._did_table("event_study")

    @property
    def triple_diff(self) -> pd.DataFrame:
        return self._did_table("triple_diff")

    def focal(self) -> pd.DataFrame:
        """compare rows of the focal partner, most significant relative change first."""
        return self.comparison.focal()

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"compare.csv": self.compare, "findings.csv": self.findings, "families.csv": self.families,
                "did_family.csv": self.did_family, "event_study.csv": self.event_study,
                "triple_diff.csv": self.triple_diff,
                **(self.suppliers.tables() if self.suppliers is not None else {})}

    def config_dict(self) -> dict[str, Any]:
        return {**self.study.to_dict(), **asdict(self.comparison.config), **asdict(self.config),
                "partners": sorted(self.compare["partner_code"].unique().tolist()), "synthetic": self.synthetic}

    def tidy(self) -> pd.DataFrame:
        parts = [self.comparison.tidy(), self.anomalies.tidy()]
        if self.diffindiff is not None:
            parts.insert(1, self.diffindiff.tidy())
        if self.suppliers is not None:
            parts.append(self.suppliers.tidy())
        return pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)

    def _repr_html_(self) -> str:
        tri = self.triple_diff.drop(columns=["synthetic"], errors="ignore")
        return (self.comparison._repr_html_()
                + "<h4>Triple difference by group (vs control families)</h4>" + html_table(tri)
                + "<h4>Findings</h4>" + html_table(self.anomalies._shown()))
