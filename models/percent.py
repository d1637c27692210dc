"""How a P(meet SLA) is written, the one rule the reasons (`models.reasons`) and the server's CLI and
dashboard (`server.render.fmt.p_meet_text`) share: a reason and the `P(SLA)` line beside it must not
say "90%" and "89.7%" for one P."""

from __future__ import annotations

import math


def p_meet_text(p: float, target: float, fine: bool = False) -> str:
    """``p`` in whole percent, but to a tenth (as a reason's ``P=89.9%, 0.1% under the 90% target``)
    within a point of ``target`` or when ``fine`` (a reason comparing it with a P close by), and with
    more digits still when a tenth would round a P under the target up to it: 0.89889 is never "90%"
    beside a reason that says it falls short. A P under 1% (but not 0) is never "0%" or "1%": to a
    tenth down to 0.1%, below that in powers of ten (an out-of-reach SLA's "P=2e-20")."""
    if 0 < p < 0.01:
        return f"{p:.1%}" if p >= 0.001 else f"{p:.0e}"
    decimals = 1 if fine or abs(p - target) < 0.01 else 0
    text = f"{p:.{decimals}%}"
    while p < target and float(text[:-1]) >= round(target * 100, 6):
        if decimals == 3:  # 0.8999999: cut, not rounded, rather than a fourth digit nobody reads
            return f"{math.floor(p * 10**5) / 10**3:.3f}%"
        decimals += 1
        text = f"{p:.{decimals}%}"
    return text
