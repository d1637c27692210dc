"""`trimtab run list` and `run show` (and their `--json`, and the API's `Run`) say which SLA a run was
judged against and whether it met it: the SLA in force when it was collected (`Run.sla_s`), not
today's. A run collected under a 10m SLA that ran 8m met it, also after the SLA became 5m."""

from __future__ import annotations

import json
from pathlib import Path

import grpc

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import NIGHTLY_SPEC, Trimtab

START_MS = 1_750_000_000_000
DAY_MS = 86_400_000


def _add(store: Store, project: Project, n: int, runtime_s: float, sla_s: float | None, *,
         outcome: str = "succeeded", execution_only: bool = False) -> Run:
    """A run as the collector stores it: with the project's SLA when it was collected (``sla_s``)."""
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=NIGHTLY_SPEC)
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=100 + n,
                              start_ms=START_MS + n * DAY_MS, runtime_s=runtime_s, outcome=outcome, config=config,
                              setup_s=None if execution_only else 200.0, execution_only=execution_only, sla_s=sla_s))


def _story(store: Store, trimtab: Trimtab) -> tuple[Project, list[Run]]:
    """Under SLA 10m: run 1 (8m, met), run 2 (11m, missed); then `project set --sla 5m`: run 3 (4m,
    met), run 4 (6m, missed)."""
    project = store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                         current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC,
                                         settings=ProjectSettings(sla_seconds=600.0)))
    runs = [_add(store, project, 1, 480.0, 600.0), _add(store, project, 2, 660.0, 600.0)]
    code, _, err = trimtab("project", "set", str(project.id), "--sla", "5m")
    assert code == 0, err
    runs += [_add(store, project, 3, 240.0, 300.0), _add(store, project, 4, 360.0, 300.0)]
    return project, runs


def _rows(out: str) -> dict[str, str]:
    """`run list`'s rows by run id, each from the SLA column on."""
    header, _rule, *lines = out.splitlines()
    at = header.index("SLA")
    return {line.split()[0]: line[at:].split("  ")[0].strip()
            for line in lines if line.split() and line.split()[0].isdigit()}


def test_run_show_says_the_sla_then_and_that_the_run_met_it(trimtab: Trimtab, cli_store: Store) -> None:
    _, runs = _story(cli_store, trimtab)
    code, out, err = trimtab("run", "show", str(runs[0].id))
    assert code == 0, err
    assert "SLA 10m00s (then; 5m00s now): met" in out.splitlines(), out
    code, out, _ = trimtab("run", "show", str(runs[1].id))
    assert "SLA 10m00s (then; 5m00s now): missed" in out.splitlines(), out
    # A run of today's SLA names it alone.
    code, out, _ = trimtab("run", "show", str(runs[2].id))
    assert "SLA 5m00s: met" in out.splitlines(), out
    code, out, _ = trimtab("run", "show", str(runs[3].id))
    assert "SLA 5m00s: missed" in out.splitlines(), out


def test_run_list_marks_met_or_missed_and_names_an_sla_since_changed(trimtab: Trimtab, cli_store: Store) -> None:
    project, runs = _story(cli_store, trimtab)
    code, out, err = trimtab("run", "list", str(project.id))
    assert code == 0, err
    rows = _rows(out)
    assert [rows[str(r.id)] for r in runs] == ["met 10m00s", "missed 10m00s", "met", "missed"], out


def test_json_and_the_api_carry_the_sla_judged_against_and_the_verdict(trimtab: Trimtab, cli_store: Store,
                                                                       cli_server: RunningServer) -> None:
    project, runs = _story(cli_store, trimtab)
    code, out, err = trimtab("--json", "run", "show", str(runs[0].id))
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["sla_seconds"], shown["sla_met"], shown["current_sla_seconds"]) == (600.0, True, 300.0)
    code, out, _ = trimtab("--json", "run", "list", str(project.id))
    listed = {r["id"]: r for r in json.loads(out)["runs"]}
    assert [(listed[str(r.id)]["sla_seconds"], listed[str(r.id)]["sla_met"]) for r in runs] == \
        [(600.0, True), (600.0, False), (300.0, True), (300.0, False)]
    _, token = cli_store.tokens.create("reader", "admin")
    with grpc.insecure_channel(cli_server.address) as channel:
        one = admin_pb2_grpc.RunServiceStub(channel).GetRun(admin_pb2.GetRunRequest(run_id=str(runs[1].id)),
                                                             metadata=(("authorization", f"Bearer {token}"),))
    assert (one.sla_seconds, one.sla_met, one.current_sla_seconds) == (600.0, False, 300.0)


def test_unrecorded_unknown_and_no_sla(trimtab: Trimtab, cli_store: Store) -> None:
    """A run collected while the project had no SLA is judged against today's; a backfilled run within
    it is unknown (`sla_met` unset); a project that never had an SLA shows none."""
    project = cli_store.projects.add(Project(workspace="prod", job_id=43, cluster_key="main", job_name="hourly",
                                             current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC,
                                             settings=ProjectSettings(sla_seconds=300.0)))
    before = _add(cli_store, project, 1, 240.0, None)
    backfilled = _add(cli_store, project, 2, 200.0, 300.0, execution_only=True)
    code, out, err = trimtab("run", "show", str(before.id))
    assert code == 0, err
    assert "SLA 5m00s: met" in out.splitlines(), out
    code, out, _ = trimtab("run", "show", str(backfilled.id))
    assert "SLA 5m00s: unknown (runtime without setup)" in out.splitlines(), out
    code, out, _ = trimtab("--json", "run", "show", str(backfilled.id))
    assert "sla_met" not in json.loads(out) and json.loads(out)["sla_seconds"] == 300.0
    rows = _rows(trimtab("run", "list", str(project.id))[1])
    assert (rows[str(before.id)], rows[str(backfilled.id)]) == ("met", "unknown")

    bare = cli_store.projects.add(Project(workspace="prod", job_id=44, cluster_key="main", job_name="adhoc",
                                          current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))
    free = _add(cli_store, bare, 1, 240.0, None)
    code, out, _ = trimtab("run", "show", str(free.id))
    assert code == 0 and not [line for line in out.splitlines() if line.startswith("SLA")], out
    code, out, _ = trimtab("--json", "run", "show", str(free.id))
    assert not {"sla_seconds", "sla_met", "current_sla_seconds"} & set(json.loads(out))
    # Nothing to judge on the page: no SLA column at all (the table stays as narrow as it was).
    code, out, _ = trimtab("run", "list", str(bare.id))
    assert code == 0 and "SLA" not in out.splitlines()[0], out


def test_timeline_chart_draws_each_run_against_its_sla(trimtab: Trimtab, cli_store: Store, tmp_path: Path) -> None:
    """`trimtab timeline P --out` draws what the server sent (`TimelinePoint.sla_seconds`): both SLAs."""
    project, _ = _story(cli_store, trimtab)
    out_file = tmp_path / "chart.svg"
    code, _, err = trimtab("timeline", str(project.id), "--out", str(out_file))
    assert code == 0, err
    svg = out_file.read_text()
    assert 'data-sla-s="600"' in svg and 'data-sla-s="300"' in svg
    assert ">SLA 10m00s then<" in svg and ">SLA 5m00s<" in svg
