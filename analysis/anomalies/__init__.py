"""Anomaly detection on the series frame: level shifts, spikes, counterfactual excess, new flows,
unit-value shifts, mirror gaps and reporter-wide events, as one findings table with false-discovery-rate
control.

Each detector lives in its own module, whose docstring says what it assumes
and when it fails; each returns one row per series it tested, with a raw
p-value. :func:`find_anomalies` runs them and then:

- *the focal partner relative to its comparison group*: the level-shift,
  spike and counterfactual detectors test the study's focal partner's series
  relative to the comparison partners' common movement in the same family
  (:mod:`~analysis.anomalies.relative`), so a shock every partner shares is
  not a focal-partner anomaly; other partners are tested as recorded, and
  new flows, unit values and mirror gaps are always about recorded values;
- *reporter-wide events*: a break or spike most partners of a family share
  is one ``common_shift`` / ``common_spike`` row (``partner_code`` 0,
  ``n_partners`` the partners it covers), and the per-partner rows it
  explains are folded into it (:mod:`~analysis.anomalies.common_event`);
- *a shift's edge*: a spike within a month of its own series' level shift
  is the first month of the new level, folded into the shift
  (:func:`~analysis.anomalies.level_shift.fold_edge_spikes`);
- *q-values*: Benjamini-Hochberg within each family of tests, a family being
  kind x partner (reporter-wide events, partner 0, are their own), so the
  focal partner's q-values do not depend on how many other partners the data
  hold, and partners with many true findings (the transit routes) do not
  loosen the threshold for the others; the q-values are computed before
  folding, so folding never changes a remaining row's q;
- keeps the findings with ``q < alpha`` and ranks them by ``score`` within
  their kind (``score`` is the z-equivalent of the p-value, so comparable
  within a kind).

Every row carries ``synthetic``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, Unpack

import numpy as np
import pandas as pd

from ..comparison import check_alpha
from ..results import AnomalyConfig, AnomalyResult
from ..schema import is_synthetic
from ..study import Countries, Study, StudyArgs, check_choice
from . import common_event, counterfactual, level_shift, mirror_gap, new_flow, relative, spike, unit_value
from .common import FINDING_COLUMNS, KINDS, AnomalyError, Panel, add_qvalues, conform, finalize, panel
from .common_event import is_folded
from .counterfactual import counterfactual_band

__all__ = ["find_anomalies", "counterfactual_band", "is_folded", "FINDING_COLUMNS", "KINDS", "AnomalyError",
           "ANNUAL_KINDS", "ANNUAL_NOTE"]

ANNUAL_KINDS = ("new_flow", "mirror_gap")
"""The detectors that run on annual studies (``freq="A"``)."""
ANNUAL_NOTE = ("annual data: one value a year gives a series too few points for level shifts, spikes, unit-value "
               "breaks, counterfactual projections and reporter-wide events (each needs years of months: a date "
               "searched among months, a month against its neighbours); only new flows (years before against "
               "years after) and mirror gaps (annual totals of both sides) are tested")
"""What annual data can and cannot show in the anomaly findings (for the report to quote)."""

CounterfactualScope = Literal["focal", "all"]
"""Which series the counterfactual model projects: the focal partner's (default) or every partner's."""

_PANEL_DETECTORS = {
    "level_shift": level_shift.detect,
    "spike": spike.detect,
    "counterfactual_excess": counterfactual.detect,
    "new_flow": new_flow.detect,
    "unit_value": unit_value.detect,
}
_RELATIVE = {"level_shift", "spike", "counterfactual_excess"}
"""Detectors that test the focal partner relative to its comparison group."""


def find_anomalies(
    series: pd.DataFrame,
    study: Study | None = None,
    *,
    partners: Countries | None = None,
    alpha: float = 0.05,
    detectors: Iterable[str] | None = None,
    counterfactual_scope: CounterfactualScope = "focal",
    all_tested: bool = False,
    focal_relative: bool = True,
    options: Mapping[str, float] | None = None,
    **study_args: Unpack[StudyArgs],
) -> AnomalyResult:
    """Findings (FINDING_COLUMNS) in the study's series to ``partners`` (default: every partner in the data).

    ``study`` or its fields as keywords give the reporter, flow and windows
    (the post window closes at the data's last month). ``detectors``: a
    subset of KINDS (default all). ``counterfactual_scope``: project the
    focal partner's series only (default) or every partner's.
    An annual study (``freq="A"``) runs only :data:`ANNUAL_KINDS` (see
    :data:`ANNUAL_NOTE`; ``config.detectors`` lists what ran).
    ``all_tested=True`` returns every tested row with its q-value instead of
    the findings (for calibration checks; rows folded into a reporter-wide
    event stay, marked by :func:`is_folded`). ``focal_relative=False`` tests
    the focal partner's recorded series like any other partner's. ``options``
    go to the detectors (e.g. ``{"material_usd": 5000}`` for new_flow).

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
    if s.freq == "A":  # see ANNUAL_NOTE: the others need months
        kinds = [k for k in kinds if k in ANNUAL_KINDS]
    check_alpha(alpha)
    check_choice(counterfactual_scope, CounterfactualScope, "counterfactual_scope")
    from ..comparison import resolve_partners

    wanted = resolve_partners(partners)
    p = panel(series, s, partners=wanted)
    if len(p.dates):
        s = s.closed(p.dates.max())
    focal = s.focal if counterfactual_scope == "focal" else None
    rp = _relative_panel(series, s, p, wanted) if focal_relative else p
    rel = rp.relative_mask()
    protected = set(zip(rp.keys["partner_code"].astype(int)[rel], rp.keys["family_id"].astype(str)[rel],
                        strict=True))
    opts = dict(options or {})
    parts = []
    events = None
    for kind in kinds:
        if kind == "mirror_gap":
            parts.append(mirror_gap.detect(series, reporter=s.reporter, flow=s.flow, partners=wanted, **opts))
        elif kind in common_event.KINDS:
            if events is None:
                events = common_event.detect(p, kinds=tuple(k for k in kinds if k in common_event.KINDS))
                parts.append(events.rows)
        else:
            on = rp if kind in _RELATIVE else p
            parts.append(_PANEL_DETECTORS[kind](on, pre=s.pre, post=s.post, focal=focal, alpha=alpha, **opts))
    synthetic = is_synthetic(series)
    parts = [conform(x, synthetic) for x in parts if len(x)]
    tested = pd.concat(parts, ignore_index=True) if parts else conform(pd.DataFrame(columns=FINDING_COLUMNS),
                                                                       synthetic)
    tested = add_qvalues(tested)
    if events is not None:
        tested = common_event.fold(tested, events, alpha, protected)
    tested = level_shift.fold_edge_spikes(tested, alpha, common_event.FOLDED)
    config = AnomalyConfig(alpha=alpha, detectors=tuple(kinds), partners=None if wanted is None else tuple(wanted),
                           all_tested=all_tested, focal_relative=focal_relative)
    if all_tested:
        return AnomalyResult(tested.reset_index(drop=True), s, config, synthetic)
    return AnomalyResult(finalize(tested[~is_folded(tested)], alpha, synthetic), s, config, synthetic)


def _relative_panel(series: pd.DataFrame, study: Study, p: Panel, wanted: list[int] | None) -> Panel:
    """``p`` with the focal partner's series relative to its comparison group (:mod:`.relative`), the group
    read from the data even when ``wanted`` leaves its partners out of the tests."""
    if wanted is None or set(study.controls) <= set(wanted):
        return relative.relative_panel(p, study.focal, study.controls, study.pre)
    full = panel(series, study, partners=sorted(set(wanted) | set(study.controls)))
    rp = relative.relative_panel(full, study.focal, study.controls, study.pre)
    keep = rp.keys["partner_code"].isin(wanted).to_numpy()
    out = rp.subset(keep)
    if len(out.dates) != len(p.dates) or not (out.dates == p.dates).all():  # the wider panel spans more months
        rows = np.flatnonzero(out.dates.isin(p.dates))
        out = Panel(p.dates, out.keys, out.usd[rows], out.kg[rows], out.synthetic,
                    None if out.scale is None else out.scale[rows], out.basis, out.drift)
    return out
