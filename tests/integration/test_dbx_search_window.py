"""The search window moves with the job, through the workspace emulator and the collector: a job
imported on 80 cores and run on 20 (the demo's orders-etl-sla settled there, at the window's edge)
is searched below 20 cores once a run measured the 20-core cluster, and not before."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.workspace import RunningWorkspace
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.plan.candidates import project_candidates
from server.plan.planner import plan_project
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import import_etl_job, run_and_collect


def _smallest_cores(store: Store, pid: int) -> int:
    catalog = load_catalog()
    project = store.projects.get(pid)
    pairs = project_candidates(project, store.workspaces.get(project.workspace), catalog, store.runs.history(pid))
    return min(c.vcpus * c.nodes for c, _ in pairs if c.allowed)


def test_a_run_on_the_windows_edge_moves_the_window_past_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.2xlarge", "num_workers": 10}
    project = import_etl_job(store, secrets, gateway, spec)
    pid = int(project.id or 0)
    update_settings(store, str(pid), {"allowed_families": ["m5d", "c6id"], "spot_allowed": False})
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert _smallest_cores(store, pid) == 20  # 1/4 of the 80 imported
    # The job moves to 5 x c6id.xlarge (20 cores): until a run measured it, the window stays the import's.
    live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    gateway.update_job(project.job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": {
        **live, "node_type_id": "c6id.xlarge", "num_workers": 5}}]})
    _, runs = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert [r.outcome for r in runs] == ["succeeded"]
    assert _smallest_cores(store, pid) == 8  # 2 x c6id.xlarge: the first size of at least 20 / 4 = 5 cores
    rec = plan_project(store, pid, load_catalog())
    assert rec is not None and rec.reason


def test_a_run_that_missed_the_sla_does_not_move_the_window(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    """The same walk for an SLA job: the run on the 20-core cluster confirms it only within the SLA,
    else the search would walk down from a cluster already too slow. On demand: a run that lost a spot
    node confirms nothing either (the model does not learn from it)."""
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.2xlarge", "num_workers": 10,
            "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
    project = import_etl_job(store, secrets, gateway, spec)
    pid = int(project.id or 0)
    update_settings(store, str(pid), {"allowed_families": ["m5d", "c6id"], "spot_allowed": False, "sla_seconds": 1})
    live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    gateway.update_job(project.job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": {
        **live, "node_type_id": "c6id.xlarge", "num_workers": 5}}]})
    _, runs = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert [(r.outcome, r.anomalies) for r in runs] == [("succeeded", ("user_edit",))] and runs[0].runtime_s > 1
    assert _smallest_cores(store, pid) == 20  # the 20-core run missed the SLA: the import's window still
    update_settings(store, str(pid), {"sla_seconds": int(runs[0].runtime_s) + 60})
    assert _smallest_cores(store, pid) == 8  # the same run within the SLA confirms the cluster


def test_project_show_says_the_window_the_planner_searches(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, secrets: SecretBox, emulator: RunningWorkspace,
        gateway: DatabricksGateway, connected: Workspace) -> None:
    """The window `project show` prints is the server's (Project.search_window): around the import and,
    once a run measured it, the cluster the job runs on. The CLI worked it out around the current
    cluster alone ("current: 5..80 cores" here, where the planner searched 5..320)."""
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.2xlarge", "num_workers": 10}
    project = import_etl_job(store, secrets, gateway, spec)
    pid = int(project.id or 0)
    update_settings(store, str(pid), {"allowed_families": ["m5d", "c6id"], "spot_allowed": False})
    run_and_collect(store, secrets, emulator, gateway, project.job_id)

    def shown() -> str:
        code, out, err = trimtab("project", "show", str(pid))
        assert code == 0, err
        (line,) = [x.strip() for x in out.splitlines() if x.strip().startswith("search window")]
        return line.split("  ", 1)[1].split(";")[0].strip()

    assert shown() == "20..320 worker cores (4x either way of the imported 80)"
    live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    gateway.update_job(project.job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": {
        **live, "node_type_id": "c6id.xlarge", "num_workers": 5}}]})
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert _smallest_cores(store, pid) == 8  # the planner's own window: from 20 / 4 = 5 cores
    now = shown()
    assert now.startswith("5..320 worker cores (4x either way of the imported 80 and the 20 of c6id.xlarge"), now
    assert now.endswith(", the cluster the job runs on)"), now
