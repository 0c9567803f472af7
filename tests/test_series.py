from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import demo
from analysis.errors import InputError
from analysis.schema import coerce_records
from analysis.series import SERIES_COLUMNS, annual, build_series, merge_jan_feb, wide


@pytest.fixture(scope="module")
def series(demo_panel):
    return build_series(demo_panel)


def test_columns_complete_grid_and_synthetic(series):
    assert list(series.columns) == SERIES_COLUMNS
    china = series[series["reporter_code"] == demo.REPORTER]
    per_series = china.groupby(["partner_code", "family_id"]).size()
    assert (per_series == len(demo.months())).all()
    assert series["synthetic"].all() and series.attrs["synthetic"]
    omitted = (china["n_records"] == 0) & ~china["date"].dt.month.isin([1, 2])  # Jan/Feb are averaged
    assert omitted.any() and (china.loc[omitted, "usd"] == 0).all()


def test_annual_totals_equal_record_sums(demo_panel, series):
    # the records that count: originals (the demo also holds converted HS 2017 copies of HS 2022 records)
    originals = demo_panel[demo_panel["isOriginalClassification"].astype(bool)]
    yearly = annual(series)
    got = yearly.groupby(["reporter_code", "partner_code", yearly["date"].dt.year])["usd"].sum()
    rec = originals.groupby(["reporterCode", "partnerCode", "refYear"])["primaryValue"].sum()
    np.testing.assert_allclose(got.to_numpy(), rec.to_numpy(), rtol=1e-12)
    direct = build_series(demo_panel, freq="A")
    np.testing.assert_allclose(direct["usd"].sum(), originals["primaryValue"].sum(), rtol=1e-12)


def test_families_bridge_the_hs_break(series):
    # Poland: a baseline partner (no transit rise) whose 2022 records also have converted HS 2017 copies
    photo = series[(series["family_id"] == "F8541PHOTO") & (series["partner_code"] == 616)]
    by_year = photo.groupby(photo["date"].dt.year)["usd"].sum()
    assert 0.5 < by_year[2022] / by_year[2021] < 2.0


def test_mirror_series_stop_when_the_reporter_stops(series):
    mirror = series[series["reporter_code"] == demo.BELARUS]
    assert mirror["date"].max() == pd.Timestamp("2021-12-01")


def _records(rows):
    base = {"freqCode": "M", "reporterCode": 156, "flowCode": "X", "partnerCode": 112,
            "classificationCode": "H6", "netWgt": 1.0}
    return coerce_records(pd.DataFrame([{**base, **r} for r in rows]))


def test_jan_feb_merge_and_keep_and_unknown_codes():
    rec = _records([
        {"period": "202301", "cmdCode": "999999", "primaryValue": 30.0},
        {"period": "202302", "cmdCode": "999999", "primaryValue": 10.0},
        {"period": "202304", "cmdCode": "999999", "primaryValue": 5.0},
        {"period": "202304", "cmdCode": "8542", "primaryValue": 1e9},  # a 4-digit total: not a leaf
    ])
    merged = build_series(rec, jan_feb="merge")  # forced: these months are not published together
    assert list(merged["usd"]) == [20.0, 20.0, 0.0, 5.0]
    assert list(merged["n_records"]) == [1, 1, 0, 1]
    assert merged["group"].eq("ungrouped").all() and merged["family_id"].eq("HS999999").all()
    kept = build_series(rec, jan_feb="keep")
    assert list(kept["usd"]) == [30.0, 10.0, 0.0, 5.0]
    assert merge_jan_feb(kept)["usd"].tolist() == merged["usd"].tolist()


def test_bad_arguments():
    rec = _records([{"period": "202301", "cmdCode": "854231", "primaryValue": 1.0}])
    with pytest.raises(InputError):
        build_series(rec, freq="Q")
    with pytest.raises(InputError, match="after"):
        build_series(rec, start="2024-01", end="2023-01")
    with pytest.raises(InputError, match="at HS level 6"):
        build_series(rec[rec["cmdCode"] == "x"])


def test_wide_matrix(series):
    w = wide(series[series["reporter_code"] == demo.REPORTER])
    assert w.shape[0] == len(demo.months())
