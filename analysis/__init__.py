"""tradeflows: UN Comtrade trade-flow statistics for dual-use goods (China -> Belarus)."""
from __future__ import annotations

__version__ = "0.1.0"
