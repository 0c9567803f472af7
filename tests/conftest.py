"""Shared test fixtures: the real Comtrade samples in ../shared and the demo panel."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "comtrade-samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    """Folder of the real Comtrade responses and exports (provided beside the project)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/comtrade-samples is not beside the project")
    return SHARED


@pytest.fixture(scope="session")
def demo_panel():
    from analysis.demo import load_demo

    return load_demo()
