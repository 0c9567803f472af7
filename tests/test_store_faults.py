"""Fault injection on the store, the manifest and the output folders; each test is named by its expected outcome.

Damage is done the way it happens: a manifest lost, cut, edited by hand or
forged (its checksum recomputed), a chunk file deleted, changed or replaced by
a link, a process killed between two steps (a forked child that ends with
``os._exit``, so no clean-up code runs), a disk that fills up (an ``OSError``
with ``ENOSPC``, ``EDQUOT`` or ``EFBIG`` injected into the writer). Every
outcome is checked from outside: the files on disk, what the store reads, and
for the command line one line on stderr and exit status 2.
All records written here are labelled synthetic.
"""
from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import analysis._io as io_mod
import analysis.store as store_mod
from analysis._io import DiskFullError, clean_debris, staged_dir
from analysis.cli import main
from analysis.manifest import checksum
from analysis.store import ChecksumError, ManifestError, Store, StoreError, repair_store

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy_store_v1" / "store"
DISK_FULL = [errno.ENOSPC, errno.EDQUOT, errno.EFBIG]


def cell(period: str, value: float, *, code: str = "854231", partner: int = 112) -> dict:
    """One minimal monthly record of China's exports (synthetic)."""
    return {"typeCode": "C", "freqCode": "M", "period": period, "reporterCode": 156, "flowCode": "X",
            "partnerCode": partner, "partner2Code": 0, "classificationCode": "H6", "cmdCode": code,
            "customsCode": "C00", "mosCode": "0", "motCode": 0, "primaryValue": value, "fobvalue": value,
            "synthetic": True}


def frame(*cells: dict) -> pd.DataFrame:
    return pd.DataFrame(list(cells))


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (path -> bytes) but the lock file."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if (p.is_file() or p.is_symlink()) and p.name != ".lock"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status: int, err: str, *needles: str) -> str:
    assert status == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("tradeflows: error: ") and "internal error" not in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def manifest_doc(store: Store) -> dict:
    return json.loads(store.manifest_path.read_text(encoding="utf-8"))


def write_manifest(store: Store, doc: dict, *, reseal: bool) -> None:
    """Write an edited manifest; ``reseal`` recomputes its checksum (a forged manifest, not a careless edit)."""
    if reseal:
        doc["sha256"] = checksum(doc["chunks"])
    store.manifest_path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Three chunks: an old and a newer publication sharing the cell 2022-01, and one of Kazakhstan."""
    s = Store(tmp_path_factory.mktemp("template") / "store")
    s.write_chunk(frame(cell("202201", 100.0), cell("202202", 50.0)), query={"q": "old"}, endpoint="x",
                  source="import:old.csv", published="2024-01-15")
    s.write_chunk(frame(cell("202201", 150.0), cell("202203", 20.0)), query={"q": "new"}, endpoint="x",
                  source="import:new.csv", published="2024-06-15")
    s.write_chunk(frame(cell("202201", 7.0, partner=398)), query={"q": "kaz"}, endpoint="x", source="import:kaz.csv")
    return s.root


@pytest.fixture()
def store(template, tmp_path) -> Store:
    """A fresh copy of the template store (writing three chunks costs a second of record coercion)."""
    shutil.copytree(template, tmp_path / "store")
    return Store(tmp_path / "store")


@pytest.fixture()
def files(tmp_path, demo_panel) -> list[Path]:
    """Two small Comtrade CSV files of the synthetic demo panel (different records)."""
    paths = []
    for i, part in enumerate((demo_panel.iloc[:40], demo_panel.iloc[40:80])):
        path = tmp_path / f"part{i}.csv"
        part.to_csv(path, index=False)
        paths.append(path)
    return paths


def values(store: Store) -> dict[tuple[int, str], float]:
    back = store.read()
    return dict(zip(zip(back["partnerCode"].astype(int), back["period"], strict=True), back["primaryValue"],
                    strict=True))


EXPECTED = {(112, "202201"): 150.0, (112, "202202"): 50.0, (112, "202203"): 20.0, (398, "202201"): 7.0}


# --------------------------------------------------------------------------- a lost or damaged manifest


def test_lost_manifest_import_keeps_every_chunk(capsys, store, files):
    chunks = snapshot(store.chunks_dir)
    store.manifest_path.unlink()
    status, out, err = run(capsys, "store", "--store", str(store.root))
    assert_one_line_error(status, err, "3 chunk file(s) but no manifest.json", "damaged, not empty",
                          "tradeflows store --repair")
    assert "empty: run" not in out
    status, _, err = run(capsys, "import", *map(str, files), "--store", str(store.root))
    assert_one_line_error(status, err, "--repair")
    assert snapshot(store.chunks_dir) == chunks, "an import on a store without manifest deleted or added chunks"
    with pytest.raises(ManifestError, match="no manifest.json"):
        store.read()
    status, out, err = run(capsys, "store", "--store", str(store.root), "--repair")
    assert status == 0, err
    assert values(store) == EXPECTED


def test_manifest_missing_one_entry_is_refused_and_the_chunk_kept(capsys, store):
    doc = manifest_doc(store)
    gone = sorted(doc["chunks"])[0]
    del doc["chunks"][gone]
    write_manifest(store, doc, reseal=False)
    before = snapshot(store.root)
    status, _, err = run(capsys, "store", "--store", str(store.root), "--verify")
    assert_one_line_error(status, err, "checksum does not match", "tradeflows store --repair")
    with pytest.raises(ManifestError):
        store.write_chunk(frame(cell("202204", 1.0)), query={"q": "more"}, endpoint="x", source="x")
    assert snapshot(store.root) == before
    repair_store(store.root)
    assert gone in set(store.manifest()["chunk_id"]) and values(store) == EXPECTED


def test_edited_rows_fails_verify(capsys, store):
    doc = manifest_doc(store)
    victim = next(cid for cid, e in doc["chunks"].items() if e["source"] == "import:kaz.csv")
    doc["chunks"][victim]["rows"] = 0
    write_manifest(store, doc, reseal=False)  # a careless edit: the checksum no longer matches
    status, _, err = run(capsys, "store", "--store", str(store.root), "--verify")
    assert_one_line_error(status, err, "checksum does not match")
    write_manifest(store, doc, reseal=True)  # a forged manifest: only the chunk itself can tell
    status, out, err = run(capsys, "store", "--store", str(store.root), "--verify")
    assert status == 1 and "rows_mismatch" in out and "damaged" in err
    check = store.verify().set_index("chunk_id")
    assert check.loc[victim, "status"] == "rows_mismatch" and "says 0 rows, the chunk holds 1" in \
        check.loc[victim, "detail"]
    with pytest.raises(ChecksumError, match="holds 1 rows, not the 0"):
        store.read()


def test_edited_provenance_fails_verify(store):
    doc = manifest_doc(store)
    cid = next(cid for cid, e in doc["chunks"].items() if e["source"] == "import:old.csv")
    doc["chunks"][cid]["published"] = "2030-01-01"  # would make the old publication win
    write_manifest(store, doc, reseal=True)
    check = store.verify().set_index("chunk_id")
    assert check.loc[cid, "status"] == "manifest_mismatch" and "published" in check.loc[cid, "detail"]


@pytest.mark.parametrize("damage", ["bad_byte", "bad_json", "no_sha256", "unknown_format", "no_checksum",
                                    "not_an_object"])
def test_bad_byte_manifest_one_line_exit_2(capsys, store, files, damage):
    data = store.manifest_path.read_bytes()
    doc = json.loads(data)
    if damage == "bad_byte":
        data = data[:40] + b"\xff" + data[41:]
    elif damage == "bad_json":
        data = data[: len(data) // 2]
    elif damage == "no_sha256":
        del doc["chunks"][sorted(doc["chunks"])[1]]["sha256"]
        doc["sha256"] = checksum(doc["chunks"])
        data = json.dumps(doc).encode()
    elif damage == "unknown_format":
        doc["format"] = 99
        data = json.dumps(doc).encode()
    elif damage == "no_checksum":
        del doc["sha256"]
        data = json.dumps(doc).encode()
    else:
        data = b"[1, 2, 3]"
    store.manifest_path.write_bytes(data)
    before = snapshot(store.root)
    expected = {"bad_byte": "is not UTF-8", "bad_json": "not valid JSON", "no_sha256": "no sha256",
                "unknown_format": "unknown format 99", "no_checksum": "no checksum",
                "not_an_object": "not a JSON object"}[damage]
    for argv in (["store"], ["store", "--verify"], ["store", "--manifest"], ["import", str(files[0])],
                 ["analyze", "--out", str(store.root.parent / "out")]):
        status, _, err = run(capsys, *argv, "--store", str(store.root))
        assert_one_line_error(status, err, expected, f"tradeflows store --repair --store {store.root}")
    assert snapshot(store.root) == before
    assert not (store.root.parent / "out").exists()


def test_manifest_path_outside_store_is_refused(capsys, store, files):
    victim = store.root.parent / "victim.txt"
    victim.write_text("not yours")
    doc = manifest_doc(store)
    cid = sorted(doc["chunks"])[0]
    doc["chunks"][cid]["file"] = "../victim.txt"
    write_manifest(store, doc, reseal=True)  # forged: the checksum matches, the path check must stop it
    before = snapshot(store.root)
    for argv in (["store"], ["store", "--verify"], ["import", str(files[0])]):
        status, _, err = run(capsys, *argv, "--store", str(store.root))
        assert_one_line_error(status, err, "'../victim.txt'", "--repair")
    with pytest.raises(ManifestError, match="victim"):
        store.read()
    with pytest.raises(ManifestError):
        store.remove_chunk(cid)
    assert victim.read_text() == "not yours" and snapshot(store.root) == before


def test_chunk_link_out_of_the_store_is_refused_and_never_deleted(store):
    victim = store.root.parent / "victim.parquet"
    entry = store.manifest().iloc[0]
    path = store.root / entry["file"]
    shutil.copy(path, victim)
    path.unlink()
    path.symlink_to(victim)  # same bytes, so only the path check can tell
    assert store.verify().set_index("chunk_id").loc[entry["chunk_id"], "status"] == "outside_store"
    assert not store.has_chunk(entry["chunk_id"])
    with pytest.raises(ChecksumError, match="leads out of the store"):
        store.read()
    store.remove_chunk(entry["chunk_id"])
    assert victim.exists() and path.is_symlink(), "a link out of the store was followed or removed"


# --------------------------------------------------------------------------- repair


def test_repair_rebuilds_identical_manifest(store):
    original = store.manifest_path.read_bytes()
    assert json.loads(original)["format"] == 2
    store.manifest_path.unlink()
    done = repair_store(store.root)
    assert store.manifest_path.read_bytes() == original
    assert set(done["action"]) == {"listed"} and done.attrs["rewritten"]
    store.manifest_path.write_bytes(original[:30] + b"\xff" + original[31:])
    done = repair_store(store.root)
    assert store.manifest_path.read_bytes() == original
    copy = next(store.quarantine_dir.glob("*.manifest.json"))
    assert copy.read_bytes()[30:31] == b"\xff", "the damaged manifest must be kept, not deleted"
    assert "is not UTF-8" in done.set_index("file").loc["manifest.json", "detail"]
    assert values(store) == EXPECTED


def test_repair_recomputes_superseded_by_as_the_writes_did(store):
    store.write_chunk(frame(cell("202201", 1.0), cell("202202", 2.0)), query={"q": "third"}, endpoint="x",
                      source="third", published="2024-03-01")  # a third chunk holding 2022-01
    store.write_chunk(frame(cell("202202", 3.0), cell("202201", 5.0, partner=398)), query={"q": "fourth"},
                      endpoint="x", source="fourth")  # undated: loses to dated chunks, beats the older undated one
    store.write_chunk(frame(cell("202201", 151.0), cell("202203", 21.0)), query={"q": "new"}, endpoint="x",
                      source="import:new.csv", published="2024-06-15")  # a refresh links again
    man = store.manifest()
    name = dict(zip(man["chunk_id"], man["source"].str.replace("import:", "").str.replace(".csv", ""), strict=True))
    links = {name[cid]: sorted(name[c] for c in sup.split(",") if c)
             for cid, sup in zip(man["chunk_id"], man["superseded_by"].fillna(""), strict=True)}
    assert links == {"old": ["new", "third"], "third": ["new"], "fourth": ["old", "third"], "kaz": ["fourth"],
                     "new": []}
    original = store.manifest_path.read_bytes()
    store.manifest_path.unlink()
    repair_store(store.root)
    assert store.manifest_path.read_bytes() == original


def test_repair_of_a_consistent_store_changes_nothing(capsys, store):
    before = snapshot(store.root)
    status, out, _ = run(capsys, "store", "--store", str(store.root), "--repair")
    assert status == 0 and "consistent and is unchanged" in out
    assert snapshot(store.root) == before


def test_repair_drops_a_missing_chunk_and_quarantines_a_damaged_one(capsys, store):
    man = store.manifest().set_index("source")
    missing, damaged = man.loc["import:kaz.csv"], man.loc["import:old.csv"]
    (store.root / missing["file"]).unlink()
    bad = store.root / damaged["file"]
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    status, out, err = run(capsys, "store", "--store", str(store.root), "--repair")
    assert status == 1 and "2 chunk(s) dropped" in err
    assert list(store.manifest()["source"]) == ["import:new.csv"]
    kept = next(store.quarantine_dir.glob(f"*.{Path(damaged['file']).name}"))
    assert kept.read_bytes() == bytes(data)
    assert store.verify()["status"].eq("ok").all()
    assert values(store) == {(112, "202201"): 150.0, (112, "202203"): 20.0}


# --------------------------------------------------------------------------- orphans: quarantined, never deleted


def _write_killed_before_commit(root: str) -> None:
    """In a child process: write a chunk and die just before the manifest is replaced."""
    s = Store(root)
    Store._save = lambda self, entries: os._exit(9)  # type: ignore[method-assign]
    s.write_chunk(frame(cell("202205", 9.0)), query={"q": "killed"}, endpoint="x", source="import:killed.csv")
    os._exit(0)


def _fork(target, *args) -> int:
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs the fork start method")
    proc = mp.get_context("fork").Process(target=target, args=args)
    proc.start()
    proc.join(60)
    return proc.exitcode


def test_orphan_chunk_quarantined_not_deleted(store):
    before = snapshot(store.root)
    assert _fork(_write_killed_before_commit, str(store.root)) == 9
    orphans = [p for p in store.chunks_dir.iterdir() if f"chunks/{p.name}" not in before]
    assert len(orphans) == 1 and snapshot(store.root)["manifest.json"] == before["manifest.json"]
    orphan_bytes = orphans[0].read_bytes()
    assert values(store) == EXPECTED, "an uncommitted chunk must not be read"
    check = store.verify()
    assert check.set_index("file").loc[f"chunks/{orphans[0].name}", "status"] == "orphan"
    store.write_chunk(frame(cell("202206", 3.0)), query={"q": "next"}, endpoint="x", source="x")
    assert not orphans[0].exists()
    moved = list(store.quarantine_dir.iterdir())
    assert len(moved) == 1 and moved[0].name.endswith(orphans[0].name) and moved[0].read_bytes() == orphan_bytes
    assert store.verify()["status"].eq("ok").all()


def _import_killed_at_second_chunk(root: str, paths: list[str]) -> None:
    """In a child process: a two-file import killed while writing its second chunk."""
    real, calls = store_mod.atomic_write, []

    def write(path, data):
        calls.append(path)
        if len(calls) == 2:
            os._exit(9)
        return real(path, data)

    store_mod.atomic_write = write  # type: ignore[assignment]
    main(["-q", "import", *paths, "--store", root])
    os._exit(0)


def test_killed_two_file_import_keeps_nothing(store, files):
    before = values(store), store.manifest_path.read_bytes()
    assert _fork(_import_killed_at_second_chunk, str(store.root), list(map(str, files))) == 9
    assert (values(store), store.manifest_path.read_bytes()) == before
    assert (store.verify()["status"] == "orphan").sum() == 1
    store.write_chunk(frame(cell("202206", 3.0)), query={"q": "next"}, endpoint="x", source="x")
    assert store.verify()["status"].eq("ok").all() and len(list(store.quarantine_dir.iterdir())) == 1


def test_verify_reports_orphans_and_foreign_files(store):
    stray = store.chunks_dir / "0123456789abcdef.0123456789ab.parquet"
    shutil.copy(store.root / store.manifest()["file"].iloc[0], stray)
    (store.chunks_dir / "notes.txt").write_text("mine")
    check = store.verify().set_index("file")
    assert check.loc[f"chunks/{stray.name}", "status"] == "orphan"
    assert check.loc["chunks/notes.txt", "status"] == "foreign"
    assert (check["status"] == "ok").sum() == 3
    done = repair_store(store.root).set_index("file")
    assert done.loc[f"chunks/{stray.name}", "action"] == "quarantined"
    assert done.loc["chunks/notes.txt", "action"] == "left_alone"
    assert (store.chunks_dir / "notes.txt").read_text() == "mine"


def test_refreshed_chunk_whose_file_changed_is_quarantined_not_deleted(store):
    entry = store.manifest().set_index("source").loc["import:kaz.csv"]
    old = store.root / entry["file"]
    data = bytearray(old.read_bytes())
    data[-20] ^= 0xFF
    old.write_bytes(bytes(data))
    store.write_chunk(frame(cell("202201", 8.0, partner=398)), query={"q": "kaz"}, endpoint="x", source="x")
    assert not old.exists()
    assert [p.read_bytes() for p in store.quarantine_dir.iterdir()] == [bytes(data)]
    assert values(store)[(398, "202201")] == 8.0


# --------------------------------------------------------------------------- stores written before chunk provenance


@pytest.fixture()
def legacy(tmp_path) -> Store:
    shutil.copytree(LEGACY, tmp_path / "legacy")
    return Store(tmp_path / "legacy")


LEGACY_VALUES = {(112, "202201"): 150.0, (112, "202202"): 50.0, (112, "202203"): 20.0}


def test_legacy_store_still_reads_and_verifies(legacy):
    assert manifest_doc(legacy)["format"] == 1
    assert values(legacy) == LEGACY_VALUES and legacy.read()["synthetic"].all()
    check = legacy.verify()
    assert check["status"].eq("ok").all() and check["detail"].str.contains("before chunks carried").all()


def test_legacy_store_upgrades_on_its_next_write(legacy):
    legacy.write_chunk(frame(cell("202201", 7.0, partner=398)), query={"q": "kaz"}, endpoint="x", source="x")
    doc = manifest_doc(legacy)
    assert doc["format"] == 2 and doc["sha256"] == checksum(doc["chunks"])
    assert values(legacy) == {**LEGACY_VALUES, (398, "202201"): 7.0}


def test_legacy_store_repair_says_what_it_can_and_cannot_rebuild(capsys, legacy):
    before = legacy.manifest()
    status, out, _ = run(capsys, "store", "--store", str(legacy.root), "--repair")
    assert status == 0 and "3 chunk(s) predate chunk provenance" in out and "rebuilt" in out
    done = repair_store(legacy.root)
    assert not done.attrs["rewritten"], "a second repair must find nothing to do"
    assert (done["action"] == "listed_legacy").sum() == 3
    assert done["detail"].str.contains("taken from the earlier manifest").sum() == 3
    pd.testing.assert_frame_equal(legacy.manifest(), before)
    assert values(legacy) == LEGACY_VALUES
    legacy.manifest_path.unlink()  # now the provenance of the old chunks is truly lost
    done = repair_store(legacy.root)
    assert done["detail"].str.contains("its source, query and dates are lost").sum() == 3
    man = legacy.manifest()
    assert man["published"].isna().all() and set(man["source"]) == {"unknown (rebuilt by repair)"}
    assert len(legacy.read()) == 3 and legacy.read()["synthetic"].all()


# --------------------------------------------------------------------------- a full disk


def failing_writer(monkeypatch, *, fail_at: int, code: int = errno.ENOSPC) -> list[Path]:
    """Make the store's ``fail_at``-th file write fail with ``code`` (after writing half a temporary file)."""
    real = store_mod.atomic_write
    calls: list[Path] = []

    def write(path, data):
        calls.append(Path(path))
        if len(calls) == fail_at:
            (Path(path).parent / f".{Path(path).name}.abcd1234.tmp").write_bytes(b"half")  # as a real writer would
            (Path(path).parent / f".{Path(path).name}.abcd1234.tmp").unlink()
            raise OSError(code, os.strerror(code), str(path))
        return real(path, data)

    monkeypatch.setattr(store_mod, "atomic_write", write)
    return calls


@pytest.mark.parametrize("code", DISK_FULL)
def test_disk_full_two_file_import_keeps_nothing(capsys, monkeypatch, store, files, code):
    before = snapshot(store.root)
    calls = failing_writer(monkeypatch, fail_at=2, code=code)
    status, _, err = run(capsys, "import", *map(str, files), "--store", str(store.root))
    assert_one_line_error(status, err, os.strerror(code), "nothing was changed")
    assert [p.suffix for p in calls] == [".parquet", ".parquet"]
    assert snapshot(store.root) == before, "a failed batch kept a file"


def test_disk_full_two_file_import_from_python_keeps_nothing(monkeypatch, store, files):
    """analysis.import_files is all-or-nothing too, not only the command line."""
    from analysis.importers import import_files
    from analysis.store import DiskFullError

    before = snapshot(store.root)
    failing_writer(monkeypatch, fail_at=2)
    with pytest.raises(DiskFullError):
        import_files(files, store=store)
    assert snapshot(store.root) == before, "a failed batch kept a file"


def test_disk_full_at_the_manifest_commit_keeps_nothing(capsys, monkeypatch, store, files):
    before = snapshot(store.root)
    calls = failing_writer(monkeypatch, fail_at=3)
    status, _, err = run(capsys, "import", *map(str, files), "--store", str(store.root))
    assert_one_line_error(status, err, "No space left on device")
    assert calls[-1].name == "manifest.json" and snapshot(store.root) == before
    monkeypatch.undo()
    status, out, err = run(capsys, "import", *map(str, files), "--store", str(store.root))
    assert status == 0 and len(store.manifest()) == 5 and store.verify()["status"].eq("ok").all()


def test_disk_full_mid_chunk_leaves_no_temporary_file(monkeypatch, tmp_path):
    s = Store(tmp_path / "fresh")
    real_fsync = os.fsync

    def fsync(fd):
        if ".parquet." in os.readlink(f"/proc/self/fd/{fd}"):  # the chunk's temporary file, not the manifest's
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to tell which file is synced")
    monkeypatch.setattr(io_mod.os, "fsync", fsync)
    with pytest.raises(DiskFullError, match=r"writing .*/fresh/chunks/.*parquet: No space left on device; "
                                              "nothing was changed"):
        s.write_chunk(frame(cell("202201", 1.0)), query={"q": 1}, endpoint="x", source="x")
    monkeypatch.undo()
    assert snapshot(s.root) == {}, "a failed first write must leave no manifest, chunk or temporary file"
    assert s.manifest().empty


def test_disk_full_during_fetch_keeps_committed_chunks_and_resumes(monkeypatch, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fixtures.comtrade_server import FakeComtrade

    from analysis.fetching import fetch

    kw = dict(focal=112, controls=[398], transit="none", codes=["854231", "HS901310"], start="2021-11",
              end="2022-02", api_key="", calls_per_minute=0, sleep=lambda s: None, progress=False)
    s = Store(tmp_path / "store")
    with FakeComtrade() as fake:
        failing_writer(monkeypatch, fail_at=4)  # empty manifest, chunk 1 and its commit, chunk 2
        with pytest.raises(DiskFullError, match="No space left on device") as info:
            fetch(**kw, store=s, base_url=fake.url)
        assert "\n" not in str(info.value)
        assert len(s.manifest()) == 1 and s.verify()["status"].eq("ok").all()
        assert not [p for p in s.root.rglob("*.tmp")]
        monkeypatch.undo()
        result = fetch(**kw, store=s, base_url=fake.url)
    assert result.complete and result.chunks_skipped == 1 and s.verify()["status"].eq("ok").all()


def test_failed_transaction_keeps_nothing(store):
    before = snapshot(store.root)
    with pytest.raises(RuntimeError, match="stop"), store.transaction():
        store.write_chunk(frame(cell("202204", 1.0)), query={"q": "a"}, endpoint="x", source="x")
        Store(store.root).write_chunk(frame(cell("202205", 1.0)), query={"q": "b"}, endpoint="x", source="x")
        assert len(store.manifest()) == 5  # the pending view, by any Store of the folder
        raise RuntimeError("stop")
    assert snapshot(store.root) == before


def test_a_transaction_commits_once(store, monkeypatch):
    saves = []
    real = Store._save
    monkeypatch.setattr(Store, "_save", lambda self, entries: (saves.append(len(entries)), real(self, entries)))
    with store.transaction():
        store.write_chunk(frame(cell("202204", 1.0)), query={"q": "a"}, endpoint="x", source="x")
        store.write_chunk(frame(cell("202205", 2.0)), query={"q": "b"}, endpoint="x", source="x")
        store.remove_chunk(Store.chunk_id({"q": "a"}))
    assert saves == [4] and len(store.manifest()) == 4
    assert len(list(store.chunks_dir.iterdir())) == 4, "a chunk written and removed in one transaction remained"


# --------------------------------------------------------------------------- report folders


OLD = {"report.html": b"old html", "report.md": b"old md", "figures/a.png": b"old png"}
NEW = {"report.html": b"new html", "report.md": b"new md", "figures/a.png": b"new png", "figures/b.png": b"new"}


def folder(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and not p.name.startswith(".tradeflows")}


def _fill(where: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_bytes(data)


def _swap_killed(out: str, kill_at: str) -> None:
    """In a child process: replace the report folder ``out`` with NEW, dying at ``kill_at``."""
    def die(*_args, **_kw):
        os._exit(9)

    real_exchange, real_rename = io_mod._exchange, os.rename
    if kill_at == "before_exchange":
        io_mod._exchange = die
    elif kill_at == "after_exchange":
        io_mod._exchange = lambda a, b: (real_exchange(a, b), die())
    elif kill_at == "removing_old":
        def rmtree(path, **_kw):
            next(p for p in Path(path).rglob("*") if p.is_file()).unlink()
            die()
        io_mod.shutil.rmtree = rmtree  # type: ignore[assignment]
    elif kill_at == "between_renames":  # where the platform cannot exchange two folders
        io_mod._exchange = lambda a, b: False
        renames = []

        def rename(src, dst):
            renames.append(dst)
            if len(renames) == 2:
                die()
            real_rename(src, dst)
        os.rename = rename  # type: ignore[assignment]
    with staged_dir(out, "report") as staged:
        _fill(staged, dict(list(NEW.items())[:2]))
        if kill_at == "building":
            die()
        _fill(staged, NEW)
    os._exit(0)


def _backdate(parent: Path) -> None:
    """Make the debris beside the folder look like it was left by a run that ended a day ago."""
    old = time.time() - 86400
    for path in parent.rglob(".out.*"):
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.utime(p, (old, old), follow_symlinks=False)


def _old_report(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    with staged_dir(out, "report") as staged:
        _fill(staged, OLD)
    return out


@pytest.mark.parametrize("kill_at", ["building", "before_exchange", "after_exchange", "removing_old",
                                     "between_renames"])
def test_killed_report_swap_leaves_complete_folder(tmp_path, kill_at):
    out = _old_report(tmp_path)
    assert _fork(_swap_killed, str(out), kill_at) == 9
    got = folder(out) if out.exists() else None
    if kill_at == "between_renames":
        assert got is None  # the one instant a platform without an atomic exchange leaves nothing at out
    else:
        assert got in (OLD, NEW)
        assert got == (NEW if kill_at in ("after_exchange", "removing_old") else OLD)
    debris = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out."))
    assert debris, "the kill should have left a staging folder"
    fresh = clean_debris(out)
    assert fresh == [] and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")) == debris, \
        "debris newer than the running process may belong to a live run: kept"
    _backdate(tmp_path)
    clean_debris(out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert folder(out) == (OLD if kill_at == "between_renames" else got), "the earlier folder must be put back"
    with staged_dir(out, "report") as staged:
        _fill(staged, NEW)
    assert folder(out) == NEW and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_debris_cleaning_leaves_foreign_files_alone(tmp_path):
    out = _old_report(tmp_path)
    foreign = [".out.NOTOURS1.tmp", ".out.abcdefgh.tmp.keep", "out.bak", ".out.abcdefg.tmp", ".other.abcdefgh.tmp"]
    for name in foreign:
        (tmp_path / name).write_text("someone else's")
    ours = tmp_path / ".out.abcd_123.tmp"
    ours.mkdir()
    (ours / "report.html").write_text("half")
    _backdate(tmp_path)
    assert clean_debris(out) == [ours]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*foreign, "out"])


def test_disk_full_report_keeps_earlier_folder(tmp_path):
    out = _old_report(tmp_path)
    with pytest.raises(DiskFullError, match=r"writing the report folder .*out: No space left on device"), \
            staged_dir(out, "report") as staged:
        _fill(staged, NEW)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staged / "figures" / "c.png"))
    assert folder(out) == OLD and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_store_errors_are_store_errors():
    assert issubclass(ManifestError, StoreError) and issubclass(ChecksumError, StoreError)
