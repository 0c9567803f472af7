"""The question a run asks, as one frozen object: :class:`Study`.

Who reports (``reporter``), which flow (``flow``), the partner the question is
about (``focal``), the partners it is compared with (``controls``), the
windows before and after (``pre``, ``post``), the frequency (``freq``), the
HS codes, families or groups (``codes``) and how January and February are
treated (``jan_feb``). Every stage takes a :class:`Study`, or the same
keyword arguments with the same names (:data:`StudyArgs`), and builds it
through :meth:`Study.resolve`, so a bad value is one :class:`InputError` from
every public function and the CLI alike::

    Study(focal="Belarus") == Study(focal="BLR") == Study(focal=112)

The defaults are defined here once: China's (156) exports (``"X"``) to
Belarus (112), compared with :data:`analysis.countries.COMPARISON_PARTNERS`,
monthly, 2019-01 to 2021-12 against 2022-03 to the last month of the data
(January and February 2022, the transition, belong to neither window).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypedDict, get_args

import pandas as pd

from .countries import (
    BELARUS,
    CHINA,
    COMPARISON_PARTNERS,
    TRANSIT_PARTNERS,
    WORLD,
    area_name,
    comparison_sets,
    default_comparison,
    resolve_countries,
    resolve_country,
)
from .errors import InputError
from .periods import Window, parse_window

Flow = Literal["X", "M", "RX", "RM"]
"""Trade flows a study can ask about, as the reporter reports them: exports (X), imports (M), re-exports (RX),
re-imports (RM)."""
FLOW_WORDS: dict[str, str] = {"X": "exports", "M": "imports", "RX": "re-exports", "RM": "re-imports"}
"""Plain words for each flow code."""
FLOW_VALUATION: dict[str, str] = {"X": "FOB", "M": "CIF", "RX": "FOB", "RM": "CIF"}
"""How each flow is valued in Comtrade (exports at the reporter's border, imports including freight)."""
Level = Literal[6, 4, 2]
"""HS code level of the series: six-digit subheadings (with the registry's families), headings or chapters."""
Freq = Literal["M", "A"]
"""Monthly or annual periods."""
JanFeb = Literal["auto", "merge", "keep"]
"""January and February as published together and split in half (``merge``) or as reported (``keep``)."""

DEFAULT_PRE = "2019-01:2021-12"
DEFAULT_POST = "2022-03:"
"""The after window: from March 2022 (after the February 2022 transition) to the last month of the data."""

Country = str | int
Countries = str | int | Iterable[str | int]
WindowLike = Window | str | tuple[str, str]


class StudyArgs(TypedDict, total=False):
    """The keyword arguments every public function accepts in place of (or on top of) a :class:`Study`."""

    reporter: Country
    focal: Country
    controls: Countries | None
    comparison: str
    transit: Countries | None
    flow: Flow
    freq: Freq
    pre: WindowLike
    post: WindowLike
    codes: str | Iterable[str] | None
    jan_feb: JanFeb
    level: Level


def check_choice(value: object, choices: object, what: str) -> None:
    """InputError unless ``value`` is one of the ``Literal`` type ``choices``."""
    allowed = get_args(choices)
    if value not in allowed:
        raise InputError(f"{what} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


def as_window(value: WindowLike, *, what: str, open_end: bool) -> Window:
    """A :class:`Window` from a Window, ``"FROM:TO"`` or a ``(FROM, TO)`` pair."""
    try:
        if isinstance(value, Window):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return parse_window(start=str(value[0]), end=None if value[1] is None else str(value[1]),
                                open_end=open_end)
        return parse_window(str(value), open_end=open_end)
    except InputError as exc:
        raise InputError(f"{what} window: {exc}") from None


def _country(value: object, what: str) -> int:
    try:
        return resolve_country(value)  # type: ignore[arg-type]
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None


def _countries(value: object, what: str) -> tuple[int, ...]:
    if isinstance(value, str) and value.strip().lower() == "none":
        return ()
    if not isinstance(value, (str, int)) and not list(value):  # type: ignore[call-overload]
        return ()
    try:
        return tuple(resolve_countries(value))  # type: ignore[arg-type]
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None


def _is_hs_digits(item: str) -> bool:
    return item.isdigit() and len(item) in (2, 4, 6)


def _codes(value: object) -> tuple[str, ...]:
    """Checked ``codes``: registry groups, families and codes, or any 2-, 4- or 6-digit HS code."""
    from . import registry

    if value is None:
        return ()
    items = [s.strip() for s in (value.split(",") if isinstance(value, str) else value)]  # type: ignore[attr-defined]
    items = [s for s in items if s]
    named = [s for s in items if not _is_hs_digits(s)]
    if named:
        registry.resolve_codes(named)  # RegistryError (an InputError) naming the unknown items
    return tuple(dict.fromkeys(items))


def jan_feb_split(w: Window) -> tuple[int, str] | None:
    """(year, why) when ``w`` separates a January from its February (starts in February or ends in January)."""
    if w.start.month == 2:
        return w.start.year, f"starts in February {w.start.year}, leaving out its January"
    if w.end is not None and w.end.month == 1:
        return w.end.year, f"ends in January {w.end.year}, leaving out its February"
    return None


@dataclass(frozen=True)
class Study:
    """One question: ``reporter``'s ``flow`` to ``focal``, against ``controls``, ``pre`` vs ``post``.

    Built from user input: countries as Comtrade codes, ISO3 codes or names;
    windows as ``"YYYY:YYYY"``/``"YYYY-MM:YYYY-MM"`` (``post`` may be open,
    ``"2022-03:"``); ``codes`` as HS codes, registry families or groups
    (empty: every code in the data); ``controls`` by default the study's
    comparison set less the focal partner and the reporter (an explicit list
    that names either is an error). Construction resolves and checks every
    value (:class:`InputError` otherwise); the fields then hold Comtrade
    codes, :class:`~analysis.periods.Window` objects and tuples.
    """

    reporter: int = CHINA
    focal: int = BELARUS
    controls: tuple[int, ...] = COMPARISON_PARTNERS
    comparison: str = field(default_factory=default_comparison)
    transit: tuple[int, ...] = TRANSIT_PARTNERS
    flow: Flow = "X"
    freq: Freq = "M"
    pre: Window = field(default_factory=lambda: parse_window(DEFAULT_PRE))
    post: Window = field(default_factory=lambda: parse_window(DEFAULT_POST, open_end=True))
    codes: tuple[str, ...] = ()
    jan_feb: JanFeb = "auto"
    level: Level = 6
    default_controls: bool = field(init=False, repr=False, compare=False, default=True)
    """True when ``controls`` is the named set ``comparison`` (less the focal partner and the reporter)."""
    default_transit: bool = field(init=False, repr=False, compare=False, default=True)
    """True when ``transit`` is the transit set (less the focal partner, the reporter and the controls)."""

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "reporter", _country(self.reporter, "reporter"))
        put(self, "focal", _country(self.focal, "focal partner"))
        sets = comparison_sets()
        default = self.controls is COMPARISON_PARTNERS or self.controls is None
        put(self, "default_controls", default)
        if default:
            if self.comparison not in sets:
                raise InputError(f"comparison set {self.comparison!r} is unknown; choose from "
                                 f"{', '.join(sorted(sets))} or give controls")
            put(self, "controls", tuple(c for c in sets[self.comparison].partners
                                        if c not in (self.focal, self.reporter)))
        else:
            put(self, "controls", _countries(self.controls, "controls"))
            put(self, "comparison", "custom")
        default_t = self.transit is TRANSIT_PARTNERS or self.transit is None
        put(self, "default_transit", default_t)
        put(self, "transit", tuple(c for c in sets["transit"].partners
                                   if c not in (self.focal, self.reporter, *self.controls))
            if default_t else _countries(self.transit, "transit"))
        put(self, "codes", _codes(self.codes))
        check_choice(self.flow, Flow, "flow")
        check_choice(self.freq, Freq, "freq")
        check_choice(self.jan_feb, JanFeb, "jan_feb")
        check_choice(self.level, Level, "level")
        put(self, "pre", as_window(self.pre, what="pre", open_end=False))
        put(self, "post", as_window(self.post, what="post", open_end=True))
        self._check()

    def _check(self) -> None:
        if self.reporter == WORLD:
            raise InputError("the reporter cannot be World (0): choose a reporting country")
        if self.focal == WORLD:
            raise InputError("the focal partner cannot be World (0): choose a country")
        if self.focal == self.reporter:
            raise InputError(f"the focal partner {self._name(self.focal)} is the reporter itself: "
                             "a country does not trade with itself in Comtrade")
        for code, what in ((self.focal, "the focal partner"), (self.reporter, "the reporter"), (WORLD, "World")):
            for group, members in (("controls", self.controls), ("transit", self.transit)):
                if code in members:
                    raise InputError(f"{group} include {what} ({self._name(code)}): leave it out of the "
                                     f"{'comparison' if group == 'controls' else 'transit'} partners")
        if overlap := sorted(set(self.controls) & set(self.transit)):
            raise InputError(f"transit partners {overlap} are also comparison partners: a transit route is "
                             "treated by the Russia route and cannot be a control at the same time")
        if self.pre.end is not None and self.pre.end >= self.post.start:
            raise InputError(f"the pre window ({self.pre}) must end before the post window ({self.post}) starts")
        if self.freq == "M" and self.jan_feb == "merge":
            for w, what in ((self.pre, "pre"), (self.post, "post")):
                if split := jan_feb_split(w):
                    raise InputError(f"the {what} window {w.text} {split[1]}: January and February are published "
                                     "together (jan_feb='merge'), so a window must hold both or neither")

    @staticmethod
    def _name(code: int) -> str:
        try:
            return f"{area_name(code)} ({code})"
        except InputError:
            return str(code)

    # ---------------------------------------------------------------- building

    @classmethod
    def resolve(cls, study: Study | None = None, **args: object) -> Study:
        """``study`` (default: the default study) with the keyword arguments given (not None) replacing its fields.

        The one resolver of user input: every public function calls it, so
        ``compare(series, focal="BLR")`` and ``compare(series, Study(focal=112))``
        ask the same question.
        """
        if study is not None and not isinstance(study, Study):
            raise InputError(f"study must be an analysis.Study, not {type(study).__name__}")
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(args) - names)
        if unknown:
            raise InputError(f"unknown study argument(s) {unknown}; a study has {sorted(names)}")
        given = {k: v for k, v in args.items() if v is not None}
        if study is None:
            return cls(**given)  # type: ignore[arg-type]
        return study.replace(**given) if given else study

    def replace(self, **changes: object) -> Study:
        """This study with ``changes``; default controls and transit stay defaults (recomputed for a new focal
        partner or comparison set) unless the changes name them."""
        if self.default_controls and "controls" not in changes:
            changes["controls"] = COMPARISON_PARTNERS
        if self.default_transit and "transit" not in changes:
            changes["transit"] = TRANSIT_PARTNERS
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- reading

    @property
    def partners(self) -> tuple[int, ...]:
        """The focal partner, the comparison partners and the transit partners: the partners a fetch asks for."""
        return (self.focal, *self.controls, *self.transit)

    def closed(self, last: pd.Timestamp) -> Study:
        """The study with an open post window ended at ``last`` (the data's last month)."""
        if not self.post.is_open:
            return self
        post = self.post.closed(last)
        if split := (jan_feb_split(post) if self.freq == "M" and self.jan_feb == "merge" else None):
            raise InputError(f"the post window {post.text} {split[1]}: the data end in January; give --post with "
                             "an end before it")
        return self.replace(post=post)

    def family_ids(self, available: Iterable[str] | None = None) -> frozenset[str] | None:
        """Family ids ``codes`` select (None: no restriction), among ``available`` ids when given.

        Registry groups, families and codes give their families (at level 4 or 2, the headings or chapters of
        their codes); an HS code outside the registry gives ``HS<code>`` and, among ``available``, every id
        whose code starts with it or that it starts with (``8542`` selects ``HS854231`` at level 6, ``854231``
        selects ``HS8542`` at level 4).
        """
        if not self.codes:
            return None
        from . import registry

        named = [c for c in self.codes if not registry.is_registry_item(c)]
        listed = [c for c in self.codes if c not in named]
        wanted: set[str] = set()
        if listed:
            rows = registry.resolve_codes(listed)
            if self.level == 6:
                wanted |= set(rows["family_id"])
            else:
                named += sorted({str(c)[: self.level] for c in rows["code"]})
        wanted |= {f"HS{c[: self.level]}" if len(c) > self.level else f"HS{c}" for c in named}
        if available is not None:
            pool = {str(a) for a in available}
            digits = [w[2:] for w in wanted if w.startswith("HS")]
            wanted = {a for a in pool if a in wanted or (a.startswith("HS") and any(
                a[2:].startswith(d) or d.startswith(a[2:]) for d in digits))}
        return frozenset(wanted)

    def describe(self) -> str:
        """One line: who, what, to whom, against whom, when."""
        flow = FLOW_WORDS[self.flow]
        ctrl = (f"{len(self.controls)} comparison partners ({self.comparison})" if self.controls
                else "no comparison partners")
        codes = f", codes {','.join(self.codes)}" if self.codes else ""
        pre, post = self.pre.text_at(self.freq), self.post.text_at(self.freq)
        return (f"{self._name(self.reporter)} {flow} with {self._name(self.focal)} against {ctrl}; "
                f"{'monthly' if self.freq == 'M' else 'annual'}, pre {pre}, post {post}{codes}")

    def to_dict(self) -> dict[str, object]:
        """Plain values for config.json and the report (windows as ``FROM:TO`` text)."""
        return {"reporter": self.reporter, "focal": self.focal, "controls": list(self.controls),
                "comparison": self.comparison, "transit": list(self.transit), "flow": self.flow,
                "freq": self.freq, "pre": self.pre.text, "post": self.post.text, "codes": list(self.codes),
                "jan_feb": self.jan_feb, "level": self.level}

    def select(self, series: pd.DataFrame) -> pd.DataFrame:
        """The series of this study's reporter and flow, restricted to ``codes`` (control goods always kept)."""
        sel = series[(series["reporter_code"] == self.reporter) & (series["flow_code"] == self.flow)]
        if sel.empty:
            pairs = series[["reporter_code", "flow_code"]].drop_duplicates()
            have = [f"{r} {f}" for r, f in zip(pairs["reporter_code"], pairs["flow_code"], strict=True)]
            raise InputError(f"no series for reporter {self._name(self.reporter)} flow {self.flow!r} "
                             f"(the data hold: {', '.join(have) or 'none'})")
        wanted = self.family_ids(sel["family_id"].unique())
        if wanted is not None:
            keep = sel["family_id"].isin(wanted)
            if not keep.any():
                raise InputError(f"none of the families of codes {','.join(self.codes)} is in the data")
            sel = sel[keep | (sel["kind"] == "control")]
        return sel
