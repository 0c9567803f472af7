"""Drawing the report's figures: in worker processes, and while the analysis still runs.

A report is mostly figures, and most of them can be drawn before the
analysis ends: those of the comparison (the relative ratios, the transit
comparison, the event study, the group index, the mirror, who supplies the
focal partner) while :func:`analysis.analyze` runs its anomaly scan, the
series with their flags while it projects the counterfactual bands.
:class:`Drawing` draws them on one worker, one after the other, as
``analyze`` reaches each stage (its hook ``on_partial``:
:meth:`Drawing.partial`), so the analysis keeps a core; what is left (the
anomaly charts) is drawn on every worker at the end::

    with Drawing() as drawing:
        result = analyze(records, study, on_partial=drawing.partial)
        write_report(result, "report", drawing=drawing)

Workers only draw: each job (:class:`~analysis.report.figures.FigureJob`)
comes back as :class:`Rendered` bytes (the PNG, the SVG of a core figure, the
caption's notes) and this process writes the files (:func:`write_figures`),
so nothing is written outside the report folder being built, and the
document is built while the last figures are drawn (:func:`figure_slots`).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .. import plots
from ..results import AnalysisResult, Stage
from . import figures as figs
from . import suppliers as supplier_figures
from .document import Figure
from .figures import FigureJob, Part

Progress = Callable[[Iterable], Iterable]
"""Wraps the loop over finished figures (e.g. a tqdm bar)."""

MIN_JOBS_FOR_WORKERS = 7
"""Fewer jobs than this are drawn in this process: starting workers would cost more than it saves."""


@dataclass(frozen=True)
class Rendered:
    """A drawn figure: its PNG (and, for a core figure, SVG) bytes and the notes its caption must carry."""

    name: str
    caption: str
    png: bytes
    svg: bytes | None
    notes: tuple[str, ...]


BACKGROUND_NICENESS = 10
"""How much the figure workers yield the CPU to this process (``os.nice``): the analysis, then the document,
are the report's critical path, and the workers only fill the cores it leaves idle."""


def _in_background() -> None:
    """A worker's start: lower its priority (:data:`BACKGROUND_NICENESS`) where the platform allows."""
    try:
        os.nice(BACKGROUND_NICENESS)
    except (AttributeError, OSError):  # no nice on this platform, or not permitted: draw at normal priority
        pass


def _draw(job: FigureJob) -> Rendered:
    """Draw a job and render it once (PNG; SVG too for a core figure: the appendix's small multiples are
    PNG only, which halves their cost)."""
    fig = job.func(**job.kwargs)
    png = plots.png_bytes(plots.figure_image(fig))
    svg = plots.svg_bytes(fig) if job.role == "core" else None
    return Rendered(job.name, job.caption, png, svg, tuple(getattr(fig, "notes", [])))


def figure_jobs(result: AnalysisResult, *, top_anomalies: int = 6, part: Part = "all"
                ) -> tuple[list[FigureJob], list[str]]:
    """Every figure job of the report of ``result`` (:func:`~analysis.report.figures.plan`, then the supplier
    section's figures, which need no findings), and the names of the anomaly charts."""
    jobs, anomaly_names = figs.plan(result, top_anomalies=top_anomalies, part=part)
    if result.suppliers is not None and part != "found":
        jobs += supplier_figures.figure_jobs(result.suppliers)
    return jobs, anomaly_names


class _Sized:
    """An iterator with a length, so a progress bar knows the total."""

    def __init__(self, it: Iterator[Rendered], n: int) -> None:
        self.it, self.n = it, n

    def __iter__(self) -> Iterator[Rendered]:
        return self.it

    def __len__(self) -> int:
        return self.n


class Drawing:
    """Figure jobs drawn in worker processes while this process goes on.

    :meth:`early` queues jobs on one worker (the lane), drawn one after the
    other, so the caller keeps a core for its own work; :meth:`draw` hands
    what is left, the lane's queue with it, to every worker and
    :meth:`collect` returns every figure. ``workers``: processes to draw in
    (default: up to 2 when there are at least :data:`MIN_JOBS_FOR_WORKERS`
    jobs, the platform can fork and this process runs no other thread:
    forking a process with other threads, a Jupyter kernel, can deadlock the
    child; 1 draws everything in this process at :meth:`collect`). A context
    manager: leaving it stops the workers.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.RLock()  # the lane is fed from the pool's result thread
        self._lane: deque[FigureJob] = deque()
        self._lane_busy = False
        self._started: list[tuple[FigureJob, Future]] = []
        self._todo: list[FigureJob] = []  # without workers: drawn here by collect
        self._wanted: dict[str, str] = {}  # name -> caption of the jobs of the last draw

    def __enter__(self) -> Drawing:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (figures not yet drawn are dropped)."""
        with self._lock:
            self._lane.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def handed(self) -> list[str]:
        """The names of the jobs handed to the workers so far (started, or queued on the lane), in order."""
        with self._lock:
            return [job.name for job, _ in self._started] + [job.name for job in self._lane]

    def _workers(self, n_jobs: int) -> int:
        if self.workers is not None:
            return self.workers
        can_fork = "fork" in mp.get_all_start_methods() and threading.active_count() == 1
        return min(2, os.cpu_count() or 1) if (can_fork and n_jobs >= MIN_JOBS_FOR_WORKERS) else 1

    def _ensure_pool(self, n_jobs: int) -> ProcessPoolExecutor | None:
        if self._pool is None and self._workers(n_jobs) > 1:
            self._pool = ProcessPoolExecutor(max_workers=self._workers(n_jobs), mp_context=mp.get_context("fork"),
                                             initializer=_in_background)
        return self._pool

    def _submit(self, job: FigureJob) -> Future:
        assert self._pool is not None
        fut = self._pool.submit(_draw, job)
        self._started.append((job, fut))
        return fut

    def _feed_lane(self, _done: Future | None = None) -> None:
        """Start the lane's next job when the lane is free (called again when that job is done)."""
        with self._lock:
            if self._pool is None or not self._lane:
                self._lane_busy = False
                return
            self._lane_busy = True
            self._submit(self._lane.popleft()).add_done_callback(self._feed_lane)

    def early(self, jobs: list[FigureJob]) -> None:
        """Queue ``jobs`` on the lane: one worker draws them one after the other (without workers,
        :meth:`collect` draws them with the rest)."""
        with self._lock:
            if not jobs or self._ensure_pool(len(jobs) + len(self._started) + len(self._lane)) is None:
                return
            self._lane.extend(jobs)
            if not self._lane_busy:
                self._feed_lane()

    def partial(self, stage: Stage, result: AnalysisResult) -> None:
        """The ``on_partial`` hook of :func:`analysis.analyze`: queue the figures that the stage allows
        (:func:`figure_jobs` with ``part=stage``)."""
        self.early(figure_jobs(result, part=stage)[0])

    def draw(self, jobs: list[FigureJob]) -> None:
        """Hand every job of ``jobs`` to the workers (the lane's queue too), except one handed to :meth:`early`
        with the same name and caption (one whose caption changed is drawn again); :meth:`collect` waits for
        them. Figures drawn early that ``jobs`` does not hold are dropped."""
        with self._lock:  # the lane's queue goes to every worker now
            queued, self._lane_busy = list(self._lane), True
            self._lane.clear()
            handed = {j.name: j.caption for j in queued} | {j.name: j.caption for j, _ in self._started}
            todo = [j for j in jobs if handed.get(j.name) != j.caption]
            self._wanted = {j.name: j.caption for j in jobs}
            if self._ensure_pool(len(todo) + len(handed)) is None:
                self._todo = todo
                return
            for job in sorted(queued + todo, key=lambda j: -j.panels):  # largest first: they finish together
                self._submit(job)

    def collect(self, *, progress: Progress | None = None) -> dict[str, Rendered]:
        """Wait for the jobs of :meth:`draw` (without workers: draw them here); return them by name."""
        with self._lock:
            futures, todo, wanted = [f for _, f in self._started], self._todo, self._wanted
        stream: Iterator[Rendered] = ((_draw(j) for j in todo) if not futures else
                                      (fut.result() for fut in as_completed(futures)))
        done: dict[str, Rendered] = {}
        for r in (progress or (lambda it: it))(_Sized(stream, len(futures) or len(todo))):
            if wanted.get(r.name) == r.caption:
                done[r.name] = r
        with self._lock:
            self._started, self._todo, self._wanted, self._lane_busy = [], [], {}, False
        return done


def figure_slots(jobs: list[FigureJob], folder: str | Path) -> dict[str, Figure]:
    """The document figures of ``jobs`` by name, before they are drawn (their files in ``folder``: a PNG, and
    an SVG for a core figure): the document can be built while the workers draw; :func:`write_figures`
    completes them."""
    folder = Path(folder)
    return {j.name: Figure(j.name, j.caption, folder / f"{j.name}.png",
                           folder / f"{j.name}.svg" if j.role == "core" else None, alt=j.alt)
            for j in jobs}


def write_figures(rendered: dict[str, Rendered], figures: dict[str, Figure]) -> dict[str, Figure]:
    """Write each drawn figure to its files (:func:`figure_slots`) and complete its caption with the figure's
    notes, so captions match the marks; return ``figures``."""
    for name, fig in figures.items():
        r = rendered[name]
        fig.png.parent.mkdir(parents=True, exist_ok=True)
        fig.png.write_bytes(r.png)
        if fig.svg is not None and r.svg is not None:
            fig.svg.write_bytes(r.svg)
        else:
            fig.svg = None
        fig.caption = " ".join([r.caption, *r.notes]) if r.notes else r.caption
        fig.alt = fig.alt or fig.caption
    return figures


def render(jobs: list[FigureJob], folder: str | Path, *, workers: int | None = None,
           progress: Progress | None = None) -> dict[str, Figure]:
    """Draw every job and write it into ``folder`` (PNG 200 dpi; SVG too for core figures); return the
    document figures by name. ``workers``: as :class:`Drawing`."""
    with Drawing(workers) as drawing:
        drawing.draw(jobs)
        return write_figures(drawing.collect(progress=progress), figure_slots(jobs, folder))
