"""A recommendation's reason as true now, for every place that shows one (CLI and dashboard)."""

from __future__ import annotations

# How `models.decide` begins the reason of a recommendation made with auto-apply off. True until
# someone applies it by hand; after that, "a recommendation only" would contradict the state shown.
MONITORING_PREFIX = "auto-apply is off, so this is a recommendation only: "
APPLIED_PREFIX = "made while auto-apply was off, since applied: "


def reason_as_of(reason: str, state: str) -> str:
    """``reason`` as true now: once applied, "a recommendation only" no longer is, so the monitoring
    prefix says what was so when it was made. The stored reason stays as written (`--json`)."""
    if state == "applied" and MONITORING_PREFIX in reason:
        return reason.replace(MONITORING_PREFIX, APPLIED_PREFIX, 1)
    return reason
