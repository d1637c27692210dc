"""`trimtab savings` and `trimtab project show` read the fields the server now sends, over real gRPC:
the runs behind a saving on both sides, and the planner's default worker maximum after a
recommendation changed the workers."""

from __future__ import annotations

import dataclasses

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run, Workspace
from server.plan.candidates import project_candidates
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import Trimtab
from tests.timeline.seed import seed

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def _line(out: str, key: str) -> str:
    (found,) = [line.strip() for line in out.splitlines() if line.strip().split("  ", 1)[0] == key]
    return found.split("  ", 1)[1].strip()


def test_the_savings_row_names_the_runs_on_both_sides(trimtab: Trimtab, cli_store: Store) -> None:
    project, _ = seed(cli_store)
    code, out, err = trimtab("savings")
    assert code == 0, err
    row = next(line for line in out.splitlines() if project.name in line and "$" in line)
    # The seed: 2 runs as found, 2 runs of the applied recommendation within the SLA.
    assert "(2 vs 2 runs, preliminary)" in row
    assert "run now" not in row


def test_a_firm_saving_names_both_sides_without_the_marker(trimtab: Trimtab, cli_store: Store) -> None:
    project = cli_store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main"))
    pid = int(project.id or 0)
    for i in range(4):
        cli_store.runs.add(Run(project_id=pid, databricks_run_id=100 + i, start_ms=(i + 1) * 86_400_000,
                               runtime_s=900, cost=CostBreakdown(total=1.0)))
    rec = cli_store.recommendations.add(dataclasses.replace(_rec(pid), state="applied"))
    for i in range(3):
        cli_store.runs.add(Run(project_id=pid, databricks_run_id=200 + i, start_ms=(i + 5) * 86_400_000,
                               runtime_s=900, cost=CostBreakdown(total=0.6), recommendation_id=rec.id))
    code, out, err = trimtab("savings", str(pid))
    assert code == 0, err
    row = next(line for line in out.splitlines() if project.name in line and "$" in line)
    assert "40% (4 vs 3 runs)" in row and "preliminary" not in row


def _rec(pid: int) -> Recommendation:
    return Recommendation(project_id=pid, config=ClusterConfig(node_type_id="m5.xlarge", num_workers=2))


@pytest.fixture
def moved(cli_store: Store, cli_server: RunningServer) -> Project:
    """A 4-worker job a recommendation moved to 20 workers (no --max-workers set)."""
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          original_spec=SPEC, current_spec={**SPEC, "num_workers": 20}))


def test_the_workers_line_after_a_recommendation_is_the_planners_default(trimtab: Trimtab, moved: Project,
                                                                        cli_store: Store) -> None:
    code, out, err = trimtab("project", "show", str(moved.id))
    assert code == 0, err
    # From the current 20 workers the CLI said 1..40; the planner searches up to max(2 x 4, 8) = 8.
    assert _line(out, "workers").startswith("1..8 (max by default")
    workspace = cli_store.workspaces.get("prod")
    candidates = project_candidates(moved, workspace, load_catalog(), [])
    # The job's own cluster (20) is always a candidate, to learn from its runs; the searched ones stop at 8.
    highest = max(c.autoscale_max or c.num_workers for cand, c in candidates
                  if cand.allowed and (c.autoscale_max or c.num_workers) != 20)
    assert highest == 8
    code, out, err = trimtab("project", "set", str(moved.id), "--min-workers", "6")
    assert code == 0, err
    assert _line(out, "workers").startswith("6..12 (max by default")  # 2 x max(4, 6)


def test_the_workers_line_falls_back_for_a_reply_without_the_field() -> None:
    from protos.trimtab.v1 import admin_pb2, common_pb2
    from server.cli.project import workers_line

    settings = admin_pb2.ProjectSettings()
    cluster = common_pb2.ClusterConfig(node_type_id="m5.xlarge", num_workers=20)
    assert workers_line(settings, cluster).startswith("1..40 (")  # an older server: the current cluster
    assert workers_line(settings, cluster, 8).startswith("1..8 (")
