"""What the tuner learns from: one observation per collected run of a project."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Anomaly labels whose run says nothing about the configuration's normal runtime: they are
# explained in the decision and left out of the fit.
# "launch_failed": the cloud or the service failed the run's cluster (no capacity, a reclaimed
# instance, a limit, an outage), not its configuration, which is therefore not avoided for it.
# "retried": a task failed and its retry succeeded, so the run's time holds both attempts.
# "repaired": the run failed (or was canceled) and was repaired later (Databricks' runs/repair re-ran
# its failed tasks on new job clusters, as part of the same run): its time and cost add up several
# clusters' runs, so it is not one run of its configuration. It explains the runtime, never a failure:
# a repaired run that is still a failure (its repair failed too, or succeeded only on another
# configuration) stays a failure of its configuration (models/changes.py).
# "repaired_elsewhere": the run failed on its configuration and its repair succeeded on clusters of
# another one (the job was changed between the failure and the repair: runs/repair uses the job's
# current settings). Databricks shows it succeeded; for the models it stays the failure of the
# configuration it ran on first (``ok`` False), since the success was another configuration's.
LAUNCH_FAILED = "launch_failed"
# With LAUNCH_FAILED: the cloud had no capacity for the configuration's instance type (Databricks'
# *_INSUFFICIENT_CAPACITY / STOCKOUT / INSTANCE_NOT_LAUNCHED codes); another type may launch.
NO_CAPACITY = "no_capacity"
REPAIRED = "repaired"
REPAIRED_ELSEWHERE = "repaired_elsewhere"
# The job's or the task's timeout stopped the run (Databricks' TIMEDOUT): its runtime is a lower bound,
# not this configuration's normal; the configuration is too slow for the job (`models.segment._overran`).
TIMEOUT = "timeout"
NOT_LEARNED = frozenset({"spot_loss", "failure", "cancelled", TIMEOUT, "driver_lost", "preempted",
                         LAUNCH_FAILED, "retried", REPAIRED})
# A failed run whose tasks ran out of memory: configurations with no more memory per core than
# its configuration are avoided too (a hot key or a big partition needs memory per task slot).
OUT_OF_MEMORY = "out_of_memory"


@dataclass(frozen=True)
class StageObs:
    """One Spark stage of a run, summarised by the agent (times in seconds, sizes in bytes).

    Sizes and times are sums over the stage's successful tasks. ``input_bytes`` were read from
    storage, ``output_bytes`` written to storage (both over the node's network for cloud storage),
    ``shuffle_read_bytes`` fetched from shuffle files (remote and local), ``shuffle_write_time_s``
    spent writing shuffle files to local disk. When ``input_from_cache``, the stage's
    ``input_bytes`` were (mostly) the blocks of a dataset an earlier stage cached, read from
    executor memory or, what did not fit there, from local disk: Spark counts both as input.
    """

    num_tasks: float
    task_time_total_s: float
    task_p50_s: float
    task_p90_s: float
    task_max_s: float
    input_bytes: float = 0.0
    shuffle_read_bytes: float = 0.0
    shuffle_write_bytes: float = 0.0
    spill_bytes: float = 0.0
    gc_time_s: float = 0.0
    cpu_time_s: float = 0.0
    peak_memory_bytes: float = 0.0
    output_bytes: float = 0.0
    shuffle_write_time_s: float = 0.0
    input_from_cache: bool = False


@dataclass(frozen=True)
class Observation:
    """One collected run, in chronological order within a project's history.

    ``recommendation_applied`` is False for runs on a configuration the user chose (the starting
    configuration, or a manual edit); those runs are still valid measurements.

    ``setup_s`` is the part of ``runtime_s`` spent creating the cluster before the job's code ran
    (the Jobs API's ``setup_duration``), None when unknown. On Databricks it is minutes, varies
    from run to run and hardly depends on the configuration, so the model learns it apart from
    the execution, which is what the configuration changes.

    ``execution_only``: ``runtime_s`` is the execution alone, no setup in it (a run known only from
    its event log, whose span starts after the cluster came up); ``setup_s`` is None then.

    ``wait_s`` is the part of ``runtime_s`` after the setup when the cluster ran none of its own
    tasks: it sat idle while another cluster's task ran (a job a1 -> b -> a2 with a1 and a2 on this
    cluster). Like the setup it is paid for and counts against the SLA, but this configuration does
    not drive it, so `models.setup` takes it with the setup, not as execution. None when unknown.
    """

    config_id: str
    runtime_s: float
    ok: bool
    input_gb: float | None = None
    stages: tuple[StageObs, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    anomalies: tuple[str, ...] = ()
    stage_signature: str | None = None
    recommendation_applied: bool = True
    setup_s: float | None = None
    execution_only: bool = False
    wait_s: float | None = None
