"""The spot floor is the ``first_on_demand`` the job's owner chose, recorded when their spec is known
(import, re-attach, an edit outside Trimtab), not inferred from Trimtab's apply records.

The inference (`server.plan.project_cluster.owner_first_on_demand` before the value was kept) had two
gaps: past two writes of Trimtab's over an owner's edit only a bound was left (the fewer of the last
write's and the spec it replaced), and an owner's edit of another sized field while a half-on-demand
value of Trimtab's was on the job made that value the floor. Real parts: the sandbox workspace
emulator over HTTP through the real databricks-sdk gateway, import, apply, the collector finding the
owner's edit on a run, detach and re-import; both store engines."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.apply import apply_recommendation, restore_original
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, ProjectSettings, Recommendation, Workspace
from server.plan.candidates import config_id_of, project_candidates
from server.plan.planner import plan_project
from server.plan.project_cluster import owner_first_on_demand
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, import_etl_job, run_and_collect
from tests.integration.test_write_intent_crash import _killed_after_update, _Restarted

SETTINGS = ProjectSettings(allowed_families=("m5d",), min_workers=2, max_workers=8)


def _imported(store: Store, secrets: SecretBox, gateway: DatabricksGateway, first_on_demand: int) -> Project:
    """An m5d.xlarge x 4 spot job keeping ``first_on_demand`` nodes on demand, imported as "sbx"."""
    spec = aws_cluster("m5d.xlarge", 4)
    spec["aws_attributes"]["first_on_demand"] = first_on_demand
    project = import_etl_job(store, secrets, gateway, spec)
    store.projects.update_settings(int(project.id or 0), SETTINGS)
    return store.projects.get(int(project.id or 0))


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _spot(node_type: str, workers: int, first_on_demand: int) -> ClusterConfig:
    return ClusterConfig(node_type_id=node_type, driver_node_type_id=node_type, num_workers=workers,
                         availability="SPOT_WITH_FALLBACK", first_on_demand=first_on_demand)


def _apply(store: Store, gateway: DatabricksGateway, project: Project, config: ClusterConfig) -> None:
    """Trimtab writes ``config`` to the job (a recommendation applied through the Jobs API)."""
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config))
    assert apply_recommendation(store, gateway, int(project.id or 0)).applied
    assert config_from_spec(_live(gateway, project), cloud="aws").first_on_demand == config.first_on_demand


def _owner_edits(gateway: DatabricksGateway, project: Project, **changes: Any) -> None:
    """The owner edits the job's cluster in Databricks (outside Trimtab): ``changes`` over the live spec,
    ``first_on_demand`` into its AWS attributes."""
    spec = _live(gateway, project)
    if "first_on_demand" in changes:
        spec["aws_attributes"] = {**spec["aws_attributes"], "first_on_demand": changes.pop("first_on_demand")}
    spec |= changes
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"],
                                                            project.cluster_key, spec))


def _run(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
         project: Project) -> Project:
    """A run of the job collected (confirming Trimtab's last write, or finding the owner's edit)."""
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    return store.projects.get(int(project.id or 0))


def _floor(store: Store, project: Project) -> int | None:
    """The owner's ``first_on_demand`` as the planner reads it, and checked against the candidates it
    builds: no spot candidate that may be recommended keeps fewer nodes on demand, the configurations
    the job ran on included (one below the floor is observed only: its runs still teach the model)."""
    project = store.projects.get(int(project.id or 0))
    floor = owner_first_on_demand(project, cloud="aws")
    workspace = store.workspaces.get(project.workspace)
    runs = store.runs.history(int(project.id or 0))
    pairs = project_candidates(project, workspace, load_catalog(), runs)
    spot = {cfg.first_on_demand for c, cfg in pairs if c.spot and c.allowed}
    assert spot and min(spot) == floor, (spot, floor)
    known = {c.config_id for c, _ in pairs}
    assert all(config_id_of(r.config) in known for r in runs if r.config is not None)
    return floor


def test_two_writes_over_the_owners_edit_keep_their_first_on_demand(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    project = _imported(store, secrets, gateway, 0)
    _apply(store, gateway, project, _spot("m5d.2xlarge", 4, 0))
    project = _run(store, secrets, emulator, gateway, project)
    # After losing spot nodes, the owner keeps the driver and one worker on demand.
    _owner_edits(gateway, project, first_on_demand=2)
    project = _run(store, secrets, emulator, gateway, project)
    assert project.pending_apply is None  # the collector found the edit and adopted it
    assert _floor(store, project) == 2
    # Trimtab writes twice over the edit, each time a half-on-demand variant (never under the floor).
    _apply(store, gateway, project, _spot("m5d.xlarge", 6, 3))
    project = _run(store, secrets, emulator, gateway, project)
    assert _floor(store, project) == 2
    _apply(store, gateway, project, _spot("m5d.2xlarge", 8, 4))
    project = _run(store, secrets, emulator, gateway, project)
    # Was 3: the fewer of the last write's 4 and the 3 it replaced, the bound the records left.
    assert _floor(store, project) == 2


def test_an_owners_resize_over_trimtabs_half_on_demand_write_keeps_their_floor(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    project = _imported(store, secrets, gateway, 0)
    _apply(store, gateway, project, _spot("m5d.xlarge", 6, 3))  # after losses: the driver and 2 workers
    project = _run(store, secrets, emulator, gateway, project)
    assert _floor(store, project) == 0
    # The owner resizes the cluster, leaving the 3 Trimtab wrote as it is.
    _owner_edits(gateway, project, num_workers=5)
    project = _run(store, secrets, emulator, gateway, project)
    assert project.pending_apply is None
    assert config_from_spec(project.current_spec, cloud="aws").first_on_demand == 3
    assert _floor(store, project) == 0  # was 3: Trimtab's variant became the floor


def test_an_owners_edit_of_first_on_demand_over_trimtabs_write_is_theirs(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    project = _imported(store, secrets, gateway, 0)
    _apply(store, gateway, project, _spot("m5d.xlarge", 6, 3))
    project = _run(store, secrets, emulator, gateway, project)
    _owner_edits(gateway, project, first_on_demand=1, num_workers=5)
    project = _run(store, secrets, emulator, gateway, project)
    assert _floor(store, project) == 1
    # Moved off spot by the owner: the driver stays on demand (Databricks' 1 under ON_DEMAND).
    _owner_edits(gateway, project, aws_attributes={"availability": "ON_DEMAND", "zone_id": "auto"})
    project = _run(store, secrets, emulator, gateway, project)
    assert owner_first_on_demand(project, cloud="aws") == 1


def test_a_re_attach_takes_the_first_on_demand_the_owner_set_while_detached(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    project = _imported(store, secrets, gateway, 0)
    assert _floor(store, project) == 0
    _apply(store, gateway, project, _spot("m5d.xlarge", 6, 3))
    project = _run(store, secrets, emulator, gateway, project)
    _owner_edits(gateway, project, first_on_demand=1)
    project = _run(store, secrets, emulator, gateway, project)
    assert _floor(store, project) == 1
    restore_original(store, gateway, int(project.id or 0))
    project = store.projects.get(int(project.id or 0))
    assert project.detached
    # Detached, the job is the owner's alone: they keep the driver and a worker on demand.
    _owner_edits(gateway, project, first_on_demand=2)
    workspaces.import_jobs(store, secrets, "sbx", [project.job_id], wiring=WIRING, reattach=True)
    project = store.projects.get(int(project.id or 0))
    assert not project.detached
    assert _floor(store, project) == 2  # not the 1 of their edit before the detach
    # Trimtab's two writes after the re-attach leave it (the records' bound: 3, as the edit before the
    # detach left the inference past its exact cases).
    _apply(store, gateway, project, _spot("m5d.2xlarge", 6, 3))
    project = _run(store, secrets, emulator, gateway, project)
    _apply(store, gateway, project, _spot("m5d.xlarge", 8, 4))
    assert _floor(store, project) == 2


def test_a_re_attach_killed_after_its_write_records_the_owners_value_when_settled(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _imported(store, secrets, gateway, 0)
    _apply(store, gateway, project, _spot("m5d.xlarge", 6, 3))
    project = _run(store, secrets, emulator, gateway, project)
    _owner_edits(gateway, project, first_on_demand=1)
    project = _run(store, secrets, emulator, gateway, project)
    restore_original(store, gateway, int(project.id or 0))
    _owner_edits(gateway, project, first_on_demand=2)
    with _killed_after_update(monkeypatch, project.job_id):
        workspaces.import_jobs(store, secrets, "sbx", [project.job_id], wiring=WIRING, reattach=True)
    assert store.projects.get(int(project.id or 0)).detached  # nothing recorded: the crash
    # The next server's poll settles the re-attach (`server.services.job_onboard.finish_onboard`).
    _Restarted(store, secrets, emulator).cycle(gateway, project.job_id)
    project = store.projects.get(int(project.id or 0))
    assert not project.detached
    assert _floor(store, project) == 2


def test_a_configuration_written_under_the_owners_raised_floor_is_observed_not_recommended(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> None:
    # The review loop's job D: Trimtab wrote x2 spot with the driver alone on demand, the owner then
    # kept the driver and two workers on demand; every recommendation wrote the 1 back ("puts 2 workers
    # back on spot (first_on_demand 3 -> 1)").
    project = _imported(store, secrets, gateway, 1)
    _apply(store, gateway, project, _spot("m5d.xlarge", 2, 1))
    project = _run(store, secrets, emulator, gateway, project)
    _owner_edits(gateway, project, first_on_demand=3)
    project = _run(store, secrets, emulator, gateway, project)
    assert _floor(store, project) == 3
    workspace = store.workspaces.get(project.workspace)
    runs = store.runs.history(int(project.id or 0))
    pairs = {c.config_id: c for c, _ in project_candidates(project, workspace, load_catalog(), runs)}
    assert not pairs["m5d.xlargex2-spot"].allowed  # its runs still teach the model
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None
    assert not rec.config.availability.upper().startswith("SPOT") or rec.config.first_on_demand >= 3, rec.config
    assert "back on spot" not in rec.reason


@pytest.mark.parametrize(("owners", "edited"), [(0, 1), (1, 2)])
def test_a_size_off_the_grid_written_under_the_floor_is_offered_at_it(
        store: Store, secrets: SecretBox, connected: Workspace, emulator: RunningWorkspace,
        gateway: DatabricksGateway, owners: int, edited: int) -> None:
    # 7 workers is no grid size (2..8: 2, 3, 4, 5, 6, 8): only the configuration the job ran on stands
    # for it. Under a floor of 1 a spot driver (0) is the same id: it is offered with the driver on
    # demand; under 2 it is observed only and its twin with a worker on demand is offered.
    project = _imported(store, secrets, gateway, owners)
    _apply(store, gateway, project, _spot("m5d.xlarge", 7, owners))
    project = _run(store, secrets, emulator, gateway, project)
    _owner_edits(gateway, project, first_on_demand=edited, num_workers=5)
    project = _run(store, secrets, emulator, gateway, project)
    assert _floor(store, project) == edited
    workspace = store.workspaces.get(project.workspace)
    runs = store.runs.history(int(project.id or 0))
    pairs = {c.config_id: (c, cfg) for c, cfg in project_candidates(project, workspace, load_catalog(), runs)}
    at_floor = config_id_of(_spot("m5d.xlarge", 7, edited))
    candidate, config = pairs[at_floor]
    assert candidate.allowed and config.first_on_demand == edited
    ran = config_id_of(_spot("m5d.xlarge", 7, owners))
    assert ran == at_floor or not pairs[ran][0].allowed
