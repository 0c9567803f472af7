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

import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .. import __version__
from ..errors import InputError
from ..pipeline import write_result
from ..plots import area_label
from . import figures as figs
from . import sections
from .document import Document, to_html, to_markdown
from ..store import coverage_of
from .source import DataSource, describe

__all__ = ["write_report", "build_document", "DataSource", "describe", "coverage_of", "SYNTHETIC_BANNER",
           "check_out_dir"]

SYNTHETIC_BANNER = ("SYNTHETIC DATA: this report is built from the embedded demo panel, not from real trade "
                    "statistics. Its numbers show what the methods find in data with planted effects.")
_MARKER = ".tradeflows-report"


def check_out_dir(out: str | Path, *, marker: str = _MARKER, what: str = "report") -> Path:
    """The output folder as an absolute path, after checking it can be written.

    Its parent must exist; the folder itself may exist only if it is empty or
    holds an earlier tradeflows output (``marker`` file), which is replaced.
    """
    path = Path(out).expanduser().absolute()
    if not path.parent.is_dir():
        raise InputError(f"output folder {path}: its parent folder {path.parent} does not exist")
    if path.exists() and not path.is_dir():
        raise InputError(f"output folder {path} is a file")
    if path.is_dir() and any(path.iterdir()) and not (path / marker).exists():
        raise InputError(f"output folder {path} is not empty and holds no earlier tradeflows {what}: "
                         "choose a new or empty folder")
    return path


def replace_dir(staged: Path, target: Path) -> None:
    """Move the complete ``staged`` folder's content into ``target`` (created if needed), replacing earlier
    outputs of the same names; other files in ``target`` are left alone."""
    target.mkdir(exist_ok=True)
    for item in staged.iterdir():
        dest = target / item.name
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        item.replace(dest)
    staged.rmdir()


def build_document(result, source: DataSource, figures: dict, anomaly_figures: list[str], *, focal: int = 112,
                   reporter: int = 156) -> Document:
    """The report as a :class:`~analysis.report.document.Document` (text from the result tables)."""
    config = _study_config(result)
    alpha = float(config.get("alpha", 0.05))
    pre, post = (str(config.get(k, "")).replace(":", " to ") for k in ("pre", "post"))
    title = f"{area_label(reporter)}'s exports of dual-use goods to {area_label(focal)}, before and after 2022"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (f"{'SYNTHETIC demo data. ' if source.synthetic else ''}Windows {pre} and {post}; "
                f"generated {stamp} by tradeflows {__version__}.")
    doc = Document(title, subtitle)
    compare, findings = result.compare, result.findings
    did = getattr(result, "did", None) or {}
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


def _study_config(result) -> dict:
    """The settings the tables were computed with (windows, partners, alpha): the result's config, completed
    from the compare table's own record of them."""
    config = dict(getattr(result, "config", {}) or {})
    from_compare = dict(result.compare.attrs.get("config", {}))
    return {**from_compare, **{k: v for k, v in config.items() if v is not None}}


def write_report(result, out: str | Path, *, source: DataSource | None = None, records: pd.DataFrame | None = None,
                 focal: int | None = None, reporter: int | None = None, top_anomalies: int = 6,
                 workers: int | None = None,
                 progress: Callable[[Iterable], Iterable] | None = None) -> Path:
    """Write the report folder ``out`` from an analysis result; return its path.

    ``out/report.html`` (self-contained), ``out/report.md``, ``out/figures/``
    (PNG at 200 dpi and SVG) and ``out/tables/`` (the CSVs of the analysis).
    ``source`` describes the data (default: made from ``records``, else from
    the result's series). ``progress`` wraps the figure loop (e.g. tqdm).

    >>> import analysis, tempfile, pathlib
    >>> res = analysis.analyze(analysis.load_demo())                      # doctest: +SKIP
    >>> path = write_report(res, pathlib.Path(tempfile.mkdtemp()) / "r")  # doctest: +SKIP
    """
    target = check_out_dir(out)
    config = _study_config(result)
    focal = int(focal if focal is not None else config.get("focal", 112))
    reporter = int(reporter if reporter is not None else config.get("reporter", 156))
    if source is None:
        source = describe(records, origin="frame") if records is not None else _source_from_series(result)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write_result(result, staged / "tables")
        jobs, anomaly_names = figs.plan(result.series, result.compare, result.findings,
                                        getattr(result, "did", None) or {}, config, focal=focal,
                                        reporter=reporter, flow=str(config.get("flow", "X")),
                                        top_anomalies=top_anomalies)
        figures = figs.render(jobs, staged / "figures", workers=workers, progress=progress)
        doc = build_document(result, source, figures, anomaly_names, focal=focal, reporter=reporter)
        (staged / "report.md").write_text(
            to_markdown(doc, banner=SYNTHETIC_BANNER if source.synthetic else None), encoding="utf-8")
        footer = ("Made with tradeflows " + __version__ + ". Figures: figures/ (PNG 200 dpi, SVG); tables: "
                  "tables/ (CSV).")
        (staged / "report.html").write_text(
            to_html(doc, banner=SYNTHETIC_BANNER if source.synthetic else None, footer=footer), encoding="utf-8")
        (staged / _MARKER).write_text("tradeflows report folder: tradeflows may replace its content\n",
                                      encoding="utf-8")
        replace_dir(staged, target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return target


def _source_from_series(result) -> DataSource:
    s = result.series
    cov = (s.groupby(["reporter_code", "partner_code", "flow_code"])
           .agg(first_period=("date", "min"), last_period=("date", "max"), records=("n_records", "sum"))
           .reset_index())
    cov = pd.DataFrame({"reporter": cov["reporter_code"], "partner": cov["partner_code"], "flow": cov["flow_code"],
                        "freq": "M", "classification": "", "first_period": cov["first_period"].dt.strftime("%Y%m"),
                        "last_period": cov["last_period"].dt.strftime("%Y%m"), "records": cov["records"],
                        "synthetic": bool(getattr(result, "synthetic", False))})
    return DataSource(origin="frame", synthetic=bool(getattr(result, "synthetic", False)), coverage=cov)

