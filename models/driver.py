"""Driver sizing: the cheapest driver node that holds what the job's driver used.

The driver of a batch job plans queries, schedules tasks, and holds what the job collects or
broadcasts; it rarely sets the runtime, but a driver that runs out of memory fails the whole run.
So the driver is sized by a rule over the memory it used, not by the runtime model:

- its JVM heap peaks (the largest used-heap sample Spark logs per stage for executor "driver") must
  fit ``HEADROOM`` times over in the heap a node gives the driver (``HEAP_SHARE`` of its memory),
  and the memory of its other processes (Python: the job's own code, ``toPandas``, notebooks'
  REPLs; measured when Spark's process-tree metrics are on) ``HEADROOM`` times over in the rest;
- it shrinks only on evidence (``EVIDENCE_RUNS`` successful runs with driver peaks in the last
  ``WINDOW`` runs) and at most halves its memory per step, so every step is measured before the next;
- after a run whose driver died (out of memory, unresponsive) or spent more than ``GC_PRESSURE`` of
  the run collecting garbage, it doubles its memory, and drivers no larger than the troubled one
  are not used again for ``TROUBLE_WINDOW`` runs (else it would shrink back on the next quiet run);
- it never goes below ``MIN_VCPUS`` vCPUs (or the current driver's, if that is smaller): the agent
  sees no driver CPU, and a driver that schedules thousands of tasks needs a few cores;
- it never moves to a driver the user turned down (``turned_down``: a rejected or reverted
  recommendation that proposed it for these workers), which the reason names when it was the pick.

A used-heap sample includes garbage not yet collected, so it overstates what the driver needs: the
rule errs towards a driver too big, never one too small for what was seen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from models.money import money

# Share of a driver node's memory its JVM heap gets, for planning. Databricks sizes the heap from
# the node's memory after the OS, the Python processes and off-heap reservations; half is below
# what it gives on the node sizes jobs use, so the rule stays on the safe side.
HEAP_SHARE = 0.5
HEADROOM = 1.5  # the planned heap must hold this multiple of the largest used-heap peak seen
MIN_VCPUS = 4.0
GC_PRESSURE = 0.10  # share of the run the driver may spend in GC before it is grown
EVIDENCE_RUNS = 2
WINDOW = 10  # runs whose peaks count: recent enough to reflect today's data
TROUBLE_WINDOW = 30  # runs over which a troubled driver size is remembered (a month of nightly runs)


@dataclass(frozen=True)
class DriverOption:
    """A node type the driver may use; ``price_per_hour`` is one driver node's all-in price."""

    node_type: str
    vcpus: float
    memory_gib: float
    price_per_hour: float


@dataclass(frozen=True)
class DriverRun:
    """What one run says about its driver (oldest first in a history).

    ``peak_heap_gib``: the largest used JVM heap sampled on the driver (None: not measured, e.g. an
    agent-less run). ``peak_outside_gib``: the largest resident memory of the driver JVM's child
    processes (Python and others; 0 when not measured). ``gc_share``: the driver's GC time over the
    run's time (None: not measured).
    ``driver_failed``: the run failed because its driver died.
    """

    node_type: str
    memory_gib: float
    ok: bool
    peak_heap_gib: float | None = None
    gc_share: float | None = None
    peak_outside_gib: float = 0.0
    driver_failed: bool = False


@dataclass(frozen=True)
class DriverChoice:
    option: DriverOption
    changed: bool
    reason: str
    # The driver should grow and cannot (no larger allowed size): the user has to act, so the
    # recommendation says so although the driver does not change.
    blocked: bool = False


def choose_driver(options: Sequence[DriverOption], current: DriverOption,
                  runs: Sequence[DriverRun], *, currency: str = "",
                  turned_down: Collection[str] = ()) -> DriverChoice:
    """The driver for the next run: ``current`` unless the evidence says smaller or bigger
    (``currency``: the prices', named in the reason). ``turned_down``: node types the user turned
    down as this cluster's driver, never moved to (keeping the current one is always allowed)."""
    refused = set(turned_down) - {current.node_type}
    if not refused:
        return _choose(options, current, runs, currency)
    wanted = _choose(options, current, runs, currency)
    if wanted.option.node_type not in refused:
        return wanted
    # The evidence's pick was turned down: the next best without it, and the reason says why, or the
    # driver change reads as the model's whim (or its absence as a bug).
    choice = _choose([o for o in options if o.node_type not in refused], current, runs, currency)
    return dataclasses.replace(choice, reason=f"{choice.reason}; {wanted.option.node_type} was turned down as "
                                              "its driver (a rejected or reverted recommendation)")


def _choose(options: Sequence[DriverOption], current: DriverOption, runs: Sequence[DriverRun],
            currency: str) -> DriverChoice:
    history = list(runs)
    recent = history[-WINDOW:]
    grow_to, why_grow = _growth(recent)
    troubled_mem = max((r.memory_gib for r in history[-TROUBLE_WINDOW:] if _troubled(r)), default=0.0)
    measured = [r for r in recent if r.ok and r.peak_heap_gib is not None]
    peak = max((r.peak_heap_gib or 0.0 for r in measured), default=0.0)
    outside = max((r.peak_outside_gib for r in measured), default=0.0)
    need = max(grow_to, peak * HEADROOM / HEAP_SHARE, outside * HEADROOM / (1.0 - HEAP_SHARE))
    used = f"its heap peaked at {_gib(peak)}" + (f" and its Python and other processes at {_gib(outside)}"
                                                    if outside > 0 else "")
    min_vcpus = min(MIN_VCPUS, current.vcpus)

    def fits(o: DriverOption) -> bool:
        return o.memory_gib >= need and o.memory_gib > troubled_mem

    eligible = [o for o in options if fits(o) and o.vcpus >= min_vcpus]
    if grow_to > 0:
        if fits(current):
            return DriverChoice(current, False, f"driver {current.node_type} kept ({why_grow}; it has "
                                                f"{_gib(current.memory_gib)}, enough)")
        pick = _cheapest(eligible) or max(options, key=lambda o: (o.memory_gib, -o.price_per_hour), default=None)
        if pick is None or pick.memory_gib <= current.memory_gib:
            return DriverChoice(current, False, f"driver {current.node_type} kept ({why_grow}; no larger "
                                                "driver is allowed: widen --allowed-families or set --driver-type)",
                                blocked=True)
        return DriverChoice(pick, True, f"driver {current.node_type} -> {pick.node_type} "
                                        f"({_gib(pick.memory_gib)}): {why_grow}")
    if len(measured) < EVIDENCE_RUNS:
        return DriverChoice(current, False, f"driver {current.node_type} kept: its heap was measured in "
                                            f"{len(measured)} of the {EVIDENCE_RUNS} runs needed to size it")
    # One step at a time: at most half the memory of the current driver.
    smaller = [o for o in eligible if o.memory_gib >= current.memory_gib / 2]
    pick = _cheapest(smaller)
    if pick is None or pick.price_per_hour >= current.price_per_hour:
        return DriverChoice(current, False, f"driver {current.node_type} kept: {used}; no cheaper driver "
                                            f"holds {HEADROOM:g}x that")
    saving = current.price_per_hour - pick.price_per_hour
    return DriverChoice(pick, True, f"driver {current.node_type} -> {pick.node_type} ({_gib(pick.memory_gib)}): "
                                    f"{used} in {len(measured)} runs; "
                                    f"saves {money(saving, currency, '.2f')}/h")


def _growth(recent: Sequence[DriverRun]) -> tuple[float, str]:
    """Memory the driver must reach after trouble (0: no trouble), and why."""
    for r in reversed(recent):
        if r.driver_failed:
            return 2.0 * r.memory_gib, f"the driver died on {r.node_type} ({_gib(r.memory_gib)})"
        if _troubled(r):
            return 2.0 * r.memory_gib, f"the driver spent {r.gc_share:.0%} of the last run in GC on {r.node_type}"
        if r.ok and r.gc_share is not None:
            return 0.0, ""  # the latest measured run was healthy: older trouble is behind us
    return 0.0, ""


def _troubled(r: DriverRun) -> bool:
    """The run's driver died or was short of memory (GC over ``GC_PRESSURE`` of the run)."""
    return r.driver_failed or (r.ok and r.gc_share is not None and r.gc_share > GC_PRESSURE)


def _cheapest(options: Sequence[DriverOption]) -> DriverOption | None:
    return min(options, key=lambda o: (o.price_per_hour, o.memory_gib, o.node_type), default=None)


def _gib(x: float) -> str:
    return f"{x:.1f} GiB" if x < 10 else f"{x:.0f} GiB"
