"""A run that ran out of memory and whose repair then succeeded on the same configuration, through the
emulator and the real databricks-sdk (SQLite and PostgreSQL): the stored run is the repair's success,
and still says the configuration ran out of memory once, so the planner avoids it as it avoids any
configuration that ran out of memory. Its peak workers are the most any of its attempts had up."""

from __future__ import annotations

import dataclasses
from typing import Any

from models.changes import screen
from models.observation import OUT_OF_MEMORY, REPAIRED, REPAIRED_ELSEWHERE
from sandbox.workspace import RunningWorkspace
from sandbox.workspace.runs import PROFILE_TAG
from sandbox.workspace.seed import aws_cluster
from server.apply import apply_recommendation
from server.clock import SystemClock
from server.collect import Collector
from server.collect.run_parse import cluster_runs
from server.collect.usage import cluster_timeline
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Recommendation, Run, Workspace
from server.plan.candidates import config_id_of
from server.plan.observe import observation
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import config_from_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING, sdk_client
from tests.integration.test_dbx_out_of_memory import plans_more_memory_per_core

# pandas_udf keeps each group in a Python worker, outside the heap: a c5.xlarge (2 GiB a core) has too
# little room for it, and the OS kills its executors (test_dbx_out_of_memory.py).
FAILS = "pandas_udf"
# The emulator's memory failures are deterministic, so the repair runs a lighter workload (the job's
# profile tag changed before it), which stands for a repair that got through on the same clusters (a
# retried group that fit the second time). The cluster spec is untouched: the same configuration.
GETS_THROUGH = "etl_join_aggregate"
# The job's own init script (Trimtab's own failing is no failure of the run: test_dbx_own_init_script_failure.py).
JOB_INIT = "/etl/setup.sh"
FAILING_INIT = b"#!/bin/bash\necho 'no such package' >&2\nexit 1\n"


def _imported(store: Store, secrets: SecretBox, gateway: DatabricksGateway, cluster: dict[str, Any],
              profile: str = FAILS) -> Project:
    job_id = gateway.create_job({
        "name": "udf", "tags": {PROFILE_TAG: profile},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": cluster}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/jobs/udf.py"}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _failed_then_repaired(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                          gateway: DatabricksGateway, project: Project) -> tuple[Run, Run]:
    """The job's run as first collected (out of memory), and as the next poll stores its repair."""
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    run_id = gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    (failed,) = collector.poll_once()
    assert failed.outcome == "failed" and OUT_OF_MEMORY in failed.anomalies
    gateway.update_job(project.job_id, {"tags": {PROFILE_TAG: GETS_THROUGH}})
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    (repaired,) = collector.poll_once()
    assert repaired.id == failed.id and repaired.config == failed.config  # the same run, configuration
    return failed, repaired


def test_a_repair_that_succeeds_on_the_configuration_that_ran_out_of_memory_keeps_the_label(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # Review: the repaired run kept spot_loss, data_growth and user_edit only; as the configuration's
    # success (repaired, not learned), the too-small cluster was measured again by the next plan.
    project = _imported(store, secrets, gateway, aws_cluster("c5.xlarge", 4, availability="ON_DEMAND"))
    failed, repaired = _failed_then_repaired(store, secrets, emulator, gateway, project)
    assert repaired.outcome == "succeeded"  # what Databricks says of the run
    assert {OUT_OF_MEMORY, REPAIRED} <= set(repaired.anomalies)
    assert "driver_lost" not in repaired.anomalies and "failure" not in repaired.anomalies
    assert "first attempt ran out of memory" in repaired.message

    # The planner's out-of-memory rule sees it: the configuration is avoided, and so is every one with
    # no more memory per core.
    runs = list(reversed(store.runs.list(int(project.id or 0))))
    history = [o for r in runs if (o := observation(r, [], applied_recommendation=True)) is not None]
    assert failed.config is not None
    assert screen(history, {}, sigma_run=0.1, input_elasticity=0.0).oom_configs == {config_id_of(failed.config)}
    plans_more_memory_per_core(store, project)


def _failed_on_its_init_script(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                               gateway: DatabricksGateway, cluster: dict[str, Any]) -> tuple[Collector, Run]:
    """A job whose own init script fails its cluster at its first workers, run and collected once; the
    script is fixed afterwards, for a repair."""
    gateway.put_dbfs_file(JOB_INIT, FAILING_INIT)
    cluster = {**cluster, "init_scripts": [{"dbfs": {"destination": f"dbfs:{JOB_INIT}"}}]}
    project = _imported(store, secrets, gateway, cluster, profile=GETS_THROUGH)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    (failed,) = collector.poll_once()
    assert failed.outcome == "failed"
    gateway.put_dbfs_file(JOB_INIT, NOOP_INIT)
    return collector, failed


def _repaired(emulator: RunningWorkspace, collector: Collector, failed: Run) -> Run:
    sdk_client(emulator).jobs.repair_run(failed.databricks_run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    (repaired,) = collector.poll_once()
    assert repaired.id == failed.id
    return repaired


def test_a_repaired_run_keeps_the_most_workers_any_of_its_attempts_had_up(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # Review: the repaired run kept its first attempt's peak, though its runtime and cost are every
    # attempt's: a repair that scaled further was missed by the range's floor (`server.plan.peak_floor`).
    # The first attempt's cluster fails on the job's init script at its first workers; the repair,
    # the script fixed, scales to the range's max.
    collector, failed = _failed_on_its_init_script(
        store, secrets, emulator, gateway, aws_cluster("c5.xlarge", autoscale=(1, 6), availability="ON_DEMAND"))
    repaired = _repaired(emulator, collector, failed)
    assert repaired.outcome == "succeeded"
    (piece,) = cluster_runs(gateway.get_run(repaired.databricks_run_id))
    peaks = [_peak(gateway, cluster_id) for cluster_id, _, _ in piece.instances]
    assert peaks == [failed.peak_workers, 6]
    assert failed.peak_workers is not None and failed.peak_workers < 6  # the repair went further
    assert repaired.peak_workers == 6


def test_a_repair_on_another_configuration_keeps_the_first_attempts_peak(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # The run stays the failure of its configuration (`repaired_elsewhere`), and a peak is read against
    # that configuration's workers: the repair's clusters were another's.
    collector, failed = _failed_on_its_init_script(
        store, secrets, emulator, gateway, aws_cluster("c5.xlarge", 2, availability="ON_DEMAND"))
    project = store.projects.get(failed.project_id)
    more = dataclasses.replace(config_from_spec(project.current_spec), num_workers=4, spec={})
    store.recommendations.add(Recommendation(project_id=failed.project_id, config=more, reason="test"))
    assert apply_recommendation(store, gateway, failed.project_id).applied
    repaired = _repaired(emulator, collector, failed)
    assert REPAIRED_ELSEWHERE in repaired.anomalies
    (piece,) = cluster_runs(gateway.get_run(repaired.databricks_run_id))
    assert _peak(gateway, piece.cluster_id) == 4
    assert failed.peak_workers is not None and repaired.peak_workers == failed.peak_workers < 4


def _peak(gateway: DatabricksGateway, cluster_id: str) -> int | None:
    """The most workers one cluster had up, read from its events as the collector reads them."""
    cluster = gateway.get_cluster(cluster_id)
    timeline = cluster_timeline(dict(cluster.get("spec") or {}), gateway.cluster_events(cluster_id),
                                fallback_start_ms=0, fallback_end_ms=0, driver_is_spot=False, cloud="aws")
    return timeline.peak_workers
