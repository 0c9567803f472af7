"""Stage 2 of a Comtrade request: the call plan, one row per API call (= one store chunk).

Every call asks for the *classic* breakdown only (``partner2Code=0``,
``customsCode=C00``, ``motCode=0``), so each reporter x partner x code x
period cell gives at most one record for the one flow. A call's answer
therefore has at most ``bound = periods x reporters x partners x codes``
rows, and the plan keeps every bound below the endpoint's record cap (500
for the free preview, 100,000 with a key): an answer with as many rows as
the cap could be cut and is refused. Calls also hold at most 12 periods (the
API's limit) and their URL stays under 4,096 characters (counted exactly as
comtradeapicall and urllib3 build it, key included).

A plan covers a :class:`Request`: one reporter and a list of partners (the
study's fetch: China's exports to Belarus and the comparison partners), or
many reporters and one partner (every supplier's exports to the focal
partner), or one reporter and every partner (the focal partner's own
imports). Either side may be *every area* (``None``: the parameter is left
out and Comtrade answers for all); its count in the bound is then the
number of Comtrade areas (:func:`area_count`), more than any answer can
hold, so the bound still holds. The side listing several areas is split into
batches (the partners when both list several); the other side is asked whole.

Block sizes (periods, areas, codes per call) are chosen per HS edition to
make as few calls as possible per 12 periods, independent of where the range
ends, and monthly blocks are aligned to calendar years (annual ones to the
first year of their edition): extending a fetch by a month changes only the
last block, so earlier chunks keep their ids and are not fetched again. A
block cut short by the start or end of the range (a year in progress) is
batched for its own length, which may put more codes in each of its calls.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import pandas as pd

from ..countries import CHINA
from ..schema import query_id
from .params import EDITION_FROM, Params, edition_of_year

T = TypeVar("T")

BASE_URL = "https://comtradeapi.un.org"
PATHS = {"preview": "/public/v1/preview/C/{freq}/HS", "keyed": "/data/v1/get/C/{freq}/HS"}
AVAILABILITY_PATHS = {"preview": "/public/v1/getDa/C/{freq}/HS", "keyed": "/data/v1/getDa/C/{freq}/HS"}
CAPS = {"preview": 500, "keyed": 100_000}
"""Most records one call returns: the free preview endpoint and the keyed one."""
MAX_PERIODS = 12
MAX_URL = 4096
KEY_LENGTH = 32
"""Length of a Comtrade subscription key (32 hex digits), used for URL lengths when the key is unknown."""

CLASSIC = {"partner2Code": 0, "customsCode": "C00", "motCode": 0, "breakdownMode": "classic"}
PLAN_COLUMNS = ["call", "chunk_id", "part", "edition", "periods", "reporters", "partners", "codes", "n_periods",
                "n_reporters", "n_partners", "n_codes", "bound", "cap", "url_length", "as_reported", "query"]
ALL = "all"
"""How the plan's ``reporters``/``partners`` columns show a side asked for every area."""

Areas = tuple[int, ...] | None
"""Reporters or partners of a request: Comtrade codes, or None for every area (the parameter left out)."""


@lru_cache(maxsize=1)
def _n_areas() -> int:
    from .. import registry

    return len(registry.areas())


def area_count(areas: Areas) -> int:
    """How many areas a side can return: its codes, or every Comtrade area for ``None``."""
    return _n_areas() if areas is None else len(areas)


def _reporter_field(reporter: int | Sequence[int] | None) -> int | str | None:
    if reporter is None:
        return None
    if isinstance(reporter, Sequence):
        items = [int(r) for r in reporter]
        return items[0] if len(items) == 1 else ",".join(map(str, items))
    return int(reporter)


def chunk_query(*, reporter: int | Sequence[int] | None, flow: str, freq: str, periods: Sequence[str],
                partners: Sequence[int] | None, codes: Sequence[str]) -> dict[str, Any]:
    """The query of one call as the store records it (never the key): its :func:`~analysis.schema.query_id`
    is the chunk id. ``reporter`` one code, several, or None (every reporter); ``partners`` None: every partner."""
    return {"typeCode": "C", "freqCode": freq, "clCode": "HS", "reporterCode": _reporter_field(reporter),
            "flowCode": flow, "period": ",".join(periods),
            "partnerCode": None if partners is None else ",".join(str(p) for p in partners),
            "cmdCode": ",".join(codes), **CLASSIC}


def request_fields(query: dict[str, Any], *, cap: int, key: str | None) -> dict[str, Any]:
    """The query-string fields comtradeapicall 1.3.2 sends for ``query``, in its order (None values dropped)."""
    fields = {"reportercode": query["reporterCode"], "flowCode": query["flowCode"], "period": query["period"],
              "cmdCode": query["cmdCode"], "partnerCode": query["partnerCode"],
              "partner2Code": query["partner2Code"], "motCode": query["motCode"],
              "customsCode": query["customsCode"], "maxRecords": cap, "breakdownMode": query["breakdownMode"],
              "includeDesc": True, "subscription-key": key}
    return {k: v for k, v in fields.items() if v is not None}


def request_url(query: dict[str, Any], *, endpoint: str, cap: int, key_length: int) -> str:
    """The URL of the call as urllib3 sends it, with a placeholder of ``key_length`` characters for the key."""
    key = "K" * key_length if endpoint == "keyed" else None
    path = PATHS[endpoint].format(freq=query["freqCode"])
    return f"{BASE_URL}{path}?{urlencode(request_fields(query, cap=cap, key=key))}"


def _split(items: Sequence[T], n: int) -> list[list[T]]:
    """``items`` in ``n`` contiguous, nearly equal parts."""
    size, extra = divmod(len(items), n)
    out: list[list[T]] = []
    i = 0
    for k in range(n):
        j = i + size + (1 if k < extra else 0)
        out.append(list(items[i:j]))
        i = j
    return out


def _period_sizes(freq: str) -> list[int]:
    # monthly blocks divide the year so they stay aligned; annual blocks may take any size
    return [12, 6, 4, 3, 2, 1] if freq == "M" else list(range(MAX_PERIODS, 0, -1))


@dataclass(frozen=True)
class Request:
    """What a plan covers: every ``reporters`` x ``partners`` x code x period cell of one flow and frequency.

    ``codes``: the codes to ask for in the years of each HS edition (``H5``
    to 2021, ``H6`` from 2022). ``as_reported``: records may come in any HS
    edition (many reporters do not switch editions in the same year), so an
    answer's edition is not checked against the plan's. ``part`` names the
    request in a plan of several (``minimum_calls`` counts its floors per part).
    """

    reporters: Areas
    partners: Areas
    flow: str
    freq: str
    codes: Mapping[str, tuple[str, ...]]
    periods: tuple[str, ...]
    as_reported: bool = False
    part: str = ""

    @classmethod
    def of(cls, params: Params) -> Request:
        """The request of a study's fetch: its one reporter and its partners."""
        return cls(reporters=(params.reporter,), partners=tuple(params.partners), flow=params.flow,
                   freq=params.freq, codes=dict(params.codes), periods=tuple(params.periods()))


@dataclass(frozen=True)
class Shape:
    """What every call of a plan shares: endpoint, record cap, key length, reporters, partners, flow, frequency."""

    endpoint: str
    cap: int
    key_length: int = KEY_LENGTH
    reporters: Areas = (CHINA,)
    partners: Areas = field(default=())
    flow: str = "X"
    freq: str = "M"

    @property
    def axis(self) -> Literal["partners", "reporters"] | None:
        """The side split into batches: the partners when several are listed, else the reporters likewise."""
        if self.partners is not None and len(self.partners) > 1:
            return "partners"
        if self.reporters is not None and len(self.reporters) > 1:
            return "reporters"
        return None

    def items(self) -> list[int]:
        """The areas of the batched side, sorted (empty when no side is batched)."""
        side = self.partners if self.axis == "partners" else self.reporters if self.axis == "reporters" else ()
        return sorted(side or ())

    def fixed(self) -> int:
        """How many areas of the side(s) asked whole each call counts in its bound."""
        if self.axis == "partners":
            return area_count(self.reporters)
        if self.axis == "reporters":
            return area_count(self.partners)
        return area_count(self.reporters) * area_count(self.partners)

    def query(self, periods: Sequence[str], batch: Sequence[int], codes: Sequence[str]) -> dict[str, Any]:
        """The query of one call: ``batch`` on the batched side."""
        reporters = batch if self.axis == "reporters" else self.reporters
        partners = batch if self.axis == "partners" else self.partners
        return chunk_query(reporter=reporters, flow=self.flow, freq=self.freq, periods=periods, partners=partners,
                           codes=codes)


def _batches(n_periods: int, codes: list[str], shape: Shape) -> tuple[int, int] | None:
    """Fewest (area batches, code batches) for calls of ``n_periods`` periods within the cap and URL limit."""
    items = shape.items()
    n_q, n_c = max(1, len(items)), len(codes)
    cap, fixed = shape.cap, shape.fixed()
    sample = "209912" if shape.freq == "M" else "2099"
    best: tuple[tuple[int, int], tuple[int, int]] | None = None
    for q in range(n_q, 0, -1):
        c_max = (cap - 1) // (n_periods * q * fixed)
        if c_max < 1:
            continue
        nq = math.ceil(n_q / q)
        nc = math.ceil(n_c / min(n_c, c_max))
        while nc <= n_c:
            worst_q = max(_split(items, nq), key=lambda b: len(",".join(map(str, b)))) if items else []
            worst_c = max(_split(codes, nc), key=len)
            query = shape.query([sample] * n_periods, worst_q, worst_c)
            if len(request_url(query, endpoint=shape.endpoint, cap=cap, key_length=shape.key_length)) < MAX_URL:
                break
            nc += 1
        if nc > n_c:
            continue
        rank = (nq * nc, nq)
        if best is None or rank < best[0]:
            best = (rank, (nq, nc))
    return None if best is None else best[1]


def block_sizes(shape: Shape, codes: Sequence[str]) -> tuple[int, int, int]:
    """(periods per call, area batches, code batches) that minimise calls per 12 periods.

    Constraints: bound = periods x reporters x partners x codes < cap, at
    most 12 periods, URL under 4,096 characters. Ties go to more periods per call.
    """
    best: tuple[tuple[int, int], tuple[int, int, int]] | None = None
    for p in _period_sizes(shape.freq):
        found = _batches(p, sorted(codes), shape)
        if found is None:
            continue
        rank = (math.ceil(12 / p) * found[0] * found[1], -p)
        if best is None or rank < best[0]:
            best = (rank, (p, *found))
    if best is None:
        raise ValueError(f"no call fits the cap of {shape.cap} records and {MAX_URL} URL characters "
                         f"({shape.fixed()} areas asked whole in every call)")
    return best[1]


def _period_blocks(periods: Sequence[str], freq: str, size: int) -> list[list[str]]:
    """Periods grouped into blocks of ``size``: monthly aligned to the calendar year, annual to the first year
    of the edition."""
    blocks: dict[tuple[str, int], list[str]] = {}
    for per in periods:
        year = int(per[:4])
        if freq == "M":
            key = (str(year), (int(per[4:6]) - 1) // size)
        else:
            first = EDITION_FROM[edition_of_year(year)]
            key = (edition_of_year(year), (year - first) // size)
        blocks.setdefault(key, []).append(per)
    return list(blocks.values())


def _side_text(value: int | str | None) -> str:
    return ALL if value is None else str(value)


def _side_count(value: int | str | None) -> int:
    return _n_areas() if value is None else len(str(value).split(","))


def build_plan(request: Params | Request, *, endpoint: str, key_length: int = KEY_LENGTH) -> pd.DataFrame:
    """The call plan of checked parameters or a :class:`Request` (columns ``PLAN_COLUMNS``; see the module
    docstring)."""
    req = request if isinstance(request, Request) else Request.of(request)
    cap = CAPS[endpoint]
    rows: list[dict[str, Any]] = []
    by_edition: dict[str, list[str]] = {}
    for per in req.periods:
        by_edition.setdefault(edition_of_year(int(per[:4])), []).append(per)
    shape = Shape(endpoint=endpoint, cap=cap, key_length=key_length, reporters=req.reporters,
                  partners=req.partners, flow=req.flow, freq=req.freq)
    items = shape.items()
    for edition, eds_periods in by_edition.items():
        codes = list(req.codes.get(edition, ()))
        if not codes:
            continue
        p, nq_full, nc_full = block_sizes(shape, codes)
        for block in _period_blocks(eds_periods, req.freq, p):
            # a block cut short by the start or end of the range is re-batched for its own length
            short = len(block) != p
            found = _batches(len(block), codes, shape) if short else (nq_full, nc_full)
            nq, nc = found or (nq_full, nc_full)  # a shorter block always fits; None cannot happen
            for batch in (_split(items, nq) if items else [[]]):
                for code_batch in _split(codes, nc):
                    query = shape.query(block, batch, code_batch)
                    n_rep, n_par = _side_count(query["reporterCode"]), _side_count(query["partnerCode"])
                    rows.append({
                        "chunk_id": query_id(query), "part": req.part, "edition": edition,
                        "periods": query["period"], "reporters": _side_text(query["reporterCode"]),
                        "partners": _side_text(query["partnerCode"]), "codes": query["cmdCode"],
                        "n_periods": len(block), "n_reporters": n_rep, "n_partners": n_par,
                        "n_codes": len(code_batch), "bound": len(block) * n_rep * n_par * len(code_batch),
                        "cap": cap,
                        "url_length": len(request_url(query, endpoint=endpoint, cap=cap, key_length=key_length)),
                        "as_reported": req.as_reported, "query": query,
                    })
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS[1:])
    plan.insert(0, "call", range(1, len(plan) + 1))
    plan.attrs.update(endpoint=endpoint, cap=cap, total_bound=int(plan["bound"].sum()) if len(plan) else 0)
    return plan


def concat_plans(plans: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Several plans of one endpoint as one (calls renumbered; the parts keep their names)."""
    if not plans:
        raise ValueError("no plans to join")
    plan = pd.concat(list(plans), ignore_index=True)
    plan["call"] = range(1, len(plan) + 1)
    plan.attrs.update(endpoint=plans[0].attrs["endpoint"], cap=plans[0].attrs["cap"],
                      total_bound=int(plan["bound"].sum()) if len(plan) else 0)
    return plan


def minimum_calls(plan: pd.DataFrame) -> dict[str, int]:
    """Lower bounds on the calls any plan needs: the record cap and the 12-periods-per-call limit.

    Counted per part of the plan (a call serves one part: one flow, frequency
    and set of reporters or partners) and summed.
    """
    cap = int(plan.attrs["cap"])
    total = int(plan["bound"].sum())
    parts = plan["part"] if "part" in plan.columns else pd.Series("", index=plan.index)
    by_cap = by_periods = minimum = 0
    for _, block in plan.groupby(parts.to_numpy(), sort=False):
        cap_floor = math.ceil(int(block["bound"].sum()) / (cap - 1))
        periods = block.drop_duplicates(["edition", "periods"]).groupby("edition")["n_periods"].sum()
        period_floor = int(sum(math.ceil(n / MAX_PERIODS) for n in periods))
        by_cap, by_periods = by_cap + cap_floor, by_periods + period_floor
        minimum += max(cap_floor, period_floor)
    return {"total_bound": total, "by_cap": by_cap, "by_periods": by_periods, "minimum": minimum}
