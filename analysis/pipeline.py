"""``analyze``: the whole analysis in one call, from records or series to the output tables.

Steps: series (:func:`analysis.series.build_series`, when given records) ->
before/after comparison and controls (:func:`analysis.compare.compare`) ->
DiD, event study and triple difference for the focal partner
(:func:`analysis.did.did`) -> anomaly findings
(:func:`analysis.anomalies.find_anomalies`). Estimation only: the reports
and figures are made elsewhere from :class:`AnalysisResult`.

Written to ``out`` (each file via a temporary file and a rename, after every
table has been computed, so a failure leaves no half-written table):
compare.csv, findings.csv, families.csv, did_family.csv, event_study.csv,
triple_diff.csv and config.json (windows, partners, methods, versions, the
synthetic flag).
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, registry
from .compare import BELARUS, CHINA, compare_panel, study_panel
from .did import did_panel
from .errors import InputError
from .periods import Window
from .schema import is_synthetic
from .series import SERIES_COLUMNS, build_series

FAMILY_COLUMNS = ["family", "name", "group", "kind", "h5_codes", "h6_codes"]
OUTPUT_FILES = ("compare.csv", "findings.csv", "families.csv", "did_family.csv", "event_study.csv",
                "triple_diff.csv", "config.json")


@dataclass
class AnalysisResult:
    """Everything :func:`analyze` computed; shows itself as tables in Jupyter."""

    series: pd.DataFrame
    compare: pd.DataFrame
    findings: pd.DataFrame
    families: pd.DataFrame
    did: dict[str, pd.DataFrame]
    config: dict
    synthetic: bool
    out: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def focal(self) -> pd.DataFrame:
        """compare rows of the focal partner, most significant relative change first."""
        rows = self.compare[self.compare["is_focal"]]
        return rows.sort_values(["relative_q_value", "q_value"], na_position="last").reset_index(drop=True)

    def _repr_html_(self) -> str:
        banner = ("<p style='color:#b00;font-weight:bold'>SYNTHETIC DATA: demo panel, not real trade.</p>"
                  if self.synthetic else "")
        cfg = self.config
        head = (f"<p>Reporter {cfg.get('reporter')} flow {cfg.get('flow')}, focal partner {cfg.get('focal')}; "
                f"pre {cfg.get('pre')}, post {cfg.get('post')}; {len(self.compare)} partner-family rows, "
                f"{len(self.findings)} findings.</p>")
        cols = ["family", "group", "pre_usd_month", "post_usd_month", "ratio", "relative_ratio", "relative_low",
                "relative_high", "relative_q_value", "pre_trend", "break_2022"]
        focal = self.focal()[cols].head(15).to_html(index=False, float_format=lambda x: f"{x:,.3g}")
        triple = self.did.get("triple_diff", pd.DataFrame())
        tri = triple.drop(columns=["synthetic"], errors="ignore").to_html(
            index=False, float_format=lambda x: f"{x:,.3g}") if len(triple) else "<p>none</p>"
        fcols = [c for c in ("kind", "partner_code", "family", "period", "score", "size", "q_value", "detail")
                 if c in self.findings.columns]
        find = self.findings[fcols].head(15).to_html(index=False, float_format=lambda x: f"{x:,.3g}") \
            if len(self.findings) else "<p>none</p>"
        return (f"{banner}{head}<h4>Focal partner: largest relative changes</h4>{focal}"
                f"<h4>Triple difference by group (vs control families)</h4>{tri}<h4>Findings</h4>{find}")

    def __repr__(self) -> str:
        tag = " SYNTHETIC" if self.synthetic else ""
        return (f"<AnalysisResult{tag}: {len(self.compare)} compare rows, {len(self.findings)} findings, "
                f"{len(self.families)} families, out={self.out}>")


def _as_series(data: pd.DataFrame) -> pd.DataFrame:
    """A series frame from a series frame or a tidy record frame."""
    if not isinstance(data, pd.DataFrame):
        raise InputError("analyze needs a pandas DataFrame: a tidy record frame or a series frame")
    if all(c in data.columns for c in SERIES_COLUMNS):
        return data
    if {"cmdCode", "primaryValue", "period_date", "freqCode"} <= set(data.columns):
        return build_series(data)
    raise InputError("analyze needs a tidy record frame (analysis.schema.coerce_records) or a series frame "
                     "(analysis.series.build_series)")


def _check_out(out: str | os.PathLike) -> Path:
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"output folder {path} exists and is not a folder")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise InputError(f"output folder's parent {parent} does not exist")
    return path


def families_table(series: pd.DataFrame) -> pd.DataFrame:
    """families.csv: each family in the data with its HS 2017 (H5) and HS 2022 (H6) codes and its group."""
    ids = pd.unique(series["family_id"].astype(str))
    table = registry.family_table(list(ids)).rename(columns={"family_id": "family"})
    table = table[FAMILY_COLUMNS].sort_values(["group", "family"], ignore_index=True)
    syn = is_synthetic(series)
    table["synthetic"] = syn
    table.attrs["synthetic"] = syn
    return table


def _findings(series: pd.DataFrame, *, reporter: int, flow: str, partners, pre: Window, post: Window, alpha: float,
              detectors, focal: int) -> tuple[pd.DataFrame, str]:
    try:
        from .anomalies import find_anomalies
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("analysis.anomalies"):
            from_columns = ["kind", "reporter_code", "partner_code", "family", "family_name", "group", "period",
                            "score", "observed_usd", "expected_usd", "expected_low", "expected_high", "size",
                            "p_value", "q_value", "rank", "detail", "synthetic"]
            empty = pd.DataFrame(columns=from_columns)
            return empty, "analysis.anomalies is not installed: no findings"
        raise
    found = find_anomalies(series, reporter=reporter, flow=flow, partners=partners, pre=pre, post=post, alpha=alpha,
                           detectors=detectors, focal=focal)
    return found, "analysis.anomalies.find_anomalies"


def analyze(data: pd.DataFrame, *, out: str | os.PathLike | None = None, reporter: int = CHINA, flow: str = "X",
            focal: int = BELARUS, partners: object = None, controls: object = None,
            pre: Window | str | None = None, post: Window | str | None = None, alpha: float = 0.05,
            q_scope: str = "partner", anomalies: bool = True, detectors: list[str] | None = None,
            statsmodels: bool | str = "screened") -> AnalysisResult:
    """Run the analysis of ``data`` (records or series) and, with ``out``, write the tables there.

    ``partners``: partners to report in compare.csv and to scan for anomalies
    (default: all in the data); ``controls``: comparison partners (default
    :data:`analysis.countries.COMPARISON_PARTNERS`); ``pre``/``post``: windows
    (``"YYYY-MM:YYYY-MM"``; default 2019-01:2021-12 and 2022-03 to the last
    month); ``q_scope``: q-values within each partner (default) or over all
    rows of compare.csv; ``anomalies=False`` skips the detectors; ``statsmodels``: the
    statsmodels cross-check of the family DiD for every family (True), for
    screened families (``"screened"``, default) or none (False).
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha must lie between 0 and 1, not {alpha}")
    path = _check_out(out) if out is not None else None
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    series = _as_series(data)
    timings["series"] = time.perf_counter() - t0
    synthetic = is_synthetic(series) or bool(data.attrs.get("synthetic", False))

    t0 = time.perf_counter()
    panel = study_panel(series, reporter=reporter, flow=flow, focal=focal, controls=controls, pre=pre, post=post)
    comp = compare_panel(panel, partners=partners, alpha=alpha, q_scope=q_scope)
    timings["compare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    did_note = ""
    if focal in set(panel.partners.tolist()) and len(panel.controls) >= 2:
        focal_rows = comp if focal in set(comp["partner_code"]) else compare_panel(panel, partners=[focal], alpha=alpha)
        did_tables = did_panel(panel, alpha=alpha, statsmodels=statsmodels, compare_frame=focal_rows)
    else:
        did_tables = {}
        did_note = "no DiD: the focal partner or at least 2 comparison partners are missing from the data"
    timings["did"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if anomalies:
        partner_list = None if partners is None else comp["partner_code"].unique().tolist()
        findings, finder = _findings(series, reporter=reporter, flow=flow, partners=partner_list, pre=panel.pre,
                                     post=panel.post, alpha=alpha, detectors=detectors, focal=focal)
    else:
        findings, finder = pd.DataFrame(columns=["kind", "reporter_code", "partner_code", "family", "period",
                                                 "score", "observed_usd", "expected_usd", "q_value", "synthetic"]), \
            "skipped (anomalies=False)"
    timings["anomalies"] = time.perf_counter() - t0

    fams = families_table(series[(series["reporter_code"] == reporter) & (series["flow_code"] == flow)])
    for frame in (comp, findings, fams, *did_tables.values()):
        frame.attrs["synthetic"] = synthetic
        if "synthetic" in frame.columns or frame is findings:
            frame["synthetic"] = synthetic
    config = {
        **comp.attrs.get("config", {}),
        "partners": sorted(comp["partner_code"].unique().tolist()),
        "synthetic": synthetic,
        "anomalies": finder,
        "did": did_note or "family DiD, event study by quarter (ref 2021Q4), triple difference vs control families",
        "inference": ("relative ratios, event study and triple difference: placebo-calibrated (HAC variance plus "
                      "the spread of comparison partners' placebo estimates); ratio: PPML with Newey-West HAC "
                      "and a fixed-b reference"),
        "versions": {"tradeflows": __version__, "python": platform.python_version(), "pandas": pd.__version__,
                     "numpy": np.__version__, **_versions()},
    }
    result = AnalysisResult(series, comp, findings, fams, did_tables, config, synthetic, path, timings)
    if path is not None:
        t0 = time.perf_counter()
        write_result(result, path)
        timings["write"] = time.perf_counter() - t0
    return result


def _versions() -> dict[str, str]:
    import scipy
    import statsmodels

    return {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__}


def write_result(result: AnalysisResult, out: str | os.PathLike) -> list[Path]:
    """Write the tables of ``result`` to ``out`` atomically (temporary files renamed once all are written)."""
    path = _check_out(out)
    path.mkdir(exist_ok=True)
    empty = pd.DataFrame(columns=["synthetic"])
    tables = {
        "compare.csv": result.compare,
        "findings.csv": result.findings,
        "families.csv": result.families,
        "did_family.csv": result.did.get("family", empty),
        "event_study.csv": result.did.get("event_study", empty),
        "triple_diff.csv": result.did.get("triple_diff", empty),
    }
    temps: list[tuple[Path, Path]] = []
    try:
        for name, frame in tables.items():
            temps.append((_write_temp(path, name, lambda fh, f=frame: f.to_csv(fh, index=False)), path / name))
        text = json.dumps(result.config, indent=2, default=str)
        temps.append((_write_temp(path, "config.json", lambda fh: fh.write(text)), path / "config.json"))
        for tmp, final in temps:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise
    return [final for _, final in temps]


def _write_temp(folder: Path, name: str, write) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)
