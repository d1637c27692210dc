"""The search window follows the evidence: a job imported on 80 cores that does well on 20 is offered
fewer than 20 once it has run there (the window was 1/4..4x the cores as imported, for good), and the
project's own bounds still hold inside the wider window."""

from __future__ import annotations

import dataclasses

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.plan.candidates import Pricing, build_candidates, config_id_of, project_candidates
from server.plan.planner import plan_project
from server.plan.policy import ClusterPolicy
from server.plan.pools import PoolBacking
from server.plan.search_window import edge_note, measured_live, plan_edge_note, search_window
from server.spec import config_from_spec

# The demo's orders-etl-sla as imported: 10 x m5d.2xlarge, 80 worker cores.
SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "m5d.2xlarge",
    "num_workers": 10,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
}
FAMILIES = ("m5d", "r5d", "m6id", "r6id", "c6id")
SLA_S = 480.0
PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")


SETUP_S = 180.0
IMPORTED = config_from_spec(SPEC)
C6_5 = ClusterConfig(node_type_id="c6id.xlarge", driver_node_type_id="m5d.2xlarge", num_workers=5,
                     availability="ON_DEMAND", first_on_demand=1)


def _cores(config: ClusterConfig) -> int:
    return load_catalog().node_type("aws", config.node_type_id).vcpus * (config.num_workers or config.autoscale_max)


def _execution_s(config: ClusterConfig) -> float:
    """~2000 core-seconds of work over 60 s fixed: 160 s on 20 cores, 227 s on 12 (with setup inside the SLA)."""
    return 60.0 + 2000.0 / _cores(config)


def _collect(store, project: Project, n: int, config: ClusterConfig, rec_id: int | None = None) -> None:
    runtime = SETUP_S + _execution_s(config)
    store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                       end_ms=n * 86_400_000 + int(runtime * 1000), runtime_s=runtime, setup_s=SETUP_S,
                       outcome="succeeded", config=config, recommendation_id=rec_id))


def _move(store, project: Project, config: ClusterConfig) -> Project:
    spec = {**SPEC, "node_type_id": config.node_type_id, "num_workers": config.num_workers,
            "driver_node_type_id": config.driver_node_type_id}
    return store.projects.update(dataclasses.replace(store.projects.get(int(project.id or 0)), current_spec=spec))


def test_a_job_settled_at_a_quarter_of_its_imported_cores_is_offered_smaller_clusters(store) -> None:
    """The demo's orders-etl-sla: imported on 80 cores, it settled on c6id.xlarge x 5 (20 cores, the
    window's edge) and stayed there for good while 12 cores met the SLA at less cost."""
    catalog = load_catalog()
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(
                                             sla_seconds=SLA_S, auto_apply=True, learning_budget=3,
                                             spot_allowed=False, allowed_families=FAMILIES)))
    _collect(store, project, 1, IMPORTED)
    project = _move(store, project, C6_5)
    for n in range(2, 6):
        _collect(store, project, n, C6_5)
    recs = []
    for n in range(6, 14):
        rec = plan_project(store, int(project.id or 0), catalog)
        assert rec is not None
        recs.append(rec)
        project = _move(store, project, rec.config)
        _collect(store, project, n, rec.config, rec.id)
    moves = [(config_id_of(r.config), r.phase, r.reason[:200]) for r in recs]
    # Anchored on the import alone no candidate had fewer than 80 / 4 = 20 cores, whatever the runs said.
    assert _cores(recs[0].config) < 20, moves
    final = recs[-1]
    assert final.phase == "optimizing" and _cores(final.config) < 20, moves
    assert SETUP_S + _execution_s(final.config) <= SLA_S
    # The smaller cluster the search reached is cheaper per run than the 20-core one it left.
    price = {c.config_id: c.price_per_hour for c, _ in build_candidates(
        final.config, ProjectSettings(spot_allowed=False, allowed_families=FAMILIES), catalog, PRICING,
        anchor=IMPORTED, tried=[C6_5], live_measured=True)}
    cost = {config_id_of(cfg): price[config_id_of(cfg)] * (SETUP_S + _execution_s(cfg)) for cfg in (final.config, C6_5)}
    assert cost[config_id_of(final.config)] < cost[config_id_of(C6_5)], moves




def _new(pairs: list) -> list[ClusterConfig]:
    return [cfg for c, cfg in pairs if c.allowed]


def test_the_measured_live_cluster_widens_the_window_but_the_projects_bounds_still_hold() -> None:
    catalog = load_catalog()
    free = ProjectSettings(spot_allowed=False, allowed_families=FAMILIES)
    before = _new(build_candidates(C6_5, free, catalog, PRICING, anchor=IMPORTED))
    assert min(_cores(c) for c in before) == 20  # 1/4 of the imported 80 cores, until the job has run on C6_5
    after = _new(build_candidates(C6_5, free, catalog, PRICING, anchor=IMPORTED, live_measured=True))
    assert min(_cores(c) for c in after) == 8  # c6id.xlarge x 2: the first size of at least 20 / 4 = 5 cores
    assert max(_cores(c) for c in after) == max(_cores(c) for c in before)  # the top is the default max's
    # min_workers, max_workers and the families hold inside the wider window.
    bounded = ProjectSettings(spot_allowed=False, allowed_families=("c6id", "m5d"), min_workers=3, max_workers=6)
    kept = _new(build_candidates(C6_5, bounded, catalog, PRICING, anchor=IMPORTED, live_measured=True))
    assert kept and all(3 <= c.num_workers <= 6 for c in kept)
    assert {catalog.node_type("aws", c.node_type_id).family for c in kept} <= {"c6id", "m5d"}
    assert min(_cores(c) for c in kept) == 12  # c6id.xlarge x 3: min_workers, not the window, is the floor
    # Only a successful run on the live cluster's workers makes it a centre; one out of memory is no evidence.
    ok = Run(project_id=1, databricks_run_id=1, start_ms=0, end_ms=1, runtime_s=1.0, outcome="succeeded", config=C6_5)
    oom = dataclasses.replace(ok, anomalies=("repaired", "out_of_memory"))
    failed = dataclasses.replace(ok, outcome="failed")
    assert measured_live(C6_5, [(oom, C6_5), (failed, C6_5), (ok, IMPORTED)]) is None
    assert measured_live(C6_5, [(ok, C6_5)]) == C6_5


def test_the_reason_says_when_the_pick_is_at_the_edge_of_the_window() -> None:
    catalog = load_catalog()
    settings = ProjectSettings(spot_allowed=False, allowed_families=FAMILIES)
    window = search_window(IMPORTED, settings, catalog, "aws")
    assert edge_note(C6_5, window, settings, 20, catalog, "aws") == (
        "c6id.xlarge x 5 workers (20 cores) is the smallest size searched: the window reaches down to 1/4 of "
        "the imported 80 cores; "
        "smaller ones are searched once a run on it succeeds")
    assert window.line() == "20..320 worker cores (4x either way of the imported 80)"
    measured = search_window(IMPORTED, settings, catalog, "aws", C6_5)
    assert measured.line() == ("5..320 worker cores (4x either way of the imported 80 and the 20 of "
                               "c6id.xlarge x 5 workers, the cluster the job runs on)")
    assert edge_note(C6_5, measured, settings, 20, catalog, "aws") == ""
    x2 = dataclasses.replace(C6_5, num_workers=2)
    assert edge_note(x2, measured, settings, 20, catalog, "aws") == (
        "c6id.xlarge x 2 workers (8 cores) is the smallest size searched: the window reaches down to 1/4 of the "
        "20 cores of c6id.xlarge x 5 workers, the cluster the job runs on; smaller ones are searched once a run on it succeeds")
    # At the bound the user set, the window is not what stops the search: nothing to say.
    assert edge_note(C6_5, window, ProjectSettings(min_workers=5), 20, catalog, "aws") == ""


OK_RUN = Run(id=7, project_id=1, databricks_run_id=7, start_ms=0, end_ms=1, runtime_s=300.0, outcome="succeeded",
             config=C6_5)


def test_only_a_run_the_model_learns_from_moves_the_window() -> None:
    """A lost spot node, a retry, a repair, a timeout: the model leaves such a run out, and so does the
    window; a run 10x over the SLA is no evidence that the cluster does the job either."""
    for anomaly in ("spot_loss", "retried", "repaired", "driver_lost", "timeout", "launch_failed", "preempted"):
        run = dataclasses.replace(OK_RUN, anomalies=(anomaly,))
        assert measured_live(C6_5, [(run, C6_5)]) is None, anomaly
    slow = dataclasses.replace(OK_RUN, runtime_s=10 * SLA_S)
    assert measured_live(C6_5, [(slow, C6_5)], sla_s=SLA_S) is None
    assert measured_live(C6_5, [(slow, C6_5)]) == C6_5  # no SLA: the job did its work
    assert measured_live(C6_5, [(OK_RUN, C6_5)], sla_s=SLA_S) == C6_5
    # A runtime without the cluster's setup (a backfilled run) within the SLA may have missed it.
    backfilled = dataclasses.replace(OK_RUN, execution_only=True)
    assert measured_live(C6_5, [(backfilled, C6_5)], sla_s=SLA_S) is None


def test_a_run_before_the_change_point_does_not_move_the_window() -> None:
    """Runs before a change in the job's input or code say nothing of the job now."""
    later = dataclasses.replace(OK_RUN, id=9, config=IMPORTED)
    ran = [(OK_RUN, C6_5), (later, IMPORTED)]
    assert measured_live(C6_5, ran, segment_from=9) is None
    assert measured_live(C6_5, ran, segment_from=7) == C6_5
    assert measured_live(C6_5, ran) == C6_5


def _sla_project(store, runtime_s: float, job_id: int) -> Project:
    spec = {**SPEC, "node_type_id": C6_5.node_type_id, "num_workers": C6_5.num_workers,
            "driver_node_type_id": C6_5.driver_node_type_id}
    project = store.projects.add(Project(workspace="ws", job_id=job_id, cluster_key="main", current_spec=spec,
                                         original_spec=SPEC, settings=ProjectSettings(
                                             sla_seconds=SLA_S, spot_allowed=False, allowed_families=FAMILIES)))
    store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=job_id, start_ms=0, end_ms=int(runtime_s * 1000),
                       runtime_s=runtime_s, outcome="succeeded", config=C6_5))
    return project


def test_a_run_that_missed_the_sla_does_not_walk_the_search_down(store) -> None:
    """The SLA job settled at 20 cores, the window's edge: a run there 10x over the SLA must not open
    the 8-core clusters below it (the walk 80 -> 20 -> 5 goes only as far as the SLA was met)."""
    catalog = load_catalog()
    workspace = store.workspaces.get("ws")
    missed = _sla_project(store, 10 * SLA_S, 1)
    pid = int(missed.id or 0)
    smallest = min(c.vcpus * c.nodes for c, _ in project_candidates(
        missed, workspace, catalog, store.runs.history(pid)) if c.allowed)
    assert smallest == 20
    met = _sla_project(store, 300.0, 2)
    smallest = min(c.vcpus * c.nodes for c, _ in project_candidates(
        met, workspace, catalog, store.runs.history(int(met.id or 0))) if c.allowed)
    assert smallest == 8


def test_no_edge_note_for_a_pick_outside_the_window() -> None:
    """A user edited the job to 8 cores (imported on 80), not run yet: the window is 20..320, and 8 cores
    is no edge of it."""
    catalog = load_catalog()
    settings = ProjectSettings(spot_allowed=False, allowed_families=FAMILIES, sla_seconds=SLA_S)
    x2 = dataclasses.replace(C6_5, num_workers=2)
    assert plan_edge_note(settings, IMPORTED, x2, [], x2, catalog, "aws") == ""


def test_no_edge_note_for_the_smallest_autoscale_range_that_can_exist() -> None:
    """With min_workers 1 the smallest range is 1-2: 1-1 is refused by Databricks, so 1-2 is at no
    window's edge, whatever the window."""
    catalog = load_catalog()
    imported = ClusterConfig(node_type_id="c6id.xlarge", driver_node_type_id="c6id.xlarge", autoscale_min=2,
                             autoscale_max=8, availability="ON_DEMAND", first_on_demand=1)
    settings = ProjectSettings(spot_allowed=False, allowed_families=FAMILIES, keep_autoscaling=True)
    window = search_window(imported, settings, catalog, "aws")
    assert window.line() == "8..128 worker cores (4x either way of the imported 32)"
    smallest = dataclasses.replace(imported, autoscale_min=1, autoscale_max=2)
    assert edge_note(smallest, window, settings, 16, catalog, "aws") == ""
    # Above it the window does cap the ranges: 2-3 (12 cores) is searched, 1-2 (8 cores) is not.
    wider = search_window(dataclasses.replace(imported, autoscale_min=4, autoscale_max=12), settings, catalog, "aws")
    assert edge_note(dataclasses.replace(imported, autoscale_min=2, autoscale_max=3), wider, settings, 24,
                     catalog, "aws").startswith(
                         "c6id.xlarge x autoscale 2-3 workers (12 cores at most) is the smallest size searched: "
                         "the window reaches down to 1/4 of the imported 48 cores")


def test_no_edge_note_past_what_the_pool_or_the_policy_allows() -> None:
    """A pool of 16 workers can never hold a larger cluster: at 16 the pool, not the window, is the cap.
    Nor is there another size when the cluster policy fixes the autoscale range."""
    catalog = load_catalog()
    imported = ClusterConfig(node_type_id="m5d.xlarge", driver_node_type_id="m5d.xlarge", num_workers=4,
                             availability="ON_DEMAND", first_on_demand=1)
    settings = ProjectSettings(spot_allowed=False, max_workers=40)
    x16 = dataclasses.replace(imported, num_workers=16)
    assert plan_edge_note(settings, imported, x16, [], x16, catalog, "aws") == (
        "m5d.xlarge x 16 workers (64 cores) is the largest size searched: the window reaches up to 4x the "
        "imported 16 cores; "
        "larger ones are searched once a run on it succeeds")
    pool = PoolBacking(node_type="m5d.xlarge", driver="m5d.xlarge", max_workers=16, pool_id="pool-1", capacity=17)
    assert plan_edge_note(settings, imported, x16, [], x16, catalog, "aws", pool=pool) == ""
    ranged = ClusterConfig(node_type_id="m5d.xlarge", driver_node_type_id="m5d.xlarge", autoscale_min=8,
                           autoscale_max=16, availability="ON_DEMAND", first_on_demand=1)
    small = dataclasses.replace(ranged, autoscale_min=2, autoscale_max=4)
    auto = ProjectSettings(spot_allowed=False, keep_autoscaling=True)
    assert plan_edge_note(auto, ranged, small, [], small, catalog, "aws") != ""
    fixed = ClusterPolicy.from_api({"policy_id": "p1", "definition": {
        "autoscale.min_workers": {"type": "fixed", "value": 2}, "autoscale.max_workers": {"type": "fixed", "value": 4}}})
    assert plan_edge_note(auto, ranged, small, [], small, catalog, "aws", policy=fixed) == ""


def test_the_candidates_window_keeps_to_the_current_segment(store) -> None:
    """`project_candidates` hands the change point the planner kept to `measured_live`: a run on the
    live cluster before it no longer moves the window."""
    catalog = load_catalog()
    project = _sla_project(store, 300.0, 1)
    pid = int(project.id or 0)
    store.runs.add(Run(project_id=pid, databricks_run_id=2, start_ms=86_400_000, end_ms=86_700_000, runtime_s=300.0,
                       outcome="succeeded", config=IMPORTED))
    runs = store.runs.history(pid)
    workspace = store.workspaces.get("ws")

    def smallest(segment_from: int | None) -> int:
        return min(c.vcpus * c.nodes for c, _ in project_candidates(
            project, workspace, catalog, runs, segment_from=segment_from) if c.allowed)

    assert smallest(None) == 8
    assert smallest(runs[0].id) == 8
    assert smallest(runs[1].id) == 20  # the segment starts after the run on c6id.xlarge x 5
