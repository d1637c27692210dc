"""The user review's project and recommendation findings, through the real CLI, gRPC server, the
workspace emulator, the collector and the planner, on SQLite and PostgreSQL: revert is idempotent
and what it turned down is not brought back; worker bounds are refused when they hold no worker;
an unknown workspace is NOT_FOUND; a second apply says the recommendation is already applied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation, Run, Workspace
from server.onboard import RECOMMENDATION_TAG
from server.plan.candidates import REJECTED_KEY, config_id_of, project_candidates
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING

Cli = Callable[..., tuple[int, str, str]]
START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC


def _cli_import(trimtab: Cli, store: Store, job_id: int) -> Project:
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0 and "created" in out, err
    (project,) = [p for p in store.projects.list("sbx") if p.job_id == job_id]
    return project


def _import(store: Store, secrets: SecretBox, job_id: int) -> Project:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _recommend(store: Store, project: Project) -> Recommendation:
    config = ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2, availability="ON_DEMAND", first_on_demand=1)
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))


def test_a_second_revert_is_refused_and_leaves_the_job_on_the_previous_configuration(
        trimtab: Cli, store: Store, gateway: DatabricksGateway, cli_workspace: str, job_ids: list[int]) -> None:
    project = _cli_import(trimtab, store, job_ids[0])
    original = _live(gateway, project)
    assert original["num_workers"] == 4

    code, _, err = trimtab("recommendation", "apply", project.name)
    assert code == 1 and "has no recommendation yet" in err and "NOT_FOUND" in err
    rec = _recommend(store, project)
    code, out, _ = trimtab("recommendation", "apply", project.name)
    assert code == 0 and f"applied recommendation {rec.id}" in out and _live(gateway, project)["num_workers"] == 2

    # A second apply says what is true: this one is on the job already, and how to go back.
    code, _, err = trimtab("recommendation", "apply", project.name)
    (line,) = err.strip().splitlines()
    assert code == 1 and f"recommendation {rec.id} is already applied (applied at 20" in line
    assert "no run has used it yet" in line and f"`trimtab recommendation revert {project.name}` goes back" in line
    assert "FAILED_PRECONDITION" in line

    code, out, _ = trimtab("recommendation", "revert", project.name)
    assert code == 0 and "reverted" in out
    assert _live(gateway, project) == original

    # Again: refused (dry run or not), and the job stays on the configuration before the apply.
    for extra in ((), ("--dry-run",)):
        code, out, err = trimtab("recommendation", "revert", project.name, *extra)
        assert code == 1 and out == "" and "FAILED_PRECONDITION" in err
        assert "nothing to revert: the last apply was already reverted" in err
    live = _live(gateway, project)
    assert live == original and (live.get("custom_tags") or {}).get(RECOMMENDATION_TAG) != str(rec.id)
    assert store.recommendations.get(int(rec.id or 0)).state == "reverted"
    stored = store.projects.get(int(project.id or 0))
    assert stored.current_spec == original and stored.state[REJECTED_KEY] == [config_id_of(rec.config)]

    code, _, err = trimtab("recommendation", "apply", project.name)
    assert code == 1 and f"recommendation {rec.id} was reverted" in err and "FAILED_PRECONDITION" in err


def test_after_a_revert_runs_are_not_the_rejected_recommendation_and_auto_apply_does_not_bring_it_back(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    from server.apply import apply_recommendation, revert

    project = _import(store, secrets, job_ids[0])
    pid = int(project.id or 0)
    update_settings(store, str(pid), {"auto_apply": True})
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws),
                      clock=FakeClock(START_MS))

    def run() -> Run:
        gateway.run_now(project.job_id)
        assert emulator.wait_idle(60)
        (collected,) = collector.poll_once()
        return collected

    rec = _recommend(store, project)
    apply_recommendation(store, gateway, pid)
    on_rec = run()
    assert on_rec.recommendation_id == rec.id  # confirms the apply
    revert(store, gateway, pid)
    after = run()  # started after the revert: the configuration before the apply, not Trimtab's
    assert after.recommendation_id is None and after.config is not None
    assert config_id_of(after.config) != config_id_of(rec.config)

    planned = planner.after_run(after)  # plans anew, with auto-apply on
    assert planned is not None and store.projects.get(pid).problem is None
    assert config_id_of(planned.config) != config_id_of(rec.config)
    live = _live(gateway, project)
    assert config_id_of(config_from_spec(live)) != config_id_of(rec.config)
    assert (live.get("custom_tags") or {}).get(RECOMMENDATION_TAG) != str(rec.id)
    # The rejected configuration's run still teaches the model, but it is never a choice.
    candidates = {c.config_id: c for c, _ in project_candidates(
        store.projects.get(pid), connected, load_catalog(), store.runs.history(pid))}
    assert not candidates[config_id_of(rec.config)].allowed


def test_worker_bounds_without_a_worker_are_refused_naming_the_option(
        trimtab: Cli, store: Store, cli_workspace: str, job_ids: list[int]) -> None:
    project = _cli_import(trimtab, store, job_ids[0])
    # No worker at all: the CLI refuses it before calling (the server refuses it too: tests/plan).
    for option in ("--max-workers", "--min-workers"):
        code, _, err = trimtab("project", "set", project.name, option, "0")
        assert code == 2 and f"Invalid value for '{option}': '0': give a whole number from 1 to 10000" in err, err
    code, _, err = trimtab("project", "set", project.name, "--min-workers", "6", "--max-workers", "3")
    (line,) = err.strip().splitlines()
    assert code == 2 and "INVALID_ARGUMENT" in line and "--max-workers" in line, line
    settings = store.projects.get(int(project.id or 0)).settings
    assert (settings.min_workers, settings.max_workers) == (None, None)  # nothing saved
    code, _, err = trimtab("project", "set", project.name, "--min-workers", "3")
    assert code == 0
    code, _, err = trimtab("project", "set", project.name, "--max-workers", "2")
    assert code == 2 and "2 is below min_workers 3" in err
    code, out, _ = trimtab("project", "set", project.name, "--max-workers", "3")
    assert code == 0 and "3..3" in out


def test_project_list_of_an_unknown_workspace_is_not_found(
        trimtab: Cli, store: Store, cli_workspace: str, job_ids: list[int]) -> None:
    code, out, err = trimtab("project", "list", "--workspace", "nope")
    assert code == 1 and out == "" and err.strip() == "error: workspace 'nope' not found (NOT_FOUND)"
    code, out, _ = trimtab("project", "list", "--workspace", "sbx")
    assert code == 0 and out.startswith("ID") and "sbx/" not in out  # connected, no project yet: the header
    project = _cli_import(trimtab, store, job_ids[0])
    code, out, _ = trimtab("project", "list", "--workspace", "sbx")
    assert code == 0 and project.name in out
