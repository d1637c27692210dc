"""Runs stored before their peak workers were kept (migration 0024 left them NULL) get it when they
are priced again while Databricks still holds their cluster's events: the same events, read for the
price anyway, give the same count as at collection. A run whose cluster is gone keeps none. Through
the emulator and the real databricks-sdk, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from typing import Any

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.collect import Collector
from server.collect.collector import PRICED_ON_DEMAND_NOTE
from server.collect.usage import cluster_timeline
from server.costing.catalog import PriceCatalog, load_catalog
from server.databricks import DatabricksGateway
from server.domain import Run
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import import_etl_job, priced_collector

AUTOSCALING = aws_cluster("m5d.xlarge", autoscale=(1, 4), availability="ON_DEMAND")


def _before_0024(store: Store, run: Run, **changes: Any) -> Run:
    """``run`` as a server before migration 0024 left it: no peak workers."""
    return store.runs.update(dataclasses.replace(run, peak_workers=None, **changes))


def _peak(gateway: DatabricksGateway, cluster_id: str) -> int | None:
    """The most workers the cluster had up, read from its events as the collector reads them."""
    cluster = gateway.get_cluster(cluster_id)
    timeline = cluster_timeline(dict(cluster.get("spec") or {}), gateway.cluster_events(cluster_id),
                                fallback_start_ms=0, fallback_end_ms=0, driver_is_spot=False, cloud="aws")
    return timeline.peak_workers


def test_an_unpriced_run_priced_again_gets_its_peak_workers(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str) -> None:
    project = import_etl_job(store, secrets, gateway, AUTOSCALING)
    catalog = load_catalog()
    old = PriceCatalog("old-1", catalog.currency, catalog.hours_per_month,
                       {kind: tuple(e for e in rows if e.get("node_type") != "m5d.xlarge")
                        for kind, rows in catalog.entries.items()}, catalog.note)
    gateway_for = lambda ws: workspaces.gateway_for(store, secrets, ws)  # noqa: E731
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    (unpriced,) = Collector(store, gateway_for, clock=SystemClock(), catalog=old).poll_once()
    assert unpriced.cost is None
    _before_0024(store, unpriced)

    assert Collector(store, gateway_for, clock=SystemClock(), catalog=catalog).poll_once() == []
    priced = store.runs.get(int(unpriced.id or 0))
    assert priced.cost is not None
    assert priced.peak_workers == _peak(gateway, unpriced.cluster_id) == 4


def test_runs_priced_again_from_their_events_get_their_peak_workers_while_the_events_are_held(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str) -> None:
    project = import_etl_job(store, secrets, gateway, {**AUTOSCALING, "aws_attributes": {}})
    collector = priced_collector(store, secrets)
    collected = []
    for _ in range(3):
        gateway.run_now(project.job_id)
        assert emulator.wait_idle(60)
        collected += collector.poll_once()
    held, gone, known = collected
    assert held.cost is not None and gone.cost is not None and known.cost is not None
    # Runs an older server stored: priced with their workers on demand (migration 0013's note), no peak.
    _before_0024(store, held, cost=dataclasses.replace(held.cost, note=PRICED_ON_DEMAND_NOTE))
    # One whose cluster Databricks no longer holds (purged 30 days after it ended): nothing to read.
    _before_0024(store, gone, cluster_id="0101-000000-gone0000",
                 cost=dataclasses.replace(gone.cost, note=PRICED_ON_DEMAND_NOTE))
    # One whose peak is stored already: its collection's count stays.
    store.runs.update(dataclasses.replace(known, peak_workers=3,
                                          cost=dataclasses.replace(known.cost, note=PRICED_ON_DEMAND_NOTE)))

    assert collector.poll_once() == []  # no new run: the stored ones are priced again
    again = store.runs.get(int(held.id or 0))
    assert again.cost is not None and PRICED_ON_DEMAND_NOTE not in again.cost.note
    assert again.peak_workers == _peak(gateway, held.cluster_id) == 4
    assert again.application_ids == held.application_ids and again.message == held.message
    assert store.runs.get(int(gone.id or 0)).peak_workers is None
    assert store.runs.get(int(known.id or 0)).peak_workers == 3
