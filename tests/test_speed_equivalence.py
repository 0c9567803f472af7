"""The fast paths of build_series and the demo give what the plain ones gave, bit for bit.

Each test sets a vectorised step beside the straightforward version it
replaced (kept here as the oracle) or checks that a shortcut drops nothing
the result depends on.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import registry, series
from analysis.demo import _strings
from analysis.errors import InputError
from analysis.series import SERIES_KEY, build_series


def _complete_by_merge(grouped: pd.DataFrame, freq: str, start: str | None, end: str | None) -> pd.DataFrame:
    """The former ``series._complete``: each reporter and flow's keys x periods, merged with its cells."""
    step = "MS" if freq == "M" else "YS"
    flat = grouped.reset_index()
    parts = []
    for (_, _), block in flat.groupby(["reporter_code", "flow_code"], sort=False):
        lo = pd.Timestamp(start) if start is not None else block["date"].min()
        hi = pd.Timestamp(end) if end is not None else block["date"].max()
        if lo > hi:
            raise InputError(f"start {lo:%Y-%m} is after end {hi:%Y-%m}")
        grid = pd.date_range(lo, hi, freq=step).to_numpy()
        keys = block[SERIES_KEY].drop_duplicates()
        full = keys.loc[keys.index.repeat(len(grid))].reset_index(drop=True)
        full["date"] = np.tile(grid, len(keys))
        parts.append(full.merge(block, on=[*SERIES_KEY, "date"], how="left"))
    out = pd.concat(parts, ignore_index=True)
    out["usd"] = out["usd"].fillna(0.0)
    out["n_records"] = out["n_records"].fillna(0).astype("int64")
    out.loc[out["n_records"] == 0, "kg"] = 0.0
    return out.sort_values([*SERIES_KEY, "date"], ignore_index=True)


@pytest.fixture(scope="module")
def demo_cells(demo_panel):
    """Monthly and annual cells of the demo panel (``series._cells``), as build_series makes them."""
    used, family, _ = series._select(demo_panel, "M")
    return {freq: series._cells(series._flat(used, family, freq)) for freq in ("M", "A")}


@pytest.mark.parametrize(("freq", "start", "end"), [
    ("M", None, None), ("M", "2016-06", "2024-03"), ("M", None, "2020-05"), ("M", "2019-02", None),
    ("A", None, None), ("A", "2016-06", "2023-03"),
])
def test_complete_places_cells_as_the_merge_did(demo_cells, freq, start, end):
    grouped = demo_cells[freq]
    pd.testing.assert_frame_equal(series._complete(grouped, freq, start, end),
                                  _complete_by_merge(grouped, freq, start, end), check_exact=True)


def test_complete_refuses_a_start_after_the_end_as_before(demo_cells):
    with pytest.raises(InputError, match="start 2030-01 is after end"):
        series._complete(demo_cells["M"], "M", "2030-01", None)


def test_dropping_the_fields_build_series_does_not_read_changes_nothing(demo_panel, monkeypatch):
    mixed = demo_panel.iloc[::5].copy()
    mixed.loc[mixed.index[::7], "cmdCode"] = mixed.loc[mixed.index[::7], "cmdCode"].str[:4]
    mixed.loc[mixed.index[1::11], "partner2Code"] = 5
    mixed.loc[mixed.index[2::13], "isNetWgtEstimated"] = pd.NA
    narrow = {key: build_series(mixed, **kw) for key, kw in (("6", {}), ("4", {"level": 4}), ("A", {"freq": "A"}))}
    monkeypatch.setattr(series, "_FIELDS_READ", list(mixed.columns))
    for key, kw in (("6", {}), ("4", {"level": 4}), ("A", {"freq": "A"})):
        full = build_series(mixed, **kw)
        pd.testing.assert_frame_equal(narrow[key], full, check_exact=True)
        assert narrow[key].attrs == full.attrs


def test_family_ids_are_the_registry_lookup(demo_panel):
    records = demo_panel.iloc[::3].copy()
    records.loc[records.index[::17], "classificationCode"] = "H4"  # another edition: looked up as HS 2022
    expected = registry.family_of(records["cmdCode"], records["classificationCode"]).astype(str)
    pd.testing.assert_series_equal(series._family_ids(records), expected, check_exact=True)


def test_demo_strings_are_the_take_of_their_codes():
    uniques = np.array(["C00", np.nan, "Machinery and mechanical appliances", "Türkiye"], dtype=object)
    codes = np.array([2, 0, 1, 3, 3, 2, 0], dtype=np.intp)
    expected = pd.Series(pd.array(uniques, dtype="str").take(codes))
    pd.testing.assert_series_equal(_strings(uniques, codes), expected, check_exact=True)
