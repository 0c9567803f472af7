"""The research report: a folder with report.html (self-contained), report.md, figures/ and tables/.

:func:`write_report` turns an analysis result (:func:`analysis.pipeline.analyze`)
into a brief a researcher can paste from: Summary, Data, Before and after, Is
it Belarus-specific?, Anomalies, Methods (and, for the synthetic demo panel,
an appendix checking the planted effects). The text is generated from the
result tables (:mod:`analysis.report.sections`), the figures are drawn by
:mod:`analysis.plots` (:mod:`analysis.report.figures`), and both renderings
come from one document (:mod:`analysis.report.document`).

The folder is built beside its destination and moved into place only when
complete, so a failed run leaves an earlier report as it was.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from .._io import staged_dir
from ..plots import area_label
from ..provenance import DataSource, describe_source
from ..results import AnalysisResult, write_tables_into
from . import figures as figs
from . import sections
from .document import Document, to_html, to_markdown

__all__ = ["write_report", "build_document", "SYNTHETIC_BANNER"]

SYNTHETIC_BANNER = ("SYNTHETIC DATA: this report is built from the embedded demo panel, not from real trade "
                    "statistics. Its numbers show what the methods find in data with planted effects.")


def _did_tables(result: AnalysisResult) -> dict:
    if result.diffindiff is None:
        return {}
    return {"family": result.did_family, "event_study": result.event_study, "triple_diff": result.triple_diff}


def build_document(result: AnalysisResult, source: DataSource, figures: dict, anomaly_figures: list[str]) -> Document:
    """The report as a :class:`~analysis.report.document.Document` (text from the result tables)."""
    config = result.config_dict()
    focal, reporter = result.study.focal, result.study.reporter
    alpha = result.config.alpha
    pre, post = (result.study.pre.text.replace(":", " to "), result.study.post.text.replace(":", " to "))
    title = f"{area_label(reporter)}'s exports of dual-use goods to {area_label(focal)}, before and after 2022"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (f"{'SYNTHETIC demo data. ' if source.synthetic else ''}Windows {pre} and {post}; "
                f"generated {stamp} by tradeflows {__version__}.")
    doc = Document(title, subtitle)
    compare, findings = result.compare, result.findings
    did = _did_tables(result)
    doc.add(*sections.summary(compare, findings, config, source, focal=focal, alpha=alpha, reporter=reporter))
    doc.add(*sections.data_section(source, config, figures, focal=focal, reporter=reporter))
    doc.add(*sections.before_after(compare, findings, config, figures, focal=focal, alpha=alpha, reporter=reporter))
    doc.add(*sections.specificity(compare, did, config, figures, focal=focal, alpha=alpha))
    doc.add(*sections.anomalies(findings, figures, anomaly_figures, focal=focal, alpha=alpha))
    doc.add(*sections.methods(config, alpha=alpha))
    if source.origin == "demo":
        from ..demo import ground_truth

        doc.add(*sections.ground_truth_check(ground_truth(), compare, findings, alpha=alpha, focal=focal))
    doc.add(*sections.reproduce(config, source))
    return doc


def write_report(result: AnalysisResult, out: str | Path, *, source: DataSource | None = None,
                 top_anomalies: int = 6, workers: int | None = None,
                 progress: Callable[[Iterable], Iterable] | None = None) -> Path:
    """Write the report folder ``out`` from an analysis result; return its path.

    ``out/report.html`` (self-contained), ``out/report.md``, ``out/figures/``
    (PNG at 200 dpi and SVG) and ``out/tables/`` (the CSVs of the analysis).
    ``source`` describes the data (:func:`analysis.provenance.describe_source`;
    default: made from the result's series). ``top_anomalies``: anomaly
    charts to draw (those with a counterfactual band computed by
    :func:`analysis.analyze`, ``top_bands``). ``progress`` wraps the figure
    loop (e.g. tqdm). The folder is built beside ``out`` and swapped in
    complete.

    >>> import analysis, tempfile, pathlib
    >>> res = analysis.analyze(analysis.load_demo())                      # doctest: +SKIP
    >>> path = write_report(res, pathlib.Path(tempfile.mkdtemp()) / "r")  # doctest: +SKIP
    """
    if source is None:
        source = describe_source(result.series, origin="frame")
    with staged_dir(out, "report") as staged:
        write_tables_into(staged / "tables", result.tables(), result.config_dict())
        jobs, anomaly_names = figs.plan(result, top_anomalies=top_anomalies)
        figures = figs.render(jobs, staged / "figures", workers=workers, progress=progress)
        doc = build_document(result, source, figures, anomaly_names)
        banner = SYNTHETIC_BANNER if source.synthetic or result.synthetic else None
        (staged / "report.md").write_text(to_markdown(doc, banner=banner), encoding="utf-8")
        footer = ("Made with tradeflows " + __version__ + ". Figures: figures/ (PNG 200 dpi, SVG); tables: "
                  "tables/ (CSV).")
        (staged / "report.html").write_text(to_html(doc, banner=banner, footer=footer), encoding="utf-8")
    return Path(out).expanduser().absolute()
