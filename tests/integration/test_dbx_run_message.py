"""A run that did not succeed says why, in Databricks' words: build_run keeps the tasks' state
message for a failed or canceled piece only (pure), and a run whose init script exits 1 on the
workspace emulator is collected with its message (Trimtab's own script: said first), which
`trimtab run show` and `run list` print over the real gRPC server (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.collect.build import MESSAGE_CHARS, AgentData, Expected, build_run
from server.collect.run_parse import ClusterRun, cluster_runs
from server.collect.usage import ClusterTimeline
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Workspace
from server.render.fmt import cut
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

SPEC = {"node_type_id": "m5d.xlarge", "num_workers": 2, "spark_version": "15.4.x-scala2.12"}
PROJECT = Project(workspace="sbx", job_id=5, cluster_key="main", job_name="nightly", current_spec=SPEC,
                  original_spec=SPEC, id=1)
FAILING_INIT = b"#!/bin/bash\necho 'no such package' >&2\nexit 1\n"


def _piece(outcome: str, message: str) -> ClusterRun:
    return ClusterRun(run_id=7, job_id=5, cluster_key="main", cluster_id="c-1", spark_context_id="", spec=SPEC,
                      task_keys=("main",), start_ms=0, end_ms=60_000, outcome=outcome, state_message=message,
                      setup_ms=None)


def _build(piece: ClusterRun) -> str:
    run, _ = build_run(PROJECT, piece, cluster=None, timeline=ClusterTimeline(0, 60_000, (), 0, 0),
                       agent=AgentData(), history=[], expected=Expected({}, None))
    return run.message


@pytest.mark.parametrize("outcome", ["failed", "canceled"])
def test_a_run_that_did_not_succeed_keeps_databricks_words(outcome: str) -> None:
    why = 'Cluster validation error: Validation failed for num_workers, the value must be at most 2 (is "4")'
    assert _build(_piece(outcome, why)) == why


def test_a_succeeded_run_keeps_no_message() -> None:
    assert _build(_piece("succeeded", "Task main succeeded")) == ""


def test_the_messages_of_a_clusters_tasks_are_joined_and_kept_on_one_line() -> None:
    failed = {"life_cycle_state": "INTERNAL_ERROR", "result_state": "FAILED"}
    run = {"run_id": 9, "job_id": 5, "start_time": 0, "end_time": 10_000,
           "state": {"life_cycle_state": "INTERNAL_ERROR", "result_state": "FAILED"},
           "job_clusters": [{"job_cluster_key": "main", "new_cluster": SPEC}],
           "tasks": [{"task_key": k, "job_cluster_key": "main", "start_time": 0, "end_time": 10_000,
                      "cluster_instance": {"cluster_id": "c-1"},
                      "state": {**failed, "state_message": f"Init script failure: {k}\n  at line 3"}}
                     for k in ("a", "b")]}
    (piece,) = cluster_runs(run)
    assert _build(piece) == "Init script failure: a at line 3; Init script failure: b at line 3"


def test_a_long_message_is_cut_on_a_word_with_an_ellipsis() -> None:
    spark = "org.apache.spark.SparkException: Job aborted due to stage failure: " + "Task 3 lost " * 80
    kept = _build(_piece("failed", spark))
    assert len(kept) <= MESSAGE_CHARS and kept.endswith("lost…") and kept.startswith(spark[:60])
    # One long token is cut inside it rather than dropped whole.
    assert cut("x" * 30, 10, on_word=True) == "x" * 9 + "…"
    assert cut("short enough", 12, on_word=True) == "short enough"
    assert cut("a b c d e f g h", 8) == "a b c d…" and cut("a b c d e f g h", 8, on_word=True) == "a b c…"


def test_a_run_whose_init_script_fails_is_collected_with_why_and_shown_by_the_cli(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], trimtab: Callable[..., tuple[int, str, str]]) -> None:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING).projects
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())

    gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    (ok,) = collector.poll_once()
    assert (ok.outcome, ok.message) == ("succeeded", "")

    # The init script Trimtab wired into the job now exits 1: the cluster fails as it comes up, and
    # Databricks names the script. It is Trimtab's own, so the message says so first
    # (test_dbx_own_init_script_failure.py), then Databricks' words.
    gateway.put_dbfs_file("/trimtab/test-init.sh", FAILING_INIT)
    run_id = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    reported = gateway.get_run(run_id)
    (task,) = reported["tasks"]
    said = task["state"]["state_message"]
    assert said.startswith("Init script failure: Cluster scoped init script dbfs:/trimtab/test-init.sh failed: "
                           "Script exit status is non-zero (init script test-init.sh exited with 1"), said
    (failed,) = collector.poll_once()
    assert (failed.databricks_run_id, failed.outcome) == (run_id, "failed")
    assert failed.message.startswith("Trimtab's init script dbfs:/trimtab/test-init.sh failed the cluster at start")
    assert failed.message.endswith(f"Databricks: {said}"), failed.message
    assert store.runs.get(int(failed.id or 0)).message == failed.message

    code, out, err = trimtab("run", "show", str(failed.id))
    assert code == 0, err
    assert f"why: {failed.message}" in out.splitlines()
    code, out, _ = trimtab("run", "show", str(ok.id))
    assert code == 0 and "why:" not in out
    code, out, _ = trimtab("run", "list", str(imported.project.id))
    assert code == 0
    (row,) = [line for line in out.splitlines() if line.split() and line.split()[0] == str(failed.id)]
    assert "failed: Trimtab's init script dbfs:/trimtab/test-init.sh" in row
