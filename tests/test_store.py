"""The local store: round trip, atomic writes, de-duplication by publication, checksums, folder resolution."""
from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

import analysis.store as store_mod
from analysis.errors import InputError
from analysis.schema import COLUMNS, EXTRA, FIELDS, SchemaError, coerce_records
from analysis.store import ChecksumError, Store, StoreError, default_store_dir


@pytest.fixture()
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture(scope="module")
def small_demo(demo_panel) -> pd.DataFrame:
    """A few thousand demo records: two partners, 2021-2022 (synthetic)."""
    sel = demo_panel["partnerCode"].isin([112, 398]) & demo_panel["refYear"].isin([2021, 2022])
    return demo_panel[sel].reset_index(drop=True)


def cell(period: str, value: float, *, code: str = "854231", partner: int = 112) -> dict:
    """One minimal monthly Comtrade record of China's exports."""
    return {"typeCode": "C", "freqCode": "M", "period": period, "reporterCode": 156, "flowCode": "X",
            "partnerCode": partner, "partner2Code": 0, "classificationCode": "H6", "cmdCode": code,
            "customsCode": "C00", "mosCode": "0", "motCode": 0, "primaryValue": value, "fobvalue": value}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (path -> bytes), to show a failed operation changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != ".lock"}


# ---------------------------------------------------------------- round trip and manifest


def test_round_trip_keeps_values_dtypes_and_synthetic_flag(store, small_demo):
    entry = store.write_chunk(small_demo, query={"demo": "small"}, endpoint="demo", source="demo")
    back = store.read()
    assert list(back.columns) == COLUMNS
    assert {c: str(t) for c, t in back.dtypes.items()} == {**FIELDS, **EXTRA}
    assert back["synthetic"].all() and back.attrs["synthetic"] is True
    pd.testing.assert_frame_equal(back, coerce_records(small_demo))
    assert entry["rows"] == len(small_demo) and entry["synthetic"] is True


def test_real_records_round_trip_not_synthetic(store, samples):
    body = json.loads((samples / "data_v1_get_comercio_sample_response.json").read_text())
    store.write_chunk(pd.DataFrame(body["data"]), query={"reporterCode": 76, "period": 2024},
                      endpoint="data/v1/get/C/A/HS", source="comtrade")
    back = store.read()
    assert not back["synthetic"].any() and back.attrs["synthetic"] is False
    assert sorted(back["cmdCode"]) == sorted(r["cmdCode"] for r in body["data"])
    assert back["primaryValue"].sum() == pytest.approx(sum(r["primaryValue"] for r in body["data"]))


def test_manifest_records_query_without_key_checksum_and_version(store, small_demo):
    query = {"reporterCode": 156, "partnerCode": [398, 112], "period": "2021,2022"}
    entry = store.write_chunk(small_demo, query=query, endpoint="data/v1/get/C/M/HS", source="comtrade",
                              published="2024-03-01T00:00:00")
    man = store.manifest()
    assert list(man.columns) == store_mod.MANIFEST_COLUMNS and len(man) == 1
    row = man.iloc[0]
    assert row["chunk_id"] == Store.chunk_id(query) == entry["chunk_id"]
    assert json.loads(row["query"]) == {"partnerCode": ["112", "398"], "period": "2021,2022", "reporterCode": "156"}
    assert row["comtradeapicall_version"] == metadata.version("comtradeapicall")
    assert pd.Timestamp(row["fetched_at"]).utcoffset() == pd.Timedelta(0)
    assert row["rows"] == len(small_demo) and row["published"] == "2024-03-01T00:00:00"
    import hashlib

    assert hashlib.sha256((store.root / row["file"]).read_bytes()).hexdigest() == row["sha256"]
    assert row["file"].startswith("chunks/")
    assert store.chunk_published(row["chunk_id"]) == "2024-03-01T00:00:00"


def test_chunk_id_is_stable_and_refuses_keys():
    a = Store.chunk_id({"reporterCode": 156, "partnerCode": [112, 398], "period": "2022"})
    b = Store.chunk_id({"period": 2022, "partnerCode": ["398", "112"], "reporterCode": "156"})
    assert a == b and len(a) == 16
    assert a != Store.chunk_id({"reporterCode": 156, "partnerCode": [112], "period": "2022"})
    assert Store.chunk_id({"a": 1, "b": None}) == Store.chunk_id({"a": 1})
    for name in ("subscription_key", "api_key", "key", "subscriptionKey", "apiKey"):
        with pytest.raises(StoreError, match="API key"):
            Store.chunk_id({"reporterCode": 156, name: "abc"})
    with pytest.raises(StoreError):
        Store.chunk_id({})


def test_empty_chunk_is_recorded_so_a_rerun_needs_no_call(store, small_demo):
    query = {"reporterCode": 156, "partnerCode": 4, "cmdCode": "930100"}
    cid = Store.chunk_id(query)
    assert not store.has_chunk(cid)
    entry = store.write_chunk(pd.DataFrame(), query=query, endpoint="data", source="comtrade")
    assert store.has_chunk(cid) and entry["rows"] == 0
    only_empty = store.read()
    assert len(only_empty) == 0 and list(only_empty.columns) == COLUMNS
    store.write_chunk(small_demo, query={"demo": 1}, endpoint="demo", source="demo")
    assert len(store.read()) == len(small_demo)
    assert store.verify()["status"].eq("ok").all()


def test_schema_error_propagates_and_nothing_is_written(store, small_demo):
    store.write_chunk(small_demo, query={"demo": 1}, endpoint="demo", source="demo")
    before = snapshot(store.root)
    bad = pd.DataFrame([cell("202213", 5.0)])
    with pytest.raises(SchemaError, match="period"):
        store.write_chunk(bad, query={"bad": 1}, endpoint="x", source="x")
    assert snapshot(store.root) == before


def test_bad_publication_date_is_refused(store):
    with pytest.raises(InputError, match="not a date"):
        store.write_chunk(pd.DataFrame([cell("202201", 1.0)]), query={"a": 1}, endpoint="x", source="x",
                          published="soon")


def test_empty_store_read_says_what_to_do(tmp_path):
    s = Store(tmp_path / "nothing")
    with pytest.raises(StoreError, match="is empty: run tradeflows fetch or tradeflows import first"):
        s.read()
    assert not (tmp_path / "nothing").exists(), "reading must not create the store"
    assert s.verify().empty and s.manifest().empty and s.coverage().empty


def test_read_filters(store, small_demo):
    store.write_chunk(small_demo, query={"demo": 1}, endpoint="demo", source="demo")
    got = store.read(partners=[398], flows="X", start="2022-03", end="2022-05")
    want = small_demo[(small_demo["partnerCode"] == 398) & (small_demo["flowCode"] == "X")
                      & small_demo["period"].between("202203", "202205")]
    assert len(got) == len(want) > 0
    assert set(got["period"]) == {"202203", "202204", "202205"}
    assert len(store.read(partners="KAZ", reporters=156)) == \
        ((small_demo["partnerCode"] == 398) & (small_demo["reporterCode"] == 156)).sum()
    assert len(store.read(reporters=112)) == (small_demo["reporterCode"] == 112).sum()
    assert len(store.read(freq="A")) == 0
    with pytest.raises(InputError, match="flowCode"):
        store.read(flows="Q")
    with pytest.raises(InputError, match="reversed"):
        store.read(start="2023", end="2022")


def test_coverage(store):
    rows = [cell("202201", 1.0), cell("202203", 2.0), cell("202202", 3.0, partner=398)]
    store.write_chunk(pd.DataFrame(rows), query={"a": 1}, endpoint="x", source="x")
    cov = store.coverage()
    assert list(cov.columns) == store_mod.COVERAGE_COLUMNS
    blr = cov[cov["partner"] == 112].iloc[0]
    assert (blr["first_period"], blr["last_period"], blr["records"], blr["classification"]) == \
        ("202201", "202203", 2, "H6")
    assert cov["records"].sum() == 3 and not cov["synthetic"].any()


# ---------------------------------------------------------------- atomic writes


def test_crash_during_write_leaves_previous_store_intact(store, small_demo, monkeypatch):
    store.write_chunk(small_demo, query={"demo": 1}, endpoint="demo", source="demo")
    before, read_before = snapshot(store.root), store.read()

    def crash(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):  # a new chunk
        store.write_chunk(pd.DataFrame([cell("202201", 1.0)]), query={"new": 1}, endpoint="x", source="x")
    with pytest.raises(OSError, match="simulated"):  # a refresh of the stored chunk
        store.write_chunk(small_demo.head(3), query={"demo": 1}, endpoint="demo", source="demo")
    monkeypatch.undo()
    assert snapshot(store.root) == before, "no temporary or half file may remain"
    pd.testing.assert_frame_equal(store.read(), read_before)
    assert store.has_chunk(Store.chunk_id({"demo": 1}))


def test_crash_while_replacing_manifest_leaves_previous_store_intact(store, small_demo, monkeypatch):
    store.write_chunk(small_demo, query={"demo": 1}, endpoint="demo", source="demo")
    before = snapshot(store.root)
    real_replace = os.replace

    def crash_on_manifest(src, dst):
        if Path(dst).name == "manifest.json":
            raise OSError("simulated crash while committing the manifest")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_manifest)
    with pytest.raises(OSError, match="simulated"):
        store.write_chunk(small_demo.head(5), query={"demo": 1}, endpoint="demo", source="demo")
    monkeypatch.undo()
    assert snapshot(store.root) == before
    assert len(store.read()) == len(small_demo)


def test_debris_of_a_killed_writer_is_swept_and_orphans_quarantined(store, small_demo):
    store.write_chunk(small_demo.head(10), query={"a": 1}, endpoint="x", source="x")
    (store.chunks_dir / ".0123456789abcdef.deadbeef0000.parquet.k3j_x9a2.tmp").write_bytes(b"half a file")
    (store.chunks_dir / "0123456789abcdef.deadbeef0000.parquet").write_bytes(b"never committed")
    (store.chunks_dir / "notes.txt").write_bytes(b"someone else's file")
    (store.root / ".manifest.json.ab12cd34.tmp").write_bytes(b"{")
    Store(store.root).write_chunk(small_demo.head(3), query={"b": 1}, endpoint="x", source="x")
    names = sorted(p.name for p in store.chunks_dir.iterdir())
    assert len(names) == 3 and "notes.txt" in names
    assert not any(n.endswith(".tmp") or n.startswith("0123") for n in names)
    assert not list(store.root.glob("*.tmp"))
    moved = list(store.quarantine_dir.iterdir())
    assert [p.name.split(".", 1)[1] for p in moved] == ["0123456789abcdef.deadbeef0000.parquet"]
    assert moved[0].read_bytes() == b"never committed"


def test_refresh_replaces_chunk_and_removes_old_file(store):
    store.write_chunk(pd.DataFrame([cell("202201", 1.0)]), query={"a": 1}, endpoint="x", source="x")
    store.write_chunk(pd.DataFrame([cell("202201", 7.0)]), query={"a": 1}, endpoint="x", source="x")
    assert len(list(store.chunks_dir.iterdir())) == 1 and len(store.manifest()) == 1
    assert store.read()["primaryValue"].tolist() == [7.0]


# ---------------------------------------------------------------- revisions and de-duplication


def test_later_publication_replaces_earlier_and_manifest_says_so(store):
    old = store.write_chunk(pd.DataFrame([cell("202201", 100.0), cell("202202", 50.0)]), query={"q": "old"},
                            endpoint="x", source="comtrade", published="2024-01-15")
    new = store.write_chunk(pd.DataFrame([cell("202201", 150.0), cell("202203", 20.0)]), query={"q": "new"},
                            endpoint="x", source="comtrade", published="2024-06-15")
    back = store.read().set_index("period")["primaryValue"].to_dict()
    assert back == {"202201": 150.0, "202202": 50.0, "202203": 20.0}
    man = store.manifest().set_index("chunk_id")
    assert man.loc[old["chunk_id"], "superseded_by"] == new["chunk_id"]
    assert pd.isna(man.loc[new["chunk_id"], "superseded_by"])
    store.remove_chunk(new["chunk_id"])
    assert store.read().set_index("period")["primaryValue"].to_dict() == {"202201": 100.0, "202202": 50.0}
    assert store.manifest()["superseded_by"].isna().all()


def test_publication_date_beats_fetch_order(store):
    later = store.write_chunk(pd.DataFrame([cell("202201", 150.0)]), query={"q": "b"}, endpoint="x",
                              source="x", published="2024-06-15T00:00:00Z")
    earlier = store.write_chunk(pd.DataFrame([cell("202201", 100.0)]), query={"q": "a"}, endpoint="x",
                                source="x", published="2024-01-15")
    assert store.read()["primaryValue"].tolist() == [150.0]
    man = store.manifest().set_index("chunk_id")
    assert man.loc[earlier["chunk_id"], "superseded_by"] == later["chunk_id"]
    assert pd.isna(man.loc[later["chunk_id"], "superseded_by"])


def test_without_publication_dates_the_later_fetch_wins(store):
    first = store.write_chunk(pd.DataFrame([cell("202201", 1.0)]), query={"q": 1}, endpoint="x", source="x")
    second = store.write_chunk(pd.DataFrame([cell("202201", 2.0)]), query={"q": 2}, endpoint="x", source="x")
    assert store.read()["primaryValue"].tolist() == [2.0]
    assert store.manifest().set_index("chunk_id").loc[first["chunk_id"], "superseded_by"] == second["chunk_id"]


def test_different_cells_are_not_deduplicated(store):
    store.write_chunk(pd.DataFrame([cell("202201", 1.0), cell("202201", 2.0, code="854239")]), query={"q": 1},
                      endpoint="x", source="x")
    store.write_chunk(pd.DataFrame([cell("202201", 3.0, partner=398)]), query={"q": 2}, endpoint="x", source="x")
    assert sorted(store.read()["primaryValue"]) == [1.0, 2.0, 3.0]
    assert store.manifest()["superseded_by"].isna().all()


# ---------------------------------------------------------------- checksums


def test_checksum_mismatch_is_reported_and_read_refuses(store, small_demo):
    good = store.write_chunk(small_demo.head(50), query={"a": 1}, endpoint="x", source="x")
    bad = store.write_chunk(small_demo.tail(50), query={"b": 1}, endpoint="x", source="x")
    path = store.root / bad["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    status = store.verify().set_index("chunk_id")["status"]
    assert status[good["chunk_id"]] == "ok" and status[bad["chunk_id"]] == "checksum_mismatch"
    assert not store.has_chunk(bad["chunk_id"]) and store.has_chunk(good["chunk_id"])
    with pytest.raises(ChecksumError, match=f"{bad['chunk_id']}.*tradeflows store --verify"):
        store.read()
    path.unlink()
    assert store.verify().set_index("chunk_id")["status"][bad["chunk_id"]] == "missing"
    with pytest.raises(ChecksumError, match="missing"):
        store.read()
    store.remove_chunk(bad["chunk_id"])
    assert len(store.read()) == 50
    with pytest.raises(StoreError, match="no chunk"):
        store.remove_chunk(bad["chunk_id"])
    with pytest.raises(StoreError, match="malformed chunk id"):
        store.has_chunk("../../etc/passwd")


# ---------------------------------------------------------------- where the store lives


def test_store_dir_argument_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEFLOWS_HOME", str(tmp_path / "home"))
    assert default_store_dir(tmp_path / "arg") == tmp_path / "arg"
    assert Store(tmp_path / "arg").root == tmp_path / "arg"
    assert default_store_dir() == tmp_path / "home" / "store"
    assert Store().root == tmp_path / "home" / "store"


def test_checkout_is_recognised_by_its_pyproject(tmp_path):
    (tmp_path / "analysis").mkdir()
    assert store_mod._checkout_root(tmp_path / "analysis") is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert store_mod._checkout_root(tmp_path / "analysis") is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tradeflows"\n')
    assert store_mod._checkout_root(tmp_path / "analysis") == tmp_path


def test_store_dir_in_a_checkout_and_outside(monkeypatch, tmp_path):
    monkeypatch.delenv("TRADEFLOWS_HOME", raising=False)
    monkeypatch.setenv("TRADEFLOWS_HOME", "  ")  # blank counts as unset
    monkeypatch.setattr(store_mod, "_checkout_root", lambda: tmp_path / "checkout")
    assert default_store_dir() == tmp_path / "checkout" / "data" / "store"
    monkeypatch.setattr(store_mod, "_checkout_root", lambda: None)
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app, appauthor=None: str(tmp_path / "ud" / app))
    assert default_store_dir() == tmp_path / "ud" / "tradeflows" / "store"


def _write_many(root: str, tag: str) -> None:
    s = Store(root)
    for i in range(6):
        s.write_chunk(pd.DataFrame([cell("202201", float(i), partner=100 + i)]), query={"tag": tag, "i": i},
                      endpoint="x", source=tag)


def test_concurrent_writers_lose_no_chunk(tmp_path):
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs the fork start method")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path / "s"), tag)) for tag in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    s = Store(tmp_path / "s")
    assert len(s.manifest()) == 18 and s.verify()["status"].eq("ok").all()
    assert len(list(s.chunks_dir.iterdir())) == 18
