from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.schema import COLUMNS, FIELDS, SchemaError, coerce_records


def test_47_fields():
    assert len(FIELDS) == 47


def test_preview_envelope_parses_field_for_field(samples):
    body = json.loads((samples / "preview_CHN_import_BRA_1201_2023_envelope.json").read_text())
    rec = coerce_records(pd.DataFrame(body["data"]))
    assert list(rec.columns) == COLUMNS
    row = rec.iloc[0]
    for key, value in body["data"][0].items():
        got = row[key]
        if value is None:
            assert pd.isna(got), key
        elif isinstance(value, float):
            assert got == pytest.approx(value), key
        else:
            assert str(got).lower() == str(value).lower(), key
    assert row["period_date"] == pd.Timestamp("2023-01-01")
    assert not row["synthetic"]


def test_csv_strings_are_coerced(samples):
    raw = pd.read_csv(samples / "comtradeplus_export_CHN_USA_DEU_2022_A_TOTAL.csv", encoding="cp1252",
                      index_col=False, dtype=str)
    rec = coerce_records(raw)
    blr = rec[(rec["reporterCode"] == 156) & (rec["partnerCode"] == 112) & (rec["flowCode"] == "X")]
    assert blr["primaryValue"].item() == 3_275_466_377
    assert rec["cmdCode"].eq("TOTAL").all()
    assert str(rec["isLeaf"].dtype) == "boolean"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"period": "2023-13"}, "period"),
        ({"cmdCode": "85423"}, "HS code"),
        ({"primaryValue": "lots"}, "not a number"),
        ({"freqCode": "Q"}, "freqCode"),
    ],
)
def test_bad_values_are_refused(change, message):
    base = {"freqCode": "A", "period": "2023", "reporterCode": 156, "flowCode": "X", "partnerCode": 112,
            "cmdCode": "854231", "classificationCode": "H6", "primaryValue": 10.0}
    with pytest.raises(SchemaError, match=message):
        coerce_records(pd.DataFrame([{**base, **change}]), source="t.csv")


def test_missing_required_field_names_it():
    with pytest.raises(SchemaError, match="missing field.*cmdCode"):
        coerce_records(pd.DataFrame([{"freqCode": "A"}]))
