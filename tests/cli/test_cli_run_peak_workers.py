"""A run's peak worker count crosses the real gRPC API (`--json run show`); unset when not known."""

from __future__ import annotations

import json

from server.domain import Project, Run, Workspace
from server.store import Store
from tests.cli.conftest import Trimtab


def test_run_show_json_carries_the_peak(trimtab: Trimtab, cli_store: Store) -> None:
    cli_store.workspaces.add(Workspace(name="prod", host="http://x", cloud="aws"), "enc")
    pid = int(cli_store.projects.add(Project(workspace="prod", job_id=2, cluster_key="etl")).id or 0)
    peaked = cli_store.runs.add(Run(project_id=pid, databricks_run_id=10, runtime_s=600.0, peak_workers=7))
    unknown = cli_store.runs.add(Run(project_id=pid, databricks_run_id=11, runtime_s=600.0))
    code, out, _ = trimtab("--json", "run", "show", str(peaked.id))
    assert code == 0, out
    assert json.loads(out)["peak_workers"] == 7
    code, out, _ = trimtab("--json", "run", "show", str(unknown.id))
    assert code == 0, out
    assert "peak_workers" not in json.loads(out)
