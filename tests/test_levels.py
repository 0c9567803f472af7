"""Any study: HS levels 4 and 2, codes outside the registry, re-exports, in the true 47-field record schema."""
from __future__ import annotations

import pytest
from test_traps_series import record, records

from analysis import Study, registry
from analysis.errors import InputError
from analysis.series import AGGREGATE, FINER_USED, REPORTED_USED, build_series, set_aside


def _usd(series, family, month, partner=112):
    sel = series[(series["family_id"] == family) & (series["partner_code"] == partner)]
    return float(sel.loc[sel["date"] == month, "usd"].sum())


def test_level_4_sums_six_digit_records_when_no_heading_is_reported():
    rec = records([record("202301", "854231", 10.0), record("202301", "854232", 5.0),
                   record("202301", "901310", 7.0), record("202301", "TOTAL", 99.0)])
    s = build_series(rec, level=4)
    assert set(s["family_id"]) == {"HS8542", "HS9013"}
    assert _usd(s, "HS8542", "2023-01-01") == 15.0
    names = registry.family_table(["HS8542", "HS9013"], summed=frozenset({"HS8542"})).set_index("family_id")["name"]
    assert names["HS8542"] == "Electronic integrated circuits: sum of the six-digit codes in the data"
    assert names["HS9013"] == registry.nomenclature()["9013"]
    table = set_aside(rec, level=4)
    assert set(table["reason"]) == {AGGREGATE, FINER_USED}


def test_level_4_uses_the_reported_heading_and_never_counts_twice():
    """Where the reporter publishes the heading itself it is complete: its six-digit lines are left out."""
    rec = records([record("202301", "854231", 10.0), record("202301", "8542", 40.0),
                   record("202302", "854231", 12.0), record("202302", "8542", 44.0)])
    s = build_series(rec, level=4, jan_feb="keep")
    assert _usd(s, "HS8542", "2023-01-01") == 40.0 and _usd(s, "HS8542", "2023-02-01") == 44.0
    assert REPORTED_USED in set(set_aside(rec, level=4)["reason"])


def test_level_2_and_the_error_that_names_the_levels_present():
    rec = records([record("202301", "85", 40.0), record("202301", "90", 4.0)])
    s = build_series(rec, level=2)
    assert set(s["family_id"]) == {"HS85", "HS90"}
    with pytest.raises(InputError, match="2-digit codes: choose level 2"):
        build_series(rec)


def test_study_accepts_codes_outside_the_registry_and_selects_by_prefix():
    rec = records([record("202301", "250410", 3.0), record("202301", "854231", 10.0),
                   record("202301", "854232", 5.0)])
    six = build_series(rec)
    assert set(Study(codes="250410").select(six)["family_id"]) == {"HS250410"}
    assert set(Study(codes="8542").select(six)["family_id"]) == {"HS854231", "HS854232"}
    four = build_series(rec, level=4)
    assert set(Study(codes="854231", level=4).select(four)["family_id"]) == {"HS8542"}
    with pytest.raises(InputError, match="unknown HS code"):
        Study(codes="optcs")
    with pytest.raises(InputError, match="level"):
        Study(level=3)  # type: ignore[arg-type]


def test_re_exports_are_a_flow_of_their_own():
    rec = records([record("202301", "854231", 10.0, flowCode="RX", flowDesc="Re-export"),
                   record("202301", "854231", 4.0)])
    s = build_series(rec)
    assert set(s["flow_code"]) == {"X", "RX"}
    assert float(Study(flow="RX").select(s)["usd"].sum()) == 10.0
    assert "re-exports" in Study(flow="RX").describe()


def test_codes_outside_the_registry_are_named_from_the_hs_nomenclature():
    """data/registry/hs_nomenclature.csv (scripts/build_hs_nomenclature.py) names any HS 2022 code."""
    nom = registry.nomenclature()
    assert len(nom) > 6000 and nom["810590"].startswith("Cobalt")
    h6 = registry.codes()
    h6 = h6[h6["code"].isin(nom.index)]
    assert len(h6) > 0.9 * len(registry.codes())  # the registry's codes are HS codes of the same nomenclature
    names = registry.family_table(["HS250410", "HS999998"]).set_index("family_id")["name"]
    assert names["HS250410"].startswith("Graphite; natural") and names["HS999998"] == "HS 999998 (outside the registry)"


def test_a_fetch_can_ask_for_any_hs_code():
    from analysis.comtrade.params import check_codes

    codes = check_codes(["250410", "8542", "optics"])
    assert {"250410", "8542", "901310"} <= set(codes["H6"]) and {"250410", "8542"} <= set(codes["H5"])
    with pytest.raises(InputError, match="unknown HS code"):
        check_codes(["optcs"])


def test_the_validator_knows_every_comtrade_area_and_which_report():
    """Comtrade's reference areas (scripts/build_reference_areas.py): the EU and Other Asia, nes (Taiwan) report;
    Special Categories and World never do; historical and group partners are known areas."""
    from analysis.validation import _area_table

    ref = registry.reference_areas()
    assert {97, 490, 112, 156} <= set(ref.loc[ref["reporter"], "code"])
    iso, partner_only = _area_table()
    assert {0, 839, 838, 837} <= partner_only and not {97, 490} & partner_only
    assert set(registry.areas()["code"].astype(int)) <= set(iso)
