"""The report's appendix: every group's families, the demo's planted effects checked, and how to reproduce.

The brief (:mod:`analysis.report.sections`) stays short; the long tables and
the per-group charts are here, with one explanation for all of them instead
of one per group.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .. import registry
from ..plots import group_label
from ..provenance import SET_ASIDE_CONVERTED as CONVERTED
from ..provenance import SET_ASIDE_ESTIMATED_KG as ESTIMATED_KG
from . import fmt, words
from .context import Context
from .document import Bullets, Heading, Paragraph, Table
from .sections import row_labels, totals

# --------------------------------------------------------------------------- groups


def groups(ctx: Context) -> list:
    """Appendix A: the groups against the comparison partners, then every group's families and series."""
    s, c, alpha, fname = ctx.study, ctx.compare, ctx.alpha, ctx.fname
    pre, post = words.windows(s)
    unit = words.per_unit(s)
    lvl = words.level(alpha)
    blocks: list = [Heading("Appendix A: every group and family"), Paragraph(
        f"Windows: before = {pre}, after = {post}. For each family: the mean value per "
        f"{'month' if s.freq == 'M' else 'year'} in each window ({unit}), the post/pre ratio with its {lvl}% interval "
        f"and q-value, the same ratio for the comparison partners combined, and the relative ratio (the first over the "
        f"second) with its interval and q-value. Labels: fragile, content changed, pre-break trend (see the brief). "
        "The charts show each family's series for the focal partner with the window means; marks show the periods "
        "the anomaly tests flag.")]
    blocks += ctx.figure("group_index")
    tot = totals(c, ctx.focal, "group")
    focal_rows = c[c["partner_code"] == ctx.focal]
    n_sig = words.significant(focal_rows, alpha).groupby("group").size()
    n_fam = focal_rows.groupby("group").size()
    reg = registry.groups().set_index("group")
    order = [g for g in reg.index if g in set(tot["group"])] + sorted(set(tot["group"]) - set(reg.index))
    tot = tot.set_index("group").loc[order].reset_index()
    overview = pd.DataFrame({
        "group": [group_label(g) for g in tot["group"]],
        "kind": [str(reg["kind"].get(g, "outside the registry")).replace("_", " ") for g in tot["group"]],
        "families": [int(n_fam.get(g, 0)) for g in tot["group"]],
        f"{fname} pre, {unit}": tot["focal_pre"].map(lambda v: fmt.usd(v, unit=False)),
        f"{fname} post, {unit}": tot["focal_post"].map(lambda v: fmt.usd(v, unit=False)),
        f"{fname} post/pre": tot["focal_ratio"].map(fmt.ratio),
        "comparison post/pre": tot["controls_ratio"].map(fmt.ratio),
        f"rising more for {fname}": [int(n_sig.get(g, 0)) for g in tot["group"]],
    })
    blocks.append(Table(fmt.as_text(overview), caption=f"Groups: {fname} against the comparison partners",
                        note=f"Totals over each group's families (window means add up). Last column: families with a "
                             f"relative ratio above 1 at q < {alpha:g}."))
    for g in order:
        rows = focal_rows[focal_rows["group"] == g].sort_values("relative_ratio", ascending=False, na_position="last")
        if rows.empty:
            continue
        name = group_label(g)
        blocks.append(Heading(name, level=3, anchor=f"group-{g}"))
        if g in reg.index and str(reg.loc[g, "rationale"]).strip():
            blocks.append(Paragraph(f"*Why these codes:* {_first_sentences(reg.loc[g, 'rationale'], 2)}"))
        blocks.append(Table(_family_table(rows, ctx), caption=f"{name}: {fname}, by family"))
        blocks += ctx.figure(f"series_{g}")
    return blocks


def _family_table(rows: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    lvl = words.level(ctx.alpha)
    unit = words.per_unit(ctx.study)
    out = pd.DataFrame({
        "family": [words.family_label(r) for _, r in rows.iterrows()],
        f"pre, {unit}": rows["pre_usd_month"].map(lambda v: fmt.usd(v, unit=False)),
        f"post, {unit}": rows["post_usd_month"].map(lambda v: fmt.usd(v, unit=False)),
        f"post/pre [{lvl}%\u00a0CI]": [fmt.ratio_ci(a, b, c) for a, b, c in
                                    zip(rows["ratio"], rows["ratio_low"], rows["ratio_high"], strict=False)],
        "q": rows["q_value"].map(fmt.pvalue),
        "comparison post/pre": rows["control_ratio"].map(fmt.ratio),
        f"relative ratio [{lvl}%\u00a0CI]": [fmt.ratio_ci(a, b, c) for a, b, c in
                                          zip(rows["relative_ratio"], rows["relative_low"], rows["relative_high"],
                                              strict=True)],
        "q (relative)": rows["relative_q_value"].map(fmt.pvalue),
        "labels": [row_labels(r, notes=True) for _, r in rows.iterrows()],
    })
    return fmt.as_text(out)


_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!\bcf)(?<!\bno)\.\s+(?=[A-Z(])")


def _first_sentences(text: str, n: int) -> str:
    """The first ``n`` sentences of ``text`` (not split at "e.g." and the like)."""
    parts = _SENTENCE_END.split(str(text).strip())
    return ". ".join(p.rstrip(".") for p in parts[:n]) + "."


# --------------------------------------------------------------------------- planted effects

def ground_truth_check(ctx: Context, truth: pd.DataFrame) -> list:
    """Appendix B (demo only): each planted effect or trap, what the analysis should do, and what it did."""
    rows = [_check(kind, block, ctx, truth) for kind, block in truth.groupby("kind", sort=False)]
    table = pd.DataFrame([r for r in rows if r is not None])
    n_ok = int((table["as expected"] == "yes").sum()) if len(table) else 0
    return [Heading("Appendix B: planted effects in the synthetic panel"), Paragraph(
        "The demo panel plants known effects and real-data traps (`analysis.demo.ground_truth()`). Each is listed "
        f"with what the analysis should do and what it did: {n_ok} of {len(table)} as expected."),
        Table(fmt.as_text(table), caption="Planted effects and traps, and what the analysis did")]


def _rel_row(ctx: Context, family: str, partner: int) -> pd.Series | None:
    c = ctx.compare
    r = c[(c["family"] == family) & (c["partner_code"] == partner)]
    return None if r.empty else r.iloc[0]


def _found(ctx: Context, family: str, partner: int, kinds: tuple[str, ...] | None = None) -> list[str]:
    f = ctx.findings
    if f.empty:
        return []
    f = f[(f["family"] == family) & (f["partner_code"] == partner)]
    if kinds is not None:
        f = f[f["kind"].isin(kinds)]
    return sorted(set(f["kind"]))


def _check(kind: str, block: pd.DataFrame, ctx: Context, truth: pd.DataFrame) -> dict | None:
    alpha, focal = ctx.alpha, ctx.focal
    e = block.iloc[0]
    row: dict = {"planted": kind.replace("_", " "), "where": "", "should": "", "did": "", "as expected": ""}
    if kind in ("level_shift", "new_flow", "unit_value", "spike", "mirror_gap"):
        checks, did = [], []
        for _, t in block.iterrows():
            partner = int(t["reporter_code"] if kind == "mirror_gap" else t["partner_code"])
            fam = str(t["family_id"])
            hit = _found(ctx, fam, focal if kind == "mirror_gap" else partner,
                         ("mirror_gap",) if kind == "mirror_gap" else None)
            ok = bool(hit)
            text = f"{fam} ({words.name(partner)}, {t['start']}): {'found' if hit else 'not found'}"
            r = _rel_row(ctx, fam, partner) if kind == "level_shift" and partner == focal else None
            if r is not None and np.isfinite(float(t["factor"])):
                rel, expect = float(r["relative_ratio"]), _window_effect(ctx, float(t["factor"]), str(t["start"]))
                within = 0.75 <= rel / expect <= 1.33
                ok = ok and within and r["relative_q_value"] < alpha
                text += (f"; relative ratio {fmt.ratio(rel)} against ×{expect:.2f} planted over the window "
                         f"(×{t['factor']:g} from {t['start']}; {'within' if within else 'outside'} 0.75-1.33; "
                         f"q {fmt.pvalue(r['relative_q_value'])})")
            checks.append(ok)
            did.append(text)
        row.update(where=f"{len(block)} series", should="found by the anomaly tests" + (
            "; relative ratio within 0.75-1.33 of the planted change of the window mean, significant"
            if kind == "level_shift" else ""),
            did="; ".join(did), **{"as expected": _yes(all(checks))})
        row["planted"] = f"{row['planted']} (×{fmt.join(sorted({f'{v:g}' for v in block['factor']}))})"
        return row
    if kind == "common_shock":
        fams = sorted(set(block["family_id"]))
        rows = [_rel_row(ctx, f, focal) for f in fams]
        sig = sum(1 for r in rows if r is not None and r["relative_q_value"] < alpha and r["relative_ratio"] > 1)
        common = [f for f in fams if _found(ctx, f, 0, ("common_shift",))]
        row.update(where=f"{block['partner_code'].nunique()} partners, {len(fams)} families",
                   should=f"one reporter-wide finding per family; not {ctx.fname}-specific",
                   did=f"{len(common)} of {len(fams)} families found as shared shifts; {sig} {ctx.fname}-specific",
                   **{"as expected": _yes(sig == 0 and len(common) == len(fams))})
        return row
    if kind == "export_ban":
        fams = sorted(set(block["family_id"]))
        common = [f for f in fams if _found(ctx, f, 0, ("common_shift",))]
        mine = [f for f in fams if _found(ctx, f, focal, ("level_shift",))]
        row.update(where=f"every partner, {fmt.join(fams)} from {e['start']}", should="one reporter-wide finding, "
                   f"not a {ctx.fname} anomaly", did=f"shared shift found: {_yes(bool(common))}; {ctx.fname} level "
                   f"shift: {_yes(bool(mine))}", **{"as expected": _yes(bool(common) and not mine)})
        return row
    if kind == "transit_rise":
        tr = ctx.compare[ctx.compare["partner_code"] == focal]
        in_base = sorted(set(block["partner_code"].astype(int)) & set(ctx.study.controls))
        med = float(tr["transit_ratio"].median()) if "transit_ratio" in tr.columns else float("nan")
        row.update(where=f"{len(block)} transit partners", should="kept out of the baseline; their own change shown",
                   did=f"in the baseline: {len(in_base)}; transit partners' median change {fmt.ratio(med)} "
                       f"(planted ×{block['factor'].min():g}-{block['factor'].max():g})",
                   **{"as expected": _yes(not in_base and np.isfinite(med) and med > 1.5)})
        return row
    if kind == "shared_transit_shift":
        fam = str(e["family_id"])
        r = _rel_row(ctx, fam, focal)
        vs = float(r["relative_ratio_transit"]) if r is not None and "relative_ratio_transit" in r else float("nan")
        row.update(where=f"{fam}, {ctx.fname} and the transit partners", should=f"{ctx.fname} shown moving with the "
                   "routes (its change over the transit partners' near 1)",
                   did=f"{ctx.fname} vs transit partners {fmt.ratio(vs)}; labelled fragile: "
                       f"{_yes(bool(r is not None and r.get('fragile', False)))}",
                   **{"as expected": _yes(np.isfinite(vs) and 0.75 <= vs <= 1.33)})
        return row
    if kind == "duplicate_edition":
        a = ctx.source.set_aside
        left = a[a["reason"] == CONVERTED] if a is not None and len(a) else pd.DataFrame(columns=["partner_code"])
        partners = sorted(set(block["partner_code"].astype(int)))
        got = sorted(set(left["partner_code"].astype(int)) & set(partners)) if len(left) else []
        row.update(where=f"{len(partners)} partners from {e['start']}", should="converted copies left out, listed",
                   did=f"left out for {len(got)} of {len(partners)} partners "
                       f"({int(left['records'].sum()) if len(left) else 0:,} records)",
                   **{"as expected": _yes(len(got) == len(partners))})
        return row
    if kind == "estimated_weight":
        a = ctx.source.set_aside
        est = a[(a["reason"] == ESTIMATED_KG)] if a is not None and len(a) else pd.DataFrame()
        uv = ctx.findings[(ctx.findings["kind"] == "unit_value") & (ctx.findings["partner_code"] == focal)
                          & ctx.findings["period"].astype(str).str.startswith(str(e["start"])[:4])]
        row.update(where=f"{words.name(int(e['partner_code']))}, {e['start']} to {e['end']}",
                   should="weights left out of unit values; no unit-value finding there",
                   did=f"estimated-weight records listed: {_yes(len(est) > 0)}; unit-value findings in "
                       f"{str(e['start'])[:4]}: {len(uv)}", **{"as expected": _yes(len(est) > 0 and uv.empty)})
        return row
    if kind == "noisy_focal":
        q = words.question_rows(ctx.compare, focal)
        planted = truth["partner_code"].isin([focal, 0]) & (truth["family_id"] != "*")
        effects = set(truth.loc[planted, "family_id"])
        null = words.tested(q[~q["family"].isin(effects)])
        false = words.significant(null, alpha)
        row.update(where=f"{ctx.fname}, every family", should=f"no {ctx.fname} family without a planted effect "
                   "significant", did=f"{len(false)} of {len(null)} null families "
                   f"significant" + (f" ({fmt.join(list(false['family']))})" if len(false) else ""),
                   **{"as expected": _yes(false.empty)})
        return row
    if kind == "jan_feb_joint":
        years = ctx.result.series.attrs.get("jan_feb_merged", ())
        got = sorted({int(y) for r, y, m in years if m and int(r) == ctx.study.reporter})
        row.update(where=f"{ctx.rname} from {str(e['start'])[:4]}", should="detected from the records, those years "
                   "only", did=f"merged years detected: {fmt.join([str(y) for y in got]) or 'none'}",
                   **{"as expected": _yes(bool(got) and min(got) == int(str(e["start"])[:4]))})
        return row
    row.update(did="no check for this kind", **{"as expected": "n/a"})
    return row


def _window_effect(ctx: Context, factor: float, start: str) -> float:
    """The planted change of the post-window mean: ``factor`` from ``start``, 1 before it within the window."""
    post = ctx.study.post
    months = pd.date_range(post.start, post.end if post.end is not None else post.start, freq="MS")
    if len(months) == 0:
        return factor
    return float(np.where(months >= pd.Timestamp(start + "-01"), factor, 1.0).mean())


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# --------------------------------------------------------------------------- reproduce

def reproduce(ctx: Context) -> list:
    """The settings of this run and the command that repeats it."""
    s, cfg, source = ctx.study, ctx.config, ctx.source
    parts = ["tradeflows report"]
    if ctx.demo:
        parts.append("--demo")
    elif source.store_root:
        parts.append(f"--store {source.store_root}")
    defaults = type(s)()
    if s.reporter != defaults.reporter:
        parts.append(f"--reporter {s.reporter}")
    if s.focal != defaults.focal:
        parts.append(f"--focal {s.focal}")
    if s.default_controls:
        if s.comparison != defaults.comparison:
            parts.append(f"--comparison {s.comparison}")
    else:
        parts.append("--controls " + (",".join(map(str, s.controls)) or "none"))
    if not s.default_transit:
        parts.append("--transit " + (",".join(map(str, s.transit)) or "none"))
    for flag, value, default in (("--flow", s.flow, "X"), ("--freq", s.freq, "M"), ("--level", s.level, 6)):
        if value != default:
            parts.append(f"{flag} {value}")
    if s.codes:
        parts.append("--codes " + ",".join(s.codes))
    parts += [f"--pre {s.pre.text_at(s.freq)}", f"--post {s.post.text_at(s.freq)}"]
    if ctx.alpha != 0.05:
        parts.append(f"--alpha {ctx.alpha:g}")
    cmd = " ".join(parts)
    items = [f"{s.describe()}.",
             f"Significance level {ctx.alpha:g}; q-values {cfg.get('q_scope', 'partner')}-wise; "
             f"January/February merged: {'yes' if cfg.get('jan_feb_merged') else 'no'}.",
             f"Command: `{cmd}`. Every table is in tables/ (CSV) with config.json."]
    return [Heading("Reproduce", level=2), Bullets(items)]
