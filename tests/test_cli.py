"""The command line: the demo run on a fresh machine, every failure path (one line, exit 2), the store views.

Failure tests run the CLI in-process with ``main(argv)`` and check: exit
status 2, exactly one line on stderr starting ``tradeflows: error:``, no
traceback, and that nothing stored or written before was changed.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from analysis.cli import Console, main  # noqa: E402
from analysis.demo import load_demo  # noqa: E402
from analysis.errors import InputError  # noqa: E402
from analysis.store import Store  # noqa: E402
from analysis.suppliers import SUPPLIER_FILES  # noqa: E402


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


PROGRESS_LINE = re.compile(r"^[a-z][a-z ]+ \.\.\.( \(\d+ s so far\))?$")
"""The step lines a run off a terminal prints on stderr (``building series ...``), before any error."""


def assert_one_line_error(status: int, err: str, *needles: str) -> None:
    assert status == 2
    lines = [line for line in err.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert len(lines) == 1, err
    assert lines[0].startswith("tradeflows: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256 (missing folder: empty)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A fresh machine: empty TRADEFLOWS_HOME, a clean working folder."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("TRADEFLOWS_HOME", str(home))
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """A store holding demo records relabelled as real (not synthetic), as if imported."""
    root = tmp_path_factory.mktemp("store")
    records = load_demo()
    records = records[records["cmdCode"].str.startswith(("9013", "9015", "9503", "8542"))].copy()
    records["synthetic"] = False
    records.attrs["synthetic"] = False
    Store(root).write_chunk(records, query={"file": "demo-as-real.csv", "sha256": "0" * 64}, endpoint="file",
                            source="import:demo-as-real.csv")
    return root


# --------------------------------------------------------------------------- the main command

def test_report_on_a_fresh_machine_says_synthetic_first(demo_report):
    status, out, err, folder = demo_report
    assert status == 0, err
    first = out.splitlines()[0]
    assert first.startswith("SYNTHETIC DATA:") and "demo panel" in first
    assert (folder / "report.html").is_file() and (folder / "tables" / "compare.csv").is_file()
    assert "Report written to" in out
    # not a terminal: no progress bars
    assert "\r" not in err and "it/s" not in err and "fig/s" not in err


def test_report_rerun_into_its_own_folder_is_allowed(demo_report):
    from analysis._io import check_out_dir

    *_, folder = demo_report
    assert check_out_dir(folder, "report") == folder.absolute()


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("argv, needles", [
    (["analyze", "--demo", "--partner", "Narnia"], ["unknown country 'Narnia'", "did you mean"]),
    (["analyze", "--demo", "--partner", "Korea"], ["ambiguous", "Rep. of Korea (410)"]),
    (["analyze", "--demo", "--controls", "616,Atlantis"], ["Atlantis"]),
    (["analyze", "--demo", "--codes", "999999"], ["none of the families of codes 999999 is in the data"]),
    (["analyze", "--demo", "--codes", "optcs"], ["unknown HS code", "optcs"]),
    (["analyze", "--demo", "--group", "optix"], ["did you mean optics"]),
    (["analyze", "--demo", "--pre", "2021:2019"], ["--pre", "reversed"]),
    (["analyze", "--demo", "--pre", "2019-13:2021"], ["--pre", "month must be 01-12"]),
    (["analyze", "--demo", "--post", "March 2022"], ["--post", "not YYYY or YYYY-MM"]),
    (["analyze", "--demo", "--pre", "2019:2022-06"], ["pre window", "must end before"]),
    (["report", "--demo", "--controls", "112"], ["focal partner"]),
    (["report", "--demo", "--alpha", "2"], ["--alpha"]),
    (["codes", "zzzz"], ["no registry code matches"]),
    (["fetch", "--partner", "Narnia"], ["Narnia"]),
    (["fetch", "--start", "2022", "--end", "2019"], ["reversed"]),
    (["fetch", "--codes", "12345x"], ["unknown HS code"]),
    (["fetch", "--plan"], ["--plan needs --end"]),
])
def test_bad_input_is_one_line_and_exit_2(capsys, fresh, argv, needles):
    status, out, err = run(capsys, *argv)
    assert_one_line_error(status, err, *needles)
    assert not any(fresh.iterdir()), "a failed command writes nothing"
    if not {"must end before", "none of the families of codes 999999 is in the data"} & set(needles):
        assert out == ""  # argument errors are found before any data is read (the data say which codes they hold)


def test_missing_output_parent(capsys, fresh):
    status, _, err = run(capsys, "report", "--demo", "--out", str(fresh / "no" / "such" / "report"))
    assert_one_line_error(status, err, "does not exist")
    status, _, err = run(capsys, "analyze", "--demo", "--out", str(fresh / "no" / "tables"))
    assert_one_line_error(status, err, "does not exist")


def test_output_folder_of_someone_else_is_refused_and_kept(capsys, fresh):
    mine = fresh / "thesis"
    mine.mkdir()
    (mine / "chapter1.md").write_text("do not touch")
    before = snapshot(mine)
    status, _, err = run(capsys, "report", "--demo", "--out", str(mine))
    assert_one_line_error(status, err, "not empty")
    assert snapshot(mine) == before


def test_empty_store_is_an_error(capsys, fresh, tmp_path):
    empty = tmp_path / "empty-store"
    status, _, err = run(capsys, "analyze", "--store", str(empty))
    assert_one_line_error(status, err, "empty", "tradeflows fetch or tradeflows import")
    assert not empty.exists()


def test_import_of_a_file_that_is_not_comtrade_data(capsys, tmp_path, stored):
    junk = tmp_path / "notes.csv"
    junk.write_text("name,age\nAda,36\n", encoding="utf-8")
    before = snapshot(stored)
    status, _, err = run(capsys, "import", str(junk), "--store", str(stored))
    assert_one_line_error(status, err, "notes.csv")
    assert snapshot(stored) == before
    status, _, err = run(capsys, "import", str(tmp_path / "missing.csv"), "--store", str(stored))
    assert_one_line_error(status, err, "missing.csv")
    assert snapshot(stored) == before


def test_failed_report_keeps_the_earlier_report(capsys, demo_report, tmp_path):
    import shutil

    *_, folder = demo_report
    earlier = tmp_path / "earlier"
    shutil.copytree(folder, earlier)
    before = snapshot(earlier)
    status, _, err = run(capsys, "report", "--demo", "--out", str(earlier), "--pre", "2019:2023")
    assert status == 2
    assert snapshot(earlier) == before


def test_verbose_shows_the_traceback(fresh):
    with pytest.raises(InputError, match="Narnia"):
        main(["--verbose", "analyze", "--demo", "--partner", "Narnia"])
    with pytest.raises(InputError, match="Narnia"):
        main(["analyze", "--demo", "--partner", "Narnia", "--verbose"])


def test_verbose_and_quiet_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--verbose", "--quiet"])
    assert exc.value.code == 2


# --------------------------------------------------------------------------- working commands

def test_analyze_from_a_store_writes_the_output_contract(capsys, stored, tmp_path):
    out = tmp_path / "tables"
    status, stdout, err = run(capsys, "-q", "analyze", "--store", str(stored), "--group", "optics,microelectronics",
                              "--controls", "Poland,LTU,398,Kyrgyzstan,860,Armenia", "--pre", "2019:2021",
                              "--post", "2022-03:", "--out", str(out))
    assert status == 0, err
    assert "SYNTHETIC" not in stdout
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == sorted(["compare.csv", "findings.csv", "families.csv", "did_family.csv", "event_study.csv",
                            "triple_diff.csv", "config.json", *SUPPLIER_FILES])  # the store holds other reporters'
    config = json.loads((out / "config.json").read_text())
    assert config["pre"] == "2019-01:2021-12" and config["post"] == "2022-03:2025-06"
    assert sorted(config["comparison_partners"]) == [51, 398, 417, 440, 616, 860]
    assert config["synthetic"] is False
    import pandas as pd

    compare = pd.read_csv(out / "compare.csv")
    assert set(compare["group"]) <= {"optics", "microelectronics", "control_consumer"}
    assert "optics" in set(compare["group"])


def test_report_from_a_store_has_provenance_and_no_synthetic_marks(capsys, stored, tmp_path):
    out = tmp_path / "report"
    status, stdout, err = run(capsys, "-q", "report", "--store", str(stored), "--group", "optics", "--top", "1",
                              "--out", str(out))
    assert status == 0, err
    assert "SYNTHETIC" not in stdout
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in md and "Appendix: planted effects" not in md
    assert "1 imported file (demo-as-real.csv)" in md and "Provenance" in md
    assert f"--store {stored}" in md  # the command that repeats the run


def test_store_views(capsys, stored, tmp_path):
    status, out, _ = run(capsys, "store", "--store", str(stored))
    assert status == 0
    assert "1 chunk(s)" in out and "China (156)" in out and "Belarus (112)" in out and "H6" in out
    status, out, _ = run(capsys, "store", "--store", str(stored), "--manifest")
    assert status == 0 and "import:demo-as-real.csv" in out
    status, out, _ = run(capsys, "store", "--store", str(stored), "--verify")
    assert status == 0 and "match their checksums" in out
    status, out, _ = run(capsys, "store", "--store", str(tmp_path / "nothing"))
    assert status == 0 and "is empty" in out


def test_store_verify_reports_damage(capsys, tmp_path):
    root = tmp_path / "store"
    records = load_demo().head(50)
    Store(root).write_chunk(records, query={"file": "x.csv", "sha256": "1" * 64}, endpoint="file", source="import:x")
    chunk = next((root / "chunks").glob("*.parquet"))
    chunk.write_bytes(chunk.read_bytes()[:-10] + b"0123456789")
    status, out, err = run(capsys, "store", "--store", str(root), "--verify")
    assert status == 1
    assert "checksum_mismatch" in out and "damaged" in err


def test_codes_search(capsys):
    status, out, _ = run(capsys, "codes", "laser")
    assert status == 0 and "901320" in out
    status, out, _ = run(capsys, "codes", "--groups")
    assert status == 0 and "optics" in out and "control_cars" in out
    status, out, _ = run(capsys, "codes", "--families", "8542")
    assert status == 0 and "HS854231" in out


def test_fetch_plan_makes_no_call(capsys, fresh):
    status, out, err = run(capsys, "fetch", "--codes", "optics", "--start", "2021-01", "--end", "2022-06",
                           "--controls", "none", "--plan")
    assert status == 0, err
    assert "call(s) planned; nothing was fetched" in out
    assert not any(fresh.iterdir())


def test_console_progress_is_quiet_off_a_terminal(capsys):
    con = Console(quiet=False)
    items = [1, 2, 3]
    assert con.progress(items, desc="x") is items  # pytest's stderr is not a terminal
    con = Console(quiet=True)
    con.tty = True
    assert con.progress(items, desc="x") is items
    con.info("hidden")
    assert capsys.readouterr().err == ""
