"""The traps of real Comtrade records, in the true 47-field schema, and how the series stage handles them.

Records are made from ``fixtures/record_template.json`` (one record of the real
schema) with hand-set fields, or taken from the real samples in
``../shared/comtrade-samples/`` (skipped when absent):

- duplicate editions: converted copies (``isOriginalClassification`` False)
  beside the originals must not double a flow, and ``set_aside`` says so;
- January and February: merged only for reporter-years that publish them together;
- estimated weights: a cell built from an estimated weight has ``kg`` NaN;
- families that changed content at the HS 2022 break are flagged by the registry.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import registry
from analysis.errors import InputError
from analysis.provenance import describe_source
from analysis.schema import FIELDS, coerce_records
from analysis.series import (
    AGGREGATE,
    BREAKDOWN,
    CONVERTED,
    CONVERTED_USED,
    ESTIMATED_KG,
    OTHER_FREQ,
    SERIES_COLUMNS,
    SET_ASIDE_COLUMNS,
    annual,
    build_series,
    jan_feb_merged_years,
    set_aside,
)

TEMPLATE = json.loads((Path(__file__).parent / "fixtures" / "record_template.json").read_text())
KAZAKHSTAN, UZBEKISTAN = 398, 860


def record(period: str, cmd: str, usd: float, **fields: object) -> dict:
    """One record of the 47-field schema: the template with period, code, value and any other field set."""
    annual_ = len(period) == 4
    row = {**TEMPLATE, **fields}
    row.update(
        freqCode="A" if annual_ else "M", period=period, refYear=int(period[:4]),
        refMonth=52 if annual_ else int(period[4:]),
        refPeriodId=int(period[:4] + ("01" if annual_ else period[4:]) + "01"),
        cmdCode=cmd, aggrLevel=len(cmd) if cmd != "TOTAL" else 0, isLeaf=len(cmd) == 6,
        fobvalue=usd, primaryValue=usd,
    )
    return row


def records(rows: list[dict]) -> pd.DataFrame:
    frame = coerce_records(pd.DataFrame(rows), source="hand-made records")
    assert list(frame.columns[: len(FIELDS)]) == list(FIELDS)  # the true 47 fields
    return frame


def converted(period: str, cmd: str, usd: float, **fields: object) -> dict:
    """A Comtrade+ conversion into HS 2017 of an HS 2022 record."""
    return record(period, cmd, usd, classificationCode="H5", isOriginalClassification=False, **fields)


def cell(series: pd.DataFrame, family: str, month: str, partner: int = 112) -> pd.Series:
    sel = series[(series["family_id"] == family) & (series["partner_code"] == partner)
                 & (series["date"] == pd.Timestamp(month))]
    assert len(sel) == 1
    return sel.iloc[0]


def reasons(table: pd.DataFrame) -> pd.DataFrame:
    return table.groupby("reason")[["records", "cells", "usd"]].sum()


# ------------------------------------------------------------ duplicate editions --

@pytest.fixture(scope="module")
def editions() -> pd.DataFrame:
    return records([
        # 2022-03: HS 2022 originals and their HS 2017 conversions (854141 + 854149 <- 854140: one family)
        record("202203", "854231", 1000.0),
        converted("202203", "854231", 1000.0),
        record("202203", "854141", 300.0),
        record("202203", "854149", 200.0),
        converted("202203", "854140", 500.0),
        # 2022-04: only the converted copy reached the store
        converted("202204", "854231", 700.0),
        # rows that are not six-digit classic-breakdown records
        record("202203", "TOTAL", 9e9, isAggregate=True),
        record("202203", "8542", 5e6, isAggregate=True),
        record("202203", "854231", 400.0, motCode=1000, motDesc="Air"),
    ])


def test_converted_copies_do_not_double(editions):
    series = build_series(editions)
    assert list(series.columns) == SERIES_COLUMNS
    assert cell(series, "HS854231", "2022-03")["usd"] == 1000.0
    assert cell(series, "F8541PHOTO", "2022-03")["usd"] == 500.0
    assert cell(series, "HS854231", "2022-03")["n_records"] == 1
    assert cell(series, "HS854231", "2022-04")["usd"] == 700.0  # the only record of its cell: used
    assert series["usd"].sum() == 1000.0 + 500.0 + 700.0


def test_set_aside_says_what_was_left_out_and_why(editions):
    table = set_aside(editions)
    assert list(table.columns) == SET_ASIDE_COLUMNS
    by = reasons(table)
    assert by.loc[CONVERTED, "records"] == 2 and by.loc[CONVERTED, "usd"] == 1500.0
    assert by.loc[CONVERTED, "cells"] == 2
    assert table.loc[table["reason"] == CONVERTED, "classification"].eq("H5").all()
    assert by.loc[CONVERTED_USED, "records"] == 1 and by.loc[CONVERTED_USED, "usd"] == 700.0
    assert by.loc[AGGREGATE, "records"] == 2 and by.loc[AGGREGATE, "usd"] == 9e9 + 5e6
    assert by.loc[BREAKDOWN, "records"] == 1 and by.loc[BREAKDOWN, "usd"] == 400.0
    assert ESTIMATED_KG not in by.index and OTHER_FREQ not in by.index


def test_older_years_keep_their_original_hs2017_records():
    # 2021 reported in HS 2017; a conversion into HS 2022 of the same record is the copy
    rec = records([
        record("202106", "854140", 800.0, classificationCode="H5"),
        record("202106", "854141", 800.0, classificationCode="H6", isOriginalClassification=False),
    ])
    series = build_series(rec)
    assert cell(series, "F8541PHOTO", "2021-06")["usd"] == 800.0
    assert set_aside(rec).set_index("reason").loc[CONVERTED, "classification"] == "H6"


def test_describe_source_carries_set_aside(editions):
    source = describe_source(editions)
    pd.testing.assert_frame_equal(source.set_aside, set_aside(editions))
    clean = records([record("202203", "854231", 1.0)])
    assert describe_source(clean).set_aside.empty
    assert list(describe_source(clean).set_aside.columns) == SET_ASIDE_COLUMNS
    assert describe_source(build_series(clean)).set_aside.empty  # a series frame: nothing to say


# ------------------------------------------------------------ January and February --

def _china_joint(year: str) -> list[dict]:
    """China's customs: January and February as one figure, split in half over the two months."""
    return [record(f"{year}{m}", code, usd, partnerCode=p)
            for p in (112, KAZAKHSTAN) for code, usd in (("854231", 500.0), ("901310", 80.0))
            for m in ("01", "02")] + [record(f"{year}03", "854231", 600.0)]


def _china_in_february(year: str) -> list[dict]:
    """January and February as one figure, filed under February (January empty)."""
    return [record(f"{year}02", code, usd, partnerCode=p)
            for p in (112, KAZAKHSTAN) for code, usd in (("854231", 1000.0), ("901310", 160.0))] + \
        [record(f"{year}03", "854231", 600.0)]


def _separate(year: str) -> list[dict]:
    """Kazakhstan's exports to Uzbekistan, codes outside the registry: each month published on its own."""
    base = {"reporterCode": KAZAKHSTAN, "reporterISO": "KAZ", "reporterDesc": "Kazakhstan",
            "partnerCode": UZBEKISTAN, "partnerISO": "UZB", "partnerDesc": "Uzbekistan"}
    return [record(f"{year}01", "999999", 30.0, **base), record(f"{year}02", "999999", 10.0, **base),
            record(f"{year}01", "711319", 7.0, **base), record(f"{year}02", "711319", 9.0, **base),
            record(f"{year}03", "999999", 20.0, **base)]


@pytest.fixture(scope="module")
def jan_feb() -> pd.DataFrame:
    return records(_china_joint("2021") + _china_in_february("2023") + _separate("2023"))


def test_auto_merges_only_joint_publications(jan_feb):
    series = build_series(jan_feb)  # jan_feb="auto" is the default
    kaz = series[series["reporter_code"] == KAZAKHSTAN].set_index(["family_id", "date"])["usd"]
    assert kaz[("HS999999", pd.Timestamp("2023-01"))] == 30.0 and kaz[("HS999999", pd.Timestamp("2023-02"))] == 10.0
    assert series.loc[series["reporter_code"] == KAZAKHSTAN, "group"].eq(registry.UNGROUPED).all()
    # China 2023 (filed under February): each month gets half
    assert cell(series, "HS854231", "2023-01")["usd"] == cell(series, "HS854231", "2023-02")["usd"] == 500.0
    assert cell(series, "HS854231", "2023-01")["n_records"] == 0
    # China 2021 (split in half already): unchanged
    assert cell(series, "HS901310", "2021-01", KAZAKHSTAN)["usd"] == 80.0
    kept = build_series(jan_feb, jan_feb="keep")
    assert cell(kept, "HS854231", "2023-01")["usd"] == 0.0 and cell(kept, "HS854231", "2023-02")["usd"] == 1000.0
    forced = build_series(jan_feb, jan_feb="merge")
    assert forced.set_index(["reporter_code", "family_id", "date"]).loc[
        (KAZAKHSTAN, "HS999999", pd.Timestamp("2023-01")), "usd"] == 20.0
    for s in (series, kept, forced):  # annual totals are exact whatever the choice
        assert s["usd"].sum() == jan_feb["primaryValue"].sum()


def test_jan_feb_merged_years_from_records_and_series(jan_feb):
    expected = pd.DataFrame({"reporter_code": [156, 156, KAZAKHSTAN], "year": [2021, 2023, 2023],
                             "merged": [True, True, False]})
    got = jan_feb_merged_years(jan_feb)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    series = build_series(jan_feb)  # China's series run through 2022, a year without records
    in_series = pd.concat([expected, pd.DataFrame({"reporter_code": [156], "year": [2022], "merged": [False]})])
    in_series = in_series.sort_values(["reporter_code", "year"], ignore_index=True)
    pd.testing.assert_frame_equal(jan_feb_merged_years(series), in_series, check_dtype=False)
    series.attrs.clear()  # no record of the choice: the rule on the series values
    pd.testing.assert_frame_equal(jan_feb_merged_years(series), in_series, check_dtype=False)
    forced = jan_feb_merged_years(build_series(jan_feb, jan_feb="merge"))
    assert forced["merged"].all()
    china_only = build_series(jan_feb[jan_feb["reporterCode"] == 156])
    assert set(jan_feb_merged_years(china_only)["reporter_code"]) == {156}


def test_an_omitted_small_january_is_not_a_joint_publication():
    base = {"reporterCode": KAZAKHSTAN, "partnerCode": UZBEKISTAN}
    rec = records([record("202302", "999999", 10.0, **base), record("202303", "999999", 20.0, **base)])
    assert not jan_feb_merged_years(rec)["merged"].any()
    series = build_series(rec, start="2023-01")
    assert series["usd"].tolist() == [0.0, 10.0, 20.0]


def test_bad_jan_feb_choice():
    rec = records([record("202301", "854231", 1.0)])
    with pytest.raises(InputError, match="jan_feb"):
        build_series(rec, jan_feb="split")  # type: ignore[arg-type]


# ------------------------------------------------------------ estimated weights --

@pytest.fixture(scope="module")
def weights() -> pd.DataFrame:
    return records([
        # 2022-05: one record of the cell has an estimated weight -> the cell's kg is unknown
        record("202205", "854141", 300.0, netWgt=10.0),
        record("202205", "854149", 200.0, netWgt=99.0, isNetWgtEstimated=True),
        # 2022-05: reported weight
        record("202205", "854231", 1000.0, netWgt=2.0),
        # 2022-06: quantity in kg estimated and copied into netWgt
        record("202206", "854231", 1000.0, qtyUnitCode=8, qtyUnitAbbr="kg", qty=5.0, netWgt=5.0,
               isQtyEstimated=True),
        # 2022-07: quantity in units estimated, weight reported
        record("202207", "854231", 1000.0, qtyUnitCode=5, qty=100.0, netWgt=3.0, isQtyEstimated=True),
    ])


def test_estimated_weights_leave_kg_unknown(weights):
    series = build_series(weights)
    photo = cell(series, "F8541PHOTO", "2022-05")
    assert np.isnan(photo["kg"]) and photo["usd"] == 500.0
    assert cell(series, "HS854231", "2022-05")["kg"] == 2.0
    assert np.isnan(cell(series, "HS854231", "2022-06")["kg"])
    assert cell(series, "HS854231", "2022-07")["kg"] == 3.0
    yearly = annual(series).set_index("family_id")
    assert np.isnan(yearly.loc["HS854231", "kg"]) and yearly.loc["HS854231", "usd"] == 3000.0
    by = reasons(set_aside(weights))
    assert by.loc[ESTIMATED_KG, "records"] == 2 and by.loc[ESTIMATED_KG, "cells"] == 2
    assert by.loc[ESTIMATED_KG, "usd"] == 1200.0


def test_estimated_weight_in_a_merged_january_february():
    rec = records([record("202301", "854231", 50.0, netWgt=1.0, isNetWgtEstimated=True),
                   record("202302", "854231", 50.0, netWgt=1.0)])
    series = build_series(rec)
    assert series["usd"].tolist() == [50.0, 50.0] and series["kg"].isna().all()


# ------------------------------------------------------------ annual data --

def test_annual_records_with_converted_copies_and_estimates():
    rec = records([
        record("2022", "854231", 12000.0, netWgt=40.0),
        converted("2022", "854231", 12000.0, netWgt=40.0),
        record("2023", "854231", 15000.0, netWgt=50.0, isNetWgtEstimated=True),
        record("202203", "854231", 1000.0),  # monthly records beside the annual ones
    ])
    series = build_series(rec, freq="A")
    assert series["usd"].tolist() == [12000.0, 15000.0]
    assert series["kg"].iloc[0] == 40.0 and np.isnan(series["kg"].iloc[1])
    assert not jan_feb_merged_years(series)["merged"].any()
    by = reasons(set_aside(rec, freq="A"))
    assert by.loc[CONVERTED, "records"] == 1 and by.loc[OTHER_FREQ, "records"] == 1
    assert by.loc[ESTIMATED_KG, "records"] == 1


# ------------------------------------------------------------ the real samples --

def test_real_preview_record_estimated_weight(samples):
    body = json.loads((samples / "preview_CHN_import_BRA_1201_2023_envelope.json").read_text())
    real = coerce_records(pd.DataFrame(body["data"]), source="preview sample")
    assert bool(real["isNetWgtEstimated"].iloc[0])
    by = reasons(set_aside(real))
    assert list(by.index) == [AGGREGATE]  # a four-digit heading: not used, and said so
    leaf = real.assign(cmdCode="120190", aggrLevel=6, isLeaf=True)
    series = build_series(leaf, freq="A")
    assert series["usd"].iloc[0] == real["primaryValue"].iloc[0] and np.isnan(series["kg"].iloc[0])
    assert reasons(set_aside(leaf)).loc[ESTIMATED_KG, "records"] == 1


def test_real_comtradeplus_export_is_all_aggregates(samples):
    raw = pd.read_csv(samples / "comtradeplus_export_CHN_USA_DEU_2022_A_TOTAL.csv", dtype=str, encoding="cp1252",
                      index_col=False)
    real = coerce_records(raw, source="Comtrade+ export")
    table = set_aside(real)
    assert set(table["reason"]) == {AGGREGATE}
    assert table["records"].sum() == len(real)
    china_blr = table[(table["reporter_code"] == 156) & (table["partner_code"] == 112) & (table["flow_code"] == "X")]
    assert china_blr["usd"].sum() == 3_275_466_377
    with pytest.raises(InputError, match="at HS level 6"):
        build_series(real, freq="A")


# ------------------------------------------------------------ registry --

def test_families_that_changed_content_at_the_break():
    fams = registry.families().set_index("family_id")
    assert fams["changed_content"].dtype == bool
    for fid in ("HS901380", "HS852990", "F8541OTHER"):
        assert fams.loc[fid, "changed_content"], fid
        assert fams.loc[fid, "changed_note"]
    assert not fams.loc["HS854231", "changed_content"] and not fams.loc["F8541PHOTO", "changed_content"]
    table = registry.family_table(["HS901380", "HS999999"]).set_index("family_id")
    assert table.loc["HS901380", "changed_content"] and not table.loc["HS999999", "changed_content"]
    assert table["changed_content"].dtype == bool
