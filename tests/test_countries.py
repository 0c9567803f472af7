"""Country resolution to Comtrade's own area codes, aliases, and the default comparison partners."""
from __future__ import annotations

import pandas as pd
import pytest

import analysis.registry as registry
from analysis.countries import (
    BELARUS,
    COMPARISON_PARTNERS,
    DEFAULT_PARTNERS,
    area_name,
    resolve_countries,
    resolve_country,
)
from analysis.errors import InputError


@pytest.mark.parametrize("text, code", [
    # Comtrade codes that are not ISO numeric
    ("France", 251), ("FRA", 251), ("India", 699), ("Norway", 579), ("NOR", 579), ("Switzerland", 757),
    ("CHE", 757), ("USA", 842), ("United States", 842), ("usa", 842),
    # Taiwan is reported as 'Other Asia, nes'
    ("Taiwan", 490), ("TWN", 490), ("Other Asia, nes", 490),
    # aliases from country_converter's table
    ("Turkey", 792), ("Türkiye", 792), ("TURKIYE", 792), ("Russia", 643), ("Moldova", 498),
    ("Republic of Moldova", 498), ("Kyrgyz Republic", 417), ("South Korea", 410), ("Vietnam", 704),
    ("Czech Republic", 203), ("Ivory Coast", 384), ("Côte d'Ivoire", 384), ("Bosnia and Herzegovina", 70),
    # codes and ISO2, any case and spacing
    (842, 842), ("842", 842), (" 112 ", 112), ("by", 112), ("BY", 112), ("Belarus", 112), ("bElArUs", 112),
    ("China, Hong Kong SAR", 344), ("Hong Kong", 344), ("Georgia", 268), ("Congo", 178),
])
def test_resolves_codes_iso_and_names(text, code):
    assert resolve_country(text) == code


def test_every_comtrade_area_resolves_to_itself_by_name_code_and_iso3():
    areas = registry.areas()
    for row in areas.itertuples():
        assert resolve_country(row.name) == row.code, row.name
        assert resolve_country(row.code) == row.code
        iso = row.iso3.strip()
        if len(iso) == 3 and iso.isalpha():
            assert resolve_country(iso) == row.code, iso


def test_default_partners_resolve_and_are_the_documented_sets():
    from analysis.countries import TRANSIT_PARTNERS, comparison_sets

    sets = comparison_sets()
    assert COMPARISON_PARTNERS == sets["baseline"].partners and TRANSIT_PARTNERS == sets["transit"].partners
    assert not set(COMPARISON_PARTNERS) & set(TRANSIT_PARTNERS), "a transit route is never a baseline control"
    assert DEFAULT_PARTNERS == (BELARUS, *COMPARISON_PARTNERS, *TRANSIT_PARTNERS) and BELARUS == 112
    for s in sets.values():
        assert s.rationale and s.sources and len(set(s.partners)) == len(s.partners)
    names = {c: area_name(c) for c in DEFAULT_PARTNERS}
    assert names[792] == "Türkiye" and names[498] == "Rep. of Moldova" and names[417] == "Kyrgyzstan"
    by_name = resolve_countries(["Kazakhstan", "Kyrgyz Republic", "Uzbekistan", "Tajikistan", "Armenia",
                                 "Azerbaijan", "Georgia", "Turkey", "United Arab Emirates", "Hong Kong"])
    assert by_name == list(TRANSIT_PARTNERS)
    by_name = resolve_countries(["Poland", "Lithuania", "Latvia", "Romania", "Hungary", "Slovakia", "Czechia",
                                 "Bulgaria", "Moldova", "Egypt", "Indonesia", "Brazil", "South Africa", "Mexico"])
    assert by_name == list(COMPARISON_PARTNERS)


def test_iso_numeric_code_comtrade_does_not_use_names_the_right_one():
    with pytest.raises(InputError, match="ISO numeric code of France; Comtrade's code is 251"):
        resolve_country(250)
    with pytest.raises(InputError, match="Comtrade's code is 842"):
        resolve_country("840")
    with pytest.raises(InputError, match="Comtrade's code is 757"):
        resolve_country(756)


def test_ambiguous_and_unknown_names_raise_with_candidates():
    with pytest.raises(InputError, match=r"ambiguous: Dem\. People's Rep\. of Korea \(408\), Rep\. of Korea \(410\)"):
        resolve_country("Korea")
    with pytest.raises(InputError, match=r"unknown country 'Belarsu' \(did you mean Belarus \(112\)"):
        resolve_country("Belarsu")
    with pytest.raises(InputError, match="no area code in Comtrade's table"):
        resolve_country("Kosovo")
    with pytest.raises(InputError, match="unknown Comtrade area code"):
        resolve_country(9999)
    for bad in ("", None, True):
        with pytest.raises(InputError):
            resolve_country(bad)


def test_resolve_countries_lists_strings_and_duplicates():
    assert resolve_countries("Belarus, Poland, KAZ") == [112, 616, 398]
    assert resolve_countries("China, Hong Kong SAR") == [344]
    assert resolve_countries([112, "BLR", "Belarus", 398]) == [112, 398]
    with pytest.raises(InputError, match="Narnia"):
        resolve_countries("Belarus, Narnia")
    with pytest.raises(InputError, match="no countries"):
        resolve_countries([])


def test_country_converter_converter_fails_under_pandas_3_so_only_its_table_is_used():
    """The reason for the design: the library's converter breaks under pandas 3; its table does not."""
    coco = pytest.importorskip("country_converter")
    if int(pd.__version__.split(".")[0]) < 3:
        pytest.skip("the failure is specific to pandas 3")
    with pytest.raises(TypeError, match="first argument must be string"):
        coco.CountryConverter()
    with pytest.raises(TypeError):
        coco.convert("Turkey", to="ISO3")
    from analysis.countries import _coco_table

    table = _coco_table()
    assert table.loc[table["ISO3"] == "NAM", "ISO2"].item() == "NA"  # Namibia's ISO2 is not a missing value
    assert len(table) > 240
