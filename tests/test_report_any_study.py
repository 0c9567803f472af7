"""The report for a study that is not the demo's: codes outside the registry, Russia as the focal partner,
monthly and annual (SYNTHETIC panels in the true record schema, tests/panels.py). Every sentence must be
true of that data: no Belarus, no dual-use goods, no demo-only facts, a Reproduce command that repeats it."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from panels import other_panel  # noqa: E402

from analysis import Study  # noqa: E402
from analysis.pipeline import analyze  # noqa: E402
from analysis.provenance import describe_source  # noqa: E402
from analysis.report import Drawing, write_report  # noqa: E402

DEMO_ONLY = ("Belarus", "dual-use", "planted", "embedded demo panel", "CIS market", "via Russia or Kazakhstan",
             "stopped publishing", "Appendix B")


@pytest.fixture(scope="module", params=["M", "A"])
def other_report(request, tmp_path_factory):
    freq = request.param
    records = other_panel(freq=freq, focal=643)
    study = (Study(focal=643) if freq == "M" else
             Study(focal=643, freq="A", pre="2019:2021", post="2022:2024"))
    with Drawing(workers=2) as drawing:  # as `tradeflows report` does: figures drawn while the analysis runs
        result = analyze(records, study, cross_check="none", on_partial=drawing.partial)
        out = write_report(result, tmp_path_factory.mktemp(f"other{freq}") / "report", drawing=drawing,
                           source=describe_source(records, origin="frame"), top_anomalies=2)
    return freq, result, (out / "report.md").read_text(encoding="utf-8")


def test_no_sentence_assumes_the_demo_or_belarus(other_report):
    _, _, md = other_report
    for phrase in DEMO_ONLY:
        assert phrase not in md, phrase
    title = md.split("\n# ", 1)[1].splitlines()[0]
    assert title.startswith("China's exports of ") and "to Russian Federation" in title


def test_summary_and_reproduce_name_the_study(other_report):
    freq, result, md = other_report
    summary = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert "Russian Federation" in summary and "studied families" in summary
    reproduce = md.split("## Reproduce", 1)[1]
    cmd = re.search(r"`(tradeflows report[^`]*)`", reproduce).group(1)
    assert "--focal 643" in cmd and "--demo" not in cmd
    if freq == "A":
        assert "--freq A" in cmd and "--pre 2019:2021" in cmd and "--post 2022:2024" in cmd
        assert "USD/year" in md and "a year" in summary and "pre 2019:2021, post 2022:2024" in reproduce
        methods = md.split("## Methods", 1)[1].split("\n## ", 1)[0]
        for absent in ("Level shift", "Spike.", "Counterfactual excess", "level-shift, spike", "Newey-West"):
            assert absent not in methods, absent  # annual data run none of these


def test_the_focal_only_rise_is_reported(other_report):
    freq, result, md = other_report
    focal = result.compare[result.compare["partner_code"] == 643].set_index("family")
    assert focal.loc["HS810590", "relative_ratio"] > 2
    assert "Cobalt" in md.split("## Summary", 1)[1].split("\n## ", 1)[0]
