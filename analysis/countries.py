"""Countries as users write them -> UN Comtrade area codes; the study's default partners.

``resolve_country`` accepts a Comtrade code (``112``, ``"842"``), an ISO3 or
ISO2 code (``"BLR"``, ``"by"``) or a name (``"Belarus"``, ``"Turkey"``,
``"Kyrgyz Republic"``, ``"South Korea"``), case- and accent-insensitive, and
returns Comtrade's own area code from :func:`analysis.registry.areas`.
Comtrade codes are not ISO numeric everywhere (France 251, India 699, Norway
579, Switzerland 757, USA 842) and Taiwan is reported as 490 "Other Asia,
nes"; an ISO numeric code that Comtrade does not use is refused with the
Comtrade code to use instead.

Aliases come from a maintained library, country_converter (pinned ==1.3.2),
but its converter is not called: ``CountryConverter()``, which ``convert()``
builds, raises ``TypeError: first argument must be string or compiled pattern``
under pandas 3.1 (checked here with pandas 3.1.1): its loader passes
``na_values`` to ``read_csv`` together with ``str`` converters, pandas 3 turns
four empty ISO2 cells into NaN anyway, and ``re.compile(NaN)`` fails. So this
module reads the library's bundled table (``country_data.tsv``: short and
official names, a name regex, ISO2/ISO3/ISO numeric) itself with
``keep_default_na=False`` and maps ISO3 to Comtrade's codes. That keeps the
alias knowledge maintained upstream without depending on its broken loader;
the required columns are checked on load.

Resolution order for text: Comtrade code; ISO3; ISO2; exact name (Comtrade's
or the library's); a name contained as whole words in exactly one Comtrade
name ("Moldova"); the library's name regexes. Several hits, or none, raise
:class:`InputError` naming the candidates or the closest names.
"""
from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, cast

import pandas as pd

from . import registry
from .errors import InputError

WORLD = 0
CHINA = 156
BELARUS = 112

@dataclass(frozen=True)
class ComparisonSet:
    """A named set of comparison partners, with why it is one and where that comes from."""

    key: str
    name: str
    rationale: str
    sources: tuple[str, ...]
    partners: tuple[int, ...]


@lru_cache(maxsize=1)
def _comparison_doc() -> dict[str, Any]:
    with open(registry.registry_dir() / "comparison_sets.toml", "rb") as fh:
        return tomllib.load(fh)


@lru_cache(maxsize=1)
def comparison_sets() -> dict[str, ComparisonSet]:
    """The named comparison sets of ``data/registry/comparison_sets.toml`` (baseline, transit, ...)."""
    doc = _comparison_doc()
    sets = {key: ComparisonSet(key, str(v["name"]), " ".join(str(v["rationale"]).split()),
                               tuple(str(x) for x in v.get("sources", ())), tuple(int(c) for c in v["partners"]))
            for key, v in doc["sets"].items()}
    if doc["meta"]["default"] not in sets or "transit" not in sets:
        raise InputError("comparison_sets.toml needs the default set and a 'transit' set")
    return sets


def default_comparison() -> str:
    """The key of the default comparison set (``baseline``)."""
    return str(_comparison_doc()["meta"]["default"])


COMPARISON_PARTNERS: tuple[int, ...] = comparison_sets()[default_comparison()].partners
"""The default comparison partners (the ``baseline`` set): comparable economies that are not transit routes."""

TRANSIT_PARTNERS: tuple[int, ...] = comparison_sets()["transit"].partners
"""The documented transit routes to Russia: shown as a group of their own, never the default baseline."""

DEFAULT_PARTNERS: tuple[int, ...] = (BELARUS, *COMPARISON_PARTNERS, *TRANSIT_PARTNERS)
"""Belarus, the baseline and the transit partners: the default partners of a fetch."""

ISO3_OVERRIDES: dict[str, int] = {"TWN": 490}
"""ISO3 codes Comtrade files under another area: Taiwan is reported as 490 'Other Asia, nes'."""

_COCO_COLUMNS = ["name_short", "name_official", "regex", "ISO2", "ISO3", "ISOnumeric", "obsolete"]


def _norm(text: str) -> str:
    """Casefold, strip accents and punctuation, collapse spaces: 'Türkiye' -> 'turkiye'."""
    s = unicodedata.normalize("NFKD", str(text))
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).casefold()
    s = re.sub(r"[^\w\s]", " ", s)
    return " ".join(s.split())


@lru_cache(maxsize=1)
def _coco_table() -> pd.DataFrame:
    """country_converter's bundled country table (current countries only), read without its loader."""
    try:
        path = resources.files("country_converter") / "country_data.tsv"
        with resources.as_file(path) as p:
            table = pd.read_csv(p, sep="\t", encoding="utf-8", dtype=str, keep_default_na=False)
    except (ModuleNotFoundError, FileNotFoundError) as exc:  # pragma: no cover - dependency missing
        raise InputError(f"country aliases unavailable: country_converter data not found ({exc})") from None
    missing = [c for c in _COCO_COLUMNS if c not in table.columns]
    if missing:  # pragma: no cover - only with an unexpected country_converter version
        raise InputError(f"country_converter table lacks column(s) {missing}; tradeflows expects version 1.3.2")
    table = table.loc[table["obsolete"].str.strip() == "", _COCO_COLUMNS[:-1]].copy()
    for col in table.columns:
        table[col] = table[col].str.strip()
    return table.reset_index(drop=True)


@lru_cache(maxsize=1)
def _lookup() -> dict[str, Any]:
    """Lookup tables: Comtrade codes, ISO3/ISO2 -> code, names -> code, regexes, ISO numeric hints."""
    areas = registry.areas()
    areas["iso3"] = areas["iso3"].str.strip()
    codes = dict(zip(areas["code"].astype(int), areas["name"], strict=False))
    iso3 = {i.upper(): int(c) for c, i in zip(areas["code"], areas["iso3"], strict=True)
            if re.fullmatch(r"[A-Za-z]{3}", i)}
    iso3.update(ISO3_OVERRIDES)
    coco_all = _coco_table()
    coco = coco_all[coco_all["ISO3"].isin(iso3)]
    iso2 = {r.ISO2.upper(): iso3[r.ISO3] for r in coco.itertuples() if len(r.ISO2) == 2}
    names: dict[str, set[int]] = {}
    for c, n in codes.items():
        names.setdefault(_norm(n), set()).add(c)
    for r in coco.itertuples():
        for n in (r.name_short, r.name_official):
            if n:
                names.setdefault(_norm(n), set()).add(iso3[r.ISO3])
    regexes = [(re.compile(r.regex, re.IGNORECASE), iso3[r.ISO3]) for r in coco.itertuples() if r.regex]
    isonum = {}
    for r in coco_all.itertuples():
        if r.ISOnumeric.isdigit() and r.ISO3 in iso3 and int(r.ISOnumeric) != iso3[r.ISO3]:
            isonum[int(r.ISOnumeric)] = (r.name_short, iso3[r.ISO3])
    return {"codes": codes, "iso3": iso3, "iso2": iso2, "names": names, "regexes": regexes, "isonum": isonum}


def area_name(code: int) -> str:
    """Comtrade's name of an area code (``842`` -> ``'USA'``); InputError if unknown."""
    names = _lookup()["codes"]
    if int(code) not in names:
        raise InputError(f"unknown Comtrade area code {code}")
    return names[int(code)]


def _from_code(code: int, raw: object) -> int:
    lk = _lookup()
    if code in lk["codes"]:
        return code
    if code in lk["isonum"]:
        name, ct = lk["isonum"][code]
        raise InputError(f"country {raw!r}: {code} is the ISO numeric code of {name}; Comtrade's code is {ct}")
    raise InputError(f"country {raw!r}: unknown Comtrade area code")


def _suggest(text: str) -> str:
    lk = _lookup()
    vocab = {n: sorted(cs) for n, cs in lk["names"].items()}
    close = difflib.get_close_matches(_norm(text), list(vocab), n=4, cutoff=0.6)
    hints = []
    for n in close:
        for c in vocab[n]:
            hint = f"{lk['codes'][c]} ({c})"
            if hint not in hints:
                hints.append(hint)
    return f" (did you mean {', '.join(hints[:4])}?)" if hints else ""


def resolve_country(text: str | int) -> int:
    """One country (Comtrade code, ISO3/ISO2 or name) -> its Comtrade area code; InputError if unknown or ambiguous."""
    if isinstance(text, bool) or text is None:
        raise InputError(f"country {text!r} is not a country")
    if isinstance(text, int):
        return _from_code(text, text)
    s = str(text).strip()
    if not s:
        raise InputError("empty country name")
    if s.isdigit():
        return _from_code(int(s), text)
    lk = _lookup()
    if re.fullmatch(r"[A-Za-z]{3}", s) and s.upper() in lk["iso3"]:
        return lk["iso3"][s.upper()]
    if re.fullmatch(r"[A-Za-z]{2}", s) and s.upper() in lk["iso2"]:
        return lk["iso2"][s.upper()]
    key = _norm(s)
    exact = lk["names"].get(key, set())
    if len(exact) == 1:
        return next(iter(exact))
    if len(exact) > 1:
        raise InputError(f"country {text!r} is ambiguous: {_describe(exact)}")
    words = re.compile(rf"\b{re.escape(key)}\b")
    within = {c for c, n in lk["codes"].items() if words.search(_norm(n)) and not _norm(n).endswith(" nes")}
    if len(within) > 1:
        raise InputError(f"country {text!r} is ambiguous: {_describe(within)}")
    if len(within) == 1:
        return next(iter(within))
    by_regex = {c for rx, c in lk["regexes"] if rx.search(s)}
    if len(by_regex) == 1:
        return next(iter(by_regex))
    if len(by_regex) > 1:
        raise InputError(f"country {text!r} is ambiguous: {_describe(by_regex)}")
    outside = sorted({r.name_short for r in _coco_table().itertuples() if r.regex and re.search(r.regex, s, re.I)})
    if outside:
        raise InputError(f"country {text!r} ({' / '.join(outside)}) has no area code in Comtrade's table")
    raise InputError(f"unknown country {text!r}{_suggest(s)}")


def _describe(codes: Iterable[int]) -> str:
    names = _lookup()["codes"]
    return ", ".join(f"{names[c]} ({c})" for c in sorted(codes))


def _split_names(text: str) -> list[str | int]:
    if len(_lookup()["names"].get(_norm(text), ())) == 1:
        return [text]
    return [p for p in text.split(",") if p.strip()]


def resolve_countries(text_or_list: str | int | Iterable[str | int]) -> list[int]:
    """Several countries -> Comtrade codes, in the order given, without duplicates.

    A string with commas is one name if it is exactly a known name (``"China,
    Hong Kong SAR"``), else a comma-separated list (``"Belarus, Poland, KAZ"``);
    pass a list for names with commas that are not known as such.
    """
    if isinstance(text_or_list, str) and "," in text_or_list:
        items: list[str | int] = _split_names(text_or_list)
    elif isinstance(text_or_list, (str, int)) and not isinstance(text_or_list, bool):
        items = [text_or_list]
    else:
        items = list(cast(Iterable[str | int], text_or_list))
    out: list[int] = []
    for item in items:
        code = resolve_country(item)
        if code not in out:
            out.append(code)
    if not out:
        raise InputError("no countries given")
    return out
