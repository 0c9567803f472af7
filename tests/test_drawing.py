"""Drawing the report's figures while the analysis runs: the same figures, drawn once, whatever the stage."""
from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from panels import other_panel  # noqa: E402

import analysis  # noqa: E402
from analysis.report import write_report  # noqa: E402
from analysis.report.drawing import Drawing, figure_jobs, render  # noqa: E402
from analysis.report.figures import FigureJob  # noqa: E402
from analysis.series import build_series  # noqa: E402

RUSSIA = 643
ARGS = {"focal": RUSSIA, "cross_check": "none", "detectors": ["level_shift", "counterfactual_excess"]}


@pytest.fixture(scope="module")
def other_series() -> pd.DataFrame:
    """SYNTHETIC: three HS6 codes outside the registry, 39 partners, monthly (tests/panels.py)."""
    return build_series(other_panel("M"))


@pytest.fixture(scope="module")
def staged(other_series):
    """The final result and the partial results ``analyze`` passed to ``on_partial``, by stage."""
    partial: dict[str, analysis.AnalysisResult] = {}
    result = analysis.analyze(other_series, on_partial=lambda stage, res: partial.setdefault(stage, res), **ARGS)
    return result, partial


def _same_job(a: FigureJob, b: FigureJob) -> None:
    assert (a.name, a.caption, a.func, a.role, a.panels) == (b.name, b.caption, b.func, b.role, b.panels)
    assert a.kwargs.keys() == b.kwargs.keys(), a.name
    for key, value in a.kwargs.items():
        other = b.kwargs[key]
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, other, check_exact=True)
        elif isinstance(value, pd.Series):
            pd.testing.assert_series_equal(value, other, check_exact=True)
        else:
            assert value == other, (a.name, key)


def test_each_stage_plans_the_figures_of_the_final_result(staged):
    result, partial = staged
    assert list(partial) == ["compared", "found"]
    assert partial["compared"].findings.empty and partial["found"].bands.empty
    pd.testing.assert_frame_equal(partial["found"].findings, result.findings)
    final = {j.name: j for j in figure_jobs(result)[0]}
    by_stage = (figure_jobs(partial["compared"], part="compared")[0]
                + figure_jobs(partial["found"], part="found")[0] + figure_jobs(result, part="done")[0])
    assert sorted(j.name for j in by_stage) == sorted(final)  # every figure once
    for job in by_stage:
        _same_job(job, final[job.name])
    assert any(j.name.startswith("series_") for j in figure_jobs(partial["found"], part="found")[0])
    assert all(j.name.startswith("anomaly_") for j in figure_jobs(result, part="done")[0])


def test_a_report_drawn_during_the_analysis_is_the_report_drawn_after(other_series, staged, tmp_path):
    result, _ = staged
    with Drawing(workers=2) as drawing:
        during = analysis.analyze(other_series, on_partial=drawing.partial, **ARGS)
        handed = drawing.handed
        out = write_report(during, tmp_path / "during", drawing=drawing)
    assert "relative_ratios" in handed and any(n.startswith("series_") for n in handed)  # drawn early
    assert not any(n.startswith("anomaly_") for n in handed)  # these need the bands
    after = write_report(result, tmp_path / "after", workers=1)
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert names == sorted(p.name for p in (after / "figures").iterdir())
    for name in names:
        assert (out / "figures" / name).read_bytes() == (after / "figures" / name).read_bytes(), name
    body = (out / "report.md").read_text(encoding="utf-8").split("\n", 3)[3]  # past the title and timestamp
    assert body == (after / "report.md").read_text(encoding="utf-8").split("\n", 3)[3]


def test_a_figure_whose_caption_changed_is_drawn_again_and_one_not_asked_for_is_dropped(staged, tmp_path):
    result, _ = staged
    jobs = figure_jobs(result, part="compared")[0][:3]
    with Drawing(workers=2) as drawing:
        drawing.early(jobs)
        changed = dataclasses.replace(jobs[0], caption="A new caption.")
        drawing.draw([changed, jobs[1]])
        done = drawing.collect()
    assert sorted(done) == sorted([jobs[0].name, jobs[1].name])
    assert done[jobs[0].name].caption == "A new caption."
    assert done[jobs[1].name].caption == jobs[1].caption


def test_without_workers_everything_is_drawn_at_the_end(staged, tmp_path):
    result, _ = staged
    jobs = figure_jobs(result)[0]
    with Drawing(workers=1) as drawing:
        drawing.early(jobs[:2])
        assert drawing.handed == []  # nothing runs in the background
        figures = render(jobs[:2], tmp_path, workers=1)
    assert all((tmp_path / f"{j.name}.png").exists() for j in jobs[:2]) and len(figures) == 2
    with pytest.raises(ValueError, match="at least 1"):
        Drawing(workers=0)


def test_a_figure_that_fails_in_a_worker_fails_the_report_with_its_error(staged, tmp_path):
    """A job drawn early on the lane that raises (here: a series figure given no series) raises its own error
    when the figures are collected; nothing is written."""
    from analysis.errors import InputError

    result, _ = staged
    jobs = figure_jobs(result, part="found")[0]
    broken = dataclasses.replace(jobs[0], kwargs={**jobs[0].kwargs, "series": jobs[0].kwargs["series"].iloc[:0]})
    with Drawing(workers=2) as drawing:
        drawing.early([broken, *jobs[1:]])
        drawing.draw([broken, *jobs[1:]])
        with pytest.raises(InputError, match="the data hold: none"):
            drawing.collect()
    assert not list(tmp_path.iterdir())
