"""Anomaly detection on the series frame: level shifts, spikes, counterfactual excess, new flows,
unit-value shifts and mirror gaps, as one findings table with false-discovery-rate control.

Each detector lives in its own module, whose docstring says what it assumes
and when it fails; each returns one row per series it tested, with a raw
p-value. :func:`find_anomalies` runs them, computes Benjamini-Hochberg
q-values within each kind over every series that detector tested, keeps the
findings with ``q < alpha`` and ranks them by ``score`` within their kind
(``score`` is the z-equivalent of the p-value, so comparable within a kind).
Every row carries ``synthetic``.
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from . import counterfactual, level_shift, mirror_gap, new_flow, spike, unit_value
from .common import (
    FINDING_COLUMNS, KINDS, AnomalyError, bh_qvalues, conform, finalize, is_synthetic, panel, resolve_windows,
)
from .counterfactual import counterfactual_band

__all__ = ["find_anomalies", "counterfactual_band", "FINDING_COLUMNS", "KINDS", "AnomalyError"]

_PANEL_DETECTORS = {
    "level_shift": level_shift.detect,
    "spike": spike.detect,
    "counterfactual_excess": counterfactual.detect,
    "new_flow": new_flow.detect,
    "unit_value": unit_value.detect,
}


def find_anomalies(
    series: pd.DataFrame,
    *,
    reporter: int = 156,
    flow: str = "X",
    partners: Iterable[int] | None = None,
    pre=None,
    post=None,
    alpha: float = 0.05,
    detectors: Iterable[str] | None = None,
    focal: int | None = 112,
    all_tested: bool = False,
    **options,
) -> pd.DataFrame:
    """Findings table (FINDING_COLUMNS) of ``reporter``'s ``flow`` series to ``partners`` (default: all in the data).

    ``pre``/``post``: windows (Window or ``"FROM:TO"``; defaults 2019-01..2021-12
    and 2022-03..last month). ``detectors``: a subset of KINDS (default all).
    ``focal``: the partner whose series the counterfactual model projects
    (None: every partner). ``all_tested=True`` returns every tested row with
    its q-value instead of the findings (for calibration checks).
    ``options`` go to the detectors (e.g. ``material_usd`` of new_flow).

    >>> from analysis.demo import load_demo
    >>> from analysis.series import build_series
    >>> found = find_anomalies(build_series(load_demo()))
    >>> bool(found["synthetic"].all())
    True
    """
    kinds = list(KINDS) if detectors is None else list(detectors)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise AnomalyError(f"unknown detector(s) {unknown}; choose from {list(KINDS)}")
    if flow not in ("X", "M"):
        raise AnomalyError(f"flow must be 'X' or 'M', not {flow!r}")
    partners = None if partners is None else [int(x) for x in partners]
    p = panel(series, reporter=reporter, flow=flow, partners=partners)
    pre_w, post_w = resolve_windows(p.dates, pre, post)
    parts = []
    for kind in kinds:
        if kind == "mirror_gap":
            parts.append(mirror_gap.detect(series, reporter=reporter, flow=flow, partners=partners, **options))
        else:
            parts.append(_PANEL_DETECTORS[kind](p, pre=pre_w, post=post_w, focal=focal, alpha=alpha, **options))
    synthetic = is_synthetic(series)
    parts = [x for x in parts if len(x)]
    tested = conform(pd.concat(parts, ignore_index=True), synthetic) if parts else conform(
        pd.DataFrame(columns=FINDING_COLUMNS), synthetic)
    tested.attrs["synthetic"] = synthetic
    if all_tested:
        out = tested.copy()
        for kind in out["kind"].unique():
            at = out["kind"] == kind
            out.loc[at, "q_value"] = bh_qvalues(out.loc[at, "p_value"].to_numpy(dtype=float))
        out.attrs["synthetic"] = synthetic
        return out
    return finalize(tested, alpha)
