"""Single-run extrapolation: replay a run's stages on another configuration's task slots.

A Spark stage's wall time on S slots is bounded below by both its longest task and its total task
time divided by S; list scheduling (Graham) adds at most one task length to the even share. We use
the even share plus half a large (p90) task as the expected tail, floored by the longest task, so
uniform CPU-bound stages scale ~1/S while skewed stages (long max task) stop improving early.

Memory pressure: the time a stage lost to GC and spilling shrinks when the target has more memory
per slot and grows when it has less. Time outside the stages (driver work, scheduling, startup) is
treated as fixed. Stages are assumed sequential; the replay is calibrated so that replaying the run
on its own configuration returns the measured runtime.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.observation import Observation, StageObs
from models.space import Candidate

# Fraction of the spilled stages' task time assumed lost to spilling per spilled byte share; the
# agent measures bytes, not spill time, so this is a deliberately modest guess.
_SPILL_TIME_SHARE = 0.5
# How strongly pressure time reacts to memory per slot (superlinear: spill stops entirely once a
# partition fits).
_PRESSURE_EXPONENT = 1.5


def _pressure_time(stage: StageObs) -> float:
    """Seconds of task time lost to GC and spill in this stage (estimate)."""
    moved = max(stage.input_bytes + stage.shuffle_read_bytes, 1.0)
    spill_share = min(0.5, stage.spill_bytes / moved) * _SPILL_TIME_SHARE
    lost = stage.gc_time_s + spill_share * stage.task_time_total_s
    return float(min(lost, 0.9 * stage.task_time_total_s))


def stage_wall_time(stage: StageObs, slots: np.ndarray, memory_ratio: np.ndarray | float = 1.0) -> np.ndarray:
    """Expected wall time of ``stage`` on each slot count in ``slots``.

    ``memory_ratio`` = target memory per slot / source memory per slot (one per slot entry or scalar).
    """
    slots = np.maximum(np.asarray(slots, dtype=float), 1.0)
    ratio = np.maximum(np.asarray(memory_ratio, dtype=float), 1e-3)
    lost = _pressure_time(stage)
    scale = np.minimum(ratio ** (-_PRESSURE_EXPONENT), 4.0)
    total = stage.task_time_total_s - lost + lost * scale
    # Task lengths stretch with the same factor as the stage's total task time.
    stretch = total / max(stage.task_time_total_s, 1e-9)
    t_max = stage.task_max_s * stretch
    t_p90 = stage.task_p90_s * stretch
    tasks = max(stage.num_tasks, 1.0)
    tail = np.where(tasks > slots, 0.5 * t_p90 * (1.0 - 1.0 / slots), 0.0)
    return np.maximum(t_max, total / np.minimum(slots, tasks) + tail)


def replay_runtimes(run: Observation, source: Candidate, targets: Sequence[Candidate]) -> np.ndarray:
    """Predicted runtime (s) of ``run``'s stages on each target configuration.

    Raises ValueError if the run has no stages.
    """
    if not run.stages:
        raise ValueError("run has no stage metrics to replay")
    slots = np.array([t.cores for t in targets], dtype=float)
    mem_ratio = np.array([t.memory_per_core_gib / source.memory_per_core_gib for t in targets])
    own_slots = np.array([source.cores])
    staged_target = np.zeros(len(targets))
    staged_source = 0.0
    for stage in run.stages:
        staged_target += stage_wall_time(stage, slots, mem_ratio)
        staged_source += float(stage_wall_time(stage, own_slots)[0])
    fixed = max(run.runtime_s - staged_source, 0.0)
    # Calibrate: if stages overlapped (sum of stage times > runtime), shrink the staged part.
    calib = min(1.0, run.runtime_s / max(staged_source, 1e-9)) if staged_source > 0 else 1.0
    return fixed + calib * staged_target


def replay_log_shape(
    runs: Sequence[tuple[Observation, Candidate]], targets: Sequence[Candidate]
) -> np.ndarray | None:
    """Average log runtime shape over runs with stages, each relative to its own source runtime.

    Returns log(predicted runtime / the source run's runtime) averaged over the runs, which the
    runtime model uses as an offset (its intercept absorbs the level). None when no run has stages.
    """
    shapes = []
    for run, source in runs:
        if run.stages and run.runtime_s > 0:
            shapes.append(np.log(replay_runtimes(run, source, targets) / run.runtime_s))
    if not shapes:
        return None
    return np.mean(shapes, axis=0)
