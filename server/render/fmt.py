"""Numbers and words as people read them on charts, tables and pages."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from models.outlook import INTERVAL_LEVEL
from models.percent import p_meet_text as models_p_meet_text
from models.settings import Settings
from server.spec import azure_availability

CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£"}

PHASE_COLORS = {"learning": "#fde68a", "optimizing": "#bbf7d0", "monitoring": "#bfdbfe"}
ANOMALY_COLORS = {"spot_loss": "#d97706", "data_growth": "#7c3aed", "failure": "#dc2626",
                  # The job's timeout stopped the run: a failure of the job, a red of the failure's family.
                  "timeout": "#b91c1c",
                  # Out of memory replaces the failure it details: a darker red of the same family.
                  "out_of_memory": "#991b1b",
                  "launch_failed": "#9ca3af", "user_edit": "#0891b2",
                  # A run without a cost (`server.timeline.UNPRICED`): a grey, as missing data, but a
                  # darker, warmer one than the launch failure's, so the two are not read as one.
                  "unpriced": "#78716c",
                  # A runtime without setup (`server.timeline.EXECUTION_ONLY`): a slate apart from the
                  # greys of missing data, as the run is known, only its SLA verdict may not be.
                  "execution_only": "#475569"}
OTHER_COLOR = "#6b7280"
# The rebase marker (the model learns again after a change of the workload): a magenta apart from the
# anomalies' colours, the phases' pastels and the apply markers' near-black.
REBASE_COLOR = "#be185d"
# The SLA line, every step of it (`server.render.sla_line`).
SLA_COLOR = "#dc2626"
# What a chart says in place of the cost of a run it could not price (its cost is unknown, not 0).
NOT_PRICED = "not priced"
# Pale and grey so the setup reads as "part of the runtime", not as a second series: it must stay
# distinct from the phase bands (yellow/green/blue) and the runtime line (blue) it sits under.
SETUP_COLOR = "#64748b"
SETUP_OPACITY = 0.35


# The level of every runtime and cost interval a recommendation carries (`models.outlook.INTERVAL_LEVEL`),
# said beside the bounds: "[5m00s, 6m40s]" alone read as a range of runs already seen, or as certain.
INTERVAL_WORDS = f"{INTERVAL_LEVEL:.0%} interval"


def cut(text: str, limit: int, *, on_word: bool = False) -> str:
    """``text`` on one line (whitespace folded), at most ``limit`` characters, ending with "…" when
    cut. ``on_word`` cuts at the last space when that keeps more than half the room (one long
    token, a class name or a path, would otherwise leave almost nothing)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = flat[:max(limit - 1, 0)]
    space = head.rfind(" ")
    if on_word and space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:") + "…"


# A stored outcome as people read it, where its word is not already theirs (``timed_out``: Databricks'
# TIMEDOUT, the job's timeout stopped the run). Machine readers (--json, the API) keep the stored word.
OUTCOME_WORDS = {"timed_out": "timed out"}


def outcome_text(outcome: str) -> str:
    """``outcome`` in words: "timed out" for ``timed_out``, the others as stored."""
    return OUTCOME_WORDS.get(outcome, outcome)


def duration(seconds: float | None) -> str:
    """``95`` -> ``1m35s``; ``3630`` -> ``1h00m30s``; ``450000`` -> ``5d05h`` (a runaway run read as
    ``125h00m`` hides its size). Every part down to the second is kept: people compare these with
    an SLA, and `trimtab project show`, the dashboard and the timeline must say the same 1h00m30s
    (``server.cli.context.parse_duration`` reads it back); only the fraction of a second is rounded."""
    if seconds is None:
        return "-"
    total = int(round(seconds))
    d, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d}d{h:02d}h" + (f"{m:02d}m" if m or s else "") + (f"{s:02d}s" if s else "")
    if h:
        return f"{h}h{m:02d}m" + (f"{s:02d}s" if s else "")
    return f"{m}m{s:02d}s" if m else f"{s}s"


def sla_text(sla_seconds: float, working_sla_seconds: float | None = None) -> str:
    """``6m00s``, or ``6m00s (out of reach: aiming at 10m00s, the working SLA)`` while the plan aims at
    a working SLA (`Project.working_sla_seconds`): `trimtab project show` and the timeline say it where
    they say the SLA, not only the recommendation's reason."""
    text = duration(sla_seconds)
    if working_sla_seconds is None:
        return text
    return f"{text} (out of reach: aiming at {duration(working_sla_seconds)}, the working SLA)"


def counted(n: int, noun: str) -> str:
    """``1 worker``, ``4 workers``: a count with its noun, singular for one ("1 workers" read as a slip)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def money(amount: float | None, currency: str = "USD", decimals: int = 2) -> str:
    """``decimals`` more than 2 for small unit prices (a cost per input GB of $0.003 is not "$0.00")."""
    if amount is None:
        return "-"
    sign = CURRENCY_SIGNS.get(currency, "")
    text = f"{abs(amount):,.{decimals}f}"
    text = f"{sign}{text}" if sign else f"{text} {currency}"
    return f"-{text}" if amount < 0 else text


def cost_text(amount: float | None, currency: str = "USD") -> str:
    """A run's cost as a chart labels it: ``known_cost`` None (an unpriced run) says so instead of
    "-" or "$0.00", which would read as free."""
    return NOT_PRICED if amount is None else money(amount, currency)


def percent(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    text = f"{fraction * 100:.0f}%"
    return "0%" if text == "-0%" else text  # a tiny loss rounds to nothing, not to "-0%"


# The P a recommendation's P(meet SLA) is held against: the planner never sets another (server.plan.planner).
P_TARGET = Settings.p_target


def p_meet_text(p: float | None, target: float = P_TARGET) -> str:
    """A P(meet SLA) as `trimtab recommendation show` and the dashboard write it: by the reasons' own
    rule (`models.percent.p_meet_text`), so the P(SLA) line and the reason beside it say one figure."""
    return "-" if p is None else models_p_meet_text(p, target)


def breakdown_amounts(total: float, parts: list[float]) -> tuple[int, list[float]]:
    """A cost breakdown's parts as shown, and with how many decimals, so that they add up to its total
    as shown: 2 where they do (3.25 + 2.50 + 0.75 = 6.50), else 3 or 4 (0.0420 + 0.1030 + 0.0100 =
    0.1550, where 0.04 + 0.10 + 0.01 read against a total of 0.16). At 4 the parts' own rounding can
    still leave a gap of 0.0001 (0.1999 + 0.1665 + 0.1561 against 0.5226): it goes to the parts
    rounded furthest from their value, each then within 0.0001 of it (largest remainder), as a bill's
    lines are. `trimtab run show` and the dashboard's run page both use it, so they show the same.
    ``parts``: those ``total`` is the sum of (DBU, compute and storage for an estimate; DBU and the
    bill for a billed cost); any that are not its sum (a cost kept without them) are shown as they
    are, to 2 decimals."""
    if abs(sum(parts) - total) > 1e-9 * max(1.0, abs(total)):
        return 2, list(parts)

    def shown(x: float, decimals: int) -> Decimal:
        # Decimal(x) is the float's exact value: quantized half-even it is what f"{x:.{decimals}f}" shows.
        return Decimal(x).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_EVEN)

    decimals = next((d for d in (2, 3) if sum(shown(x, d) for x in parts) == shown(total, d)), 4)
    unit = Decimal(1).scaleb(-decimals)
    amounts = [shown(x, decimals) for x in parts]
    gap = int((shown(total, decimals) - sum(amounts)) / unit)
    # The parts rounded down the most take a unit when the sum falls short; rounded up the most, give one.
    order = sorted(range(len(parts)), key=lambda i: Decimal(parts[i]) - amounts[i], reverse=gap > 0)
    for i in order[:abs(gap)]:
        amounts[i] += unit if gap > 0 else -unit
    return decimals, [float(a) for a in amounts]


def driver_use(peak_heap_bytes: int, gc_ms: int, outside_heap_bytes: int, runtime_s: float) -> str:
    """What a run's driver used, as the recommendation's reason cites it:
    ``heap peak 3.5 GiB, GC 1.2 s (0.2% of the run), Python and other processes 0.3 GiB``, the GC
    share of ``runtime_s``: the run's time after its cluster's setup, which is the driver's life."""
    gib = 2**30
    gc = f"GC {gc_ms / 1000:,.1f} s" + (f" ({gc_ms / 1000 / runtime_s:.1%} of the run)" if runtime_s > 0 else "")
    outside = f", Python and other processes {outside_heap_bytes / gib:,.1f} GiB" if outside_heap_bytes else ""
    return f"heap peak {peak_heap_bytes / gib:,.1f} GiB, {gc}{outside}"


def phase_marks(detached: bool, orphaned: bool) -> tuple[str, ...]:
    """Why Trimtab no longer acts on a project, said beside its phase (which stays what it was when
    Trimtab last did): ``detached`` (taken off its job) and ``orphaned`` (its job or cluster is gone)."""
    return (("detached",) if detached else ()) + (("orphaned",) if orphaned else ())


def phase_text(phase: str, detached: bool, orphaned: bool) -> str:
    """``learning — detached``: the phase with its `phase_marks`, as `trimtab project show` and the
    dashboard write it."""
    return " — ".join((phase, *phase_marks(detached, orphaned)))


def auto_apply_text(on: bool, hold: str = "", *, short: bool = False) -> str:
    """``on``, ``off``, or ``on (paused: you edited the cluster (num_workers) before run 12 of ...)`` while
    an edit outside Trimtab holds it: ``hold`` is `Project.auto_apply_hold` (the planner's `edit_hold`
    reason), of which its first clause is said. ``short``: ``on (paused)``, for a table's column."""
    if not on:
        return "off"
    if not hold:
        return "on"
    if short:
        return "on (paused)"
    return f"on (paused: {hold.split(': auto-apply is paused', 1)[0]})"


# What each step of a project's kept problem (`Project.problem.step`) is called where people read it.
STEP_WORDS = {"plan": "planning", "apply": "auto-apply"}


def problem_mark(step: str) -> str:
    """``planning failed``: beside a failing project's phase (which is as of its last success), as
    `trimtab project list` and the dashboard's projects list mark it."""
    return f"{STEP_WORDS.get(step, step)} failed"


def utc_minute(ms: int) -> str:
    """``2026-12-05 04:17``, UTC, as `trimtab run list` writes a run's start; "-" for none (0)."""
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def on_azure(config: Any) -> bool:
    """Whether a configuration (a ``ClusterConfig`` message) runs on Azure: its spec has
    ``azure_attributes``, or its node type is an Azure VM size (every one is named ``Standard_*``).
    The messages carry no cloud, and a recommendation's configuration often no spec."""
    spec = _spec_of(config)
    if spec.get("azure_attributes"):
        return True
    if spec.get("aws_attributes"):
        return False
    return str(config.node_type_id or config.driver_node_type_id).startswith("Standard_")


def availability_name(config: Any) -> str:
    """A configuration's availability as its cloud names it: ``ClusterConfig`` stores AWS's names
    (SPOT_WITH_FALLBACK), which on Azure read SPOT_WITH_FALLBACK_AZURE, as the applied spec says."""
    return azure_availability(config.availability) if config.availability and on_azure(config) \
        else config.availability


def availability_text(config: Any) -> str:
    """``availability_name`` with how many nodes stay on demand: ``SPOT_AZURE (first 1 on-demand)``.
    On an instance pool first_on_demand does not apply (every node has its pool's availability:
    `server.spec.pool_first_on_demand`), so the pool is named instead."""
    name = availability_name(config)
    if not name:
        return ""
    if _spec_of(config).get("instance_pool_id"):
        return f"{name} (the instance pool's)"
    if config.first_on_demand == 0 and name.upper().startswith("SPOT"):
        # A recommendation's configuration keeps no spec: a spot pool's (driver on spot) reads so too.
        return f"{name} (every node, the driver too)"
    return f"{name} (first {config.first_on_demand} on-demand)"


def _spec_of(config: Any) -> dict[str, Any]:
    try:
        spec = json.loads(getattr(config, "spec_json", "") or "{}")
    except ValueError:
        return {}
    return spec if isinstance(spec, dict) else {}
