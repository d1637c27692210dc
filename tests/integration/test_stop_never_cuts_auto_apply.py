"""A server stop that lands in the collector's auto-apply (after the plan stored the recommendation,
before jobs/update is sent) does not cut it: the apply runs through, then the collector stops. Cut, the
recommendation stayed pending with nothing to apply it later (no failure recorded to retry, the run
already planned), so the next run used the old cluster with nothing said (review owndiff, on the
change that made the collector's Databricks calls end at a stop: `server.databricks.call_stop`)."""

from __future__ import annotations

import threading
import time

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.databricks.call_stop import CallStop
from server.domain import Project, Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store


def test_a_stop_during_an_auto_apply_lets_it_finish(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway, daily: Project,
        integration_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = int(daily.id or 0)
    update_settings(store, str(pid), {"auto_apply": True})
    gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)

    def gateway_for(ws: Workspace) -> DatabricksGateway:
        return workspaces.gateway_for(store, secrets, ws)

    collector = Collector(store, gateway_for, clock=integration_clock, catalog=load_catalog(),
                          on_run_collected=Planner(store, load_catalog(), gateway_for, clock=integration_clock),
                          poll_interval_s=60.0)
    stop = CallStop()
    original = DatabricksGateway.latest_run_id
    stopped_in_apply = threading.Event()

    def stopping_latest_run_id(self: DatabricksGateway, job_id: int) -> int | None:
        # The apply's read just before it announces and writes: SIGTERM arrives now.
        if store.recommendations.pending(pid) is not None:
            stop.set()
            stopped_in_apply.set()
        return original(self, job_id)

    monkeypatch.setattr(DatabricksGateway, "latest_run_id", stopping_latest_run_id)
    thread = threading.Thread(target=collector.run_forever, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not stop.is_set() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    collector.wake()
    thread.join(60)
    assert not thread.is_alive() and stopped_in_apply.is_set()

    (rec,) = [r for r in store.recommendations.list(pid) if r.state == "applied"]
    live = config_from_spec(find_cluster_spec(gateway.get_job(daily.job_id)["settings"], daily.cluster_key))
    assert live.num_workers == rec.config.num_workers and live.node_type_id == rec.config.node_type_id
    assert store.recommendations.pending(pid) is None
