"""Driver sizing: the cheapest driver node that holds what the job's driver will use.

The driver of a batch job plans queries, schedules tasks, and holds what the job collects or
broadcasts; it rarely sets the runtime, but a driver that runs out of memory fails the whole run.
So the driver is sized by a rule over the memory it used, not by the runtime model:

- the next run's heap peak is bounded from the recent runs' peaks (the largest used-heap sample
  Spark logs per stage and per heartbeat for executor "driver"), not taken as their maximum: the
  one-sided 95% prediction bound of the next peak (Student's t, in log space since peaks vary by
  a factor) over their spread, which is never taken below ``PEAK_SPREAD_FLOOR`` (two runs that
  happened to agree do not show a job's variation), and over their trend when they rise (the
  data grows). The margin so grows with the uncertainty: two runs at 2.2 GiB bound the next at
  4.8 GiB, ten runs at 2.2 GiB at 2.7 GiB;
- the heap a node gives the driver (``HEAP_SHARE`` of its memory) must hold that bound
  ``GC_ROOM`` times over, and the rest of the node what is not heap: the OS, Databricks'
  services and the JVM's own off-heap (``NODE_RESERVED_GIB``) plus the bound of its Python and
  other processes (the job's own code, ``toPandas``, notebooks' REPLs; measured when Spark's
  process-tree metrics are on). A node that cannot is never chosen, whatever it saves;
- it shrinks only on evidence (``EVIDENCE_RUNS`` successful runs with driver peaks in the last
  ``WINDOW`` runs, since the latest trouble: the runs before a failure did not foresee it) and at
  most halves its memory per step, so every step is measured before the next; on the same evidence
  it grows to the cheapest driver that holds the bound when the current one does not (rather than
  moving to a cheaper node of the same size, which would not hold it either);
- after a run whose driver died (out of memory, unresponsive) or spent more than ``GC_PRESSURE`` of
  the run collecting garbage, it doubles the troubled driver's memory, and at least goes back to
  the last driver that ran without failing before it; drivers no larger than the troubled one are
  not used again for ``TROUBLE_WINDOW`` runs (else it would shrink back on the next quiet run);
- it never goes below ``MIN_VCPUS`` vCPUs (or the current driver's, if that is smaller): the agent
  sees no driver CPU, and a driver that schedules thousands of tasks needs a few cores. A shrink
  may take cores down to that floor, and its reason says so; a move to a cheaper node of as much
  memory keeps at least the current driver's cores (fewer would be a side effect of a price, not
  something the runs showed), and a growth does unless no such driver holds the memory (said too);
- it never moves to a driver the user turned down (``turned_down``: a rejected or reverted
  recommendation that proposed it for these workers), which the reason names when it was the pick;
- it never moves to a node below the heap the job's spark_conf sets (``spark.driver.memory``: the JVM
  gets that heap on any node) plus what is not heap (``NODE_RESERVED_GIB`` and the Python bound),
  and the reason says so where that setting is what holds the driver.

A used-heap sample includes garbage not yet collected, so it overstates what the driver needs: the
rule errs towards a driver too big, never one too small for what was seen.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from scipy.stats import t as student_t

from models.money import money

# Share of a driver node's memory its JVM heap gets, for planning. Databricks sizes the heap from
# the node's memory after the OS, the Python processes and off-heap reservations; half is below
# what it gives on the node sizes jobs use, so the rule stays on the safe side.
HEAP_SHARE = 0.5
# The planned heap holds the bounded next peak this many times over: a heap whose used part stays
# under 80% leaves the collector room; past it HotSpot collects back to back and the driver stalls
# (the same knee as ``GC_PRESSURE`` measures after the fact).
GC_ROOM = 1.25
# Node memory outside the heap that is not the job's: the OS and page cache floor, Databricks'
# services on the driver node, the JVM's metaspace, code cache, threads and direct buffers.
NODE_RESERVED_GIB = 2.0
# The least run-to-run spread (log standard deviation) a driver's peak is assumed to have: what one
# day's data differs from another's. Agreeing runs estimate a spread near zero, which would make
# the bound no bigger than what was seen.
PEAK_SPREAD_FLOOR = 0.10
CONFIDENCE = 0.95  # of the one-sided prediction bound of the next run's peak
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

    ``peak_heap_gib``: the largest used JVM heap sampled on the driver (None, or not above 0: not
    measured, e.g. an agent-less run). ``peak_outside_gib``: the largest resident memory of the driver JVM's child
    processes (Python and others; 0 when not measured). ``gc_share``: the driver's GC time over the
    run's time (None: not measured).
    ``driver_failed``: the run failed because its driver died; ``out_of_memory``: of memory (the
    JVM's OutOfMemoryError, GC overhead), rather than unresponsive or lost. ``run_id``: the stored
    run's id, for the reason (None: not stored).
    """

    node_type: str
    memory_gib: float
    ok: bool
    peak_heap_gib: float | None = None
    gc_share: float | None = None
    peak_outside_gib: float = 0.0
    driver_failed: bool = False
    out_of_memory: bool = False
    run_id: int | None = None


@dataclass(frozen=True)
class DriverChoice:
    option: DriverOption
    changed: bool
    reason: str
    # The driver should grow and cannot (no larger allowed size): the user has to act, so the
    # recommendation says so although the driver does not change.
    blocked: bool = False
    # The job's own spark.driver.memory holds the driver where the runs would shrink it: the
    # recommendation says so although the driver does not change (the owner may lower the setting).
    noted: bool = False


def choose_driver(options: Sequence[DriverOption], current: DriverOption,
                  runs: Sequence[DriverRun], *, currency: str = "",
                  turned_down: Collection[str] = (), heap_set_gib: float = 0.0,
                  heap_by_policy: bool = False) -> DriverChoice:
    """The driver for the next run: ``current`` unless the evidence says smaller or bigger
    (``currency``: the prices', named in the reason). ``turned_down``: node types the user turned
    down as this cluster's driver, never moved to (keeping the current one is always allowed).
    ``heap_set_gib``: the heap the job's spark_conf sets (``spark.driver.memory``; 0: unset), which
    the driver node must hold beside what is not heap (`_held`); ``heap_by_policy``: the cluster policy
    fills it in, not the job (the reason then names the policy: the owner cannot lower it there)."""
    refused = set(turned_down) - {current.node_type}
    if not refused:
        return _held(options, current, runs, currency, heap_set_gib, heap_by_policy)
    wanted = _held(options, current, runs, currency, heap_set_gib, heap_by_policy)
    if wanted.option.node_type not in refused:
        return wanted
    # The evidence's pick was turned down: the next best without it, and the reason says why, or the
    # driver change reads as the model's whim (or its absence as a bug).
    choice = _held([o for o in options if o.node_type not in refused], current, runs, currency, heap_set_gib,
                   heap_by_policy)
    return dataclasses.replace(choice, reason=f"{choice.reason}; {wanted.option.node_type} was turned down as "
                                              "its driver (a rejected or reverted recommendation)")


def _held(options: Sequence[DriverOption], current: DriverOption, runs: Sequence[DriverRun], currency: str,
          heap_set: float, heap_by_policy: bool = False) -> DriverChoice:
    """`_choose` with no node below ``heap_set`` (the job's spark.driver.memory, GiB; 0: unset) plus
    what is not heap: the JVM gets that heap whatever the node, and a node too small for it beside the
    OS, Databricks' services and the Python processes is killed by the kernel once the heap fills (or
    never starts the driver). Where that setting is what holds the driver, the reason says so."""
    if heap_set <= 0:
        return _choose(options, current, runs, currency)
    recent = list(runs)[-WINDOW:]
    at, _, outside = _measured(recent)
    floor = heap_set + NODE_RESERVED_GIB + _next_outside(outside, at, len(recent))
    choice = _choose(options, current, runs, currency, floor)
    free = _choose(options, current, runs, currency)
    if free.option == choice.option or not free.changed:
        return choice
    who = "the cluster policy sets" if heap_by_policy else "the job's spark_conf sets"
    setting = (f"{who} spark.driver.memory to {_gib(heap_set)}, which needs a node of "
               f"{_gib(floor)} with the OS, Databricks' services and the Python processes beside it")
    if not choice.changed:
        # The runs alone would move it: their words, after the setting that keeps it.
        return DriverChoice(current, False, f"driver {current.node_type} kept: {setting}; its runs alone would "
                                            f"take it to {free.reason.partition(' -> ')[2]}", noted=True)
    return dataclasses.replace(choice, reason=f"{choice.reason}; not {free.option.node_type} "
                                              f"({_gib(free.option.memory_gib)}): {setting}")


def _measured(recent: Sequence[DriverRun]) -> tuple[list[int], list[float], list[float]]:
    """The runs of ``recent`` whose peaks count (positions), their heap peaks and their peaks outside the
    heap: those that succeeded since the latest trouble (the runs before it said the driver was big
    enough, and it was not), with a heap peak above 0 (0 is a metric that was missing, read as 0, not
    a driver that used nothing)."""
    since = next((len(recent) - i for i, r in enumerate(reversed(recent)) if _troubled(r)), 0)
    at = [i for i, r in enumerate(recent) if i >= since and r.ok and (r.peak_heap_gib or 0.0) > 0]
    return at, [recent[i].peak_heap_gib or 0.0 for i in at], [recent[i].peak_outside_gib for i in at]


def _next_outside(outside: Sequence[float], at: Sequence[int], next_at: int) -> float:
    """The bound of the next run's memory outside the heap; 0 where it was not measured."""
    return next_peak(outside, at, next_at) if any(x > 0 for x in outside) else 0.0


def _choose(options: Sequence[DriverOption], current: DriverOption, runs: Sequence[DriverRun],
            currency: str, floor: float = 0.0) -> DriverChoice:
    """The rule of the module doc, moving to no node of less than ``floor`` GiB (keeping the current
    one is always allowed)."""
    history = list(runs)
    recent = history[-WINDOW:]
    grow_to, why_grow = _growth(history)
    troubled_mem = max((r.memory_gib for r in history[-TROUBLE_WINDOW:] if _troubled(r)), default=0.0)
    at, heap, outside = _measured(recent)
    next_heap = next_peak(heap, at, len(recent))
    next_outside = _next_outside(outside, at, len(recent))
    need = max(grow_to, node_memory_for(next_heap, next_outside))
    used = (f"its heap peaked at {_gib(max(heap, default=0.0))}"
            + (f" and its Python and other processes at {_gib(max(outside))}" if next_outside > 0 else "")
            + f" in {len(at)} runs")
    min_vcpus = min(MIN_VCPUS, current.vcpus)

    def fits(o: DriverOption) -> bool:
        return o.memory_gib >= need and o.memory_gib > troubled_mem

    eligible = [o for o in options if fits(o) and o.vcpus >= min_vcpus and o.memory_gib >= floor]
    if grow_to > 0:
        if fits(current):
            return DriverChoice(current, False, f"driver {current.node_type} kept ({why_grow}; it has "
                                                f"{_gib(current.memory_gib)}, enough)")
        pick = _cheapest([o for o in eligible if o.vcpus >= current.vcpus]) or _cheapest(eligible) or \
            max(options, key=lambda o: (o.memory_gib, -o.price_per_hour), default=None)
        if pick is None or pick.memory_gib <= current.memory_gib:
            return DriverChoice(current, False, f"driver {current.node_type} kept ({why_grow}; no larger "
                                                "driver is allowed: widen --allowed-families or set --driver-type)",
                                blocked=True)
        return DriverChoice(pick, True, f"driver {current.node_type} -> {pick.node_type} "
                                        f"({_gib(pick.memory_gib)}): {why_grow}{_fewer_cores(current, pick)}")
    if len(at) < EVIDENCE_RUNS:
        return DriverChoice(current, False, f"driver {current.node_type} kept: its heap was measured in "
                                            f"{len(at)} of the {EVIDENCE_RUNS} runs needed to size it")
    bound = f"the next run's may reach {_gib(next_heap)}" + (
        f" and {_gib(next_outside)}" if next_outside > 0 else "")
    if not fits(current):
        measured = node_memory_for(max(heap, default=0.0), max(outside, default=0.0))
        if measured <= current.memory_gib:
            # The bound is above the driver but no run came near it: a driver that never failed is
            # not made dearer on the width of a few runs' bound (two runs at 7.3 GiB put a 32 GiB
            # driver at 64 GiB). It grows when a run's own peak leaves no room, or after trouble.
            return DriverChoice(current, False, f"driver {current.node_type} kept: {used}, {bound} (95% bound), "
                                                f"which {_gib(current.memory_gib)} may not hold; no run came near "
                                                "it, so it grows only once one does or after a failure")
        return _grow_to_bound(current, eligible, need, f"{used}, {bound} (95% bound)")
    # One step at a time: at most half the memory of the current driver. A shrink may take cores down
    # to `MIN_VCPUS` (the reason says so); a move to as much memory may not: fewer cores would then
    # be a side effect of a price, not something the runs showed.
    smaller = [o for o in eligible if current.memory_gib / 2 <= o.memory_gib < current.memory_gib]
    same = [o for o in eligible if o.memory_gib >= current.memory_gib and o.vcpus >= current.vcpus]
    pick = _cheapest(smaller + same)
    if pick is None or pick.price_per_hour >= current.price_per_hour:
        return DriverChoice(current, False, f"driver {current.node_type} kept: {used}, {bound}; no cheaper "
                                            "driver holds that with room to collect garbage")
    saving = f"saves {money(current.price_per_hour - pick.price_per_hour, currency, '.2f')}/h"
    if pick not in smaller:
        return DriverChoice(pick, True, f"driver {current.node_type} -> {pick.node_type} ({_gib(pick.memory_gib)}): "
                                        f"as much memory for less ({used}, {bound}); {saving}")
    return DriverChoice(pick, True, f"driver {current.node_type} -> {pick.node_type} ({_gib(pick.memory_gib)}): "
                                    f"{used}, {bound} (95% bound){_fewer_cores(current, pick)}; {saving}")


def _grow_to_bound(current: DriverOption, eligible: Sequence[DriverOption], need: float, why: str) -> DriverChoice:
    """The current driver is below what the runs' own bound asks of it: grow to the cheapest driver
    that holds it, with no fewer cores (fewer only when no such driver is allowed, and then said)."""
    pick = _cheapest([o for o in eligible if o.vcpus >= current.vcpus]) or _cheapest(eligible)
    if pick is None:
        return DriverChoice(current, False, f"driver {current.node_type} kept: {why} needs {_gib(need)} of "
                                            f"node and it has {_gib(current.memory_gib)}; no allowed driver "
                                            "holds that: widen --allowed-families or set --driver-type")
    return DriverChoice(pick, True, f"driver {current.node_type} -> {pick.node_type} ({_gib(pick.memory_gib)}): "
                                    f"{why} needs {_gib(need)} of node, more than its "
                                    f"{_gib(current.memory_gib)}{_fewer_cores(current, pick)}")


def _fewer_cores(current: DriverOption, pick: DriverOption) -> str:
    """The reason's words when ``pick`` has fewer vCPUs than the current driver ('' when not)."""
    return f"; {current.vcpus:g} -> {pick.vcpus:g} vCPUs" if pick.vcpus < current.vcpus else ""


def node_memory_for(heap_gib: float, outside_gib: float) -> float:
    """The least node memory whose driver holds a heap peak of ``heap_gib`` with room to collect
    garbage, and beside the heap the node's own needs and ``outside_gib`` of Python and other
    processes (`HEAP_SHARE` of the node is heap, the rest is not)."""
    return max(heap_gib * GC_ROOM / HEAP_SHARE, (NODE_RESERVED_GIB + outside_gib) / (1.0 - HEAP_SHARE))


def next_peak(peaks: Sequence[float], at: Sequence[int], next_at: int) -> float:
    """A one-sided `CONFIDENCE` prediction bound of the next run's peak from ``peaks`` (> 0, taken at
    run positions ``at``; the next run is at ``next_at``); 0 without peaks.

    Peaks vary by a factor (the day's data, what a query collects), so the bound is taken over
    their logarithms: the level's (mean and spread) and, when three or more peaks rise, the trend's
    (a least-squares line, extrapolated to the next run), whichever is higher, and never below the
    largest peak seen. A spread below `PEAK_SPREAD_FLOOR` is taken as that floor. The t quantile
    widens the bound for few runs: it is what makes two runs thin evidence."""
    logs = [math.log(p) for p, _ in zip(peaks, at, strict=True) if p > 0]
    xs = [float(x) for p, x in zip(peaks, at, strict=True) if p > 0]
    n = len(logs)
    if n == 0:
        return 0.0
    mean = sum(logs) / n
    spread = math.sqrt(sum((v - mean) ** 2 for v in logs) / (n - 1)) if n > 1 else 0.0
    best = mean + _t(n - 1) * max(spread, PEAK_SPREAD_FLOOR) * math.sqrt(1.0 + 1.0 / n)
    if n >= 3:
        x_mean = sum(xs) / n
        sxx = sum((x - x_mean) ** 2 for x in xs)
        slope = sum((x - x_mean) * (v - mean) for x, v in zip(xs, logs, strict=True)) / sxx if sxx > 0 else 0.0
        if slope > 0:
            fitted = [mean + slope * (x - x_mean) for x in xs]
            residual = math.sqrt(sum((v - f) ** 2 for v, f in zip(logs, fitted, strict=True)) / (n - 2))
            width = math.sqrt(1.0 + 1.0 / n + (next_at - x_mean) ** 2 / sxx)
            best = max(best, mean + slope * (next_at - x_mean)
                       + _t(n - 2) * max(residual, PEAK_SPREAD_FLOOR) * width)
    return max(math.exp(best), max(peaks))


def _t(df: int) -> float:
    """Student's t quantile at `CONFIDENCE` with ``df`` degrees of freedom (one run: as with two)."""
    return float(student_t.ppf(CONFIDENCE, max(df, 1)))


def _growth(history: Sequence[DriverRun]) -> tuple[float, str]:
    """Memory the driver must reach after trouble in the last `WINDOW` runs (0: no trouble), and why.

    Twice the troubled driver's memory, and at least the last larger driver a run succeeded on before
    it: the size the job worked on before it was shrunk (runs that succeeded on the troubled size
    itself only show that size fails some days)."""
    recent = history[-WINDOW:]
    for k in range(len(recent) - 1, -1, -1):
        r = recent[k]
        if _troubled(r):
            before = history[:len(history) - len(recent) + k]
            last_good = next((b.memory_gib for b in reversed(before) if b.ok and b.memory_gib > r.memory_gib), 0.0)
            return max(2.0 * r.memory_gib, last_good), _trouble_words(r)
        if r.ok and r.gc_share is not None:
            return 0.0, ""  # the latest measured run was healthy: older trouble is behind us
    return 0.0, ""


def _trouble_words(r: DriverRun) -> str:
    """Why the driver grows, naming the run when it is known ("run 22 ran out of driver memory on ...")."""
    where = f"{r.node_type} ({_gib(r.memory_gib)})"
    if r.driver_failed and r.out_of_memory:
        return f"{_run_name(r)} ran out of driver memory on {where}"
    if r.driver_failed:
        return f"run {r.run_id}'s driver died on {where}" if r.run_id is not None else f"the driver died on {where}"
    return f"the driver spent {r.gc_share or 0.0:.0%} of {_run_name(r, 'the last run')} in GC on {r.node_type}"


def _run_name(r: DriverRun, unknown: str = "the last run") -> str:
    return f"run {r.run_id}" if r.run_id is not None else unknown


def _troubled(r: DriverRun) -> bool:
    """The run's driver died or was short of memory (GC over ``GC_PRESSURE`` of the run)."""
    return r.driver_failed or (r.ok and r.gc_share is not None and r.gc_share > GC_PRESSURE)


def _cheapest(options: Sequence[DriverOption]) -> DriverOption | None:
    return min(options, key=lambda o: (o.price_per_hour, o.memory_gib, o.node_type), default=None)


def _gib(x: float) -> str:
    return f"{x:.1f} GiB" if x < 10 else f"{x:.0f} GiB"
