"""The look of every figure: page sizes and fonts, the palette, the figure class, the words and numbers a
figure shows, and text measured and wrapped.

Every other module of :mod:`analysis.plots` draws with these; they are apart from the drawing so that
the report can write the same labels (area and group names, windows, flows) in its text as the figures
show, without importing any figure.
"""
from __future__ import annotations

import io
from functools import lru_cache

import pandas as pd
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from .. import registry
from ..countries import CHINA, area_name
from ..errors import InputError
from ..periods import Window
from ..study import FLOW_VALUATION, FLOW_WORDS, Study

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
"""The Okabe-Ito colour-blind-safe palette."""

FOCAL_COLOR = OKABE_ITO["blue"]
CONTROL_COLOR = OKABE_ITO["orange"]
TRANSIT_COLOR = OKABE_ITO["green"]
FLAG_COLOR = OKABE_ITO["vermillion"]
BAND_COLOR = OKABE_ITO["sky"]
GREY = "#7f7f7f"

EVENT_DATE = pd.Timestamp("2022-02-24")
"""Russia's full-scale invasion of Ukraine: the break line of a monthly study whose post window starts in 2022-03."""

DPI = 200
SYNTHETIC_LABEL = "SYNTHETIC DATA"

PAGE_WIDTH = 6.5
"""Width of every figure, inches: a page column (US letter or A4 with one-inch margins)."""
MIN_FONT = 8.0
"""Smallest font size of any text on a figure, points (at :data:`PAGE_WIDTH`)."""
TITLE_SIZE = 10.5
SUBTITLE_SIZE = 8.5
TEXT_SIZE = 8.0
"""Tick labels, axis labels, panel titles, legends and the source line."""
MAX_HEIGHT = 9.0
"""Tallest figure, inches: a page of text (11 inches less the margins)."""
SERIES_PANEL_H = 0.9
"""Height of one panel of the small multiples, inches."""
SHARED_PANEL_H = 0.72
"""Height of one panel of small multiples on a shared y axis (group index, event study), inches."""
FRAME_ROOM = 1.9
"""Inches a figure's title, legend and source line take, for fitting panels into :data:`MAX_HEIGHT`."""

CONTROL_KINDS = ("control", "common_shock")
"""Registry kinds that are checks rather than the question (control goods, goods with a known common shock)."""


class TradeflowsFigure(Figure):
    """A matplotlib Figure that shows itself in Jupyter whatever the backend (``_repr_png_``).

    Figures are made without pyplot, so drawing many of them (the report)
    keeps no global state and needs no display; ``savefig`` works as usual.
    ``notes`` holds sentences a caption must carry to match the marks (an
    interval drawn to the frame, a family left out).
    """

    synthetic: bool = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []
        self._boxes: list[tuple[object, float, float, float, float]] = []
        self._body_height = 0.0

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, facecolor="white")
        return buf.getvalue()


# --------------------------------------------------------------------------- words and numbers

def area_label(code: int) -> str:
    """Comtrade's name of an area code, or the code itself when the area table does not know it."""
    try:
        return area_name(code)
    except InputError:
        return str(code)


def group_label(group: str) -> str:
    """A registry group's readable name (``Outside the registry`` for codes in no group)."""
    names = registry.load_registry().group_names
    if group in names:
        return names[group]
    return "Outside the registry" if group == registry.UNGROUPED else str(group)


def flow_word(flow: str) -> str:
    return FLOW_WORDS.get(flow, flow)


def flow_phrase(study: Study) -> str:
    """``China's exports to Belarus`` or ``China's imports from Belarus``: who, which flow, with whom."""
    toward = "from" if study.flow in ("M", "RM") else "to"
    return f"{area_label(study.reporter)}'s {flow_word(study.flow)} {toward} {area_label(study.focal)}"


def per_word(study: Study) -> str:
    """``month`` or ``year``: the period of the series' values."""
    return "month" if study.freq == "M" else "year"


def window_text(w: Window, study: Study) -> str:
    """``2019-01 to 2021-12`` (monthly) or ``2019 to 2021`` (annual)."""
    fmt = "%Y-%m" if study.freq == "M" else "%Y"
    return f"{w.start.strftime(fmt)} to {'the last period' if w.end is None else w.end.strftime(fmt)}"


def break_mark(study: Study) -> tuple[pd.Timestamp, str]:
    """Where the dashed break line is drawn, and its label.

    24 February 2022 for a monthly study whose post window starts in 2022-03
    (the invasion of Ukraine; January and February are the transition);
    otherwise just before the post window's first period (half a month, or
    half a year for annual points), labelled with that period.
    """
    start = study.post.start
    if study.freq == "M" and start == pd.Timestamp("2022-03-01"):
        return EVENT_DATE, "24 Feb 2022"
    if study.freq == "M":
        return start - pd.Timedelta(days=15), f"post window from {start:%Y-%m}"
    return start - pd.Timedelta(days=182), f"post window from {start:%Y}"


def source_line(*, reporter: int = CHINA, flow: str = "X", detail: str = "", synthetic: bool = False) -> str:
    """The line under a figure: ``Source: UN Comtrade, China as reporter; exports (FOB value, current USD)...``."""
    if synthetic:
        base = "Source: SYNTHETIC panel in the UN Comtrade schema (not real trade)"
    else:
        base = f"Source: UN Comtrade, {area_label(reporter)} as reporter"
    text = f"{base}; {flow_word(flow)} ({FLOW_VALUATION.get(flow, '')} value, current USD)"
    return f"{text}; {detail}" if detail else text


def usd_label(value: float, _pos: object = None) -> str:
    """Short human form of a USD amount: 950, 12k, 3.4M, 1.2bn."""
    v = abs(value)
    for div, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            s = f"{value / div:.1f}".rstrip("0").rstrip(".")
            return f"{s}{suffix}"
    return f"{value:.0f}"


def ratio_label(value: float, _pos: object = None) -> str:
    """Tick label of a ratio axis: 0.5, 1, 2, 10, 1000."""
    if value <= 0:
        return ""
    if value >= 1e5:
        return usd_label(value)
    return f"{value:g}" if value >= 0.1 else f"{value:.2g}"


# --------------------------------------------------------------------------- text measured, wrapped

_RENDERER = RendererAgg(8, 8, 72)


@lru_cache(maxsize=4096)
def _char_width(ch: str, size: float, bold: bool) -> float:
    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    return _RENDERER.get_text_width_height_descent(ch, prop, ismath=False)[0] / 72.0


def text_width(text: str, size: float = TEXT_SIZE, bold: bool = False) -> float:
    """Width of ``text`` in inches at ``size`` points (DejaVu Sans, matplotlib's font), 3% safety added."""
    return 1.03 * sum(_char_width(ch, size, bold) for ch in str(text))


def wrap_text(text: str, width: float, size: float = TEXT_SIZE, bold: bool = False) -> list[str]:
    """``text`` broken into lines no wider than ``width`` inches, at spaces (a longer word at characters).

    Nothing is dropped: every character of ``text`` is on one of the lines.
    """
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, size, bold) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while text_width(word, size, bold) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and text_width(word[:cut], size, bold) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _height(lines: int, size: float, spacing: float = 1.25) -> float:
    """Inches taken by ``lines`` lines of text at ``size`` points."""
    return lines * size * spacing / 72.0
