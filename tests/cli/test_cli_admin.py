"""project / run / app commands: tables, --json, exit codes 0/1/2 and one clear line."""

from __future__ import annotations

import json

import pytest

from server.domain import (
    AgentInfo,
    ClusterConfig,
    CostBreakdown,
    DriverPeaks,
    ExecutorStagePeak,
    IngestBatch,
    IngestEvent,
    Project,
    Run,
    Stage,
)
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


@pytest.fixture
def project(cli_store: Store) -> Project:
    p = cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                       current_spec=SPEC, original_spec=SPEC))
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)
    for i in range(3):
        cli_store.runs.add(Run(project_id=p.id, databricks_run_id=500 + i, start_ms=1_700_000_000_000 + i * 86_400_000,
                               runtime_s=2400.0 + i, config=config, cost=CostBreakdown(total=7.5 - i),
                               anomalies=("spot_loss",) if i == 1 else ()))
    return p


def test_project_list_and_show(trimtab: Trimtab, project: Project) -> None:
    code, out, _ = trimtab("project", "list")
    assert code == 0
    header, _, row = out.splitlines()[:3]
    assert header.split()[:3] == ["ID", "PROJECT", "PHASE"] and "prod/42/main" in row and "5.50" in row
    code, out, _ = trimtab("--json", "project", "list")
    [data] = json.loads(out)
    assert code == 0 and data["name"] == "prod/42/main" and data["run_count"] == 3
    code, out, _ = trimtab("project", "show", "prod/42/main")
    assert code == 0 and "nightly" in out and "m5.xlarge, 4 workers" in out


def test_project_set_changes_only_what_is_given(trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    code, out, err = trimtab("--json", "project", "set", str(project.id), "--sla", "1h30m", "--auto-apply", "on",
                             "--max-workers", "40", "--allowed-families", "m5,r5", "--spot", "off",
                             "--learning-budget", "6")
    assert code == 0, err
    settings = json.loads(out)["settings"]
    assert settings["sla_seconds"] == 5400 and settings["auto_apply"] is True
    stored = cli_store.projects.get(project.id).settings
    assert (stored.sla_seconds, stored.max_workers, stored.allowed_families, stored.spot_allowed,
            stored.learning_budget) == (5400.0, 40, ("m5", "r5"), False, 6)
    code, _, _ = trimtab("project", "set", str(project.id), "--sla", "none", "--keep-autoscaling", "on")
    stored = cli_store.projects.get(project.id).settings
    assert code == 0 and stored.sla_seconds is None and stored.keep_autoscaling and stored.max_workers == 40


@pytest.mark.parametrize(("args", "message"), [
    (("project", "set", "1", "--sla", "soon"), "not a duration"),
    (("project", "set", "1", "--auto-apply", "maybe"), "use on or off"),
    (("project", "set", "1"), "nothing to change"),
    (("project", "frobnicate"), "No such command"),
])
def test_usage_mistakes_exit_2_with_one_line(trimtab: Trimtab, project: Project, args: tuple, message: str) -> None:
    code, out, err = trimtab(*args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_failures_exit_1_with_one_line(trimtab: Trimtab, project: Project) -> None:
    code, _, err = trimtab("project", "show", "prod/42/other")
    assert code == 1 and err.strip() == "error: project 'prod/42/other' not found " \
        "(use an id or <workspace>/<job_id>/<cluster_key>) (NOT_FOUND)"
    # A value only the server can judge (the pair) is still bad input: the usage status, as the CLI's own checks.
    code, _, err = trimtab("project", "set", str(project.id), "--min-workers", "50", "--max-workers", "10")
    assert code == 2 and "INVALID_ARGUMENT" in err and len(err.strip().splitlines()) == 1
    code, _, err = trimtab("project", "list", token_arg=None)
    assert code == 2 and "no token" in err
    code, _, err = trimtab("project", "list", token_arg="tt_bad_token")
    assert code == 1 and "UNAUTHENTICATED" in err


def test_run_list_show_and_apps(trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    code, out, _ = trimtab("run", "list", str(project.id), "--limit", "2")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[0] == "RUN" and len(lines) == 5 and lines[-1].startswith("more:")
    assert "spot_loss" in out and "40m02s" in out and "40m00s" not in out
    code, out, _ = trimtab("--json", "run", "list", "prod/42/main")
    runs = json.loads(out)["runs"]
    assert [r["databricks_run_id"] for r in runs] == [502, 501, 500]  # int64 as JSON numbers
    code, out, _ = trimtab("run", "show", runs[0]["id"])
    assert code == 0 and "Databricks run 502" in out and "cost $5.50 (" in out
    assert "driver heap" not in out  # no agent data: nothing to show
    # ... and it says so, with the way to get it back (a job cluster that ended during an outage).
    assert "agent data: none" in out and f"trimtab project backfill {project.id} --eventlogs" in out
    code, out, _ = trimtab("app", "list")
    assert code == 0 and out.splitlines()[0].split()[0] == "APPLICATION"
    code, _, err = trimtab("app", "show", "nope")
    assert code == 1 and "NOT_FOUND" in err


def test_run_show_names_what_the_driver_used(trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    gib = 2**30
    app = "ctx-9"
    stage = Stage(application_id=app, stage_id=0, name="s", num_tasks=4, completion_time_ms=1000,
                  executor_peaks=(ExecutorStagePeak("driver", {"JVMHeapMemory": 2 * gib, "TotalGCTime": 800}),
                                  ExecutorStagePeak("1", {"JVMHeapMemory": 9 * gib})))
    beat = DriverPeaks(app, {"JVMHeapMemory": 3 * gib, "TotalGCTime": 1200, "ProcessTreePythonRSSMemory": gib})
    cli_store.ingest.write([IngestBatch(batch_id="b", agent=AgentInfo(agent_id="a"), events=(
        IngestEvent(app, "stage/0/0", "Stage", stage, b"s"), IngestEvent(app, "driver/x", "DriverPeaks", beat, b"d")))])
    run = cli_store.runs.add(Run(project_id=project.id, databricks_run_id=900, start_ms=1_800_000_000_000,
                                 runtime_s=600.0, application_ids=(app,)))
    code, out, _ = trimtab("run", "show", str(run.id))
    assert code == 0
    assert "driver heap peak 3.0 GiB, GC 1.2 s (0.2% of the run), Python and other processes 1.0 GiB" in out
    assert "agent data: none" not in out
    code, out, _ = trimtab("--json", "run", "show", str(run.id))
    assert json.loads(out)["driver"] == {"peak_heap_bytes": 3 * gib, "gc_ms": 1200,
                                         "peak_outside_heap_bytes": gib}
