"""`run show` tells how much of a run's runtime was spent creating its cluster, over the real gRPC API."""

from __future__ import annotations

import json

from server.domain import ClusterConfig, Project, Run
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


def _run(store: Store, project: Project, n: int, setup_s: float | None) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=1_700_000_000_000,
                              runtime_s=370.0, setup_s=setup_s,
                              config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)))


def _runtime_line(out: str) -> str:
    (line,) = [x for x in out.splitlines() if x.startswith("started ")]
    return line


def test_run_show_prints_the_cluster_setup_within_the_runtime(trimtab: Trimtab, cli_store: Store) -> None:
    project = cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                             current_spec=SPEC, original_spec=SPEC))
    timed = _run(cli_store, project, 1, 235.0)
    code, out, _ = trimtab("run", "show", str(timed.id))
    assert code == 0 and "runtime 6m10s (cluster setup 3m55s), succeeded" in _runtime_line(out)
    assert _runtime_line(out).startswith("started 2023-11-14 22:13 UTC, ")  # said to be UTC, as tables' headers do
    code, out, _ = trimtab("--json", "run", "show", str(timed.id))
    assert code == 0 and json.loads(out)["setup_s"] == 235.0

    unknown = _run(cli_store, project, 2, None)
    code, out, _ = trimtab("run", "show", str(unknown.id))
    assert code == 0 and "runtime 6m10s, succeeded" in _runtime_line(out) and "setup" not in out
    code, out, _ = trimtab("--json", "run", "show", str(unknown.id))
    assert code == 0 and "setup_s" not in json.loads(out)


def test_run_list_has_a_setup_column(trimtab: Trimtab, cli_store: Store) -> None:
    project = cli_store.projects.add(Project(workspace="prod", job_id=43, cluster_key="main", job_name="hourly",
                                             current_spec=SPEC, original_spec=SPEC))
    timed, unknown = _run(cli_store, project, 11, 235.0), _run(cli_store, project, 12, None)
    code, out, _ = trimtab("run", "list", str(project.id))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["RUN", "STARTED", "(UTC)", "RUNTIME", "SETUP"]
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.split() and line.split()[0].isdigit()}
    # RUN, date, time, RUNTIME, SETUP, OUTCOME
    assert rows[str(timed.id)][3:6] == ["6m10s", "3m55s", "succeeded"]
    assert rows[str(unknown.id)][3:6] == ["6m10s", "-", "succeeded"]
