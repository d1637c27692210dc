"""Review 9: a task retried on a new job cluster ran on two clusters, and both were billed. The run is
priced over every cluster its tasks ran on (summed, as a repaired run is), and re-costing does not
replace that sum with the bill of the one cluster the run's cluster_id names.

Against the workspace emulator through the real databricks-sdk, and moto's Cost Explorer through boto3."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sandbox.clouds.aws import AwsStandIn, CostLineItem
from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.clouds.aws import AwsCredentials, AwsGateway
from server.collect import Collector
from server.collect.collector import cluster_events_or_none
from server.collect.run_parse import cluster_runs
from server.collect.usage import cluster_timeline, cluster_usage
from server.costing.billing import AwsBill
from server.costing.catalog import PriceCatalog, load_catalog
from server.costing.recost import recost_runs
from server.costing.run_cost import cost_run
from server.databricks import DatabricksGateway
from server.domain import CostBreakdown, Project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store

HOUR_MS = 3_600_000


def _cluster_cost(gateway: DatabricksGateway, cluster_id: str, catalog: PriceCatalog) -> float:
    """One cluster's catalog cost over its own events, computed here apart from the collector."""
    cluster: dict[str, Any] = gateway.get_cluster(cluster_id)
    spec = cluster["spec"]
    events = cluster_events_or_none(gateway, cluster_id) or []
    timeline = cluster_timeline(spec, events, fallback_start_ms=0, fallback_end_ms=0)
    usage = cluster_usage(timeline, spec, cloud="aws", region="us-east-1", plan="premium", input_bytes=None)
    return cost_run(usage, catalog).total


def _retried_on_a_new_cluster(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> int:
    """A run whose one task failed on a first job cluster and succeeded on a retry on a second: two
    runs of the job merged into one (the first's task as the failed attempt 0)."""
    first_run = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    retry_run = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    with emulator.workspace.store.lock:
        runs = emulator.workspace.store.data["runs"]
        failed = copy.deepcopy(runs[str(first_run)]["tasks"][0])
        failed.update({"attempt_number": 0,
                       "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "boom"},
                       "status": {"state": "TERMINATED", "termination_details": {
                           "code": "RUN_EXECUTION_ERROR", "type": "CLIENT_ERROR", "message": "boom"}}})
        retry = runs[str(retry_run)]["tasks"][0]
        retry.update({"attempt_number": 1, "original_attempt_run_id": failed["run_id"]})
        runs[str(retry_run)]["tasks"].insert(0, failed)
        runs[str(retry_run)]["start_time"] = failed["start_time"]
        del runs[str(first_run)]
        emulator.workspace.store.save()
    return retry_run


def test_a_task_retried_on_a_new_cluster_is_priced_over_both_clusters(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    catalog = load_catalog()
    run_id = _retried_on_a_new_cluster(emulator, gateway, daily.job_id)
    (piece,) = cluster_runs(gateway.get_run(run_id))
    (first_id, _, _), (last_id, _, _) = piece.instances
    assert first_id != last_id and piece.cluster_id == last_id
    both = _cluster_cost(gateway, first_id, catalog) + _cluster_cost(gateway, last_id, catalog)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=catalog)

    (run,) = collector.poll_once()

    assert "retried" in run.anomalies and run.cluster_id == last_id
    assert run.cost is not None
    assert abs(run.cost.total - both) < 1e-9  # before: the last cluster's alone (49% low)
    assert "over the run's 2 clusters (a task retried on a new cluster)" in run.cost.note

    # The last cluster's whole bill lands: re-costing must not put it in place of both clusters' cost.
    day = datetime.fromtimestamp(run.end_ms / 1000, tz=UTC).date()
    with AwsStandIn() as aws:
        aws.add_cost(CostLineItem(day, "USE1-BoxUsage:m5.xlarge", 0.05,
                                  {"Vendor": "Databricks", "ClusterId": last_id}, estimated=False))
        bills = AwsBill(AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws.endpoint_url)))
        written: list[tuple[int, CostBreakdown]] = []
        report = recost_runs([run], bills, now_ms=run.end_ms + 3 * HOUR_MS,
                             set_cost=lambda i, c: written.append((i, c)))
    assert written == [] and report.billed == report.waiting == []
    assert store.runs.get(int(run.id or 0)).cost == run.cost


def test_a_retried_run_stored_unpriced_is_priced_later_over_both_clusters(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    # The run is stored unpriced (a catalog that lacks its node type), then a newer catalog prices
    # it (`Collector._reprice`): over both clusters too, not the one its cluster_id names.
    catalog = load_catalog()
    run_id = _retried_on_a_new_cluster(emulator, gateway, daily.job_id)
    (piece,) = cluster_runs(gateway.get_run(run_id))
    node_type = str(piece.spec["node_type_id"])
    old = PriceCatalog("old-1", catalog.currency, catalog.hours_per_month,
                       {kind: tuple(e for e in rows if e.get("node_type") != node_type)
                        for kind, rows in catalog.entries.items()}, catalog.note)
    gateway_for = lambda ws: workspaces.gateway_for(store, secrets, ws)  # noqa: E731
    (unpriced,) = Collector(store, gateway_for, clock=SystemClock(), catalog=old).poll_once()
    assert unpriced.cost is None

    Collector(store, gateway_for, clock=SystemClock(), catalog=catalog).poll_once()

    priced = store.runs.get(int(unpriced.id or 0)).cost
    both = sum(_cluster_cost(gateway, cluster_id, catalog) for cluster_id, _, _ in piece.instances)
    assert priced is not None and abs(priced.total - both) < 1e-9


def test_a_task_retried_on_a_new_cluster_keeps_the_most_workers_either_cluster_had(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    """Its peak, like its cost, is over both clusters: the first collection stored the last
    cluster's alone, while re-pricing took the most of either (`peak_over_attempts`)."""
    run_id = _retried_on_a_new_cluster(emulator, gateway, daily.job_id)
    (piece,) = cluster_runs(gateway.get_run(run_id))
    (first_id, _, _), (last_id, _, _) = piece.instances
    with emulator.workspace.store.lock:
        events = emulator.workspace.store.data["events"]
        running = [e for e in events[first_id] if e["type"] == "RUNNING"]
        assert running, events[first_id]
        workers = int(running[0]["details"]["current_num_workers"])
        for event in running:  # the first cluster had three more workers up than the second
            event["details"].update(current_num_workers=workers + 3, target_num_workers=workers + 3)
        emulator.workspace.store.save()
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())

    (run,) = collector.poll_once()

    assert "retried" in run.anomalies and run.cluster_id == last_id
    assert run.peak_workers == workers + 3
    assert store.runs.get(int(run.id or 0)).peak_workers == workers + 3
