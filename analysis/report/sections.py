"""The brief: Summary, Caveats, the core results and the method, each generated from the results.

Every number comes from the result tables (compare, findings, did) or the
data description, and every noun from the study (:mod:`analysis.report.words`):
reporter, focal partner, flow, goods, windows and break are never assumed.
The brief is short: a Summary of bullet points with numbers and intervals,
one caveats box, the core figures and tables (relative ratios, the transit
comparison, the event study, the findings that answer the question); the
per-group detail is in :mod:`analysis.report.appendix`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..plots import group_label
from . import fmt, words
from .context import Context
from .document import Bullets, Callout, Heading, Paragraph, Table

# --------------------------------------------------------------------------- shared numbers


def totals(compare: pd.DataFrame, focal: int, by: str | None = None) -> pd.DataFrame:
    """Window means of the focal partner and of the comparison partners combined (sums over families and
    partners, which add up over the same windows), with post/pre ratios, by ``by`` or overall."""
    c = compare.copy()
    c["side"] = np.where(c["partner_code"] == focal, "focal",
                         np.where(c["is_comparison"].fillna(False).astype(bool), "controls", ""))
    c = c[c["side"] != ""]
    if by is None:
        c, by = c.assign(all="all"), "all"
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


def _fragile(rows: pd.DataFrame) -> pd.Series:
    return rows["fragile"].fillna(False).astype(bool) if "fragile" in rows.columns else pd.Series(False,
                                                                                                  index=rows.index)


def _rel(row: pd.Series, alpha: float) -> str:
    return (f"{fmt.ratio(row['relative_ratio'])} ({words.level(alpha)}% interval "
            f"{fmt.interval(row['relative_low'], row['relative_high'])})")


# --------------------------------------------------------------------------- summary

def summary(ctx: Context) -> list:
    """4-6 bullet points: totals, the focal-specific rises, the transit comparison, the checks, the anomalies."""
    s, c, alpha = ctx.study, ctx.compare, ctx.alpha
    fname, rname, flow = ctx.fname, ctx.rname, words.flow_word(s)
    pre, post = words.windows(s)
    goods = words.goods(c, s)
    q_rows = words.question_rows(c, ctx.focal)
    tested, sig, n_tests = words.rises(c, ctx.focal, alpha)
    bullets = []
    if len(q_rows):
        t = totals(c[c["family"].isin(set(q_rows["family"]))], ctx.focal).iloc[0]
        n_ctl = len(ctx.config.get("comparison_partners", ()))
        bullets.append(
            f"**Totals.** {rname}'s recorded {flow} of {goods} ({len(q_rows)} code families) to {fname} averaged "
            f"{fmt.usd(t['focal_pre'])} {words.per(s)} in {pre} and {fmt.usd(t['focal_post'])} in {post} "
            f"({fmt.ratio(t['focal_ratio'])}); to the {n_ctl} comparison partners ({_set_words(ctx)}) they changed "
            f"by {fmt.ratio(t['controls_ratio'])}" + _transit_total(ctx, q_rows) + ".")
    scope = (f"Benjamini-Hochberg q < {alpha:g} over {fname}'s {n_tests} family tests"
             if ctx.config.get("q_scope", "partner") == "partner" else
             f"Benjamini-Hochberg q < {alpha:g} over all {int(c['relative_p_value'].notna().sum()):,} "
             "partner-family tests")
    if len(sig):
        fragile = _fragile(sig)
        n_fragile = int(fragile.sum())
        top = [f"{r['family_name']} {_rel(r, alpha)}{' (fragile)' if fr else ''}"
               for (_, r), fr in zip(sig.head(3).iterrows(), fragile.head(3), strict=True)]
        bullets.append(
            f"**{fname}-specific rises.** {len(sig)} of the {len(tested)} {words.goods_noun(c, s)} families with a "
            f"relative ratio rose significantly more for {fname} than for the comparison partners ({scope}); the "
            f"largest: {fmt.join(top)}. {n_fragile} of the {len(sig)} {'is' if n_fragile == 1 else 'are'} "
            "fragile (the conclusion changes "
            "when one comparison partner is left out, under another comparison set or against a synthetic "
            "control).")
    elif len(tested):
        best = tested.sort_values("relative_ratio", ascending=False).iloc[0]
        bullets.append(
            f"**No {fname}-specific rise.** No {words.goods_noun(c, s)} family rose significantly more for {fname} "
            f"than for the comparison partners ({scope}); the largest relative ratio, {_rel(best, alpha)} for "
            f"{best['family_name']}, is within what the comparison partners' own changes produce.")
    else:
        bullets.append(f"**No relative ratio could be estimated** for {fname}'s families (see the notes in "
                       "tables/compare.csv).")
    if (line := _transit_bullet(ctx, sig)) is not None:
        bullets.append(line)
    bullets.append(_checks_bullet(ctx))
    bullets.append(_anomaly_bullet(ctx))
    if (line := _supplier_bullet(ctx)) is not None:
        bullets.append(line)
    blocks: list = [Heading("Summary")]
    if ctx.source.synthetic:
        where = ("the planted effects are checked in the appendix" if ctx.demo else
                 "the records are marked synthetic")
        blocks.append(Callout("These results come from SYNTHETIC data: they show what the methods find in made-up "
                              f"data ({where}), not real trade.", kind="synthetic"))
    blocks.append(Bullets(bullets))
    blocks.append(caveats(ctx))
    return blocks


def _set_words(ctx: Context) -> str:
    comp = ctx.study.comparison
    return "the study's own list" if comp == "custom" else f"the '{comp}' set"


def _transit_total(ctx: Context, q_rows: pd.DataFrame) -> str:
    if "transit_ratio" not in q_rows.columns or not ctx.study.transit:
        return ""
    r = q_rows["transit_ratio"].replace([np.inf, -np.inf], np.nan).dropna()
    if r.empty:
        return ""
    return (f", and to the {len(ctx.study.transit)} transit partners by a median of {fmt.ratio(float(r.median()))} "
            "per family")


def _transit_bullet(ctx: Context, sig: pd.DataFrame) -> str | None:
    """Does the focal partner move with the transit routes, or alone?"""
    if "relative_ratio_transit" not in sig.columns or not ctx.study.transit or sig.empty:
        return None
    vs = sig["relative_ratio_transit"]
    known = vs.notna()
    if not known.any():
        return None
    alone = int((vs[known] > 1.25).sum())
    along = int((vs[known] <= 1.25).sum())
    n = int(known.sum())
    text = (f"**With the routes, or alone?** Of the {fmt.count(n, 'family', 'families')} rising more for "
            f"{ctx.fname} than for the comparison partners, {alone} also rose at least ×1.25 more than for the "
            f"{len(ctx.study.transit)} transit partners (the documented routes to Russia after 2022)")
    if along:
        text += f", and {along} about as much as theirs or less: there {ctx.fname} moves with the routes."
    else:
        text += f": {ctx.fname} did not merely move with the routes."
    return text


def _supplier_bullet(ctx: Context) -> str | None:
    """The reporter's share of the focal partner's imports, from the other reporters' exports (mirror data)."""
    sup = ctx.result.suppliers
    if sup is None or sup.reporter_share.empty:
        return None
    r = sup.reporter_share
    r = r[(r["level"] == "group") & (r["supplier_code"] == ctx.study.reporter)].dropna(subset=["change"])
    if r.empty:
        return None
    up = r[r["change_low"] > 0].sort_values("change", ascending=False)
    lvl = words.level(ctx.alpha)
    top = [f"{group_label(g['group'])} {fmt.share(g['share_pre'])} → {fmt.share(g['share_post'])} "
           f"({lvl}% interval of the change {100 * g['change_low']:+.0f} to {100 * g['change_high']:+.0f} points)"
           for _, g in up.head(2).iterrows()]
    return (f"**Who supplies {ctx.fname}?** Rebuilt from every reporter's exports to {ctx.fname} (mirror data), "
            f"{ctx.rname}'s share of its imports rose in {len(up)} of {len(r)} groups"
            + (f"; the largest: {fmt.join(top)}" if top else "") + ".")


def _checks_bullet(ctx: Context) -> str:
    c, alpha, fname = ctx.compare, ctx.alpha, ctx.fname
    ctl = words.tested(words.control_rows(c, ctx.focal))
    parts = []
    if len(ctl):
        n_sig = len(words.significant(ctl, alpha))
        raw = int(((ctl["q_value"] < alpha) & (ctl["ratio"] > 1)).sum())
        parts.append(f"{n_sig} of the {len(ctl)} control and common-shock families show a {fname}-specific rise "
                     f"(expected: none), although {raw} rose significantly in absolute terms")
    tri = ctx.result.triple_diff if ctx.result.diffindiff is not None else pd.DataFrame()
    if len(tri) and "ratio" in tri.columns:
        n = int(((tri["q_value"] < alpha) & (tri["ratio"] > 1)).sum())
        parts.append(f"{n} of {len(tri)} groups rose more than {fname}'s control goods relative to the comparison "
                     f"partners (triple difference, q < {alpha:g})")
    if not parts:
        return (f"**Checks.** The data hold no control goods, so a {fname}-wide rise in all imports cannot be told "
                "apart from a rise in the goods studied.")
    return "**Checks.** " + "; ".join(parts) + "."


def _anomaly_bullet(ctx: Context) -> str:
    f, alpha, fname = ctx.findings, ctx.alpha, ctx.fname
    if f.empty:
        return f"**Anomalies.** No test flags a pattern at q < {alpha:g}."
    roles = words.finding_roles(f, ctx.study)
    mine = f[roles == "question"]
    rest = {r: int((roles == r).sum()) for r in words.ROLE_ORDER[1:] if (roles == r).any()}
    label = {"control goods": ("in control goods", "in control goods"),
             "common event": ("common event", "common events"),
             "before the break": ("before the break", "before the break"),
             "data check": ("data check", "data checks"),
             "other partner": ("for another partner", "for other partners")}
    others = fmt.join([f"{n} {label[r][n != 1]}" for r, n in rest.items()])
    if len(mine):
        from ..results import ranked_findings

        tops = [words.finding_phrase(r, ctx.study) for _, r in ranked_findings(mine).head(2).iterrows()]
        noun = words.goods_noun(ctx.compare, ctx.study)
        text = (f"**Anomalies.** {fmt.count(len(mine), 'pattern')} in {fname}'s {noun} "
                f"series after the break at q < {alpha:g}; the strongest: {'; '.join(tops)}.")
    else:
        text = (f"**Anomalies.** No pattern in {fname}'s {words.goods_noun(ctx.compare, ctx.study)} series after the "
                f"break at q < {alpha:g}.")
    return text + (f" Listed apart: {others}." if others else "")


def caveats(ctx: Context) -> Callout:
    """One paragraph: what the data cannot show."""
    s, fname, rname = ctx.study, ctx.fname, ctx.rname
    own = _focal_reports(ctx)
    text = (f"**Caveats.** The series are {rname}'s declared {words.flow_word(s)} ({words.valuation(s)}) by "
            f"{words.level_words(s)}; " + own + " Goods shipped under other codes, through third countries or "
            "off the record are not seen, and a code holds civilian and military goods alike. A rise relative to "
            f"the comparison partners is consistent with, but does not prove, a {fname}-specific cause or any end "
            "use; a finding is a lead to check, not a conclusion.")
    if bool(ctx.compare.get("changed_content", pd.Series(dtype=bool)).fillna(False).any()):
        text += (" Families marked *content changed* hold different goods before and after the HS 2022 break.")
    return Callout(text)


def _focal_reports(ctx: Context) -> str:
    """What the focal partner's own records cover (the mirror check), from the data."""
    last = ctx.focal_own_last
    if last is None:
        return f"the data hold no records reported by {ctx.fname} itself, so nothing checks them from its side."
    return (f"{ctx.fname}'s own records of the same trade end in {last} and are used only as a mirror check, never "
            "mixed into the series.")


# --------------------------------------------------------------------------- is it focal-specific?

def specificity(ctx: Context) -> list:
    """Core: the relative ratios (figure and the significant families), the transit comparison, the event study
    and the triple difference."""
    s, c, alpha, fname = ctx.study, ctx.compare, ctx.alpha, ctx.fname
    partners = ctx.config.get("comparison_partners", ())
    names = fmt.join([words.name(p) for p in partners]) if partners else "none"
    blocks: list = [Heading(f"Is it {fname}-specific?"), Paragraph(
        f"A rise in {ctx.rname}'s {words.flow_word(s)} to {fname} could be a rise to everyone. The *relative ratio* "
        f"divides {fname}'s post/pre change by that of the comparison partners combined ({_set_words(ctx)}: "
        f"{names}), family by family; above 1, {fname}'s value rose more. Intervals and p-values allow for "
        f"{fname} being noisier than the comparison partners (see Methods).")]
    blocks += ctx.figure("relative_ratios")
    sig = words.rises(c, ctx.focal, alpha).significant
    if len(sig):
        blocks.append(Table(_significant_table(sig, ctx), caption=f"Families rising significantly more for {fname} "
                                                                  f"than for the comparison partners (q < {alpha:g})",
                            note=_significant_note(ctx)))
    else:
        blocks.append(Paragraph(f"No family rose significantly more for {fname} than for the comparison partners "
                                f"at q < {alpha:g}."))
    blocks += _transit_blocks(ctx)
    blocks += _did_blocks(ctx)
    return blocks


def _significant_table(sig: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    lvl = words.level(ctx.alpha)
    out = pd.DataFrame({
        "family": [words.family_label(r) for _, r in sig.iterrows()],
        "group": [group_label(g) for g in sig["group"]],
        f"relative ratio [{lvl}%\u00a0CI]": [fmt.ratio_ci(a, b, d) for a, b, d in
                                          zip(sig["relative_ratio"], sig["relative_low"], sig["relative_high"],
                                              strict=True)],
        "q": sig["relative_q_value"].map(fmt.pvalue),
        "placebo rank p": sig["relative_p_rank"].map(fmt.pvalue) if "relative_p_rank" in sig else "",
        "leave-one-out range": [fmt.interval(a, b) for a, b in zip(sig.get("rel_loo_low", np.nan),
                                                                   sig.get("rel_loo_high", np.nan), strict=False)],
        "vs transit partners": sig.get("relative_ratio_transit", pd.Series(np.nan, index=sig.index)).map(fmt.ratio),
        "synthetic control": sig.get("relative_ratio_synth", pd.Series(np.nan, index=sig.index)).map(fmt.ratio),
        "honest bound M̄": sig.get("rr_breakdown", pd.Series(np.nan, index=sig.index)).map(
            lambda v: "" if pd.isna(v) else f"{v:.2g}"),
        "labels": [row_labels(r) for _, r in sig.iterrows()],
    })
    return fmt.as_text(out)


_NOTE_LABELS = ("no pre-period", "sparse", "not estimable")
"""Notes of compare.csv shown as labels (their first clause) when ``notes`` is asked for."""


def row_labels(row: pd.Series, *, notes: bool = False) -> str:
    """``fragile, content changed, pre-break trend`` (and, with ``notes``, why a value is missing) for a row."""
    bits = [label for col, label in (("fragile", "fragile"), ("changed_content", "content changed"),
                                     ("pre_trend", "pre-break trend")) if bool(row.get(col, False))]
    if notes:
        bits += [part.split(":")[0] for part in str(row.get("note") or "").split("; ")
                 if part.startswith(_NOTE_LABELS)]
    return ", ".join(bits)


def _significant_note(ctx: Context) -> str:
    return ("Placebo rank p: the exact p-value of the focal partner's rank among the comparison partners' own "
            "placebo estimates. Honest bound M̄: how many times the largest pre-window year-to-year move of the "
            "relative ratio the post-window deviation from parallel trends may be before the interval reaches 1 "
            "(below 1: fragile). Leave-one-out range: the relative ratio with each comparison partner left out in "
            "turn. 'vs transit partners': the focal partner's change over the transit partners'. Fragile: crosses "
            "1 or loses significance under one of these checks. Content changed: the family's codes hold other "
            "goods after the HS 2022 break.")


def _transit_blocks(ctx: Context) -> list:
    if not ctx.study.transit or "transit_ratio" not in ctx.compare.columns:
        return []
    fname = ctx.fname
    tnames = fmt.join([words.name(p) for p in ctx.study.transit])
    blocks: list = [Heading("With the transit routes, or alone?", level=3), Paragraph(
        f"The transit partners ({tnames}) are the documented routes by which goods reached Russia after 2022; their "
        "imports rose for reasons that are this study's subject, so they are never part of the baseline. The chart "
        f"sets {fname}'s own change beside theirs and the baseline's: a family where {fname} rose as the routes "
        "did is consistent with the same re-routing; one where it rose alone is specific to it.")]
    blocks += ctx.figure("transit")
    return blocks


def _did_blocks(ctx: Context) -> list:
    blocks: list = []
    fname, alpha = ctx.fname, ctx.alpha
    if "event_study" in ctx.figures:
        blocks.append(Heading("Event study by group", level=3))
        blocks.append(Paragraph(
            f"Each point is a group's value for {fname} relative to the comparison partners in one quarter, against "
            "the last quarter before the break: flat around 1 before the break is the parallel-trends check, a "
            "lasting move after it is the effect."))
        blocks += ctx.figure("event_study")
    elif ctx.study.freq == "A":
        blocks.append(Paragraph("The event study needs quarterly points: it is not estimated from annual data."))
    tri = ctx.result.triple_diff if ctx.result.diffindiff is not None else pd.DataFrame()
    if len(tri) and "ratio" in tri.columns:
        lvl = words.level(alpha)
        t = tri.sort_values("ratio", ascending=False, na_position="last")
        table = pd.DataFrame({
            "group": [group_label(g) for g in t["group"]],
            "families": t["n_families"],
            f"ratio [{lvl}%\u00a0CI]": [fmt.ratio_ci(a, b, c) for a, b, c in zip(t["ratio"], t["ratio_low"],
                                                                              t["ratio_high"], strict=False)],
            "q": t["q_value"].map(fmt.pvalue),
            "diverged before the break": ["yes" if b else "" for b in t["pre_trend"].fillna(False).astype(bool)],
        })
        n_sig = int(((t["q_value"] < alpha) & (t["ratio"] > 1)).sum())
        blocks.append(Heading("Against the control goods", level=3))
        blocks.append(Paragraph(
            f"The relative change could still be a {fname}-wide rise in all imports. The triple difference asks "
            f"whether, relative to the comparison partners, {fname}'s value of each group rose more than its "
            f"control goods (ratio above 1): {n_sig} of {len(t)} groups do at q < {alpha:g}."))
        blocks.append(Table(fmt.as_text(table), caption=f"Triple difference by group: {fname} against the comparison "
                                                        "partners, each group against the control goods",
                            note="q: Benjamini-Hochberg over the groups."))
    return blocks


# --------------------------------------------------------------------------- anomalies

def anomalies(ctx: Context, top: int = 10) -> list:
    """Core: the findings that answer the question, ranked, with their charts; the rest in one line each."""
    f, alpha, fname, s = ctx.findings, ctx.alpha, ctx.fname, ctx.study
    blocks: list = [Heading("Anomalies")]
    if f.empty:
        return blocks + [Paragraph(f"No test flags any series at q < {alpha:g}.")]
    from ..results import ranked_findings

    roles = words.finding_roles(f, s)
    mine = ranked_findings(f[roles == "question"])
    blocks.append(Paragraph(
        f"Each test (see Methods) looks for one kind of pattern; q-values control the false discovery rate at "
        f"{alpha:g} within each test and partner, so {fname}'s q-values do not depend on how many partners are "
        "stored. First the patterns that answer the question: "
        f"{fname}'s {words.goods_noun(ctx.compare, s)} families, after the break, not shared by most partners."))
    if len(mine):
        blocks.append(Table(findings_table(mine.head(top), s), caption=f"Anomalies in {fname}'s "
                            f"{words.goods_noun(ctx.compare, s)} series after the break, strongest first",
                            note=f"{len(mine)} finding(s)" + (f", top {top} shown" if len(mine) > top else "")
                            + ". Size: observed over expected, with its 95% interval; evidence in the units "
                            "named in each cell."))
        for name in ctx.anomaly_figures:
            blocks += ctx.figure(name)
    else:
        blocks.append(Paragraph(f"None at q < {alpha:g}."))
    lines = []
    for role in words.ROLE_ORDER[1:]:
        sub = ranked_findings(f[roles == role])
        if sub.empty:
            continue
        head = [words.finding_phrase(r, s) for _, r in sub.head(2).iterrows()]
        lines.append(f"**{role.capitalize()}**: {fmt.count(len(sub), 'finding')}; e.g. {'; '.join(head)}.")
    if lines:
        blocks.append(Paragraph("Listed apart (all in tables/findings.csv):"))
        blocks.append(Bullets(lines))
    return blocks


def _evidence(row: pd.Series, per: str) -> str:
    kind, obs, exp = row["kind"], row["observed_usd"], row["expected_usd"]
    if kind == "unit_value":
        return f"USD {obs:.2f}/kg against {exp:.2f}/kg" if pd.notna(obs) and pd.notna(exp) else ""
    if kind == "counterfactual_excess":
        return f"{fmt.usd(obs)} over the window against {fmt.usd(exp)} projected"
    if kind == "spike":
        return f"{fmt.usd(obs)} that period against {fmt.usd(exp)} expected"
    return f"{fmt.usd(exp)} → {fmt.usd(obs)} {per}"


def findings_table(ranked: pd.DataFrame, study) -> pd.DataFrame:
    """A ranked findings table with one unit per column (size: a ratio; evidence: words with their units)."""
    per = words.per(study)
    out = pd.DataFrame({
        "rank": range(1, len(ranked) + 1),
        "family": [words.family_label(r) for _, r in ranked.iterrows()],
        "test": ranked["kind"].map(lambda k: words.KIND_WORDS.get(k, k)),
        "period": ranked["period"],
        "size [95%]": [fmt.ratio_ci(a, b, c) if np.isfinite(a) else "new" for a, b, c in
                       zip(ranked["size"].astype(float), ranked.get("size_low", np.nan),
                           ranked.get("size_high", np.nan), strict=False)],
        "evidence": [_evidence(r, per) for _, r in ranked.iterrows()],
        "q": ranked["q_value"].map(fmt.pvalue),
    })
    return fmt.as_text(out)
