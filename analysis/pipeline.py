"""``analyze``: the whole analysis of one :class:`~analysis.study.Study`, from records or series to the tables.

Steps: series (:func:`analysis.series.build_series`, when given records) ->
before/after comparison and controls (:func:`analysis.comparison.compare`) ->
DiD, event study and triple difference for the focal partner
(:func:`analysis.diffindiff.did`) -> anomaly findings
(:func:`analysis.anomalies.find_anomalies`) and the counterfactual bands of
the strongest. Estimation only: the result (:class:`~analysis.results.AnalysisResult`)
holds everything the report draws.

Written to ``out`` (a folder built beside its destination and swapped in
when complete, see :mod:`analysis._io`): compare.csv, findings.csv,
families.csv, did_family.csv, event_study.csv, triple_diff.csv and
config.json (the study, methods, versions, the synthetic flag); when the data
hold other reporters' exports to the focal partner, also suppliers.csv,
reporter_share.csv, substitution.csv, routes.csv, mirror.csv and
supplier_caveats.csv (:mod:`analysis.suppliers`).
"""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Unpack

import numpy as np
import pandas as pd

from . import __version__, registry
from .anomalies import find_anomalies
from .anomalies.common import empty_findings
from .anomalies.counterfactual import BAND_COLUMNS, counterfactual_bands
from .comparison import check_alpha, compare_panel, study_panel
from .diffindiff import did_panel
from .errors import InputError
from .results import AnalysisConfig, AnalysisResult, AnomalyConfig, AnomalyResult, CrossCheck, QScope, Stage
from .schema import is_synthetic
from .series import SERIES_COLUMNS, build_series
from .study import Countries, Study, StudyArgs
from .suppliers import SUPPLIER_FILES, has_supplier_data, who_supplies

FAMILY_COLUMNS = ["family", "name", "group", "kind", "h5_codes", "h6_codes", "changed_content", "changed_note"]
OUTPUT_FILES = ("compare.csv", "findings.csv", "families.csv", "did_family.csv", "event_study.csv",
                "triple_diff.csv", *SUPPLIER_FILES, "config.json")
"""Every file analyze writes; the supplier files only when the data hold other reporters' exports to the focal
partner (the demo panel does)."""
INFERENCE = ("relative ratios, event study and triple difference: studentized placebo calibration (HAC variances "
             "moderated over partners and families, each partner's in-time placebo scale, the comparison partners' "
             "placebo spread shrunk toward the spread over families, Welch-Satterthwaite degrees of freedom; "
             "vanished placebos kept at a bounded value), with honest bounds (relative magnitudes) in place of a "
             "pre-test; ratio: PPML with Newey-West HAC and a fixed-b reference (annual: quasi-Poisson, t on years "
             "- 2 df)")


def _as_series(data: pd.DataFrame, study: Study) -> pd.DataFrame:
    """A series frame from a series frame or a tidy record frame (built with the study's freq and jan_feb)."""
    if not isinstance(data, pd.DataFrame):
        raise InputError("analyze needs a pandas DataFrame: a tidy record frame or a series frame")
    if all(c in data.columns for c in SERIES_COLUMNS):
        return data
    if {"cmdCode", "primaryValue", "period_date", "freqCode"} <= set(data.columns):
        return build_series(data, freq=study.freq, jan_feb=study.jan_feb, level=study.level)
    raise InputError("analyze needs a tidy record frame (analysis.schema.coerce_records) or a series frame "
                     "(analysis.series.build_series)")


def families_table(series: pd.DataFrame) -> pd.DataFrame:
    """families.csv: each family in the data with its HS 2017 (H5) and HS 2022 (H6) codes and its group."""
    ids = pd.unique(series["family_id"].astype(str))
    table = registry.family_table(list(ids)).rename(columns={"family_id": "family"})
    table = table[FAMILY_COLUMNS].sort_values(["group", "family"], ignore_index=True)
    table["synthetic"] = is_synthetic(series)
    return table


def analyze(data: pd.DataFrame, study: Study | None = None, *, out: str | os.PathLike[str] | None = None,
            partners: Countries | None = None, alpha: float = 0.05, q_scope: QScope = "partner",
            anomalies: bool = True, detectors: list[str] | None = None, cross_check: CrossCheck = "screened",
            top_bands: int = 6, on_partial: Callable[[Stage, AnalysisResult], object] | None = None,
            **study_args: Unpack[StudyArgs]) -> AnalysisResult:
    """Run the analysis of ``data`` (records or series) for the study and, with ``out``, write the tables there.

    ``study`` or its fields as keywords (``focal``, ``controls``, ``pre``,
    ``post``, ``codes``, ...) say what is asked; ``partners``: partners to
    report in compare.csv and to scan for anomalies (default: all in the
    data); ``q_scope``: q-values within each partner (default) or over all
    rows of compare.csv; ``anomalies=False`` skips the detectors;
    ``cross_check``: the statsmodels cross-check of the family DiD
    (``"screened"``, ``"all"`` or ``"none"``); ``top_bands``: how many of the
    focal partner's value findings get a counterfactual band (for charts).
    ``on_partial``: called with each :data:`~analysis.results.Stage` and the result so far,
    so a caller can use the tables while the rest is computed (the report
    draws the figures they allow: :meth:`analysis.report.drawing.Drawing.partial`).
    """
    s = Study.resolve(study, **study_args)
    check_alpha(alpha)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    series = _as_series(data, s)
    timings["series"] = time.perf_counter() - t0
    synthetic = is_synthetic(series) or is_synthetic(data)

    t0 = time.perf_counter()
    panel = study_panel(series, s)
    s = panel.study  # windows closed on the data
    comparison = compare_panel(panel, partners=partners, alpha=alpha, q_scope=q_scope)
    timings["compare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    did_note = "family DiD, event study by quarter (ref 2021Q4), triple difference vs control families"
    diffindiff = None
    if s.focal in set(panel.partners.tolist()) and len(panel.controls) >= 2:
        focal_rows = comparison if s.focal in set(comparison.table["partner_code"]) else \
            compare_panel(panel, partners=[s.focal], alpha=alpha)
        diffindiff = did_panel(panel, alpha=alpha, cross_check=cross_check, compared=focal_rows)
    else:
        did_note = "no DiD: the focal partner or at least 2 comparison partners are missing from the data"
    timings["did"] = time.perf_counter() - t0

    config = AnalysisConfig(alpha=alpha, q_scope=q_scope, cross_check=cross_check,
                            anomalies="analysis.anomalies.find_anomalies" if anomalies else "skipped (anomalies=False)",
                            did=did_note, inference=INFERENCE, versions=_versions())
    families = families_table(s.select(series))
    t0 = time.perf_counter()
    suppliers = who_supplies(data, s, series=series) if has_supplier_data(data, s) else None  # analysis.suppliers
    timings["suppliers"] = time.perf_counter() - t0
    no_findings = AnomalyResult(empty_findings(synthetic), s, AnomalyConfig(alpha, (), None), synthetic)
    no_bands = pd.DataFrame(columns=BAND_COLUMNS)

    def so_far(stage: Stage, found: AnomalyResult) -> None:
        if on_partial is not None:
            on_partial(stage, AnalysisResult(series, comparison, diffindiff, found, families, no_bands, s, config,
                                             synthetic, dict(timings), suppliers=suppliers))

    so_far("compared", no_findings)
    t0 = time.perf_counter()
    found, bands = no_findings, no_bands
    if anomalies:
        partner_list = None if partners is None else comparison.table["partner_code"].unique().tolist()
        found = find_anomalies(series, s, partners=partner_list, alpha=alpha, detectors=detectors)
        so_far("found", found)
        bands = counterfactual_bands(series, found.findings, s, top=top_bands)
    timings["anomalies"] = time.perf_counter() - t0
    result = AnalysisResult(series, comparison, diffindiff, found, families, bands, s, config, synthetic, timings,
                            suppliers=suppliers)
    if out is not None:
        t0 = time.perf_counter()
        result.out = result.write(out)
        timings["write"] = time.perf_counter() - t0
    return result


def _versions() -> dict[str, str]:
    import scipy
    import statsmodels

    return {"tradeflows": __version__, "python": platform.python_version(), "pandas": pd.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "statsmodels": statsmodels.__version__}
