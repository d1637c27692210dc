"""A job on an AWS fleet node type (md-fleet.xlarge), end to end through the emulator: imported
without a warning, its run priced as the catalog prices the fleet, a recommendation made over the
fleets, applied, and the next run starts on it (Databricks, here the emulator, accepts it).

And a job whose node type the server's catalog does not price is onboarded all the same, with a
warning in the import's answer naming the type and what it means. Both store engines."""

from __future__ import annotations

import pytest

from sandbox.nodes import NODE_TYPES
from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.apply import apply_recommendation
from server.costing.catalog import PriceCatalog, load_catalog
from server.databricks import DatabricksGateway
from server.domain import ImportResult, Workspace
from server.plan.planner import plan_project
from server.services import workspace_access, workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, etl_job, priced_as, run_and_collect

FLEET = "md-fleet.xlarge"


def _import(store: Store, secrets: SecretBox, gateway: DatabricksGateway, node_type: str) -> ImportResult:
    job_id = gateway.create_job(etl_job(aws_cluster(node_type, 3, availability="ON_DEMAND"), name="fleet-etl"))
    return workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)


def test_a_fleet_job_is_priced_planned_and_its_recommendation_runs(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    result = _import(store, secrets, gateway, FLEET)
    (imported,) = result.projects
    assert not any(FLEET in w for w in result.warnings)  # the catalog prices it: nothing to warn of
    project = imported.project
    pid = int(project.id or 0)

    _, (run,) = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert run.outcome == "succeeded" and run.config is not None and run.config.node_type_id == FLEET
    assert run.cost is not None and run.cost.total > 0 and "not priced" not in run.message
    # On-demand nodes at the size's DBU rate and the fleet's price: its dearest member's (m6id.xlarge).
    catalog = load_catalog()
    node_hours = run.cost.dbus / catalog.dbus_per_hour("aws", "m5d.xlarge")
    assert node_hours > 0
    assert run.cost.compute_cost == pytest.approx(node_hours * catalog.hourly_price("aws", "us-east-1", "m6id.xlarge"))
    assert run.cost.total == pytest.approx(priced_as(gateway, store, run, {}))

    rec = plan_project(store, pid, catalog)
    assert rec is not None and rec.config.node_type_id in NODE_TYPES
    family = catalog.node_type("aws", rec.config.node_type_id).family
    # A fleet job stays on fleets of its local disks by default (imported on demand, it stays so: the
    # compute-optimised fleet is then the cheapest).
    assert family in ("md-fleet", "rd-fleet", "cd-fleet")
    assert catalog.node_type("aws", rec.config.driver_node_type_id or rec.config.node_type_id).is_fleet

    # Applied, the next run starts on it: the emulator (as Databricks) accepts the configuration.
    assert apply_recommendation(store, gateway, pid).applied
    live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    assert live is not None and live["node_type_id"] == rec.config.node_type_id
    _, (second,) = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert second.outcome == "succeeded" and second.recommendation_id == rec.id
    assert second.cost is not None and second.cost.total > 0


def _without(catalog: PriceCatalog, node_type: str) -> PriceCatalog:
    """The catalog as a server that does not know ``node_type`` has it."""
    entries = {kind: tuple(e for e in rows if e.get("node_type") != node_type) for kind, rows in catalog.entries.items()}
    return PriceCatalog("no-fleet-1", catalog.currency, catalog.hours_per_month, entries, catalog.note)


def test_a_job_on_a_node_type_the_catalog_does_not_price_is_onboarded_with_a_warning(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workspace_access._integration, "catalog", _without(load_catalog(), FLEET))
    result = _import(store, secrets, gateway, FLEET)
    (imported,) = result.projects
    assert imported.created and not result.skipped
    (warning,) = [w for w in result.warnings if FLEET in w]
    assert warning == (
        f"project {imported.project.name} (job {imported.project.job_id}, cluster 'main'): price catalog "
        f"no-fleet-1 cannot price node type '{FLEET}' (unknown node type '{FLEET}' on aws: the price catalog has "
        "no DBUs per hour or sizes for it): the job is onboarded and its runs are collected, but they are not "
        "priced and no recommendation is made for it until the server runs on a catalog that prices it "
        "(`trimtab prices show --cloud aws` lists the node types it knows)")
    # A catalog that knows the fleet but lacks one of its members cannot price it either (from the other
    # member alone it would read cheaper than the node it may launch): said so, naming the member.
    monkeypatch.setattr(workspace_access._integration, "catalog", _without(load_catalog(), "m6id.xlarge"))
    (lacking,) = [w for w in _import(store, secrets, gateway, FLEET).warnings if FLEET in w]
    assert f"cannot price node type '{FLEET}' (unknown node type 'm6id.xlarge' on aws: the price catalog has no " \
        f"on-demand price in us-east-1 (a member of fleet {FLEET}) for it)" in lacking
    # A dry run of a job on a priced type gets no such warning.
    monkeypatch.setattr(workspace_access._integration, "catalog", load_catalog())
    job_id = gateway.create_job(etl_job(aws_cluster("m5d.xlarge", 2), name="plain"))
    plain = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING, dry_run=True)
    assert plain.projects and not any("price catalog" in w for w in plain.warnings)
