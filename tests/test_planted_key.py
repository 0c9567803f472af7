"""The planted COMTRADE_API_KEY (issue 12, part 5): it is set for the whole session, and the leak check can fail.

The check itself runs at the end of every session (tests/planted_key.py); these tests show that it sees what
it must (files, captured output, logs) and that a leaking test really fails a session.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from planted_key import KEY_ENV, PLANTED_ENV, LeakDetector, LeakHandler, planted

from analysis import fetching
from analysis.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.comtrade_server import FakeComtrade, Response  # noqa: E402

HERE = Path(__file__).resolve().parent
OTHER = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_the_session_plants_a_key_shaped_like_a_real_one():
    key = os.environ[KEY_ENV]
    assert key == planted() and len(key) == 32 and all(c in "0123456789abcdef" for c in key)


def test_the_detector_finds_the_key_in_text_files_and_logs_in_any_form(tmp_path):
    detector = LeakDetector(OTHER)
    detector.text("clean", "nothing here, subscription-key=***")
    (tmp_path / "clean.txt").write_text("no secret")
    detector.folder(tmp_path)
    assert detector.places == []
    detector.text("url", f"GET /data?subscription-key={OTHER.upper()}")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "leak.parquet").write_bytes(b"\x00PAR1" + OTHER.encode() + b"\x00")
    detector.folder(tmp_path)
    logger = logging.getLogger("tradeflows.test.planted")
    handler = LeakHandler(detector)
    logger.addHandler(handler)
    try:
        logger.error("calling %s", f"https://x/?k={OTHER}")
    finally:
        logger.removeHandler(handler)
    assert detector.places[0] == "url" and detector.places[1].endswith("leak.parquet")
    assert detector.places[2].startswith("log record") and len(detector.places) == 3
    assert all(OTHER not in place for place in detector.places)  # the report names places, never the key


def test_a_verbose_keyed_fetch_with_retries_and_an_echoing_server_leaks_nothing(tmp_path, capsys, monkeypatch):
    """The planted key from the environment is sent, and the session check then finds it in no output."""
    real = fetching.fetch
    with FakeComtrade() as fake:
        fake.fail(lambda path, p: Response(500, f'{{"message": "failed {path}?{p}"}}'.encode()),
                  when=lambda path, p: "getDa" not in path)  # a server error that quotes the query, key included
        monkeypatch.setattr(fetching, "fetch", lambda *a, **kw: real(
            *a, **{**kw, "base_url": fake.url, "calls_per_minute": 0, "sleep": lambda s: None}))
        status = main(["--verbose", "fetch", "--store", str(tmp_path / "store"), "--partner", "112", "--controls",
                       "none", "--codes", "854231", "--start", "2022-01", "--end", "2022-02"])
        sent = [p.get("subscription-key") for _, p in fake.requests]
    out = capsys.readouterr()
    assert status == 0 and "complete" in out.out
    assert planted() in sent and planted() not in out.out + out.err


@pytest.mark.parametrize("leak", [False, True])
def test_a_leaking_test_fails_the_session(tmp_path, leak):
    """An inner pytest session with the same check: a test that prints and writes its key fails it."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        from planted_key import capsys, planted_comtrade_key, pytest_runtest_logreport, pytest_warning_recorded
    """))
    body = ("print('the key is', os.environ['COMTRADE_API_KEY'])\n"
            "    (tmp_path / 'out.txt').write_text(os.environ['COMTRADE_API_KEY'])" if leak else "pass")
    (inner / "test_inner.py").write_text(f"import os\n\n\ndef test_inner(tmp_path):\n    {body}\n")
    env = {**os.environ, PLANTED_ENV: OTHER}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(inner),
                           "--basetemp", str(tmp_path / "inner_tmp"), str(inner)],
                          cwd=inner, env=env, capture_output=True, text=True, timeout=120)
    report = done.stdout + done.stderr
    if not leak:
        assert done.returncode == 0, report
        return
    assert done.returncode == 1, report
    assert "the planted COMTRADE_API_KEY leaked into 2 place(s)" in report
    assert "test_inner.py::test_inner: Captured stdout call" in report and "out.txt" in report
    verdict = next(line for line in report.splitlines() if "leaked into" in line)
    assert OTHER not in verdict  # the check names places, never the key (pytest shows the failing test's output)
