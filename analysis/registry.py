"""The HS code registry: groups, CHPL tiers, HS 2017/2022 code families, areas.

Reference data live as files (``data/registry/`` in the source tree, shipped
inside the wheel as ``analysis/_registry/``) and are validated on load:
six-digit codes, known HS editions, no duplicates, every registry code in
exactly one family. Everything is returned as tidy DataFrames.

A *family* is a connected group of HS 2017 (H5) and HS 2022 (H6) codes that
hold the same goods, built from the UN Statistics Division's HS 2022-HS 2017
correlation tables, so a family's series is comparable across the 2021/2022
break without splitting values by guessed shares. Codes unchanged between the
editions form one-code families with id ``HS<code>``. A family whose goods
changed at the break in a way no family repairs (9013.80, 8529.90, 8541.5x)
is marked ``changed_content`` in families.csv, with the reason in ``changed_note``.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import InputError

EDITIONS = ("H5", "H6")
"""HS editions the registry knows: HS 2017 (H5) and HS 2022 (H6)."""

UNGROUPED = "ungrouped"
_CODE = re.compile(r"^\d{6}$")


class RegistryError(InputError):
    """The registry files are inconsistent, or a code/group/family is unknown."""


def registry_dir() -> Path:
    """Folder of the registry files: inside the installed package, else the source tree."""
    packaged = resources.files("analysis") / "_registry"
    if packaged.is_dir():
        return Path(str(packaged))
    source = Path(__file__).resolve().parent.parent / "data" / "registry"
    if source.is_dir():
        return source
    raise RegistryError("registry files not found: the package is installed without its data")


@dataclass(frozen=True)
class Registry:
    """Validated registry tables (see the module docstring)."""

    meta: dict
    groups: pd.DataFrame  # group, name, kind, rationale
    codes: pd.DataFrame  # code, group, kind, chpl_tier, family_id, description
    families: pd.DataFrame  # family_id, name, group, kind, h5_codes, h6_codes, basis, changed_content, changed_note
    code_family: pd.DataFrame  # edition, code, family_id (both editions)
    descriptions: pd.DataFrame  # code, editions, description
    areas: pd.DataFrame  # code, iso3, name

    @cached_property
    def vocabulary(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """The group ids, family ids and codes (both editions), built once per loaded registry."""
        return (frozenset(self.groups["group"]), frozenset(self.families["family_id"]),
                frozenset(self.code_family["code"]))

    @cached_property
    def group_names(self) -> dict[str, str]:
        """Group names by group id, built once per loaded registry (the report names groups hundreds of times)."""
        return dict(zip(self.groups["group"].astype(str), self.groups["name"].astype(str), strict=True))


def _check_code(code: str, where: str) -> str:
    if not isinstance(code, str) or not _CODE.match(code):
        raise RegistryError(f"{where}: {code!r} is not a six-digit HS code")
    return code


def _read_groups(doc: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    groups, rows = [], []
    for g in doc.get("group", []):
        gid = g["id"]
        if g["kind"] not in ("dual_use", "control", "common_shock"):
            raise RegistryError(f"group {gid}: unknown kind {g['kind']!r}")
        codes = [_check_code(c, f"group {gid}") for c in g["codes"]]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise RegistryError(f"group {gid}: duplicate codes {dupes}")
        groups.append({"group": gid, "name": g["name"], "kind": g["kind"], "rationale": g["rationale"]})
        rows += [{"code": c, "group": gid, "kind": g["kind"]} for c in codes]
    groups_df, codes_df = pd.DataFrame(groups), pd.DataFrame(rows)
    if groups_df["group"].duplicated().any():
        raise RegistryError(f"duplicate group ids: {sorted(groups_df.loc[groups_df['group'].duplicated(), 'group'])}")
    twice = codes_df.loc[codes_df["code"].duplicated(keep=False)]
    if len(twice):
        raise RegistryError(f"codes in more than one group: {sorted(set(twice['code']))}")
    return groups_df, codes_df


def _read_chpl(doc: dict) -> dict[str, str]:
    chpl = doc.get("chpl", {})
    tier_of: dict[str, str] = {}
    for key, codes in chpl.items():
        if not key.startswith("tier_"):
            continue
        for c in codes:
            _check_code(c, f"CHPL {key}")
            if c in tier_of:
                raise RegistryError(f"CHPL code {c} listed in two tiers")
            tier_of[c] = key.removeprefix("tier_")
    return tier_of


FAMILY_COLUMNS = ["family_id", "name", "group", "kind", "h5_codes", "h6_codes", "basis", "changed_content",
                  "changed_note"]
"""Columns of the families table (:func:`families`, :func:`family_table`)."""


def _changed_content(fam: pd.DataFrame) -> pd.DataFrame:
    """Parse families.csv's ``changed_content`` (true/false, empty: false) and check each true has a ``changed_note``.

    A family whose codes hold different goods before and after the HS 2022
    break (a code that lost or gained goods no family can bring back) carries
    a classification break in its series; the flag comes from the registry
    files so the reason sits next to the data.
    """
    fam = fam.copy()
    for col in ("changed_content", "changed_note"):
        if col not in fam.columns:
            fam[col] = ""
    text = fam["changed_content"].str.strip().str.lower()
    bad = ~text.isin(["true", "false", ""])
    if bad.any():
        row = fam[bad].iloc[0]
        raise RegistryError(f"family {row['family_id']}: changed_content must be true or false, "
                            f"not {row['changed_content']!r}")
    fam["changed_content"] = text.eq("true")
    fam["changed_note"] = fam["changed_note"].str.strip()
    unexplained = fam["changed_content"] & fam["changed_note"].eq("")
    if unexplained.any():
        raise RegistryError(f"families with changed_content but no changed_note: "
                            f"{sorted(fam.loc[unexplained, 'family_id'])}")
    return fam


def _read_families(path: Path, codes: pd.DataFrame, descriptions: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    fam = _changed_content(pd.read_csv(path, dtype=str, keep_default_na=False))
    known_groups = set(groups["group"])
    for row in fam.itertuples():
        if row.group not in known_groups:
            raise RegistryError(f"family {row.family_id}: unknown group {row.group!r}")
        for col in ("h5_codes", "h6_codes"):
            for c in row._asdict()[col].split():
                _check_code(c, f"family {row.family_id} {col}")
    in_family = {c for s in fam["h6_codes"] for c in s.split()}
    desc = descriptions.set_index("code")["description"]
    identity = []
    for row in codes.itertuples():
        if row.code in in_family:
            continue
        editions = descriptions.loc[descriptions["code"] == row.code, "editions"]
        if editions.empty or editions.iloc[0].split() != ["H5", "H6"]:
            raise RegistryError(
                f"code {row.code} changed between HS 2017 and HS 2022 but belongs to no family in families.csv"
            )
        identity.append(
            {"family_id": f"HS{row.code}", "name": desc[row.code], "group": row.group,
             "h5_codes": row.code, "h6_codes": row.code,
             "basis": "same code in both editions; UNSD correlation links only into the sweep headings 8524, "
                      "8529.90, 8541.51/59 and 8549, left out",
             "changed_content": False, "changed_note": ""}
        )
    fam = pd.concat([fam, pd.DataFrame(identity)], ignore_index=True)
    kinds = groups.set_index("group")["kind"]
    fam["kind"] = fam["group"].map(kinds)
    fam["changed_content"] = fam["changed_content"].astype(bool)
    return fam[FAMILY_COLUMNS]


def _code_family(families: pd.DataFrame) -> pd.DataFrame:
    rows = [
        {"edition": ed, "code": c, "family_id": f.family_id}
        for f in families.itertuples()
        for ed, col in (("H5", f.h5_codes), ("H6", f.h6_codes))
        for c in col.split()
    ]
    out = pd.DataFrame(rows)
    clash = out[out.duplicated(["edition", "code"], keep=False)]
    if len(clash):
        raise RegistryError(
            "codes in more than one family: "
            + ", ".join(f"{r.edition}:{r.code}" for r in clash.drop_duplicates(["edition", "code"]).itertuples())
        )
    return out


def _validate(meta: dict, codes: pd.DataFrame, tiers: dict[str, str], descriptions: pd.DataFrame,
              code_family: pd.DataFrame) -> None:
    if meta.get("edition") not in EDITIONS:
        raise RegistryError(f"registry edition {meta.get('edition')!r} is not one of {EDITIONS}")
    for eds in descriptions["editions"]:
        unknown = set(eds.split()) - set(EDITIONS)
        if unknown:
            raise RegistryError(f"hs_codes.csv: unknown HS edition(s) {sorted(unknown)}")
    missing = set(tiers) - set(codes["code"])
    if missing:
        raise RegistryError(f"CHPL codes in no group: {sorted(missing)}")
    described = set(descriptions["code"])
    used = set(code_family["code"])
    if used - described:
        raise RegistryError(f"codes without a description in hs_codes.csv: {sorted(used - described)}")
    h6 = code_family[code_family["edition"] == "H6"]
    fam_of = h6.set_index("code")["family_id"]
    orphans = set(codes["code"]) - set(fam_of.index)
    if orphans:
        raise RegistryError(f"registry codes in no family: {sorted(orphans)}")


@lru_cache(maxsize=1)
def load_registry() -> Registry:
    """Read and validate the registry files once; raise RegistryError on any inconsistency."""
    folder = registry_dir()
    with open(folder / "hs_registry.toml", "rb") as fh:
        doc = tomllib.load(fh)
    meta = {**doc.get("meta", {}), "chpl": {k: v for k, v in doc.get("chpl", {}).items() if not k.startswith("tier_")}}
    groups, codes = _read_groups(doc)
    tiers = _read_chpl(doc)
    descriptions = pd.read_csv(folder / "hs_codes.csv", dtype=str, keep_default_na=False)
    for c in descriptions["code"]:
        _check_code(c, "hs_codes.csv")
    if descriptions["code"].duplicated().any():
        dup = sorted(descriptions.loc[descriptions['code'].duplicated(), 'code'])
        raise RegistryError(f"hs_codes.csv: duplicate codes {dup}")
    families = _read_families(folder / "families.csv", codes, descriptions, groups)
    code_family = _code_family(families)
    _validate(meta, codes, tiers, descriptions, code_family)
    codes["chpl_tier"] = codes["code"].map(tiers).fillna("")
    codes = codes.merge(code_family[code_family["edition"] == "H6"][["code", "family_id"]], on="code")
    codes = codes.merge(descriptions[["code", "description"]], on="code")
    areas = pd.read_csv(folder / "comtrade_areas.csv", dtype={"code": int, "iso3": str, "name": str},
                        keep_default_na=False, encoding="utf-8")
    return Registry(meta, groups, codes, families, code_family, descriptions, areas)


# --------------------------------------------------------------- lookups --

def groups() -> pd.DataFrame:
    """All groups: ``group, name, kind, rationale`` (kind: dual_use, control, common_shock)."""
    return load_registry().groups.copy()


def codes() -> pd.DataFrame:
    """All registry codes (HS 2022): ``code, group, kind, chpl_tier, family_id, description``."""
    return load_registry().codes.copy()


def families() -> pd.DataFrame:
    """All families: ``family_id, name, group, kind, h5_codes, h6_codes, basis, changed_content, changed_note``.

    Codes are space-separated. ``changed_content`` (bool) marks families whose
    goods changed at the HS 2022 break in a way no family repairs (their
    series carry a classification break in 2022), with the reason in
    ``changed_note``; both come from families.csv.
    """
    return load_registry().families.copy()


def chpl() -> pd.DataFrame:
    """The Common High Priority List: ``code, chpl_tier, group, family_id``."""
    c = load_registry().codes
    return c.loc[c["chpl_tier"] != "", ["code", "chpl_tier", "group", "family_id"]].reset_index(drop=True)


def family_of(codes_: pd.Series, editions: pd.Series) -> pd.Series:
    """Family id for each (code, edition) pair; codes outside the registry get ``HS<code>``.

    Editions other than H5/H6 are looked up as H6 when the code is unchanged
    (the registry only knows the 2017/2022 break).
    """
    cf = load_registry().code_family
    key = cf["edition"] + ":" + cf["code"]
    lookup = pd.Series(cf["family_id"].to_numpy(), index=key.to_numpy())
    ed = editions.where(editions.isin(EDITIONS), "H6")
    fam = (ed + ":" + codes_).map(lookup)
    return fam.fillna("HS" + codes_)


@lru_cache(maxsize=1)
def nomenclature() -> pd.Series:
    """HS 2022 descriptions of every chapter, heading and subheading, by code (data/registry/hs_nomenclature.csv,
    rebuilt by scripts/build_hs_nomenclature.py): the names of codes outside the registry."""
    path = registry_dir() / "hs_nomenclature.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.Series(table["description"].to_numpy(), index=table["code"].to_numpy())


def _outside_name(family_id: str, desc: pd.Series, summed: frozenset[str]) -> str:
    code = family_id[2:]
    level = {2: "chapter", 4: "heading"}.get(len(code))
    fallback = f"HS {code}" + (f" ({level})" if level else " (outside the registry)")
    name = desc.get(code, nomenclature().get(code, fallback))
    if family_id in summed:
        return f"{name}: sum of the six-digit codes in the data"
    return name


def family_table(family_ids: pd.Series | list[str] | None = None, *, summed: frozenset[str] = frozenset()
                 ) -> pd.DataFrame:
    """Families with their group; unknown ids (codes outside the registry, headings ``HS8471`` and chapters
    ``HS84``) become ungrouped one-code families.

    Columns as :func:`families`; families outside the registry get ``changed_content`` False. ``summed``:
    heading or chapter ids built by summing six-digit records (their name says so: they hold only the codes in
    the data, not the whole heading).
    """
    fam = load_registry().families
    if family_ids is None:
        return fam.copy()
    ids = pd.Index(pd.unique(pd.Series(list(family_ids), dtype=str)))
    known = fam[fam["family_id"].isin(ids)]
    extra = [i for i in ids if i not in set(known["family_id"])]
    desc = load_registry().descriptions.set_index("code")["description"]
    rows = [
        {"family_id": i, "name": _outside_name(i, desc, summed), "group": UNGROUPED,
         "kind": UNGROUPED, "h5_codes": i[2:], "h6_codes": i[2:], "basis": "outside the registry",
         "changed_content": False, "changed_note": ""}
        for i in extra
    ]
    out = pd.concat([known, pd.DataFrame(rows, columns=fam.columns)], ignore_index=True)
    return out.astype({"changed_content": bool})


def is_registry_item(item: str) -> bool:
    """True when ``item`` is a registry group, family id or code (HS 2017 or 2022)."""
    return any(item in names for names in load_registry().vocabulary)


def resolve_codes(spec: list[str] | str) -> pd.DataFrame:
    """Expand codes, group ids and family ids to registry rows (both editions' codes).

    Returns ``edition, code, family_id``; raises RegistryError naming the
    unknown items and the closest matches.
    """
    reg = load_registry()
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise RegistryError("no HS codes, groups or families given")
    cf = reg.code_family
    out, unknown = [], []
    group_ids, family_ids, codes_ = reg.vocabulary
    for item in items:
        if item in group_ids:
            fams = reg.families.loc[reg.families["group"] == item, "family_id"]
            out.append(cf[cf["family_id"].isin(fams)])
        elif item in family_ids:
            out.append(cf[cf["family_id"] == item])
        elif item in codes_:
            fams = cf.loc[cf["code"] == item, "family_id"]
            out.append(cf[cf["family_id"].isin(fams)])
        else:
            unknown.append(item)
    if unknown:
        vocab = list(reg.groups["group"]) + list(reg.families["family_id"]) + list(cf["code"])
        hints = {u: difflib.get_close_matches(u, vocab, n=3, cutoff=0.6) for u in unknown}
        msg = "; ".join(f"{u!r}" + (f" (did you mean {', '.join(h)}?)" if h else "") for u, h in hints.items())
        raise RegistryError(f"unknown HS code, group or family: {msg}")
    return pd.concat(out).drop_duplicates().reset_index(drop=True)


def search_codes(term: str | None = None) -> pd.DataFrame:
    """Registry codes joined to their group and family, filtered by a code prefix or a word."""
    reg = load_registry()
    table = reg.codes.merge(reg.families[["family_id", "h5_codes", "h6_codes"]], on="family_id")
    table = table.merge(reg.groups[["group", "name"]].rename(columns={"name": "group_name"}), on="group")
    if term:
        t = term.strip().lower()
        hit = (
            table["code"].str.startswith(t)
            | table["description"].str.lower().str.contains(t, regex=False)
            | table["group"].str.contains(t, regex=False)
            | table["group_name"].str.lower().str.contains(t, regex=False)
            | table["family_id"].str.lower().str.contains(t, regex=False)
        )
        table = table[hit]
    cols = ["code", "description", "group", "group_name", "kind", "chpl_tier", "family_id", "h5_codes", "h6_codes"]
    return table[cols].sort_values(["group", "code"]).reset_index(drop=True)


def areas() -> pd.DataFrame:
    """Comtrade's area table: ``code, iso3, name`` (Comtrade codes, not always ISO numeric)."""
    return load_registry().areas.copy()


@lru_cache(maxsize=1)
def reference_areas() -> pd.DataFrame:
    """Every area Comtrade knows (historical and group areas too): ``code, iso3, name, reporter, entry_year,
    exit_year`` from Comtrade's reference files (data/registry/comtrade_reference_areas.csv, rebuilt by
    scripts/build_reference_areas.py); ``reporter`` marks the areas Comtrade lists as reporters. The record
    validator checks codes against it; names are resolved from :func:`areas` (current areas only)."""
    table = pd.read_csv(registry_dir() / "comtrade_reference_areas.csv", dtype={"iso3": str, "name": str},
                        keep_default_na=False, na_values={"entry_year": [""], "exit_year": [""]})
    table["reporter"] = table["reporter"].astype(str).str.lower().eq("true")
    table["iso3"] = table["iso3"].str.strip()
    return table

