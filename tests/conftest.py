"""Shared test fixtures: the real Comtrade samples in ../shared and the demo panel."""
from __future__ import annotations

from pathlib import Path

import pytest
from planted_key import (  # noqa: F401 - the session's planted COMTRADE_API_KEY and its leak check (issue 12)
    capsys,
    planted_comtrade_key,
    pytest_runtest_logreport,
    pytest_warning_recorded,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "comtrade-samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    """Folder of the real Comtrade responses and exports (provided beside the project)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/comtrade-samples is not beside the project")
    return SHARED


def load_script(name: str):
    """Import ``scripts/<name>.py`` as a module (the validation and check scripts are tested too)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def demo_panel():
    from analysis.demo import load_demo

    return load_demo()


@pytest.fixture(scope="session")
def demo_series(demo_panel):
    """The demo panel's series frame (SYNTHETIC), built once for the session."""
    from analysis.series import build_series

    return build_series(demo_panel)


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory):
    """`tradeflows report` run with no arguments on a "fresh machine" (empty TRADEFLOWS_HOME, clean cwd).

    Returns ``(exit_status, stdout, stderr, folder)``; shared by tests/test_cli.py and tests/test_report.py
    because the run takes tens of seconds.
    """
    import contextlib
    import io

    from analysis.cli import main

    home = tmp_path_factory.mktemp("home")
    cwd = tmp_path_factory.mktemp("cwd")
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADEFLOWS_HOME", str(home))
        mp.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["report"])
        assert not any(home.iterdir()), "a report run must not create a store"
    return status, out.getvalue(), err.getvalue(), cwd / "tradeflows-report"
