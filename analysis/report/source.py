"""The report's Data section: source, queries and dates, coverage, what was set aside, HS editions, limits.

Every statement is derived from the data description (:class:`~analysis.provenance.DataSource`) and the
study: who reports, which flow, whether the focal partner publishes its own side, whether January and February
were found published together.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import registry
from ..plots import area_label
from ..provenance import DataSource
from ..study import FLOW_WORDS
from . import fmt, words
from .context import Context
from .document import Bullets, Callout, Heading, Paragraph, Table


def data_section(ctx: Context) -> list:
    """Source, coverage, set-aside records, HS editions and the limits of the data."""
    source, s = ctx.source, ctx.study
    blocks: list = [Heading("Data")]
    freq = "monthly" if s.freq == "M" else "annual"
    if ctx.demo:
        blocks.append(Callout(
            "The data are SYNTHETIC: the embedded demo panel (`analysis.demo.load_demo()`), generated with a "
            "fixed seed in the exact UN Comtrade record schema, with planted effects (see the appendix). "
            "Nothing in it is real trade.", kind="synthetic"))
    else:
        blocks.append(Paragraph(_provenance_text(source, freq)))
        if source.synthetic:
            blocks.append(Callout("Some of the stored records are marked synthetic: every table and figure "
                                  "is labelled accordingly.", kind="synthetic"))
        if source.manifest is not None and len(source.manifest):
            blocks.append(_manifest_table(source.manifest))
    blocks.append(_coverage_table(source, words.level_words(s)))
    if (aside := _set_aside_table(source)) is not None:
        blocks.append(aside)
    blocks.append(Paragraph(_editions_text(ctx)))
    blocks.append(Heading("Limits of the data", level=3))
    blocks.append(Bullets(_limits(ctx)))
    blocks += ctx.figure("mirror")
    return blocks


def _provenance_text(source: DataSource, freq: str) -> str:
    m = source.manifest
    where = f" and stored locally in `{source.store_root}`" if source.store_root else ""
    if m is None or m.empty:
        return (f"UN Comtrade final data (commodity trade, HS classification, {freq}), as given to the analysis"
                f"{where}.")
    fetched = m[m["endpoint"] != "file"]
    imported = m[m["endpoint"] == "file"]
    parts = []
    def when(frame: pd.DataFrame) -> str:
        first, last = str(frame["fetched_at"].min())[:10], str(frame["fetched_at"].max())[:10]
        return f"on {first}" if first == last else f"between {first} and {last}"

    if len(fetched):
        eps = sorted(set(fetched["endpoint"]))
        parts.append(f"{len(fetched)} API quer{'y' if len(fetched) == 1 else 'ies'} to the {fmt.join(eps)} "
                     f"endpoint{'s' if len(eps) > 1 else ''}, fetched {when(fetched)}")
    if len(imported):
        names = [s.removeprefix("import:") for s in imported["source"].astype(str)]
        parts.append(f"{len(imported)} imported file{'s' if len(imported) > 1 else ''} "
                     f"({fmt.join(names[:5])}{', ...' if len(names) > 5 else ''}), imported {when(imported)}")
    return (f"Source: UN Comtrade final data (commodity trade, HS classification, {freq}), "
            f"{' and '.join(parts)}{where}. Every record is kept as Comtrade serves it (47 fields); the store's "
            "manifest lists each query and file with its checksum.")


def _manifest_table(manifest: pd.DataFrame) -> Table:
    m = manifest.copy()
    m["fetched"] = m["fetched_at"].astype(str).str[:10]
    g = (m.groupby(["source", "endpoint"], dropna=False)
         .agg(chunks=("chunk_id", "size"), rows=("rows", "sum"), first=("fetched", "min"), last=("fetched", "max"),
              published=("published", lambda s: fmt.join(sorted({str(v)[:10] for v in s.dropna()})[-2:], "to")))
         .reset_index())
    g["fetched / imported"] = np.where(g["first"] == g["last"], g["first"], g["first"] + " to " + g["last"])
    g["rows"] = g["rows"].map(lambda v: f"{int(v):,}")
    table = g[["source", "endpoint", "chunks", "rows", "fetched / imported", "published"]]
    return Table(fmt.as_text(table.head(20)), caption="Provenance: where the stored records came from",
                 note="One chunk per API query or imported file; the full manifest (queries, checksums) is "
                      "`tradeflows store --manifest`." + (f" {len(g) - 20} more sources not shown." if len(g) > 20
                                                          else ""))


def _coverage_table(source: DataSource, level: str) -> Table:
    cov = source.coverage.copy()
    if cov.empty:
        return Table(pd.DataFrame({"coverage": ["no records"]}), caption="Coverage")
    cov["reporter"] = [f"{area_label(int(c))} ({int(c)})" for c in cov["reporter"]]
    cov["partner"] = [f"{area_label(int(c))} ({int(c)})" for c in cov["partner"]]
    cov["flow"] = cov["flow"].map(FLOW_WORDS).fillna(cov["flow"])
    cov["HS edition"] = cov["classification"].map({"H5": "HS 2017 (H5)", "H6": "HS 2022 (H6)"}).fillna(
        cov["classification"])

    def span(s: pd.Series) -> str:
        s = s.astype(str)
        return f"{s.min()[:4]}-{s.min()[4:]} to {s.max()[:4]}-{s.max()[4:]}" if len(s.iloc[0]) == 6 else \
            f"{s.min()} to {s.max()}"

    rows = []
    for (rep, flow, part), block in cov.groupby(["reporter", "flow", "partner"], sort=False):
        rows.append({"reporter": rep, "flow": flow, "partner": part,
                     "HS editions": ", ".join(sorted(block["HS edition"])),
                     "periods": span(pd.concat([block["first_period"], block["last_period"]])),
                     "records": f"{int(block['records'].sum()):,}"})
    table = pd.DataFrame(rows)
    return Table(fmt.as_text(table), caption="Coverage of the analysed records",
                 note=f"Records are {level} lines per period. A period without a record is a zero (Comtrade "
                      "omits empty cells), except after a reporter's last published period.")



_REASONS = {
    "converted copy of an original record": "left out: a converted copy of a record in its original HS edition",
    "converted copy used: no original record in the cell": "used: converted copy, no original in the cell",
    "estimated weight: kg left out": "value used; weight left out of unit values (an estimate)",
}


def _set_aside_table(source: DataSource) -> Table | None:
    """What the series leave out (or use with a caveat), and why."""
    a = source.set_aside
    if a is None or a.empty:
        return None
    g = a.groupby(["reason"], sort=False).agg(records=("records", "sum"), usd=("usd", "sum"),
                                              partners=("partner_code", "nunique")).reset_index()
    table = pd.DataFrame({
        "what": [_REASONS.get(r, f"left out: {r}") for r in g["reason"]],
        "records": g["records"].map(lambda v: f"{int(v):,}"),
        "partners": g["partners"],
        "USD": g["usd"].map(fmt.usd),
    })
    return Table(fmt.as_text(table), caption="Records set aside or used with a caveat",
                 note="Per reason, over every reporter, partner and flow of the data; the series never count a "
                      "record twice.")


def _editions_text(ctx: Context) -> str:
    source = ctx.source
    names = {"H0": "HS 1992", "H1": "HS 1996", "H2": "HS 2002", "H3": "HS 2007", "H4": "HS 2012",
             "H5": "HS 2017", "H6": "HS 2022"}
    eds = [e for e in source.editions]
    ed_text = fmt.join([f"{names.get(e, e)} ({e})" for e in eds]) or "no HS edition"
    c = ctx.compare
    fams = c["family"].unique()
    table = registry.family_table(fams)
    joined = int((table["h5_codes"] != table["h6_codes"]).sum())
    changed = table[table["changed_content"].astype(bool)]
    text = (f"HS editions in the data: {ed_text}. Series are built per **code family**: ")
    if ctx.study.level != 6:
        text += (f"at the {words.level_words(ctx.study)} level, one family per code, from the reporter's own "
                 "records at that level where it publishes them, else the sum of its six-digit records in the data "
                 "(then the family holds only the codes fetched, not the whole heading). ")
    elif joined:
        text += (f"{joined} of the {len(fams)} families join codes that split, merged or moved between HS 2017 and "
                 "HS 2022 (the UN Statistics Division's correlation tables), so their series run across the break; "
                 "the others are single codes. ")
    else:
        text += "every family here is a single code. "
    if len(changed):
        text += (f"{len(changed)} famil{'y' if len(changed) == 1 else 'ies'} hold other goods after the HS 2022 "
                 f"break ({fmt.join(list(changed['family_id']))}): they are marked *content changed* in every table.")
    elif joined:
        text += "No family here is known to change content at the break."
    return text


def _limits(ctx: Context) -> list[str]:
    s, rname, fname = ctx.study, ctx.rname, ctx.fname
    items = [f"**Whose records.** The series are {rname}'s reported {words.flow_word(s)}; "
             + _mirror_words(ctx)]
    items.append(f"**Valuation.** {rname} values {words.flow_word(s)} {words.valuation(s)}; the partner's records of "
                 "the same trade use the other valuation (CIF includes freight and insurance) and differ in timing.")
    merged = ctx.config.get("jan_feb_merged")
    if s.freq == "M":
        items.append("**January and February.** " + (
            f"The records show the two months published together in some years ({_merged_years(ctx)}): there each "
            "carries half the two-month total, neither month can show a spike of its own, and the tests count the "
            "pair once." if merged else "The records publish the two months separately: used as reported."))
    items += [
        "**Confidential and unallocated trade.** Comtrade shows what the reporter declares; trade a country treats "
        "as confidential is published at a coarser level or not by partner, and small shipments may be missing; a "
        "fall in a code can be a reclassification.",
        f"**Codes are broad.** A {words.level_words(s)} holds civilian and military-relevant goods alike. Goods routed "
        f"through third countries appear as {words.flow_word(s)} to those countries, not to {fname}.",
        "**Revisions.** Comtrade data are revised; the figures are those published when they were fetched.",
    ]
    if s.freq == "A":
        items.append("**Annual data.** A few yearly points show the change between windows, not its timing: no "
                     "event study, spike or break-date test is run on them.")
    return items


def _mirror_words(ctx: Context) -> str:
    last = ctx.focal_own_last
    if last is None:
        return f"the data hold no records reported by {ctx.fname}, so its side cannot be checked here."
    return (f"{ctx.fname}'s own records (mirror data) run to {last}; they are compared with {ctx.rname}'s in the "
            "mirror check and never mixed into the same series.")


def _merged_years(ctx: Context) -> str:
    years = ctx.result.series.attrs.get("jan_feb_merged", ())
    got = sorted({int(y) for r, y, m in years if m and int(r) == ctx.study.reporter})
    if not got:
        return "as detected"
    runs: list[str] = []
    start = prev = got[0]
    for y in got[1:] + [0]:
        if y != prev + 1:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            start = y
        prev = y
    return ", ".join(runs)
