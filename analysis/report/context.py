"""What every section of the report reads: the analysis result, the data source and the drawn figures."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..provenance import DataSource
from ..results import AnalysisResult
from ..study import Study
from . import words
from .document import Figure


@dataclass(frozen=True)
class Context:
    """One report's inputs; the sections only read them (nothing is estimated in the report)."""

    result: AnalysisResult
    source: DataSource
    figures: Mapping[str, Figure] = field(default_factory=dict)
    anomaly_figures: tuple[str, ...] = ()

    @property
    def study(self) -> Study:
        return self.result.study

    @property
    def config(self) -> dict[str, Any]:
        return self.result.config_dict()

    @property
    def compare(self) -> pd.DataFrame:
        return self.result.compare

    @property
    def findings(self) -> pd.DataFrame:
        return self.result.findings

    @property
    def alpha(self) -> float:
        return float(self.result.config.alpha)

    @property
    def focal(self) -> int:
        return self.study.focal

    @property
    def fname(self) -> str:
        """The focal partner's name."""
        return words.name(self.study.focal)

    @property
    def rname(self) -> str:
        """The reporter's name."""
        return words.name(self.study.reporter)

    @property
    def demo(self) -> bool:
        return self.source.origin == "demo"

    @property
    def focal_own_last(self) -> str | None:
        """The last period (``YYYY-MM`` or ``YYYY``) of the focal partner's own records of its trade with the
        reporter (the mirror side), None when the data hold none."""
        cov = self.source.coverage
        own = cov[(cov["reporter"] == self.focal) & (cov["partner"] == self.study.reporter)] if len(cov) else cov
        if own.empty:
            return None
        last = str(own["last_period"].astype(str).max())
        return f"{last[:4]}-{last[4:]}" if len(last) == 6 else last

    def figure(self, name: str) -> list[Figure]:
        """``[figure]`` when it was drawn, else ``[]``."""
        return [self.figures[name]] if name in self.figures else []
