from __future__ import annotations

import pandas as pd
import pytest
from conftest import load_script

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
        ({"880330"}, {"880730"}),
        ({"360300"}, {"360310", "360320", "360330", "360340", "360350", "360360"}),
        ({"847981", "847989"}, {"847981", "847983", "847989"}),
        ({"851410"}, {"851411", "851419"}),
        ({"851430"}, {"851431", "851432", "851439"}),
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


# ------------------------------------------------ HS 2017 / HS 2022 concordance --
#
# Excerpt of the UNSD HS 2022-HS 2017 correlation table (sheet "HS2022-HS2017
# Correlations"), as mirrored in harvard-growth-lab/comtrade-conversion-weights,
# generator/data/concordance_groups/from_H5_to_H6.csv: every link touching a
# registry family, except links into the sweep targets 8524, 8529.90, 8541.51,
# 8541.59 and 8549 (each drawing from most of chapters 84-95).
# Format: "HS2022 <- HS2017 HS2017 ...".
UNSD_CHANGES = """
360310 <- 360300
360320 <- 360300
360330 <- 360300
360340 <- 360300
360350 <- 360300
360360 <- 360300
846211 <- 846210
846219 <- 846210
846222 <- 846221 846229
846223 <- 846221
846224 <- 846221
846225 <- 846221
846226 <- 846221
846229 <- 846221 846229
846232 <- 846231 846239
846233 <- 846231
846239 <- 846239
846242 <- 846241 846299
846249 <- 846249 846299
846251 <- 846210 846221 846231 846241
846259 <- 846210 846229 846239 846249
846261 <- 846210 846221 846229 846231 846239 846241 846249 846291
846262 <- 846210 846221 846229 846231 846239 846241 846249 846299
846263 <- 846210 846221 846229 846231 846239 846241 846249 846299
846269 <- 846210 846221 846229 846231 846239 846241 846249 846299
846290 <- 846210 846221 846229 846231 846239 846241 846249 846291 846299
847981 <- 847981
847983 <- 847981 847989
847989 <- 847989
847990 <- 847990
848530 <- 847529 847989
848580 <- 844180 846599 847989
848590 <- 846694 847590 847790 847990
847529 <- 847529
844180 <- 844180
846599 <- 846599
847590 <- 847590
847790 <- 847790
851411 <- 851410
851419 <- 851410
851431 <- 851430
851432 <- 851430
851439 <- 851430
852581 <- 852580
852582 <- 852580
852583 <- 852580
852589 <- 852580
880211 <- 880211
880212 <- 880212
880220 <- 880220
880230 <- 880230
880240 <- 880240
880610 <- 880211 880212 880220 880230 880240
880621 <- 852580 880211 880220
880622 <- 852580 880211 880220
880623 <- 852580 880211 880220
880624 <- 852580 880211 880220
880629 <- 852580 880211 880212 880220 880230 880240
880691 <- 852580 880211 880220
880692 <- 852580 880211 880220
880693 <- 852580 880211 880220
880694 <- 852580 880211 880220
880699 <- 852580 880211 880212 880220 880230 880240
880730 <- 880330
880790 <- 880390
854141 <- 854140
854142 <- 854140
854143 <- 854140
854149 <- 854140
854800 <- 854890
"""
# A few real rows of the sweep targets (their full source lists run to hundreds of codes).
UNSD_SWEEPS = """
852990 <- 841311 842111 847330 851712 852990 901380 903180
854151 <- 842211 843110 850440 851762 854320 903180 930690
854159 <- 842211 843110 850440 851762 854320 903180 930690
854931 <- 846210 847989 850440 854140 854150 854231 900110
"""
# Registry codes the table links only to themselves (apart from the sweeps).
UNSD_SELF = """
900190 900211 900219 900290 900510 900580 900590 901310 901380 901390 901510 903149 903180
901320 854110 902750 854231 854232 854233 854239 854290 700220 700231 700232 700600 701400
845611 845630 845710 845811 845891 845961 846024 846140 846310 846693 846694 853710
847950 851420 851440 851490 930110 930120 930190 930591 930630 930690 360100 360200 360490
850440 853221 853224 853400 853669 853690 854320 854121 854129 854130 854160
851762 851769 852691 852910 901420 901480 847150 847180 848210 848220 848230 848250
848610 848620 848640 903020 903032 903039 903082
940360 950300 611030 640299 392410 732393 691110 870321 870322 870323 870324
"""


def _concordance():
    return load_script("check_concordance")


def _unsd_excerpt() -> pd.DataFrame:
    lines = [ln for ln in (UNSD_CHANGES + UNSD_SWEEPS).splitlines() if ln.strip()]
    rows = [(h6, h5) for line in lines for h6, sources in [line.split(" <- ")] for h5 in sources.split()]
    rows += [(c, c) for c in UNSD_SELF.split()]
    return pd.DataFrame(rows, columns=["h6", "h5"]).drop_duplicates()


def test_every_family_is_a_component_of_the_unsd_links():
    cc = _concordance()
    fams = cc.registry_families()
    result = cc.check_families(_unsd_excerpt(), fams).set_index("family_id")
    bad = result[result["status"] != "ok"]
    assert bad.empty, bad.to_string()
    assert set(result.index) == set(registry.families()["family_id"])


def test_concordance_check_fails_without_the_documented_exclusions():
    cc = _concordance()
    fams = cc.registry_families()
    fams.loc[fams["family_id"] == "F8479OTHER", "excluded_links"] = ""
    result = cc.check_families(_unsd_excerpt(), fams).set_index("family_id")
    row = result.loc["F8479OTHER"]
    assert row["status"] == "differs"
    assert {"H6:848530", "H6:848580", "H5:847529", "H5:846599"} <= set(row["table_only"].split())
    fams = cc.registry_families()
    fams.loc[fams["family_id"] == "F8541OTHER", "extra_links"] = ""
    row = cc.check_families(_unsd_excerpt(), fams).set_index("family_id").loc["F8541OTHER"]
    assert row["status"] == "differs" and "unlinked" in row["note"]


def test_concordance_check_drops_sweeps_and_reports_missing_and_unknown_codes():
    cc = _concordance()
    sweep = [("852411", h5) for h5 in ("841311", "841410", "847130", "851712", "901380", "903180")]
    links = pd.DataFrame(sweep + [("901380", "901380"), ("854141", "854140"), ("854149", "854140"),
                                  ("846211", "846210"), ("846219", "846210")], columns=["h6", "h5"])
    assert list(cc.sweep_targets(links)["h6"]) == ["852411"]
    fams = pd.DataFrame(
        [("HS901380", "901380", "901380", "", ""),
         ("F8541", "854140", "854141", "", ""),          # misses 854149
         ("F8462", "846210", "846211 846219 846299", "", "")],  # 846299 is not in the table
        columns=["family_id", "h5_codes", "h6_codes", "excluded_links", "extra_links"])
    out = cc.check_families(links, fams).set_index("family_id")
    assert out.loc["HS901380", "status"] == "ok"  # the sweep into 852411 does not pull 901380 away
    assert out.loc["F8541", "status"] == "differs" and out.loc["F8541", "table_only"] == "H6:854149"
    assert out.loc["F8462", "status"] == "unknown code" and out.loc["F8462", "unknown"] == "H6:846299"
    # with a lower threshold the sweep target becomes an ordinary link and merges HS901380 into it
    merged = cc.check_families(links, fams, max_headings=6).set_index("family_id")
    assert "H6:852411" in merged.loc["HS901380", "table_only"]


def test_concordance_script_reads_csv_and_reports(tmp_path, capsys):
    cc = _concordance()
    links = _unsd_excerpt()
    csv = tmp_path / "from_H5_to_H6.csv"
    # the mirror drops leading zeros and names the columns code.target / code.source
    pd.DataFrame({"code.target": links["h6"].astype(int), "code.source": links["h5"].astype(int),
                  "Relationship": "1:1"}).to_csv(csv, index=False)
    assert cc.main([str(csv)]) == 0
    out = capsys.readouterr().out
    assert "0 not ok" in out and "4 sweep targets" in out and "852990(7)" in out
    assert cc.read_links(csv)["h5"].str.fullmatch(r"\d{6}").all()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": ["1"], "b": ["2"]}).to_csv(bad, index=False)
    assert cc.main([str(bad)]) == 2
    assert "cannot tell which column" in capsys.readouterr().err


def test_family_links_are_well_formed_and_documented():
    cc = _concordance()
    for f in cc.registry_families().itertuples():
        h5, h6 = set(f.h5_codes.split()), set(f.h6_codes.split())
        for a, b in cc._parse_links(f.excluded_links, f.family_id, "excluded_links"):
            assert (a in h5) != (b in h6), (f.family_id, a, b)  # exactly one end inside the family
            assert "Left out" in f.basis, f.family_id
        for a, b in cc._parse_links(f.extra_links, f.family_id, "extra_links"):
            assert a in h5 and b in h6, (f.family_id, a, b)


def test_family_codes_exist_in_their_editions():
    desc = registry.load_registry().descriptions.set_index("code")["editions"]
    for f in registry.families().itertuples():
        for c in f.h5_codes.split():
            assert "H5" in desc[c].split(), (f.family_id, c)
        for c in f.h6_codes.split():
            assert "H6" in desc[c].split(), (f.family_id, c)
    chpl = registry.chpl()
    assert all("H6" in desc[c].split() for c in chpl["code"])


def test_laser_diodes_are_leds_in_hs2022():
    desc = registry.load_registry().descriptions.set_index("code")["description"]
    assert "laser diodes" in desc["854141"] and "laser" not in desc["854149"]
    lasers = set(registry.codes().query("group == 'lasers'")["code"])
    assert {"854141", "901320"} <= lasers and not lasers & {"854142", "854143"}


def test_changed_content_comes_from_families_csv_and_is_checked():
    raw = pd.read_csv(registry.registry_dir() / "families.csv", dtype=str, keep_default_na=False)
    flagged = set(raw.loc[raw["changed_content"] == "true", "family_id"])
    fams = registry.families()
    assert set(fams.loc[fams["changed_content"], "family_id"]) == flagged >= {"HS901380", "HS852990", "F8541OTHER"}
    assert fams.loc[~fams["changed_content"], "changed_note"].eq("").all()
    with pytest.raises(RegistryError, match="true or false"):
        registry._changed_content(raw.assign(changed_content="maybe"))
    with pytest.raises(RegistryError, match="no changed_note"):
        registry._changed_content(raw.assign(changed_note=""))
    old_file = registry._changed_content(raw.drop(columns=["changed_content", "changed_note"]))
    assert not old_file["changed_content"].any()
