"""How robust is the focal partner's relative ratio? Leave-one-out, other comparison sets, a synthetic control.

:func:`robustness` returns one row per code family for the study's focal
partner, next to the study's own relative ratio (``relative_ratio`` of
:func:`analysis.comparison.compare`: the focal partner's post/pre ratio over
the pooled comparison partners', two-unit PPML,
:func:`~analysis.comparison.share_changes`). Every alternative below is the
same estimator against another comparison series, so the numbers differ only
in what the focal partner is compared with:

- **Leave-one-out** (``rel_loo_low``, ``rel_loo_high``; ``loo_low_without``,
  ``loo_high_without`` name the partner whose removal gives each end): the
  relative ratio against the pooled comparison partners less one, for each
  comparison partner in turn. A narrow range means no single partner drives
  the estimate.
- **Other named sets** (``relative_ratio_<set>``, one column per set of
  ``data/registry/comparison_sets.toml`` other than the study's own, e.g.
  ``relative_ratio_transit``): the focal partner against that set pooled (less
  the focal partner and the reporter; for ``transit`` the study's own transit
  partners). ``transit_ratio`` is the transit partners' own pooled,
  seasonally adjusted post/pre ratio (:func:`~analysis.comparison.level_changes`):
  a focal rise with ``relative_ratio_transit`` near 1 and ``transit_ratio``
  near the rise moves with the routes to Russia, not alone. A set with fewer
  than :data:`MIN_SET_PARTNERS` partners in the data gets NaN and a note.
- **Synthetic control** (``relative_ratio_synth``; ``synth_weights``,
  ``synth_basis``, ``synth_pre_rmse``): the comparison partners weighted
  (weights >= 0 summing to 1) to track the focal partner's pre-period
  trajectory. Each series is divided by its own pre-window mean (a ratio
  study needs the *shape* to match, not the level: Belarus's level is far
  below Poland's, and no convex mix of larger series matches a small level),
  averaged by quarter (monthly trade is lumpy, and China publishes January
  and February together), and the weights minimise the squared gap between
  the focal partner's and the mix's normalised quarterly values over the pre
  window (constrained least squares: non-negative least squares with the
  sum-to-one row weighted heavily, then rescaled). The weights are fitted
  once per registry *group* of families, on all its families with pre-period
  trade at once, not per family: one family's 12 pre-window quarters (36
  noisy months) against up to 14 partners can be fitted almost perfectly by
  chance, and such weights chase noise instead of similarity. A group with
  fewer than :data:`MIN_SYNTH_FAMILIES` usable families borrows the weights
  fitted on all families of its kind (dual-use, control, ...). Within a
  family, partners without pre-period trade there drop out of the mix (the
  rest keep their proportions; the note says how much weight was dropped).
  The mix is then the comparison series of :func:`share_changes`; with every
  normalised series averaging 1 before, this is the focal ratio over the
  weighted mean of the partners' post/pre ratios. No package is used:
  pysyncon 1.7 and scpi-pkg 4.0 install here (scpi-pkg pulls in cvxpy),
  but fit one treated series at a time; pysyncon's nested optimisation of
  predictor weights took 2.3 s for one group of the demo (16 groups: ~40 s,
  against a budget of well under 2 s for the whole table) and, with fixed
  predictor weights, rescales every row by its spread across partners, a
  choice that suits covariates, not one outcome series (its weights differ
  from the plain least squares here for that reason). The least squares is
  checked against scipy's SLSQP in tests/test_robustness.py.

**Fragile** (``fragile``, ``fragile_why``). With R the study's relative ratio
for the family and [L, H] its interval (the focal rows of ``main``, the
compare table, or of :func:`~analysis.comparison.compare_panel` run here when
``main`` is None), a finding is
fragile when its direction (R > 1: a rise, R < 1: a fall) is not robust:

1. the interval holds 1 (L <= 1 <= H): the direction itself is not settled;
2. an alternative takes it across 1: the leave-one-out end toward 1
   (``rel_loo_low`` for a rise, ``rel_loo_high`` for a fall; one partner
   decides), any other named set's ratio (the choice of comparison decides;
   against ``transit``: the focal partner moved with the routes) or the
   synthetic control's ratio. For an established finding (the interval
   excludes 1) "across 1" means that the study's interval, moved to centre
   on the alternative, would hold 1: for a rise the alternative is at most
   sqrt(H / L), for a fall at least sqrt(L / H) (the interval's half-width on
   the log scale; a leave-one-out ratio of 1.03 ends a finding of 2.3 with
   interval 1.6-3.3 although it never crosses 1 itself). When the interval
   already holds 1, or there is none, an alternative counts when it lies at
   1 or on the other side of it (the point estimate's direction flips);
3. R == 1 (no direction), or the focal partner traded in fewer than
   :data:`~analysis.comparison.MIN_ACTIVE` pre-window months (3; years: 2) (the ratio rests on a few
   shipments);
4. for an established finding, the breakdown M of its honest bounds
   (``rr_breakdown`` of ``main``, :func:`analysis.comparison.honest_bounds`)
   is below 1: a departure from parallel trends after the break no larger
   than the largest year-to-year change before it would explain it.

An alternative that cannot be estimated (NaN) does not count either way; the
note says so. ``fragile_why`` names each reason with its number (``without
Poland (616): 0.93``). A family without a relative ratio is not fragile (it is
no finding) and says so in ``note``.

**No absurd numbers.** Every ratio here is NaN, with the reason in ``note``,
where it is not estimable: no pre-period trade to the focal partner, a
comparison series with no trade before or after, or one (or the focal
partner's pre-window) with fewer than :data:`~analysis.comparison.MIN_ACTIVE` non-zero
months (a ratio over a few dollars of lumpy trade can reach 1e6 and means
nothing). A focal partner with no post-window trade has ratio 0. Never inf.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from .comparison import (
    MIN_ACTIVE,
    MIN_PLACEBOS,
    Design,
    StudyPanel,
    before_after_design,
    check_alpha,
    compare_panel,
    level_changes,
    min_active,
    share_changes,
)
from .countries import area_name, comparison_sets
from .errors import InputError

__all__ = ["robustness", "synth_weights", "SynthFit", "MIN_SET_PARTNERS", "MIN_SYNTH_FAMILIES", "MIN_ACTIVE"]

MIN_SET_PARTNERS = MIN_PLACEBOS
"""Fewest partners of a named set in the data for its pooled relative ratio (fewer: one partner's own story)."""
MIN_SYNTH_FAMILIES = 3
"""Fewest families with pre-period trade for a group's own synthetic-control weights (else its kind's)."""


# ------------------------------------------------------------ estimates --

def _name(code: int) -> str:
    try:
        return f"{area_name(int(code))} ({int(code)})"
    except InputError:
        return str(int(code))


def _active(Y: np.ndarray, design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero design rows of each series (S, T) in the pre and the post window."""
    Yd = Y[:, design.cols] > 0
    post = design.post == 1
    return Yd[:, ~post].sum(axis=1), Yd[:, post].sum(axis=1)


def _relative(y: np.ndarray, c: np.ndarray, design: Design, what: str, need: int
              ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """share_changes of y against c, NaN with a reason where not estimable (fewer than ``need`` periods with
    trade in a window, see :data:`analysis.comparison.MIN_ACTIVE`): (log ratio, HAC var, reasons)."""
    ch = share_changes(y, c, design)
    d, v = ch.log_ratio.copy(), ch.var.copy()
    y_pre, _ = _active(y, design)
    c_pre, c_post = _active(c, design)
    reasons = [""] * len(d)
    for i in range(len(d)):
        if y_pre[i] == 0:
            why = "no pre-period trade to the focal partner"
        elif c_pre[i] == 0 or c_post[i] == 0:
            why = f"{what}: no {'pre' if c_pre[i] == 0 else 'post'}-period trade"
        elif y_pre[i] < need:
            why = f"focal partner traded in only {y_pre[i]} pre-period {design.period_word}(s)"
        elif min(c_pre[i], c_post[i]) < need:
            why = f"{what}: trade in only {min(c_pre[i], c_post[i])} {design.period_word}(s) of a window"
        elif np.isnan(d[i]) or np.isposinf(d[i]):
            why = f"{what}: not estimable"
        else:
            continue
        reasons[i] = why
        d[i], v[i] = np.nan, np.nan
    return d, v, reasons


def _ratio(log_ratio: np.ndarray) -> np.ndarray:
    """exp of a log ratio; -inf (no post trade) is 0, anything non-finite otherwise NaN."""
    with np.errstate(over="ignore"):
        r = np.exp(log_ratio)
    return np.where(np.isneginf(log_ratio), 0.0, np.where(np.isfinite(log_ratio), r, np.nan))


# ------------------------------------------------------ synthetic control --

@dataclass(frozen=True)
class SynthFit:
    """Synthetic-control weights of the comparison partners, one row per family (the weights of its basis)."""

    controls: np.ndarray  # (K,) partner codes
    weights: np.ndarray  # (F, K), rows sum to 1 (NaN rows: no fit)
    basis: np.ndarray  # (F,) what the weights were fitted on: "group:<name>", "kind:<name>", "all" or ""
    rmse: np.ndarray  # (F,) the family's pre-window RMSE of normalised quarterly values (focal vs mix)


def simplex_lstsq(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin ||A w - b|| subject to w >= 0 and sum(w) == 1 (A: n x K).

    Non-negative least squares with the row sum(w) = 1 appended at a weight
    far above the data's scale, then rescaled to sum exactly to 1.
    """
    n, K = A.shape
    if K == 0:
        return np.zeros(0)
    if K == 1:
        return np.ones(1)
    lam = 1e3 * max(1.0, float(np.sqrt(n)) * max(float(np.abs(A).max(initial=0.0)), float(np.abs(b).max(initial=0.0))))
    Aa = np.vstack([A, np.full((1, K), lam)])
    ba = np.r_[b, lam]
    w, _ = optimize.nnls(Aa, ba, maxiter=50 * K)
    s = w.sum()
    return w / s if s > 0 else np.full(K, 1.0 / K)


def _quarter_means(panel: StudyPanel) -> tuple[np.ndarray, np.ndarray]:
    """Each series over its pre-window monthly mean, averaged by calendar quarter: ((P, F, Q), pre mean (P, F))."""
    pre = panel.in_pre
    months = panel.months[pre]
    Ypre = panel.Y[:, :, pre]
    mean = Ypre.mean(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        Z = np.where(mean[..., None] > 0, Ypre / mean[..., None], 1.0)  # no pre trade: flat (and dropped later)
    q = np.asarray(months.year * 4 + (months.month - 1) // 3)
    _, inv = np.unique(q, return_inverse=True)
    G = np.zeros((len(q), inv.max() + 1))
    G[np.arange(len(q)), inv] = 1.0
    G /= G.sum(axis=0, keepdims=True)
    return Z @ G, mean


def synth_weights(panel: StudyPanel) -> SynthFit:
    """Synthetic-control weights of ``panel.controls`` for the focal partner (see the module docstring).

    Fitted per registry group on the normalised quarterly pre-window series of
    its families with pre-period trade to the focal partner; a group with fewer
    than :data:`MIN_SYNTH_FAMILIES` such families uses its kind's weights, and
    failing that the weights over all families.
    """
    F = len(panel.families)
    K = len(panel.controls)
    weights = np.full((F, K), np.nan)
    basis = np.full(F, "", dtype=object)
    rmse = np.full(F, np.nan)
    if K == 0 or panel.focal not in set(panel.partners.tolist()):
        return SynthFit(panel.controls, weights, basis, rmse)
    Zq, mean = _quarter_means(panel)
    fi = int(panel.index_of([panel.focal])[0])
    ci = panel.index_of(panel.controls)
    usable = mean[fi] > 0
    b_all, A_all = Zq[fi], Zq[ci]  # (F, Q), (K, F, Q)

    def fit(rows: np.ndarray) -> np.ndarray:
        A = A_all[:, rows, :].reshape(K, -1).T
        return simplex_lstsq(A, b_all[rows].ravel())

    cache: dict[str, np.ndarray] = {}
    groups = panel.families["group"].astype(str).to_numpy()
    kinds = panel.families["kind"].astype(str).to_numpy()
    for f in range(F):
        for key, member in ((f"group:{groups[f]}", groups == groups[f]), (f"kind:{kinds[f]}", kinds == kinds[f]),
                            ("all", np.ones(F, dtype=bool))):
            rows = np.flatnonzero(member & usable)
            if len(rows) >= MIN_SYNTH_FAMILIES or (key == "all" and len(rows)):
                if key not in cache:
                    cache[key] = fit(rows)
                weights[f], basis[f] = cache[key], key
                break
    # the family's own fit, with partners lacking pre-period trade there dropped from its mix
    has = (mean[ci] > 0).T  # (F, K)
    w_f = np.where(has, weights, 0.0)
    s = w_f.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_f = np.where(s > 0, w_f / s, np.nan)
        mix = np.einsum("fk,kfq->fq", w_f, A_all)
        rmse = np.where(usable, np.sqrt(((b_all - mix) ** 2).mean(axis=1)), np.nan)
    return SynthFit(panel.controls, weights, basis, rmse)


# --------------------------------------------------------------- the table --

def _main_estimates(panel: StudyPanel, alpha: float, main: pd.DataFrame | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(R, L, H, breakdown M of the honest bounds) per family: the focal rows of ``main`` (the compare table),
    else of compare run here (breakdown NaN where ``main`` has no ``rr_breakdown``)."""
    fams = panel.families["family"]
    F = len(fams)
    if main is None:
        if panel.focal not in set(panel.partners.tolist()):
            return np.full(F, np.nan), np.full(F, np.nan), np.full(F, np.nan), np.full(F, np.nan)
        main = compare_panel(panel, partners=[panel.focal], alpha=alpha).table
    m = main
    if "partner_code" in m.columns:
        m = m[m["partner_code"] == panel.focal]
    missing = [c for c in ("family", "relative_ratio", "relative_low", "relative_high") if c not in m.columns]
    if missing:
        raise InputError(f"main estimates lack column(s) {missing} (pass the compare table)")
    m = m.drop_duplicates("family").set_index("family")
    R, L, H = (m[c].reindex(fams).to_numpy(float) for c in ("relative_ratio", "relative_low", "relative_high"))
    B = m["rr_breakdown"].reindex(fams).to_numpy(float) if "rr_breakdown" in m.columns else np.full(F, np.nan)
    return R, L, H, B


def _fmt(x: float) -> str:
    return f"{x:.3g}" if np.isfinite(x) else "n/a"


def robustness(panel: StudyPanel, *, alpha: float = 0.05, main: pd.DataFrame | None = None) -> pd.DataFrame:
    """Robustness of the focal partner's relative ratio, one row per family (see the module docstring).

    ``panel``: :func:`analysis.comparison.study_panel`; ``main``: the study's
    estimates to judge (the compare table, or its focal rows: ``family``,
    ``relative_ratio``, ``relative_low``, ``relative_high``); None runs
    :func:`~analysis.comparison.compare_panel` for the focal partner at level
    ``alpha`` (``alpha`` is used for nothing else). Columns: ``partner_code``
    (the focal partner), ``family``, ``rel_loo_low``, ``rel_loo_high``,
    ``loo_low_without``, ``loo_high_without``, ``n_loo``, one
    ``relative_ratio_<set>`` per named set other than the study's own,
    ``transit_ratio``, ``relative_ratio_synth``, ``synth_weights``,
    ``synth_basis``, ``synth_pre_rmse``, ``fragile``, ``fragile_why``,
    ``note``. ``attrs["synthetic"]`` is the panel's flag. Pure: no output.
    """
    check_alpha(alpha)
    design = before_after_design(panel)
    need = min_active(panel)
    study = panel.study
    F, T = len(panel.families), panel.Y.shape[2]
    in_data = set(panel.partners.tolist())
    notes: list[list[str]] = [[] for _ in range(F)]
    out = pd.DataFrame({"partner_code": study.focal, "family": panel.families["family"].to_numpy()})
    if study.focal in in_data:
        y = panel.Y[int(panel.index_of([study.focal])[0])]
    else:
        y = np.zeros((F, T))
        for n in notes:
            n.append("focal partner not in the data")
    controls = panel.controls
    K = len(controls)
    csum = panel.control_sum()

    # the study's own relative ratio (point estimate; its interval only when main is not given)
    _, _, why_main = _relative(y, csum, design, "comparison partners", need)
    if K == 0:
        why_main = ["no comparison partners in the data"] * F
    R, L, H, B = _main_estimates(panel, alpha, main)
    for f in range(F):
        if why_main[f]:
            notes[f].append(f"relative ratio: {why_main[f]}")

    # leave-one-out: the focal partner against the comparison partners less each in turn
    loo_low, loo_high = np.full(F, np.nan), np.full(F, np.nan)
    without_low = pd.array([pd.NA] * F, dtype="Int64")
    without_high = pd.array([pd.NA] * F, dtype="Int64")
    n_loo = np.zeros(F, dtype=int)
    if K >= 2:
        ci = panel.index_of(controls)
        c_loo = np.maximum(csum[None] - panel.Y[ci], 0.0).reshape(-1, T)  # (K*F, T), partner-major
        y_loo = np.tile(y, (K, 1))
        d_loo, _, _ = _relative(y_loo, c_loo, design, "comparison partners less one", need)
        r_loo = _ratio(d_loo).reshape(K, F)
        ok = np.isfinite(r_loo)
        n_loo = ok.sum(axis=0)
        has = n_loo > 0
        lo_k = np.argmin(np.where(ok, r_loo, np.inf), axis=0)
        hi_k = np.argmax(np.where(ok, r_loo, -np.inf), axis=0)
        loo_low = np.where(has, r_loo[lo_k, np.arange(F)], np.nan)
        loo_high = np.where(has, r_loo[hi_k, np.arange(F)], np.nan)
        without_low[has] = controls[lo_k[has]]
        without_high[has] = controls[hi_k[has]]
        for f in np.flatnonzero((n_loo < K) & np.isfinite(R) & (np.array(why_main) == "")).tolist():
            notes[f].append(f"leave-one-out: {K - n_loo[f]} of {K} variants not estimable")
    elif np.isfinite(R).any():
        for f in np.flatnonzero(np.isfinite(R)).tolist():
            notes[f].append(f"leave-one-out needs 2 or more comparison partners ({K} in the data)")
    out["rel_loo_low"], out["rel_loo_high"] = loo_low, loo_high
    out["loo_low_without"], out["loo_high_without"] = without_low, without_high
    out["n_loo"] = n_loo

    # other named sets, pooled
    set_cols: dict[str, str] = {}
    own = set(controls.tolist())
    for key, cset in comparison_sets().items():
        members = study.transit if key == "transit" else cset.partners
        members = tuple(c for c in members if c not in (study.focal, study.reporter))
        present = [c for c in members if c in in_data]
        if key == study.comparison or (key != "transit" and set(present) == own):
            continue  # the study's own set (a closed study may call it "custom")
        col = f"relative_ratio_{key}"
        set_cols[col] = cset.name if key != "transit" else "the transit routes"
        if len(present) < MIN_SET_PARTNERS:
            out[col] = np.nan
            for f in range(F):
                notes[f].append(f"set {key}: {len(present)} of its {len(members)} partners in the data "
                                f"(fewer than {MIN_SET_PARTNERS}): no ratio")
            continue
        c_set = panel.Y[panel.index_of(present)].sum(axis=0)
        d_set, _, why = _relative(y, c_set, design, f"set {key}", need)
        out[col] = _ratio(d_set)
        for f in range(F):
            if why[f] and not why_main[f]:
                notes[f].append(why[f])

    # the transit partners' own change
    transit = [c for c in study.transit if c in in_data]
    if transit:
        c_tr = panel.Y[panel.index_of(transit)].sum(axis=0)
        tr = level_changes(c_tr, design)
        t_pre, t_post = _active(c_tr, design)
        sparse = (t_pre < need) | ((t_post < need) & (t_post > 0))
        transit_ratio = np.where(sparse, np.nan, _ratio(tr.log_ratio))
        for f in np.flatnonzero(sparse).tolist():
            notes[f].append("transit partners: no pre-period trade: no transit_ratio" if t_pre[f] == 0 else
                            f"transit partners: trade in only {min(t_pre[f], t_post[f])} {design.period_word}(s) of "
                            "a window: no transit_ratio")
    else:
        transit_ratio = np.full(F, np.nan)
        for n in notes:
            n.append("no transit partners in the data: no transit_ratio")
    out["transit_ratio"] = transit_ratio

    # synthetic control
    sf = synth_weights(panel)
    if K:
        ci = panel.index_of(controls)
        mean_pre = panel.Y[ci][:, :, panel.in_pre].mean(axis=2).T  # (F, K)
        has = mean_pre > 0
        w = np.where(has & np.isfinite(sf.weights), sf.weights, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(has, w / np.where(has, mean_pre, 1.0), 0.0)
        c_syn = np.einsum("fk,kft->ft", scaled, panel.Y[ci])
        d_syn, _, why = _relative(y, c_syn, design, "synthetic control", need)
        dropped = 1.0 - np.where(np.isfinite(sf.weights), np.where(has, sf.weights, 0.0), np.nan).sum(axis=1)
        for f in range(F):
            if why[f] and not why_main[f]:
                notes[f].append(why[f])
            elif np.isfinite(d_syn[f]) and dropped[f] > 0.005:
                notes[f].append(f"synthetic control: {dropped[f]:.0%} of its weight on partners without "
                                "pre-period trade in this family, left out")
        out["relative_ratio_synth"] = _ratio(d_syn)
        out["synth_weights"] = [", ".join(f"{int(c)}:{x:.2f}" for c, x in
                                          sorted(zip(controls, row, strict=True), key=lambda t: -t[1]) if x >= 0.005)
                                if np.isfinite(row).all() else "" for row in sf.weights]
    else:
        out["relative_ratio_synth"] = np.nan
        out["synth_weights"] = ""
    out["synth_basis"] = sf.basis
    out["synth_pre_rmse"] = sf.rmse

    # fragility
    fragile = np.zeros(F, dtype=bool)
    fragile_why: list[str] = [""] * F
    y_pre_active, _ = _active(y, design)
    alt_cols = [*set_cols, "relative_ratio_synth"]
    alt_vals = {c: out[c].to_numpy(float) for c in alt_cols}
    for f in range(F):
        r = R[f]
        if np.isnan(r):
            if not why_main[f]:
                notes[f].append("no relative ratio in the main estimates: not judged")
            continue
        reasons: list[str] = []
        up = r > 1
        has_int = np.isfinite(L[f]) and np.isfinite(H[f]) and L[f] > 0
        if r == 1:
            reasons.append("relative ratio exactly 1: no direction")
        if has_int and L[f] <= 1 <= H[f]:
            reasons.append(f"interval {_fmt(L[f])}-{_fmt(H[f])} includes 1")
        elif not has_int and r != 0:
            notes[f].append("no calibrated interval for the relative ratio: judged on the alternatives only")
        # an established finding (interval excluding 1) falls when the study's interval, moved to centre on an
        # alternative, would hold 1: the threshold is the interval's half-width on the log scale, else 1 itself
        reach = float(np.sqrt(H[f] / L[f])) if has_int and (L[f] > 1 or H[f] < 1) else 1.0
        bound = reach if up else 1.0 / reach
        extra = f" ({'<=' if up else '>='} {_fmt(bound)}: the interval there holds 1)" if reach > 1 else ""

        def falls(a: float, up: bool = up, bound: float = bound) -> bool:
            return bool(np.isfinite(a) and (a <= bound if up else a >= bound))

        if r != 1:
            if up and falls(loo_low[f]):
                reasons.append(f"without {_name(without_low[f])}: {_fmt(loo_low[f])}{extra}")
            if not up and falls(loo_high[f]):
                reasons.append(f"without {_name(without_high[f])}: {_fmt(loo_high[f])}{extra}")
            for col in alt_cols:
                a = alt_vals[col][f]
                if falls(a):
                    label = ("synthetic control" if col == "relative_ratio_synth"
                             else f"against {col.removeprefix('relative_ratio_')}")
                    reasons.append(f"{label}: {_fmt(a)}{extra}")
        if 0 < y_pre_active[f] < need:
            reasons.append(f"focal partner traded in only {y_pre_active[f]} pre-period {design.period_word}(s)")
        if has_int and (L[f] > 1 or H[f] < 1) and B[f] < 1:
            reasons.append(f"honest bounds: breakdown M {B[f]:.2f} < 1 (a departure from parallel trends as large as "
                           "one seen before the break would explain it)")
        fragile[f] = bool(reasons)
        fragile_why[f] = "; ".join(reasons)
    out["fragile"] = fragile
    out["fragile_why"] = fragile_why
    out["note"] = ["; ".join(dict.fromkeys(n)) for n in notes]
    out.attrs["synthetic"] = panel.synthetic
    return out
