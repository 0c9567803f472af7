"""Figures: matplotlib Figures drawn from tidy DataFrames (series, compare, findings, event study, bands).

Plotting is kept apart from estimation: every function here takes frames that
an analysis step already produced and only draws them. Who and when (reporter,
flow, focal partner, comparison and transit partners, frequency, windows)
come from a :class:`~analysis.study.Study`, given as ``study`` or as its
fields in keywords (``focal="BLR"``), resolved by :meth:`Study.resolve`; an
open post window ends at the data's last period. Nothing is assumed of the
study: titles, labels and the break line are made from it (the break line is
24 February 2022 only for a monthly post window from 2022-03).

Every figure fits a 6.5-inch page column (:data:`PAGE_WIDTH`) with all text
at least :data:`MIN_FONT` points at that size: titles and labels are wrapped,
never cut; legends sit below the axes, never over data; log axes carry at
least three labelled ticks; an interval that runs beyond the frame ends in
an arrow at the frame, and the figure's ``notes`` say so (the report adds
them to the caption). Each figure carries a title, axis labels with units, a
source line and, when its input is synthetic, a visible ``SYNTHETIC DATA``
watermark and label. Colours are the Okabe-Ito palette, which stays
distinguishable with the common forms of colour blindness.

:func:`save_figure` writes a figure as PNG (200 dpi, :func:`png_bytes`) and, optionally, SVG.

One module per kind of figure, on two modules every figure uses:

- :mod:`~analysis.plots.style`: page sizes and fonts, the palette, :class:`TradeflowsFigure`, the words and
  numbers on a figure (area, group and flow names, windows, the break mark, the source line, USD and ratio
  labels) and text measured and wrapped;
- :mod:`~analysis.plots.layout`: figure geometry (panels, grids of small multiples), the frame around the
  body (title, legend, source line, watermark), time axes, log axes and intervals clipped at the frame, and
  what a figure selects from its frames;
- :mod:`~analysis.plots.series`: the series themselves: :func:`plot_series`, :func:`plot_group_index`,
  :func:`plot_mirror`;
- :mod:`~analysis.plots.estimates`: the estimates: :func:`plot_relative_ratios`, :func:`plot_transit`,
  :func:`plot_event_study`;
- :mod:`~analysis.plots.findings`: one series, one finding: :func:`plot_counterfactual`, :func:`plot_finding`;
- :mod:`~analysis.plots.suppliers`: who supplies the focal partner: :func:`plot_supplier_shares`,
  :func:`plot_reporter_share`;
- :mod:`~analysis.plots.output`: figures to bytes and files: :func:`figure_image`, :func:`png_bytes`,
  :func:`svg_bytes`, :func:`save_figure`.

Every public name is importable from here (``plots.plot_series``, ``from analysis.plots import area_label``).
Underscore names are private to the package: its modules share them, nothing outside imports them.
"""
from __future__ import annotations

from .estimates import FOREST_FRAME, FOREST_LABEL_W, plot_event_study, plot_relative_ratios, plot_transit
from .findings import CHARTED_KINDS, FindingKind, plot_counterfactual, plot_finding
from .layout import GRID_LEFT, GRID_RIGHT, TICK_ROOM, group_order
from .output import figure_image, png_bytes, save_figure, svg_bytes
from .series import plot_group_index, plot_mirror, plot_series
from .style import (
    BAND_COLOR,
    CONTROL_COLOR,
    CONTROL_KINDS,
    DPI,
    EVENT_DATE,
    FLAG_COLOR,
    FOCAL_COLOR,
    FRAME_ROOM,
    GREY,
    MAX_HEIGHT,
    MIN_FONT,
    OKABE_ITO,
    PAGE_WIDTH,
    SERIES_PANEL_H,
    SHARED_PANEL_H,
    SUBTITLE_SIZE,
    SYNTHETIC_LABEL,
    TEXT_SIZE,
    TITLE_SIZE,
    TRANSIT_COLOR,
    TradeflowsFigure,
    area_label,
    break_mark,
    flow_phrase,
    flow_word,
    group_label,
    per_word,
    ratio_label,
    source_line,
    text_width,
    usd_label,
    window_text,
    wrap_text,
)
from .suppliers import (
    category_words,
    plot_reporter_share,
    plot_supplier_shares,
    supplier_groups,
    supplier_share_pages,
)

__all__ = [
    "OKABE_ITO", "EVENT_DATE", "DPI", "SYNTHETIC_LABEL", "PAGE_WIDTH", "MIN_FONT", "CHARTED_KINDS", "FindingKind",
    "area_label", "group_label", "group_order", "flow_phrase", "break_mark", "source_line", "usd_label", "ratio_label",
    "wrap_text", "text_width",
    "plot_series", "plot_group_index", "plot_mirror", "plot_relative_ratios", "plot_transit", "plot_event_study",
    "plot_counterfactual", "plot_finding", "plot_supplier_shares", "plot_reporter_share",
    "figure_image", "png_bytes", "svg_bytes", "save_figure",
]
