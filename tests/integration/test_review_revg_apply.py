"""Apply, revert and import as a script author drives them over gRPC (review revG), on SQLite and
PostgreSQL: a real Trimtab server on 127.0.0.1:0, the sandbox workspace emulator over HTTP, the real
collector and planner.

- F1: with auto-apply off, the recommendation planned after a settings change could not be applied
  by hand while the previous apply had no run yet (FAILED_PRECONDITION "the last apply is not
  confirmed yet", dry run too), so the next run went out on a cluster breaking the bound just set.
  A hand apply now writes over it when the settings changed since (as auto-apply does), or when
  asked (replace_unconfirmed); otherwise the refusal stays, and the dry run says the same.
- F2: an owner resizes the cluster outside Trimtab, applies Trimtab's recommendation by hand, and
  reverts it: the revert puts the owner's cluster back, and now savings read it as the owner's (not
  "original" at the baseline's cost), the revert writes no stale recommendation tag (the next run is
  attributed to none), and auto-apply stays paused for the edit (it replaced the owner's cluster at
  the next run).
- F5: a dry-run import of a job not yet a project answers Project.id "" (it read "None").
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.fernet import Fernet

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.config import ServerConfig
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Recommendation, Run
from server.onboard import RECOMMENDATION_TAG
from server.plan.planner import Planner
from server.serve import RunningServer, start_server
from server.services import workspaces
from server.services.projects import update_settings
from server.services.savings import estimate_total
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING


@dataclasses.dataclass
class Api:
    """The server, its secret box (the one its workspace's token is stored under), and stubs."""

    running: RunningServer
    secrets: SecretBox
    channel: grpc.Channel
    admin: tuple[tuple[str, str]]

    @property
    def recs(self) -> admin_pb2_grpc.RecommendationServiceStub:
        return admin_pb2_grpc.RecommendationServiceStub(self.channel)

    @property
    def projects(self) -> admin_pb2_grpc.ProjectServiceStub:
        return admin_pb2_grpc.ProjectServiceStub(self.channel)

    @property
    def runs(self) -> admin_pb2_grpc.RunServiceStub:
        return admin_pb2_grpc.RunServiceStub(self.channel)

    @property
    def workspaces(self) -> admin_pb2_grpc.WorkspaceServiceStub:
        return admin_pb2_grpc.WorkspaceServiceStub(self.channel)


@pytest.fixture
def api(store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """A real server (collection off: the test collects and plans as the server would) with the
    emulator added as workspace "sbx" under the server's own key."""
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    key = Fernet.generate_key()
    secrets = SecretBox(key)
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server",
                                        secret_key=key.decode(), collect=0), store=store)
    _, token = store.tokens.create("script", "admin")
    channel = grpc.insecure_channel(running.address)
    try:
        yield Api(running, secrets, channel, (("authorization", f"Bearer {token}"),))
    finally:
        channel.close()
        running.stop(grace=1)


def _import(store: Store, api: Api, job_id: int) -> Project:
    (imported,) = workspaces.import_jobs(store, api.secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _planner(store: Store, api: Api) -> Planner:
    return Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, api.secrets, ws))


def _cycle(store: Store, api: Api, emulator: RunningWorkspace, gateway: DatabricksGateway, project: Project) -> Run:
    """One run of the job, collected and planned as the server does (auto-apply writes when on)."""
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(120)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, api.secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    (run,) = collector.poll_once()
    _planner(store, api).after_run(run)
    return run


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _apply(api: Api, project: Project, **kw: Any) -> admin_pb2.ApplyResult:
    return api.recs.ApplyRecommendation(admin_pb2.ApplyRecommendationRequest(project=str(project.id), **kw),
                                        metadata=api.admin)


def _refused(api: Api, project: Project, **kw: Any) -> str:
    with pytest.raises(grpc.RpcError) as err:
        _apply(api, project, **kw)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, err.value.details()
    return str(err.value.details())


def test_a_hand_apply_after_a_settings_change_writes_over_an_apply_no_run_used(
        store: Store, api: Api, emulator: RunningWorkspace, gateway: DatabricksGateway, job_ids: list[int]) -> None:
    project = _import(store, api, job_ids[0])
    pid = int(project.id or 0)
    _cycle(store, api, emulator, gateway, project)  # auto-apply off: the plan waits
    first = store.recommendations.pending(pid)
    assert first is not None and first.id is not None
    done = _apply(api, project, recommendation_id=str(first.id))
    assert done.applied and done.note == ""
    assert not store.projects.get(pid).pending_apply["confirmed"]  # no run has used it

    # The owner bans the applied family and spot before any run: the server plans again under them.
    family = first.config.node_type_id.split(".")[0]
    allowed = next(f for f in ("r5d", "m5d", "c5d", "m5", "r5") if f != family
                   and any(t.startswith(f"{f}.") for t in load_catalog().node_types("aws")))
    api.projects.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
        project=str(pid), settings=admin_pb2.ProjectSettings(allowed_families=[allowed], spot_allowed=False)),
        metadata=api.admin)
    second = _planner(store, api).replan(pid)  # what the server's ProjectService does with collection on
    assert second is not None and second.state == "pending" and second.id is not None
    before = _live(gateway, project)

    # The dry run says what the apply would do: the diff, and the unconfirmed apply it replaces.
    dry = _apply(api, project, dry_run=True, recommendation_id=str(second.id))
    assert not dry.applied and dry.diff and _live(gateway, project) == before
    assert dry.note == (f"would replace recommendation {first.id}, which no run has used: the project's settings "
                        "changed since it was written")
    # As the CLI says it (the docs' `project set` then `recommendation apply`).
    code, out, err = _cli(api, store, "recommendation", "apply", project.name, "--dry-run")
    assert code == 0 and f"note: the apply {dry.note}" in out.splitlines(), (out, err)
    done = _apply(api, project, recommendation_id=str(second.id))
    assert done.applied and done.recommendation.id == str(second.id)
    assert done.note == dry.note.replace("would replace", "replaces")
    live = _live(gateway, project)
    assert live["node_type_id"].startswith(f"{allowed}.")
    assert (live.get("aws_attributes") or {}).get("availability") == "ON_DEMAND"
    assert live["custom_tags"][RECOMMENDATION_TAG] == str(second.id)
    record = store.projects.get(pid).pending_apply
    assert record["recommendation_id"] == second.id and record["previous_recommendation_id"] is None
    assert store.recommendations.get(first.id).state == "superseded"  # no run ever used it

    # Settings unchanged since: a plan from elsewhere (a run already going at the apply) waits for a
    # run of the apply, dry run included, unless the person asks.
    # Another size of it: one of the cluster the job already runs would write nothing (test_apply_already_runs).
    workers = second.config.num_workers
    third = store.recommendations.add(Recommendation(project_id=pid, reason="test", config=dataclasses.replace(
        second.config, num_workers=workers + 1 if workers < 4 else workers - 1)))
    for dry_run in (True, False):
        why = _refused(api, project, dry_run=dry_run)
        assert why.endswith(
            f"the last apply is not confirmed yet (no run has used recommendation {second.id}); the project's "
            "settings have not changed since, so the next apply waits for that run (every configuration gets "
            f"a run). To write over it now: `trimtab recommendation apply {project.name} --replace-unconfirmed` "
            "(ApplyRecommendationRequest.replace_unconfirmed)"), why
    assert store.projects.get(pid).pending_apply["recommendation_id"] == second.id
    done = _apply(api, project, replace_unconfirmed=True, recommendation_id=str(third.id))
    assert done.applied and done.note == (f"replaces recommendation {second.id}, which no run has used: asked for "
                                          "(replace_unconfirmed)")
    assert _live(gateway, project)["custom_tags"][RECOMMENDATION_TAG] == str(third.id)
    # The next run uses it and confirms it.
    run = _cycle(store, api, emulator, gateway, project)
    assert run.recommendation_id == third.id


def _cli(api: Api, store: Store, *args: str) -> tuple[int, str, str]:
    """The `trimtab` entry point against the server: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from server.cli.main import main

    _, token = store.tokens.create("cli", "admin")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--server", api.running.address, "--token", token, *args])
    return code, out.getvalue(), err.getvalue()


def _savings(api: Api, project: Project) -> admin_pb2.ProjectSavings:
    (row,) = api.projects.GetSavings(admin_pb2.GetSavingsRequest(project=str(project.id)),
                                     metadata=api.admin).projects
    return row


def _hold(api: Api, project: Project) -> str:
    return str(api.projects.GetProject(admin_pb2.GetProjectRequest(project=str(project.id)),
                                       metadata=api.admin).auto_apply_hold)


def test_a_revert_of_a_hand_apply_over_the_owners_edit_goes_back_to_the_owners_cluster(
        store: Store, api: Api, emulator: RunningWorkspace, gateway: DatabricksGateway, job_ids: list[int]) -> None:
    project = _import(store, api, job_ids[0])
    pid = int(project.id or 0)
    update_settings(store, str(pid), {"auto_apply": True})
    for _ in range(3):
        _cycle(store, api, emulator, gateway, project)

    # The owner resizes the cluster outside Trimtab, dearer than as found (keeping Trimtab's tag).
    settings = gateway.get_job(project.job_id)["settings"]
    spec = find_cluster_spec(settings, project.cluster_key) or {}
    stale = spec["custom_tags"][RECOMMENDATION_TAG]
    owners = {**spec, "num_workers": 9, "node_type_id": "r5d.2xlarge", "driver_node_type_id": "r5d.2xlarge"}
    gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, owners))
    edited = _cycle(store, api, emulator, gateway, project)
    assert "user_edit" in edited.anomalies and _hold(api, project)
    assert _savings(api, project).current_source == "user_edit"
    pending = store.recommendations.pending(pid)
    assert pending is not None  # auto-apply is paused: it waits for the owner

    # The owner applies Trimtab's recommendation by hand (the hold ends), then reverts it.
    assert _apply(api, project, recommendation_id=str(pending.id)).applied
    assert _hold(api, project) == ""
    reverted = api.recs.RevertRecommendation(admin_pb2.RevertRecommendationRequest(
        project=str(pid), recommendation_id=str(pending.id)), metadata=api.admin)
    assert reverted.applied
    live = _live(gateway, project)
    assert (live["node_type_id"], live["num_workers"]) == ("r5d.2xlarge", 9)  # the owner's cluster
    assert RECOMMENDATION_TAG not in (live.get("custom_tags") or {}), f"the stale tag {stale} was written back"

    # Savings: the owner's cluster (what their run cost), not the cluster as found at the baseline's cost.
    row = _savings(api, project)
    assert edited.cost is not None
    assert row.current_source == "user_edit" and row.user_config_since_run_id == str(edited.id)
    assert abs(row.current_cost_per_run - estimate_total(edited.cost)) < 1e-9
    assert row.current_cost_per_run != row.baseline_cost_per_run and row.projected_annual == 0.0
    # Auto-apply is paused for the edit again, as before the apply.
    assert "you edited the cluster" in _hold(api, project)

    # The next run: on the owner's cluster, attributed to no recommendation, and left alone by auto-apply.
    after = _cycle(store, api, emulator, gateway, project)
    listed = api.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(pid), page_size=1), metadata=api.admin).runs
    assert listed[0].id == str(after.id) and listed[0].recommendation_id == ""
    assert after.config is not None and (after.config.node_type_id, after.config.num_workers) == ("r5d.2xlarge", 9)
    live = _live(gateway, project)
    assert (live["node_type_id"], live["num_workers"]) == ("r5d.2xlarge", 9), "auto-apply replaced the owner's cluster"
    row = _savings(api, project)
    owner_runs = [r for r in store.runs.history(pid) if r.id in (edited.id, after.id)]
    assert row.current_source == "user_edit" and row.current_runs == 2
    assert abs(row.current_cost_per_run - statistics.fmean(
        estimate_total(r.cost) for r in owner_runs if r.cost is not None)) < 1e-9
    assert "you edited the cluster" in _hold(api, project)


def test_a_dry_run_import_sends_no_id_for_a_project_not_created(
        store: Store, api: Api, job_ids: list[int]) -> None:
    answer = api.workspaces.ImportJobs(admin_pb2.ImportJobsRequest(workspace="sbx", job_ids=[job_ids[0]],
                                                                   dry_run=True), metadata=api.admin)
    (imported,) = answer.projects
    assert imported.created and imported.project.id == ""  # it read "None"
    assert imported.project.name.startswith(f"sbx/{job_ids[0]}/") and store.projects.list() == []
