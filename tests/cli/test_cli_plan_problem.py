"""A project whose planning fails shows it in `trimtab project show` and `project list` (real gRPC
server, SQLite and PostgreSQL), until the owner fixes it and the next plan clears it; `trimtab demo`
names such a job under its summary table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from server.cli.demo import _print_summary
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.demo import DemoResult, JobSummary
from server.domain import PROBLEM_KEY, PlanProblem, Project, ProjectSettings, Run, Workspace
from server.plan.planner import Planner
from server.spec import config_from_spec
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.2xlarge", "num_workers": 12,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
AT_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
MESSAGE = ("UnknownNodeType: unknown node type 'm5.mega' on aws: the price catalog has no DBUs per hour "
           "or sizes for it")


@pytest.fixture
def cli_store(any_store: Store) -> Store:
    """The server's store on both engines (the folder's fixture is SQLite only)."""
    any_store.workspaces.add(Workspace(name="prod", host="http://x", cloud="aws", plan="premium"), "enc")
    return any_store


def _no_gateway(ws: Workspace) -> DatabricksGateway:
    raise AssertionError(f"auto-apply is off: nothing may call workspace {ws.name}")


def _run(store: Store, project: Project, n: int) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                              end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                              config=config_from_spec(SPEC)))


def _cells(out: str, header: str) -> dict[str, str]:
    """`project list`'s column ``header`` by project id, cut where the dashes under the header are
    (so a cell that is not aligned with its header reads wrong)."""
    lines = out.splitlines()
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[1])]
    headers = [lines[0][a:b].strip() for a, b in spans]
    a, b = spans[headers.index(header)]
    cells = {}
    for line in lines[2:]:
        assert line[b:b + 2].strip() == "", f"{header} spills over: {line!r}"
        cells[line[:spans[0][1]].strip()] = line[a:b].strip()
    return cells


def test_show_and_list_say_planning_failed_until_the_next_good_plan(trimtab: Trimtab, cli_store: Store) -> None:
    # The unknown driver type is saved through the store, below `project set`'s catalog check (which
    # refuses it, tests/cli/test_cli_settings_catalog.py): how a catalog update that dropped the type
    # leaves a project whose owner set it while the catalog still knew it.
    failing = cli_store.projects.add(Project(
        workspace="prod", job_id=42, cluster_key="main", job_name="nightly", current_spec=SPEC, original_spec=SPEC,
        settings=ProjectSettings(sla_seconds=2700.0, driver_node_type_id="m5.mega")))
    fine = cli_store.projects.add(Project(workspace="prod", job_id=43, cluster_key="main", job_name="hourly",
                                          current_spec=SPEC, original_spec=SPEC))
    planner = Planner(cli_store, load_catalog(), _no_gateway, clock=FakeClock(AT_MS))
    first = _run(cli_store, failing, 1)
    planner(first)  # the driver type is unknown to the price catalog: planning fails
    planner(_run(cli_store, fine, 1))

    code, out, err = trimtab("project", "show", str(failing.id))
    assert code == 0, err
    problem_lines = [line for line in out.splitlines() if line.startswith("problem")]
    assert problem_lines == [f"problem           planning after run {first.id} failed 2026-12-05 04:17 UTC: "
                             f"{MESSAGE}"], out
    assert out.splitlines().index(problem_lines[0]) == 3  # right under the phase, which it freezes
    code, out, _ = trimtab("project", "show", str(fine.id))
    assert code == 0 and "problem" not in out

    code, out, err = trimtab("--json", "project", "show", str(failing.id))
    assert code == 0, err
    # after_run_id: the run as a string, as every other run id (review revG); run_id kept for older scripts.
    assert json.loads(out)["problem"] == {"step": "plan", "run_id": first.id, "at_ms": AT_MS,
                                          "message": MESSAGE, "after_run_id": str(first.id)}

    code, out, err = trimtab("project", "list")
    assert code == 0
    assert _cells(out, "PHASE") == {str(failing.id): "learning (planning failed)", str(fine.id): "monitoring"}
    assert _cells(out, "SLA") == {str(failing.id): "45m00s", str(fine.id): "-"}
    assert err.strip() == (f"planning or auto-apply is failing for project(s) {failing.id}: "
                           "`trimtab project show <id>` says why")
    code, out, _ = trimtab("--json", "project", "list")
    assert [p.get("problem", {}).get("step") for p in json.loads(out)] == ["plan", None]

    # A mistyped fix is refused at once and changes nothing ...
    code, out, err = trimtab("project", "set", str(failing.id), "--driver-type", "m5.xlage")
    assert code == 2 and "'m5.xlage' is not an aws node type in the price catalog (close: m5.xlarge" in err
    assert cli_store.projects.get(int(failing.id or 0)).settings.driver_node_type_id == "m5.mega"
    # ... and the owner lets Trimtab choose the driver; the next run is planned and the problem is gone.
    code, out, err = trimtab("project", "set", str(failing.id), "--driver-type", "auto")
    assert code == 0, err
    planner(_run(cli_store, failing, 2))
    assert PROBLEM_KEY not in cli_store.projects.get(int(failing.id or 0)).state
    code, out, _ = trimtab("project", "show", str(failing.id))
    assert code == 0 and "problem" not in out and "failed" not in out
    code, out, err = trimtab("project", "list")
    assert code == 0 and "failed" not in out and err == ""
    assert _cells(out, "PHASE") == {str(failing.id): "monitoring", str(fine.id): "monitoring"}


def _job(name: str, project: Project, tmp_path: Path) -> JobSummary:
    return JobSummary(
        name=name, profile="sort", project=project, runs=3, start_cost=10.0, start_runtime_s=600.0,
        final_cost=8.0, final_runtime_s=620.0, saving_fraction=0.2, projected_annual=None, runs_per_year=None,
        cadence_basis=None, sla_seconds=None, sla_met_fraction=None, phases={"learning": 3},
        timeline_png=tmp_path / f"{name}.png", timeline_html=tmp_path / f"{name}.html", terminal_timeline=name)


def test_the_demo_names_a_job_that_stopped_being_planned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem = PlanProblem("apply", 31, AT_MS, "DatabricksUnavailable: the workspace did not answer")
    stuck = Project(workspace="sandbox", job_id=1, cluster_key="main", id=1, state={PROBLEM_KEY: problem.to_json()})
    moving = Project(workspace="sandbox", job_id=2, cluster_key="main", id=2)
    result = DemoResult(jobs=(_job("orders-etl-sla", stuck, tmp_path), _job("nightly-sort-disk", moving, tmp_path)),
                        rounds_total=3, runs_ingested_completely=6, runs_simulated=6, state_dir=tmp_path)

    _print_summary(result)

    lines = capsys.readouterr().out.splitlines()
    table_end = next(i for i, line in enumerate(lines) if line.startswith("nightly-sort-disk"))
    assert lines[table_end + 1] == ("orders-etl-sla: auto-apply after run 31 failed 2026-12-05 04:17 UTC: "
                                    "DatabricksUnavailable: the workspace did not answer")
    assert sum("failed" in line for line in lines) == 1
