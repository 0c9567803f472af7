"""tradeflows: UN Comtrade trade-flow statistics for dual-use goods (China -> Belarus).

The public API, in the order of a study (each name is imported on first use,
so ``import analysis`` stays fast)::

    import analysis

    records = analysis.load_demo()            # SYNTHETIC demo panel (or Store().read() for real data)
    series  = analysis.build_series(records)  # monthly series per partner and HS code family
    table   = analysis.compare(series)        # before/after ratios and relative ratios vs controls
    did     = analysis.did(series)            # family DiD, event study, triple difference
    found   = analysis.find_anomalies(series) # level shifts, spikes, new flows, ...
    fig     = analysis.plot_series(series, group="optics")
    result  = analysis.analyze(records)       # all of the above in one call
    analysis.write_report(result, "report")   # report.html, report.md, figures/, tables/

Data in: :func:`fetch` (UN Comtrade API into the local :class:`Store`),
:func:`import_files` (downloaded files into the store), :func:`load_demo`.
Look-ups: :func:`search_codes`, :func:`resolve_country`, :func:`parse_window`.
Every table is a pandas DataFrame (shown as a table in Jupyter), every figure
a matplotlib Figure; anything made from synthetic data says so.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, str]] = {
    # data in
    "load_demo": ("demo", "load_demo"),
    "ground_truth": ("demo", "ground_truth"),
    "Store": ("store", "Store"),
    "fetch": ("fetch", "fetch"),
    "import_files": ("importers", "import_files"),
    # look-ups
    "search_codes": ("registry", "search_codes"),
    "families": ("registry", "families"),
    "groups": ("registry", "groups"),
    "resolve_country": ("countries", "resolve_country"),
    "resolve_countries": ("countries", "resolve_countries"),
    "COMPARISON_PARTNERS": ("countries", "COMPARISON_PARTNERS"),
    "parse_window": ("periods", "parse_window"),
    # analysis
    "build_series": ("series", "build_series"),
    "compare": ("compare", "compare"),
    "did": ("did", "did"),
    "find_anomalies": ("anomalies", "find_anomalies"),
    "counterfactual_band": ("anomalies", "counterfactual_band"),
    "analyze": ("pipeline", "analyze"),
    "AnalysisResult": ("pipeline", "AnalysisResult"),
    # figures and report
    "plot_series": ("plots", "plot_series"),
    "plot_group_index": ("plots", "plot_group_index"),
    "plot_relative_ratios": ("plots", "plot_relative_ratios"),
    "plot_event_study": ("plots", "plot_event_study"),
    "plot_counterfactual": ("plots", "plot_counterfactual"),
    "plot_mirror": ("plots", "plot_mirror"),
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
                  and k not in ("sys", "types", "importlib")}
    return sorted(set(__all__) | submodules)


_SHADOWED = frozenset(name for name, (module, _) in _EXPORTS.items() if name == module)
"""Public functions named like the submodule that defines them (compare, did, fetch)."""


class _Package(types.ModuleType):
    """The ``analysis`` package: ``analysis.compare`` stays the function when the submodule is imported.

    Importing a submodule binds it as an attribute of its package; for the
    names in ``_SHADOWED`` that binding is skipped, so ``analysis.compare(...)``
    is always the function. The submodules themselves stay importable
    (``from analysis.compare import COMPARE_COLUMNS``, ``sys.modules``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .anomalies import counterfactual_band, find_anomalies
    from .compare import compare
    from .countries import COMPARISON_PARTNERS, resolve_countries, resolve_country
    from .demo import ground_truth, load_demo
    from .did import did
    from .errors import InputError, TradeflowsError
    from .fetch import fetch
    from .importers import import_files
    from .periods import parse_window
    from .pipeline import AnalysisResult, analyze
    from .plots import (plot_counterfactual, plot_event_study, plot_group_index, plot_mirror,
                        plot_relative_ratios, plot_series, save_figure)
    from .registry import families, groups, search_codes
    from .report import write_report
    from .series import build_series
    from .store import Store
