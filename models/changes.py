"""Which runs the model may learn from: anomaly screening and change points (rebase).

A project's history is cut at its latest change point; only the segment after it is learned:
- a new stage structure (``stage_signature`` differs from the previous complete run's): the code
  changed (a failed, retried or repaired run ran only part of its stages and is not compared);
- an input size shift beyond `INPUT_SHIFT` relative to the segment's median input (smaller growth is
  handled by the model's input-size covariate) that the next sized run keeps on the same side; a run
  whose input alone stood out, the next back to the segment's, is a one-off (a backfill night), as
  is the latest run at a size the segment ran as a one-off before: learned at its own input, no
  change point, left out of the input trend. A shift on the latest run counts until the next run
  tells: the run after it is planned for the new input, or for the size before a drop;
- a runtime regression: two clean runs in a row among those that can be judged (three,
  `BLIND_CONFIRMING_RUNS`, when the segment repeated no configuration before the first), each on a
  configuration measured in the segment before the first of them, each slower than that
  configuration's earlier runs by more than `REGRESSION_RATIO` and three run-noise sds, after
  correcting for input size; a rerun of the first slow run's configuration that falls clearly
  back from its shift makes it noise (`_fell_back`). Two, because one slow run is what noise
  sometimes does. The run noise is the project's own (its repetitions before the first slow run,
  shrunk to the prior's and never below it). Up to `SUSPECT_UNJUDGED` runs after the first slow run
  that cannot judge it (on configurations first measured after it, or explained away) are skipped,
  not a break; the planner reruns a configuration that can judge it (`Screened.suspect`,
  `Screened.judges`);
- a slow regression whose runs straddle that bar (x1.3 at 15-20% noise: one run under it clears the
  suspect): a one-sided CUSUM of the judged runs' shifts in the project's sds (`models.drift._Cusum`),
  when the mean shift since the sum opened also stands against its baselines' own error.

Runs that failed or lost spot capacity, and runs on configurations outside the decision space, are
explained and not learned as a configuration's normal runtime. A failed run's configuration is
avoided in the segment unless another label explains the failure (a lost spot node, a dead driver,
a cluster the cloud or the service failed: "launch_failed"); "repaired" does not: a repaired run that
is still a failure (its repair failed too, or succeeded only on another configuration) is avoided.
An instance type whose clusters the cloud refused `LAUNCH_REFUSALS` times in a row is avoided for
`LAUNCH_RETRY_AFTER` runs of the job (`models.refusals.refused_instance_types`), whatever the segment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.drift import CUSUM_CAP as CUSUM_CAP
from models.drift import CUSUM_GUARD_NOW as CUSUM_GUARD_NOW
from models.drift import CUSUM_GUARD_Z as CUSUM_GUARD_Z
from models.drift import CUSUM_H as CUSUM_H
from models.drift import CUSUM_K as CUSUM_K
from models.drift import CUSUM_MIN_BASE as CUSUM_MIN_BASE
from models.drift import CUSUM_MIN_DRAWS as CUSUM_MIN_DRAWS
from models.drift import CUSUM_PSEUDO_DOF as CUSUM_PSEUDO_DOF
from models.drift import REGRESSION_RATIO as REGRESSION_RATIO
from models.drift import _Cusum, _Scatter
from models.observation import LAUNCH_FAILED, NOT_LEARNED, OUT_OF_MEMORY, REPAIRED, TIMEOUT, Observation
from models.refusals import LAUNCH_REFUSALS as LAUNCH_REFUSALS
from models.refusals import LAUNCH_RETRY_AFTER as LAUNCH_RETRY_AFTER
from models.refusals import Refusal as Refusal
from models.refusals import refused_instance_types as refused_instance_types
from models.space import Candidate

INPUT_SHIFT = 1.5
# Runs that cannot judge a slow run (on clusters first measured after it, or explained away) it waits
# through for its confirmation before it is forgotten.
SUSPECT_UNJUDGED = 3
# Slow runs in a row (the suspect first) that make a regression when the segment repeated no
# configuration before the suspect: with no noise of its own to read, the bar is the fleet prior's
# (5%), and a job whose runs scatter 15-20% a night beats it twice in a row too often (see
# `_scan`). With some of its own noise read, two slow runs in a row are one, as before.
BLIND_CONFIRMING_RUNS = 3
# Runs before the suspect a configuration needs for its own rerun to judge the suspect alone: with
# fewer, a rerun shares the few runs' noise with the suspect (another measured cluster judges it).
OWN_BASELINE = 3
# The kinds of change point, as a change point's owner stores them next to the run it starts at
# (the server: on each recommendation of the segment), so timelines and savings need not read them
# back out of the reasons' wording.
CODE_CHANGE = "code_change"
INPUT_SIZE_SHIFT = "input_shift"
RUNTIME_REGRESSION = "runtime_regression"


@dataclass(frozen=True)
class Screened:
    segment_start: int  # index into the history of the current segment's first run
    change_reason: str | None  # why the segment starts there (None: no change point)
    learn: tuple[int, ...]  # history indices the model learns from
    explained: Mapping[str, str] = field(default_factory=dict)  # "<index>:<config_id>" -> why not learned
    failed_configs: frozenset[str] = frozenset()  # failed in this segment and never succeeded
    # Most memory per core (GiB) among those that failed out of memory (0: none did).
    oom_memory_per_core: float = 0.0
    change_kind: str | None = None  # CODE_CHANGE, INPUT_SIZE_SHIFT or RUNTIME_REGRESSION with a change_reason
    # Instance types the cloud keeps refusing (over the whole history: capacity is not the job's).
    refused: tuple[Refusal, ...] = ()
    # Runs whose input alone stood out (the next run's was back to the segment's, or a size the
    # segment ran as a one-off before), in every segment: not change points, though one that was
    # the latest run when an earlier screen saw it started a segment then. Learned at their input.
    one_offs: tuple[int, ...] = ()
    # The median input before an input shift that only the latest sized run shows so far (None:
    # no such shift): a drop may be a one-off night, so the next run is planned for this size.
    shift_from_gb: float | None = None
    # A slow run of the segment no later run has confirmed or cleared yet (None: none), and the
    # configurations a run on could judge it (measured in the segment up to it): the planner
    # reruns one of them rather than moving on to a cluster that can say nothing of it.
    suspect: int | None = None
    judges: frozenset[str] = frozenset()
    # The configurations that ran out of memory in the segment and never succeeded in it.
    oom_configs: frozenset[str] = frozenset()


def run_key(index: int, obs: Observation) -> str:
    return f"{index}:{obs.config_id}"


def _why_not_learned(obs: Observation, known: Mapping[str, Candidate]) -> str | None:
    if not obs.ok and OUT_OF_MEMORY in obs.anomalies:
        return ("failed out of memory: not learned; configurations with no more memory per core than "
                "this one are avoided")
    if "driver_lost" in obs.anomalies:
        return "the driver died: not learned; the driver is sized up, the workers are not blamed"
    if LAUNCH_FAILED in obs.anomalies:
        return ("the cloud or the service failed the run's cluster (its reason is in the run's message): "
                "not the configuration's fault; not learned, and the configuration is not avoided unless its "
                f"instance type fails to launch {LAUNCH_REFUSALS} times in a row")
    if not obs.ok and set(obs.anomalies) & NOT_LEARNED == {TIMEOUT}:
        # No seconds named: the screened runtime may be the execution or the whole run (`models.setup`),
        # and the decision's reason names the whole run's (`models.segment._timed_out_note`).
        return ("timeout: the job's timeout stopped it, so its runtime there is at least the time it ran, not "
                "this configuration's normal: not learned; the configuration is avoided as too slow")
    spotted = sorted(set(obs.anomalies) & NOT_LEARNED)
    if spotted:
        # The screened runs are executions (`models.setup.execution_view`): named as the runtime, "315s"
        # read against `run show`'s "runtime 10m17s (cluster setup 5m02s)".
        return f"{', '.join(spotted)}: execution {obs.runtime_s:.0f}s is not this configuration's normal"
    if not obs.ok:
        return "failed run: its runtime is time-to-failure, not learned; the configuration is avoided"
    if obs.runtime_s <= 0 or not math.isfinite(obs.runtime_s):
        return "no valid runtime recorded"
    if obs.config_id not in known:
        return "ran on a configuration outside the decision space (bounds changed or a manual edit)"
    return None


def screen(
    history: Sequence[Observation],
    known: Mapping[str, Candidate],
    sigma_run: float,
    input_elasticity: float,
    labels: Sequence[str] | None = None,
) -> Screened:
    """Find the current segment and the runs to learn from (see the module docstring).

    ``labels`` name the history's runs in a change point's reason as their owner looks them up
    (the server: "run 42 of 2026-12-01 03:00 UTC"); without them, by position ("run #11 of the
    history", counted from 1)."""
    if labels is not None and len(labels) != len(history):
        raise ValueError(f"screen: {len(labels)} run labels for {len(history)} runs")

    def label(idx: int) -> str:
        return labels[idx] if labels is not None else f"run #{idx + 1} of the history"

    start, reason, kind, shifted_from = 0, None, None, None
    n = len(history)
    # Every one-off night seen, in earlier segments too: a change point a caller kept at one of
    # them (it was the latest run then) is withdrawn even when the night after was a change itself.
    one_offs: set[int] = set()
    pending: dict[str, object] = {}  # the last scan's open suspect (`Screened.suspect`)
    # Each change point lies strictly after the current start, so this ends within n rounds.
    while (change := _scan(history, known, start, sigma_run, input_elasticity, _sig_before(history, start),
                           label, one_offs, pending)):
        start, reason, kind, shifted_from = change
    if kind != INPUT_SIZE_SHIFT or _next_sized(history, known, start) is not None:
        shifted_from = None
    explained: dict[str, str] = {}
    learn: list[int] = []
    ok_cfgs: set[str] = set()
    failed: set[str] = set()
    oom: set[str] = set()
    for idx in range(start, n):
        obs = history[idx]
        why = _why_not_learned(obs, known)
        if why is None:
            learn.append(idx)
            ok_cfgs.add(obs.config_id)
        else:
            explained[run_key(idx, obs)] = why
            # A plain failure (not a lost spot node) may be the configuration's fault (e.g. OOM).
            # "repaired" explains a run's time, not its failure (models/observation.py). Running out
            # of memory is the configuration's fault even on a run that also lost spot nodes: the
            # collector says so only on the JVM's or the OS's word, which no lost node produces.
            out_of_memory = OUT_OF_MEMORY in obs.anomalies and "driver_lost" not in obs.anomalies
            if not obs.ok and (out_of_memory or not set(obs.anomalies) & (NOT_LEARNED - {"failure", REPAIRED})):
                failed.add(obs.config_id)
                if OUT_OF_MEMORY in obs.anomalies:
                    oom.add(obs.config_id)
    oom_mem = max((known[c].memory_per_core_gib for c in oom - ok_cfgs if c in known), default=0.0)
    return Screened(start, reason, tuple(learn), explained, frozenset(failed - ok_cfgs), oom_mem, kind,
                    refused_instance_types(history, known), tuple(sorted(one_offs)), shifted_from,
                    pending.get("suspect"), pending.get("judges", frozenset()),  # type: ignore[arg-type]
                    frozenset(oom - ok_cfgs))


# Runs that ran every stage though a lost node slowed them: their stage structure is the job's code
# (the signature counts only each stage's first attempt, `server.plan.observe.stage_signature`).
_WHOLE_CODE_DESPITE = frozenset({"spot_loss", "preempted"})


def _code_signature(obs: Observation) -> str | None:
    """The run's stage signature when it shows the job's whole code: a run that failed, was cut
    short or was retried or repaired ran part of its stages (a failed run's log stops early), so its
    shorter list read as a code change, and the next good run as a second one: learning restarted
    twice and the failure (an out-of-memory one too) was forgotten with the old segment. A run that
    succeeded though it lost spot nodes ran them all: left out, a code change whose first run lost a
    node was dated from the next complete run, and the plan after it treated the job as unchanged
    (review loop: "code change at run 58" for the change first seen at run 55)."""
    if not obs.ok or set(obs.anomalies) & (NOT_LEARNED - _WHOLE_CODE_DESPITE):
        return None
    return obs.stage_signature or None


def _sig_before(history: Sequence[Observation], start: int) -> str | None:
    for obs in reversed(history[:start]):
        if sig := _code_signature(obs):
            return sig
    return None


def _scan(
    history: Sequence[Observation],
    known: Mapping[str, Candidate],
    start: int,
    sigma_run: float,
    elasticity: float,
    last_sig: str | None,
    label: Callable[[int], str],
    one_offs: set[int],
    pending: dict[str, object],
) -> tuple[int, str, str, float | None] | None:
    """First change point after ``start`` (index, reason, kind, the median input before it for an
    input shift), or None. Runs whose input alone stood out are added to ``one_offs``; with no change
    point, ``pending`` gets the open suspect and the configurations that can judge it."""
    inputs: list[float] = []
    off_sizes: list[float] = []  # the one-off nights' inputs in this segment
    per_config: dict[str, list[tuple[int, float]]] = {}
    suspect: int | None = None  # the latest judged run, when it ran slow: a regression if the next does
    unjudged = 0  # clean runs since the suspect that could not be judged
    # The project's own run noise (`_Scatter`), and as it was before the suspect slow run.
    scatter = _Scatter()
    at_suspect = sigma_run
    suspect_slow = 0.0
    slow_runs = 0  # judged slow runs in a row since the suspect, the suspect included
    blind = False  # the suspect was judged with no repetition of the segment's own before it
    drift = _Cusum()
    for idx in range(start, len(history)):
        obs = history[idx]
        if sig := _code_signature(obs):
            if last_sig and sig != last_sig and idx > start:
                return (idx, f"the stage structure changed (a code change) at {label(idx)}: learning again",
                        CODE_CHANGE, None)
            last_sig = sig
        if _why_not_learned(obs, known) is not None:
            # It cannot judge an open slow run either: lost spot nodes on the cluster rerun to
            # judge it kept it open for good, and the planner on that cluster every night.
            if suspect is not None and (unjudged := unjudged + 1) > SUSPECT_UNJUDGED:
                suspect = None
            continue
        if obs.input_gb and inputs and idx > start:
            median = float(np.median(inputs))
            ratio = obs.input_gb / median
            if _beyond(ratio):
                after = _next_sized(history, known, idx)
                # A size this segment already ran as a one-off (big Mondays, a month-end night,
                # two sizes on alternate nights) is one again until a second run in a row has it:
                # as a change, every such night restarted learning, and the usual size was never
                # learned.
                again = any(not _beyond(obs.input_gb / size) for size in off_sizes)
                lasting = _beyond(history[after].input_gb / median, ratio) if after is not None \
                    else not again  # type: ignore[operator]
                if lasting:
                    return (idx, f"input size shifted {ratio:.2f}x at {label(idx)}: learning again",
                            INPUT_SIZE_SHIFT, median)
                # One night's input (a backfill, a catch-up after a holiday) and the next back to the
                # segment's: not a new segment. As one, that night restarted learning, and the next
                # one, back to the usual size, restarted it again (four learning runs for one night).
                # It is learned at its own input (the model's input covariate), left out of the
                # input trend the next run is planned on, and of the regression screen.
                one_offs.add(idx)
                off_sizes.append(obs.input_gb)
                continue
        ref = inputs[0] if inputs else None
        if obs.input_gb:
            inputs.append(obs.input_gb)
        norm = math.log(obs.runtime_s)
        if obs.input_gb and ref:
            norm -= elasticity * math.log(obs.input_gb / ref)
        # Judged against the configuration's runs up to the suspect slow run: a configuration first
        # measured after it (the planner moves after a slow run) neither confirms nor clears it, nor
        # do its own later runs. Judging only consecutive runs, a 2x regression went unseen in 4 of
        # 10 closed loops: the run after the first slow one was on a new cluster, which broke the pair.
        # The suspect's own configuration keeps the suspect in its baseline, as before: two runs
        # judged against one earlier run share its noise, and a fast first run made ordinary noise
        # (8% a run) look like a regression (`test_no_rebase_on_ordinary_noise`). The suspect takes
        # its share of the shift away; with `OWN_BASELINE` runs before it the bar takes the same
        # share off (below that the planner reruns another cluster, `models.decide._recheck_pick`):
        # a lasting 1.4x then fell under the bar (review rev15f).
        earlier = [v for i, v in per_config.get(obs.config_id, ()) if suspect is None or i <= suspect]
        own = scatter.sigma(sigma_run)  # the noise up to this run
        unread = not scatter.draws  # none of it the project's own yet: the prior's alone
        if drift.step(obs.config_id, idx, norm, per_config.get(obs.config_id, ()),
                      scatter.sigma(sigma_run, CUSUM_PSEUDO_DOF), scatter.draws,
                      scatter.rms(sigma_run, CUSUM_PSEUDO_DOF)):
            return drift.start, (  # type: ignore[return-value]
                f"runtime regression from {label(drift.start)} ({drift.runs} runs on measured configurations "  # type: ignore[arg-type]
                f"since, {math.exp(drift.mean_slow):.2f}x slower on average): learning again"
            ), RUNTIME_REGRESSION, None
        per_config.setdefault(obs.config_id, []).append((idx, norm))
        noise = at_suspect if suspect is not None else own
        threshold = max(math.log(REGRESSION_RATIO), 3.0 * noise)
        scatter.add(obs.config_id, norm)
        if not earlier:
            # A slow run is confirmed within a few runs or forgotten: two slow nights two weeks
            # apart, steady runs between them on a cluster measured since, are no regression.
            unjudged += 1
            if unjudged > SUSPECT_UNJUDGED:
                suspect = None
            continue
        slow = norm - sum(earlier) / len(earlier)  # not np.mean: ~4 us a call, run by run
        share = 1.0
        if suspect is not None and obs.config_id == history[suspect].config_id:
            share = 1.0 - 1.0 / len(earlier)
        if slow <= (threshold * share if len(earlier) > OWN_BASELINE else threshold):
            suspect = None
        elif suspect is None or _fell_back(slow, suspect_slow, share, noise):
            # A first slow run, or one on the suspect's configuration that fell back from it: a
            # new slow run waits for its own confirmation. The suspect and what follows it stay
            # out of the noise it is judged by: a regression read as noise would raise its own bar.
            suspect, suspect_slow, unjudged, at_suspect = idx, slow, 0, own
            slow_runs, blind = 1, unread
        elif (slow_runs := slow_runs + 1) < (BLIND_CONFIRMING_RUNS if blind else 2):
            # Judged with the prior's noise alone (no configuration of the segment run twice before
            # the suspect), a pair is no proof: a 20% job's one fast run, the only baseline of its
            # cluster, makes the next two runs on it look 1.3-1.6x slow (judged against the same
            # run, they are not two independent draws), and such pairs rebased 10 of 30 closed
            # loops at 20% noise (5 of 30 at 15%), the learning runs and the SLA risk paid again.
            # A lasting regression stays slow a third run; the planner keeps rerunning a judge.
            continue
        else:
            return suspect, (
                f"runtime regression from {label(suspect)} ({math.exp(slow):.2f}x slower on a measured "
                "configuration): learning again"
            ), RUNTIME_REGRESSION, None
    pending.clear()
    if suspect is not None:
        pending["suspect"] = suspect
        pending["judges"] = frozenset(c for c, runs in per_config.items() if runs[0][0] <= suspect)
    return None


def _fell_back(slow: float, suspect_slow: float, share: float, noise: float) -> bool:
    """Whether a slow rerun of the suspect's own configuration (``share`` < 1: the part of a shift
    it shows with the suspect in its baseline) shows clearly less of a shift than the suspect did:
    the suspect was noise at its top (a job noisier than its prior: 1.9x, then 1.26x on a rerun).
    Only on the same configuration (``share`` 1: another): a regression slows configurations by
    different factors (added fixed seconds weigh most on a big, short cluster; added coordination
    on many nodes), so slow runs on two configurations need not agree. A run slower still is a
    regression getting worse, not noise."""
    return share < 1.0 and slow < share * suspect_slow - 3.0 * noise * math.hypot(1.0, share)


def _beyond(ratio: float, direction: float | None = None) -> bool:
    """Whether an input ``ratio`` to the segment's median is a shift (beyond `INPUT_SHIFT` either
    way; with ``direction``, a ratio on the same side of 1)."""
    if not (ratio > INPUT_SHIFT or ratio < 1.0 / INPUT_SHIFT):
        return False
    return direction is None or (ratio > 1.0) == (direction > 1.0)


def _next_sized(history: Sequence[Observation], known: Mapping[str, Candidate], idx: int) -> int | None:
    """The next run after ``idx`` that is learned from and has an input size (None: none yet, and
    a shift on the latest run counts: waiting a run would plan the next one for the old input)."""
    return next((j for j in range(idx + 1, len(history))
                 if history[j].input_gb and _why_not_learned(history[j], known) is None), None)
