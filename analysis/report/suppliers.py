"""The report section "Who supplies <focal>?", built from a :class:`~analysis.suppliers.SuppliersResult`.

:func:`supplier_section` returns the section's document blocks (headings,
text, tables, figures) and its figures: a stacked-area chart of the
supplier groups' shares per group of goods (as many figures as the page
height needs), the reporter's share before and after with intervals, then
the substitution table, the candidate routes, the mirror check and the
caveats. Every number comes from the result's tables; nothing is estimated
here, and nothing is drawn: the figures are :mod:`analysis.plots.suppliers`
(:func:`~analysis.plots.plot_supplier_shares`,
:func:`~analysis.plots.plot_reporter_share`), planned here as jobs
(:func:`figure_jobs`) and drawn with the report's other figures
(:mod:`analysis.report.drawing`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import plots
from ..plots import area_label, category_words, group_label, supplier_groups
from ..suppliers import ALL_FAMILIES, SuppliersResult
from . import fmt
from .document import Bullets, Callout, Figure, Heading, Paragraph, Table
from .figures import FigureJob

TOP_ROUTES = 15
TOP_MIRROR = 12


def _pct(x: object) -> str:
    return fmt.share(x) if pd.notna(x) else "n/a"


def _pct_ci(x: object, lo: object, hi: object) -> str:
    """``61.2% (55.1% to 67.0%)``."""
    if not fmt._finite(x):
        return "n/a"
    return f"{100 * float(x):.1f}% ({100 * float(lo):.1f}% to {100 * float(hi):.1f}%)"  # type: ignore[arg-type]


def _part_ci(x: object, lo: object, hi: object) -> str:
    """A part of the fall: as :func:`_pct_ci`, or ``more than the fall (×9.13)`` when the rise exceeds it."""
    if fmt._finite(x) and float(x) > 1:  # type: ignore[arg-type]
        return f"more than the fall ({fmt.ratio(x)})"
    return _pct_ci(x, lo, hi)


def _pp_ci(x: object, lo: object, hi: object) -> str:
    """``+38.4 pp (31.2 to 45.1)``: a change of a share in percentage points, with its interval."""
    if not fmt._finite(x):
        return "n/a"
    return (f"{100 * float(x):+.1f} pp ({100 * float(lo):+.1f} to "  # type: ignore[arg-type]
            f"{100 * float(hi):+.1f})")  # type: ignore[arg-type]


def _usd_ci(x: object, lo: object, hi: object) -> str:
    """``12.4m (9.8m to 15.0m)``: USD a month with its interval."""
    if not fmt._finite(x):
        return "n/a"
    return f"{fmt.usd(x, unit=False)} ({fmt.usd(lo, unit=False)} to {fmt.usd(hi, unit=False)})"


# --------------------------------------------------------------------------- figures


def _blocks(result: SuppliersResult) -> str:
    """``9-month blocks`` or ``1-year blocks``: the bootstrap's blocks, from the result's configuration."""
    unit = "month" if result.config.step == "M" else "year"
    return f"{result.config.block}-{unit} blocks"


def figure_jobs(result: SuppliersResult) -> list[FigureJob]:
    """The section's figures as jobs for :mod:`analysis.report.drawing`."""
    fname = area_label(result.study.focal)
    pages = plots.supplier_share_pages(supplier_groups(result))
    jobs = []
    words = category_words(result)
    for i, page in enumerate(pages, start=1):
        part = f" ({i} of {len(pages)})" if len(pages) > 1 else ""
        jobs.append(FigureJob(
            f"supplier_shares_{i}",
            f"Who supplies {fname}{part}: the share of {words['reporter']} (blue), the sanctioning suppliers "
            f"(orange), the transit partners (green) and all others (grey) in {fname}'s imports of each group of "
            "goods, as the suppliers report their exports (mirror data). Each period's shares are of the "
            "suppliers that published in it: a supplier that stops publishing drops out rather than falling "
            "to zero (see the caveats).",
            plots.plot_supplier_shares, {"result": result, "groups": page, "part": part}))
    if result.reporter_share["share_pre"].notna().any():
        level = int(round(result.config.confidence * 100))
        jobs.append(FigureJob(
            "reporter_share",
            f"{words['reporter']}'s share of {fname}'s mirrored imports by group before (grey) and after (blue), "
            f"with {level}% intervals from a moving-block bootstrap ({_blocks(result)}, each window's bootstrap "
            "variance corrected for its known shortfall in a short window, Student's t); suppliers that published "
            "in both windows.",
            plots.plot_reporter_share, {"result": result}))
    return jobs


# --------------------------------------------------------------------------- text and tables


def _share_table(result: SuppliersResult) -> Table:
    rs = result.reporter_share
    rs = rs[rs["level"] == "group"].set_index("group")
    order = [g for g in supplier_groups(result) if g in rs.index]
    rs = rs.loc[order]
    rname = area_label(result.study.reporter)
    level = int(round(result.config.confidence * 100))
    frame = pd.DataFrame({
        "group": [group_label(g) for g in rs.index],
        f"{rname}, USD/month before": rs["usd_pre"].map(lambda v: fmt.usd(v, unit=False)),
        f"{rname}, USD/month after": rs["usd_post"].map(lambda v: fmt.usd(v, unit=False)),
        f"share before [{level}%\u00a0CI]": [_pct_ci(a, b, c) for a, b, c in
                                            zip(rs["share_pre"], rs["share_pre_low"], rs["share_pre_high"],
                                                strict=True)],
        f"share after [{level}%\u00a0CI]": [_pct_ci(a, b, c) for a, b, c in
                                           zip(rs["share_post"], rs["share_post_low"], rs["share_post_high"],
                                               strict=True)],
        f"change [{level}%\u00a0CI]": [_pp_ci(a, b, c) for a, b, c in
                                      zip(rs["change"], rs["change_low"], rs["change_high"], strict=True)],
    })
    return Table(fmt.as_text(frame), caption=f"{rname}'s share of each group's mirrored imports",
                 note="Means over the windows of the suppliers that published in both; pp: percentage points. "
                      + "; ".join(f"{group_label(g)}: {n}" for g, n in rs["note"].items() if str(n)))


def _substitution_table(result: SuppliersResult) -> Table:
    sub = result.substitution.set_index("group")
    order = [g for g in supplier_groups(result) if g in sub.index]
    sub = sub.loc[order]
    rname = area_label(result.study.reporter)
    frame = pd.DataFrame({
        "group": [group_label(g) for g in sub.index],
        "fall of sanctioning suppliers": [_usd_ci(a, b, c) for a, b, c in
                                          zip(sub["fall_sanctioning"], sub["fall_sanctioning_low"],
                                              sub["fall_sanctioning_high"], strict=True)],
        f"rise of {rname}": [_usd_ci(a, b, c) for a, b, c in
                             zip(sub["rise_reporter"], sub["rise_reporter_low"], sub["rise_reporter_high"],
                                 strict=True)],
        "rise of transit partners": [_usd_ci(a, b, c) for a, b, c in
                                     zip(sub["rise_transit"], sub["rise_transit_low"], sub["rise_transit_high"],
                                         strict=True)],
        "rise of others": sub["rise_other"].map(lambda v: fmt.usd(v, unit=False)),
        "replaced by nobody": [_usd_ci(a, b, c) for a, b, c in
                               zip(sub["gap"], sub["gap_low"], sub["gap_high"], strict=True)],
        f"share of the fall replaced by {rname}": [_part_ci(a, b, c) for a, b, c in
                                                   zip(sub["replaced_reporter"], sub["replaced_reporter_low"],
                                                       sub["replaced_reporter_high"], strict=True)],
        "by transit partners": [_part_ci(a, b, c) for a, b, c in
                                zip(sub["replaced_transit"], sub["replaced_transit_low"],
                                    sub["replaced_transit_high"], strict=True)],
    })
    notes = "; ".join(f"{group_label(g)}: {n}" for g, n in sub["note"].items() if str(n))
    return Table(fmt.as_text(frame), caption="Substitution: who replaced the sanctioning suppliers, USD a month",
                 note="Change of the mean monthly value between the windows, with intervals (moving-block "
                      f"bootstrap, {_blocks(result)}, bias-corrected). 'Replaced by nobody' is the fall less "
                      "every rise, which is the fall of the "
                      "total; shares of the fall are given only where the fall is material. " + notes)


def _routes_blocks(result: SuppliersResult) -> list:
    rname, fname = area_label(result.study.reporter), area_label(result.study.focal)
    routes = result.routes
    blocks: list = [Heading("Candidate routes", level=3)]
    if routes.empty:
        blocks.append(Paragraph(f"The data hold no transit partner's exports to {fname} or Russia beside "
                                f"{rname}'s exports to it, so no route can be traced."))
        return blocks
    cand = result.candidates()
    dests = sorted(set(routes["destination"]))
    blocks.append(Paragraph(
        f"For each transit partner and code family: {rname}'s exports to it (the inbound leg) and its own exports "
        f"to {fmt.join(dests)} (the outbound leg), where both are reported. A family in which both legs rose "
        f"materially (by a quarter or more, the interval of the rise above zero) is a candidate route: "
        f"{fmt.count(len(cand), 'pair')} of {len(routes)} transit partner, destination and family combinations. "
        "A candidate is consistent with goods passing through the transit partner; it is not evidence of "
        "evasion by itself, since both legs can rise for their own reasons."))
    if len(cand):
        top = cand.head(TOP_ROUTES)
        frame = pd.DataFrame({
            "transit partner": top["transit"], "to": top["destination"],
            "family": [f"{g}: {f}" for g, f in zip(top["group"].map(group_label), top["family"], strict=True)],
            f"from {rname}, USD/month before → after": [
                f"{fmt.usd(a, unit=False)} → {fmt.usd(b, unit=False)}"
                for a, b in zip(top["inbound_pre"], top["inbound_post"], strict=True)],
            "onward, USD/month before → after": [
                f"{fmt.usd(a, unit=False)} → {fmt.usd(b, unit=False)}"
                for a, b in zip(top["outbound_pre"], top["outbound_post"], strict=True)],
            "onward ratio": top["outbound_ratio"].map(fmt.ratio),
        })
        more = f" {len(cand) - TOP_ROUTES} more are in routes.csv." if len(cand) > TOP_ROUTES else ""
        blocks.append(Table(fmt.as_text(frame), caption="Candidate routes, largest onward rise first",
                            note="Both legs' means over the windows; a ratio is not given for a leg that starts "
                                 f"from zero.{more}"))
    return blocks


def _mirror_blocks(result: SuppliersResult) -> list:
    fname = area_label(result.study.focal)
    m = result.mirror
    blocks: list = [Heading("Mirror check", level=3)]
    if m.empty:
        blocks.append(Paragraph(f"{fname} publishes no imports in the data, so its own records cannot be set "
                                "against its suppliers' (mirror check)."))
        return blocks
    lo, hi = result.config.mirror_band
    total = m[m["group"] == ALL_FAMILIES]
    out = m[m["outside_band"] & (m["group"] != ALL_FAMILIES)]  # group-years beyond the band
    years = f"{int(m['year'].min())}-{int(m['year'].max())}"
    outside_total = total[total["outside_band"]]
    blocks.append(Paragraph(
        f"Where {fname} published its imports ({years}), its figure for each supplier (CIF) is set against the "
        f"supplier's own (FOB). Freight and insurance put the ratio a few per cent above 1; a group-year outside "
        f"{lo:g}-{hi:g} is more than valuation explains (attribution by origin, timing, confidential trade). "
        f"{fmt.count(len(out), 'group-year')} of {int((m['group'] != ALL_FAMILIES).sum())} lie outside it"
        + (f"; over all groups together the two sides disagree beyond it for "
           f"{fmt.join(sorted(set(outside_total['supplier'])))}" if len(outside_total) else "")
        + "."))
    groups = m[m["group"] != ALL_FAMILIES]
    if len(groups):
        by = groups.groupby("supplier", sort=False)
        worst = groups.assign(dist=np.abs(np.log(groups["ratio"].where(groups["ratio"] > 0))).fillna(np.inf))
        worst = worst.sort_values("dist", ascending=False).drop_duplicates("supplier").set_index("supplier")
        overall = total.groupby("supplier")["ratio"].median()
        table = pd.DataFrame({"checked": by.size(), "outside": by["outside_band"].sum()}).join(
            overall.rename("median ratio"))
        table = table.sort_values(["outside", "checked"], ascending=False)
        frame = pd.DataFrame({
            "supplier": table.index,
            "group-years outside the band": [f"{int(o)} of {int(c)}" for o, c in zip(table["outside"], table["checked"],
                                                                                       strict=True)],
            f"{fname}'s imports ÷ supplier's exports, all groups (median year)": table["median ratio"].map(
                lambda v: f"{v:.2f}" if fmt._finite(v) else "n/a"),
            "largest gap": [_gap_text(worst.loc[sup]) for sup in table.index],
        })
        blocks.append(Table(fmt.as_text(frame), caption="Mirror check by supplier",
                            note="Annual values in the years both sides published; every group-year is in "
                                 "mirror.csv."))
    return blocks


def _gap_text(row: pd.Series) -> str:
    ratio = f"×{row['ratio']:.2f}" if fmt._finite(row["ratio"]) else "one side only"
    return f"{group_label(row['group'])}, {int(row['year'])}: {ratio}"


def _summary(result: SuppliersResult) -> str:
    rname, fname = area_label(result.study.reporter), area_label(result.study.focal)
    rs = result.reporter_share
    g = rs[(rs["level"] == "group") & rs["change"].notna()]
    up = g[g["change_low"] > 0].sort_values("change", ascending=False)
    down = g[g["change_high"] < 0]
    pre, post = (p.replace(":", " to ") for p in (result.config.pre, result.config.post))
    parts = [f"{fname}'s imports are rebuilt here from the exports {len(result.config.suppliers)} reporters say "
             f"they sent it (mirror data), {pre} against {post}."]
    if len(g):
        parts.append(f"{rname}'s share rose in {len(up)} of {len(g)} groups (interval of the change above zero) and "
                     f"fell in {len(down) or 'none'}.")
    if len(up):
        top = [f"{group_label(r['group'])} ({_pct(r['share_pre'])} → {_pct(r['share_post'])})"
               for _, r in up.head(3).iterrows()]
        parts.append(f"The largest rises: {fmt.join(top)}.")
    sub = result.substitution
    fell = sub[sub["replaced_reporter"].notna()]
    if len(fell):
        half = fell[fell["replaced_reporter"] >= 0.5]
        transit = fell[fell["replaced_transit_low"] > 0.25]
        parts.append(f"The sanctioning suppliers' exports fell materially in {len(fell)} groups; {rname}'s rise "
                     f"made up at least half of the fall in {len(half)} of them"
                     + (f", the transit partners' rise more than a quarter in "
                        f"{fmt.join([group_label(x) for x in transit['group']])}" if len(transit) else "")
                     + "; the rest was replaced by no reporting supplier.")
    return " ".join(parts)


def section_blocks(result: SuppliersResult, figures: dict[str, Figure]) -> list:
    fname = area_label(result.study.focal)
    rname = area_label(result.study.reporter)
    blocks: list = [Heading(f"Who supplies {fname}?")]
    if result.synthetic:
        blocks.append(Callout("SYNTHETIC DATA: the suppliers below are the demo panel's, with planted effects; "
                              "nothing here is real trade.", kind="synthetic"))
    blocks.append(Paragraph(_summary(result)))
    blocks += [figures[k] for k in sorted(figures) if k.startswith("supplier_shares_")]
    blocks.append(Heading(f"{rname}'s share before and after", level=3))
    if "reporter_share" in figures:
        blocks.append(figures["reporter_share"])
    blocks.append(_share_table(result))
    blocks.append(Heading(f"Did {rname} replace the sanctioning suppliers?", level=3))
    sets = result.config
    blocks.append(Paragraph(
        f"The sanctioning suppliers are the {len(sets.sanctioning)} economies that restricted exports to Belarus "
        "and Russia from 2022 (the EU's members, the USA, the UK, Japan, Korea, Taiwan, Canada, Australia, Norway "
        "and Switzerland; `data/registry/supplier_sets.toml`). For each group, their fall between the windows is "
        f"set against the rise of {rname}, of the transit partners and of every other reporting supplier; what "
        f"no one made up is the fall of {fname}'s mirrored imports."))
    blocks.append(_substitution_table(result))
    blocks += _routes_blocks(result)
    blocks += _mirror_blocks(result)
    blocks.append(Heading("Caveats", level=3))
    blocks.append(Bullets([f"**{str(t)[:1].upper()}{str(t)[1:]}.** {x}"
                           for t, x in zip(result.caveats["topic"], result.caveats["text"], strict=True)]))
    return blocks


def supplier_section(result: SuppliersResult, folder: str | Path, *, workers: int | None = 1
                     ) -> tuple[list, dict[str, Figure]]:
    """The section "Who supplies <focal>?": its document blocks, and its figures drawn into ``folder`` (PNG at
    200 dpi and SVG) by name.

    ``workers``: processes to draw in (see :class:`analysis.report.drawing.Drawing`).
    """
    from .drawing import render  # drawing plans this section's figures with the report's

    figures = render(figure_jobs(result), folder, workers=workers)
    return section_blocks(result, figures), figures


__all__ = ["supplier_section", "figure_jobs", "section_blocks"]
