"""`run show` and `run list` say why a run failed, in Databricks' words, over the real gRPC API."""

from __future__ import annotations

import json

from server.domain import ClusterConfig, Project, Run
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}
WHY = ('Cluster validation error: Validation failed for num_workers, the value must be at most 2 (is "4")')


def _run(store: Store, project: Project, n: int, outcome: str, message: str) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=1_700_000_000_000,
                              runtime_s=370.0, outcome=outcome, message=message,
                              config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)))


def _project(store: Store, job_id: int) -> Project:
    return store.projects.add(Project(workspace="prod", job_id=job_id, cluster_key="main", job_name="nightly",
                                      current_spec=SPEC, original_spec=SPEC))


def test_run_show_prints_why_a_run_failed(trimtab: Trimtab, cli_store: Store) -> None:
    project = _project(cli_store, 42)
    failed = _run(cli_store, project, 1, "failed", WHY)
    code, out, _ = trimtab("run", "show", str(failed.id))
    assert code == 0, out
    lines = out.splitlines()
    started = next(i for i, x in enumerate(lines) if x.startswith("started "))
    # No recommendation: a run of the cluster as found, the timeline's baseline (`server.timeline.phase_shown`).
    assert ", failed, phase baseline" in lines[started]
    assert lines[started + 1] == f"why: {WHY}"  # right under the outcome
    code, out, _ = trimtab("--json", "run", "show", str(failed.id))
    assert code == 0 and json.loads(out)["message"] == WHY

    ok = _run(cli_store, project, 2, "succeeded", "")
    code, out, _ = trimtab("run", "show", str(ok.id))
    assert code == 0 and "why" not in out
    code, out, _ = trimtab("--json", "run", "show", str(ok.id))
    assert code == 0 and json.loads(out)["message"] == ""  # every field is in --json, empty ones too


def test_run_list_cuts_the_reason_into_the_outcome_column(trimtab: Trimtab, cli_store: Store) -> None:
    project = _project(cli_store, 43)
    long_why = "Init script failure: " + "x" * 480
    failed = _run(cli_store, project, 11, "failed", WHY)
    canceled = _run(cli_store, project, 12, "canceled", long_why)
    ok = _run(cli_store, project, 13, "succeeded", "")
    code, out, _ = trimtab("run", "list", str(project.id))
    assert code == 0, out
    lines = out.splitlines()
    header = lines[0]
    col = header.index("OUTCOME")
    rows = {line.split()[0]: line for line in lines[2:] if line.split() and line.split()[0].isdigit()}
    assert rows[str(failed.id)][col:].startswith("failed: Cluster validation error: Validation failed for num_wor…")
    assert rows[str(canceled.id)][col:].startswith("canceled: Init script failure: xxx")
    assert rows[str(ok.id)][col:].startswith("succeeded ")
    # The column is cut to fit: a 500-character message does not stretch the table.
    assert max(len(x) for x in lines) < 160
    assert "x" * 60 not in out and long_why not in out
    # The columns after it still line up under their headers.
    phase = header.index("PHASE")
    assert all(r[phase:].startswith("baseline") for r in rows.values())
