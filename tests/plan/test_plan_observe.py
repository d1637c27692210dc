"""A collected run as the tuner sees it: failures out of memory are labelled as such."""

from __future__ import annotations

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


@pytest.mark.parametrize(("reason", "oom"), [(OOM, True), (KILLED, True),
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
