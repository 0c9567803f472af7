"""The report's figures: which to draw from an analysis result, drawn (optionally in parallel) and saved.

Each figure is a :class:`FigureJob`: a function of :mod:`analysis.plots`, its
(small, pre-filtered) input frames, the study, a file name and a caption.
Everything is taken from an :class:`~analysis.results.AnalysisResult`; nothing
is estimated here (counterfactual bands are ``result.bands``, computed by
:func:`analysis.analyze`). The jobs only draw, so they can run in worker
processes.
"""
from __future__ import annotations

import io
import multiprocessing as mp
import os
import textwrap
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import plots, registry
from ..plots import area_label
from ..results import USD_KINDS, AnalysisResult, ranked_findings
from . import fmt
from .document import Figure
from .words import KIND_WORDS, finding_phrase


@dataclass
class FigureJob:
    name: str
    caption: str
    func: Callable
    kwargs: dict = field(default_factory=dict)
    alt: str = ""


def web_png(path: Path, colors: int = 256) -> bytes:
    """A smaller copy of a PNG for embedding in HTML: same pixels (200 dpi), palette of ``colors`` colours.

    Line charts use few colours, so the palette copy looks the same and is about a third of the size;
    the full-colour PNG stays in figures/ for print and paste.
    """
    from PIL import Image

    with Image.open(path) as im:
        pal = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    pal.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _draw(job: FigureJob, folder: str) -> tuple[str, dict[str, Path], bytes]:
    fig = job.func(**job.kwargs)
    paths = plots.save_figure(fig, folder, job.name)
    return job.name, paths, web_png(paths["png"])


def render(jobs: list[FigureJob], folder: str | Path, *, workers: int | None = None,
           progress: Callable[[Iterable], Iterable] | None = None) -> dict[str, Figure]:
    """Draw and save every job (PNG 200 dpi + SVG) into ``folder``; return document figures by name.

    ``workers``: processes to draw in (default: up to 2 when there are many
    figures, the platform can fork and this process runs no other thread;
    1 draws in this process).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if workers is None:
        # fork only from a single-threaded process (a CLI run, a script): forking a process with other
        # threads (a Jupyter kernel) can deadlock the child
        can_fork = "fork" in mp.get_all_start_methods() and threading.active_count() == 1
        workers = min(2, os.cpu_count() or 1) if (can_fork and len(jobs) > 6) else 1
    wrap = progress or (lambda it: it)
    paths: dict[str, dict[str, Path]] = {}
    web: dict[str, bytes] = {}
    if workers <= 1:
        for job in wrap(jobs):
            name, paths[name], web[name] = _draw(job, str(folder))
    else:
        ctx = mp.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_draw, job, str(folder)) for job in jobs]
            for fut in wrap(futures):
                name, p, w = fut.result()
                paths[name], web[name] = p, w
    return {j.name: Figure(j.name, j.caption, paths[j.name]["png"], paths[j.name]["svg"], alt=j.alt or j.caption,
                           web=web[j.name]) for j in jobs}


def _no_band(note: str) -> str:
    """The caption's sentence for a chart drawn without a counterfactual (``note`` from ``result.bands``)."""
    note = note.strip().rstrip(".")
    return f" {note[:1].upper()}{note[1:]}." if note else ""


NOT_COMPUTED = ("no counterfactual: not computed for this family (the analysis projects bands for its strongest "
                "findings only; see analyze's top_bands)")


def plan(result: AnalysisResult, *, top_anomalies: int = 6) -> tuple[list[FigureJob], list[str]]:
    """The figure jobs of a report, and the names of the anomaly charts (in rank order).

    Everything comes from ``result``: the series and tables, the study
    (reporter, flow, focal and comparison partners, windows), the alpha and
    the synthetic flag. Anomaly charts: the focal partner's value findings
    ranked by :func:`~analysis.anomalies.common.ranked_findings`, one per
    family, at most ``top_anomalies``, each with its band from
    ``result.bands``; a family without a band there (not computed, or nothing
    to project from: its ``note``) is drawn as the observed series alone, the
    reason in the caption.
    """
    series, compare, findings, bands = result.series, result.compare, result.findings, result.bands
    study = result.study
    focal, reporter = study.focal, study.reporter
    synthetic = bool(result.synthetic)
    fname = area_label(focal)
    jobs: list[FigureJob] = []
    mine = study.select(series)
    # the data are cut to the study's codes once, here; each figure draws the frame it is given
    study = study.replace(codes=())
    mirror_x = series[(series["reporter_code"] == reporter) & (series["flow_code"] == "X")
                      & (series["partner_code"] == focal)]
    mirror_m = series[(series["reporter_code"] == focal) & (series["flow_code"] == "M")
                      & (series["partner_code"] == reporter)]
    if len(mirror_x) and len(mirror_m):
        jobs.append(FigureJob(
            "mirror", f"Both sides of the same trade: {area_label(reporter)}'s reported exports to {fname} (FOB) and "
                      f"{fname}'s reported imports from {area_label(reporter)} (CIF), summed over the registry "
                      f"families, monthly. {fname}'s records end in {mirror_m['date'].max():%Y-%m}; the lower "
                      "panel is their ratio, which valuation and timing keep a little above 1.",
            plots.plot_mirror, {"series": pd.concat([mirror_x, mirror_m]), "study": study,
                                "synthetic": synthetic}))
    jobs.append(FigureJob(
        "group_index", f"Each group's quarterly value for {fname} (blue) and the comparison partners combined "
                       f"(orange), each as an index of its pre-window mean (= 100), log scale. Lines that pull "
                       f"apart after February 2022 mark a change specific to {fname}.",
        plots.plot_group_index, {"series": mine[mine["partner_code"].isin(study.partners)], "study": study,
                                 "synthetic": synthetic}))
    focal_series = mine[mine["partner_code"] == focal]
    flags = findings[(findings["partner_code"] == focal) & (findings["reporter_code"] == reporter)] \
        if len(findings) else findings
    groups = registry.groups()
    for g in [g for g in groups["group"] if g in set(focal_series["group"].unique())] + \
            sorted(set(focal_series["group"].unique()) - set(groups["group"])):
        gname = groups.set_index("group")["name"].get(g, g)
        jobs.append(FigureJob(
            f"series_{g}", f"{gname}: {area_label(reporter)}'s monthly exports to {fname} by code family (each panel "
                           "its own scale), with the mean of the pre and post windows (orange) and the months the "
                           "anomaly tests flag (red marks); dashed line: 24 February 2022.",
            plots.plot_series, {"series": focal_series[focal_series["group"] == g], "study": study, "group": g,
                                "findings": flags, "synthetic": synthetic}))
    if "relative_ratio" in compare.columns and compare.loc[compare["partner_code"] == focal,
                                                           "relative_ratio"].notna().any():
        alpha = float(result.config.alpha)
        jobs.append(FigureJob(
            "relative_ratios", f"Relative ratio by family (dual-use goods): {fname}'s post/pre change divided by the "
                               "comparison partners', with its interval (placebo-calibrated), log scale; the tick "
                               f"mark is {fname}'s own post/pre ratio. Filled: q < {alpha:g} (Benjamini-Hochberg).",
            plots.plot_relative_ratios, {"compare": compare[compare["partner_code"] == focal], "study": study,
                                         "alpha": alpha, "synthetic": synthetic}))
    es = result.event_study
    if len(es):
        jobs.append(FigureJob(
            "event_study", f"Event study by group: {fname}'s value relative to the comparison partners in each "
                           "quarter, against the reference quarter (ratio 1), with placebo-calibrated intervals, "
                           "log scale.",
            plots.plot_event_study, {"event_study": es, "study": study, "alpha": float(result.config.alpha),
                                     "synthetic": synthetic}))
    anomaly_names: list[str] = []
    if len(flags) and top_anomalies > 0:
        ranked = ranked_findings(flags[flags["kind"].isin(USD_KINDS)])
        seen: set[str] = set()
        for _, row in ranked.iterrows():
            if row["family"] in seen:
                continue
            seen.add(row["family"])
            b = bands[bands["family"] == row["family"]]
            if len(b):
                notes = [str(n) for n in b["note"].dropna().unique() if str(n).strip()] if "note" in b else []
                no_band = _no_band(notes[0]) if notes else ""
            else:  # not computed: draw the observed series alone
                s = focal_series[focal_series["family_id"] == row["family"]]
                b = pd.DataFrame({"date": s["date"], "observed": s["usd"], "expected": float("nan"),
                                  "low": float("nan"), "high": float("nan")})
                no_band = _no_band(NOT_COMPUTED)
            periods = flags.loc[(flags["family"] == row["family"]) & flags["kind"].isin(USD_KINDS),
                                "period"].astype(str).tolist()
            name = f"anomaly_{len(anomaly_names) + 1}"
            title = f"{textwrap.shorten(str(row['family_name']), 44, placeholder='…')} ({row['family']})"
            jobs.append(FigureJob(
                name, f"{finding_phrase(row, study)} (score {fmt.score(row['score'])}, "
                      f"q {fmt.pvalue(row['q_value'])}). "
                      "Observed monthly "
                      "value (blue) against the counterfactual (dashed) and its 95% band; circles: flagged months."
                      f"{no_band} Detail: {row['detail']}.",
                plots.plot_counterfactual, {
                    "band": b, "study": study, "title": title, "flagged": periods, "synthetic": synthetic,
                    "note": f"Exports to {fname}: {KIND_WORDS.get(row['kind'], row['kind'])} "
                            f"{'in' if row['kind'] == 'spike' else 'from'} {row['period']}; monthly value, USD"}))
            anomaly_names.append(name)
            if len(anomaly_names) >= top_anomalies:
                break
    return jobs, anomaly_names
