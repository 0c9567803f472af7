"""Importing hand-downloaded Comtrade files: Comtrade+ CSV exports, API JSON bodies, bulk .gz files."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.importers import FileImportError, import_files, read_file
from analysis.schema import COLUMNS, FIELDS
from analysis.store import Store

CSV_NAME = "comtradeplus_export_CHN_USA_DEU_2022_A_TOTAL.csv"
JSON_SAMPLES = [
    "preview_CHN_import_BRA_1201_2023_envelope.json",
    "data_v1_get_comercio_sample_response.json",
    "data_v1_get_mirror_sample_response_partner.json",
    "data_v1_get_mirror_sample_response_reporter.json",
]


@pytest.fixture()
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != ".lock"}


def assert_same_record(row: pd.Series, raw: dict) -> None:
    """The parsed row equals the raw JSON record, field for field."""
    for key, value in raw.items():
        got = row[key]
        if value is None:
            assert pd.isna(got), key
        elif isinstance(value, bool):
            assert bool(got) is value, key
        elif isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-15), key
        else:
            assert str(got) == str(value), key


def to_tsv(records: list[dict], *, drop: tuple[str, ...] = ()) -> str:
    """Records as a Comtrade bulk file body: a header of field names, tab-separated rows."""
    fields = [f for f in records[0] if f not in drop]
    lines = ["\t".join(fields)]
    for rec in records:
        lines.append("\t".join("" if rec[f] is None else str(rec[f]) for f in fields))
    return "\n".join(lines) + "\n"


@pytest.fixture()
def sample_records(samples) -> list[dict]:
    return json.loads((samples / "data_v1_get_comercio_sample_response.json").read_text())["data"]


@pytest.fixture()
def bulk_gz(tmp_path, sample_records) -> Path:
    """A small hand-made bulk file (gzip, tab-separated) holding the real records of a sample."""
    path = tmp_path / "COMTRADE-FINAL-CA076-2024[X].gz"
    path.write_bytes(gzip.compress(to_tsv(sample_records).encode("utf-8")))
    return path


# ---------------------------------------------------------------- the formats


def test_comtradeplus_csv_exact_value_and_encoding(samples):
    rec = read_file(samples / CSV_NAME)
    assert rec.attrs["format"] == "comtrade_csv"
    assert list(rec.columns) == COLUMNS and len(rec) == 1352
    pick = (rec["reporterCode"] == 156) & (rec["partnerCode"] == 112)
    assert rec.loc[pick & (rec["flowCode"] == "X"), "primaryValue"].item() == 3_275_466_377
    assert rec.loc[pick & (rec["flowCode"] == "X"), "fobvalue"].item() == 3_275_466_377
    assert pd.isna(rec.loc[pick & (rec["flowCode"] == "X"), "cifvalue"].item())
    assert rec.loc[pick & (rec["flowCode"] == "M"), "primaryValue"].item() == 1_804_433_186
    assert "Côte d'Ivoire" in set(rec["partnerDesc"])
    assert set(rec["qtyUnitAbbr"]) == {"N/A"}, "the text N/A is a value, not a missing one"
    assert rec["cmdCode"].eq("TOTAL").all() and not rec["synthetic"].any()


def test_csv_in_utf8_reads_the_same(samples, tmp_path):
    text = (samples / CSV_NAME).read_bytes().decode("cp1252")
    for encoding, name in (("utf-8", "u8.csv"), ("utf-8-sig", "bom.csv"), ("utf-16", "u16.csv")):
        (tmp_path / name).write_bytes(text.encode(encoding))
        pd.testing.assert_frame_equal(read_file(tmp_path / name), read_file(samples / CSV_NAME),
                                      check_like=False)


def test_header_names_match_ignoring_case(tmp_path, sample_records):
    text = to_tsv(sample_records)
    header, body = text.split("\n", 1)
    path = tmp_path / "lower.tsv"
    path.write_text(header.lower() + "\n" + body)
    rec = read_file(path)
    assert rec["primaryValue"].tolist() == [r["primaryValue"] for r in sample_records]
    path.write_text(header + "\tPERIOD\n" + body.replace("\n", "\t2024\n"))
    with pytest.raises(FileImportError, match="column period appears twice"):
        read_file(path)


@pytest.mark.parametrize("name", JSON_SAMPLES)
def test_api_json_samples_parse_field_for_field(samples, name):
    body = json.loads((samples / name).read_text())
    rec = read_file(samples / name)
    assert rec.attrs["format"] == "api_json" and list(rec.columns) == COLUMNS
    assert len(rec) == len(body["data"])
    for i, raw in enumerate(body["data"]):
        assert set(raw) == set(FIELDS)
        assert_same_record(rec.iloc[i], raw)


def test_bare_list_of_records_is_accepted(tmp_path, sample_records):
    path = tmp_path / "records.json"
    path.write_text(json.dumps(sample_records))
    assert len(read_file(path)) == len(sample_records)


def test_bulk_gz_parses_like_the_json(bulk_gz, samples, sample_records):
    rec = read_file(bulk_gz)
    assert rec.attrs["format"] == "bulk_tsv.gz"
    pd.testing.assert_frame_equal(rec, read_file(samples / "data_v1_get_comercio_sample_response.json"))
    for i, raw in enumerate(sample_records):
        assert_same_record(rec.iloc[i], raw)


def test_bulk_without_description_fields(tmp_path, sample_records):
    path = tmp_path / "bulk.txt.gz"
    path.write_bytes(gzip.compress(to_tsv(sample_records, drop=("reporterDesc", "partnerDesc", "cmdDesc")).encode()))
    rec = read_file(path)
    assert rec["reporterDesc"].isna().all() and rec["cmdCode"].tolist() == [r["cmdCode"] for r in sample_records]


def test_mixed_hs_editions_are_kept_as_reported(tmp_path, sample_records, store):
    h5 = [dict(r, classificationCode="H5", period="2021", refYear=2021, refPeriodId=20210101) for r in sample_records]
    path = tmp_path / "mixed.tsv"
    path.write_text(to_tsv(sample_records + h5))
    rec = read_file(path)
    assert rec.attrs["format"] == "bulk_tsv"
    assert rec.groupby("classificationCode").size().to_dict() == {"H5": len(h5), "H6": len(sample_records)}
    import_files([path], store)
    assert store.read().groupby("classificationCode").size().to_dict() == {"H5": len(h5), "H6": len(sample_records)}


def test_synthetic_column_survives_a_file(tmp_path, demo_panel):
    part = demo_panel.head(20)
    path = tmp_path / "demo.csv"
    part.to_csv(path, index=False)
    rec = read_file(path)
    assert rec["synthetic"].all() and rec.attrs["synthetic"] is True
    assert rec["primaryValue"].tolist() == part["primaryValue"].tolist()


# ---------------------------------------------------------------- into the store


def test_import_files_writes_one_chunk_per_file_and_reimport_is_a_noop(samples, bulk_gz, store):
    paths = [samples / CSV_NAME, samples / JSON_SAMPLES[0], bulk_gz]
    summary = import_files(paths, store)
    assert list(summary.columns) == ["file", "format", "rows", "chunk_id", "status", "note"]
    assert summary["status"].tolist() == ["imported"] * 3
    assert summary["format"].tolist() == ["comtrade_csv", "api_json", "bulk_tsv.gz"]
    man = store.manifest().set_index("chunk_id")
    assert set(man.index) == set(summary["chunk_id"])
    csv_entry = man.loc[summary.loc[0, "chunk_id"]]
    assert csv_entry["source"] == f"import:{CSV_NAME}" and csv_entry["endpoint"] == "file"
    assert json.loads(csv_entry["query"])["file"] == CSV_NAME
    assert len(json.loads(csv_entry["query"])["sha256"]) == 64
    records = store.read(reporters=156, partners=112, flows="X")
    assert records["primaryValue"].item() == 3_275_466_377

    before = snapshot(store.root)
    again = import_files(paths, store)
    assert again["status"].tolist() == ["unchanged"] * 3
    assert again["chunk_id"].tolist() == summary["chunk_id"].tolist()
    assert snapshot(store.root) == before


def test_json_header_only_and_empty_data_are_empty_chunks(tmp_path, store):
    path = tmp_path / "nothing.json"
    path.write_text('{"elapsedTime":"0.1 secs","count":0,"data":[],"error":""}')
    summary = import_files([path], store)
    assert summary["rows"].tolist() == [0]
    assert store.has_chunk(summary["chunk_id"].item())


def test_no_files_is_an_input_error(store):
    with pytest.raises(InputError):
        import_files([], store)


# ---------------------------------------------------------------- broken files


def _truncated_gzip(samples, tmp_path):
    data = gzip.compress((samples / CSV_NAME).read_bytes())
    return data[: len(data) // 2]


def _cut_csv(samples, tmp_path):
    """The real export cut after a field in its last row (as an interrupted download would leave it)."""
    data = (samples / CSV_NAME).read_bytes()
    return data[: data.rfind(b'","', 0, len(data) - 60) + 1]


def _cut_csv_in_field(samples, tmp_path):
    data = (samples / CSV_NAME).read_bytes()
    return data[: data.rfind(b'","', 0, len(data) - 60) + 3]


def _error_envelope(samples, tmp_path):
    body = json.loads((samples / JSON_SAMPLES[0]).read_text())
    body["error"] = "Request rejected: too many requests"
    return json.dumps(body).encode()


def _miscounted_envelope(samples, tmp_path):
    body = json.loads((samples / JSON_SAMPLES[0]).read_text())
    body["count"] = 3
    return json.dumps(body).encode()


def _bad_value_csv(samples, tmp_path):
    text = (samples / CSV_NAME).read_bytes().decode("cp1252")
    return text.replace('"3275466377"', '"3,275,466,377 USD"', 1).encode("cp1252")


def _bad_period_json(samples, tmp_path):
    body = json.loads((samples / JSON_SAMPLES[0]).read_text())
    body["data"][0]["period"] = "2023-13"
    return json.dumps(body).encode()


BROKEN = {
    "not_comtrade.csv": (lambda s, t: b"name,age\nann,31\nbob,42\n", "not Comtrade data: missing field"),
    "bad_encoding.csv": (lambda s, t: (s / CSV_NAME).read_bytes()[:400] + b"\x81\x8d\x8f\x90\x9d\n",
                         "bad encoding: not UTF-8 or cp1252"),
    "truncated.csv.gz": (_truncated_gzip, "truncated or damaged gzip"),
    "cut.csv": (_cut_csv, "truncated: the last row"),
    "cut_in_field.csv": (_cut_csv_in_field, "cannot be parsed as CSV"),
    "malformed.json": (lambda s, t: (s / JSON_SAMPLES[0]).read_bytes()[:300], "malformed JSON"),
    "count.json": (lambda s, t: (s / "preview_countOnly_envelope.json").read_bytes(), "a count answer, not data"),
    "error.json": (_error_envelope, "the API answered with an error: Request rejected: too many requests"),
    "miscount.json": (_miscounted_envelope, "count=3 but holds 1"),
    "bad_value.csv": (_bad_value_csv, "not a number: '3,275,466,377 USD'"),
    "bad_period.json": (_bad_period_json, "malformed A period"),
    "empty.csv": (lambda s, t: b"", "empty file"),
    "workbook.xlsx": (lambda s, t: b"PK\x03\x04" + b"\x00" * 100, "ZIP archive or Excel"),
    "readme.txt": (lambda s, t: (s / "LICENSE_agrobr_MIT.txt").read_bytes(), "not Comtrade data"),
    "metadata.json": (lambda s, t: (s / "data_v1_get_comercio_sample_metadata.json").read_bytes(), "no 'data' field"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_is_refused_and_store_unchanged(name, samples, tmp_path, store):
    import_files([samples / JSON_SAMPLES[1]], store)
    before = snapshot(store.root)
    make, problem = BROKEN[name]
    path = tmp_path / name
    path.write_bytes(make(samples, tmp_path))
    with pytest.raises(FileImportError) as info:
        read_file(path)
    assert str(path) in str(info.value) and problem in str(info.value)
    with pytest.raises(FileImportError, match="nothing was imported"):
        import_files([path], store)
    assert snapshot(store.root) == before


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(FileImportError, match="no such file"):
        read_file(tmp_path / "nope.csv")


def test_one_broken_file_in_a_batch_imports_nothing(samples, tmp_path, store):
    bad = tmp_path / "broken.json"
    bad.write_text('{"data": [')
    with pytest.raises(FileImportError, match=r"broken\.json: malformed JSON.*nothing was imported"):
        import_files([samples / CSV_NAME, bad, samples / JSON_SAMPLES[0]], store)
    assert not store.root.exists() or store.manifest().empty
    with pytest.raises(Exception, match="is empty"):
        store.read()


# ---------------------------------------------------------------- issue 12: implausible records, one line each


def _json_record(samples, **change) -> bytes:
    body = json.loads((samples / JSON_SAMPLES[1]).read_text())
    body["data"][0].update(change)
    return json.dumps(body, allow_nan=True).encode()


def _csv_swap(samples, a: str, b: str) -> bytes:
    """The real export with the header names ``a`` and ``b`` swapped (the values stay where they are)."""
    data = (samples / CSV_NAME).read_bytes()
    header, rest = data.split(b"\r\n", 1)
    names = header.split(b",")
    i, j = names.index(a.encode()), names.index(b.encode())
    names[i], names[j] = names[j], names[i]
    return b",".join(names) + b"\r\n" + rest


def _csv_swap_sides(samples) -> bytes:
    """Every reporter* header renamed partner* and the reverse."""
    data = (samples / CSV_NAME).read_bytes()
    header, rest = data.split(b"\r\n", 1)
    swapped = header.replace(b"reporter", b"@").replace(b"partner2", b"#").replace(b"partner", b"reporter")
    return swapped.replace(b"@", b"partner").replace(b"#", b"partner2") + b"\r\n" + rest


def _csv_value(samples, old: bytes, new: bytes, count: int = 2) -> bytes:
    data = (samples / CSV_NAME).read_bytes()
    assert data.count(old) >= count
    return data.replace(old, new, count)


def _csv_cut_after_separator(samples, newline: bytes) -> bytes:
    """The export cut after the separator before its last field (isAggregate): pandas read it as NA."""
    data = (samples / CSV_NAME).read_bytes().rstrip(b"\r\n")
    return data[: data.rfind(b'"', 0, len(data) - 2)].rstrip(b'"') + newline


# China's exports to Belarus are row 251 of the export (its 1-based record number)
IMPLAUSIBLE = {
    "infinity.json": (lambda s: _json_record(s, primaryValue=float("inf")), "Infinity is not a JSON value"),
    "inf_text.csv": (lambda s: _csv_value(s, b'"3275466377"', b'"inf"'), "row 251, field fobvalue: not a finite"),
    "1e30.json": (lambda s: _json_record(s, primaryValue=1e30, fobvalue=1e30),
                  "row 1, field primaryValue: 1e+30 USD is above the plausibility cap"),
    "1e30.csv": (lambda s: _csv_value(s, b'"3275466377"', b'"1e30"'),
                 "row 251, field primaryValue: 1e+30 USD is above the plausibility cap"),
    "negative_value.json": (lambda s: _json_record(s, primaryValue=-5.0, fobvalue=-5.0),
                            "row 1, field primaryValue: negative: -5"),
    "negative_weight.json": (lambda s: _json_record(s, netWgt=-1.5), "row 1, field netWgt: negative: -1.5"),
    "reporter_1e20.json": (lambda s: _json_record(s, reporterCode="1e20"),
                           "row 1, field reporterCode: integer out of range: 1e+20"),
    "reporter_2_63.json": (lambda s: _json_record(s, reporterCode=2**63),
                           "row 1, field reporterCode: integer out of range: 9.22337203685478e+18"),
    "reporter_huge.csv": (lambda s: _csv_value(s, b'"156"', b'"' + str(2**64).encode() + b'"', 1),
                          "field reporterCode: integer out of range"),
    "reporter_unknown.json": (lambda s: _json_record(s, reporterCode=999),
                              "row 1, field reporterCode: 999 is not a Comtrade area code"),
    "period_2099.json": (lambda s: _json_record(s, period="2099", refYear=2099),
                         "row 1, field period: 2099 is in the future"),
    "ref_year.json": (lambda s: _json_record(s, refYear=2019), "row 1, field refYear: 2019 does not match period"),
    "h9.json": (lambda s: _json_record(s, classificationCode="H9"),
                "row 1, field classificationCode: 'H9' is not an HS edition"),
    "h6_in_2019.json": (lambda s: _json_record(s, period="2019", refYear=2019, refPeriodId=20190101),
                        "row 1, field classificationCode: H6 (used from 2022) cannot hold data for period 2019"),
    "flag.json": (lambda s: _json_record(s, isReported="maybe"), "row 1, field isReported: not a boolean"),
    "flag_number.json": (lambda s: _json_record(s, reporterCode=True),
                         "row 1, field reporterCode: not a number: 'True'"),
    "nested_field.json": (lambda s: _json_record(s, cmdDesc={"a": [1, {"b": 2}]}),
                          "row 1, field cmdDesc: a JSON object or list, not a value"),
    "surrogate.json": (lambda s: _json_record(s, partnerDesc="China \ud800"),
                       "row 1, field partnerDesc: text that is not valid Unicode"),
    "deep.json": (lambda s: b"[" * 200_000 + b"]" * 200_000, "malformed JSON: nested too deeply"),
    "long_int.json": (lambda s: _json_record(s).replace(b'"primaryValue": 31499887711.0',
                                                       b'"primaryValue": ' + b"9" * 5000),
                      "malformed JSON: Exceeds the limit (4300 digits)"),
    "swapped_codes.csv": (lambda s: _csv_swap(s, "reporterCode", "partnerCode"), "swapped?"),
    "swapped_sides.csv": (lambda s: _csv_swap_sides(s), "is a partner area, never a reporter: are the reporter and "
                                                        "partner columns swapped?"),
    "swapped_values.csv": (lambda s: _csv_swap(s, "primaryValue", "grossWgt"),
                           "row 1, field primaryValue: 0 differs from"),
    "cut_na.csv": (lambda s: _csv_cut_after_separator(s, b""), "truncated: the last row"),
    "cut_na_newline.csv": (lambda s: _csv_cut_after_separator(s, b"\r\n"),
                           "truncated: the last row lacks the trailing separator"),
    "magic_garbage.gz": (lambda s: b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4, "truncated or damaged gzip"),
    "not_gzip.gz": (lambda s: bytes(range(256)) * 40, "bad encoding: not UTF-8 or cp1252"),
}


@pytest.mark.parametrize("name", sorted(IMPLAUSIBLE))
def test_implausible_file_is_refused_in_one_line_naming_file_row_field(name, samples, tmp_path, store):
    import_files([samples / JSON_SAMPLES[0]], store)
    before = snapshot(store.root)
    make, problem = IMPLAUSIBLE[name]
    path = tmp_path / name
    path.write_bytes(make(samples))
    with pytest.raises(FileImportError) as info:
        import_files([path], store)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message, message
    assert snapshot(store.root) == before


def test_the_cut_file_the_issue_saw_was_stored_with_an_empty_last_field(samples, tmp_path):
    """What pandas alone makes of the cut export: the last row's isAggregate silently NA (the trap refused above)."""
    path = tmp_path / "cut.csv"
    path.write_bytes(_csv_cut_after_separator(samples, b""))
    raw = pd.read_csv(path, encoding="cp1252", index_col=False, dtype=str)
    assert len(raw) == 1352 and pd.isna(raw["isAggregate"].iloc[-1]) and raw["isAggregate"].iloc[:-1].notna().all()


def _twice(samples, tmp_path, second_value: float) -> Path:
    body = json.loads((samples / JSON_SAMPLES[1]).read_text())
    first = body["data"][0]
    other = dict(first, primaryValue=second_value, fobvalue=second_value)
    body["data"] = [first, body["data"][1], other]
    body["count"] = 3
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(body))
    return path


def test_conflicting_duplicates_are_an_error_unless_a_rule_is_chosen(samples, tmp_path, store):
    path = _twice(samples, tmp_path, 7.0)
    with pytest.raises(FileImportError, match=r"rows 1 and 3, field fobvalue: the same cell \(reporter 76, partner "
                                              r"156, flow X, code 1201, period 2024\) twice with different values "
                                              r"\(31499887711 and 7\).*duplicates='first'"):
        import_files([path], store)
    assert not store.root.exists() or store.manifest().empty
    first = read_file(path, duplicates="first")
    last = read_file(path, duplicates="last")
    assert len(first) == len(last) == 2
    assert 7.0 not in set(first["primaryValue"]) and 7.0 in set(last["primaryValue"])
    summary = import_files([path], store, duplicates="last")
    assert "1 duplicate record(s) dropped (copies and conflicts, kept the last)" in summary["note"].item()
    assert 7.0 in set(store.read()["primaryValue"])
    with pytest.raises(InputError, match="duplicates must be one of"):
        read_file(path, duplicates="newest")


def test_exact_copies_are_dropped_and_said(samples, tmp_path, store):
    body = json.loads((samples / JSON_SAMPLES[1]).read_text())
    body["data"] = body["data"] + body["data"][:1]
    body["count"] = len(body["data"])
    path = tmp_path / "copies.json"
    path.write_text(json.dumps(body))
    summary = import_files([path], store)
    assert summary["rows"].item() == len(body["data"]) - 1
    assert "1 duplicate record(s) dropped (exact copies)" in summary["note"].item()


def test_cli_import_duplicates_option(samples, tmp_path, capsys):
    from analysis.cli import main

    path = _twice(samples, tmp_path, 7.0)
    where = str(tmp_path / "cli_store")
    assert main(["import", str(path), "--store", where]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tradeflows: error: ") and "--duplicates" in err
    assert main(["import", str(path), "--store", where, "--duplicates", "last"]) == 0
    assert 7.0 in set(Store(where).read()["primaryValue"])


def test_gzip_bomb_is_refused_at_the_cap_and_a_plain_file_named_gz_is_read_by_its_bytes(samples, tmp_path, store):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"0" * (8 * 2**20), compresslevel=9))
    assert bomb.stat().st_size < 64 * 2**10
    with pytest.raises(FileImportError, match=r"expands to more than 1,048,576 bytes"):
        import_files([bomb], store, max_expanded=2**20)
    assert not store.root.exists() or store.manifest().empty
    plain = tmp_path / "not_really.csv.gz"
    plain.write_bytes((samples / CSV_NAME).read_bytes())
    assert read_file(plain).attrs["format"] == "comtrade_csv"
    with pytest.raises(InputError, match="max_expanded"):
        read_file(plain, max_expanded=0)


def test_multi_member_gzip_reads_whole(samples, tmp_path, sample_records):
    text = to_tsv(sample_records)
    header, body = text.split("\n", 1)
    path = tmp_path / "members.gz"
    path.write_bytes(gzip.compress((header + "\n").encode()) + gzip.compress(body.encode()))
    assert len(read_file(path)) == len(sample_records)
