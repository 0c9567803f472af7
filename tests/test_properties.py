"""Property tests (issue 12, part 5): series building and the HS 2017/2022 concordance, on generated records.

Hypothesis draws small sets of China's monthly export records (partners, registry codes in the edition China
reports each year, values, weights); the properties are those every later stage relies on:

- totals are preserved: series hold exactly the value of the records, per partner and year, whatever the
  January/February rule, and so do the concordance's families;
- no duplicate months: one row per series and month, every month from the first to the last present;
- families partition the codes: each (code, edition) lies in exactly one family;
- import order does not change results: shuffled records, or chunks written to the store in another order,
  give the same series (also when two chunks hold the same cell: the later publication wins either way).

Examples are few (``max_examples`` 30 or less) and generated data are small, to keep the suite fast.
"""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import registry
from analysis.schema import KEY, coerce_records, period_dates
from analysis.series import SERIES_KEY, annual, build_series
from analysis.store import Store

FEW = settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(max_examples=5, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
"""Few examples (each builds series; the store test writes chunks), no example database in the project folder."""
PARTNERS = [112, 398, 616, 417]
MONTHS = [f"{y}{m:02d}" for y in (2021, 2022) for m in range(1, 13)]
CODE_FAMILY = registry.load_registry().code_family
CODES = {ed: sorted(CODE_FAMILY.loc[CODE_FAMILY["edition"] == ed, "code"]) for ed in ("H5", "H6")}


def edition(period: str) -> str:
    return "H6" if period >= "2022" else "H5"


@st.composite
def cells(draw: st.DrawFn) -> dict:
    period = draw(st.sampled_from(MONTHS))
    code = draw(st.sampled_from(CODES[edition(period)] + ["999999"]))  # a code outside the registry too
    value = float(draw(st.integers(min_value=0, max_value=10**9)))
    weight = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=10**7).map(float)))
    return {"partnerCode": draw(st.sampled_from(PARTNERS)), "period": period, "cmdCode": code,
            "primaryValue": value, "netWgt": weight}


records_st = st.lists(cells(), min_size=1, max_size=40,
                      unique_by=lambda c: (c["partnerCode"], c["period"], c["cmdCode"]))


def _template() -> pd.DataFrame:
    """One tidy record (coerced once: real field names and conventions, exports fill fobvalue)."""
    row = {"typeCode": "C", "freqCode": "M", "period": "202101", "reporterCode": 156, "flowCode": "X",
           "partnerCode": 112, "partner2Code": 0, "customsCode": "C00", "motCode": 0, "mosCode": "0",
           "classificationCode": "H5", "cmdCode": "854231", "isOriginalClassification": True, "refYear": 2021,
           "refMonth": 1, "primaryValue": 1.0, "fobvalue": 1.0}
    return coerce_records(pd.DataFrame([row]))


TEMPLATE = _template()


def frame(cells_: list[dict]) -> pd.DataFrame:
    """Tidy records of the drawn cells: the template with their fields (dtypes kept; coercing each example
    would only make the test slower)."""
    out = TEMPLATE.iloc[[0] * len(cells_)].reset_index(drop=True)
    periods = [c["period"] for c in cells_]
    values = [c["primaryValue"] for c in cells_]
    columns = {
        "period": periods, "partnerCode": [c["partnerCode"] for c in cells_],
        "cmdCode": [c["cmdCode"] for c in cells_], "classificationCode": [edition(p) for p in periods],
        "refYear": [int(p[:4]) for p in periods], "refMonth": [int(p[4:]) for p in periods],
        "primaryValue": values, "fobvalue": values, "netWgt": [c["netWgt"] for c in cells_],
    }
    for name, data in columns.items():
        out[name] = pd.Series(data, dtype=TEMPLATE[name].dtype)
    out["period_date"] = period_dates(out["freqCode"], out["period"])
    return out


def sorted_series(series: pd.DataFrame) -> pd.DataFrame:
    return series.sort_values([*SERIES_KEY, "date"]).reset_index(drop=True)


# ------------------------------------------------------------------ series


@FEW
@given(records_st, st.sampled_from(["keep", "merge", "auto"]))
def test_series_preserve_totals_per_partner_and_year(cells_, jan_feb):
    rec = frame(cells_)
    series = build_series(rec, jan_feb=jan_feb)
    assert series["usd"].sum() == pytest.approx(rec["primaryValue"].sum(), rel=1e-12, abs=1e-6)
    years = annual(series)
    yearly = years.groupby([years["partner_code"], years["date"].dt.year.rename("year")])["usd"].sum()
    truth = rec.groupby([rec["partnerCode"].astype("int64").rename("partner_code"),
                         rec["period_date"].dt.year.rename("year")])["primaryValue"].sum()
    gap = yearly.sub(truth, fill_value=0.0).abs()  # years without records are zero in the series
    assert gap.max() <= 1e-6 * max(1.0, truth.abs().max())


@FEW
@given(records_st)
def test_series_have_one_row_per_month_and_no_gap(cells_):
    series = build_series(frame(cells_), jan_feb="keep")
    assert not series.duplicated([*SERIES_KEY, "date"]).any()
    months = pd.date_range(series["date"].min(), series["date"].max(), freq="MS")
    for _, one in series.groupby(SERIES_KEY):
        assert list(one["date"]) == list(months)
    assert (series.loc[series["n_records"] == 0, "usd"] == 0).all()  # a month without records is zero


@FEW
@given(records_st, st.randoms(use_true_random=False))
def test_record_order_does_not_change_the_series(cells_, rnd):
    shuffled = list(cells_)
    rnd.shuffle(shuffled)
    pd.testing.assert_frame_equal(sorted_series(build_series(frame(cells_))),
                                  sorted_series(build_series(frame(shuffled))))


@FEWER
@given(records_st, st.randoms(use_true_random=False))
def test_import_order_into_the_store_does_not_change_the_series(tmp_path_factory, cells_, rnd):
    """Chunks written in two orders; a cell held by two chunks takes the later publication's value either way."""
    rec = frame(cells_)
    cut = rnd.randrange(len(rec) + 1)
    first, second = rec.iloc[:cut], rec.iloc[cut:]
    revised = rec.iloc[: max(1, cut // 2)].copy()  # the same cells, republished with other values
    revised["primaryValue"] = revised["fobvalue"] = revised["primaryValue"] + 1.0
    chunks = [(first, "2023-01-10", "a"), (second, "2023-01-10", "b"), (revised, "2024-06-01", "c")]
    results = []
    for order in (chunks, chunks[::-1]):
        store = Store(tmp_path_factory.mktemp("order") / "store")
        for part, published, name in order:
            store.write_chunk(part, query={"file": name}, endpoint="file", source=f"import:{name}",
                              published=published)
        results.append(sorted_series(build_series(store.read(), jan_feb="keep")))
    pd.testing.assert_frame_equal(results[0], results[1])
    expect = pd.concat([rec, revised]).drop_duplicates(KEY, keep="last")
    assert results[0]["usd"].sum() == pytest.approx(expect["primaryValue"].sum(), rel=1e-12, abs=1e-6)


# ------------------------------------------------------------------ the HS concordance


def test_families_partition_the_codes_of_each_edition():
    fam = registry.families()
    for ed, col in (("H5", "h5_codes"), ("H6", "h6_codes")):
        listed = [(code, row.family_id) for row in fam.itertuples() for code in getattr(row, col).split()]
        codes = [c for c, _ in listed]
        assert len(codes) == len(set(codes)), f"a {ed} code in two families"
        assert set(codes) == set(CODES[ed])
        lookup = dict(listed)
        got = registry.family_of(pd.Series(codes), pd.Series([ed] * len(codes)))
        assert list(got) == [lookup[c] for c in codes]


@FEW
@given(st.lists(st.tuples(st.sampled_from(["H5", "H6"]), st.one_of(
    st.sampled_from(CODES["H5"] + CODES["H6"]), st.integers(100000, 999999).map(str))), min_size=1, max_size=30))
def test_every_code_lands_in_exactly_one_family(pairs):
    editions = pd.Series([e for e, _ in pairs])
    codes = pd.Series([c for _, c in pairs])
    got = registry.family_of(codes, editions)
    known = {(r.edition, r.code): r.family_id for r in CODE_FAMILY.itertuples()}
    for (ed, code), family in zip(pairs, got, strict=True):
        assert family == known.get((ed, code), f"HS{code}")


@FEW
@given(records_st)
def test_families_preserve_totals_across_the_2022_break(cells_):
    """Each family's yearly total is the sum of its own codes' records in that year's edition, and nothing else."""
    rec = frame(cells_)
    series = build_series(rec, jan_feb="keep")
    by_family = series.groupby([series["family_id"], series["date"].dt.year.rename("year")])["usd"].sum()
    fam = registry.families()
    members = {(ed, c): row.family_id for row in fam.itertuples()
               for ed, col in (("H5", row.h5_codes), ("H6", row.h6_codes)) for c in col.split()}
    owner = [members.get((e, c), f"HS{c}") for e, c in zip(rec["classificationCode"], rec["cmdCode"], strict=True)]
    truth = rec.assign(family_id=owner).groupby(["family_id", rec["period_date"].dt.year.rename("year")]
                                                 )["primaryValue"].sum()
    gap = by_family.sub(truth, fill_value=0.0).abs()  # every family's total, and no value in two families
    assert gap.max() <= 1e-6 * max(1.0, truth.abs().max())
