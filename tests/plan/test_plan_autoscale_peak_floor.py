"""An autoscale range's max never holds fewer worker cores than the runs of the current segment reached
(`server.plan.peak_floor`), unless the project's bounds allow no larger range, which the reason says:
ranges are priced at the runs' mean workers, which hides the bursts where the job wanted parallelism."""

from __future__ import annotations

import dataclasses
from typing import Any

from models.space import Candidate
from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.plan.candidates import project_candidates
from server.plan.peak_floor import PeakFloor, hold_floor, segment_runs
from server.plan.planner import plan_project
from server.store import Store
from tests.plan.test_plan_autoscale_use import POOL_SPEC, POOLS, SPEC, WORKSPACE, _run

M5D = "m5d.4xlarge"
BURSTY = [2, 2, 2, 2, 2, 2, 7, 7]  # 2 workers but for a burst at 7: 3.2 on average


def _spec(low: int, high: int, node_type: str = M5D) -> dict[str, Any]:
    return {**SPEC, "node_type_id": node_type, "autoscale": {"min_workers": low, "max_workers": high}}


def _project(spec: dict[str, Any], **settings: Any) -> Project:
    return Project(workspace="ws", job_id=3, cluster_key="main", current_spec=spec, original_spec=spec,
                   settings=ProjectSettings(**{"keep_autoscaling": True, "spot_allowed": False, **settings}), id=1)


def _runs(spec: dict[str, Any], workers: list[int], peak: int | None, count: int = 5,
          pools: dict[str, dict] | None = None) -> list[Run]:
    catalog = load_catalog()
    return [dataclasses.replace(_run(n, spec, workers, catalog, pools), id=n, peak_workers=peak)
            for n in range(1, count + 1)]


def _ranges(pairs: list[tuple[Candidate, ClusterConfig]]) -> list[tuple[Candidate, ClusterConfig]]:
    return [(c, cfg) for c, cfg in pairs if cfg.autoscale_max > 0 and c.allowed]


def _cores(config: ClusterConfig) -> int:
    return config.autoscale_max * load_catalog().node_type("aws", config.node_type_id).vcpus


def test_no_allowed_range_has_a_max_below_the_peak_cores_the_runs_reached() -> None:
    spec = _spec(2, 16)
    pairs = project_candidates(_project(spec), WORKSPACE, load_catalog(), _runs(spec, [3, 3, 3, 12], 12))
    ranges = _ranges(pairs)
    assert ranges and min(_cores(cfg) for _, cfg in ranges) >= 12 * 16
    # Without a known peak the space is as before: ranges of a max below 192 cores are offered.
    unknown = _ranges(project_candidates(_project(spec), WORKSPACE, load_catalog(),
                                         _runs(spec, [3, 3, 3, 12], None)))
    assert min(_cores(cfg) for _, cfg in unknown) < 12 * 16


def test_fixed_size_candidates_are_not_held_by_the_peak() -> None:
    spec = _spec(2, 8)
    pairs = project_candidates(_project(spec, keep_autoscaling=False), WORKSPACE, load_catalog(),
                               _runs(spec, BURSTY, 7))
    fixed = [cfg for c, cfg in pairs if cfg.autoscale_max == 0 and c.allowed]
    assert any(cfg.num_workers * load_catalog().node_type("aws", cfg.node_type_id).vcpus < 112 for cfg in fixed)


def test_bounds_below_the_peak_keep_the_largest_range_they_allow() -> None:
    # The runs reached 12 m5.xlarge workers (48 cores) on the pool, which now holds 8 beside the driver.
    pools = _pool(9)
    pairs = project_candidates(_project(POOL_SPEC), WORKSPACE, load_catalog(), _runs(POOL_SPEC, BURSTY, 12, pools=_pool(20)),
                               pools=pools)
    assert {_cores(cfg) for _, cfg in _ranges(pairs)} == {8 * 4}


def _pool(capacity: int) -> dict[str, dict]:
    return {"p-w": {**POOLS["p-w"], "max_capacity": capacity}}


def test_a_range_the_job_ran_on_below_the_floor_stays_observed_only() -> None:
    cut = _spec(3, 6, "m5d.2xlarge")
    runs = [*_runs(_spec(2, 8), BURSTY, 7, count=3),
            *[dataclasses.replace(r, id=10 + i, databricks_run_id=10 + i)
              for i, r in enumerate(_runs(cut, [3, 3, 4, 6], 6, count=2))]]
    project = dataclasses.replace(_project(cut), original_spec=_spec(2, 8))
    pairs = project_candidates(project, WORKSPACE, load_catalog(), runs)
    own = [c for c, cfg in pairs if (cfg.node_type_id, cfg.autoscale_min, cfg.autoscale_max) == ("m5d.2xlarge", 3, 6)]
    assert len(own) == 1 and not own[0].allowed
    assert min(_cores(cfg) for _, cfg in _ranges(pairs)) >= 112


def test_a_burst_before_the_segment_start_holds_no_max() -> None:
    spec = _spec(2, 8)
    runs = [*_runs(spec, BURSTY, 7, count=3),
            *[dataclasses.replace(r, id=10 + i) for i, r in enumerate(_runs(spec, [2, 2, 2, 3], 3, count=3))]]
    assert [r.id for r in segment_runs(runs, 10)] == [10, 11, 12]
    assert list(segment_runs(runs, None)) == runs and list(segment_runs(runs, 99)) == runs
    held = _ranges(project_candidates(_project(spec), WORKSPACE, load_catalog(), runs))
    free = _ranges(project_candidates(_project(spec), WORKSPACE, load_catalog(), runs, segment_from=10))
    assert min(_cores(cfg) for _, cfg in held) >= 112 > min(_cores(cfg) for _, cfg in free)


def test_hold_floor_leaves_fixed_sizes_and_marks_own_ranges() -> None:
    def pair(cid: str, config: ClusterConfig) -> tuple[Candidate, ClusterConfig]:
        return Candidate(config_id=cid, label=cid, instance_type=config.node_type_id, vcpus=16.0, memory_gib=64.0,
                         nodes=2, price_per_hour=1.0), config

    out = {"fixed": pair("fixed", ClusterConfig(node_type_id=M5D, num_workers=2)),
           "small": pair("small", ClusterConfig(node_type_id=M5D, autoscale_min=2, autoscale_max=4)),
           "own": pair("own", ClusterConfig(node_type_id=M5D, autoscale_min=2, autoscale_max=6)),
           "big": pair("big", ClusterConfig(node_type_id=M5D, autoscale_min=4, autoscale_max=8))}
    hold_floor(out, PeakFloor(cores=112, workers=7, node_type=M5D), lambda _: 16, own={"own"})
    assert set(out) == {"fixed", "own", "big"} and not out["own"][0].allowed and out["big"][0].allowed


def test_the_reason_of_a_range_kept_at_the_peak_names_the_floor(store: Store) -> None:
    spec = _spec(2, 16)
    pid = _stored(store, spec, [3, 3, 3, 12], 12)
    rec = plan_project(store, pid, load_catalog())
    assert rec is not None and _cores(rec.config) >= 192, rec.reason
    if (rec.config.autoscale_min, rec.config.autoscale_max) != (2, 16):
        assert "max kept at >= 192 cores: the runs reached 12 m5d.4xlarge workers" in rec.reason, rec.reason


def test_the_reason_says_when_the_bounds_force_a_max_below_the_peak(store: Store) -> None:
    # The owner lowered max_workers to 8 after runs on 2-16 reached 12 m5.xlarge workers (48 cores).
    spec = {**POOL_SPEC, "autoscale": {"min_workers": 2, "max_workers": 16}}
    pid = _stored(store, spec, BURSTY, 12, pools=_pool(20), max_workers=8)
    rec = plan_project(store, pid, load_catalog(), pools=_pool(20))
    assert rec is not None and rec.config.autoscale_max == 8, rec.reason
    assert ("max 32 cores, below the 48 cores the runs reached 12 m5.xlarge workers: the project's bounds "
            "(max_workers 8; instance pool p-w) allow no larger range") in rec.reason, rec.reason


def _stored(store: Store, spec: dict[str, Any], workers: list[int], peak: int, pools: dict[str, dict] | None = None,
            **settings: Any) -> int:
    project = store.projects.add(dataclasses.replace(_project(spec, **settings), id=None))
    pid = int(project.id or 0)
    for run in _runs(spec, workers, peak, pools=pools):
        store.runs.add(dataclasses.replace(run, id=None, project_id=pid))
    store.projects.update(dataclasses.replace(store.projects.get(pid), phase="optimizing"))
    return pid


def test_after_a_change_point_the_floor_reads_the_runs_since_it(store: Store) -> None:
    """Bursts to 7 workers at 100 GB, then 3x the input at 3 workers at most: once the plan has kept the
    input shift's change point, the old burst no longer holds the max, and the reason says which runs
    the floor reads."""
    catalog = load_catalog()
    spec = _spec(2, 8)
    project = store.projects.add(dataclasses.replace(_project(spec), id=None))
    pid = int(project.id or 0)
    ids: list[int] = []
    for n in range(1, 7):
        workers, gb = (BURSTY, 100) if n <= 4 else ([2, 2, 2, 2, 3, 3, 3, 3], 300)
        run = store.runs.add(dataclasses.replace(_run(n, spec, workers, catalog), project_id=pid, outcome="succeeded",
                                                 peak_workers=max(workers), input_bytes=int(gb * 1e9)))
        ids.append(int(run.id or 0))
        if n == 4:
            store.projects.update(dataclasses.replace(store.projects.get(pid), phase="optimizing"))
        if n >= 4:
            rec = plan_project(store, pid, catalog)
            assert rec is not None
            if n == 4:
                assert _cores(rec.config) >= 112, rec.reason
            if n == 5:
                assert rec.change_run_id == ids[4], rec.reason
    assert rec.change_run_id == ids[4] and f"the runs since run {ids[4]} reached 3 m5d.4xlarge workers" in rec.reason, \
        rec.reason
    assert _cores(rec.config) < 112, rec.reason
