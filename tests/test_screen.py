"""The screen (analysis.screen) and the out-of-core series it is built on (analysis.outofcore). SYNTHETIC data.

Stores here are small: the demo panel written in several chunks with the traps a real store holds (a revision
published later than it was fetched, converted copies with and without an original, estimated weights, totals,
aggregates, breakdowns, annual rows, an empty chunk), and a store from scripts/bench_scale.py with planted
focal-only rises in codes outside the registry.
"""
from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pandas as pd
import pytest
from conftest import load_script

from analysis import registry
from analysis.errors import InputError, TradeflowsError
from analysis.outofcore import CELL_COLUMNS, Selection, code_cells, series_from_cells, store_series
from analysis.screen import SCREEN_COLUMNS, ScreenResult, screen_store
from analysis.series import SERIES_COLUMNS, build_series
from analysis.store import Store, StoreError
from analysis.study import Study

BELARUS, POLAND = 112, 616
EXTRA_CODE = "030211"  # outside the registry and the demo
H6_ONLY_CODE = "030212"
REVISED_FAMILY, REVISED_MONTH, REVISION = "HS854231", "2023-05-01", 1.5


def _extra_records(template: pd.Series) -> pd.DataFrame:
    """Records beside the demo that series.py sets aside or treats specially (all SYNTHETIC)."""
    rows = []

    def add(**changes):
        row = template.copy()
        for k, v in changes.items():
            row[k] = v
        rows.append(row)

    months = [f"2023{m:02d}" for m in range(3, 9)]  # not January/February: China publishes them together
    for i, period in enumerate(months):  # an outside code Belarus trades in HS 2022, its originals
        add(period=period, cmdCode=EXTRA_CODE, classificationCode="H6", isOriginalClassification=True,
            primaryValue=1000.0 * (i + 1), netWgt=10.0 * (i + 1), qty=10.0 * (i + 1), isNetWgtEstimated=False,
            isQtyEstimated=False, qtyUnitCode=8)
    add(period="202303", cmdCode=EXTRA_CODE, classificationCode="H5", isOriginalClassification=False,
        primaryValue=1000.0, netWgt=10.0)  # converted copy beside its original: left out
    add(period="202309", cmdCode=EXTRA_CODE, classificationCode="H5", isOriginalClassification=False,
        primaryValue=700.0, netWgt=7.0)  # converted copy, no original in the cell: used
    add(period="202310", cmdCode=EXTRA_CODE, classificationCode="H6", isOriginalClassification=True,
        primaryValue=800.0, netWgt=80.0, qty=80.0, qtyUnitCode=8, isQtyEstimated=True,
        isNetWgtEstimated=False)  # kg quantity estimated and copied into netWgt: an estimated weight
    add(period="202311", cmdCode=EXTRA_CODE, classificationCode="H6", isOriginalClassification=True,
        primaryValue=900.0, netWgt=np.nan, qty=np.nan, isNetWgtEstimated=pd.NA)  # no weight reported
    for period in months:  # an outside code only in HS 2022 records: no concordance, a note says so
        add(period=period, cmdCode=H6_ONLY_CODE, classificationCode="H6", isOriginalClassification=True,
            primaryValue=500.0, cmdDesc="Comtrade's own words for it")
    add(period="202302", cmdCode="TOTAL", primaryValue=5e6)  # a total
    add(period="202302", cmdCode="8471", primaryValue=4e6)  # a four-digit aggregate
    add(period="202305", cmdCode=EXTRA_CODE, classificationCode="H6", motCode=2100, primaryValue=3e6)  # transport
    add(period="202306", cmdCode=EXTRA_CODE, classificationCode="H6", customsCode="C01", primaryValue=3e6)
    add(period="202307", cmdCode=EXTRA_CODE, classificationCode="H6", partner2Code=643, primaryValue=3e6)
    add(period="2023", freqCode="A", refMonth=52, cmdCode=EXTRA_CODE, classificationCode="H6",
        primaryValue=9e6)  # annual
    return pd.DataFrame(rows).reset_index(drop=True)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory, demo_panel) -> Store:
    """The demo panel (SYNTHETIC) in four chunks, a revision published before the others were fetched, extra
    records and an empty chunk."""
    store = Store(tmp_path_factory.mktemp("demo-store"))
    fam = registry.family_of(demo_panel["cmdCode"], demo_panel["classificationCode"])
    revised = demo_panel[(demo_panel["partnerCode"] == BELARUS) & (fam == REVISED_FAMILY).to_numpy()
                         & (demo_panel["period_date"].dt.year == 2023).to_numpy()].copy()
    revised["primaryValue"] = revised["primaryValue"] * REVISION
    # written first, but published: it outranks the chunks fetched after it without a publication date
    store.write_chunk(revised, query={"test": "revision"}, endpoint="test", source="revision",
                      published="2025-07-15")
    blocks = np.array_split(np.sort(demo_panel["partnerCode"].unique().to_numpy(int)), 3)
    for i, block in enumerate(blocks):
        store.write_chunk(demo_panel[demo_panel["partnerCode"].isin(block).to_numpy()], query={"test": f"demo{i}"},
                          endpoint="test", source=f"demo part {i}")
    template = demo_panel[(demo_panel["partnerCode"] == BELARUS) & (demo_panel["reporterCode"] == 156)].iloc[0]
    store.write_chunk(_extra_records(template), query={"test": "extra"}, endpoint="test", source="extra")
    store.write_chunk(demo_panel.iloc[:0], query={"test": "empty"}, endpoint="test", source="no data")
    return store


@pytest.fixture(scope="module")
def local_screen(demo_store) -> ScreenResult:
    return screen_store(demo_store)


def _reference_series(store: Store, selection: Selection) -> pd.DataFrame:
    """series.py's series of the same selection, from Store.read (in memory)."""
    records = store.read(reporters=selection.reporter, flows=selection.flow, partners=list(selection.partners),
                         freq="M", start=f"{selection.start:%Y-%m}")
    fam = registry.family_of(records["cmdCode"], records["classificationCode"])
    traded = set(fam[(records["partnerCode"] == selection.traded_by).to_numpy()])
    return build_series(records[fam.isin(traded).to_numpy()].reset_index(drop=True))


# ------------------------------------------------------------------ out of core = series.py

@pytest.fixture(scope="module")
def reference_series(demo_store) -> pd.DataFrame:
    return _reference_series(demo_store, Selection.of_study(Study()))


def test_out_of_core_series_equal_series_py(demo_store, reference_series):
    ours = store_series(demo_store, Selection.of_study(Study()))
    ref = reference_series
    assert list(ours.columns) == SERIES_COLUMNS
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), ref.reset_index(drop=True), check_exact=False,
                                  rtol=1e-9)
    assert ours.attrs["jan_feb_merged"] == ref.attrs["jan_feb_merged"]
    assert ours.attrs["synthetic"] and ours["synthetic"].all()
    # the traps were there to be handled: the revision won, the extra code's cells follow series.py's rules
    by = ours.set_index(["partner_code", "family_id", "date"])
    demo = load_demo_value(BELARUS, REVISED_FAMILY, REVISED_MONTH)
    assert by.loc[(BELARUS, REVISED_FAMILY, pd.Timestamp(REVISED_MONTH)), "usd"] == pytest.approx(demo * REVISION)
    extra = by.loc[(BELARUS, f"HS{EXTRA_CODE}")]
    assert extra.loc[pd.Timestamp("2023-03-01"), "usd"] == 1000.0  # the converted copy beside it left out
    assert extra.loc[pd.Timestamp("2023-09-01"), "usd"] == 700.0  # the lone converted copy used
    assert np.isnan(extra.loc[pd.Timestamp("2023-10-01"), "kg"])  # estimated (qty) weight
    assert np.isnan(extra.loc[pd.Timestamp("2023-11-01"), "kg"])  # no weight reported
    assert extra.loc[pd.Timestamp("2023-04-01"), "kg"] == 20.0  # a reported weight
    assert extra.loc[pd.Timestamp("2023-05-01"), "usd"] == 3000.0  # the transport breakdown left out
    assert extra["usd"].max() < 1e5  # no total, aggregate, breakdown or annual record counted


def load_demo_value(partner: int, family: str, month: str) -> float:
    from analysis.demo import load_demo

    rec = load_demo()
    fam = registry.family_of(rec["cmdCode"], rec["classificationCode"])
    keep = ((rec["partnerCode"] == partner).to_numpy() & (rec["reporterCode"] == 156).to_numpy()
            & (fam == family).to_numpy()
            & (rec["period_date"] == pd.Timestamp(month)).to_numpy() & (rec["flowCode"] == "X").to_numpy()
            & rec["isOriginalClassification"].fillna(True).to_numpy(bool))
    return float(rec.loc[keep, "primaryValue"].sum())


def test_code_cells_of_a_sample_of_codes_equal_series_py(demo_store):
    """Summed per code (finer than the series), the engine's cells add up to series.py's series."""
    selection = Selection(156, "X", (BELARUS, POLAND), pd.Timestamp("2019-01-01"), None, None)
    cells = code_cells(demo_store, selection).cells
    assert list(cells.columns) == CELL_COLUMNS
    sample = sorted(cells["family_id"].unique())[::7]
    ours = series_from_cells(cells[cells["family_id"].isin(sample)])
    records = demo_store.read(reporters=156, flows="X", partners=[BELARUS, POLAND], freq="M", start="2019-01")
    fam = registry.family_of(records["cmdCode"], records["classificationCode"])
    ref = build_series(records[fam.isin(sample).to_numpy()].reset_index(drop=True))
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), ref.reset_index(drop=True), check_exact=False,
                                  rtol=1e-9)


# ------------------------------------------------------------------ the screen

@pytest.fixture(scope="module")
def planted_store(tmp_path_factory):
    """A small SYNTHETIC store from scripts/bench_scale.py: planted focal-only rises outside the registry."""
    bench = load_script("bench_scale")
    root = tmp_path_factory.mktemp("planted")
    info = bench.write_store(root, 90_000, codes=40, partners=26, seed=3, quiet=True)
    return Store(root), info


def test_screen_ranks_planted_focal_only_rises_first(planted_store):
    store, info = planted_store
    result = screen_store(store)
    table = result.table
    assert list(table.columns) == SCREEN_COLUMNS
    assert result.synthetic and table["synthetic"].all()
    planted = [f"HS{c}" for c in info["planted"]]
    assert not any(f in set(registry.families()["family_id"]) for f in planted)  # outside the registry
    top = table.head(len(planted))
    assert set(top["family"]) == set(planted)
    assert (top["relative_q_value"] < 0.05).all() and (top["relative_ratio"] > 2).all()
    assert not top["in_registry"].any()
    assert top["description"].str.startswith("SYNTHETIC goods").all()  # Comtrade's cmdDesc outside the registry
    common = table.set_index("family").loc[f"HS{info['common']}"]  # x3 to every partner: not focal-specific
    assert common["relative_q_value"] > 0.05 and 0.7 < common["relative_ratio"] < 1.4
    assert (table["rank"] == np.arange(1, len(table) + 1)).all()
    assert table["relative_q_value"].dropna().is_monotonic_increasing
    assert result.config.codes_screened == len(table)


def test_screen_q_values_are_bh_over_screened_codes_and_notes_say_why(local_screen):
    from analysis.stats import bh_qvalues

    table = local_screen.table
    np.testing.assert_allclose(table["relative_q_value"], bh_qvalues(table["relative_p_value"].to_numpy()))
    untested = table[table["relative_p_value"].isna()]
    assert len(untested) and (untested["note"].str.len() > 0).all()
    finite = table[["relative_ratio", "relative_low", "relative_high"]].to_numpy(float)
    assert not np.isinf(finite).any()
    assert table.loc[table["family"] == f"HS{EXTRA_CODE}", "note"].str.contains("pre-period").all()
    h6_only = table.set_index("family").loc[f"HS{H6_ONLY_CODE}"]
    assert "appears only in H6 records" in h6_only["note"] and not h6_only["in_registry"]
    assert h6_only["description"] == "Comtrade's own words for it"


def test_screen_agrees_with_compare_on_registry_codes(local_screen, reference_series):
    """The same calibrated test as compare: on the demo the screen's focal rows are compare's."""
    from analysis.comparison import compare

    focal = compare(reference_series, Study(), partners=[BELARUS]).focal().set_index("family")
    ours = local_screen.table.set_index("family")
    for col in ("relative_ratio", "relative_low", "relative_high", "relative_p_value"):
        np.testing.assert_allclose(ours[col], focal.loc[ours.index, col], rtol=1e-6)


def test_result_object(local_screen):
    tidy = local_screen.tidy()
    assert len(tidy) == len(local_screen.table) and set(tidy["term"]) == {"relative_ratio"}
    html = local_screen._repr_html_()
    assert "SYNTHETIC" in html and "<table" in html
    assert "ScreenResult SYNTHETIC" in repr(local_screen)
    assert len(local_screen.top(3)) == 3
    assert (local_screen.significant()["relative_q_value"] < 0.05).all()


def test_dask_equals_local(demo_store, local_screen):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        result = screen_store(demo_store, engine="dask", scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(result.table, local_screen.table, check_exact=False, rtol=1e-9)
    assert result.config.engine == "dask"


# ------------------------------------------------------------------ bad input

def test_bad_input_is_an_input_error(demo_store, tmp_path):
    with pytest.raises(InputError, match="engine must be one of"):
        screen_store(demo_store, engine="spark")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="is empty"):
        screen_store(tmp_path / "nothing")
    with pytest.raises(InputError, match="needs engine 'dask'"):
        screen_store(demo_store, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InputError, match="monthly"):
        screen_store(demo_store, freq="A")
    with pytest.raises(InputError, match="level 6"):
        screen_store(demo_store, level=4)
    with pytest.raises(InputError, match="leave out codes"):
        screen_store(demo_store, codes="optics")
    with pytest.raises(InputError, match="memory limit"):
        screen_store(demo_store, memory_limit="lots")
    with pytest.raises(InputError, match="no monthly six-digit records"):
        screen_store(demo_store, focal="Japan")
    empty = Store(tmp_path / "empty")
    empty.write_chunk(pd.DataFrame(), query={"q": 1}, endpoint="test", source="no data")
    with pytest.raises(InputError, match="holds no records"):
        screen_store(empty)


def test_damaged_store_is_refused(planted_store, tmp_path):
    import shutil

    store, _ = planted_store
    copy = Store(tmp_path / "copy")
    shutil.copytree(store.root, copy.root)
    chunk = sorted(copy.chunks_dir.glob("*.parquet"))[0]
    chunk.write_bytes(chunk.read_bytes()[:-10])
    with pytest.raises(TradeflowsError, match="checksum|damaged"):
        screen_store(copy)


def test_chunk_outside_the_store_is_refused(tmp_path, demo_panel):
    import json

    store = Store(tmp_path / "s")
    store.write_chunk(demo_panel.iloc[:50], query={"q": 1}, endpoint="test", source="part")
    doc = json.loads(store.manifest_path.read_text())
    for entry in doc["chunks"].values():
        entry["file"] = "../outside.parquet"
    store.manifest_path.write_text(json.dumps(doc))
    with pytest.raises(StoreError):
        screen_store(store)


# ------------------------------------------------------------------ command line and benchmark

def _run(argv: list[str]) -> tuple[int, str, str]:
    from analysis.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse
            status = int(exc.code or 0)
    return status, out.getvalue(), err.getvalue()


def test_cli_screen(planted_store, tmp_path):
    store, info = planted_store
    status, out, err = _run(["screen", "--store", str(store.root), "--top", "5", "--out", str(tmp_path / "scr")])
    assert status == 0, err
    assert "SYNTHETIC" in out and f"HS{info['planted'][0]}" in out
    table = pd.read_csv(tmp_path / "scr" / "screen.csv")
    assert list(table.columns) == SCREEN_COLUMNS and len(table) > 5
    status, _, err = _run(["screen", "--store", str(tmp_path / "none")])
    assert status == 2 and "empty" in err
    status, _, err = _run(["screen", "--store", str(store.root), "--engine", "spark"])
    assert status == 2 and "invalid choice" in err
    status, _, err = _run(["screen", "--store", str(store.root), "--scheduler", "tcp://127.0.0.1:1"])
    assert status == 2 and "dask" in err


def test_bench_scale_small(capsys, tmp_path):
    bench = load_script("bench_scale")
    assert bench.main(["--rows", "30000", "--codes", "30", "--partners", "26", "--skip-demo",
                       "--store", str(tmp_path / "bench")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.fullmatch(r"rows=(\d+) series=(\d+) seconds=([\d.]+) peak_rss_mb=(\d+)", last)
    assert m and int(m.group(1)) == 30000 and int(m.group(2)) > 0
    assert int(Store(tmp_path / "bench").manifest()["rows"].sum()) == 30000
