"""The search window follows the evidence: a job imported on 80 cores that does well on 20 is offered
fewer than 20 once it has run there (the window was 1/4..4x the cores as imported, for good), and the
project's own bounds still hold inside the wider window."""

from __future__ import annotations

import dataclasses

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.plan.candidates import Pricing, build_candidates, config_id_of
from server.plan.planner import plan_project
from server.plan.search_window import edge_note, measured_live, search_window
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
        "c6id.xlarge x 5 workers is the smallest size searched, 1/4 of the imported cores (80); "
        "smaller ones are searched once the job has run on it")
    assert window.line() == "20..320 worker cores (4x either way of the imported 80)"
    measured = search_window(IMPORTED, settings, catalog, "aws", C6_5)
    assert measured.line() == ("5..320 worker cores (4x either way of the imported 80 and the 20 of "
                               "c6id.xlarge x 5 workers, the cluster the job runs on)")
    assert edge_note(C6_5, measured, settings, 20, catalog, "aws") == ""
    x2 = dataclasses.replace(C6_5, num_workers=2)
    assert edge_note(x2, measured, settings, 20, catalog, "aws") == (
        "c6id.xlarge x 2 workers is the smallest size searched, 1/4 of the cores of c6id.xlarge x 5 workers (20), "
        "the cluster the job runs on; smaller ones are searched once the job has run on it")
    # At the bound the user set, the window is not what stops the search: nothing to say.
    assert edge_note(C6_5, window, ProjectSettings(min_workers=5), 20, catalog, "aws") == ""
