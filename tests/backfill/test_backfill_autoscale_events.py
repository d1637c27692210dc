"""A backfilled run of an autoscaling cluster costs what the collector's run of it costs (review revD F).

Backfill priced an autoscaling cluster from the executors in its event log even when the workspace
still held the run and its cluster's events: an executor registers after its instance is up, so an
upsize counted from the executors is billed from later than the RESIZING request the collector bills
it from, and the backfilled runs (the savings baseline) came out about a third cheaper than the
collected ones beside them. With the run in the workspace the backfill now reads ``clusters/events``
and prices with the collector's own timeline; the executors size only a cluster the workspace no
longer holds, and that run's cost note says so.

The sandbox emulator plays the seeded autoscaling job (m5d.2xlarge, 2-8 workers) and delivers its
event log to dbfs:/cluster-logs; one store collects the run, another backfills the same run's log.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.backfill import backfill
from server.backfill.usage import EXECUTORS_NOTE
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import Project, Run, Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store, open_store
from tests.collect.conftest import emulator as emulator  # the collector's tests' workspace, imports wired
from tests.conftest import migrated_sqlite_file

AUTOSCALING_JOB = 4  # seed_jobs' fifth job: "autoscaling-<profile>", job cluster "auto", m5d.2xlarge x2-8


def _import(store: Store, secrets: SecretBox, emulator: RunningWorkspace, job_id: int, *,
            second: bool = False) -> Project:
    """The job imported; ``second``: by a second server (it takes the agent's secret over)."""
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], take_over=second).projects
    assert imported.project.original_spec.get("autoscale") == {"min_workers": 2, "max_workers": 8}
    return imported.project


def _gateway_for(store: Store, secrets: SecretBox):  # type: ignore[no-untyped-def]
    def gateway_for(workspace: Workspace | str) -> DatabricksGateway:
        return workspaces.gateway_for(store, secrets, workspace)

    return gateway_for


def _collected_and_backfilled(store: Store, tmp_path: Path, sqlite_template: Path,
                              emulator: RunningWorkspace) -> tuple[Run, Run]:
    """The autoscaling job run once: collected by one server, backfilled from its log by another."""
    secrets = SecretBox(Fernet.generate_key())
    job_id = emulator.seed_jobs()[AUTOSCALING_JOB]
    collecting = open_store(migrated_sqlite_file(sqlite_template, tmp_path / "collected.db"))
    try:
        _import(collecting, secrets, emulator, job_id)
        DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20),
                          clock=SystemClock()).run_now(job_id)
        assert emulator.wait_idle(120), "the emulator did not finish the run"
        (collected,) = Collector(collecting, _gateway_for(collecting, secrets), clock=SystemClock(),
                                 catalog=load_catalog()).poll_once()
    finally:
        collecting.close()
    project = _import(store, secrets, emulator, job_id, second=True)
    report = backfill(store, project.name, "dbfs:/cluster-logs", gateway_for=_gateway_for(store, secrets),
                      catalog=load_catalog())
    assert (report.runs_created, report.runs_setup_unknown) == (1, 0)
    (backfilled,) = store.runs.history(int(project.id or 0))
    assert backfilled.databricks_run_id == collected.databricks_run_id
    assert backfilled.cluster_id == collected.cluster_id
    return collected, backfilled


def test_a_backfilled_autoscaling_run_costs_what_its_collected_run_does(
        store: Store, tmp_path: Path, sqlite_template: Path, emulator: RunningWorkspace) -> None:
    collected, backfilled = _collected_and_backfilled(store, tmp_path, sqlite_template, emulator)
    assert collected.cost is not None and backfilled.cost is not None
    events = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20),
                               clock=SystemClock()).cluster_events(collected.cluster_id)
    # The cluster did upsize. Priced from the same events, the two are the same price (before: the
    # backfilled run, sized by its executors, was $0.21 against the collected run's $0.30), the same
    # DBUs and the same span (re-costing asks the bill for those days).
    assert any(int((e.get("details") or {}).get("target_num_workers") or 0) > 2 for e in events
               if e.get("type") == "RESIZING")
    assert backfilled.cost.total == pytest.approx(collected.cost.total, rel=1e-9)
    assert backfilled.cost.dbus == pytest.approx(collected.cost.dbus, rel=1e-9)
    assert (backfilled.cost.window_start_ms, backfilled.cost.window_end_ms) == \
        (collected.cost.window_start_ms, collected.cost.window_end_ms)
    assert EXECUTORS_NOTE not in backfilled.cost.note


def test_a_cluster_the_workspace_no_longer_holds_is_sized_by_its_executors_and_says_so(
        store: Store, tmp_path: Path, sqlite_template: Path, emulator: RunningWorkspace) -> None:
    secrets = SecretBox(Fernet.generate_key())
    job_id = emulator.seed_jobs()[AUTOSCALING_JOB]
    project = _import(store, secrets, emulator, job_id)
    DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20),
                      clock=SystemClock()).run_now(job_id)
    assert emulator.wait_idle(120), "the emulator did not finish the run"
    # Databricks purges a cluster 30 days after it ended and keeps the run for 60: runs/get still
    # names the cluster, clusters/get and clusters/events no longer know it.
    data = emulator.workspace.store.data
    with emulator.workspace.store.lock:
        (cluster_id,) = list(data["clusters"])[-1:]
        data["clusters"].pop(cluster_id)
        data["events"].pop(cluster_id, None)
        emulator.workspace.store.save()
    report = backfill(store, project.name, "dbfs:/cluster-logs", gateway_for=_gateway_for(store, secrets),
                      catalog=load_catalog())
    assert (report.runs_created, report.runs_setup_unknown, report.runs_unpriced) == (1, 0, 0)
    (run,) = store.runs.history(int(project.id or 0))
    assert run.cluster_id == cluster_id and run.setup_s is not None  # the workspace's run, not the log's alone
    assert run.cost is not None and EXECUTORS_NOTE in run.cost.note
