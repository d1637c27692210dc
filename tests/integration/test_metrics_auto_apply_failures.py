"""`trimtab_workspace_auto_apply_failures_total` counts every failed try of an auto-apply, the tries
again after a passing failure included, where `trimtab_workspace_projects_apply_failing` shows only
that one project is stuck: the real planner and collector (wired to the metrics as the server wires
them) against the emulator, whose fault injection fails ``jobs/update`` with a 500, on a fake clock;
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health
from prometheus_client.parser import text_string_to_metric_families

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Workspace
from server.metrics import ServerMetrics
from server.metrics_scrape import STORE_READ_EVERY_S
from server.plan import apply_retry
from server.plan.planner import Planner
from server.readiness import Readiness
from server.serve import SERVICE_NAMES
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.store import Store
from tests.metrics_scrape import Samples, value


def _exposed(metrics: ServerMetrics) -> Samples:
    _, body = metrics.exposition()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_each_failed_try_of_an_auto_apply_is_counted(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                                                     gateway: DatabricksGateway, daily: Project,
                                                     integration_clock: FakeClock,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    clock = integration_clock
    monkeypatch.setattr(apply_retry, "APPLY_RETRIES", 2)
    update_settings(store, str(daily.id), {"auto_apply": True})
    metrics = ServerMetrics(store, clock, Readiness(health.HealthServicer(), SERVICE_NAMES), collecting=True)

    def gateway_for(ws: Workspace) -> DatabricksGateway:
        return workspaces.gateway_for(store, secrets, ws)

    planner = Planner(store, load_catalog(), gateway_for, clock=clock)
    planner.on_apply_failed = metrics.auto_apply_failed  # as `server.serve` wires it
    collector = Collector(store, gateway_for, clock=clock, on_run_collected=planner, catalog=load_catalog(),
                          poll_interval_s=60, on_workspace_polled=metrics.workspace_polled)
    failures = "trimtab_workspace_auto_apply_failures_total"
    collector.poll_once()
    assert value(_exposed(metrics), failures, workspace="sbx") == 0

    emulator.inject_fault("POST", "jobs/update", job_id=daily.job_id)
    gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    collector.poll_once()  # the run is collected, planned, and its auto-apply fails: tried again later
    for _ in range(2):  # both tries again fail too, and the last gives up
        clock.advance(3600)
        collector.poll_once()
    clock.advance(3600)
    collector.poll_once()  # given up: no try, nothing counted
    clock.advance(STORE_READ_EVERY_S)
    samples = _exposed(metrics)
    assert value(samples, failures, workspace="sbx") == 3
    assert value(samples, "trimtab_workspace_projects_apply_failing", workspace="sbx") == 1
