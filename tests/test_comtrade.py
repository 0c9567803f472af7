"""The Comtrade request stages: parameters, call plans, redaction, throttle, answers, the client.

No network: the client runs real comtradeapicall and real urllib3 against a
fake Comtrade on 127.0.0.1 (tests/fixtures/comtrade_server.py).
"""
from __future__ import annotations

import json
import logging
import math
import socket
import sys
import threading
import time
from pathlib import Path

import comtradeapicall
import comtradeapicall.DataAvailability as ca_availability
import comtradeapicall.PreviewGet as ca_get
import pandas as pd
import pytest
import urllib3

from analysis import registry
from analysis.comtrade import (
    CAPS,
    MAX_PERIODS,
    MAX_URL,
    ComtradeAPIError,
    ComtradeAuthError,
    ComtradeClient,
    ComtradeEmptyError,
    ComtradeError,
    ComtradeNetworkError,
    ComtradeQuotaError,
    ComtradeRateLimitError,
    ComtradeRequestError,
    ComtradeResponseError,
    ComtradeServerError,
    ComtradeTruncatedError,
    RetryPolicy,
    Throttle,
    build_plan,
    check_params,
    edition_of_year,
    minimum_calls,
    process,
)
from analysis.comtrade.errors import ComtradeBudgetError, ComtradeDeadlineError
from analysis.comtrade.perform import (
    Answer,
    Deadline,
    Exchange,
    Urllib3Seam,
    _WatchedHTTPConnection,
    _WatchedHTTPSConnection,
    classify,
    default_transport,
    install_seam,
)
from analysis.comtrade.plan import BASE_URL, chunk_query
from analysis.comtrade.redact import RedactingFilter, redact, register_secret
from analysis.countries import DEFAULT_PARTNERS
from analysis.errors import InputError, TradeflowsError
from analysis.fetching import plan_calls
from analysis.schema import FIELDS, query_id
from analysis.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.comtrade_server import FakeComtrade, Response, body_file, record  # noqa: E402
from fixtures.slow_server import TrickleComtrade  # noqa: E402

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture()
def fake():
    with FakeComtrade() as server:
        yield server


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(fake, key=None, **kw) -> ComtradeClient:
    clock = kw.pop("clock", FakeClock())
    return ComtradeClient(key, base_url=fake.url, calls_per_minute=kw.pop("calls_per_minute", 0), clock=clock,
                          sleep=clock.sleep, **kw)


def answer_of(doc, frame=None) -> Answer:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return Answer(status=200, body=body, url="u", frame=frame, attempts=1)


# ------------------------------------------------------------------ parameters


def test_params_resolve_everything_before_any_call():
    p = check_params(reporter="China", focal="Belarus", controls=["KAZ"], transit="none", codes=["854231"],
                     start="2021-06", end="2022-03")
    assert (p.reporter, p.flow, p.partners, p.freq) == (156, "X", (112, 398), "M")
    assert p.codes["H6"] == ("854231",) and p.codes["H5"] == ("854231",)
    assert p.periods()[0] == "202106" and p.periods()[-1] == "202203" and len(p.periods()) == 10
    annual = check_params(codes=["854231"], start="2019", end="2022", freq="A")
    assert annual.periods() == ["2019", "2020", "2021", "2022"]


def test_default_codes_are_the_whole_registry_in_both_editions():
    p = check_params(end="2023-12")
    cf = registry.load_registry().code_family
    for ed in ("H5", "H6"):
        assert set(p.codes[ed]) == set(cf.loc[cf["edition"] == ed, "code"])
    assert p.partners == tuple(sorted(DEFAULT_PARTNERS))  # Belarus, the baseline and the transit partners


@pytest.mark.parametrize("kw, match", [
    ({"codes": ["optcs"]}, "unknown HS code"),
    ({"start": "2023-01", "end": "2022-01"}, "reversed"),
    ({"start": "2016-01"}, "HS 2017 and HS 2022 codes only"),
    ({"controls": ["Narnia"]}, "unknown country"),
    ({"controls": [156]}, "controls include the reporter"),
    ({"focal": 156}, "is the reporter itself"),
    ({"flow": "Z"}, "flow"),
    ({"freq": "Q"}, "freq"),
    ({"start": "2022-13"}, "month must be 01-12"),
    ({"end": "2099-01"}, "in the future"),
])
def test_bad_parameters_raise_input_error(kw, match):
    with pytest.raises(InputError, match=match):
        check_params(**{"end": "2023-12", **kw})


def test_edition_follows_chinas_reporting():
    assert [edition_of_year(y) for y in (2017, 2021, 2022, 2025)] == ["H5", "H5", "H6", "H6"]


# ------------------------------------------------------------------ call plans


def _cells(plan: pd.DataFrame) -> list[tuple]:
    return [(per, int(par), code, row.edition) for row in plan.itertuples() for per in row.periods.split(",")
            for par in row.partners.split(",") for code in row.codes.split(",")]


@pytest.mark.parametrize("endpoint", ["preview", "keyed"])
def test_default_study_plan_covers_every_cell_once_within_the_limits(endpoint):
    plan = plan_calls(end="2025-06", endpoint=endpoint)
    cap = CAPS[endpoint]
    assert (plan["bound"] < cap).all() and (plan["n_periods"] <= MAX_PERIODS).all()
    assert (plan["url_length"] < MAX_URL).all()
    assert (plan["bound"] == plan["n_periods"] * plan["n_partners"] * plan["n_codes"]).all()
    cells = _cells(plan)
    assert len(cells) == len(set(cells)), "a cell is asked for twice"
    p = check_params(end="2025-06")
    want = {(per, par, code, edition_of_year(int(per[:4]))) for per in p.periods() for par in p.partners
            for code in p.codes[edition_of_year(int(per[:4]))]}
    assert set(cells) == want
    assert plan["chunk_id"].is_unique
    for row in plan.itertuples():  # one HS edition and one year block per call
        years = {per[:4] for per in row.periods.split(",")}
        assert len(years) == 1 and edition_of_year(int(years.pop())) == row.edition


def test_preview_plan_splits_what_one_call_cannot_hold_and_stays_near_the_minimum():
    plan = plan_calls(end="2025-06", endpoint="preview")
    low = minimum_calls(plan)
    assert low["total_bound"] > CAPS["preview"]  # one call could not hold it
    assert len(plan) >= low["minimum"]
    assert len(plan) <= math.ceil(1.2 * low["minimum"])
    keyed = plan_calls(end="2025-06", endpoint="keyed")
    assert len(keyed) == minimum_calls(keyed)["minimum"] == 9  # one call per year: the 12-period floor


def test_plan_is_stable_when_the_range_grows():
    a = plan_calls(end="2024-06", endpoint="preview")
    b = plan_calls(end="2024-07", endpoint="preview")
    changed = set(a["chunk_id"]) - set(b["chunk_id"])
    assert changed == set(a.loc[a["periods"].str.startswith("2024"), "chunk_id"])
    assert not (set(a["chunk_id"]) ^ set(b["chunk_id"])) & set(a.loc[~a["periods"].str.startswith("2024"), "chunk_id"])


def test_url_limit_forces_more_calls_with_long_code_lists():
    # keyed cap would allow all 155 codes x 13 partners x 12 months in one call; the URL would not
    many = list(registry.load_registry().code_family["code"])
    p = check_params(codes=many, start="2023-01", end="2023-12")
    big = build_plan(p, endpoint="keyed", key_length=32)
    assert (big["url_length"] < MAX_URL).all()
    q = chunk_query(reporter=156, flow="X", freq="M", periods=[f"2023{m:02d}" for m in range(1, 13)],
                    partners=list(p.partners), codes=list(p.codes["H6"]) * 3)
    from analysis.comtrade.plan import request_url
    assert len(request_url(q, endpoint="keyed", cap=100_000, key_length=32)) > MAX_URL


def test_plan_queries_hold_no_key_and_give_the_store_chunk_ids():
    plan = plan_calls(end="2022-12", start="2022-01", endpoint="keyed", api_key=KEY)
    for row in plan.itertuples():
        assert KEY not in json.dumps(row.query)
        assert Store.chunk_id(row.query) == query_id(row.query) == row.chunk_id
        assert row.query["partner2Code"] == 0 and row.query["customsCode"] == "C00" and row.query["motCode"] == 0


# ------------------------------------------------------------------ redaction


def test_redact_removes_keys_in_urls_and_registered_secrets():
    url = f"https://comtradeapi.un.org/data/v1/get/C/M/HS?period=202201&subscription-key={KEY}&x=1"
    assert KEY not in redact(url) and "subscription-key=***&x=1" in redact(url)
    other = "fedcba9876543210fedcba9876543210"
    register_secret(other)
    assert other not in redact(f"the key {other} was refused") and "***" in redact(f"key {other}")
    assert redact("nothing secret") == "nothing secret"


def test_redacting_filter_cleans_urllib3_log_records(caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    logging.getLogger("urllib3.connectionpool").debug('%s "GET %s"', "host", f"/data?subscription-key={KEY}")
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)
    rec = logging.LogRecord("x", logging.INFO, "f", 1, "url %s", (f"?subscription-key={KEY}",), None)
    RedactingFilter().filter(rec)
    assert KEY not in rec.getMessage()


def test_errors_redact_their_messages_and_keep_status():
    err = ComtradeServerError(f"call to ?subscription-key={KEY} failed", status=503,
                              api_message=f"upstream said subscription-key={KEY}")
    assert KEY not in str(err) and err.status == 503 and KEY not in err.api_message
    assert isinstance(err, TradeflowsError) and err.retryable
    assert not ComtradeAuthError("x").retryable and ComtradeRateLimitError("x").retryable


# ------------------------------------------------------------------ throttle, retry policy, classification


def test_throttle_spaces_calls_with_the_injected_clock():
    clock = FakeClock()
    t = Throttle(10, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        t.wait()
    assert clock.sleeps == [6.0, 6.0]
    t0 = Throttle(0, clock=clock, sleep=clock.sleep)
    t0.wait()
    t0.wait()
    assert clock.sleeps == [6.0, 6.0]


def test_retry_policy_backs_off_exponentially_or_takes_the_named_wait():
    r = RetryPolicy(base_delay=5, factor=2, max_wait=600)
    assert [r.delay(k, None) for k in (1, 2, 3)] == [5, 10, 20]
    assert r.delay(1, 7.0) == 7.0


@pytest.mark.parametrize("status, body, cls, wait", [
    (401, "error_401.json", ComtradeAuthError, None),
    (403, "error_403_quota.json", ComtradeQuotaError, None),
    (429, "error_429.json", ComtradeRateLimitError, 7.0),
    (500, "error_500.html", ComtradeServerError, None),
    (400, None, ComtradeRequestError, None),
])
def test_classify_statuses(status, body, cls, wait):
    data = body_file(body) if body else b'{"errorObject": {"errorMessage": "bad cmdCode"}}'
    err = classify(Exchange(url="u", status=status, body=data), "", "a call")
    assert type(err) is cls and err.status == status and err.wait == wait
    assert err.api_message
    if status == 500:
        assert "<" not in err.api_message and "Internal server error" in err.api_message


def test_classify_no_answer_is_a_network_error():
    err = classify(Exchange(url="u", error=ConnectionResetError("reset")), "", "a call")
    assert isinstance(err, ComtradeNetworkError) and err.status is None and err.retryable


def test_429_retry_after_header_is_honoured_when_the_message_names_no_wait():
    err = classify(Exchange(url="u", status=429, headers={"Retry-After": "12"}, body=b"{}"), "", "a call")
    assert err.wait == 12.0


# ------------------------------------------------------------------ processing answers


def _query(periods=("202201",), partners=(112,), codes=("854231",)):
    return chunk_query(reporter=156, flow="X", freq="M", periods=list(periods), partners=list(partners),
                       codes=list(codes))


def _envelope(recs, **kw):
    return {"elapsedTime": "0.1 secs", "count": len(recs), "data": recs, "error": "", **kw}


def test_records_in_the_true_schema_become_the_tidy_frame():
    recs = [record(156, 112, "854231", "202201", "X", "M"), record(156, 112, "854231", "202202", "X", "M")]
    q = _query(periods=("202201", "202202"))
    frame = process.records(answer_of(_envelope(recs)), query=q, bound=2, cap=500, edition="H6", what="t")
    assert len(frame) == 2 and list(frame.columns[:47]) == list(FIELDS)
    assert not frame["synthetic"].any() and (frame["cmdCode"] == "854231").all()


def test_template_record_has_the_real_schema(samples):
    real = json.loads((samples / "preview_CHN_import_BRA_1201_2023_envelope.json").read_text())
    fake = record(156, 112, "854231", "202201", "X", "M")
    assert list(fake) == list(real["data"][0]) and len(fake) == 47


@pytest.mark.parametrize("mutate, cls, match", [
    (lambda d: d.update(error="Invalid period"), ComtradeAPIError, "200 with an error"),
    (lambda d: d.update(count=5), ComtradeTruncatedError, "counts 5"),
    (lambda d: d.update(data={"a": 1}), ComtradeResponseError, "not a list"),
    (lambda d: d.pop("data"), ComtradeResponseError, "no 'data'"),
    (lambda d: d["data"][0].update(partnerCode=643), ComtradeResponseError, "outside the query: partnerCode=643"),
    (lambda d: d["data"][0].update(customsCode="C01"), ComtradeResponseError, "customsCode"),
    (lambda d: d["data"][0].update(classificationCode="H5"), ComtradeResponseError, "classificationCode"),
    (lambda d: d["data"][0].update(primaryValue="lots"), ComtradeResponseError, "schema-breaking"),
    (lambda d: d["data"][0].pop("cmdCode"), ComtradeResponseError, "schema-breaking"),
])
def test_answers_that_break_the_envelope_schema_or_query_raise(mutate, cls, match):
    doc = _envelope([record(156, 112, "854231", "202201", "X", "M")])
    mutate(doc)
    with pytest.raises(cls, match=match):
        process.records(answer_of(doc), query=_query(), bound=1, cap=500, edition="H6", what="t")


def test_more_rows_than_the_bound_and_duplicate_cells_raise():
    one = record(156, 112, "854231", "202201", "X", "M")
    with pytest.raises(ComtradeResponseError, match="more than the 1 cells"):
        process.records(answer_of(_envelope([one, one])), query=_query(), bound=1, cap=500, edition="H6", what="t")
    with pytest.raises(ComtradeResponseError, match="same cell twice"):
        process.records(answer_of(_envelope([one, one])), query=_query(), bound=2, cap=500, edition="H6", what="t")


def test_as_many_rows_as_the_cap_is_a_truncated_answer():
    recs = [record(156, 112, "854231", "202201", "X", "M")] * 3
    with pytest.raises(ComtradeTruncatedError, match="cap of 3"):
        process.records(answer_of(_envelope(recs)), query=_query(), bound=10, cap=3, edition="H6", what="t")


def test_malformed_json_raises():
    with pytest.raises(ComtradeResponseError, match="not valid JSON"):
        process.records(answer_of(body_file("malformed.json")), query=_query(), bound=1, cap=500, edition="H6",
                        what="t")


def test_empty_answer_is_an_empty_frame_for_the_caller_to_judge():
    frame = process.records(answer_of(_envelope([])), query=_query(), bound=1, cap=500, edition="H6", what="t")
    assert frame.empty and list(frame.columns[:47]) == list(FIELDS)


def test_availability_keeps_the_latest_release_per_period():
    doc = json.loads(body_file("availability_template.json"))
    second = dict(doc["data"][0], lastReleased="2023-01-05T08:00:00")
    doc["data"].append(second)
    doc["count"] = 2
    av = process.availability(answer_of(doc), freq="M", reporter=156, what="t")
    assert av.to_dict("records") == [{"period": "202203", "classificationCode": "H6",
                                      "lastReleased": "2023-01-05T08:00:00", "totalRecords": 2874133}]
    doc["data"][0]["lastReleased"] = "soon"
    with pytest.raises(ComtradeResponseError, match="lastReleased"):
        process.availability(answer_of(doc), freq="M", reporter=156, what="t")


# ------------------------------------------------------------------ the client, through comtradeapicall


def test_preview_call_goes_through_comtradeapicall_to_the_preview_endpoint(fake, capsys):
    c = client(fake)
    q = _query(periods=("202201", "202202"), partners=(112, 398))
    ans = c.get_data(q)
    path, params = fake.requests[-1]
    assert path == "/public/v1/preview/C/M/HS" and "subscription-key" not in params
    assert params["reportercode"] == "156" and params["period"] == "202201,202202"
    assert params["maxRecords"] == "500" and params["customsCode"] == "C00" and params["breakdownMode"] == "classic"
    assert ans.frame is not None and len(ans.frame) == len(json.loads(ans.body)["data"])
    for mod in (ca_get, ca_availability):  # one permanent seam, handing urllib3 itself to everyone else
        assert type(mod.urllib3) is Urllib3Seam and mod.urllib3.real is urllib3
        assert type(mod.urllib3.PoolManager()) is urllib3.PoolManager
    assert capsys.readouterr().out == ""
    assert c.calls_made == 1 and c.endpoint == "preview" and c.cap == 500


def test_keyed_call_uses_the_keyed_endpoint_and_the_url_the_plan_counted(fake):
    c = client(fake, KEY)
    plan = plan_calls(focal=112, controls=[398], codes=["854231", "901310"], start="2022-01", end="2022-12",
                      endpoint="keyed", api_key=KEY)
    row = plan.iloc[0]
    c.get_data(row["query"])
    path, params = fake.requests[-1]
    assert path == "/data/v1/get/C/M/HS" and params["subscription-key"] == KEY and params["maxRecords"] == "100000"
    sent = "https://comtradeapi.un.org" + fake.raw_urls[-1]
    assert len(sent) == row["url_length"]  # the plan counts the URL exactly as sent
    assert KEY not in repr(c)


def test_availability_call_through_comtradeapicall(fake):
    c = client(fake, KEY)
    av = process.availability(c.get_availability(freq="M", reporter=156), freq="M", reporter=156, what="t")
    assert fake.requests[-1][0] == "/data/v1/getDa/C/M/HS"
    assert av["period"].max() == "202506" and set(av["classificationCode"]) == {"H5", "H6"}


def test_client_retries_only_what_can_pass_and_honours_the_named_wait(fake):
    clock = FakeClock()
    c = client(fake, clock=clock)
    fake.fail(Response(429, body_file("error_429.json")))
    fake.fail(Response(500, body_file("error_500.html"), {"Content-Type": "text/html"}), times=2)
    c.get_data(_query())
    assert c.calls_made == 4 and c.retries == 3
    assert clock.sleeps == [7.0, 10.0, 20.0]  # the named wait, then 5 x 2^(attempt-1)


def test_client_does_not_retry_a_bad_key(fake):
    c = client(fake, KEY)
    fake.fail(Response(401, body_file("error_401.json")), times=None)
    with pytest.raises(ComtradeAuthError, match="HTTP 401: Access denied due to invalid subscription key"):
        c.get_data(_query())
    assert len(fake.requests) == 1 and c.calls_made == 1


def test_client_gives_up_after_the_bounded_attempts(fake):
    c = client(fake, retry=RetryPolicy(max_attempts=3))
    fake.fail(Response(503, b"busy"), times=None)
    with pytest.raises(ComtradeServerError, match="gave up after 3 attempts"):
        c.get_data(_query())
    assert len(fake.requests) == 3


def test_client_refuses_waits_longer_than_the_limit(fake):
    c = client(fake, retry=RetryPolicy(max_wait=60))
    fake.fail(Response(429, b'{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 3600 seconds."}'))
    with pytest.raises(ComtradeRateLimitError, match="wait 3600s"):
        c.get_data(_query())
    assert len(fake.requests) == 1


def test_quota_counter_stops_before_the_limit(fake):
    c = client(fake, KEY, daily_quota=2)
    c.get_data(_query())
    c.get_data(_query())
    with pytest.raises(ComtradeQuotaError, match="daily quota of 2 calls"):
        c.get_data(_query())
    assert len(fake.requests) == 2 and str(c.quota) == "2/2"
    assert client(fake, KEY).quota.limit == 500 and client(fake).quota.limit is None


def test_network_error_is_typed_and_keyless(capsys):
    clock = FakeClock()
    c = ComtradeClient(KEY, base_url="http://127.0.0.1:9", calls_per_minute=0, clock=clock, sleep=clock.sleep,
                       retry=RetryPolicy(max_attempts=2))
    with pytest.raises(ComtradeNetworkError) as info:
        c.get_data(_query())
    assert info.value.status is None and "no answer from Comtrade" in str(info.value)
    assert KEY not in str(info.value) and "subscription-key=***" in str(info.value)
    assert capsys.readouterr().out == ""  # the seam stops comtradeapicall before its print (with the URL)
    assert clock.sleeps == [5.0]


def test_a_200_with_a_malformed_body_is_not_retried(fake):
    c = client(fake)
    fake.fail(Response(200, body_file("malformed.json")))
    ans = c.get_data(_query())  # the transport succeeded; judging the body is the next stage
    with pytest.raises(ComtradeResponseError):
        process.records(ans, query=_query(), bound=1, cap=500, edition="H6", what="t")
    assert c.calls_made == 1


def test_every_comtrade_error_is_a_tradeflows_error():
    for cls in (ComtradeAPIError, ComtradeAuthError, ComtradeNetworkError, ComtradeQuotaError,
                ComtradeRateLimitError, ComtradeRequestError, ComtradeResponseError, ComtradeServerError,
                ComtradeTruncatedError):
        assert issubclass(cls, ComtradeError) and issubclass(cls, TradeflowsError)


# ------------------------------------------------------------------ the seam: nothing process-wide per call


def test_the_seam_is_installed_once_and_never_nested():
    before = (ca_get.urllib3, ca_availability.urllib3)
    install_seam()
    install_seam()
    assert (ca_get.urllib3, ca_availability.urllib3) == before
    assert all(type(s) is Urllib3Seam and s.real is urllib3 for s in before)
    assert ca_get.urllib3.exceptions is urllib3.exceptions and ca_get.urllib3.Retry is urllib3.Retry


def test_a_concurrent_threads_prints_and_comtradeapicall_calls_are_neither_captured_nor_disturbed(
        fake, capsys, monkeypatch):
    in_flight, other_done = threading.Event(), threading.Event()

    class Held:
        """Our transport: keeps our request in flight until the other thread has printed and called."""

        def __init__(self) -> None:
            self.pool = default_transport()

        def request(self, method, url, fields=None, **kw):
            in_flight.set()
            assert other_done.wait(10), "the other thread did not finish"
            return self.pool.request(method, url, fields=fields, **kw)

    class ToFake(urllib3.PoolManager):
        """urllib3's own pool manager, only sent to the fake instead of comtradeapi.un.org."""

        def request(self, method, url, fields=None, **kw):
            return super().request(method, url.replace(BASE_URL, fake.url), fields=fields, **kw)

    monkeypatch.setattr(urllib3, "PoolManager", ToFake)  # what a plain comtradeapicall user gets in this test
    fake.fail(Response(500, b"the other thread's failure"), when=lambda path, p: p.get("partnerCode") == "417")
    seen: dict[str, object] = {}

    def other() -> None:
        try:
            assert in_flight.wait(10)
            print("the other thread says hello")
            args = ("C", "M", "HS", "202201", 156, "854231", "X")
            seen["frame"] = comtradeapicall.previewFinalData(*args, "398", 0, "C00", 0, maxRecords=500)
            seen["failed"] = comtradeapicall.previewFinalData(*args, "417", 0, "C00", 0, maxRecords=500)
        except BaseException as exc:  # reported by the assertions below
            seen["error"] = exc
        finally:
            other_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    c = ComtradeClient(None, transport=Held(), base_url=fake.url, calls_per_minute=0)
    ans = c.get_data(_query(periods=("202201",), partners=(112,)))
    thread.join(10)
    assert "error" not in seen, seen.get("error")
    # our call saw exactly its own exchange, made last (held until the other thread was done)
    assert c.calls_made == 1 and [p["partnerCode"] for _, p in fake.requests] == ["398", "417", "112"]
    assert {r["partnerCode"] for r in json.loads(ans.body)["data"]} == {112}
    # the other thread's calls went to real urllib3 and behaved as comtradeapicall always does
    frame = seen["frame"]
    assert isinstance(frame, pd.DataFrame) and len(frame) and set(frame["partnerCode"]) == {398}
    assert seen["failed"] is None
    out = capsys.readouterr().out
    assert "the other thread says hello" in out  # not captured by our call
    assert "the other thread's failure" in out  # comtradeapicall's own print of a non-200, not swallowed


def test_two_clients_in_two_threads_run_at_once_and_see_only_their_own_exchange(fake, capsys):
    together = threading.Barrier(2, timeout=10)

    class Together:
        """Both requests are in flight inside comtradeapicall at the same time (no lock serialises them)."""

        def __init__(self) -> None:
            self.pool = default_transport()

        def request(self, method, url, fields=None, **kw):
            together.wait()
            return self.pool.request(method, url, fields=fields, **kw)

    fake.fail(Response(503, b"busy"), when=lambda path, p: p.get("partnerCode") == "398")
    results: dict[int, object] = {}

    def call(partner: int) -> None:
        c = ComtradeClient(None, transport=Together(), base_url=fake.url, calls_per_minute=0,
                           retry=RetryPolicy(max_attempts=1))
        try:
            results[partner] = c.get_data(_query(partners=(partner,)))
        except ComtradeError as exc:
            results[partner] = exc

    threads = [threading.Thread(target=call, args=(p,)) for p in (112, 398)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    ok, failed = results[112], results[398]
    assert isinstance(ok, Answer) and {r["partnerCode"] for r in json.loads(ok.body)["data"]} == {112}
    assert isinstance(failed, ComtradeServerError) and failed.status == 503 and failed.api_message == "busy"
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ issue 12: answers not to store, deadline, budget


@pytest.mark.parametrize("doc, cls, match", [
    ({"elapsedTime": "0.1 secs", "data": [], "error": ""}, ComtradeResponseError, "has no 'count'"),
    ({"count": "1", "data": [], "error": ""}, ComtradeResponseError, "count '1' is not a number of records"),
    ({"count": True, "data": [], "error": ""}, ComtradeResponseError, "count True is not a number"),
    ({"error": "Service temporarily unavailable"}, ComtradeAPIError, "Service temporarily unavailable"),
    ({"statusCode": 200, "message": "Use the keyed endpoint"}, ComtradeResponseError, "Use the keyed endpoint"),
    (b"[" * 50_000 + b"]" * 50_000, ComtradeResponseError, "not valid JSON.*nested too deeply"),
    (b'{"count": 1, "data": [{"primaryValue": NaN}], "error": ""}', ComtradeResponseError, "NaN is not a JSON"),
])
def test_envelopes_that_cannot_be_stored_raise_typed_errors_with_the_apis_message(doc, cls, match):
    with pytest.raises(cls, match=match):
        process.envelope(answer_of(doc), "t")


def test_an_error_envelope_keeps_the_apis_message_as_api_message():
    with pytest.raises(ComtradeAPIError) as info:
        process.envelope(answer_of({"error": "Invalid reporter"}), "t")
    assert info.value.api_message == "Invalid reporter" and info.value.status == 200


@pytest.mark.parametrize("data", [[], [dict(json.loads(body_file("availability_template.json"))["data"][0],
                                            reporterCode=643)]])
def test_availability_listing_nothing_for_the_reporter_is_an_error(data):
    with pytest.raises(ComtradeEmptyError, match="no released M data for reporter 156"):
        process.availability(answer_of({"count": len(data), "data": data, "error": ""}), freq="M", reporter=156,
                             what="t")


@pytest.mark.parametrize("change, match", [
    ({"primaryValue": 1e30, "fobvalue": 1e30}, r"row 1, field primaryValue: 1e\+30 USD is above"),
    ({"netWgt": -3.0}, "row 1, field netWgt: negative: -3"),
    ({"reporterISO": "BLR", "partnerISO": "CHN"}, "field reporterISO.*swapped"),
    ({"refYear": 2021}, "row 1, field refYear: 2021 does not match period 202201"),
])
def test_implausible_records_in_an_answer_are_refused_naming_row_and_field(change, match):
    rec = dict(record(156, 112, "854231", "202201", "X", "M"), **change)
    with pytest.raises(ComtradeResponseError, match=match):
        process.records(answer_of(_envelope([rec])), query=_query(), bound=1, cap=500, edition="H6", what="t")


def test_a_period_after_today_is_refused():
    rec = record(156, 112, "854231", "202201", "X", "M")
    with pytest.raises(ComtradeResponseError, match="202201 is in the future"):
        process.records(answer_of(_envelope([rec])), query=_query(), bound=1, cap=500, edition="H6", what="t",
                        today=pd.Timestamp("2021-12-31"))


def test_deadline_shuts_the_sockets_it_watches_when_it_passes():
    class Conn:
        def __init__(self, sock):
            self.sock = sock

    ours, theirs = socket.socketpair()
    with ours, theirs:
        began = time.monotonic()
        with Deadline(0.3) as deadline:
            deadline.watch(Conn(ours))
            ours.settimeout(5)
            assert ours.recv(1) == b""  # unblocked by the shutdown, not by the 5 s timeout
        assert deadline.expired and 0.25 < time.monotonic() - began < 2
    with Deadline(0.05) as quick:
        pass  # finished in time: the timer never fires
    assert not quick.expired


def test_default_transport_connections_are_watched_by_the_deadline():
    pool = default_transport()
    assert pool.connection_from_url("http://127.0.0.1:9").ConnectionCls is _WatchedHTTPConnection
    assert pool.connection_from_url("https://comtradeapi.un.org").ConnectionCls is _WatchedHTTPSConnection


def test_headers_trickling_one_byte_at_a_time_fail_within_the_deadline():
    with TrickleComtrade(gap=0.3, headers_too=True) as slow:
        c = client(slow, deadline=1.0, retry=RetryPolicy(max_attempts=1))
        began = time.monotonic()
        with pytest.raises(ComtradeDeadlineError, match="deadline of 1 s"):
            c.get_data(_query())
        assert time.monotonic() - began < 2.5 and slow.bytes_trickled >= 1


def test_budget_stops_retries_whose_wait_it_cannot_cover(fake):
    fake.fail(Response(500, b"oops"), times=None)
    clock = FakeClock()
    c = client(fake, budget=12, clock=clock)
    with pytest.raises(ComtradeBudgetError, match="a retry would wait 10 s.*time budget of 12 s is spent"):
        c.get_data(_query())
    assert clock.sleeps == [5.0] and c.calls_made == 2 and c.budget_left() == 7.0


def test_a_spent_budget_makes_no_call(fake):
    clock = FakeClock()
    c = client(fake, budget=60, clock=clock)
    clock.now += 61
    with pytest.raises(ComtradeBudgetError, match="not called"):
        c.get_data(_query())
    assert c.calls_made == 0 and fake.requests == []


@pytest.mark.parametrize("kw", [{"deadline": 0}, {"budget": -5}, {"deadline": float("inf")}, {"budget": True}])
def test_client_refuses_a_deadline_or_budget_that_is_not_a_positive_number(kw):
    with pytest.raises(InputError, match="positive number of seconds"):
        ComtradeClient(None, **kw)
