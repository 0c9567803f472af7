"""analyze: records or series in, the output tables out (atomically), everything labelled synthetic."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.pipeline import OUTPUT_FILES, analyze
from analysis.results import AnalysisResult
from analysis.series import build_series

COMPARE_CONTRACT = ["partner_code", "family", "group", "pre_usd_month", "post_usd_month", "ratio", "ratio_low",
                    "ratio_high", "p_value", "q_value", "control_ratio", "relative_ratio", "relative_low",
                    "relative_high", "relative_p_value"]
FINDINGS_CONTRACT = ["kind", "reporter_code", "partner_code", "family", "period", "score", "observed_usd",
                     "expected_usd", "q_value"]


@pytest.fixture(scope="module")
def result(demo_panel, tmp_path_factory) -> AnalysisResult:
    out = tmp_path_factory.mktemp("analysis") / "out"
    return analyze(demo_panel, out=out)


def test_writes_every_table_with_the_contract_columns(result):
    out = result.out
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUT_FILES, ".tradeflows-analysis"])  # no temp files
    comp = pd.read_csv(out / "compare.csv")
    assert set(COMPARE_CONTRACT) <= set(comp.columns) and len(comp) == len(result.compare)
    find = pd.read_csv(out / "findings.csv")
    assert set(FINDINGS_CONTRACT) <= set(find.columns)
    fams = pd.read_csv(out / "families.csv", dtype=str)
    assert {"family", "h5_codes", "h6_codes", "group"} <= set(fams.columns)
    assert fams["family"].is_unique and set(comp["family"]) <= set(fams["family"])
    for name in ("compare.csv", "findings.csv", "families.csv", "did_family.csv", "event_study.csv",
                 "triple_diff.csv"):
        table = pd.read_csv(out / name)
        assert len(table) and table["synthetic"].astype(bool).all(), name
    config = json.loads((out / "config.json").read_text())
    assert config["synthetic"] is True and config["pre"] == "2019-01:2021-12"
    assert config["anomalies"] == "analysis.anomalies.find_anomalies"
    assert "statsmodels" in config["versions"]


def test_result_object(result):
    assert result.synthetic and result.comparison.synthetic and result.anomalies.synthetic
    assert result.diffindiff is not None and len(result.did_family) and len(result.event_study)
    assert len(result.triple_diff) and result.study.focal == 112 and result.study.post.end is not None
    assert result.focal()["partner_code"].eq(112).all()
    html = result._repr_html_()
    assert "SYNTHETIC" in html and "<table" in html
    assert "SYNTHETIC" in repr(result)
    assert set(result.timings) >= {"series", "compare", "did", "anomalies", "write"}


def test_series_input_gives_the_same_tables(demo_panel, result):
    again = analyze(build_series(demo_panel), anomalies=False, cross_check="none")
    pd.testing.assert_frame_equal(again.compare, result.compare)
    assert again.out is None and again.findings.empty


def test_output_folder_errors(demo_panel, tmp_path):
    with pytest.raises(InputError, match="parent"):
        analyze(demo_panel, out=tmp_path / "missing" / "out", anomalies=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        analyze(demo_panel, out=tmp_path / "file", anomalies=False)
    with pytest.raises(InputError, match="record frame"):
        analyze(pd.DataFrame({"a": [1]}))
    with pytest.raises(InputError, match="DataFrame"):
        analyze([1, 2, 3])  # type: ignore[arg-type]


def test_failed_write_leaves_previous_tables_and_no_debris(result, tmp_path, monkeypatch):
    out = tmp_path / "out"
    result.write(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = {"n": 0}
    real = pd.DataFrame.to_csv

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(OSError, match="disk full"):
        result.write(out)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # nothing replaced, no temporary files left
