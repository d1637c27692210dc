"""A project whose latest run did not succeed says so beside its latest runtime and cost (`project
show`'s "latest run" line, `project list`'s LAST RUNTIME): a cluster that never started has 0s and
$0.00, which read as a fast, free run without it (real gRPC server, SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from server.domain import Project, Run, Workspace
from server.spec import config_from_spec
from server.store import Store
from tests.cli.conftest import Trimtab
from tests.cli.test_cli_plan_problem import _cells

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.2xlarge", "num_workers": 4,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


@pytest.fixture
def cli_store(any_store: Store) -> Store:
    any_store.workspaces.add(Workspace(name="prod", host="http://x", cloud="aws", plan="premium"), "enc")
    return any_store


def _project(store: Store, job_id: int) -> Project:
    return store.projects.add(Project(workspace="prod", job_id=job_id, cluster_key="main", job_name=f"job{job_id}",
                                      current_spec=SPEC, original_spec=SPEC))


def _run(store: Store, project: Project, n: int, outcome: str, runtime_s: float,
         anomalies: tuple[str, ...] = ()) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                              end_ms=n * 86_400_000 + int(runtime_s * 1000), runtime_s=runtime_s, outcome=outcome,
                              config=config_from_spec(SPEC), anomalies=anomalies))


def test_a_latest_run_that_never_started_is_named_failed_beside_its_0s(trimtab: Trimtab, cli_store: Store) -> None:
    broken = _project(cli_store, 42)
    _run(cli_store, broken, 1, "succeeded", 1500.0)
    _run(cli_store, broken, 2, "failed", 0.0, ("launch_failed",))
    fine = _project(cli_store, 43)
    _run(cli_store, fine, 1, "failed", 900.0, ("failure",))
    _run(cli_store, fine, 2, "succeeded", 1200.0)

    code, out, err = trimtab("project", "show", str(broken.id))
    assert code == 0, err
    assert [line.split(None, 2)[2] for line in out.splitlines() if line.startswith("latest run ")] == \
        ["failed: launch_failed"], out
    code, out, err = trimtab("project", "show", str(fine.id))
    assert code == 0, err
    assert not [line for line in out.splitlines() if line.startswith("latest run ")], out

    code, out, err = trimtab("project", "list")
    assert code == 0, err
    runtimes = _cells(out, "LAST RUNTIME")
    assert runtimes[str(broken.id)] == "0s (failed)", out
    assert runtimes[str(fine.id)] == "20m00s", out

    code, out, err = trimtab("--json", "project", "show", str(broken.id))
    assert code == 0, err
    assert '"latest_outcome": "failed: launch_failed"' in out.replace("latestOutcome", "latest_outcome"), out
