"""tradeflows: UN Comtrade trade-flow statistics for dual-use goods (China -> Belarus).

The public API, in the order of a study (each name is imported on first use,
so ``import analysis`` stays fast)::

    import analysis

    study   = analysis.Study(focal="Belarus", pre="2019:2021")  # the question (defaults: China -> Belarus)
    records = analysis.load_demo()            # SYNTHETIC demo panel (or Store().read() for real data)
    series  = analysis.build_series(records)  # monthly series per partner and HS code family
    table   = analysis.compare(series, study) # a CompareResult: before/after and relative ratios
    did     = analysis.did(series, study)     # a DidResult: family DiD, event study, triple difference
    found   = analysis.find_anomalies(series, study)  # an AnomalyResult: level shifts, spikes, ...
    fig     = analysis.plot_series(series, study, group="optics")
    result  = analysis.analyze(records, study)  # all of the above in one call: an AnalysisResult
    analysis.write_report(result, "report")   # report.html, report.md, figures/, tables/

Every function that takes ``study`` also takes its fields as keywords
(``analysis.compare(series, focal="BLR", pre="2019:2021")``).

Data in: :func:`fetch` (UN Comtrade API into the local :class:`Store`),
:func:`import_files` (downloaded files into the store), :func:`load_demo`.
Look-ups: :func:`search_codes`, :func:`resolve_country`, :func:`parse_window`.
Submodules are named after their stage (``comparison``, ``diffindiff``,
``fetching``, ...), never after a public function, so ``analysis.compare`` is
always the function and ``import analysis.comparison`` always the module.
Every table is a pandas DataFrame (shown as a table in Jupyter), every figure
a matplotlib Figure; anything made from synthetic data says so.
"""
from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, str]] = {
    # data in
    "load_demo": ("demo", "load_demo"),
    "ground_truth": ("demo", "ground_truth"),
    "Store": ("store", "Store"),
    "fetch": ("fetching", "fetch"),
    "plan_calls": ("fetching", "plan_calls"),
    "import_files": ("importers", "import_files"),
    "repair_store": ("store", "repair_store"),
    # look-ups
    "search_codes": ("registry", "search_codes"),
    "families": ("registry", "families"),
    "groups": ("registry", "groups"),
    "resolve_country": ("countries", "resolve_country"),
    "resolve_countries": ("countries", "resolve_countries"),
    "COMPARISON_PARTNERS": ("countries", "COMPARISON_PARTNERS"),
    "parse_window": ("periods", "parse_window"),
    # the question
    "Study": ("study", "Study"),
    # analysis
    "build_series": ("series", "build_series"),
    "compare": ("comparison", "compare"),
    "did": ("diffindiff", "did"),
    "find_anomalies": ("anomalies", "find_anomalies"),
    "counterfactual_band": ("anomalies", "counterfactual_band"),
    "analyze": ("pipeline", "analyze"),
    "AnalysisResult": ("results", "AnalysisResult"),
    "CompareResult": ("results", "CompareResult"),
    "DidResult": ("results", "DidResult"),
    "AnomalyResult": ("results", "AnomalyResult"),
    "describe_source": ("provenance", "describe_source"),
    "who_supplies": ("suppliers", "who_supplies"),
    "SuppliersResult": ("suppliers", "SuppliersResult"),
    "screen_store": ("screen", "screen_store"),
    "ScreenResult": ("screen", "ScreenResult"),
    # figures and report
    "plot_series": ("plots", "plot_series"),
    "plot_group_index": ("plots", "plot_group_index"),
    "plot_relative_ratios": ("plots", "plot_relative_ratios"),
    "plot_event_study": ("plots", "plot_event_study"),
    "plot_counterfactual": ("plots", "plot_counterfactual"),
    "plot_mirror": ("plots", "plot_mirror"),
    "plot_transit": ("plots", "plot_transit"),
    "plot_finding": ("plots", "plot_finding"),
    "save_figure": ("plots", "save_figure"),
    "write_report": ("report", "write_report"),
    # errors
    "TradeflowsError": ("errors", "TradeflowsError"),
    "InputError": ("errors", "InputError"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562): keeps ``import analysis`` light."""
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    submodules = {k for k, v in globals().items() if isinstance(v, types.ModuleType) and not k.startswith("_")
                  and k not in ("types", "importlib")}
    return sorted(set(__all__) | submodules)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .anomalies import counterfactual_band, find_anomalies
    from .comparison import compare
    from .countries import COMPARISON_PARTNERS, resolve_countries, resolve_country
    from .demo import ground_truth, load_demo
    from .diffindiff import did
    from .errors import InputError, TradeflowsError
    from .fetching import fetch, plan_calls
    from .importers import import_files
    from .periods import parse_window
    from .pipeline import analyze
    from .plots import (
        plot_counterfactual,
        plot_event_study,
        plot_finding,
        plot_group_index,
        plot_mirror,
        plot_relative_ratios,
        plot_series,
        plot_transit,
        save_figure,
    )
    from .provenance import describe_source
    from .registry import families, groups, search_codes
    from .report import write_report
    from .results import AnalysisResult, AnomalyResult, CompareResult, DidResult
    from .screen import ScreenResult, screen_store
    from .series import build_series
    from .store import Store, repair_store
    from .study import Study
    from .suppliers import SuppliersResult, who_supplies
