"""The report's text: each section generated from the analysis results, never written by hand.

Every number in the text comes from the result tables (compare, findings,
did) or the data description; the wording adapts to what was found (nothing
significant, no mirror data, synthetic input, ...). Functions here return
document blocks (:mod:`analysis.report.document`); figures are made in
:mod:`analysis.report.figures` and passed in by name.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import registry
from ..plots import area_label
from ..provenance import DataSource
from ..results import ranked_findings
from . import fmt
from .document import Bullets, Callout, Figure, Heading, Paragraph, Table

KIND_PLURALS = {
    "level_shift": "lasting level shifts", "spike": "one-month spikes", "counterfactual_excess":
    "series above their counterfactual", "new_flow": "new flows", "unit_value": "unit-value shifts",
    "mirror_gap": "mirror gaps",
}

KIND_WORDS = {
    "level_shift": "lasting level shift", "spike": "one-month spike", "counterfactual_excess":
    "value above the counterfactual", "new_flow": "new flow", "unit_value": "unit-value (USD/kg) shift",
    "mirror_gap": "gap between China's and Belarus's records",
}


# --------------------------------------------------------------------------- helpers

def focal_rows(compare: pd.DataFrame, focal: int) -> pd.DataFrame:
    """Rows of the compare table for the focal partner."""
    return compare[compare["partner_code"] == focal]


def _windows(config: Mapping) -> tuple[str, str]:
    return str(config.get("pre", "")).replace(":", " to "), str(config.get("post", "")).replace(":", " to ")


def totals_by(compare: pd.DataFrame, focal: int, by: str | None = "group") -> pd.DataFrame:
    """Sum of mean monthly values (pre, post) for the focal partner and for the comparison partners
    combined, by ``by`` (or overall), with the ratios post/pre. Means over the same windows add up over
    families and partners, so these are the window means of the totals."""
    c = compare.copy()
    c["side"] = np.where(c["partner_code"] == focal, "focal",
                         np.where(c.get("is_comparison", False), "controls", ""))
    c = c[c["side"] != ""]
    if by is None:
        c = c.assign(all="all")
        by = "all"
    g = c.groupby([by, "side"])[["pre_usd_month", "post_usd_month"]].sum().unstack("side")
    out = pd.DataFrame(index=g.index)
    for side in ("focal", "controls"):
        if ("pre_usd_month", side) in g.columns:
            out[f"{side}_pre"] = g[("pre_usd_month", side)]
            out[f"{side}_post"] = g[("post_usd_month", side)]
            out[f"{side}_ratio"] = out[f"{side}_post"] / out[f"{side}_pre"].where(out[f"{side}_pre"] > 0)
        else:
            out[f"{side}_pre"] = out[f"{side}_post"] = out[f"{side}_ratio"] = np.nan
    return out.reset_index()


def significant_rises(compare: pd.DataFrame, focal: int, alpha: float, kinds=("dual_use",)) -> pd.DataFrame:
    """Focal-partner families whose relative ratio is above 1 with a q-value below alpha, largest first."""
    c = focal_rows(compare, focal)
    c = c[c["kind"].isin(kinds) & (c["relative_q_value"] < alpha) & (c["relative_ratio"] > 1)]
    return c.sort_values("relative_ratio", ascending=False)


def family_label(row) -> str:
    return f"{row['family_name']} ({row['family']})"


def finding_phrase(row) -> str:
    """``Telescopic sights (HS901310) to Belarus: lasting level shift from 2022-09, ×5.1 (3.9–6.6)``."""
    size = ""
    if pd.notna(row.get("size")) and np.isfinite(float(row["size"])):
        size = f", {fmt.ratio_ci(row['size'], row.get('size_low'), row.get('size_high'))}"
    where = f" to {area_label(int(row['partner_code']))}" if row["kind"] != "mirror_gap" else ""
    when = f" {'from' if row['kind'] in ('level_shift', 'new_flow', 'unit_value', 'counterfactual_excess') else 'in'}" \
           f" {row['period']}" if str(row.get("period", "")) else ""
    return f"{row['family_name']} ({row['family']}){where}: {KIND_WORDS.get(row['kind'], row['kind'])}{when}{size}"


# --------------------------------------------------------------------------- summary

def summary(compare: pd.DataFrame, findings: pd.DataFrame, config: Mapping, source: DataSource, *,
            focal: int, alpha: float, reporter: int) -> list:
    """Section 1: 3-6 sentences with the main numbers and the caveats that matter."""
    pre, post = _windows(config)
    who, fname = area_label(reporter), area_label(focal)
    sentences = []
    if source.synthetic:
        sentences.append("**These results come from the synthetic demo panel**: they show what the methods find "
                         "where the answer is known (the effects planted in the panel, listed in the appendix), "
                         "not what China exported.")
    du = totals_by(compare[compare["kind"] == "dual_use"], focal, by=None)
    n_du = int(focal_rows(compare, focal)["kind"].eq("dual_use").sum())
    if len(du):
        t = du.iloc[0]
        controls_part = ""
        if np.isfinite(t["controls_ratio"]):
            n_ctl = len(config.get("comparison_partners", [])) or int(
                compare.get("is_comparison", pd.Series(dtype=bool)).groupby(compare["partner_code"]).any().sum())
            controls_part = (f"; {who}'s exports of the same families to the {n_ctl} comparison partners "
                             f"changed by {fmt.ratio(t['controls_ratio'])}")
        sentences.append(
            f"{who}'s recorded exports to {fname} of the {n_du} dual-use code families averaged "
            f"{fmt.usd(t['focal_pre'])} a month in {pre} and {fmt.usd(t['focal_post'])} in {post} "
            f"({fmt.ratio(t['focal_ratio'])}){controls_part}.")
    sig = significant_rises(compare, focal, alpha)
    tested = focal_rows(compare, focal)
    tested_du = tested[(tested["kind"] == "dual_use") & tested["relative_p_value"].notna()]
    n_tests = int(compare["relative_p_value"].notna().sum())
    if len(sig):
        top = [f"{r['family_name']} ({fmt.ratio(r['relative_ratio'])}, {int(round((1 - alpha) * 100))}% "
               f"interval {fmt.interval(r['relative_low'], r['relative_high'])})" for _, r in sig.head(3).iterrows()]
        sentences.append(
            f"{len(sig)} of the {len(tested_du)} dual-use families with a relative ratio rose significantly more "
            f"for {fname} than for the comparison partners (relative ratio above 1, Benjamini-Hochberg q < "
            f"{alpha:g} over all {n_tests:,} partner-family tests); the largest: {fmt.join(top)}.")
    elif len(tested_du):
        best = tested_du.sort_values("relative_ratio", ascending=False).iloc[0]
        sentences.append(
            f"No dual-use family rose significantly more for {fname} than for the comparison partners "
            f"(Benjamini-Hochberg q < {alpha:g} over all {n_tests:,} partner-family tests); the largest relative "
            "ratio, "
            f"{fmt.ratio_ci(best['relative_ratio'], best['relative_low'], best['relative_high'])} for "
            f"{best['family_name']}, is within what the comparison partners' own changes produce.")
    ctl = tested[tested["kind"].isin(["control", "common_shock"]) & tested["relative_p_value"].notna()]
    if len(ctl):
        n_ctl_sig = int(((ctl["relative_q_value"] < alpha) & (ctl["relative_ratio"] > 1)).sum())
        raw_up = int(((ctl["q_value"] < alpha) & (ctl["ratio"] > 1)).sum())
        sentences.append(
            f"As a check, {n_ctl_sig} of the {len(ctl)} control and common-shock families (consumer goods, cars) "
            f"show such a {fname}-specific rise, although {raw_up} of them rose significantly in absolute terms.")
    fb = findings[findings["partner_code"] == focal] if len(findings) else findings
    if len(fb):
        ranked = ranked_findings(fb)
        tops = [finding_phrase(r) for _, r in ranked.head(2).iterrows()]
        sentences.append(f"The anomaly tests flag {fmt.count(len(fb), 'pattern')} in exports to {fname} at "
                         f"q < {alpha:g} ({len(findings)} across all partners); the strongest: {'; '.join(tops)}.")
    else:
        sentences.append(f"The anomaly tests flag no pattern in exports to {fname} at q < {alpha:g}.")
    sentences.append(
        f"Caveats: after 2021 {who}'s records are the only evidence ({fname} stopped publishing detailed trade), "
        "they show declared customs values by six-digit code only, so goods shipped under other codes, through "
        f"third countries or off the record are not seen, and a rise relative to the comparison partners is "
        "consistent with, but does not prove, military end use.")
    return [Heading("Summary"), Paragraph(" ".join(sentences))]


# --------------------------------------------------------------------------- data

def data_section(source: DataSource, config: Mapping, figures: Mapping[str, Figure], *, focal: int,
                 reporter: int) -> list:
    """Section 2: source, query, dates, coverage, HS editions and concordance, limits of the data."""
    blocks: list = [Heading("Data")]
    who, fname = area_label(reporter), area_label(focal)
    if source.origin == "demo":
        blocks.append(Callout(
            "The data are SYNTHETIC: the embedded demo panel (`analysis.demo.load_demo()`), generated with a "
            "fixed seed in the exact UN Comtrade record schema, with planted effects (see the appendix). "
            "Nothing in it is real trade; it exists so that the whole pipeline runs offline and its findings "
            "can be checked against a known answer.", kind="synthetic"))
    else:
        blocks.append(Paragraph(_provenance_text(source)))
        if source.synthetic:
            blocks.append(Callout("Some of the stored records are marked synthetic: every table and figure "
                                  "below is labelled accordingly.", kind="synthetic"))
        if source.manifest is not None and len(source.manifest):
            blocks.append(_manifest_table(source.manifest))
    blocks.append(_coverage_table(source))
    blocks.append(Paragraph(_editions_text(source, config)))
    blocks.append(Heading("Limits of the data", level=3))
    items = [
        f"**{fname} stopped publishing detailed trade after 2021**, so {who}'s side is the evidence: the series "
        f"are {who}'s reported exports. {fname}'s own imports from {who} (mirror data) exist only up to 2021 and "
        "are never mixed into the same series.",
        f"**Valuation.** {who} values exports FOB (at its border); {fname} values imports CIF (including freight "
        "and insurance), so the importer's figure is normally a few per cent higher, and timing differs "
        "(goods in transit at the turn of a month or year).",
        "**January and February.** China's customs publish January and February together; each month here "
        "carries half of the two-month total, so neither month can show a spike of its own, and the tests "
        "count the pair once.",
        "**Confidential and unallocated trade.** Comtrade shows what the reporter declares. Trade a country "
        "treats as confidential is published only at a coarser level or not by partner, and low-value or "
        "postal shipments may be missing; a fall in a code can be a reclassification, not less trade.",
        "**Codes are broad.** A six-digit HS code holds civilian and military-relevant goods alike; a rise in a "
        "code is not a rise in the sanctioned items within it. Goods routed through third countries (for "
        "example via Russia or Kazakhstan) appear as exports to those countries.",
        "**Revisions.** Comtrade data are revised; the figures are those published when they were fetched "
        "(dates above).",
    ]
    blocks.append(Bullets(items))
    if "mirror" in figures:
        blocks.append(figures["mirror"])
    return blocks


def _provenance_text(source: DataSource) -> str:
    m = source.manifest
    where = f" and stored locally in `{source.store_root}`" if source.store_root else ""
    if m is None or m.empty:
        return ("UN Comtrade final data (commodity trade, HS classification, monthly), as given to the analysis"
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
    return ("Source: UN Comtrade final data (commodity trade, HS classification, monthly), "
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


def _coverage_table(source: DataSource) -> Table:
    cov = source.coverage.copy()
    if cov.empty:
        return Table(pd.DataFrame({"coverage": ["no records"]}), caption="Coverage")
    cov["reporter"] = [f"{area_label(int(c))} ({int(c)})" for c in cov["reporter"]]
    cov["partner"] = [f"{area_label(int(c))} ({int(c)})" for c in cov["partner"]]
    cov["flow"] = cov["flow"].map({"X": "exports", "M": "imports"}).fillna(cov["flow"])
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
                 note="Records are six-digit HS lines per month. A month without a record is a zero (Comtrade "
                      "omits empty cells), except after a reporter's last published period.")


def _editions_text(source: DataSource, config: Mapping) -> str:
    fams = registry.families()
    meta = registry.load_registry().meta
    changed = int((fams["h5_codes"] != fams["h6_codes"]).sum())
    eds = source.editions
    names = {"H5": "HS 2017 (H5)", "H6": "HS 2022 (H6)"}
    ed_text = fmt.join([names.get(e, e) for e in eds]) or "no HS edition"
    return (f"HS editions in the data: {ed_text}. China reports in HS 2017 until 2021 and in HS 2022 from 2022; "
            f"the analysis therefore works on **code families** ({len(fams)} in registry version "
            f"{meta.get('version', '?')}): {changed} of them join HS 2017 and HS 2022 codes that split, merged or "
            "moved at the break, following the UN Statistics Division's HS 2022-HS 2017 correlation tables, so "
            "each family holds the same goods on both sides and its series is comparable across the break "
            "without splitting values by guessed shares; the others are single codes unchanged between the "
            f"editions. Codes come from the public reporting on China's supplies to Belarus and the "
            f"{meta.get('chpl', {}).get('name', 'Common High Priority List').split(' (')[0]} "
            f"({meta.get('chpl', {}).get('version', '')}), plus control goods.")


# --------------------------------------------------------------------------- before and after

def _family_table(rows: pd.DataFrame, alpha: float) -> pd.DataFrame:
    level = int(round((1 - alpha) * 100))
    out = pd.DataFrame({
        "family": [family_label(r) for _, r in rows.iterrows()],
        "pre, USD/month": rows["pre_usd_month"].map(lambda v: fmt.usd(v, unit=False)),
        "post, USD/month": rows["post_usd_month"].map(lambda v: fmt.usd(v, unit=False)),
        f"post/pre [{level}%\u00a0CI]": [fmt.ratio_ci(a, b, c) for a, b, c in
                                    zip(rows["ratio"], rows["ratio_low"], rows["ratio_high"], strict=False)],
        "q": rows["q_value"].map(fmt.pvalue),
        "controls post/pre": rows["control_ratio"].map(fmt.ratio),
        f"relative ratio [{level}%\u00a0CI]": [fmt.ratio_ci(a, b, c) for a, b, c in
                                          zip(rows["relative_ratio"], rows["relative_low"], rows["relative_high"],
                                              strict=True)],
        "q (relative)": rows["relative_q_value"].map(fmt.pvalue),
        "notes": rows["note"].fillna("").map(_short_note),
    })
    return fmt.as_text(out)


def _short_note(note: str) -> str:
    bits = []
    for part in str(note).split("; "):
        if part.startswith("pre_trend"):
            bits.append("pre-2022 trend")
        elif part.startswith("sparse"):
            bits.append(part.replace("sparse: ", "sparse, "))
        elif part:
            bits.append(part.split(":")[0])
    return "; ".join(bits)


def before_after(compare: pd.DataFrame, findings: pd.DataFrame, config: Mapping, figures: Mapping[str, Figure], *,
                 focal: int, alpha: float, reporter: int) -> list:
    """Section 3: per group a table of its families and a chart of their monthly series."""
    pre, post = _windows(config)
    fname = area_label(focal)
    blocks: list = [Heading("Before and after"), Paragraph(
        f"Windows: before = {pre}, after = {post}; January and February 2022 are a transition left out of both. "
        f"For each family the table gives the mean monthly value in each window, the seasonally adjusted "
        f"post/pre ratio with its {int(round((1 - alpha) * 100))}% interval and Benjamini-Hochberg q-value, the "
        "same ratio for the comparison partners combined, and the *relative ratio* (the first over the second: "
        f"how much more {fname}'s imports changed than the comparison partners'), with its own interval and "
        "q-value. The first chart sets each group against the comparison partners; a chart per group shows "
        "every family's monthly series.")]
    if "group_index" in figures:
        blocks.append(figures["group_index"])
    tot = totals_by(compare, focal, "group")
    groups = registry.groups().set_index("group")
    c = focal_rows(compare, focal)
    n_sig = c[(c["relative_q_value"] < alpha) & (c["relative_ratio"] > 1)].groupby("group").size()
    n_fam = c.groupby("group").size()
    order = [g for g in groups.index if g in set(tot["group"])] + sorted(set(tot["group"]) - set(groups.index))
    tot = tot.set_index("group").loc[order].reset_index()
    overview = pd.DataFrame({
        "group": [groups["name"].get(g, g) for g in tot["group"]],
        "kind": [groups["kind"].get(g, "ungrouped").replace("_", " ") for g in tot["group"]],
        "families": [int(n_fam.get(g, 0)) for g in tot["group"]],
        f"{fname} pre, USD/month": tot["focal_pre"].map(lambda v: fmt.usd(v, unit=False)),
        f"{fname} post, USD/month": tot["focal_post"].map(lambda v: fmt.usd(v, unit=False)),
        f"{fname} post/pre": tot["focal_ratio"].map(fmt.ratio),
        "controls post/pre": tot["controls_ratio"].map(fmt.ratio),
        f"families rising more for {fname}": [int(n_sig.get(g, 0)) for g in tot["group"]],
    })
    blocks.append(Table(fmt.as_text(overview), caption=f"Groups: {fname} against the comparison partners",
                        note=f"Totals over each group's families (window means add up). Last column: families "
                             f"with relative ratio above 1 and q < {alpha:g}."))
    for g in order:
        rows = c[c["group"] == g].sort_values("relative_ratio", ascending=False, na_position="last")
        if rows.empty:
            continue
        name = groups["name"].get(g, g)
        blocks.append(Heading(str(name), level=3, anchor=f"group-{g}"))
        if g in groups.index:
            blocks.append(Paragraph(f"*Why these codes:* {_first_sentences(groups.loc[g, 'rationale'], 2)}"))
        blocks.append(Table(_family_table(rows, alpha), caption=f"{name}: {fname}, by family",
                            note="USD per month: mean over the window. Intervals and q-values as described "
                                 "above; notes from the comparison step."))
        key = f"series_{g}"
        if key in figures:
            blocks.append(figures[key])
    return blocks


_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!\bcf)(?<!\bno)\.\s+(?=[A-Z(])")


def _first_sentences(text: str, n: int) -> str:
    """The first ``n`` sentences of ``text`` (not split at "e.g." and the like)."""
    parts = _SENTENCE_END.split(str(text).strip())
    out = ". ".join(p.rstrip(".") for p in parts[:n])
    return out + "."


# --------------------------------------------------------------------------- Belarus-specific

def specificity(compare: pd.DataFrame, did: Mapping[str, pd.DataFrame], config: Mapping,
                figures: Mapping[str, Figure], *, focal: int, alpha: float) -> list:
    """Section 4: relative ratios against the comparison partners, event study and triple difference."""
    fname = area_label(focal)
    partners = config.get("comparison_partners", [])
    names = fmt.join([area_label(int(p)) for p in partners]) if partners else "the comparison partners"
    blocks: list = [Heading(f"Is it {fname}-specific?"), Paragraph(
        f"A rise in China's exports to {fname} could be China's exports rising everywhere, or trade re-routed "
        f"across the whole region after 2022. The comparison partners ({names}) share the shocks that are not "
        f"about {fname}: the same Chinese supply, prices, exchange rates, shipping costs and the post-2022 "
        f"re-routing of trade to Russia's neighbours. The *relative ratio* divides {fname}'s post/pre change "
        "by theirs; its interval adds the spread of the comparison partners' own placebo estimates (each one "
        f"against the others), because with one treated country {fname}'s own noise does not average out.")]
    if "relative_ratios" in figures:
        blocks.append(figures["relative_ratios"])
    c = focal_rows(compare, focal)
    sig = c[(c["relative_q_value"] < alpha) & (c["relative_ratio"] > 1)].sort_values("relative_ratio",
                                                                                        ascending=False)
    if len(sig):
        level = int(round((1 - alpha) * 100))
        t = pd.DataFrame({
            "family": [family_label(r) for _, r in sig.iterrows()],
            "group": sig["group"],
            f"relative ratio [{level}%\u00a0CI]": [fmt.ratio_ci(a, b, d) for a, b, d in
                                              zip(sig["relative_ratio"], sig["relative_low"], sig["relative_high"],
                                                  strict=True)],
            "q": sig["relative_q_value"].map(fmt.pvalue),
            f"{fname} share of China's exports, pre → post": [f"{fmt.share(a)} → {fmt.share(b)}" for a, b in
                                                               zip(sig["share_pre"], sig["share_post"], strict=False)],
            "break in 2022": ["yes" if b else "no: pre-2022 trend" for b in sig.get("break_2022", [True] * len(sig))],
        })
        blocks.append(Table(fmt.as_text(t), caption=f"Families rising significantly more for {fname} than for "
                                                    f"the comparison partners (q < {alpha:g})",
                            note="'no: pre-2022 trend' marks a family whose share was already trending the same "
                                 "way within the pre window; its change is not attributed to 2022."))
    else:
        blocks.append(Paragraph(f"No family rose significantly more for {fname} than for the comparison partners "
                                f"at q < {alpha:g}."))
    blocks += _did_blocks(did, figures, focal=focal, alpha=alpha)
    return blocks


def _did_blocks(did: Mapping[str, pd.DataFrame], figures: Mapping[str, Figure], *, focal: int, alpha: float) -> list:
    blocks: list = []
    if "event_study" in figures:
        blocks.append(Heading("Event study by group", level=3))
        blocks.append(Paragraph(
            "Each point is the group's value for the focal partner relative to the comparison partners in one "
            "quarter, against the pre-period reference; flat around 1 before 2022 is the parallel-trends check, "
            "and a lasting move after February 2022 is the effect."))
        blocks.append(figures["event_study"])
    tri = did.get("triple_diff") if did else None
    if tri is not None and len(tri) and "ratio" in tri.columns:
        fname = area_label(focal)
        level = int(round((1 - alpha) * 100))
        groups = registry.groups().set_index("group")["name"]
        t = tri.sort_values("ratio", ascending=False, na_position="last")
        table = pd.DataFrame({
            "group": [groups.get(g, g) for g in t["group"]],
            "families": t["n_families"],
            f"ratio [{level}%\u00a0CI]": [fmt.ratio_ci(a, b, c) for a, b, c in zip(t["ratio"], t["ratio_low"],
                                                                                t["ratio_high"], strict=False)],
            "p": t["p_value"].map(fmt.pvalue),
            "q": t["q_value"].map(fmt.pvalue),
            "pre-2022 divergence": ["yes" if b else "" for b in t["pre_trend"].fillna(False).astype(bool)],
        })
        n_sig = int(((t["q_value"] < alpha) & (t["ratio"] > 1)).sum())
        blocks.append(Heading("Triple difference: dual-use against control goods", level=3))
        blocks.append(Paragraph(
            f"The relative change could still be a {fname}-wide rise in imports from China. The triple difference "
            f"asks whether, relative to the comparison partners, {fname}'s imports of each group rose more than "
            f"its imports of the control goods (ratio above 1). {n_sig} of {len(t)} groups do at q < {alpha:g}."))
        blocks.append(Table(fmt.as_text(table), caption=f"Triple difference by group: {fname} vs comparison "
                                                        "partners, group vs control goods",
                            note="Placebo-calibrated intervals; q: Benjamini-Hochberg over the groups. 'yes' in the "
                                 "last column: the group already diverged from the control goods before 2022."))
    return blocks


def _generic_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Format an estimate table whose columns are not known in advance: ratios and p-values rounded."""
    out = frame.drop(columns=[c for c in ("synthetic",) if c in frame.columns]).copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            if col.startswith(("p_", "q_")) or col.endswith(("p_value", "q_value")):
                out[col] = out[col].map(fmt.pvalue)
            elif "usd" in col:
                out[col] = out[col].map(lambda v: fmt.usd(v, unit=False))
            else:
                out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
    return out


# --------------------------------------------------------------------------- anomalies

def _findings_table(ranked: pd.DataFrame, *, with_partner: bool) -> pd.DataFrame:
    cols = {"rank": ranked["overall_rank"]}
    if with_partner:
        cols["partner"] = [area_label(int(p)) for p in ranked["partner_code"]]
    cols.update({
        "family": [family_label(r) for _, r in ranked.iterrows()],
        "test": ranked["kind"].map(lambda k: KIND_WORDS.get(k, k)),
        "period": ranked["period"],
        "observed": [_obs(r) for _, r in ranked.iterrows()],
        "expected [95%]": [_exp(r) for _, r in ranked.iterrows()],
        "size [95%]": [fmt.ratio_ci(a, b, c) if np.isfinite(a) else "new" for a, b, c in
                       zip(ranked["size"].astype(float), ranked.get("size_low", np.nan),
                           ranked.get("size_high", np.nan), strict=False)],
        "score": ranked["score"].map(fmt.score),
        "q": ranked["q_value"].map(fmt.pvalue),
    })
    return fmt.as_text(pd.DataFrame(cols))


_OBS_NOTE = ("Observed and expected: level shift, USD per month before and after the break; new flow, USD per "
             "month in the post and pre windows; spike, that month against the fitted level; counterfactual excess, "
             "USD in total over the post window against the projection; unit value, USD per kg; mirror gap, "
             "Belarus's reported imports over the years of the gap against China's exports times the usual "
             "import/export ratio.")


def anomalies(findings: pd.DataFrame, figures: Mapping[str, Figure], anomaly_figures: list[str], *,
              focal: int, alpha: float, top: int = 25) -> list:
    """Section 5: ranked tables of findings (focal partner, then others) and, for the top ones, a chart each
    with its counterfactual band."""
    fname = area_label(focal)
    blocks: list = [Heading("Anomalies")]
    if findings.empty:
        blocks.append(Paragraph(f"No test flags any series at q < {alpha:g}."))
        return blocks
    counts = findings.groupby("kind").size()
    by_kind = fmt.join([f"{int(counts[k])} {KIND_PLURALS[k] if counts[k] > 1 else KIND_WORDS[k]}"
                        for k in KIND_WORDS if k in counts.index])
    blocks.append(Paragraph(
        f"Six tests look for patterns in every series, not only {fname}'s (see Methods); each controls the false "
        f"discovery rate at {alpha:g} over all the series it tested (Benjamini-Hochberg). Found: {by_kind}. "
        "The tables rank them by score, the z-equivalent of the p-value (higher: stronger evidence); *size* is "
        "multiplicative (observed over expected) with its 95% interval. A finding is a pattern worth a look, "
        "not by itself evidence about end use: the same tests flag the planted car shock in every CIS market."))
    mine = findings[findings["partner_code"] == focal]
    ranked = ranked_findings(mine)
    if len(ranked):
        blocks.append(Table(_findings_table(ranked.head(top), with_partner=False),
                            caption=f"Anomalies in exports to {fname}, ranked",
                            note=f"{len(ranked)} finding(s) for {fname}"
                                 + (f", top {top} shown" if len(ranked) > top else "") + ". " + _OBS_NOTE))
    else:
        blocks.append(Paragraph(f"No test flags a series of exports to {fname} at q < {alpha:g}."))
    others = ranked_findings(findings[findings["partner_code"] != focal])
    if len(others):
        n_show = min(len(others), 10)
        blocks.append(Table(_findings_table(others.head(n_show), with_partner=True),
                            caption="Anomalies for the other partners, ranked",
                            note=f"Top {n_show} of {len(others)}; all findings are in tables/findings.csv with the "
                                 "detectors' plain-words details."))
    if anomaly_figures:
        blocks.append(Heading(f"The strongest anomalies for {fname}", level=3))
        for name in anomaly_figures:
            if name in figures:
                blocks.append(figures[name])
    return blocks


def _obs(row) -> str:
    if not np.isfinite(float(row["observed_usd"])) if pd.notna(row["observed_usd"]) else True:
        return "n/a"
    if row["kind"] == "unit_value":
        return f"{row['observed_usd']:.2f}/kg" if pd.notna(row["observed_usd"]) else "n/a"
    return fmt.usd(row["observed_usd"], unit=False)


def _exp(row) -> str:
    if row["kind"] == "unit_value":
        if pd.isna(row["expected_usd"]):
            return "n/a"
        return f"{row['expected_usd']:.2f}/kg [{row['expected_low']:.2f}–{row['expected_high']:.2f}]"
    return (f"{fmt.usd(row['expected_usd'], unit=False)} [{fmt.usd(row['expected_low'], unit=False)}–"
            f"{fmt.usd(row['expected_high'], unit=False)}]")


# --------------------------------------------------------------------------- methods

def methods(config: Mapping, *, alpha: float) -> list:
    """Section 6: each test and its assumptions, in plain words."""
    lags = config.get("hac_lags")
    comparison = str(config.get("comparison", "baseline"))
    set_words = ("the study's own list of comparison partners" if comparison == "custom" else
                 f"the named comparison set '{comparison}'")
    scope = ("within each partner's families" if config.get("q_scope", "partner") == "partner"
             else "over every row of the table")
    jan_feb = ("In the years where the data publish January and February together (detected from the records: "
               "the two months equal in every series), each carries half the joint total and the pair counts as "
               "one observation; a window may not separate them." if config.get("jan_feb_merged") else
               "January and February are used as reported (the data do not publish them together).")
    items = [
        "**Series.** Monthly sums of the reported value (USD) per partner and code family; a month without a "
        "record is zero. Where a record exists both in its original HS edition and as a converted copy, only "
        "the original counts; weights flagged as estimated are left out of unit values. " + jan_feb,
        "**Before/after ratio** (Poisson pseudo-maximum likelihood, PPML). Monthly value is regressed on a "
        "post-period indicator and month-of-year effects; the ratio is the seasonally adjusted change in mean "
        "monthly value. PPML keeps zero months as zeros and needs no logarithm. Standard errors allow for "
        f"autocorrelation (Newey-West{f', {lags} lags' if lags else ''}) and use a fixed-b reference "
        "distribution, which keeps the false-positive rate near its nominal level in series this short. "
        "Assumes: no other change between the windows that the season does not capture; a trend already under "
        "way before 2022 shows up as a change.",
        "**Relative ratio** (difference in differences). The same change for the focal partner over the change "
        f"for the comparison partners combined ({set_words}), estimated as PPML on the two series with unit and "
        "month fixed effects (a fractional logit of the focal partner's share). The comparison partners must not "
        "be treated themselves: the countries through which goods reached Russia after 2022 (the transit set) "
        "are never the default baseline but are shown as a group of their own. Inference allows for a focal "
        "partner noisier or lumpier than the comparison partners: each partner's time-series variance is scaled "
        "by how much it understates the spread of that partner's own estimates at a fake break in the middle of "
        "the pre window (where nothing happened), and the spread of placebo estimates (each comparison partner "
        "against the others) is added. The exact placebo rank p-value (the focal partner's rank among the "
        "placebos) is shown beside it. Assumes parallel trends: without 2022 the focal partner's share of the "
        "family would have stayed on its pre-2022 path. A share already trending in the pre window (a linear "
        "trend, tested with the same placebo calibration) is flagged and not reported as a 2022 break. "
        "scripts/validate_compare.py checks the size and coverage of this test on simulations with known "
        "answers, also for a focal partner twice as noisy or lumpier than the rest.",
        "**Robustness.** Each relative ratio is recomputed leaving out each comparison partner in turn, against "
        "every other named comparison set (the transit partners among them), and against a synthetic control "
        "(comparison partners weighted to match the focal partner's pre-2022 path, group by group). A finding "
        "that crosses 1 under any of them is labelled fragile.",
        "**Families whose content changed at the HS 2022 break** are flagged: before and after are not the same "
        "goods there.",
        f"**Multiple testing.** Benjamini-Hochberg q-values {scope} for each kind of test: among results "
        f"with q < {alpha:g}, at most {alpha:.0%} are expected to be false discoveries.",
        "**Level shift.** A single lasting step in a series' log level, its date found by scanning every month "
        "(sup-F test with AR(1) errors, trend and season). The p-value accounts for the search over dates by "
        "simulating the whole procedure on series without a step. Assumes one break and noise that is roughly "
        "Gaussian on the log scale; lumpy series with many zero months are left to the new-flow test.",
        "**Spike.** A single month far above what the series' own trend and season predict (robust fit), "
        "measured in robust standard deviations; the p-value comes from simulating the procedure on series "
        "without spikes, so it accounts for looking at every month. Upward only. Assumes roughly Gaussian noise "
        "on the log scale with a stable spread.",
        "**Counterfactual excess.** The pre-2022 trend, season and AR(1) noise of each of the focal partner's "
        "series are projected over the post window, with the uncertainty of the fitted trend; the post-window "
        "total is compared with the projected total and its 95% range (the band in the charts). Assumes the "
        "pre-2022 path would have continued; over long horizons the band is wide because the trend is uncertain.",
        "**New flow.** A family with negligible exports before (at most 5% of the post-window level) that is "
        "material after (at least USD 25,000 a month, in at least half of the months); one-sided rank test of "
        "post against pre months. Assumes the absence before is real, not a change of code.",
        "**Unit value.** A lasting shift in USD per kg (same break scan as the level shift), reported with what "
        "value and weight did meanwhile. Assumes net weight is reported consistently on both sides of the shift; "
        "a change in the mix of goods within a family also moves its unit value.",
        "**Mirror gap.** Annual totals of Belarus's reported imports from China against China's reported "
        "exports, per family, up to 2021; a family is flagged when its gap is far beyond the usual ratio "
        "(CIF/FOB margin and timing, estimated from all families) and the usual spread between families. Assumes "
        "most families' gaps are ordinary; re-exports and partner attribution produce real but innocent gaps.",
        "**What the tests cannot show.** They measure declared trade by code. Causation, end use and "
        "transshipment need other evidence; a finding is a lead to check, not a conclusion.",
    ]
    return [Heading("Methods"), Bullets(items)]


# --------------------------------------------------------------------------- appendix

def ground_truth_check(truth: pd.DataFrame, compare: pd.DataFrame, findings: pd.DataFrame, *, alpha: float,
                       focal: int) -> list:
    """Appendix for the demo panel: each planted effect and whether the analysis found it.

    Effects on the focal partner get a row each; the same effect planted in several other partners (the car
    shock) is summarised in one row.
    """
    def found_kinds(fam: str, partner: int) -> list[str]:
        if findings.empty:
            return []
        f = findings[(findings["family"] == fam) & (findings["partner_code"] == partner)]
        return sorted(set(f["kind"]))

    rows = []
    is_mirror = truth["kind"] == "mirror_gap"
    china_side = truth["partner_code"].where(~is_mirror, truth["reporter_code"]).astype(int)
    own = truth[(china_side == focal) | is_mirror]
    rest = truth[~truth.index.isin(own.index)]
    for _, e in own.iterrows():
        fam = e["family_id"]
        partner = focal
        c = compare[(compare["family"] == fam) & (compare["partner_code"] == partner)]
        rel = ""
        if len(c) and e["kind"] != "mirror_gap":
            r = c.iloc[0]
            rel = f"{fmt.ratio_ci(r['relative_ratio'], r['relative_low'], r['relative_high'])}, " \
                  f"q {fmt.pvalue(r['relative_q_value'])}"
        factor = "from zero" if not np.isfinite(e["factor"]) else f"×{e['factor']:g}"
        rows.append({"planted": f"{e['kind'].replace('_', ' ')} {factor}", "partner": area_label(partner),
                     "family": fam, "from": e["start"],
                     "found by anomaly tests": fmt.join([KIND_WORDS.get(k, k) for k in found_kinds(fam, partner)])
                     or "not found",
                     "relative ratio (compare)": rel})
    for (kind, factor, start), block in rest.groupby(["kind", "factor", "start"], sort=False):
        n = len(block)
        hits = sum(bool(found_kinds(r["family_id"], int(r["partner_code"]))) for _, r in block.iterrows())
        partners = sorted({area_label(int(p)) for p in block["partner_code"]})
        c = compare.merge(block[["partner_code", "family_id"]].rename(columns={"family_id": "family"}),
                          on=["partner_code", "family"])
        sig = int(((c["relative_q_value"] < alpha) & (c["relative_ratio"] > 1)).sum()) if len(c) else 0
        rows.append({"planted": f"{kind.replace('_', ' ')} ×{factor:g}",
                     "partner": f"{len(partners)} partner(s): {fmt.join(partners)}",
                     "family": fmt.join(sorted(set(block["family_id"]))), "from": start,
                     "found by anomaly tests": f"{hits} of {n} series",
                     "relative ratio (compare)": f"{sig} of {len(c)} significant"})
    table = pd.DataFrame(rows)
    return [Heading("Appendix: planted effects in the synthetic panel"), Paragraph(
        "The demo panel plants known effects (`analysis.demo.ground_truth()`). The table lists each one with "
        "what the analysis found in the same series: a check of the methods on data where the answer is "
        "known. A one-month spike should not move the before/after ratio; a shock planted in every CIS market "
        "(cars) should be found by the anomaly tests in each market but should *not* come out as "
        f"{area_label(focal)}-specific in the relative ratio."),
        Table(fmt.as_text(table), caption="Planted effects and what was found")]


# --------------------------------------------------------------------------- reproduce

def reproduce(config: Mapping, source: DataSource) -> list:
    """Last section: the settings of this run and the command that repeats it."""
    pre, post = config.get("pre", ""), config.get("post", "")
    partners = ",".join(str(p) for p in config.get("comparison_partners", []))
    cmd = ("tradeflows report" if source.origin == "demo"
           else "tradeflows report --store " + (source.store_root or "DIR"))
    cmd += f" --pre {pre} --post {post}"
    if partners:
        cmd += f" --controls {partners}"
    items = [f"Reporter {config.get('reporter', '')}, flow {config.get('flow', '')}, focal partner "
             f"{config.get('focal', '')}; comparison partners {partners or 'none'}"
             + (f" (not in the data: {', '.join(map(str, config['comparison_partners_missing']))})"
                if config.get("comparison_partners_missing") else "") + ".",
             f"Windows: pre {pre}, post {post}; significance level {config.get('alpha', 0.05)}; January/February "
             f"merged: {'yes' if config.get('jan_feb_merged', True) else 'no'}.",
             f"Command: `{cmd}`. Every table is in tables/ (CSV) with config.json."]
    return [Heading("Reproduce", level=2), Bullets(items)]
