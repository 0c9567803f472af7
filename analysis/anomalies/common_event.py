"""Reporter-wide events: a level shift or a spike that most partners of a family share in the same month.

An export ban, a licensing rule, a customs reclassification or a statistical
revision moves the reporter's exports of a family to every partner at once.
Tested partner by partner it shows as a dozen level shifts or spikes in the
same month, none of which is about its partner. This stage finds such
events as one finding per family (``partner_code`` 0, kinds
``common_shift`` and ``common_spike``), counts the partners it covers
(``n_partners``), and :func:`fold` folds the per-partner findings it
explains into it, so what remains per partner is partner-specific.

Test. For each family with at least ``MIN_PARTNERS`` (5) partners trading it
steadily (positive in 75% of the months of the first or last third of the
data, so a flow that stops or starts still counts), the partners' log series
``log(usd + c)`` (``c`` 1% of each one's median positive month; zero months
enter at that offset, so a flow that stops shows as a drop) are each centred
on their own median month, and their cross-partner *median* is taken month
by month (:func:`~analysis.anomalies.common.median_index`). The median moves
by ``d`` only when more than half of the partners move by at least ``d``, so a
break or spike of the median is one most partners share, while any one
partner's own event leaves it nearly unchanged. The median series then goes
through the single-series tests: the level-shift sup-F scan with AR(1) GLS
(:mod:`~analysis.anomalies.level_shift`) for ``common_shift`` and the robust
one-sided spike z (:mod:`~analysis.anomalies.spike`, on the median less its
best-fitting step, which a running-median trend would otherwise turn into a
"spike" in the months after a shared break) for ``common_spike``, whose
p-values come from the same simulated nulls (searching over dates
included). Null hypothesis: the family's cross-partner median has no break
(no upward spike) - it is trend + season + Gaussian-like AR(1) noise. This
does not assume partners independent of one another: shared ordinary
fluctuations are simply part of the median's noise. One test per family and
kind, so Benjamini-Hochberg over the families controls false discoveries
within each kind.

Who shares it. At the month found, each partner's own step (GLS with the
break fixed at that month) or own log excess (the spike model with the month
left out) is compared with the median's: a partner shares the event when its
own change is in the same direction, more than half the common one (closer
to the common change than to no change) and significant on its own
(one-sided 5%: z above 1.645). ``n_partners`` counts them. Rule: an event
shared by no more than half of the partners tested is not reporter-wide
(the median moves part-way when a large minority moves a lot, e.g. a dozen
transit routes out of 28 partners), so it gets p = 1 (kept in the BH count;
the rule only removes findings). Under no event at all a partner passes the
sharing test with probability about 5%, so the count of sharers is roughly
Binomial(partners, 0.05) and a majority is out of reach by chance.

Folding (:func:`fold`, applied by find_anomalies after the q-values, so
the remaining rows keep the q-values they had): for a ``common_shift`` with
q < alpha, the ``level_shift`` rows of the partners sharing it within
``FOLD_MONTHS`` (2) months and in the same direction (and their ``new_flow``
rows, when the common shift is upward: a reclassification into a family
starts a "new flow" everywhere) are folded, and their ``spike`` rows within
a month of the break (the month before a ban is judged against a level that
drops right after it: part of the same event); for a ``common_spike``,
their ``spike`` rows in the same month (+-1). Folded rows leave the findings; with
``all_tested`` they stay, their ``detail`` beginning with ``FOLDED``. Rows
of the focal partner analysed relative to its comparison group
(:mod:`~analysis.anomalies.relative`) are never folded: the common movement
is already taken out of them.

Output: ``period`` = the month (first month after a break); ``size`` = the
median's step ratio (95% interval conditional on the date) or its spike ratio
over the expected month (95% prediction interval); ``observed_usd`` = the
sharing partners' total (mean monthly USD after the break, USD in the spike
month), ``expected_usd`` = that over the size; ``n_partners``; ``detail``
lists the partners. A shift into mostly-zero months (a ban) has no
log-scale size: ``size`` is the ratio of the sharing partners' mean monthly
USD after to before, with no interval (NaN), as ``detail`` says.

Assumes: a family traded steadily by at least five partners; a common event
at one month for all who share it; the median's noise roughly Gaussian AR(1)
after cleaning. When it fails: an event shared by half the partners or
fewer is left to the per-partner detectors (by design); events staggered
over several months (a rule phased in) blur the median's step and may be
found at the middle month, with fewer sharers; with five to seven partners
"most" is four or five series and the median is noisy; a change in the set
of partners trading the family (many starting or stopping at once) is
itself a common shift; the sharing classification is noisy for small
common changes (a partner's noise can put it on either side of half the
common change), so ``n_partners`` is an estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .common import (
    Panel,
    active_columns,
    fmt_month,
    fmt_usd,
    log_level,
    median_index,
    months_apart,
    robust_decompose,
    rows_frame,
    z_score,
)
from .level_shift import MIN_SEGMENT, BreakFit, effective, null_model, score_breaks, step_at
from .spike import SMOOTH, spike_z
from .spike import null_model as spike_null

KIND_SHIFT = "common_shift"
KIND_SPIKE = "common_spike"
KINDS = (KIND_SHIFT, KIND_SPIKE)
MIN_PARTNERS = 5
"""Fewest partners trading a family steadily for a reporter-wide test."""
SHARE = 0.5
"""A partner shares an event when its own change exceeds this fraction of the common change (same direction)..."""
Z_SHARE = 1.645
"""... and is itself significant, one-sided at 5%, in that direction (its own z above this)."""
FOLD_MONTHS = 2
"""A partner's level shift within this many months of a common shift is folded into it."""
FOLDED = "folded into "
"""Prefix of the ``detail`` of a per-partner row folded into a reporter-wide event."""
MAX_LISTED = 20


@dataclass
class CommonEvents:
    """Rows of the reporter-wide tests (one per family and kind) and, per (kind, family), the sharing partners."""

    rows: pd.DataFrame
    sharers: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)


def _family_keys(p: Panel, first_cols: np.ndarray) -> Panel:
    """A panel of one key row per family (partner_code 0) for the findings rows."""
    keys = p.keys.iloc[first_cols].reset_index(drop=True).copy()
    keys["partner_code"] = 0
    empty = np.zeros((0, len(keys)))
    return Panel(pd.DatetimeIndex([]), keys, empty, empty, p.synthetic)


def _partners_text(codes: np.ndarray) -> str:
    shown = ", ".join(str(int(c)) for c in codes[:MAX_LISTED])
    return shown + (f" and {len(codes) - MAX_LISTED} more" if len(codes) > MAX_LISTED else "")


def detect(p: Panel, *, kinds: tuple[str, ...] = KINDS, **_) -> CommonEvents:
    """Reporter-wide shift and spike rows (one per family with enough partners, raw p-values) for the panel ``p``.

    Works on recorded USD (a relative panel is taken back to recorded values).
    """
    p = p.recorded()
    empty = CommonEvents(rows_frame(p, np.zeros(0, dtype=int), KIND_SHIFT).assign(n_partners=np.nan))
    if p.n_series == 0:
        return empty
    keep, codes, years, w = effective(p, p.usd)
    n = int(keep.sum())
    if n < 2 * MIN_SEGMENT + 4:
        return empty
    ue = p.usd[keep]
    fam = p.keys["family_id"].astype(str).to_numpy()
    partner = p.keys["partner_code"].to_numpy()
    active = active_columns(ue)
    groups = [np.flatnonzero(active & (fam == f)) for f in pd.unique(fam)]
    groups = [g for g in groups if len(g) >= MIN_PARTNERS]
    if not groups:
        return empty
    cols = np.concatenate(groups)
    which = np.repeat(np.arange(len(groups)), [len(g) for g in groups])  # family of each column
    X, _c = log_level(ue[:, cols])
    bounds = np.cumsum([0] + [len(g) for g in groups])
    index = np.column_stack([median_index(X[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    keys = _family_keys(p, np.array([g[0] for g in groups]))
    n_tested = np.array([len(g) for g in groups])
    eff_dates = p.dates[keep]
    ctx = _Context(ue, w, X, cols, which, partner, n_tested, eff_dates, codes, years)
    parts, sharers = [], {}
    fit, log_p = score_breaks(index, codes, years)
    if KIND_SHIFT in kinds:
        rows, sh = _shifts(index, fit, log_p, keys, ctx)
        parts.append(rows)
        sharers.update({(KIND_SHIFT, f): s for f, s in sh.items()})
    if KIND_SPIKE in kinds:
        # the spike test sees the median without its best step: the first months after a shared break sit above
        # a running-median trend that has not caught up yet, and would read as a common spike
        step = (np.arange(n)[:, None] >= fit.k[None, :]) * fit.delta[None, :]
        rows, sh = _spikes(index - step, keys, ctx)
        parts.append(rows)
        sharers.update({(KIND_SPIKE, f): s for f, s in sh.items()})
    return CommonEvents(pd.concat(parts, ignore_index=True) if parts else empty.rows, sharers)


@dataclass
class _Context:
    """What both tests need: effective USD and weights, partners' log series, columns and their families."""

    ue: np.ndarray
    w: np.ndarray
    X: np.ndarray
    cols: np.ndarray
    which: np.ndarray
    partner: np.ndarray
    n_tested: np.ndarray
    eff_dates: pd.DatetimeIndex
    codes: np.ndarray
    years: np.ndarray

    def share_sets(self, share: np.ndarray, keys: Panel) -> tuple[np.ndarray, dict[str, tuple[int, ...]]]:
        """Count of sharing partners per family, and their codes by family id."""
        n_share = np.bincount(self.which, weights=share.astype(float), minlength=len(self.n_tested)).astype(int)
        fams = keys.keys["family_id"].astype(str).to_numpy()
        sets = {fams[i]: tuple(sorted(int(c) for c in self.partner[self.cols[(self.which == i) & share]]))
                for i in range(len(fams))}
        return n_share, sets


def _shifts(index: np.ndarray, fit: BreakFit, log_p: np.ndarray, keys: Panel, ctx: _Context
            ) -> tuple[pd.DataFrame, dict[str, tuple[int, ...]]]:
    """common_shift rows from the median's break fit: its sharers, the majority rule."""
    codes, years = ctx.codes, ctx.years
    null = null_model(tuple(codes.tolist()), tuple(np.round(years, 6).tolist()))
    k_col = fit.k[ctx.which]
    own, se = step_at(ctx.X, codes, years, k_col, rho_map=null.rho_map)
    common = fit.delta[ctx.which]
    share = (own * common > 0) & (np.abs(own) > SHARE * np.abs(common)) & (np.abs(own) > Z_SHARE * se)
    n_share, sets = ctx.share_sets(share, keys)
    majority = n_share > ctx.n_tested / 2
    log_p = np.where(majority, log_p, 0.0)
    # the sharers' total before and after the break (recorded USD, month-weighted)
    after = np.arange(len(ctx.w))[:, None] >= k_col[None, :]
    u = ctx.ue[:, ctx.cols] * share[None, :]
    wa = (ctx.w[:, None] * after).sum(axis=0)
    wb = (ctx.w[:, None] * ~after).sum(axis=0)
    sum_after = np.bincount(ctx.which, weights=(u * ctx.w[:, None] * after).sum(axis=0) / np.maximum(wa, 1e-12),
                            minlength=len(ctx.n_tested))
    sum_before = np.bincount(ctx.which, weights=(u * ctx.w[:, None] * ~after).sum(axis=0) / np.maximum(wb, 1e-12),
                             minlength=len(ctx.n_tested))
    pos_after = np.bincount(ctx.which, weights=((ctx.ue[:, ctx.cols] > 0) & after & share[None, :]).sum(axis=0),
                            minlength=len(ctx.n_tested))
    n_after = np.bincount(ctx.which, weights=(after & share[None, :]).sum(axis=0), minlength=len(ctx.n_tested))
    to_zero = pos_after < 0.5 * np.maximum(n_after, 1)
    size = np.exp(fit.delta)
    lo, hi = np.exp(fit.delta - 1.96 * fit.se), np.exp(fit.delta + 1.96 * fit.se)
    ratio = np.divide(sum_after, sum_before, out=np.full(len(size), np.nan), where=sum_before > 0)
    size = np.where(to_zero, ratio, size)
    lo, hi = np.where(to_zero, np.nan, lo), np.where(to_zero, np.nan, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(to_zero, sum_before, sum_after / size)
        e_low, e_high = sum_after / hi, sum_after / lo
    period = [fmt_month(ctx.eff_dates[k]) for k in fit.k]
    detail = []
    for i, (s, a, b, z, per, o, e, r) in enumerate(zip(size, lo, hi, to_zero, period, sum_after, expected, fit.rho,
                                                       strict=True)):
        fam = keys.keys["family_id"].iloc[i]
        size_text = (f"level x{s:.2f} (ratio of mean months; no interval: most months after the break are zero, so "
                     f"the log-scale size is not estimable)" if z else f"median level x{s:.2f} (95% {a:.2f}-{b:.2f})")
        head = f"{n_share[i]} of {ctx.n_tested[i]} partners shift together from {per}: {size_text}"
        tail = (f"; their total {fmt_usd(e)} -> {fmt_usd(o)} USD/month; AR(1) {r:.2f}; partners "
                f"{_partners_text(np.array(sets[str(fam)]))}" if n_share[i] else "")
        rule = "" if majority[i] else "; not reporter-wide: a common event needs more than half of the partners"
        detail.append(head + tail + rule)
    rows = rows_frame(keys, np.arange(len(size)), KIND_SHIFT, period=period, score=z_score(log_p),
                      observed_usd=sum_after, expected_usd=expected, expected_low=e_low, expected_high=e_high,
                      size=size, size_low=lo, size_high=hi, p_value=np.exp(log_p), detail=detail)
    rows["n_partners"] = n_share.astype(float)
    return rows, sets


def _spikes(index: np.ndarray, keys: Panel, ctx: _Context) -> tuple[pd.DataFrame, dict[str, tuple[int, ...]]]:
    """common_spike rows: the median's largest month, its sharers, the majority rule."""
    codes = ctx.codes
    z, _fit, _scale = spike_z(index, codes)
    fams = np.arange(index.shape[1])
    at = z.argmax(axis=0)
    stat = z[at, fams]
    null_tail, factor = spike_null(tuple(codes.tolist()), tuple(np.round(ctx.years, 6).tolist()))
    log_p = null_tail.log_sf(stat)
    loo = np.ones(index.shape, dtype=bool)
    loo[at, fams] = False
    fitted, _, scale = robust_decompose(index, codes, valid=loo, smooth=SMOOTH)
    excess = index[at, fams] - fitted[at, fams]
    half = 1.96 * factor * scale
    # each partner's own log excess in its family's month (the month and zero months left out of its fit)
    m_col = at[ctx.which]
    cc = np.arange(len(ctx.cols))
    valid = ctx.ue[:, ctx.cols] > 0
    valid[m_col, cc] = False
    own_fit, _, own_scale = robust_decompose(ctx.X, codes, valid=valid, smooth=SMOOTH)
    own = ctx.X[m_col, cc] - own_fit[m_col, cc]
    common = excess[ctx.which]
    share = (common > 0) & (own > SHARE * common) & (own > Z_SHARE * own_scale)
    n_share, sets = ctx.share_sets(share, keys)
    majority = n_share > ctx.n_tested / 2
    log_p = np.where(majority, log_p, 0.0)
    observed = np.bincount(ctx.which, weights=ctx.ue[m_col, ctx.cols] * share, minlength=len(ctx.n_tested))
    size, lo, hi = np.exp(excess), np.exp(excess - half), np.exp(excess + half)
    expected = observed / size
    period = [fmt_month(ctx.eff_dates[a]) for a in at]
    detail = []
    for i, (s, a, b, per, o, e) in enumerate(zip(size, lo, hi, period, observed, expected, strict=True)):
        fam = keys.keys["family_id"].iloc[i]
        head = (f"{n_share[i]} of {ctx.n_tested[i]} partners spike together in {per}: median month x{s:.2f} "
                f"(95% {a:.2f}-{b:.2f}) over its expected level")
        tail = (f"; their total {fmt_usd(o)} USD against {fmt_usd(e)} expected; partners "
                f"{_partners_text(np.array(sets[str(fam)]))}" if n_share[i] else "")
        rule = "" if majority[i] else "; not reporter-wide: a common event needs more than half of the partners"
        detail.append(head + tail + rule)
    rows = rows_frame(keys, fams, KIND_SPIKE, period=period, score=z_score(log_p), observed_usd=observed,
                      expected_usd=expected, expected_low=observed / hi, expected_high=observed / lo, size=size,
                      size_low=lo, size_high=hi, p_value=np.exp(log_p), detail=detail)
    rows["n_partners"] = n_share.astype(float)
    return rows, sets


def is_folded(findings: pd.DataFrame) -> pd.Series:
    """True for the rows folded into a reporter-wide event (their ``detail`` begins with FOLDED)."""
    return findings["detail"].astype(str).str.startswith(FOLDED)


def fold(tested: pd.DataFrame, events: CommonEvents, alpha: float,
         protected: set[tuple[int, str]] | frozenset[tuple[int, str]] = frozenset()) -> pd.DataFrame:
    """``tested`` (with q-values) with the per-partner rows that a reporter-wide finding explains marked as folded.

    A row is folded when its partner shares a common event with q < alpha of
    its family, at the same month (+-``FOLD_MONTHS`` for shifts, +-1 for
    spikes) and in the same direction; ``protected`` (partner, family)
    pairs (the focal partner's series analysed relative to its comparison
    group) are never folded. The common row's ``detail`` then names the
    partners whose findings it holds.
    """
    out = tested.copy()
    if out.empty or not events.sharers:
        return out
    detail = out["detail"].astype(str).to_numpy(dtype=object).copy()
    kind = out["kind"].to_numpy()
    family = out["family"].astype(str).to_numpy()
    partner = out["partner_code"].to_numpy()
    period = out["period"].astype(str).to_numpy()
    size = out["size"].to_numpy(dtype=float)
    q = out["q_value"].to_numpy(dtype=float)
    guarded = np.array([(int(pc), f) in protected for pc, f in zip(partner, family, strict=True)], dtype=bool)
    for i in np.flatnonzero(np.isin(kind, KINDS) & (q < alpha)):
        shared = events.sharers.get((str(kind[i]), str(family[i])), ())
        up = bool(size[i] > 1)
        targets = (("level_shift", "new_flow", "spike") if up else ("level_shift", "spike")) \
            if kind[i] == KIND_SHIFT else ("spike",)
        cand = np.flatnonzero(np.isin(kind, targets) & (family == family[i]) & np.isin(partner, shared) & ~guarded)
        held = []
        for j in cand:
            window = FOLD_MONTHS if kind[i] == KIND_SHIFT and kind[j] != "spike" else 1
            if detail[j].startswith(FOLDED) or months_apart(period[j], period[i]) > window:
                continue
            if kind[j] == "level_shift" and np.isfinite(size[j]) and (size[j] > 1) != up:
                continue
            detail[j] = f"{FOLDED}{kind[i]} of {family[i]} from {period[i]}: {detail[j]}"
            if q[j] < alpha:
                held.append(f"{partner[j]} ({kind[j]})")
        if held:
            detail[i] = f"{detail[i]}; holds the findings of partners {', '.join(held)}"
    out["detail"] = detail
    return out
