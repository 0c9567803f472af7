"""The walkthrough notebook runs top to bottom, offline, and every step yields a table or a figure."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "reports" / "notebooks").glob("*.ipynb"))


def test_there_is_a_walkthrough():
    assert any(p.name == "walkthrough.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEFLOWS_HOME", str(tmp_path / "home"))  # never touch a real store
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except CellExecutionError as exc:  # the failing cell and its traceback, not just "a cell failed"
        pytest.fail(f"{path.name}: a cell failed:\n{exc}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    results = [o for c in code for o in c.outputs if o.output_type == "execute_result"]
    tables = [o for o in results if "text/html" in o["data"] and "<table" in o["data"]["text/html"]]
    figures = [o for o in results if "image/png" in o["data"]]
    if path.name == "walkthrough.ipynb":
        assert len(tables) >= 6, "load, series, compare, controls, anomalies, analyze each show a table"
        assert len(figures) >= 3, "the plots show as figures"
        shown = " ".join(o["data"].get("text/html", "") for o in results)
        assert "SYNTHETIC" in shown  # the AnalysisResult says the data are synthetic
