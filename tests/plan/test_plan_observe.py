"""A collected run as the tuner sees it: failures out of memory are labelled as such."""

from __future__ import annotations

import dataclasses

import pytest

from models.observation import OUT_OF_MEMORY
from server.domain import ClusterConfig, Run, Stage
from server.plan.observe import observation

RUN = Run(project_id=1, databricks_run_id=7, runtime_s=300.0, outcome="failed",
          config=ClusterConfig(node_type_id="m5d.2xlarge", num_workers=4), anomalies=("failure",))
OOM = ("Job aborted due to stage failure: Task 3 in stage 2.0 failed 4 times, most recent failure: Lost task 3.3 "
       "in stage 2.0 (TID 40) (executor 2): java.lang.OutOfMemoryError: Java heap space")
KILLED = ("Job aborted due to stage failure: ExecutorLostFailure (executor 3 exited caused by one of the running "
          "tasks) Reason: Container killed by YARN for exceeding memory limits. 14.5 GB of 14 GB used")


# Words the collector's label reads (server.memory_failure) that the planner's own list missed, so a
# run's label said out_of_memory and the planner did not avoid its configuration for it.
GC = ("Job aborted due to stage failure: Task 1 in stage 4.0 failed 4 times: java.lang.Error: GC overhead limit "
      "exceeded")
EXIT_143 = ("Job aborted due to stage failure: ExecutorLostFailure (executor 5 exited caused by one of the running "
            "tasks) Reason: Container killed on request. Exit code is 143")


@pytest.mark.parametrize(("reason", "oom"), [(OOM, True), (KILLED, True), (GC, True), (EXIT_143, True),
                                             ("Job aborted: java.io.FileNotFoundException: s3://x/y", False)])
def test_a_failed_run_whose_stage_ran_out_of_memory_is_labelled(reason: str, oom: bool) -> None:
    stages = [Stage("app", 1, name="ok"), Stage("app", 2, name="join", failure_reason=reason)]
    obs = observation(RUN, stages, applied_recommendation=True)
    assert obs is not None and not obs.ok
    assert (OUT_OF_MEMORY in obs.anomalies) is oom
    assert len(obs.stages) == 1  # the failed stage's partial metrics are not replayed


def test_a_run_that_succeeded_after_an_oom_retry_is_not_labelled() -> None:
    ok = Run(project_id=1, databricks_run_id=8, runtime_s=300.0, outcome="succeeded",
             config=ClusterConfig(node_type_id="m5d.2xlarge", num_workers=4))
    obs = observation(ok, [Stage("app", 2, attempt_id=0, failure_reason=OOM), Stage("app", 2, attempt_id=1)], True)
    assert obs is not None and obs.ok and OUT_OF_MEMORY not in obs.anomalies


def test_the_cluster_setup_reaches_the_tuner_apart_from_the_runtime() -> None:
    timed = dataclasses.replace(RUN, outcome="succeeded", anomalies=(), runtime_s=370.0, setup_s=235.0)
    obs = observation(timed, [], applied_recommendation=True)
    assert obs is not None and (obs.runtime_s, obs.setup_s) == (370.0, 235.0)
    unknown = observation(dataclasses.replace(timed, setup_s=None), [], applied_recommendation=True)
    assert unknown is not None and unknown.setup_s is None  # unknown stays unknown, not zero


def test_stage_metrics_reach_the_replay_including_output_and_shuffle_write_time() -> None:
    from server.domain import Distribution
    from server.plan.observe import stage_obs

    metrics = {"input_bytes": 4_000_000_000, "output_bytes": 1_400_000_000, "shuffle_remote_bytes_read": 300,
               "shuffle_local_bytes_read": 100, "shuffle_bytes_written": 700, "shuffle_write_time_ns": 2_500_000_000,
               "executor_cpu_time_ns": 9_000_000_000, "jvm_gc_time_ms": 400}
    s = stage_obs(Stage("app", 1, num_tasks=10, metrics=metrics,
                        task_duration_ms=Distribution(count=10, p50=900, p90=1200, max=1500, sum=10_000)))
    assert (s.num_tasks, s.task_time_total_s, s.task_max_s) == (10.0, 10.0, 1.5)
    assert (s.input_bytes, s.output_bytes, s.shuffle_read_bytes) == (4e9, 1.4e9, 400.0)
    assert (s.shuffle_write_time_s, s.cpu_time_s, s.gc_time_s) == (2.5, 9.0, 0.4)


def test_whether_a_stage_read_a_cached_rdd_reaches_the_replay() -> None:
    stages = [Stage("app", 0, name="cache", metrics={"input_bytes": 10}),
              Stage("app", 1, name="iterate", metrics={"input_bytes": 30}, input_from_cache=True)]
    obs = observation(RUN, stages, applied_recommendation=True)
    assert obs is not None
    assert [(s.input_bytes, s.input_from_cache) for s in obs.stages] == [(10.0, False), (30.0, True)]


def test_a_cancelled_run_is_explained_and_its_configuration_not_avoided() -> None:
    # rev14d F3: a run cancelled by hand (jobs/runs/cancel) became a "failure", so `screen` avoided its
    # configuration (the cheapest the job had settled on) for the rest of the segment.
    from models.changes import screen
    from models.space import Candidate

    cancelled = dataclasses.replace(RUN, outcome="canceled", anomalies=(), runtime_s=517.0)
    obs = observation(cancelled, [Stage("app", 1, name="ok")], applied_recommendation=True)
    assert obs is not None and not obs.ok
    assert "cancelled" in obs.anomalies and "failure" not in obs.anomalies
    known = {obs.config_id: Candidate(config_id=obs.config_id, instance_type="m5d.2xlarge", nodes=4, vcpus=8,
                                      memory_gib=32, price_per_hour=1.0)}
    good = observation(dataclasses.replace(RUN, outcome="succeeded", anomalies=()), [], applied_recommendation=True)
    assert good is not None
    screened = screen([good, obs], known, sigma_run=0.05, input_elasticity=1.0)
    assert screened.failed_configs == frozenset() and screened.learn == (0,)
    assert "cancelled" in screened.explained[f"1:{obs.config_id}"]
    # A failed run of it is still avoided (unless it succeeded too), as before.
    failed = observation(RUN, [], applied_recommendation=True)
    assert failed is not None and screen([failed], known, 0.05, 1.0).failed_configs == {failed.config_id}
