"""fetch() end to end: plan -> comtradeapicall -> urllib3 -> a fake Comtrade on 127.0.0.1 -> the store.

Covers success, plans split under the cap, failures that must never become a
missing month, retries, bad keys, malformed and empty answers, resuming an
interrupted fetch, zero calls on a repeat, updates by publication date, and
the subscription key never appearing in anything written, raised, logged or printed.
"""
from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from pathlib import Path

import pytest

from analysis import registry
from analysis.comtrade import (
    ComtradeAPIError,
    ComtradeAuthError,
    ComtradeClassificationError,
    ComtradeEmptyError,
    ComtradeError,
    ComtradeNetworkError,
    ComtradeQuotaError,
    ComtradeResponseError,
    ComtradeServerError,
    ComtradeTruncatedError,
)
from analysis.comtrade.errors import ComtradeBudgetError, ComtradeDeadlineError
from analysis.comtrade.params import check_params
from analysis.countries import DEFAULT_PARTNERS
from analysis.errors import InputError
from analysis.fetching import FetchResult, fetch, plan_calls
from analysis.store import Store
from analysis.study import Study

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.comtrade_server import FakeComtrade, Response, body_file, expected_records  # noqa: E402
from fixtures.slow_server import TrickleComtrade  # noqa: E402

KEY = "5ecre7c0de5ecre7c0de5ecre7c0de00"
SOME_CODES = list(registry.codes()["code"][:20])  # enough codes that one preview call cannot hold a year
SMALL = dict(focal=112, controls=[398], transit="none", codes=["854231", "HS901310"], start="2021-11", end="2022-02")


@pytest.fixture()
def fake():
    with FakeComtrade() as server:
        yield server


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(fake, store, *, key: str | None = "", **kw) -> FetchResult:
    args = {**SMALL, **kw}
    sleeps = args.pop("sleep", Sleeps())
    return fetch(**args, store=store, api_key=key, base_url=fake.url, calls_per_minute=args.pop("calls_per_minute", 0),
                 sleep=sleeps, progress=False)


def cells(store: Store) -> set:
    frame = store.read()
    return set(zip(frame["partnerCode"].astype(int), frame["cmdCode"], frame["period"], strict=True))


def truth(**kw) -> set:
    args = {**SMALL, **kw}
    p = check_params(focal=args["focal"], controls=args["controls"], transit=args["transit"], codes=args["codes"],
                     start=args["start"], end=args["end"])
    return expected_records(reporter=156, flow="X", freq="M", partners=p.partners, codes_by_edition=p.codes,
                            periods=p.periods())


@pytest.fixture()
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


# ------------------------------------------------------------------ success


def test_fetch_stores_every_record_in_the_right_edition(fake, store):
    result = run(fake, store)
    assert result.complete and result.chunks_written == 2 and result.chunks_planned == 2
    assert result.calls_made == 3 and result.availability_calls == 1  # availability + one call per chunk
    assert cells(store) == truth()
    frame = store.read()
    assert set(frame.loc[frame["refYear"] == 2021, "classificationCode"]) == {"H5"}
    assert set(frame.loc[frame["refYear"] == 2022, "classificationCode"]) == {"H6"}
    assert not frame["synthetic"].any()
    man = store.manifest()
    assert set(man["endpoint"]) == {"https://comtradeapi.un.org/public/v1/preview/C/M/HS"}
    assert man["source"].str.contains("comtradeapicall").all() and man["published"].notna().all()
    assert result.rows_written == len(frame)
    text = repr(result)
    assert "complete" in text and "2 planned: 2 written" in text and "3 made" in text


def test_keyed_fetch_uses_the_keyed_endpoint_and_counts_quota(fake, store):
    result = run(fake, store, key=KEY)
    assert {p for p, _ in fake.requests} == {"/data/v1/getDa/C/M/HS", "/data/v1/get/C/M/HS"}
    assert result.endpoint == "keyed" and result.quota_limit == 500 and result.quota_used == 3
    assert "3/500" in repr(result)


def test_key_from_the_environment_and_blank_key_means_preview(fake, store, monkeypatch):
    monkeypatch.setenv("COMTRADE_API_KEY", KEY)
    assert run(fake, store, key=None).endpoint == "keyed"
    monkeypatch.setenv("COMTRADE_API_KEY", "  ")
    assert run(fake, store, key=None, refresh=True).endpoint == "preview"


def test_plan_over_the_preview_cap_is_split_into_calls_that_fit(fake, store):
    kw = dict(controls=[398, 616, 417, 860], transit="none", codes=SOME_CODES, start="2022-01", end="2022-12")
    plan = plan_calls(**kw, endpoint="preview")
    assert plan["bound"].sum() > 500 and len(plan) > 1 and (plan["bound"] < 500).all()
    result = run(fake, store, **kw)
    assert result.chunks_written == len(plan)
    assert len(fake.data_requests()) == len(plan)
    for params in fake.data_requests():
        n = len(params["period"].split(",")) * len(params["partnerCode"].split(",")) * len(params["cmdCode"].split(","))
        assert n < 500
    assert cells(store) == truth(**kw)


# ------------------------------------------------------------------ failures are errors, never missing months


def test_a_failing_period_is_an_error_never_a_silently_missing_month(fake, store):
    fake.fail(Response(500, body_file("error_500.html")), times=None,
              when=lambda path, p: "202201" in p.get("period", ""))
    with pytest.raises(ComtradeServerError) as info:
        run(fake, store)
    err = info.value
    assert "202201" in str(err) and "gave up after 5 attempts" in str(err) and err.status == 500
    assert err.fetch_result.chunks_written == 1 and not err.fetch_result.complete
    stored = {per for _, _, per in cells(store)}
    assert stored == {"202111", "202112"}  # the failed chunk is absent as a whole, and known to be absent
    assert len(fake.data_requests()) == 1 + 5


def test_429_then_success_honours_the_named_wait(fake, store):
    sleeps = Sleeps()
    fake.fail(Response(429, body_file("error_429.json")), when=lambda path, p: "getDa" not in path)
    result = run(fake, store, sleep=sleeps)
    assert result.complete and result.retries == 1 and sleeps == [7.0]
    assert cells(store) == truth()


def test_500_twice_then_success(fake, store):
    sleeps = Sleeps()
    fake.fail(Response(500, b"oops"), times=2, when=lambda path, p: "getDa" not in path)
    result = run(fake, store, sleep=sleeps)
    assert result.complete and result.retries == 2 and sleeps == [5.0, 10.0]
    assert result.calls_made == 5 and cells(store) == truth()


def test_bad_key_is_a_clear_error_without_retry(fake, store):
    fake.valid_keys = {"the-right-key"}
    with pytest.raises(ComtradeAuthError, match="subscription key was refused.*HTTP 401") as info:
        run(fake, store, key=KEY)
    assert len(fake.requests) == 1 and KEY not in str(info.value)
    assert store.manifest().empty


def test_comtrade_quota_403_stops_the_fetch(fake, store):
    fake.fail(Response(403, body_file("error_403_quota.json")), when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeQuotaError, match="replenished in 05:21:10"):
        run(fake, store, key=KEY)


def test_local_daily_quota_stops_and_a_rerun_resumes(fake, store):
    with pytest.raises(ComtradeQuotaError) as info:
        run(fake, store, key=KEY, daily_quota=2)
    assert info.value.fetch_result.chunks_written == 1
    result = run(fake, store, key=KEY)
    assert result.chunks_written == 1 and result.chunks_skipped == 1 and cells(store) == truth()


def test_malformed_json_is_an_error(fake, store):
    fake.fail(Response(200, body_file("malformed.json")), when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeResponseError, match="not valid JSON"):
        run(fake, store)
    assert len(fake.data_requests()) == 1  # a malformed 200 is not retried


def test_a_200_with_an_error_field_is_an_error(fake, store):
    fake.fail(Response(200, body_file("ok_with_error_field.json")), when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeAPIError, match="Invalid period for the frequency code"):
        run(fake, store)


def _empty(path, params):
    return Response(200, json.dumps({"elapsedTime": "0", "count": 0, "data": [], "error": ""}).encode())


def test_empty_answer_for_released_periods_is_an_error(fake, store):
    fake.fail(_empty, when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeEmptyError, match="no records, although reporter 156 has released 2"):
        run(fake, store)
    assert store.manifest().empty


def test_accept_empty_records_an_empty_chunk(fake, store):
    fake.fail(_empty, when=lambda path, p: "getDa" not in path)
    result = run(fake, store, accept_empty=True)
    assert result.complete and result.chunks_empty == 1 and (store.manifest()["rows"] == 0).sum() == 1


def test_empty_answer_for_unreleased_periods_is_an_empty_chunk_that_update_fetches_later(fake, store):
    fake.released_until = "202112"
    result = run(fake, store)
    assert result.complete and result.chunks_empty == 1
    man = store.manifest()
    empty = man[man["rows"] == 0]
    assert len(empty) == 1 and empty["published"].isna().all()
    again = run(fake, store)
    assert again.calls_made == 0
    fake.released_until = "202506"
    upd = run(fake, store, update=True)
    assert upd.chunks_updated == 1 and upd.chunks_written == 1 and upd.chunks_skipped == 1
    assert cells(store) == truth()


def test_edition_mismatch_in_availability_stops_before_data_calls(fake, store):
    fake.classification["202112"] = "H4"
    with pytest.raises(ComtradeClassificationError, match="reports period 202112 in H4"):
        run(fake, store)
    assert fake.data_requests() == []


# ------------------------------------------------------------------ resume, repeat, update, refresh


def test_interrupted_fetch_resumes_with_only_the_missing_chunks(fake, store):
    kw = dict(start="2021-01", end="2022-12", codes=SOME_CODES, controls=[398, 616], transit="none")
    plan = plan_calls(**kw, endpoint="preview")
    assert len(plan) >= 4
    third = plan.iloc[2]["query"]
    fake.fail(Response(-1), times=None, when=lambda path, p: p.get("cmdCode") == third["cmdCode"]
              and p.get("period") == third["period"] and p.get("partnerCode") == third["partnerCode"])
    with pytest.raises(ComtradeNetworkError):
        run(fake, store, **kw, max_attempts=2)
    assert len(store.manifest()) == 2
    fake._rules.clear()
    before = len(fake.data_requests())
    result = run(fake, store, **kw)
    asked = fake.data_requests()[before:]
    assert len(asked) == len(plan) - 2 and result.chunks_skipped == 2
    assert {(q["period"], q["cmdCode"], q["partnerCode"]) for q in asked} == {
        (r["period"], r["cmdCode"], r["partnerCode"]) for r in plan["query"].iloc[2:]}
    assert cells(store) == truth(**kw)


def test_repeat_fetch_makes_zero_calls(fake, store):
    run(fake, store)
    n = len(fake.requests)
    again = run(fake, store)
    assert len(fake.requests) == n and again.calls_made == 0 and again.chunks_skipped == 2 and again.complete


def test_study_fetched_with_a_key_reruns_without_one_with_zero_calls(fake, store):
    run(fake, store, key=KEY, start="2020-01", end="2022-12", controls=[398, 616, 417],
        codes=SOME_CODES)
    n = len(fake.requests)
    again = run(fake, store, key="", start="2020-01", end="2022-12", controls=[398, 616, 417], codes=SOME_CODES)
    assert again.endpoint == "preview" and again.plan_endpoint == "keyed" and again.calls_made == 0
    assert len(fake.requests) == n and "planned for the keyed endpoint" in repr(again)


def test_annual_fetch(fake, store):
    result = run(fake, store, start="2019", end="2023", freq="A")
    assert result.complete and result.chunks_written == 2  # one block per HS edition
    frame = store.read()
    assert set(frame["period"]) <= {"2019", "2020", "2021", "2022", "2023"} and (frame["refMonth"] == 52).all()
    assert set(frame.loc[frame["period"] == "2021", "classificationCode"]) == {"H5"}
    p = check_params(focal=SMALL["focal"], controls=SMALL["controls"], transit="none", codes=SMALL["codes"],
                     start="2019", end="2023", freq="A")
    want = expected_records(reporter=156, flow="X", freq="A", partners=p.partners, codes_by_edition=p.codes,
                            periods=p.periods())
    assert cells(store) == want


def test_default_end_comes_from_availability_then_from_the_store_offline(fake, store):
    fake.released_until = "202203"
    first = run(fake, store, end=None)
    assert first.end == "2022-03" and first.end_source == "availability"
    assert first.availability_calls == 1 and first.chunks_written == 2
    n = len(fake.requests)
    again = run(fake, store, end=None)
    assert again.end == "2022-03" and again.end_source == "store" and again.calls_made == 0
    assert len(fake.requests) == n
    fake.released_until = "202205"
    newer = run(fake, store, end=None, update=True)
    assert newer.end == "2022-05" and newer.end_source == "availability" and newer.chunks_written == 1


def test_update_fetches_only_chunks_whose_publication_changed(fake, store):
    run(fake, store)
    fake.last_released["202201"] = "2024-03-01T09:00:00"  # China revised January 2022
    n = len(fake.data_requests())
    result = run(fake, store, update=True)
    asked = fake.data_requests()[n:]
    assert len(asked) == 1 and "202201" in asked[0]["period"]
    assert result.chunks_updated == 1 and result.chunks_skipped == 1 and result.availability_calls == 1
    ids = store.manifest().set_index("chunk_id")["published"]
    assert "2024-03-01T09:00:00" in set(ids)
    assert run(fake, store, update=True).chunks_written == 0  # nothing changed since


def test_refresh_fetches_everything_again(fake, store):
    run(fake, store)
    n = len(fake.data_requests())
    result = run(fake, store, refresh=True)
    assert len(fake.data_requests()) == n + 2 and result.chunks_written == 2 and result.chunks_skipped == 0


def test_throttle_spaces_calls_by_default_rate(fake, store):
    sleeps = Sleeps()
    ticks = iter(range(0, 10_000))
    fetch(**SMALL, store=store, api_key="", base_url=fake.url, progress=False, sleep=sleeps,
          clock=lambda: float(next(ticks)))
    assert len(sleeps) == 2 and all(5.0 <= s <= 6.0 for s in sleeps)  # 10 calls a minute


# ------------------------------------------------------------------ the study: focal partner and controls


def test_fetch_takes_a_study_or_the_same_keywords(fake, store):
    study = Study(focal="Belarus", controls=["KAZ"], transit="none", codes=["854231", "HS901310"])
    result = fetch(study, start="2021-11", end="2022-02", store=store, api_key="", base_url=fake.url,
                   calls_per_minute=0, sleep=Sleeps(), progress=False)
    assert result.complete and result.study == study and result.partners == (112, 398)
    assert cells(store) == truth()
    again = run(fake, store)  # the same question as keywords: the same chunks, no call
    assert again.calls_made == 0 and again.chunks_skipped == result.chunks_written


def test_keywords_replace_fields_of_a_given_study(fake, store):
    result = fetch(Study(focal="KAZ", controls=["POL"], transit="none"), focal=112, controls=[398],
                   codes=SMALL["codes"],
                   start="2021-11", end="2022-02", store=store, api_key="", base_url=fake.url, calls_per_minute=0,
                   sleep=Sleeps(), progress=False)
    assert result.partners == (112, 398) and cells(store) == truth()


@pytest.mark.parametrize("controls", [(), "none", "None", []])
def test_no_controls_fetches_the_focal_partner_only(fake, store, controls):
    result = run(fake, store, controls=controls)
    assert result.complete and result.partners == (112,)
    assert {p["partnerCode"] for p in fake.data_requests()} == {"112"}
    assert cells(store) == truth(controls=[]) and {c[0] for c in cells(store)} == {112}


def test_default_study_fetches_belarus_and_the_twelve_comparison_partners():
    plan = plan_calls(end="2023-12", endpoint="keyed")
    partners = {int(p) for row in plan["partners"] for p in row.split(",")}
    assert partners == set(DEFAULT_PARTNERS) and len(partners) == 25 and 112 in partners
    assert plan_calls(Study(), end="2023-12", endpoint="keyed")["chunk_id"].tolist() == plan["chunk_id"].tolist()


@pytest.mark.parametrize("kw, match", [
    ({"partners": [112]}, "unknown study argument"),
    ({"focal": 156}, "is the reporter itself"),
    ({"controls": [112]}, "controls include the focal partner"),
    ({"flow": "Q"}, "flow must be one of"),  # RX and RM are flows since the README commit fb5ff77
])
def test_study_errors_fail_before_any_call(fake, store, kw, match):
    with pytest.raises(InputError, match=match):
        run(fake, store, **kw)
    assert fake.requests == []
    with pytest.raises(InputError, match=match):
        plan_calls(end="2022-02", **{k: v for k, v in {**SMALL, **kw}.items() if k != "end"})


# ------------------------------------------------------------------ validation before any call


@pytest.mark.parametrize("kw, match", [
    ({"codes": ["optcs"]}, "unknown HS code"),
    ({"start": "2023-01", "end": "2022-01"}, "reversed"),
    ({"controls": ["Atlantis"]}, "unknown country"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"daily_quota": 0}, "daily_quota"),
])
def test_bad_parameters_fail_before_any_call(fake, store, kw, match):
    with pytest.raises(InputError, match=match):
        run(fake, store, **kw)
    assert fake.requests == []


# ------------------------------------------------------------------ the key never leaks


def test_key_never_appears_in_files_errors_logs_or_output(fake, store, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    raised: list[BaseException] = []
    # 1. a full keyed fetch with a retry (urllib3 debug logs carry the URL)
    fake.fail(Response(500, b"oops"), when=lambda path, p: "getDa" not in path)
    run(fake, store, key=KEY)
    # 2. an error answer that quotes the request URL back
    fake.fail(lambda path, p: Response(400, f'{{"message": "bad request ?subscription-key={p["subscription-key"]}"}}'
                                       .encode()), when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeError) as info:
        run(fake, store, key=KEY, refresh=True)
    raised.append(info.value)
    # 3. a dropped connection (urllib3's MaxRetryError quotes the URL; comtradeapicall prints it)
    fake.fail(Response(-1), times=None)
    with pytest.raises(ComtradeNetworkError) as info:
        run(fake, store, key=KEY, refresh=True, max_attempts=2)
    raised.append(info.value)
    # 4. nothing listening at all
    with pytest.raises(ComtradeNetworkError) as info:
        fetch(**SMALL, store=store, api_key=KEY, base_url="http://127.0.0.1:9", calls_per_minute=0,
              sleep=lambda s: None, progress=False, max_attempts=1, refresh=True)
    raised.append(info.value)

    assert any(KEY in p.get("subscription-key", "") for _, p in fake.requests)  # the key was really sent
    for exc in raised:
        text = "".join(traceback.format_exception(exc)) + repr(exc.fetch_result) + str(exc.api_message)
        assert KEY not in text
    assert "subscription-key=***" in str(raised[1]) + str(raised[2])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "subscription-key" in logged and KEY not in logged  # urllib3 logged URLs, redacted
    out = capsys.readouterr()
    assert KEY not in out.out and KEY not in out.err
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert files and all(KEY.encode() not in p.read_bytes() for p in files)


# ------------------------------------------------------------------ issue 12: deadlines, budget, answers not to store

@pytest.fixture()
def trickle():
    """A server that sends its data answers' headers at once, then one body byte every 0.5 s."""
    with TrickleComtrade(gap=0.5) as server:
        yield server


def test_a_server_trickling_one_byte_at_a_time_fails_within_the_deadline(trickle, store):
    began = time.monotonic()
    with pytest.raises(ComtradeDeadlineError, match="deadline of 1 s") as info:
        run(trickle, store, deadline=1.0, max_attempts=2)
    took = time.monotonic() - began
    assert took < 4.0, f"two attempts of 1 s each took {took:.1f} s"  # per-read timeouts (120 s) never fired
    assert "gave up after 2 attempts" in str(info.value) and info.value.retryable
    assert 1 <= trickle.bytes_trickled <= 10  # the server really was sending, a byte at a time
    assert store.manifest().empty and info.value.fetch_result.chunks_written == 0


def test_the_budget_ends_a_fetch_stuck_on_a_slow_server_and_a_rerun_resumes(trickle, store):
    began = time.monotonic()
    with pytest.raises(ComtradeBudgetError, match="time budget of 1.5 s is spent") as info:
        run(trickle, store, budget=1.5, max_attempts=5)
    assert time.monotonic() - began < 3.5 and not info.value.retryable
    assert store.manifest().empty
    trickle.trickles = lambda path: False  # the server recovers: the rerun fetches everything
    assert run(trickle, store).complete and cells(store) == truth()


@pytest.mark.parametrize("kw", [{"deadline": 0}, {"deadline": -1.0}, {"budget": float("inf")},
                                {"budget": float("nan")}, {"deadline": "10"}])
def test_bad_deadline_or_budget_fails_before_any_call(fake, store, kw):
    with pytest.raises(InputError, match="positive number of seconds"):
        run(fake, store, **kw)
    assert fake.requests == []


def test_a_200_without_count_is_refused_and_nothing_is_stored(fake, store):
    def half(path, params):
        whole = json.loads(fake._data("M", params).body)
        cut = whole["data"][: len(whole["data"]) // 2]
        return Response(200, json.dumps({"elapsedTime": "0.02 secs", "data": cut, "error": ""}).encode())

    fake.fail(half, when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeResponseError, match="has no 'count'.*nothing was stored"):
        run(fake, store)
    assert store.manifest().empty


def test_a_count_that_differs_from_the_records_is_refused(fake, store):
    def miscounted(path, params):
        whole = json.loads(fake._data("M", params).body)
        return Response(200, json.dumps({**whole, "count": 371, "data": whole["data"][:243]}).encode())

    fake.fail(miscounted, when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeTruncatedError, match="counts 371 records but holds 243"):
        run(fake, store, codes=SOME_CODES, start="2022-01", end="2022-12", controls=[398, 616])
    assert store.manifest().empty


def test_availability_and_data_both_empty_is_an_error_not_a_cached_no_data(fake, store):
    nothing = json.dumps({"elapsedTime": "0", "count": 0, "data": [], "error": ""}).encode()
    fake.fail(Response(200, nothing), times=None)
    with pytest.raises(ComtradeEmptyError, match="lists no released M data for reporter 156.*rerun later"):
        run(fake, store)
    assert store.manifest().empty  # an outage is not remembered as "no data"
    fake._rules.clear()
    assert run(fake, store).complete and cells(store) == truth()


def test_a_200_error_without_data_shows_the_apis_own_message(fake, store):
    said = "Request rejected: the service is under maintenance until 14:00 UTC"
    fake.fail(Response(200, json.dumps({"error": said}).encode()), when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeAPIError) as info:
        run(fake, store)
    assert info.value.api_message == said and said in str(info.value) and "nothing was stored" in str(info.value)
    assert store.manifest().empty


def test_an_implausible_record_in_an_answer_is_refused_with_row_and_field(fake, store):
    def absurd(path, params):
        whole = json.loads(fake._data("M", params).body)
        whole["data"][1].update(primaryValue=1e30, fobvalue=1e30)
        return Response(200, json.dumps(whole).encode())

    fake.fail(absurd, when=lambda path, p: "getDa" not in path)
    with pytest.raises(ComtradeResponseError, match=r"row 2, field primaryValue: 1e\+30 USD is above the "
                                                    "plausibility cap"):
        run(fake, store)
    assert store.manifest().empty


def test_cli_fetch_deadline_and_budget_options(trickle, tmp_path, capsys, monkeypatch):
    from analysis import fetching
    from analysis.cli import main

    seen = {}
    real = fetching.fetch

    def spy(*args, **kw):
        seen.update(deadline=kw.get("deadline"), budget=kw.get("budget"))
        return real(*args, **{**kw, "base_url": trickle.url, "api_key": "", "calls_per_minute": 0,
                              "max_attempts": 1, "sleep": lambda s: None})

    monkeypatch.setattr(fetching, "fetch", spy)
    argv = ["fetch", "--store", str(tmp_path / "s"), "--partner", "112", "--controls", "none", "--codes", "854231",
            "--start", "2022-01", "--end", "2022-02", "--deadline", "0.8", "--budget", "60"]
    status = main(argv)
    err = capsys.readouterr().err
    assert seen == {"deadline": 0.8, "budget": 60.0}
    assert status == 2 and err.count("\n") == 1 and "deadline of 0.8 s" in err and "Traceback" not in err
    assert main([*argv[:-4], "--deadline", "0"]) == 2
    assert "deadline must be a positive number of seconds" in capsys.readouterr().err
