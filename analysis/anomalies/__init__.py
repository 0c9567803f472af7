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

from collections.abc import Iterable, Mapping
from typing import Literal, Unpack

import pandas as pd

from ..comparison import check_alpha
from ..results import AnomalyConfig, AnomalyResult
from ..schema import is_synthetic
from ..study import Countries, Study, StudyArgs, check_choice
from . import counterfactual, level_shift, mirror_gap, new_flow, spike, unit_value
from .common import FINDING_COLUMNS, KINDS, AnomalyError, bh_qvalues, conform, finalize, panel
from .counterfactual import counterfactual_band

__all__ = ["find_anomalies", "counterfactual_band", "FINDING_COLUMNS", "KINDS", "AnomalyError"]

CounterfactualScope = Literal["focal", "all"]
"""Which series the counterfactual model projects: the focal partner's (default) or every partner's."""

_PANEL_DETECTORS = {
    "level_shift": level_shift.detect,
    "spike": spike.detect,
    "counterfactual_excess": counterfactual.detect,
    "new_flow": new_flow.detect,
    "unit_value": unit_value.detect,
}


def find_anomalies(
    series: pd.DataFrame,
    study: Study | None = None,
    *,
    partners: Countries | None = None,
    alpha: float = 0.05,
    detectors: Iterable[str] | None = None,
    counterfactual_scope: CounterfactualScope = "focal",
    all_tested: bool = False,
    options: Mapping[str, float] | None = None,
    **study_args: Unpack[StudyArgs],
) -> AnomalyResult:
    """Findings (FINDING_COLUMNS) in the study's series to ``partners`` (default: every partner in the data).

    ``study`` or its fields as keywords give the reporter, flow and windows
    (the post window closes at the data's last month). ``detectors``: a
    subset of KINDS (default all). ``counterfactual_scope``: project the
    focal partner's series only (default) or every partner's.
    ``all_tested=True`` returns every tested row with its q-value instead of
    the findings (for calibration checks). ``options`` go to the detectors
    (e.g. ``{"material_usd": 5000}`` for new_flow).

    >>> from analysis.demo import load_demo
    >>> from analysis.series import build_series
    >>> found = find_anomalies(build_series(load_demo()))
    >>> found.synthetic and bool(found.findings["synthetic"].all())
    True
    """
    s = Study.resolve(study, **study_args)
    kinds = list(KINDS) if detectors is None else list(detectors)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise AnomalyError(f"unknown detector(s) {unknown}; choose from {list(KINDS)}")
    check_alpha(alpha)
    check_choice(counterfactual_scope, CounterfactualScope, "counterfactual_scope")
    from ..comparison import resolve_partners

    wanted = resolve_partners(partners)
    p = panel(series, s, partners=wanted)
    if len(p.dates):
        s = s.closed(p.dates.max())
    focal = s.focal if counterfactual_scope == "focal" else None
    opts = dict(options or {})
    parts = []
    for kind in kinds:
        if kind == "mirror_gap":
            parts.append(mirror_gap.detect(series, reporter=s.reporter, flow=s.flow, partners=wanted, **opts))
        else:
            parts.append(_PANEL_DETECTORS[kind](p, pre=s.pre, post=s.post, focal=focal, alpha=alpha, **opts))
    synthetic = is_synthetic(series)
    parts = [x for x in parts if len(x)]
    tested = conform(pd.concat(parts, ignore_index=True), synthetic) if parts else conform(
        pd.DataFrame(columns=FINDING_COLUMNS), synthetic)
    config = AnomalyConfig(alpha=alpha, detectors=tuple(kinds), partners=None if wanted is None else tuple(wanted),
                           all_tested=all_tested)
    if all_tested:
        out = tested.copy()
        for kind in out["kind"].unique():
            at = out["kind"] == kind
            out.loc[at, "q_value"] = bh_qvalues(out.loc[at, "p_value"].to_numpy(dtype=float))
        return AnomalyResult(out, s, config, synthetic)
    return AnomalyResult(finalize(tested, alpha, synthetic), s, config, synthetic)
