"""Stage 2 of a Comtrade request: the call plan, one row per API call (= one store chunk).

Every call asks for the *classic* breakdown only (``partner2Code=0``,
``customsCode=C00``, ``motCode=0``), so each partner x code x period cell
gives at most one record for the one reporter and flow. A call's answer
therefore has at most ``bound = periods x partners x codes`` rows, and the
plan keeps every bound below the endpoint's record cap (500 for the free
preview, 100,000 with a key): an answer with as many rows as the cap could
be cut and is refused. Calls also hold at most 12 periods (the API's limit)
and their URL stays under 4,096 characters (counted exactly as comtradeapicall
and urllib3 build it, key included).

Block sizes (periods, partners, codes per call) are chosen per HS edition to
make as few calls as possible per 12 periods, independent of where the range
ends, and monthly blocks are aligned to calendar years (annual ones to the
first year of their edition): extending a fetch by a month changes only the
last block, so earlier chunks keep their ids and are not fetched again. A
block cut short by the start or end of the range (a year in progress) is
batched for its own length, which may put more codes in each of its calls.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
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
PLAN_COLUMNS = ["call", "chunk_id", "edition", "periods", "partners", "codes", "n_periods", "n_partners",
                "n_codes", "bound", "cap", "url_length", "query"]


def chunk_query(*, reporter: int, flow: str, freq: str, periods: Sequence[str], partners: Sequence[int],
                codes: Sequence[str]) -> dict[str, Any]:
    """The query of one call as the store records it (never the key): its :func:`~analysis.schema.query_id`
    is the chunk id."""
    return {"typeCode": "C", "freqCode": freq, "clCode": "HS", "reporterCode": int(reporter), "flowCode": flow,
            "period": ",".join(periods), "partnerCode": ",".join(str(p) for p in partners),
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
class Shape:
    """What every call of a plan shares: the endpoint, its record cap, the key length, reporter, flow, frequency."""

    endpoint: str
    cap: int
    key_length: int = KEY_LENGTH
    reporter: int = CHINA
    flow: str = "X"
    freq: str = "M"


def _batches(n_periods: int, partners: list[int], codes: list[str], shape: Shape) -> tuple[int, int] | None:
    """Fewest (partner batches, code batches) for calls of ``n_periods`` periods within the cap and URL limit."""
    n_q, n_c = len(partners), len(codes)
    cap = shape.cap
    sample = "209912" if shape.freq == "M" else "2099"
    best: tuple[tuple[int, int], tuple[int, int]] | None = None
    for q in range(n_q, 0, -1):
        c_max = (cap - 1) // (n_periods * q)
        if c_max < 1:
            continue
        nq = math.ceil(n_q / q)
        nc = math.ceil(n_c / min(n_c, c_max))
        while nc <= n_c:
            worst_q = max(_split(partners, nq), key=lambda b: len(",".join(map(str, b))))
            worst_c = max(_split(codes, nc), key=len)
            query = chunk_query(reporter=shape.reporter, flow=shape.flow, freq=shape.freq,
                                periods=[sample] * n_periods, partners=worst_q, codes=worst_c)
            if len(request_url(query, endpoint=shape.endpoint, cap=cap, key_length=shape.key_length)) < MAX_URL:
                break
            nc += 1
        if nc > n_c:
            continue
        rank = (nq * nc, nq)
        if best is None or rank < best[0]:
            best = (rank, (nq, nc))
    return None if best is None else best[1]


def block_sizes(*, freq: str, partners: Sequence[int], codes: Sequence[str], endpoint: str, cap: int,
                key_length: int = KEY_LENGTH, reporter: int = CHINA, flow: str = "X") -> tuple[int, int, int]:
    """(periods per call, partner batches, code batches) that minimise calls per 12 periods.

    Constraints: bound = periods x partners x codes < cap, at most 12 periods,
    URL under 4,096 characters. Ties go to more periods per call.
    """
    shape = Shape(endpoint=endpoint, cap=cap, key_length=key_length, reporter=reporter, flow=flow, freq=freq)
    best: tuple[tuple[int, int], tuple[int, int, int]] | None = None
    for p in _period_sizes(freq):
        found = _batches(p, sorted(partners), sorted(codes), shape)
        if found is None:
            continue
        rank = (math.ceil(12 / p) * found[0] * found[1], -p)
        if best is None or rank < best[0]:
            best = (rank, (p, *found))
    if best is None:
        raise ValueError(f"no call fits the cap of {cap} records and {MAX_URL} URL characters")
    return best[1]


def _period_blocks(periods: list[str], freq: str, size: int) -> list[list[str]]:
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


def build_plan(params: Params, *, endpoint: str, key_length: int = KEY_LENGTH) -> pd.DataFrame:
    """The call plan for checked parameters (columns ``PLAN_COLUMNS``; see the module docstring)."""
    cap = CAPS[endpoint]
    periods = params.periods()
    rows: list[dict[str, Any]] = []
    by_edition: dict[str, list[str]] = {}
    for per in periods:
        by_edition.setdefault(edition_of_year(int(per[:4])), []).append(per)
    for edition, eds_periods in by_edition.items():
        codes = list(params.codes.get(edition, ()))
        if not codes:
            continue
        shape = Shape(endpoint=endpoint, cap=cap, key_length=key_length, reporter=params.reporter,
                      flow=params.flow, freq=params.freq)
        p, nq_full, nc_full = block_sizes(partners=params.partners, codes=codes, endpoint=endpoint, cap=cap,
                                          key_length=key_length, reporter=params.reporter, flow=params.flow,
                                          freq=params.freq)
        for block in _period_blocks(eds_periods, params.freq, p):
            # a block cut short by the start or end of the range is re-batched for its own length
            short = len(block) != p
            found = _batches(len(block), list(params.partners), codes, shape) if short else (nq_full, nc_full)
            nq, nc = found or (nq_full, nc_full)  # a shorter block always fits; None cannot happen
            for part_batch in _split(list(params.partners), nq):
                for code_batch in _split(codes, nc):
                    query = chunk_query(reporter=params.reporter, flow=params.flow, freq=params.freq,
                                        periods=block, partners=part_batch, codes=code_batch)
                    rows.append({
                        "chunk_id": query_id(query), "edition": edition, "periods": query["period"],
                        "partners": query["partnerCode"], "codes": query["cmdCode"], "n_periods": len(block),
                        "n_partners": len(part_batch), "n_codes": len(code_batch),
                        "bound": len(block) * len(part_batch) * len(code_batch), "cap": cap,
                        "url_length": len(request_url(query, endpoint=endpoint, cap=cap, key_length=key_length)),
                        "query": query,
                    })
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS[1:])
    plan.insert(0, "call", range(1, len(plan) + 1))
    plan.attrs.update(endpoint=endpoint, cap=cap, total_bound=int(plan["bound"].sum()) if len(plan) else 0)
    return plan


def minimum_calls(plan: pd.DataFrame) -> dict[str, int]:
    """Lower bounds on the calls any plan needs: the record cap and the 12-periods-per-call limit."""
    cap = int(plan.attrs["cap"])
    total = int(plan["bound"].sum())
    by_cap = math.ceil(total / (cap - 1)) if total else 0
    periods_per_edition = plan.drop_duplicates(["edition", "periods"]).groupby("edition")["n_periods"].sum()
    by_periods = int(sum(math.ceil(n / MAX_PERIODS) for n in periods_per_edition))
    return {"total_bound": total, "by_cap": by_cap, "by_periods": by_periods, "minimum": max(by_cap, by_periods)}
