"""Stored runs → the models' observations (pure translation)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from models.observation import OUT_OF_MEMORY, REPAIRED, TIMEOUT, Observation, StageObs
from server.domain import Run, Stage
from server.memory_failure import says_out_of_memory
from server.plan.candidates import config_id_of
from server.store.repos.applications import StageOutline

GB = 1e9


def stage_obs(stage: Stage) -> StageObs:
    m = stage.metrics
    d = stage.task_duration_ms
    return StageObs(
        num_tasks=float(d.count or stage.num_tasks),
        task_time_total_s=d.sum / 1000.0 if d.sum else m.get("executor_run_time_ms", 0) / 1000.0,
        task_p50_s=d.p50 / 1000.0,
        task_p90_s=d.p90 / 1000.0,
        task_max_s=d.max / 1000.0,
        input_bytes=float(m.get("input_bytes", 0)),
        shuffle_read_bytes=float(m.get("shuffle_remote_bytes_read", 0) + m.get("shuffle_local_bytes_read", 0)),
        shuffle_write_bytes=float(m.get("shuffle_bytes_written", 0)),
        spill_bytes=float(m.get("disk_bytes_spilled", 0)),
        gc_time_s=m.get("jvm_gc_time_ms", 0) / 1000.0,
        cpu_time_s=m.get("executor_cpu_time_ns", 0) / 1e9,
        peak_memory_bytes=float(m.get("peak_execution_memory_bytes", 0)),
        output_bytes=float(m.get("output_bytes", 0)),
        shuffle_write_time_s=m.get("shuffle_write_time_ns", 0) / 1e9,
        input_from_cache=stage.input_from_cache,
    )


def stage_signature(stages: Sequence[Stage | StageOutline]) -> str | None:
    """A fingerprint of the job's code: stage names and their dependency shape, not sizes.

    Task counts follow the input and the cluster, so they are left out; a new or
    removed stage, or a rewired one, changes the signature (a code change).

    Only each stage's first attempt counts: Spark runs a stage again as attempt 1, 2… under the same
    stage id when a fetch of its shuffle files fails (a spot node lost), and both the stage whose
    fetch failed and the map stage that rewrites the lost files get another attempt. Counting the
    attempts shifted the position of every later stage, so a run that merely recovered from a lost
    node read as a code change (and the next normal run as a second one): learning restarted.
    A run without re-attempts keeps the signature it always had (stored projects see no change).
    """
    if not stages:
        return None
    # Per application: two applications of one run (a multi-task job) repeat the same stage ids.
    firsts: dict[tuple[str, int], Stage | StageOutline] = {}
    for s in stages:
        seen = firsts.get((s.application_id, s.stage_id))
        if seen is None or s.attempt_id < seen.attempt_id:
            firsts[(s.application_id, s.stage_id)] = s
    # A stage's position among the first attempts ordered by stage id (the last row of its id when
    # several applications repeat it): for a run without re-attempts, exactly what it always was.
    position = {s.stage_id: i for i, s in enumerate(sorted(firsts.values(), key=lambda s: s.stage_id))}
    parts = sorted(
        f"{s.name}|{','.join(str(position.get(p, -1) - position[s.stage_id]) for p in sorted(s.parent_ids))}"
        for s in firsts.values()
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def observation(run: Run, stages: Sequence[Stage | StageOutline], applied_recommendation: bool) -> Observation | None:
    """One run as the tuner sees it; None for a run without a known configuration.

    ``stages`` may be outlines (`StageOutline`): they give the run's code signature and failures,
    not its stage metrics, so the observation carries no stages (the model replays the metrics of
    a few recent runs only, `server.plan.reads`)."""
    if run.config is None:
        return None
    # A run repaired after it ran out of memory (the label stays: `server.collect.repairs`) is no success
    # of its configuration: the repair re-ran only the failed tasks. Taken as one, the planner went back
    # to the cluster that had run out of memory (the last one that "succeeded").
    ok = run.outcome == "succeeded" and not (REPAIRED in run.anomalies and OUT_OF_MEMORY in run.anomalies)
    if run.outcome == "canceled":
        # A person (or an overlapping run, or an upstream task) stopped it: not the configuration's
        # failure. As "failure" its configuration was avoided for the whole segment, and the
        # planner never tried again the cluster the job had settled on.
        anomalies = tuple(a for a in run.anomalies if a != "failure") + \
            (() if "cancelled" in run.anomalies else ("cancelled",))
    elif run.outcome == "timed_out":
        # The job's timeout stopped it: too slow for the job, which `models.segment._overran` reads from
        # "timeout"; as "failure" too, it would be read as a failure of unknown cause.
        anomalies = tuple(a for a in run.anomalies if a != "failure") + \
            (() if TIMEOUT in run.anomalies else (TIMEOUT,))
    else:
        anomalies = tuple(run.anomalies) + (() if ok or "failure" in run.anomalies else ("failure",))
    # A stage the agent saw fail for memory: the collector's own words (server.memory_failure), so the
    # planner and the run's label cannot disagree on what ran out of memory.
    if not ok and any(says_out_of_memory(s.failure_reason) for s in stages):
        anomalies += (OUT_OF_MEMORY,)
    # Once each; and not for a driver's (the collector labels it with driver_lost): the driver is sized
    # up for it, the workers' memory per core is not to blame.
    anomalies = tuple(dict.fromkeys(a for a in anomalies if a != OUT_OF_MEMORY or "driver_lost" not in anomalies))
    return Observation(
        config_id=config_id_of(run.config),
        runtime_s=float(run.runtime_s),
        ok=ok,
        input_gb=run.input_bytes / GB if run.input_bytes else None,
        stages=tuple(stage_obs(s) for s in stages if isinstance(s, Stage) and not s.failure_reason),
        anomalies=anomalies,
        stage_signature=stage_signature(stages),
        recommendation_applied=applied_recommendation,
        setup_s=None if run.execution_only else run.setup_s,
        execution_only=run.execution_only,
        # Idle between the cluster's tasks while other clusters' ran: taken with the setup, not
        # learned as this configuration's execution (`models.setup`).
        wait_s=None if run.execution_only else run.wait_s,
    )
