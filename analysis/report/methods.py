"""The report's Methods section: each test that ran and what it assumes, from the results' configuration.

A sentence appears only when the result shows the step ran (a detector in
the anomaly configuration, a robustness column in compare.csv, the q-value
scope in the comparison configuration), so the text describes what the code
did for this report.
"""
from __future__ import annotations

from .context import Context
from .document import Bullets, Heading

_DETECTORS = {
    "level_shift": "**Level shift.** A single lasting step in a series' log level, its date found by scanning every "
                   "period (sup-F test with AR(1) errors, trend and season); the p-value accounts for the search over "
                   "dates by simulating the whole procedure on series without a step. Assumes one break and roughly "
                   "Gaussian noise on the log scale; lumpy series with many zero periods are left to the new-flow "
                   "test.",
    "spike": "**Spike.** A single period far above what the series' own trend and season predict (robust fit), in "
             "robust standard deviations, with the series' best level step removed first; the p-value comes from "
             "simulating the same procedure on series without spikes, so it accounts for looking at every period. "
             "Upward only; a spike within a month of a lasting shift is folded into the shift.",
    "counterfactual_excess": "**Counterfactual excess.** The focal partner's series is projected over the post window "
                             "from its pre-window level, season and AR(1) noise, moving with its comparison partners "
                             "(parallel trends) plus an own-trend drift measured on them, with the projection's "
                             "uncertainty; the post-window total is compared with the projected total and its 95% "
                             "range (the band in the charts, from the same model). Assumes the pre-window relation "
                             "to the comparison partners would have continued.",
    "new_flow": "**New flow.** A family with negligible value before (at most 5% of the post-window level) that is "
                "material after (at least USD 25,000 a month in at least half of the months); one-sided rank test "
                "of post against pre periods. Assumes the absence before is real, not a change of code.",
    "unit_value": "**Unit value.** A lasting shift in USD per kg (the level-shift scan on unit values), reported with "
                  "what value and weight did meanwhile; periods whose weights Comtrade marks as estimated are left "
                  "out. Assumes weights are reported consistently; a change in the mix of goods within a family also "
                  "moves its unit value.",
    "mirror_gap": "**Mirror gap.** Annual totals of the partner's own records of the same trade against the "
                  "reporter's, per family, where both exist; a family is flagged when its gap is far beyond the usual "
                  "ratio (valuation and timing, estimated from all families) and the usual spread between families. "
                  "Re-exports and partner attribution produce real but innocent gaps.",
    "common_shift": "**Reporter-wide events.** A break or spike that most partners of a family share in the same "
                    "period (an export ban, a licensing rule, a reclassification) is one finding for all of them "
                    "(`common_shift`, `common_spike`, partner 0, with the number of partners), and the per-partner "
                    "findings it explains are folded into it.",
}


def methods(ctx: Context) -> list:
    """Each step that ran, in plain words, with what it assumes."""
    cfg, s = ctx.config, ctx.study
    c = ctx.compare
    lags = cfg.get("hac_lags")
    scope = ("within each partner's families (the focal partner's q-values do not depend on how many other "
             "partners are stored)" if cfg.get("q_scope", "partner") == "partner" else "over every row of the table")
    unit = "month" if s.freq == "M" else "year"
    annual = s.freq == "A"
    items = [
        f"**Series.** Sums of the reported value (USD) per partner, {unit} and code family; a {unit} without a record "
        "is zero. Where a record exists both in its original HS edition and as a converted copy, only the original "
        "counts; weights flagged as estimated are left out of unit values." + _jan_feb(ctx),
        ("**Before/after ratio** (Poisson pseudo-maximum likelihood, PPML): yearly value regressed on a post-window "
         "indicator; a year belongs to a window holding at least 6 of its months; quasi-Poisson variance with a t "
         "reference on (years - 2) degrees of freedom." if annual else
         "**Before/after ratio** (Poisson pseudo-maximum likelihood, PPML): monthly value regressed on a post-window "
         "indicator and month-of-year effects; zero months stay zeros. Standard errors allow for autocorrelation "
         f"(Newey-West{f', {lags} lags' if lags else ''}) with a fixed-b reference distribution.")
        + " Assumes no other change between the windows.",
        "**Relative ratio** (difference in differences): the same change for the focal partner over the change for "
        f"the comparison partners combined ({_set(ctx)}), PPML on the two series with unit and period fixed effects. "
        + (_ANNUAL_INFERENCE if annual else _MONTHLY_INFERENCE)
        + " The exact placebo rank p-value (the focal partner's rank among the comparison partners' own placebo "
        "estimates) is shown beside it. Placebos whose flow vanished or began keep a bounded value (a "
        "continuity-corrected ratio, capped at x/÷20) rather than being dropped. Assumes parallel trends: without the "
        "break the focal partner's share would have stayed on its pre-window path. scripts/validate_compare.py checks "
        "size and coverage on simulations with known answers (AR(1) noise, lumpy flows, shocks to the transit "
        "partners, a focal partner twice as noisy).",
    ]
    if not annual:
        items.append("**Pre-window trends and honest bounds.** A family whose share already trended in the pre window "
                     "(tested with the same calibration) is flagged, not dropped. Instead of a pre-test, each relative "
                     "ratio gets honest bounds in the manner of Rambachan and Roth (relative magnitudes): its interval "
                     "widened by the largest pre-window year-to-year move of the relative ratio, and the breakdown M̄ "
                     "at which the widened interval reaches 1; M̄ below 1 makes a finding fragile.")
    if s.transit:
        items.append("**Transit partners** (the documented routes to Russia) are never part of the baseline; their own "
                     "change is shown beside the focal partner's, and the focal partner is also compared with them.")
    if "fragile" in c.columns:
        items.append("**Robustness.** Each relative ratio is recomputed leaving out each comparison partner in turn, "
                     "against every other named comparison set, and against a synthetic control (comparison partners "
                     "weighted to match the focal partner's pre-window path). A finding that crosses 1 or loses "
                     "significance under any of them is labelled fragile.")
    if "changed_content" in c.columns and bool(c["changed_content"].fillna(False).astype(bool).any()):
        items.append("**Content changes.** Families whose codes hold other goods after the HS 2022 break are marked "
                     "*content changed*: before and after are not the same goods there.")
    items.append(f"**Multiple testing.** Benjamini-Hochberg q-values {scope}: among results with q < {ctx.alpha:g}, "
                 f"at most {ctx.alpha:.0%} are expected to be false discoveries.")
    items += _anomaly_items(ctx)
    items.append("**What the tests cannot show.** They measure declared trade by code. Causation, end use and "
                 "transshipment need other evidence; a finding is a lead to check, not a conclusion.")
    return [Heading("Methods"), Bullets(items)]


_MONTHLY_INFERENCE = (
    "Inference allows for a focal partner noisier or lumpier than the comparison partners (a studentized placebo "
    "test): the families' HAC variances are moderated over partners and families (empirical Bayes), each partner's "
    "variance is scaled by how much it understates the spread of its own estimates at fake breaks inside the pre "
    "window (in-time placebos), the spread of the comparison partners' placebo estimates (shrunk toward the spread "
    "over all families) is added, and the reference t distribution takes Welch-Satterthwaite degrees of freedom.")
_ANNUAL_INFERENCE = (
    "With annual data the variance comes from each partner's year-to-year swings before the break (moderated over "
    "families) plus the comparison partners' placebo spread; there is no HAC, no pre-trend test and no event study: "
    "a few yearly points cannot show when within a year a change began, nor trends or spikes within the windows.")


def _set(ctx: Context) -> str:
    comp = ctx.study.comparison
    return "the study's own list of comparison partners" if comp == "custom" else f"the named comparison set '{comp}'"


def _jan_feb(ctx: Context) -> str:
    if ctx.study.freq != "M":
        return ""
    if ctx.config.get("jan_feb_merged"):
        return (" In the reporter-years whose records show January and February published together, each month "
                "carries half the joint total and the pair counts as one observation; no window may separate them.")
    return " January and February are used as reported."


def _anomaly_items(ctx: Context) -> list[str]:
    res = ctx.result.anomalies
    if res is None:
        return []
    detectors = list(res.config.detectors)
    items = []
    if getattr(res.config, "focal_relative", False) and {"level_shift", "spike", "counterfactual_excess"} & set(
            detectors):
        items.append("**Anomalies relative to the comparison group.** For the focal partner, the level-shift, spike "
                     "and counterfactual tests run on its value relative to the comparison partners' common movement "
                     "in the same family, so a shock every partner shares is not a focal-partner anomaly. q-values "
                     "run within each test and partner.")
    seen = set()
    for d in detectors:
        key = "common_shift" if d in ("common_shift", "common_spike") else d
        if key in _DETECTORS and key not in seen:
            items.append(_DETECTORS[key])
            seen.add(key)
    return items
