"""The working SLA a decision aimed at, as the planner stores it with the recommendation.

`models.decide` plans against a working SLA while the owner's is out of reach (`_working_sla`) and
says so only in its reason ("... so the plan aims at a 600s working SLA ..."): `Decision` carries no
field for it. Read back from those words here, in one place, so `project show`, the timeline and the
API can show it beside the SLA. A test through the planner (tests/plan/test_planner_working_sla.py)
fails if the models' wording moves away from this pattern; a field on `Decision` would replace it.
"""

from __future__ import annotations

import re

# The models' words (models/reasons.py `_working_sla`): "aims at a 600s working SLA".
_AIMS_AT = re.compile(r"\baims at an? (\d+(?:\.\d+)?)\s?s working SLA\b")


def working_sla_of(reason: str) -> float | None:
    """The working SLA (s) ``reason`` says the plan aims at; None when it aims at the SLA itself."""
    found = _AIMS_AT.search(reason)
    return float(found.group(1)) if found else None
