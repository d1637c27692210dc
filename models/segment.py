"""What the current segment's runs say before the model sees them: the runs it learns from (and the
inputs the forecast reads), the learning budget they spent, and the configurations not to run (failed, out
of memory, timed out, cancelled past the SLA, refused capacity, or explained away run after run)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from models.changes import Screened
from models.growth import fill_inputs
from models.observation import NOT_LEARNED, TIMEOUT, Observation
from models.settings import Settings
from models.space import Candidate

# Runs on one configuration that lost spot nodes, with none of its runs learned, after which it is
# no longer run to learn or explore: its runs are explained away, so running it teaches nothing.
_UNLEARNABLE_LOSSES = 2


def _segment_inputs(history: Sequence[Observation], start: int) -> list[float | None]:
    """Every run's input since the change point, for the trend: a run the model does not learn from
    (an old run far below today's input, one on a configuration outside the space) still measured
    the data. Runs whose input is not the job's (failed or explained: a lost node re-reads its
    input) keep their place on the schedule as unknown."""
    return [o.input_gb if o.ok and not set(o.anomalies) & NOT_LEARNED else None for o in history[start:]]


def _learned_runs(history: Sequence[Observation],
                  scr: Screened) -> tuple[list[Observation], list[float | None]]:
    """(the runs the model learns from, the segment's inputs for the forecast). A learned run without
    an input size is given the one the segment's trend puts at its place (`models.growth.fill_inputs`;
    none without a clear trend: the median's)."""
    start = scr.segment_start
    inputs = _segment_inputs(history, start)
    for i in scr.one_offs:  # one night's input (a backfill) is no trend: unknown, in its place
        if i >= start:
            inputs[i - start] = None
    before_drop = _planned_before_drop(scr, inputs)
    # After a drop only one sized run shows, a run without an input size is taken at the size
    # before the drop, as the next run is planned: filled from the drop, a usual night that did
    # not report its input was learned as a half-size one and the night after it missed the SLA.
    filled = [x or before_drop for x in inputs] if before_drop is not None else fill_inputs(inputs)
    runs = []
    for i in scr.learn:
        obs, size = history[i], filled[i - start]
        runs.append(replace(obs, input_gb=size) if not obs.input_gb and size else obs)
    if before_drop is not None:
        # The input dropped on the latest run only: the next run is planned for the size before
        # the drop until it shows the drop lasts. Planned for the drop, a one-off small night
        # sent the next, usual one to a cluster sized for half its data (it missed the SLA).
        inputs = [before_drop]
    return runs, inputs


def _planned_before_drop(scr: Screened, inputs: Sequence[float | None]) -> float | None:
    """The input before a drop only the latest sized run shows (`Screened.shift_from_gb`), or None."""
    latest = next((x for x in reversed(inputs) if x), None)
    if scr.shift_from_gb is None or latest is None or latest >= scr.shift_from_gb:
        return None
    return scr.shift_from_gb


def _designed_runs(history: Sequence[Observation], scr: Screened) -> int:
    """Runs of the segment that spent its learning budget: every learned run after the segment's
    start on a configuration Trimtab applied, and one explained run per configuration (a run lost
    to a spot loss or a failure was tried, but its repeats are not new designs). Runs no
    recommendation made (the job's own before import, a backfilled history on the clusters its
    owner ran, an owner's edit) count once per configuration, the segment's first one's not at
    all: each configuration is one measurement whatever its repeats. Counted run by run, an
    imported history that began on another cluster than the one found spent the whole budget on
    the runs of the cluster as found, and learning was skipped (review rev15i)."""
    start = scr.segment_start
    if start >= len(history):
        return 0
    learned = set(scr.learn)
    explained: set[str] = set()
    measured = {history[start].config_id}  # configurations the owner's runs measured
    designed = 0
    for j in range(start + 1, len(history)):
        cfg = history[j].config_id
        if not history[j].recommendation_applied:
            if cfg not in measured:
                measured.add(cfg)
                designed += 1
        elif j in learned:
            designed += 1
        elif cfg not in explained:
            explained.add(cfg)
            designed += 1
    return designed


def _unlearnable(cands: list[Candidate], history: Sequence[Observation], scr: Screened) -> np.ndarray:
    """Configurations not to run to learn or explore: `_UNLEARNABLE_LOSSES` runs or more in the
    segment were explained (lost spot nodes, retried, timed out, cancelled, failed to launch ...)
    and none was learned, so another run most likely is explained away too. They may still be the
    recommendation when the model says they are best. This also bounds learning: `_designed_runs`
    counts one explained run per configuration, so without the mask a configuration whose runs are
    always explained could be picked again and again with the learning counter standing still."""
    learned_runs = set(scr.learn)
    learned = {history[i].config_id for i in learned_runs}
    explained = Counter(history[i].config_id for i in range(scr.segment_start, len(history))
                        if i not in learned_runs and history[i].config_id not in learned)
    return np.array([explained[c.config_id] >= _UNLEARNABLE_LOSSES for c in cands], dtype=bool)


# A timed-out run's slowness these explain (a lost node's recomputation, a preemption), not its configuration.
_SLOWED_BY = frozenset({"spot_loss", "preempted"})


def _overran(history: Sequence[Observation], scr: Screened, settings: Settings) -> frozenset[str]:
    """Configurations of the segment too slow to run again, that never succeeded in it: avoided as a
    failure is, and the first run after them is bigger than every one (`models.first_run`).

    - A run that timed out (Databricks' TIMEDOUT: the job's or the task's ``timeout_seconds`` stopped
      it): its runtime is at least the time it ran, a censored runtime. The timeout is the job's own
      limit, so the configuration is too slow for it whatever the SLA (an SLA at or below that time it
      misses too). Not learned as its normal, and not avoided when a lost spot node explains the time.
      Dropped as "not learned" only, the planner ran the cluster that had timed out again as if
      nothing was known of it.
    - A run cancelled after running past the SLA (an orchestrator's timeout at the SLA, a person giving
      up). A cancel says nothing of the cluster otherwise (models/changes.py), but one past the SLA is a
      runtime of at least the SLA: not avoided, a job cancelled at the SLA every night ran on the same
      cluster for good ("no usable run yet: measuring ... first").

    The newest of a configuration's runs that say either decides: one that overran after succeeding in
    the segment is avoided too (its earlier success had hidden it, and the model, which learns no
    censored runtime, kept recommending the cluster the job's timeout had just stopped), and one that
    succeeded after overrunning is not."""
    newest_ok: dict[str, int] = {}
    newest_over: dict[str, int] = {}
    for i, o in enumerate(history[scr.segment_start:]):
        if o.ok:
            newest_ok[o.config_id] = i
        elif timed_out_slow(o) or (settings.sla_s and "cancelled" in o.anomalies and o.runtime_s >= settings.sla_s):
            newest_over[o.config_id] = i
    return frozenset(c for c, i in newest_over.items() if i > newest_ok.get(c, -1))


def timed_out_slow(obs: Observation) -> bool:
    """A run the job's timeout stopped, its time not explained by a lost spot node (`_overran`)."""
    return not obs.ok and TIMEOUT in obs.anomalies and not set(obs.anomalies) & _SLOWED_BY


def _timed_out_note(known: Mapping[str, Candidate], history: Sequence[Observation], scr: Screened,
                    overran: frozenset[str]) -> str:
    """The reason's words on the configurations avoided because their runs timed out ("" for none)."""
    ran: dict[str, float] = {}
    for obs in history[scr.segment_start:]:
        if obs.config_id in overran and obs.config_id in known and timed_out_slow(obs):
            ran[obs.config_id] = max(ran.get(obs.config_id, 0.0), obs.runtime_s)
    if not ran:
        return ""
    said = ", ".join(f"{known[c].name} after {s:.0f}s" for c, s in ran.items())
    return (f" (timed out: {said}; a run the job's timeout stopped took at least that long, so each counts as "
            "too slow for the job and any SLA at or below that time, and is avoided)")


def _avoided(cands: list[Candidate], failed: frozenset[str], oom_memory_per_core: float,
             oom_configs: frozenset[str] = frozenset()) -> np.ndarray:
    """Configurations not to run: those not allowed (observed only), those that failed, and after an
    out-of-memory failure those with no more memory per core (unless that would leave nothing to run).

    When every candidate has no more memory per core (one family, c6id's 2 GiB/vCPU throughout), the
    nodes no bigger than one that ran out of memory are avoided, else at least its instance type:
    a task slot's share of the heap still grows with the node (the per-node overheads are fixed,
    and a skewed task draws on a bigger executor's shared memory). Without this, c6id.xlarge x4 ran
    out of memory and c6id.xlarge x5 was explored next at "P(meet SLA)=100%" and failed the same way
    (every c6id.xlarge size fails, every c6id.2xlarge one succeeds: review revL F4)."""
    avoid = np.array([c.config_id in failed or not c.allowed for c in cands])
    if oom_memory_per_core > 0:
        short = np.array([c.memory_per_core_gib <= oom_memory_per_core * (1 + 1e-9) for c in cands])
        if not (avoid | short).all():
            avoid |= short
            return avoid
        ran_out = [c for c in cands if c.config_id in oom_configs]
        node_gib = max((c.memory_gib for c in ran_out), default=0.0)
        small = np.array([c.memory_gib <= node_gib * (1 + 1e-9) for c in cands])
        same_type = np.array([c.instance_type in {o.instance_type for o in ran_out} for c in cands])
        for rule in (small, same_type):
            if rule.any() and not (avoid | rule).all():
                avoid |= rule
                break
    return avoid


def _refused(cands: list[Candidate], avoid: np.ndarray, scr: Screened) -> tuple[np.ndarray, str]:
    """``avoid`` with the configurations of the instance types the cloud keeps refusing
    (`models.changes.refused_instance_types`), and the note that names them for the reason. They
    are not avoided when that would leave nothing to run (as `_avoided`'s out-of-memory rule)."""
    if not scr.refused:
        return avoid, ""
    kinds = {r.instance_type for r in scr.refused}
    refused = np.array([c.instance_type in kinds for c in cands])
    if (avoid | refused).all():
        return avoid, ""
    said = "; ".join(
        f"{r.instance_type} failed to launch {r.in_a_row} times in a row, so its configurations are avoided "
        f"for {r.runs_left} more run{'s' if r.runs_left != 1 else ''}" for r in scr.refused)
    return avoid | refused, f" ({said}: the cloud's capacity or a limit, see the runs' messages)"
