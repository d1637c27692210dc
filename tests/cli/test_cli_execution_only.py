"""A run known from its event log alone (`Run.execution_only`) says so over the gRPC API (`Run` and
`TimelinePoint`), in `--json`, and in `trimtab timeline` / `run list` / `run show`: its runtime has no
cluster setup in it, so within the SLA its verdict is unknown, not met."""

from __future__ import annotations

import json
import re

import grpc

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import NIGHTLY_SPEC, Trimtab

START_MS = 1_750_000_000_000
DAY_MS = 86_400_000
SLA_S = 22 * 60.0


def _project(store: Store) -> Project:
    """SLA 22 minutes: a backfilled 20-minute run (unknown), a backfilled 25-minute one (missed), a
    collected 21-minute one (met)."""
    project = store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                         current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC,
                                         settings=ProjectSettings(sla_seconds=SLA_S)))
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=NIGHTLY_SPEC)
    for i, (runtime, only) in enumerate([(20 * 60.0, True), (25 * 60.0, True), (21 * 60.0, False)]):
        store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=100 + i,
                           start_ms=START_MS + i * DAY_MS, runtime_s=runtime, execution_only=only, config=config,
                           setup_s=None if only else 240.0))
    return project


def test_list_runs_get_run_and_get_timeline_carry_execution_only(cli_server: RunningServer, cli_store: Store) -> None:
    project = _project(cli_store)
    _, token = cli_store.tokens.create("reader", "admin")
    auth = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(cli_server.address) as channel:
        runs = admin_pb2_grpc.RunServiceStub(channel).ListRuns(
            admin_pb2.ListRunsRequest(project=str(project.id), page_size=10), metadata=auth).runs
        one = admin_pb2_grpc.RunServiceStub(channel).GetRun(admin_pb2.GetRunRequest(run_id=runs[-1].id),
                                                             metadata=auth)
        timeline = admin_pb2_grpc.ProjectServiceStub(channel).GetTimeline(
            admin_pb2.GetTimelineRequest(project=str(project.id)), metadata=auth)
    assert [r.execution_only for r in runs] == [False, True, True]  # latest start first
    assert one.execution_only
    assert [p.execution_only for p in timeline.points] == [True, True, False]  # oldest first


def test_timeline_marks_the_unknown_verdict_and_json_has_the_field(trimtab: Trimtab, cli_store: Store) -> None:
    project = _project(cli_store)
    code, out, err = trimtab("timeline", str(project.id))
    assert code == 0, err
    # One of the three runs is unknown: 1 met of the 2 judged, and the reason named (was "2/3 met").
    assert re.search(r"SLA 22m00s: 1/2 met, 1 unknown \(runtime without setup\)", out), out
    assert "w runtime without setup" in out  # the legend names the events row's letter
    events = next(line for line in out.splitlines() if line.startswith("events"))
    assert events[len("events   "):].startswith("ww")  # the two backfilled runs, oldest first
    code, out, _ = trimtab("--json", "timeline", str(project.id))
    assert code == 0
    assert [p["execution_only"] for p in json.loads(out)["points"]] == [True, True, False]
    code, out, _ = trimtab("--json", "run", "list", str(project.id))
    assert code == 0
    assert [r["execution_only"] for r in json.loads(out)["runs"]] == [False, True, True]


def test_run_list_and_run_show_say_the_runtime_has_no_setup(trimtab: Trimtab, cli_store: Store) -> None:
    project = _project(cli_store)
    code, out, err = trimtab("run", "list", str(project.id))
    assert code == 0, err
    rows = [line for line in out.splitlines()[2:] if line.split() and line.split()[0].isdigit()]
    assert ["runtime without setup" in row for row in rows] == [False, True, True]
    backfilled = rows[-1].split()[0]
    code, out, err = trimtab("run", "show", backfilled)
    assert code == 0, err
    assert "runtime 20m00s (without cluster setup), succeeded" in out
