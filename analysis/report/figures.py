"""The report's figures: which to draw from an analysis result (:func:`plan`), as jobs that
:mod:`analysis.report.drawing` draws.

Each figure is a :class:`FigureJob`: a function of :mod:`analysis.plots`, its
(small, pre-filtered) input frames, the study, a file name, a caption made
from the study and the result, and its place in the report (``core``: the
brief; ``appendix``). Everything is taken from an
:class:`~analysis.results.AnalysisResult`; nothing is estimated here
(counterfactual bands are ``result.bands``, computed by
:func:`analysis.analyze`). The jobs only draw, so they can run in worker
processes. A figure's ``notes`` (an interval drawn to the frame, a family
left out) are added to its caption when it is drawn, so captions match the
marks.

Figure names (the sections look them up):

- core: ``relative_ratios`` (the focal partner has relative ratios),
  ``transit`` (the compare table has transit ratios for the focal partner's
  families), ``event_study`` (the event study was estimated: not for annual
  data), ``anomaly_1`` ... ``anomaly_<k>`` (the findings that answer the
  question, strongest first: :func:`plan` returns their names);
- appendix: ``group_index`` (the focal partner and a comparison partner in
  the series), ``series_<group>`` (one per group of the focal partner's
  series), ``mirror`` (the focal partner's own records of the same trade).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from .. import plots
from ..plots import area_label
from ..results import AnalysisResult, ranked_findings
from ..schema import without_attrs
from ..study import FLOW_VALUATION, Study, check_choice
from . import fmt, words

Role = Literal["core", "appendix"]
"""Where a figure goes: the brief, or the appendix."""

Part = Literal["all", "compared", "found", "done"]
"""Which figures :func:`plan` makes: all of them, or those that can be drawn at one stage of
:func:`analysis.analyze` (:data:`analysis.results.Stage`): ``compared``, from the comparison alone (the relative
ratios, the transit comparison, the event study, the group index, the mirror); ``found``, with the findings too
(the series with their flags); ``done``, with the counterfactual bands (the anomaly charts)."""


@dataclass
class FigureJob:
    name: str
    caption: str
    func: Callable
    kwargs: dict = field(default_factory=dict)
    role: Role = "core"
    alt: str = ""
    panels: int = 1
    """How many panels the figure has: the drawing cost, for handing the largest to the workers first."""


# --------------------------------------------------------------------------- captions

def _break(study: Study) -> str:
    return plots.break_mark(study)[1]


def _calibrated(result: AnalysisResult) -> str:
    """`` (placebo-calibrated)`` when the result's inference says its intervals are (config.inference)."""
    return " (placebo-calibrated)" if "placebo" in str(getattr(result.config, "inference", "")) else ""


def _q_scope(result: AnalysisResult, fname: str) -> str:
    scope = getattr(result.comparison.config, "q_scope", "partner")
    return f"over {fname}'s families" if scope == "partner" else "over every partner and family tested"


def _marks(row: pd.Series, study: Study) -> str:
    """What the anomaly chart of ``row`` marks, in words (as :func:`analysis.plots.plot_finding` draws it)."""
    per = plots.per_word(study)
    kind, period = str(row["kind"]), str(row["period"])
    obs, exp = row.get("observed_usd"), row.get("expected_usd")

    def usd(x: object) -> str:
        return fmt.usd(x)

    if kind == "level_shift":
        return (f"Dotted red line: the break, {period}; solid red: the mean level from it ({usd(obs)} per {per}); "
                f"dashed black: the level without the shift ({usd(exp)}), shaded: its 95% interval.")
    if kind == "spike":
        return (f"Circle: the flagged {per}, {period} ({usd(obs)}); black bar: the value expected there "
                f"({usd(exp)}) with its 95% range.")
    if kind == "new_flow":
        return (f"Circle: the first {per} of the flow, {period}; orange: the mean per {per} in the pre window "
                f"({usd(exp)}) and in the post window ({usd(obs)}).")
    if kind == "unit_value":
        def uv(x: object) -> str:
            return f"{float(x):.3g} USD/kg" if x is not None and np.isfinite(float(x)) else "n/a"  # type: ignore[arg-type]

        return (f"The unit value (value ÷ net weight, USD per kg) per {per}; dotted red line: the break, {period}; "
                f"dashed black: the level before ({uv(exp)}), solid red: the level from the break ({uv(obs)}).")
    return (f"Observed value (blue) against the counterfactual projected from the pre window (dashed) and its 95% "
            f"band; grey: the window tested, from {period}; red dots: the {per}s above the band.")


def _anomaly_jobs(result: AnalysisResult, study: Study, focal_series: pd.DataFrame, top: int
                  ) -> tuple[list[FigureJob], list[str]]:
    """One chart per finding that answers the question (:func:`words.finding_roles`), strongest first."""
    findings, bands = result.findings, result.bands
    if findings.empty or top <= 0:
        return [], []
    roles = words.finding_roles(findings, result.study)
    mine = findings[(roles == "question").to_numpy() & findings["kind"].isin(plots.CHARTED_KINDS).to_numpy()]
    ranked = ranked_findings(mine)
    synthetic = bool(result.synthetic)
    jobs: list[FigureJob] = []
    names: list[str] = []
    for _, row in ranked.iterrows():
        band = bands[bands["family"] == row["family"]] if len(bands) else bands
        if row["kind"] == "counterfactual_excess" and not (len(band) and band["expected"].notna().any()):
            continue  # no band was projected for it: nothing to draw its finding against
        name = f"anomaly_{len(names) + 1}"
        word = words.KIND_WORDS.get(row["kind"], str(row["kind"]).replace("_", " "))
        at = "in" if row["kind"] == "spike" else "from"
        caption = (f"{words.finding_phrase(row, result.study)} (score {fmt.score(row['score'])}, "
                   f"q {fmt.pvalue(row['q_value'])}). {_marks(row, study)} Dashed black line: {_break(study)}. "
                   f"Detail: {row['detail']}.")
        jobs.append(FigureJob(name, caption, plots.plot_finding, {
            "series": focal_series[focal_series["family_id"] == row["family"]], "finding": row, "study": study,
            "band": band if row["kind"] == "counterfactual_excess" else None,
            "title": f"{row['family_name']} ({row['family']})",
            "subtitle": f"{plots.flow_phrase(study)}: {word} {at} {row['period']}",
            "synthetic": synthetic}))
        names.append(name)
        if len(names) >= top:
            break
    return jobs, names


# --------------------------------------------------------------------------- the plan

def plan(result: AnalysisResult, *, top_anomalies: int = 6, part: Part = "all"
         ) -> tuple[list[FigureJob], list[str]]:
    """The figure jobs of a report (core first, then the appendix), and the names of the anomaly charts.

    Everything comes from ``result``: the series and tables, the study
    (reporter, flow, frequency, focal, comparison and transit partners,
    windows), the alpha and the synthetic flag. A figure whose input is
    empty (no event study for annual data, no transit partners, no mirror
    records) is left out, never drawn empty; the module docstring lists
    the names and when each exists. ``part`` (:data:`Part`): all the jobs,
    or those of one stage, the same for the result ``analyze`` passes to
    ``on_partial`` at that stage as for the final one.
    """
    check_choice(part, Part, "part")
    compared, found, done = (part in ("all", p) for p in ("compared", "found", "done"))
    # without attrs (the series' provenance), which pandas would deep-copy on every slice below; the synthetic
    # flag goes to each figure as an argument
    series, compare = without_attrs(result.series), without_attrs(result.compare)
    study = result.study
    focal, reporter = study.focal, study.reporter
    synthetic = bool(result.synthetic)
    fname, rname = area_label(focal), area_label(reporter)
    flow = plots.flow_word(study.flow)
    per = plots.per_word(study)
    alpha = float(result.config.alpha)
    level = words.level(alpha)
    mine = study.select(series)
    closed = study.closed(pd.Timestamp(mine["date"].max())) if len(mine) else study
    pre, post = plots.window_text(closed.pre, closed), plots.window_text(closed.post, closed)
    # the data are cut to the study's codes once, here; each figure draws the frame it is given
    drawn = closed.replace(codes=())
    jobs: list[FigureJob] = []
    focal_rows = compare[compare["partner_code"] == focal]

    # ---- core
    rel = focal_rows[np.isfinite(focal_rows["relative_ratio"].astype(float)) & (focal_rows["relative_ratio"] > 0)]
    if compared and len(rel):
        checks = rel["kind"].isin(plots.CONTROL_KINDS).any() if "kind" in rel.columns else False
        jobs.append(FigureJob(
            "relative_ratios",
            f"Relative ratio by code family: {fname}'s post/pre change in {rname}'s {flow} divided by the comparison "
            f"partners' pooled change (pre {pre}, post {post}), with its {level}% interval{_calibrated(result)}, log "
            f"scale; filled markers: q < {alpha:g} (Benjamini-Hochberg {_q_scope(result, fname)}); the tick: "
            f"{fname}'s own post/pre ratio."
            + (" Orange, below the dotted line: control goods, a check that a change is not common to all goods."
               if checks else ""),
            plots.plot_relative_ratios, {"compare": rel, "study": drawn, "alpha": alpha, "synthetic": synthetic}))
    if compared and "transit_ratio" in focal_rows.columns and study.transit:
        tr = focal_rows[np.isfinite(focal_rows["ratio"].astype(float))]
        if "kind" in tr.columns:
            tr = tr[~tr["kind"].isin(plots.CONTROL_KINDS)]
        if np.isfinite(tr["transit_ratio"].astype(float)).any():
            tnames = fmt.join([area_label(c) for c in study.transit])
            jobs.append(FigureJob(
                "transit",
                f"With the transit routes, or alone? For each code family, {fname}'s post/pre ratio (blue, with its "
                f"{level}% interval) beside the comparison partners' pooled ratio (orange squares) and the transit "
                f"partners' pooled ratio (green diamonds: {tnames}), log scale. Where {fname} moved as the transit "
                f"partners did, its change is shared with the transit routes; where it moved alone, it is specific "
                f"to {fname}. Families: the largest relative ratios, those with q < {alpha:g} first.",
                plots.plot_transit, {"compare": tr, "study": drawn, "alpha": alpha, "synthetic": synthetic}))
    es = result.event_study
    if compared and len(es) and "ratio" in es.columns:
        ref = ""
        if "reference" in es.columns and "quarter" in es.columns and es["reference"].astype(bool).any():
            ref = f" {es.loc[es['reference'].astype(bool), 'quarter'].iloc[0]}"
        jobs.append(FigureJob(
            "event_study",
            f"Event study by group: {fname}'s quarterly value relative to the comparison partners, against the "
            f"reference quarter{ref} (ratio 1), with {level}% intervals{_calibrated(result)}, log scale; dashed line: "
            f"{_break(drawn)}.",
            plots.plot_event_study, {"event_study": es, "study": drawn, "alpha": alpha, "synthetic": synthetic},
            panels=int(es["group"].nunique())))
    focal_series = mine[mine["partner_code"] == focal]
    anomaly_jobs, anomaly_names = _anomaly_jobs(result, drawn, focal_series, top_anomalies) if done else ([], [])
    jobs += anomaly_jobs

    # ---- appendix
    partners = set(mine["partner_code"].unique())
    controls = [c for c in study.controls if c in partners]
    if compared and focal in partners and controls:
        bucket = "quarterly" if study.freq == "M" else "yearly"
        jobs.append(FigureJob(
            "group_index",
            f"Each group's {bucket} value for {fname} (blue) and the {len(controls)} comparison partners combined "
            f"(orange), each as an index of its mean in the pre window ({pre}) = 100, log scale. Lines that pull "
            f"apart after the break ({_break(drawn)}) mark a change specific to {fname}.",
            plots.plot_group_index, {"series": mine[mine["partner_code"].isin([focal, *controls])], "study": drawn,
                                     "synthetic": synthetic}, role="appendix", panels=int(mine["group"].nunique())))
    flags = result.findings if found else result.findings.iloc[:0]
    if len(flags):
        flags = flags[(flags["partner_code"] == focal) & (flags["reporter_code"] == reporter)]
    sizes = focal_series.groupby("group")["family_id"].nunique()
    for g in plots.group_order(set(sizes.index)) if found else []:
        jobs.append(FigureJob(
            f"series_{g}",
            f"{plots.group_label(g)}: {plots.flow_phrase(drawn)} per {per} by code family (each panel its own scale), "
            f"with the means of the pre and post windows (orange), red marks at the {per}s the anomaly tests flag "
            f"and a red bar under a window above its counterfactual; dashed line: {_break(drawn)}.",
            plots.plot_series, {"series": focal_series[focal_series["group"] == g], "study": drawn, "group": g,
                                "findings": flags, "synthetic": synthetic}, role="appendix", panels=int(sizes[g])))
    if compared:
        jobs += _mirror_jobs(series, focal_series, drawn, synthetic)
    return jobs, anomaly_names


def _mirror_jobs(series: pd.DataFrame, own: pd.DataFrame, study: Study, synthetic: bool) -> list[FigureJob]:
    """The mirror chart when the focal partner's own records of the same trade (``series``) are there for the
    families of ``own`` (the reporter's series to the focal partner)."""
    back = {"X": "M", "M": "X"}.get(study.flow)
    if back is None:
        return []
    other = series[(series["reporter_code"] == study.focal) & (series["flow_code"] == back)
                   & (series["partner_code"] == study.reporter) & series["family_id"].isin(set(own["family_id"]))]
    if own.empty or other.empty:
        return []
    fname, rname = area_label(study.focal), area_label(study.reporter)
    ends = (f" {fname}'s records end in {other['date'].max():%Y-%m}, {rname}'s in {own['date'].max():%Y-%m}."
            if other["date"].max() != own["date"].max() else "")
    return [FigureJob(
        "mirror",
        f"Both sides of the same trade: {rname}'s reported {plots.flow_word(study.flow)} "
        f"({FLOW_VALUATION[study.flow]}) and {fname}'s reported {plots.flow_word(back)} "
        f"({FLOW_VALUATION[back]}), summed over the study's code families, per {plots.per_word(study)}; the "
        f"lower panel is their ratio (log scale).{ends}",
        plots.plot_mirror, {"series": pd.concat([own, other]), "study": study, "synthetic": synthetic},
        role="appendix")]
