"""A planted fake Comtrade key for the whole test session, and the check that it never leaks (issue 12, part 5).

``tests/conftest.py`` imports this module's fixtures and hooks. For the whole
session ``COMTRADE_API_KEY`` holds :func:`planted` (32 hex digits, shaped like
a real key, which it is not), so every test that fetches without an explicit
key sends it. Everything the suite outputs is checked for it (and its
URL-quoted forms): every file under the session's temporary folder, the
captured stdout, stderr and log of every test phase, what tests read through
``capsys``, every log record and warning, and every failure report. A leak
fails the session: the teardown of its last test errors, naming the places
(never the key). ``$TRADEFLOWS_PLANTED_KEY`` replaces the planted value, so a
test can run an inner session that leaks a key of its own on purpose.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

PLANTED_ENV = "TRADEFLOWS_PLANTED_KEY"
DEFAULT_PLANTED = "f00dfacec0ffee5eedbadc0de0ddba11"
KEY_ENV = "COMTRADE_API_KEY"


def planted() -> str:
    """The key planted in this session."""
    return os.environ.get(PLANTED_ENV, DEFAULT_PLANTED)


class LeakDetector:
    """Collects the places where a secret appears (in any of its forms); never stores the secret's text."""

    def __init__(self, secret: str) -> None:
        self.forms = {secret, quote(secret, safe=""), quote_plus(secret), secret.upper()}
        self.byte_forms = {f.encode() for f in self.forms}
        self.places: list[str] = []

    def text(self, place: str, text: str | None) -> None:
        if text and any(form in text for form in self.forms):
            self.places.append(place)

    def folder(self, root: Path) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(form in data for form in self.byte_forms):
                    self.places.append(f"file {path}")


class LeakHandler(logging.Handler):
    """A root logging handler that hands every record (message, traceback) to a :class:`LeakDetector`."""

    def __init__(self, detector: LeakDetector) -> None:
        super().__init__(logging.NOTSET)
        self.detector = detector

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: its raw parts are checked instead
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        self.detector.text(f"log record of {record.name}", f"{text} {record.exc_text or ''}")


_DETECTOR = LeakDetector(planted())


class CheckedCapture:
    """pytest's ``capsys``, whose ``readouterr()`` results are checked for the planted key too."""

    def __init__(self, inner: Any, nodeid: str) -> None:
        self._inner, self._nodeid = inner, nodeid

    def readouterr(self) -> Any:
        result = self._inner.readouterr()
        _DETECTOR.text(f"{self._nodeid}: output read through capsys", f"{result.out}\n{result.err}")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def capsys(capsys: Any, request: pytest.FixtureRequest) -> CheckedCapture:
    """pytest's capsys, checked for the planted key (what a test reads is output too)."""
    return CheckedCapture(capsys, request.node.nodeid)


@pytest.fixture(scope="session", autouse=True)
def planted_comtrade_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``COMTRADE_API_KEY`` = the planted key for the session; at its end, no output may hold it."""
    handler = LeakHandler(_DETECTOR)
    root = logging.getLogger()
    root.addHandler(handler)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, planted())
        try:
            yield planted()
        finally:
            root.removeHandler(handler)
    _DETECTOR.folder(tmp_path_factory.getbasetemp())
    if _DETECTOR.places:
        shown = "; ".join(_DETECTOR.places[:12])
        pytest.fail(f"the planted COMTRADE_API_KEY leaked into {len(_DETECTOR.places)} place(s): {shown}",
                    pytrace=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Captured stdout, stderr and log of every test phase, and any failure report."""
    for name, content in report.sections:
        _DETECTOR.text(f"{report.nodeid}: {name}", content)
    if report.longrepr is not None:
        _DETECTOR.text(f"{report.nodeid}: {report.when} report", report.longreprtext)


def pytest_warning_recorded(warning_message: Any, when: str, nodeid: str, location: Any) -> None:
    """Warnings issued anywhere in the session."""
    _DETECTOR.text(f"warning in {nodeid or when}", str(warning_message.message))
