"""Who supplies the focal partner: the figures of the report's supplier section, drawn from a
:class:`~analysis.suppliers.SuppliersResult` (:func:`plot_supplier_shares`: each supplier category's share of
the focal partner's mirrored imports, by group of goods, as many figures as the page height needs,
:func:`supplier_share_pages`; :func:`plot_reporter_share`: the reporter's share before and after, with
intervals).

Apart from the study's own figures: they read every supplier's exports to the focal partner (mirror data),
not the reporter's series. The section's text and tables are built by :mod:`analysis.report.suppliers`,
which also uses the category words and group order here (:func:`category_words`, :func:`supplier_groups`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MultipleLocator

from .layout import _finish, _fitting, _grid, _grid_figure, _grid_ylabel, _new_figure, _style_time_axis, group_order
from .style import GREY, OKABE_ITO, SERIES_PANEL_H, TEXT_SIZE, area_label, group_label, wrap_text

if TYPE_CHECKING:  # analysis.suppliers imports scipy: loaded only when a supplier figure is drawn
    from ..suppliers import SuppliersResult

COLORS = {"reporter": OKABE_ITO["blue"], "sanctioning": OKABE_ITO["orange"], "transit": OKABE_ITO["green"],
          "other": "#bbbbbb"}
"""Colour of each supplier category (Okabe-Ito; grey for the rest)."""
PANELS_PER_FIGURE = 9


def category_words(result: SuppliersResult) -> dict[str, str]:
    """Each supplier category in words: the reporter's name, ``sanctioning suppliers``, ``transit partners``,
    ``other suppliers`` (the legend of :func:`plot_supplier_shares`; the report's captions)."""
    rname = area_label(result.study.reporter)
    return {"reporter": rname, "sanctioning": "sanctioning suppliers", "transit": "transit partners",
            "other": "other suppliers"}


def _source(result: SuppliersResult) -> str:
    fname = area_label(result.study.focal)
    n = len(result.config.suppliers)
    if result.synthetic:
        return ("Source: SYNTHETIC demo panel in the UN Comtrade schema (not real trade); exports to "
                f"{fname} as {n} suppliers report them (FOB value, current USD)")
    return f"Source: UN Comtrade; exports to {fname} as {n} reporters report them (FOB value, current USD)"


def supplier_groups(result: SuppliersResult) -> list[str]:
    """The groups of goods of ``result``'s reporter shares, in registry order (:func:`group_order`)."""
    rs = result.reporter_share
    return group_order(set(rs.loc[rs["level"] == "group", "group"]))


def supplier_share_pages(groups: list[str]) -> list[list[str]]:
    """``groups`` cut into the figures of :func:`plot_supplier_shares`: as many whole rows of panels as fit a page
    (:data:`~analysis.plots.style.MAX_HEIGHT`), at most :data:`PANELS_PER_FIGURE` panels each."""
    titles = [group_label(g) for g in groups]
    pages: list[list[str]] = []
    while groups:
        k = _fitting(titles, 3, SERIES_PANEL_H, wspace=0.15, most=PANELS_PER_FIGURE)
        pages.append(groups[:k])
        groups, titles = groups[k:], titles[k:]
    return pages


def plot_supplier_shares(result: SuppliersResult, groups: list[str], *, part: str = "") -> MplFigure:
    """Stacked areas: each supplier category's share of the focal partner's mirrored imports, per group and
    period of ``result.shares`` (the suppliers that published in the period). ``part`` is appended to the
    title, e.g. ``" (1 of 2)"`` when the groups take more than one figure (:func:`supplier_share_pages`)."""
    from ..suppliers import CATEGORIES  # here, not above: analysis.suppliers imports scipy

    sh = result.shares
    sh = sh[(sh["level"] == "group") & sh["group"].isin(groups)]
    yearly = result.config.shares_by == "A"
    when = pd.to_datetime(sh["period"].astype(str), format="%Y" if yearly else "%Y-%m")
    table = (sh.assign(when=when).groupby(["group", "when", "category"])["share"].sum()
             .unstack("category").reindex(columns=list(CATEGORIES)).fillna(0.0))
    grid = _grid([group_label(g) for g in groups], 3, SERIES_PANEL_H, wspace=0.15)
    fig, panels = _grid_figure(grid, sharey=True)
    span = (int(when.min().year), int(when.max().year))
    for ax, g in zip(panels, groups, strict=True):
        block = table.loc[g] if g in table.index.get_level_values(0) else table.iloc[:0]
        x = mdates.date2num(block.index) if len(block) else np.array([])
        if len(block):
            ax.stackplot(x, *[block[c].to_numpy() for c in CATEGORIES], colors=[COLORS[c] for c in CATEGORIES],
                         linewidth=0)
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_locator(MultipleLocator(0.5))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))
        _style_time_axis(ax, span, grid.panel_w)
    _grid_ylabel(panels, grid, "share of imports")
    words = category_words(result)
    handles = [Patch(facecolor=COLORS[c], label=words[c][:1].upper() + words[c][1:]) for c in CATEGORIES]
    fname = area_label(result.study.focal)
    step = "Yearly" if yearly else "Monthly"
    return _finish(fig, title=f"Who supplies {fname}? Shares of its mirrored imports{part}",
                   subtitle=f"{step} share of each supplier group in what the reporters say they exported to "
                            f"{fname}, by group of goods; suppliers that published in the period",
                   source=_source(result), synthetic=result.synthetic, handles=handles)


def plot_reporter_share(result: SuppliersResult) -> MplFigure:
    """The reporter's share of each group's mirrored imports in the pre and post windows, with intervals."""
    rs = result.reporter_share
    rs = rs[(rs["level"] == "group") & rs["share_pre"].notna()]
    order = [g for g in supplier_groups(result) if g in set(rs["group"])]
    rs = rs.set_index("group").loc[order].reset_index()
    n = len(rs)
    label_w = 2.7
    labels = ["\n".join(wrap_text(group_label(g), label_w - 0.15)) for g in rs["group"]]
    row = max(0.26, max((lab.count("\n") + 1) * TEXT_SIZE * 1.2 / 72 + 0.04 for lab in labels))
    fig, axes = _new_figure(1, 1, row * n + 0.1, left=label_w, right=0.2, top=0.1, bottom=0.45)
    ax = axes[0, 0]
    y = np.arange(n)[::-1].astype(float)
    for w, color, dy, fill in (("pre", GREY, 0.12, "white"), ("post", COLORS["reporter"], -0.12, None)):
        est, lo, hi = rs[f"share_{w}"], rs[f"share_{w}_low"], rs[f"share_{w}_high"]
        ax.hlines(y + dy, lo, hi, color=color, linewidth=1.6)
        ax.scatter(est, y + dy, s=22, color=color, facecolor=fill or color, zorder=3, linewidth=1.2)
    ax.set_yticks(y, labels, fontsize=TEXT_SIZE, linespacing=1.1)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_locator(MultipleLocator(0.2))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))
    ax.tick_params(axis="x", labelsize=TEXT_SIZE)
    rname, fname = area_label(result.study.reporter), area_label(result.study.focal)
    ax.set_xlabel(f"{rname}'s share of {fname}'s mirrored imports", fontsize=TEXT_SIZE)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    pre, post = (p.replace(":", " to ") for p in (result.config.pre, result.config.post))
    level = int(round(result.config.confidence * 100))
    handles = [Line2D([], [], color=GREY, marker="o", markerfacecolor="white", linewidth=1.6, label=f"before ({pre})"),
               Line2D([], [], color=COLORS["reporter"], marker="o", linewidth=1.6, label=f"after ({post})")]
    return _finish(fig, title=f"{rname}'s share of {fname}'s imports, before and after",
                   subtitle=f"By group of goods, with {level}% intervals (moving-block bootstrap over months); "
                            "suppliers that published in both windows",
                   source=_source(result), synthetic=result.synthetic, handles=handles)
