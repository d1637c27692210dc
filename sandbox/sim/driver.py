"""The Spark driver's memory life on a simulated cluster: heap, live data, GC, samples, out-of-memory.

The driver JVM holds a base (SparkContext, listeners, query plans, the Databricks services that share
the driver JVM) plus the live data jobs bring to it: collected results, a broadcast relation being
built, partial aggregates it combines, commit metadata. ``WorkloadProfile.driver_gb`` is that live
data at its peak on day 0; it scales with the day's input and varies run to run. A stage with a
``driver_share`` raises the driver's live data to that share of the need as its tasks finish; it
stays live until the stage's job ends, or until the application ends for a profile whose driver
keeps what it built (``driver_keeps``: the model it trains).

- Heap: ``spark.driver.memory`` when the cluster's ``spark_conf`` sets it (capped at the node's RAM),
  else the rule the simulator uses for ``spark.executor.memory`` (``model.executor_heap_gib``: most
  of the node's RAM minus the OS, daemons and overhead). Databricks publishes no formula for the
  driver's heap; a rule that keeps a quarter of RAM and 2 GiB outside the heap is on the small side
  for the Python process and services that share the node, so drivers fail no later than real ones.
- GC: a small steady cost, plus a share of the time the driver works that rises steeply as live
  data nears the heap (``gc_share``). Stop-the-world pauses delay the driver's own work: its
  planning before each job and its handling of the results that come back to it.
- Out of memory: when live data would exceed the heap, the driver dies as that result arrives.
- Samples: the driver's heartbeater samples its JVM every ``spark.executor.heartbeatInterval``
  (10 s, first after 10-20 s as Spark's ``Heartbeater`` does); a sample's used heap is base + live +
  garbage not yet collected, never above the heap. GC times are cumulative since the JVM started.
  With ``spark.executor.processTreeMetrics.enabled`` (the init script sets it) a sample also holds
  the resident memory of the JVM's Python children: here the job's Python process, a steady
  ``DRIVER_PYTHON_RSS_BYTES`` (ASSUMPTION: a PySpark driver process with the usual imports; no
  profile does heavy work in the driver's Python).
"""

from __future__ import annotations

import bisect
import random
import re
from dataclasses import dataclass, field

from sandbox.nodes import NodeType
from sandbox.sim.model import GIB, executor_heap_gib

DRIVER_BASE_BYTES = 0.8e9  # used heap of an idle Databricks driver JVM after a full GC
DRIVER_OFF_HEAP_BYTES = 320e6  # metaspace, code cache, thread stacks: JVMOffHeapMemory
DRIVER_PYTHON_RSS_BYTES = 350e6  # the job's Python process on the driver: ProcessTreePythonRSSMemory
DRIVER_NOISE_CV = 0.10  # run-to-run variation of the driver's live data (lognormal sigma)
HEARTBEAT_MS = 10_000  # spark.executor.heartbeatInterval: the driver samples its own JVM this often
GC_STEADY_SHARE = 0.003  # young collections of a driver with room to spare, share of wall time
# How much a waiting driver allocates (heartbeats, listener events, task bookkeeping) relative to a
# working one: with the heap nearly full of live data, even that keeps the collector busy.
IDLE_ACTIVITY = 0.3
STRAINED_OCCUPANCY = 0.92  # live/heap beyond which the driver stops answering health checks
GARBAGE_SHARE = (0.03, 0.15)  # share of the free heap a sample finds filled with garbage
GC_STEP_MS = 1_000  # integration step of the GC time
RAMP_POINTS = 24  # points kept of a stage's live-data ramp

_JVM_UNITS = {"": 1024**2, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3,
              "gb": 1024**3, "t": 1024**4, "tb": 1024**4}


def parse_jvm_memory(text: str) -> int | None:
    """Bytes of a Spark memory setting such as ``4g`` or ``4096m``; a bare number is MiB, as
    ``spark.driver.memory`` reads it (``bytesConf(ByteUnit.MiB)``). None if it does not parse."""
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text or "")
    if not m or m.group(2).lower() not in _JVM_UNITS:
        return None
    return int(m.group(1)) * _JVM_UNITS[m.group(2).lower()]


def driver_heap_bytes(node: NodeType, spark_conf: dict[str, str] | None = None) -> int:
    """The driver JVM's maximum heap on ``node`` (see the module docstring for the rule)."""
    configured = parse_jvm_memory((spark_conf or {}).get("spark.driver.memory", ""))
    if configured:
        return min(configured, round(node.memory_gib * GIB))
    return round(executor_heap_gib(node) * GIB)


def gc_share(occupancy: float) -> float:
    """Share of the driver's working time spent in GC with live data at ``occupancy`` of the heap:
    nothing to speak of below half, then steeply up (a heap nearly full of live data is collected
    over and over for little gain)."""
    x = min(max((occupancy - 0.5) / 0.5, 0.0), 1.0)
    return 0.9 * x**6


def driver_need_bytes(driver_gb: float, input_factor: float, rng: random.Random | None) -> float:
    """The run's peak live data on the driver: day-0 need x input growth x run-to-run variation."""
    noise = rng.lognormvariate(0.0, DRIVER_NOISE_CV) if rng is not None else 1.0
    return driver_gb * 1e9 * input_factor * noise


@dataclass
class DriverSample:
    """What the driver's heartbeater reports at ``t_ms`` (Spark executor-metric names)."""

    t_ms: int
    metrics: dict[str, int]


@dataclass
class DriverTrace:
    """The driver's live data over a run (bytes above its base, piecewise linear in time), the
    intervals it worked, and how the run ended for it."""

    heap_bytes: int
    base_bytes: float
    need_bytes: float  # the largest live data the run's jobs bring (above base), fit or not
    points: list[tuple[int, float]] = field(default_factory=list)  # (t_ms, live bytes), time order
    busy: list[tuple[int, int]] = field(default_factory=list)  # (start, end) the driver works
    crash_ms: int | None = None  # the driver ran out of heap then
    strained_ms: int | None = None  # live data first passed STRAINED_OCCUPANCY of the heap then
    peak_live_bytes: float = 0.0  # the most live data it held (above base)
    _times: list[int] = field(default_factory=list, repr=False)  # points' times (points only grow)

    def live(self, t_ms: float) -> float:
        if len(self._times) != len(self.points):
            self._times = [p[0] for p in self.points]
        i = bisect.bisect_right(self._times, t_ms) - 1
        if i < 0:
            return 0.0
        t0, v0 = self.points[i]
        if i + 1 < len(self.points):
            t1, v1 = self.points[i + 1]
            if t1 > t0:
                return v0 + (v1 - v0) * (t_ms - t0) / (t1 - t0)
        return v0

    def occupancy(self, t_ms: float) -> float:
        return (self.base_bytes + self.live(t_ms)) / self.heap_bytes

    def gc_ms_until(self, times: list[int]) -> list[tuple[float, float]]:
        """(minor, major) GC ms accumulated from the first point up to each of ``times`` (sorted)."""
        if not times:
            return []
        first = min(self.points[0][0] if self.points else times[0], times[0])
        # Live data is linear between points and the driver works or waits between busy bounds, so
        # a piece whose ends both sit below half the heap costs only the steady share.
        bounds = sorted({first, *times, *(p[0] for p in self.points), *(b for iv in self.busy for b in iv)})
        bounds = [b for b in bounds if first <= b <= times[-1]]
        minor = major = 0.0
        at: dict[int, tuple[float, float]] = {}
        for a, b in zip(bounds, bounds[1:], strict=False):
            minor += GC_STEADY_SHARE * (b - a)
            if max(self.occupancy(a + 0.001), self.occupancy(b - 0.001)) > 0.5:
                working = 1.0 if any(s <= a and b <= e for s, e in self.busy) else IDLE_ACTIVITY
                t = float(a)
                while t < b:
                    step = min(GC_STEP_MS, b - t)
                    u = self.occupancy(t + step / 2)
                    pressure = gc_share(u) * working * step
                    major_part = min(max((u - 0.6) / 0.4, 0.0), 1.0)
                    minor += pressure * (1.0 - major_part)
                    major += pressure * major_part
                    t += step
            at[b] = (minor, major)
        return [at.get(t, (0.0, 0.0)) for t in times]


class DriverMemory:
    """Records the driver's memory life while the scheduler lays out the run."""

    def __init__(self, heap_bytes: int, need_bytes: float, base_bytes: float = DRIVER_BASE_BYTES, *,
                 keeps: bool = False) -> None:
        self.trace = DriverTrace(heap_bytes=heap_bytes, base_bytes=base_bytes, need_bytes=0.0)
        self.full_need = need_bytes
        self.keeps = keeps  # live data stays until the application ends, not just its job
        self.job_live = 0.0  # live data the driver holds now (above base)

    def work_ms(self, t_ms: int, ms: float) -> int:
        """How long ``ms`` of driver work starting at ``t_ms`` takes with GC pauses; recorded as busy."""
        g = gc_share((self.trace.base_bytes + self.job_live) / self.trace.heap_bytes)
        took = round(ms / (1.0 - g))
        self.trace.busy.append((t_ms, t_ms + took))
        return took

    def take(self, submit_ms: int, finishes: list[int], share: float) -> tuple[int | None, int]:
        """A stage raises live data to ``share`` of the need as its tasks finish (``finishes``, sorted).

        Returns (the time the driver ran out of heap or None, how much GC delays the stage's end)."""
        tr = self.trace
        start = self.job_live
        need = max(share * self.full_need - start, 0.0)  # what comes on top of what it holds
        tr.need_bytes = max(tr.need_bytes, start + need)
        if not finishes:
            return None, 0
        room = tr.heap_bytes - tr.base_bytes - start
        strained_room = tr.heap_bytes * STRAINED_OCCUPANCY - tr.base_bytes - start
        n = len(finishes)
        ramp = [(submit_ms, start)] + [(f, start + need * (i + 1) / n) for i, f in enumerate(finishes)]
        for t, live in ramp[1:]:
            if tr.strained_ms is None and live - start > strained_room:
                tr.strained_ms = t
            if live - start > room:  # this result does not fit: the driver dies taking it
                tr.points += [p for p in ramp if p[0] < t] + [(t, room + start)]
                tr.busy.append((submit_ms, t))
                tr.crash_ms = t
                tr.peak_live_bytes = max(tr.peak_live_bytes, room + start)
                return t, 0
        # Enough points to draw the ramp: a stage may have hundreds of tasks.
        every = -(-n // RAMP_POINTS)
        tr.points += [p for i, p in enumerate(ramp) if i % every == 0 or i == n]
        end = finishes[-1]
        # GC pauses while results come in: the stage ends late by the time the driver spent in GC.
        delay = 0.0
        t = float(submit_ms)
        while t < end:
            step = min(GC_STEP_MS, end - t)
            delay += gc_share(tr.occupancy(t + step / 2)) * step
            t += step
        tr.busy.append((submit_ms, end + round(delay)))
        self.job_live = start + need
        tr.peak_live_bytes = max(tr.peak_live_bytes, self.job_live)
        return None, round(delay)

    def release(self, t_ms: int) -> None:
        """The job ended: what it brought to the driver is garbage now (unless the driver keeps it)."""
        if self.keeps:
            return
        if self.job_live > 0:
            self.trace.points += [(t_ms, self.job_live), (t_ms, 0.0)]
        self.job_live = 0.0


def heartbeat_samples(trace: DriverTrace, start_ms: int, end_ms: int, rng: random.Random,
                      *, final_ms: int | None) -> list[DriverSample]:
    """The driver's heartbeats from ``start_ms`` (its SparkContext) until ``end_ms``, plus one at
    ``final_ms`` (``SparkContext.stop`` reports a last one; a dead driver does not)."""
    times = []
    t = start_ms + round(rng.uniform(HEARTBEAT_MS, 2 * HEARTBEAT_MS))
    while t < end_ms:
        times.append(t)
        t += HEARTBEAT_MS
    if final_ms is not None:
        times.append(final_ms)
    gc = trace.gc_ms_until(times)
    # Its own generator: the run's other draws stay what they were before Python was sampled.
    python_rng = random.Random(start_ms)
    samples = []
    for t, (minor, major) in zip(times, gc, strict=True):
        live = trace.base_bytes + trace.live(t)
        garbage = rng.uniform(*GARBAGE_SHARE) * max(trace.heap_bytes - live, 0.0)
        samples.append(DriverSample(t, {
            "JVMHeapMemory": round(min(live + garbage, trace.heap_bytes)),
            "JVMOffHeapMemory": round(DRIVER_OFF_HEAP_BYTES * rng.uniform(0.95, 1.05)),
            "DirectPoolMemory": 24_000_000,
            "ProcessTreePythonRSSMemory": round(DRIVER_PYTHON_RSS_BYTES * python_rng.uniform(0.97, 1.03)),
            "MinorGCCount": 1 + round(minor / 12), "MinorGCTime": round(minor),
            "MajorGCCount": round(major / 350), "MajorGCTime": round(major),
            "TotalGCTime": round(minor) + round(major),
        }))
    return samples


def stage_peaks(samples: list[DriverSample], submit_ms: int, complete_ms: int) -> dict[str, int] | None:
    """Spark's per-stage peaks for the driver: the largest value of each metric over the heartbeats
    while the stage was live (``EventLoggingListener.onExecutorMetricsUpdate``); None without any."""
    inside = [s.metrics for s in samples if submit_ms <= s.t_ms <= complete_ms]
    if not inside:
        return None
    return {k: max(m[k] for m in inside) for k in inside[0]}
