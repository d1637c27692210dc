"""After the owner resizes the job cluster outside Trimtab (review revD F), through the real CLI and
gRPC server, the workspace emulator, the collector, the planner and auto-apply, on SQLite and
PostgreSQL:

- savings show no saving now and no projection while the job runs the owner's cluster (the latest
  Trimtab run's recommendation read as applied kept "saving now 59%" and "$76.69 projected a year"
  while the owner's cluster cost more a run than the cluster as found). Now/run is what the owner's
  runs cost (for information), saved to date keeps Trimtab's past runs, and a note says why and how
  to resume; the kept savings (`savings_kept`) are still the reference path's (`savings_from_history`);
- `project show`, `project list` (and `--json`) and the dashboard say auto-apply is paused, which
  only the recommendation's reason said."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.dashboard import pages, views
from server.databricks import DatabricksGateway
from server.domain import Run, Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.savings import estimate_total, savings_from_history
from server.services.savings_kept import get_savings
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING

Cli = Callable[..., tuple[int, str, str]]


def _cycle(store: Store, secrets: SecretBox, gateway: DatabricksGateway, emulator: RunningWorkspace,
           job_id: int) -> Run:
    """One run of the job, collected and planned as the server does (auto-apply writes the plan)."""
    catalog = load_catalog()
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=catalog)
    planner = Planner(store, catalog, lambda ws: workspaces.gateway_for(store, secrets, ws))
    gateway.run_now(job_id)
    assert emulator.wait_idle(120)
    (run,) = collector.poll_once()
    planner.after_run(run)
    return run


def _savings_json(trimtab: Cli, name: str) -> dict[str, Any]:
    code, out, err = trimtab("--json", "savings", name)
    assert code == 0, err
    (row,) = json.loads(out)["projects"]
    return row


def test_savings_and_auto_apply_after_the_owner_edits_the_cluster(
        trimtab: Cli, store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    project = imported.project
    pid, name = int(project.id or 0), project.name
    update_settings(store, str(pid), {"auto_apply": True})

    def cycle() -> Run:
        return _cycle(store, secrets, gateway, emulator, project.job_id)

    tuned = [cycle() for _ in range(4)]
    assert tuned[0].recommendation_id is None and any(r.recommendation_id is not None for r in tuned[1:])
    before = _savings_json(trimtab, name)
    assert before["current_source"] != "user_edit" and before["user_config_since_run_id"] == ""
    saved_before = before["saved_to_date"]
    code, out, _ = trimtab("project", "show", name)
    (line,) = [x for x in out.splitlines() if x.startswith("auto-apply")]
    assert code == 0 and line.split()[-1] == "on"

    # The owner resizes the cluster by hand, dearer than as found.
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key) or {}
    edited = {**spec, "num_workers": 9, "node_type_id": "r5d.2xlarge", "driver_node_type_id": "r5d.2xlarge"}
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"],
                                                            project.cluster_key, edited))
    first, second = cycle(), cycle()
    assert "user_edit" in first.anomalies and "user_edit" not in second.anomalies

    # Savings: no saving now nor projection; now/run is what the owner's runs cost; saved to date kept.
    row = _savings_json(trimtab, name)
    owner = [r for r in store.runs.history(pid) if r.id in (first.id, second.id)]
    assert all(r.cost is not None for r in owner)
    owner_cost = statistics.fmean(estimate_total(r.cost) for r in owner if r.cost is not None)
    assert row["current_source"] == "user_edit"
    assert row["user_config_since_run_id"] == str(first.id)
    assert row["projected_annual"] == 0.0
    assert row["current_runs"] == 2
    assert abs(row["current_cost_per_run"] - owner_cost) < 1e-9
    assert row["current_cost_per_run"] > row["baseline_cost_per_run"]  # the owner's cluster is dearer
    assert abs(row["saved_to_date"] - saved_before) < 1e-9
    code, out, err = trimtab("savings", name)
    assert code == 0, err
    (table_row,) = [line for line in out.splitlines() if line.split()[:2] == [str(pid), name]]
    assert " 0% (" in table_row and "your edit (2)" in table_row
    assert (f"{name}: the job runs a cluster you set outside Trimtab since run {first.id}: no saving now nor "
            "projection") in out
    assert f"`trimtab recommendation apply {name}` resumes" in out
    # The kept savings are the reference path's, to the last bit.
    assert get_savings(store) == savings_from_history(store)
    (kept,) = get_savings(store, name).projects
    assert kept.saving_fraction == 0.0 and kept.current_source == "user_edit"

    # Auto-apply: paused, in project show, project list (and --json) and the dashboard.
    code, out, err = trimtab("project", "show", name)
    assert code == 0, err
    (line,) = [x for x in out.splitlines() if x.startswith("auto-apply")]
    assert "on (paused: you edited the cluster (" in line and f"before run {first.id} of " in line
    assert "auto-apply is paused" not in line
    code, out, err = trimtab("--json", "project", "show", name)
    hold = json.loads(out)["auto_apply_hold"]
    assert code == 0 and f"before run {first.id} of " in hold and "recommendation apply" in hold
    code, out, err = trimtab("project", "list")
    assert code == 0 and "on (paused)" in out and f"auto-apply is paused for project(s) {pid}" in err
    code, out, _ = trimtab("--json", "project", "list")
    (listed,) = json.loads(out)
    assert listed["auto_apply_hold"] == hold  # the listing's one read of the runs says what show says
    page = pages.project_page(views.project_page(store, pid))
    assert 'id="auto-apply-hold"' in page and "on (paused: you edited the cluster (" in page
    assert "(auto-apply paused)" in pages.projects_page(views.project_rows(store))

    # The owner applies by hand: Trimtab's cluster is back, the hold ends, and savings no longer say user_edit.
    assert apply_recommendation(store, gateway, pid).applied
    row = _savings_json(trimtab, name)
    assert row["current_source"] != "user_edit" and row["user_config_since_run_id"] == ""
    code, out, _ = trimtab("--json", "project", "show", name)
    assert code == 0 and json.loads(out)["auto_apply_hold"] == ""
    code, out, err = trimtab("project", "list")
    assert code == 0 and "paused" not in out + err
    assert "(auto-apply paused)" not in pages.projects_page(views.project_rows(store))
    assert get_savings(store) == savings_from_history(store)
