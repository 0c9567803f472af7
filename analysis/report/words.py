"""The report's vocabulary, derived from the study and the results: nothing here is true only of the demo.

Who reports, which flow, which goods, which windows, which break, and which
findings answer the study's question (the focal partner, the goods asked
about, after the break, not a reporter-wide event): every sentence of the
report takes its nouns from here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .. import registry
from ..plots import CONTROL_KINDS, area_label, window_text
from ..study import FLOW_VALUATION, FLOW_WORDS, Study
from . import fmt

KIND_WORDS = {
    "level_shift": "lasting level shift", "spike": "one-period spike", "counterfactual_excess":
    "value above the counterfactual", "new_flow": "new flow", "unit_value": "unit-value (USD/kg) shift",
    "mirror_gap": "gap between the two sides' records", "common_shift": "shift shared by most partners",
    "common_spike": "spike shared by most partners",
}
KIND_PLURALS = {
    "level_shift": "lasting level shifts", "spike": "one-period spikes", "counterfactual_excess":
    "series above their counterfactual", "new_flow": "new flows", "unit_value": "unit-value shifts",
    "mirror_gap": "mirror gaps", "common_shift": "shifts shared by most partners",
    "common_spike": "spikes shared by most partners",
}
ROLE_ORDER = ("question", "control goods", "common event", "before the break", "data check", "other partner")
"""Where a finding belongs: the question first, then the checks in their own short lines."""


def name(code: int) -> str:
    """A country's short name."""
    return area_label(int(code))


def flow_word(study: Study) -> str:
    """``exports``, ``imports``, ``re-exports`` or ``re-imports``."""
    return FLOW_WORDS[study.flow]


def valuation(study: Study) -> str:
    return FLOW_VALUATION[study.flow]


def per(study: Study) -> str:
    """``a month`` or ``a year``: the unit of the window means."""
    return "a month" if study.freq == "M" else "a year"


def per_unit(study: Study) -> str:
    """``USD/month`` or ``USD/year``."""
    return "USD/month" if study.freq == "M" else "USD/year"


def windows(study: Study) -> tuple[str, str]:
    """``2019-01 to 2021-12``, ``2022-03 to 2025-06`` (annual: ``2019 to 2021``)."""
    return window_text(study.pre, study), window_text(study.post, study)


def break_text(study: Study) -> str:
    """When the after window starts: ``March 2022`` or ``2022``."""
    start = study.post.start
    return f"{start:%B %Y}" if study.freq == "M" else f"{start.year}"


def level_words(study: Study) -> str:
    return {6: "six-digit HS code", 4: "four-digit HS heading", 2: "two-digit HS chapter"}[study.level]


def question_rows(compare: pd.DataFrame, focal: int) -> pd.DataFrame:
    """The focal partner's rows that answer the question: every family but control and common-shock goods."""
    c = compare[compare["partner_code"] == focal]
    return c[~c["kind"].isin(CONTROL_KINDS)]


def tested(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a relative ratio test (a p-value)."""
    return rows[rows["relative_p_value"].notna()]


def significant(rows: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Rows whose relative ratio is above 1 with q below ``alpha``, largest first."""
    sig = rows[(rows["relative_q_value"] < alpha) & (rows["relative_ratio"] > 1)]
    return sig.sort_values("relative_ratio", ascending=False)


class Rises(NamedTuple):
    """The headline count: the focal partner's question families tested, those rising significantly more than
    for the comparison partners, and the focal partner's number of tests (the BH family with q_scope partner)."""

    tested: pd.DataFrame
    significant: pd.DataFrame
    n_tests: int


def rises(compare: pd.DataFrame, focal: int, alpha: float) -> Rises:
    """:class:`Rises` of ``focal``: counted once, for the report's Summary and the command line alike."""
    q = tested(question_rows(compare, focal))
    return Rises(q, significant(q, alpha), len(tested(compare[compare["partner_code"] == focal])))


def control_rows(compare: pd.DataFrame, focal: int) -> pd.DataFrame:
    c = compare[compare["partner_code"] == focal]
    return c[c["kind"].isin(CONTROL_KINDS)]


def goods(compare: pd.DataFrame, study: Study) -> str:
    """What the study is about: ``dual-use goods`` when every question family is a registry dual-use family,
    the codes asked for otherwise, or ``the HS codes in the data``."""
    if goods_noun(compare, study) == "dual-use":
        return "dual-use goods"
    if study.codes:
        shown = list(study.codes[:4])
        return "HS " + fmt.join(shown) + (" and more" if len(study.codes) > 4 else "")
    return f"the {level_words(study)}s in the data"


def goods_noun(compare: pd.DataFrame, study: Study) -> str:
    """``dual-use`` or ``studied``: the adjective for the question families."""
    return "dual-use" if set(question_rows(compare, study.focal)["kind"]) == {"dual_use"} else "studied"


def family_label(row: pd.Series) -> str:
    return f"{row['family_name']} ({row['family']})"


def level(alpha: float) -> int:
    return int(round((1 - alpha) * 100))


# --------------------------------------------------------------------------- findings

def finding_roles(findings: pd.DataFrame, study: Study) -> pd.Series:
    """Each finding's place (:data:`ROLE_ORDER`): ``question`` for the focal partner's studied goods after the
    break; control goods, reporter-wide events (``partner_code`` 0), items before the break, data checks
    (mirror gaps) and other partners each in their own line."""
    if findings.empty:
        return pd.Series([], dtype=str)
    partner = findings["partner_code"].astype(int)
    kind = findings["group"].map(registry.groups().set_index("group")["kind"]).fillna(registry.UNGROUPED)
    # a finding's period starts with YYYY-MM (or YYYY); one that does not parse counts as after the break
    when = pd.to_datetime(findings["period"].astype(str).str[:7], format="mixed", errors="coerce")
    roles = np.select(
        [findings["kind"].eq("mirror_gap"), partner.eq(0), partner.ne(study.focal), kind.isin(CONTROL_KINDS),
         when.lt(study.post.start)],
        ["data check", "common event", "other partner", "control goods", "before the break"], default="question")
    return pd.Series(roles, index=findings.index)


def finding_phrase(row: pd.Series, study: Study) -> str:
    """``Rangefinders (HS901510) to Belarus: lasting level shift from 2022-09, ×5.1 (3.9–6.6)``."""
    size = ""
    if pd.notna(row.get("size")) and np.isfinite(float(row["size"])):
        size = f", {fmt.ratio_ci(row['size'], row.get('size_low'), row.get('size_high'))}"
    partner = int(row["partner_code"])
    where = "" if row["kind"] == "mirror_gap" else (
        f" to {name(partner)}" if partner else f" to {int(row.get('n_partners') or 0)} partners")
    starts = ("level_shift", "new_flow", "unit_value", "counterfactual_excess", "common_shift")
    when = f" {'from' if row['kind'] in starts else 'in'} {row['period']}" if str(row.get("period", "")) else ""
    return f"{row['family_name']} ({row['family']}){where}: {KIND_WORDS.get(row['kind'], row['kind'])}{when}{size}"
