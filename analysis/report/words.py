"""The report's vocabulary, derived from the study and the results: nothing here is true only of the demo.

Who reports, which flow, which goods, which windows, which break, and which
findings answer the study's question (the focal partner, the goods asked
about, after the break, not a reporter-wide event): every sentence of the
report takes its nouns from here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import registry
from ..plots import CONTROL_KINDS, area_label, group_label
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


def window_text(study: Study, which: str) -> str:
    """A window as the user writes it: ``2019-01:2021-12`` (annual studies: ``2019:2021``)."""
    w = study.pre if which == "pre" else study.post
    if study.freq == "A":
        end = "" if w.end is None else str(w.end.year)
        return f"{w.start.year}:{end}"
    return w.text


def windows(study: Study) -> tuple[str, str]:
    """``2019-01 to 2021-12``, ``2022-03 to 2025-06`` (annual: ``2019 to 2021``)."""
    return window_text(study, "pre").replace(":", " to "), window_text(study, "post").replace(":", " to ")


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


def control_rows(compare: pd.DataFrame, focal: int) -> pd.DataFrame:
    c = compare[compare["partner_code"] == focal]
    return c[c["kind"].isin(CONTROL_KINDS)]


def goods(compare: pd.DataFrame, study: Study) -> str:
    """What the study is about: ``dual-use goods`` when every question family is a registry dual-use family,
    the codes asked for otherwise, or ``the HS codes in the data``."""
    kinds = set(question_rows(compare, study.focal)["kind"])
    if kinds == {"dual_use"}:
        return "dual-use goods"
    if study.codes:
        shown = list(study.codes[:4])
        return "HS " + fmt.join(shown) + (" and more" if len(study.codes) > 4 else "")
    return f"the {level_words(study)}s in the data"


def goods_noun(compare: pd.DataFrame, study: Study) -> str:
    """``dual-use`` or ``studied``: the adjective for the question families."""
    return "dual-use" if set(question_rows(compare, study.focal)["kind"]) == {"dual_use"} else "studied"


def group_name(group: str) -> str:
    """A registry group's readable name (``Outside the registry`` for ungrouped codes)."""
    return group_label(group)


def family_label(row: pd.Series) -> str:
    return f"{row['family_name']} ({row['family']})"


def level(alpha: float) -> int:
    return int(round((1 - alpha) * 100))


# --------------------------------------------------------------------------- findings

def _period(text: object) -> pd.Timestamp | None:
    s = str(text or "")[:7]
    try:
        return pd.Timestamp(s + ("-01" if len(s) == 7 else "-01-01"))
    except ValueError:
        return None


def finding_roles(findings: pd.DataFrame, study: Study) -> pd.Series:
    """Each finding's place (:data:`ROLE_ORDER`): ``question`` for the focal partner's studied goods after the
    break; control goods, reporter-wide events (``partner_code`` 0), items before the break, data checks
    (mirror gaps) and other partners each in their own line."""
    if findings.empty:
        return pd.Series([], dtype=str)
    start = study.post.start
    roles = []
    for _, f in findings.iterrows():
        when = _period(f.get("period"))
        if f["kind"] == "mirror_gap":
            roles.append("data check")
        elif int(f["partner_code"]) == 0:
            roles.append("common event")
        elif int(f["partner_code"]) != study.focal:
            roles.append("other partner")
        elif _family_kind(f) in CONTROL_KINDS:
            roles.append("control goods")
        elif when is not None and when < start:
            roles.append("before the break")
        else:
            roles.append("question")
    return pd.Series(roles, index=findings.index)


def _family_kind(row: pd.Series) -> str:
    groups = registry.groups().set_index("group")["kind"]
    return str(groups.get(row.get("group"), registry.UNGROUPED))


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
