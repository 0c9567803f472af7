"""The research report: a folder with report.html (self-contained), report.md, figures/ and tables/.

:func:`write_report` turns an analysis result (:func:`analysis.pipeline.analyze`)
into a brief a researcher can paste from: a Summary of bullet points with a
caveats box, "Is it <focal>-specific?" (relative ratios, the transit routes,
event study, control goods), Anomalies, Data, Methods, and an appendix (every
group's families and series; for the synthetic demo panel, the planted
effects checked; the command that reproduces the report). The text is
generated from the study and the result tables (:mod:`~analysis.report.sections`,
:mod:`~analysis.report.source`, :mod:`~analysis.report.methods`,
:mod:`~analysis.report.appendix`), the figures are drawn by
:mod:`analysis.plots` (which ones: :mod:`analysis.report.figures`; in worker
processes, and while the analysis runs: :mod:`analysis.report.drawing`), and
both renderings come from one document (:mod:`analysis.report.document`).

The folder is built beside its destination and moved into place only when
complete, so a failed run leaves an earlier report as it was.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from .._io import staged_dir
from ..provenance import DataSource, describe_source
from ..results import AnalysisResult, write_tables_into
from . import appendix, methods, sections, words
from . import source as source_section
from . import suppliers as supplier_figures
from .context import Context
from .document import Document, to_html, to_markdown
from .drawing import Drawing, figure_jobs, figure_slots, write_figures

__all__ = ["write_report", "build_document", "Drawing", "SYNTHETIC_BANNER"]

SYNTHETIC_BANNER = ("SYNTHETIC DATA: this report is built from the embedded demo panel, not from real trade "
                    "statistics. Its numbers show what the methods find in data with planted effects.")
SYNTHETIC_RECORDS_BANNER = ("SYNTHETIC DATA: the records analysed are marked synthetic, not real trade statistics. "
                            "Nothing in this report describes real trade.")


def _title(ctx: Context) -> str:
    s = ctx.study
    goods = words.goods(ctx.compare, s)
    return (f"{ctx.rname}'s {words.flow_word(s)} of {goods} to {ctx.fname}, before and after "
            f"{words.break_text(s)}")


def build_document(result: AnalysisResult, source: DataSource, figures: dict, anomaly_figures: list[str],
                   supplier_blocks: list | None = None) -> Document:
    """The report as a :class:`~analysis.report.document.Document`: the brief (Summary with the caveats, the
    core results, anomalies, who supplies the focal partner when the data hold other reporters' exports to
    it), then Data and Methods, then the appendix."""
    ctx = Context(result, source, figures, tuple(anomaly_figures))
    pre, post = words.windows(ctx.study)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (f"{'SYNTHETIC data. ' if source.synthetic else ''}Windows {pre} and {post}; "
                f"generated {stamp} by tradeflows {__version__}.")
    doc = Document(_title(ctx), subtitle)
    doc.add(*sections.summary(ctx))
    doc.add(*sections.specificity(ctx))
    doc.add(*sections.anomalies(ctx))
    doc.add(*(supplier_blocks or []))
    doc.add(*source_section.data_section(ctx))
    doc.add(*methods.methods(ctx))
    doc.add(*appendix.groups(ctx))
    if ctx.demo:
        from ..demo import ground_truth

        doc.add(*appendix.ground_truth_check(ctx, ground_truth()))
    doc.add(*appendix.reproduce(ctx))
    return doc


def write_report(result: AnalysisResult, out: str | Path, *, source: DataSource | None = None,
                 top_anomalies: int = 6, workers: int | None = None,
                 progress: Callable[[Iterable], Iterable] | None = None, drawing: Drawing | None = None) -> Path:
    """Write the report folder ``out`` from an analysis result; return its path.

    ``out/report.html`` (self-contained), ``out/report.md``, ``out/figures/``
    (PNG at 200 dpi and SVG) and ``out/tables/`` (the CSVs of the analysis).
    ``source`` describes the data (:func:`analysis.provenance.describe_source`;
    default: made from the result's series). ``top_anomalies``: anomaly
    charts to draw (those with a counterfactual band computed by
    :func:`analysis.analyze`, ``top_bands``). ``progress`` wraps the figure
    loop (e.g. tqdm). ``drawing``: a :class:`~analysis.report.drawing.Drawing`
    that has drawn figures while the analysis ran (its ``partial`` hook
    given to ``analyze``); else the figures are drawn here, in ``workers``
    processes. The folder is built beside ``out`` and swapped in complete.

    >>> import analysis, tempfile, pathlib
    >>> res = analysis.analyze(analysis.load_demo())                      # doctest: +SKIP
    >>> path = write_report(res, pathlib.Path(tempfile.mkdtemp()) / "r")  # doctest: +SKIP
    """
    if source is None:
        source = describe_source(result.series, origin="frame")
    with staged_dir(out, "report") as staged:
        with Drawing(workers) if drawing is None else nullcontext(drawing) as drawer:
            jobs, anomaly_names = figure_jobs(result, top_anomalies=top_anomalies)
            drawer.draw(jobs)
            # while the workers draw: the tables and the document, its figures completed when drawn
            write_tables_into(staged / "tables", result.tables(), result.config_dict())
            figures = figure_slots(jobs, staged / "figures")
            supplier_blocks = ([] if result.suppliers is None else
                               supplier_figures.section_blocks(result.suppliers, figures))
            doc = build_document(result, source, figures, anomaly_names, supplier_blocks)
            write_figures(drawer.collect(progress=progress), figures)
        banner = (None if not (source.synthetic or result.synthetic) else
                  SYNTHETIC_BANNER if source.origin == "demo" else SYNTHETIC_RECORDS_BANNER)
        (staged / "report.md").write_text(to_markdown(doc, banner=banner), encoding="utf-8")
        footer = ("Made with tradeflows " + __version__ + ". Figures: figures/ (PNG 200 dpi; SVG too for the "
                  "brief's figures); tables: tables/ (CSV).")
        (staged / "report.html").write_text(to_html(doc, banner=banner, footer=footer), encoding="utf-8")
    return Path(out).expanduser().absolute()
