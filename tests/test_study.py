"""The Study: one resolver of user input for every stage, one clear InputError for every bad value."""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import analysis
from analysis.countries import COMPARISON_PARTNERS, TRANSIT_PARTNERS
from analysis.errors import InputError
from analysis.study import Study


def test_defaults_are_the_china_belarus_study():
    s = Study()
    assert (s.reporter, s.focal, s.controls, s.flow, s.freq) == (156, 112, COMPARISON_PARTNERS, "X", "M")
    assert s.pre.text == "2019-01:2021-12" and s.post.text == "2022-03:" and s.post.is_open
    assert s.partners == (112, *COMPARISON_PARTNERS, *TRANSIT_PARTNERS)
    assert s.comparison == "baseline" and not set(s.controls) & set(s.transit)


def test_countries_by_name_iso3_or_code_are_one_study():
    assert Study(focal="Belarus") == Study(focal="BLR") == Study(focal=112) == Study(focal="112")
    s = Study.resolve(reporter="China", focal="Poland", controls="LTU, Latvia, 398")
    assert (s.reporter, s.focal, s.controls) == (156, 616, (440, 428, 398))
    assert Study(controls="none").controls == () and Study(controls=[]).controls == ()


def test_named_comparison_sets_and_the_users_own_list():
    s = Study(comparison="transit")
    assert s.controls == TRANSIT_PARTNERS and s.transit == ()
    own = Study(controls="POL,LTU")
    assert own.comparison == "custom" and own.controls == (616, 440) and own.transit == TRANSIT_PARTNERS
    kz = Study(focal="Kazakhstan")
    assert 398 not in kz.transit and kz.controls == COMPARISON_PARTNERS
    with pytest.raises(InputError, match="comparison set 'eu' is unknown"):
        Study(comparison="eu")
    with pytest.raises(InputError, match="also comparison partners"):
        Study(controls="POL,KAZ", transit="KAZ")


def test_resolve_overrides_only_what_is_given():
    base = Study(focal="Poland", pre="2018:2020")
    s = Study.resolve(base, focal=None, post="2022-03:2023-12")
    assert s.focal == 616 and s.pre.text == "2018-01:2020-12" and s.post.text == "2022-03:2023-12"
    assert Study.resolve(base) is base


@pytest.mark.parametrize("args, message", [
    ({"focal": "Narnia"}, "unknown country 'Narnia'"),
    ({"focal": "Korea"}, "ambiguous"),
    ({"focal": "China"}, "is the reporter itself"),
    ({"focal": 0}, "World"),
    ({"controls": "Belarus,Poland"}, "controls include the focal partner"),
    ({"controls": "Polnad"}, "did you mean"),
    ({"pre": "2021:2019"}, "reversed"),
    ({"pre": "2019:"}, "needs a start and an end"),
    ({"pre": "2019-01:2022-06"}, "must end before"),
    ({"post": "2022-02:", "jan_feb": "merge"}, "leaving out its January"),
    ({"pre": "2019-01:2021-01", "jan_feb": "merge"}, "leaving out its February"),
    ({"pre": "2019-13:2021-12"}, "month must be 01-12"),
    ({"flow": "Q"}, "flow must be one of"),
    ({"freq": "W"}, "freq must be one of"),
    ({"jan_feb": "split"}, "jan_feb must be one of"),
    ({"codes": "laserz"}, "unknown HS code"),
    ({"partner": 112}, "unknown study argument"),
])
def test_every_bad_value_is_one_input_error(args, message):
    with pytest.raises(InputError, match=message):
        Study.resolve(**args)


def test_a_window_may_not_separate_january_from_february_where_the_data_publish_them_together(demo_series):
    import analysis

    # the demo publishes them together from 2020 (detected from the data, jan_feb="auto")
    with pytest.raises(InputError, match="publish January and February 2023 together"):
        analysis.compare(demo_series, post="2023-02:2025-06", partners=["Belarus"])
    # 2019 is published month by month: a pre window ending in January 2019 is fine
    table = analysis.compare(demo_series, pre="2017-01:2019-01", post="2022-03:2025-06", partners=["Belarus"])
    assert len(table.table)


def test_jan_feb_boundary_allowed_when_months_are_kept():
    s = Study(post="2022-02:", jan_feb="keep")
    assert s.post.start.month == 2


def test_an_open_post_window_closes_on_the_data():
    import pandas as pd

    s = Study().closed(pd.Timestamp("2025-06-01"))
    assert s.post.text == "2022-03:2025-06" and s.comparison == "baseline" and s.default_controls
    with pytest.raises(InputError, match="leaving out its February"):
        Study(jan_feb="merge").closed(pd.Timestamp("2025-01-01"))
    with pytest.raises(InputError, match="after the last month"):
        Study().closed(pd.Timestamp("2021-06-01"))


def test_every_public_function_reports_an_unknown_country(demo_series):
    calls = [
        lambda: analysis.compare(demo_series, focal="Narnia"),
        lambda: analysis.did(demo_series, focal="Narnia"),
        lambda: analysis.find_anomalies(demo_series, focal="Narnia"),
        lambda: analysis.analyze(demo_series, focal="Narnia"),
        lambda: analysis.counterfactual_band(demo_series, focal="Narnia", family="HS901510"),
        lambda: analysis.plan_calls(focal="Narnia", end="2022-12"),
    ]
    for call in calls:
        with pytest.raises(InputError, match="Narnia"):
            call()


def test_every_submodule_is_its_module_after_import():
    names = [m.name for m in pkgutil.walk_packages(analysis.__path__, "analysis.")]
    assert "analysis.comparison" in names and "analysis.diffindiff" in names and "analysis.fetching" in names
    for full in names:
        module = importlib.import_module(full)
        parent, _, leaf = full.rpartition(".")
        assert getattr(importlib.import_module(parent), leaf) is module, full
        assert pkgutil.resolve_name(full) is module
    # the public functions keep their names and are not shadowed by a module
    assert callable(analysis.compare) and callable(analysis.did) and callable(analysis.fetch)
    assert importlib.reload(importlib.import_module("analysis.comparison")).compare is not None


def _imported_modules(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.lstrip("."))
            found.update(f"{node.module.lstrip('.')}.{a.name}".strip(".") for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_report_and_cli_estimate_nothing_and_the_report_never_reads_the_store():
    from pathlib import Path

    root = Path(analysis.__file__).parent
    estimation = ("comparison", "diffindiff", "anomalies", "stats", "series", "pipeline")
    for path in [*sorted((root / "report").glob("*.py")), root / "cli.py"]:
        mods = _imported_modules(path)
        bad = [m for m in mods if m.split(".")[0] in estimation]
        if path.parent.name == "report":
            bad += [m for m in mods if m.split(".")[0] == "store"]
        assert not bad, (path.name, bad)
