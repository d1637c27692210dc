"""A spot candidate is of the owner's spot kind (SPOT, SPOT_WITH_FALLBACK), recorded when their spec is
known (import, re-attach, an edit outside Trimtab), not read from the live cluster (review spot, finding 1).

Read from the live cluster, an ON_DEMAND write of Trimtab's (after spot losses) made every later spot
candidate SPOT_WITH_FALLBACK: an owner's pure SPOT (no fallback to on demand) was lost with no word of
it, while their first_on_demand was kept. Real parts: the sandbox workspace emulator over HTTP through
the real databricks-sdk gateway, import, apply, the collector; both store engines; AWS and Azure."""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION, aws_cluster
from server.apply import apply_recommendation
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, ProjectSettings, Recommendation, Workspace
from server.plan.candidates import project_candidates
from server.plan.planner import plan_project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING, etl_job, import_etl_job, run_and_collect


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _apply(store: Store, gateway: DatabricksGateway, project: Project, config: ClusterConfig) -> None:
    """Trimtab writes ``config`` to the job (a recommendation applied through the Jobs API)."""
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="test", config=config))
    assert apply_recommendation(store, gateway, int(project.id or 0)).applied


def _spot_candidates(store: Store, project: Project) -> list[ClusterConfig]:
    """The spot configurations the planner may recommend the project now (its runs collected)."""
    project = store.projects.get(int(project.id or 0))
    workspace = store.workspaces.get(project.workspace)
    pairs = project_candidates(project, workspace, load_catalog(), store.runs.history(int(project.id or 0)))
    spot = [cfg for c, cfg in pairs if c.spot and c.allowed]
    assert spot
    return spot


def _on_demand(node_type: str, workers: int) -> ClusterConfig:
    return ClusterConfig(node_type_id=node_type, driver_node_type_id=node_type, num_workers=workers,
                         availability="ON_DEMAND", first_on_demand=1)


def _spot_pick(spot: list[ClusterConfig], node_type: str) -> ClusterConfig:
    return next(c for c in spot if c.node_type_id == node_type and c.autoscale_max == 0)


def test_an_owners_pure_spot_stays_pure_after_trimtabs_on_demand_write(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    # The review's job: r5d.xlarge x 6, SPOT (no fallback), the driver on spot too.
    spec = aws_cluster("r5d.xlarge", 6, availability="SPOT")
    spec["aws_attributes"]["first_on_demand"] = 0
    project = import_etl_job(store, secrets, gateway, spec)
    store.projects.update_settings(int(project.id or 0), ProjectSettings(allowed_families=("r5d",), min_workers=2,
                                                                         max_workers=8))
    # After spot losses Trimtab moved the job on demand.
    _apply(store, gateway, project, _on_demand("r5d.xlarge", 6))
    assert _live(gateway, project)["aws_attributes"]["availability"] == "ON_DEMAND"
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    spot = _spot_candidates(store, project)
    # Was {"SPOT_WITH_FALLBACK"}: the live cluster's ON_DEMAND read as "a job on demand".
    assert {c.availability for c in spot} == {"SPOT"}
    assert {c.first_on_demand for c in spot} == {0}
    _apply(store, gateway, project, _spot_pick(spot, "r5d.xlarge"))
    attrs = _live(gateway, project)["aws_attributes"]
    assert (attrs["availability"], attrs["first_on_demand"]) == ("SPOT", 0)


def test_an_owners_edit_of_the_spot_kind_is_theirs(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    project = import_etl_job(store, secrets, gateway, aws_cluster("m5d.xlarge", 4, availability="SPOT"))
    store.projects.update_settings(int(project.id or 0), ProjectSettings(allowed_families=("m5d",), min_workers=2,
                                                                         max_workers=8))
    _apply(store, gateway, project, _on_demand("m5d.xlarge", 4))
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert {c.availability for c in _spot_candidates(store, project)} == {"SPOT"}
    # The owner puts the job back on spot, with fallback this time: their new choice.
    live = _live(gateway, project)
    live["aws_attributes"] = {**live["aws_attributes"], "availability": "SPOT_WITH_FALLBACK"}
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"],
                                                            project.cluster_key, live))
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert store.projects.get(int(project.id or 0)).pending_apply is None  # the collector adopted the edit
    # Trimtab moves it on demand again: the owner's fallback stays theirs.
    _apply(store, gateway, project, _on_demand("m5d.xlarge", 4))
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert {c.availability for c in _spot_candidates(store, project)} == {"SPOT_WITH_FALLBACK"}


def test_azure_spot_without_fallback_and_its_cap_come_back_after_an_on_demand_write(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "az", emulator.host, emulator.token, "azure")
    # Capped below D4s_v5's on-demand price (0.192 $/h in eastus).
    spec = {"spark_version": SPARK_VERSION, "node_type_id": "Standard_D4s_v5", "num_workers": 4,
            "azure_attributes": {"availability": "SPOT_AZURE", "first_on_demand": 1, "spot_bid_max_price": 0.1},
            "cluster_log_conf": LOG_CONF}
    job_id = gateway.create_job(etl_job(spec, "az-etl"))
    (imported,) = workspaces.import_jobs(store, secrets, "az", [job_id], wiring=WIRING).projects
    project = imported.project
    store.projects.update_settings(int(project.id or 0), ProjectSettings(allowed_families=("Dsv5",), min_workers=2,
                                                                         max_workers=8))
    _apply(store, gateway, project, _on_demand("Standard_D4s_v5", 4))
    assert _live(gateway, project)["azure_attributes"]["availability"] == "ON_DEMAND_AZURE"
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    spot = _spot_candidates(store, project)
    assert {c.availability for c in spot} == {"SPOT"}  # was SPOT_WITH_FALLBACK
    _apply(store, gateway, project, _spot_pick(spot, "Standard_D4s_v5"))
    attrs = _live(gateway, project)["azure_attributes"]
    # The owner's cap is a price of the node type it was set for: back on it, it is theirs again.
    assert (attrs["availability"], attrs["spot_bid_max_price"]) == ("SPOT_AZURE", 0.1)


def test_a_recommendation_onto_spot_for_a_job_imported_on_demand_says_so(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    project = import_etl_job(store, secrets, gateway, aws_cluster("m5d.xlarge", 4, availability="ON_DEMAND"))
    assert not project.settings.spot_allowed  # imported so (the owner runs it on demand)
    # The owner allows spot (`trimtab project set P --spot on`); a run of the job as found is collected.
    store.projects.update_settings(int(project.id or 0), ProjectSettings(allowed_families=("m5d",), min_workers=4,
                                                                         max_workers=4, auto_apply=True))
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None and rec.config.availability == "SPOT_WITH_FALLBACK", rec
    # Was a reason of learning alone ("learning run 1/3: m5d.2xlarge x 2 workers, spot is ...").
    assert rec.reason.startswith("more nodes on spot: m5d.xlarge x 4 workers runs every node on demand, "), rec.reason
