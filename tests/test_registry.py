from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from analysis import registry
from analysis.registry import RegistryError


def test_every_registry_code_is_six_digits_and_in_one_family():
    codes = registry.codes()
    assert codes["code"].str.fullmatch(r"\d{6}").all()
    assert not codes["code"].duplicated().any()
    assert codes["family_id"].notna().all()
    cf = registry.load_registry().code_family
    assert not cf.duplicated(["edition", "code"]).any()
    h6 = cf[cf["edition"] == "H6"]
    for code in codes["code"]:
        assert (h6["code"] == code).sum() == 1, code


def test_chpl_has_50_codes_in_6_tiers():
    chpl = registry.chpl()
    assert len(chpl) == 50
    assert sorted(chpl["chpl_tier"].unique()) == ["1", "2", "3.A", "3.B", "4.A", "4.B"]
    assert set(chpl.loc[chpl["chpl_tier"] == "1", "code"]) == {"854231", "854232", "854233", "854239"}
    assert (chpl["chpl_tier"] == "3.A").sum() == 16


@pytest.mark.parametrize(
    "h5, h6",
    [
        ({"854140"}, {"854141", "854142", "854143", "854149"}),
        ({"854150"}, {"854151", "854159"}),
        ({"854890"}, {"854800"}),
        ({"880330", "880390"}, {"880730", "880790"}),
        ({"360300"}, {"360310", "360320", "360330", "360340", "360350", "360360"}),
    ],
)
def test_known_hs2022_splits_form_one_family(h5, h6):
    cf = registry.load_registry().code_family
    fams = set(cf.loc[cf["code"].isin(h5 | h6), "family_id"])
    assert len(fams) == 1
    fam = registry.families().set_index("family_id").loc[fams.pop()]
    assert set(fam["h5_codes"].split()) == h5
    assert set(fam["h6_codes"].split()) == h6


def test_camera_split_and_new_uav_heading_share_a_family():
    cf = registry.load_registry().code_family
    fam = set(cf.loc[cf["code"].isin(["852580", "852583", "880622"]), "family_id"])
    assert len(fam) == 1


def test_heading_8462_is_one_family_on_both_sides():
    fam = registry.families().set_index("family_id").loc["F8462"]
    assert all(c.startswith("8462") for c in fam["h5_codes"].split() + fam["h6_codes"].split())
    assert len(fam["h5_codes"].split()) == 9 and len(fam["h6_codes"].split()) == 20


def test_family_group_kinds_and_controls():
    fams = registry.families()
    assert set(fams["kind"]) == {"dual_use", "control", "common_shock"}
    cars = fams[fams["group"] == "control_cars"]
    assert set(cars["h6_codes"]) == {"870321", "870322", "870323", "870324"}
    assert not fams["family_id"].duplicated().any()


def test_family_of_maps_both_editions_and_unknown_codes():
    out = registry.family_of(pd.Series(["854140", "854149", "999999", "854231"]), pd.Series(["H5", "H6", "H6", "H4"]))
    assert list(out) == ["F8541PHOTO", "F8541PHOTO", "HS999999", "HS854231"]
    table = registry.family_table(["HS999999", "F8462"])
    assert table.set_index("family_id").loc["HS999999", "group"] == registry.UNGROUPED


def test_resolve_codes_accepts_groups_families_codes_and_rejects_typos():
    assert set(registry.resolve_codes("microelectronics")["code"]) >= {"854231", "854239"}
    assert set(registry.resolve_codes(["854149"])["code"]) >= {"854140", "854141"}
    with pytest.raises(RegistryError, match="did you mean"):
        registry.resolve_codes("microelectronic")
    with pytest.raises(RegistryError, match="unknown"):
        registry.resolve_codes("12345x")


def test_search_codes_by_word_and_prefix():
    assert set(registry.search_codes("8542")["code"]) == {"854231", "854232", "854233", "854239", "854290"}
    assert "901310" in set(registry.search_codes("telescopic")["code"])


def test_validation_rejects_broken_registry(tmp_path, monkeypatch):
    src = registry.registry_dir()
    for f in src.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    toml = (tmp_path / "hs_registry.toml").read_text()
    (tmp_path / "hs_registry.toml").write_text(toml.replace('"854231", "854232"', '"85423", "854232"', 1))
    monkeypatch.setattr(registry, "registry_dir", lambda: tmp_path)
    registry.load_registry.cache_clear()
    try:
        with pytest.raises(RegistryError, match="six-digit"):
            registry.load_registry()
        (tmp_path / "hs_registry.toml").write_text(toml.replace('"854290"]', '"854290", "854231"]', 1))
        registry.load_registry.cache_clear()
        with pytest.raises(RegistryError, match="duplicate|more than one group"):
            registry.load_registry()
    finally:
        registry.load_registry.cache_clear()


def test_every_group_has_a_rationale_and_areas_table_is_comtrades():
    g = registry.groups()
    assert (g["rationale"].str.len() > 20).all()
    areas = registry.areas().set_index("code")
    assert areas.loc[251, "iso3"] == "FRA" and areas.loc[842, "iso3"] == "USA" and areas.loc[112, "iso3"] == "BLR"
