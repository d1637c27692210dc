"""The plan's EBS advice is sized for the recommended configuration's workers, not the measured run's
(review rev14f): measured on m5.2xlarge x8 with 200 GB of shuffle, the advice for c6i.4xlarge x1 was
"2x gp2 500 GB -> 1x gp3 100 GB", and the one worker writes the 200 GB onto 100 GB."""

from __future__ import annotations

import dataclasses

import pytest

from server.costing.catalog import load_catalog
from server.costing.ebs import DiskUse
from server.domain import (
    ClusterConfig,
    IngestEvent,
    Project,
    ProjectSettings,
    Run,
    Stage,
)
from server.plan.candidates import Pricing, build_candidates, config_id_of
from server.plan.disks import as_written
from server.plan.planner import plan_project
from server.plan.storage import advise, advised_workers, disk_use
from server.spec import config_from_spec
from tests.plan.stored_runs import store_run

GB = 10**9
GP2 = dict(ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=2, ebs_volume_size_gb=500)
MEASURED = ClusterConfig(node_type_id="m5.2xlarge", driver_node_type_id="m5.2xlarge", num_workers=8,
                         availability="SPOT_WITH_FALLBACK", **GP2)  # type: ignore[arg-type]


def _use(config: ClusterConfig, shuffle_gb: float) -> DiskUse:
    use = disk_use(Run(project_id=1, databricks_run_id=1, config=config),
                   [Stage("a", 1, metrics={"shuffle_bytes_written": int(shuffle_gb * GB)})])
    assert use is not None
    return use


def _attrs(config: ClusterConfig) -> tuple[int, int]:
    attrs = config.spec["aws_attributes"]
    return int(attrs["ebs_volume_count"]), int(attrs["ebs_volume_size"])


def test_the_reviews_case_one_worker_gets_room_for_all_the_shuffle() -> None:
    candidate = dataclasses.replace(MEASURED, node_type_id="c6i.4xlarge", num_workers=1)
    new, advice = advise(candidate, [_use(MEASURED, 200)], 600.0, load_catalog(), cloud="aws", region="us-east-1")
    assert advice is not None and advice.changed
    # 200 GB on the one node, x1.5 headroom: 300 GB (was 25 GB a node, 100 GB).
    assert advice.needed_gb_per_node == pytest.approx(300)
    assert _attrs(new) == (1, 300)
    assert (new.ebs_volume_count, new.ebs_volume_size_gb) == (1, 300)
    assert "200.0 GB per node over 1 worker" in advice.reason


def test_a_new_autoscaling_range_spreads_the_bytes_over_its_typical_size() -> None:
    # 800 GB measured on a fixed 8 workers, advised for 2 to 8: the geometric mean sqrt(2 x 8) = 4
    # workers hold 200 GB each, 300 GB with headroom (sized for the minimum it was 600 GB).
    scaling = dataclasses.replace(MEASURED, num_workers=0, autoscale_min=2, autoscale_max=8)
    assert advised_workers(scaling) == pytest.approx(4.0)
    new, advice = advise(scaling, [_use(MEASURED, 800)], 3600.0, load_catalog(), cloud="aws", region="us-east-1")
    assert advice is not None and advice.needed_gb_per_node == pytest.approx(300)
    assert _attrs(new) == (1, 300)
    assert "200.0 GB per node over 4.0 workers (the geometric mean of 2-8 workers" in advice.reason
    # Priced over the most nodes it may run (8 workers + driver, 1 h, 30 runs = 270 node-hours):
    # 2x gp2 500 GB at 0.10 USD per GB-month.
    assert advice.current_monthly_cost == pytest.approx(1000 * 0.10 * 270 / 730)


SCALING = dataclasses.replace(MEASURED, num_workers=0, autoscale_min=2, autoscale_max=40)


def test_the_reviews_autoscaling_case_is_sized_from_what_its_runs_held_per_node() -> None:
    # rev14h: m5.2xlarge 2..40, 2x gp2 500 GB; runs on this very range wrote 10 TB of shuffle and
    # succeeded. Measured per node: 10000 GB / 40 = 250 GB, 375 GB with headroom -> 1x gp3 380 GB
    # (it advised 2x gp3 3750 GB, "short of the 7500 GB needed", EBS 168.49 -> 1027.81 USD/month).
    use = _use(SCALING, 10_000)
    assert (use.workers, use.autoscale_min, use.attached_gb) == (40, 2, 1000)
    new, advice = advise(SCALING, [use], 3600.0, load_catalog(), cloud="aws", region="us-east-1", runs_per_month=30)
    assert advice is not None and advice.changed
    assert advice.needed_gb_per_node == pytest.approx(375)
    assert _attrs(new) == (1, 380)
    # 41 nodes x 1 h x 30 runs = 1230 node-hours a month. Now 1000 GB of gp2 at 0.10 a GB-month;
    # advised 380 GB of gp3 at 0.08 plus 375 MiB/s above the included 125 at 0.04 (the 500 MiB/s of
    # the two 500 GB gp2): (30.40 + 15.00) x 1230 / 730.
    assert advice.current_monthly_cost == pytest.approx(100 * 1230 / 730)
    assert advice.recommended_monthly_cost == pytest.approx(45.40 * 1230 / 730)
    assert round(advice.projected_monthly_saving, 2) == 92.00
    assert "runs on 2-40 workers put up to 250.0 GB per node on disk" in advice.reason
    assert "short" not in advice.reason


def test_volumes_that_held_runs_on_the_same_range_are_not_called_short() -> None:
    # Runs on 2..40 with 2x gp2 150 GB (300 GB a node) wrote 10 TB: 250 GB a node, 375 with
    # headroom. The 300 GB held them, so they are not "short", though headroom still asks 380.
    small = dataclasses.replace(SCALING, ebs_volume_size_gb=150)
    new, advice = advise(small, [_use(small, 10_000)], 3600.0, load_catalog(), cloud="aws", region="us-east-1")
    assert advice is not None and _attrs(new) == (1, 380)
    assert "attached 300 GB held the runs on 2-40 workers; 375 GB gives 50% headroom" in advice.reason
    assert "short" not in advice.reason
    # Runs on another range did not hold anything on this one: there the same volumes are short.
    other = dataclasses.replace(small, autoscale_min=4)
    _, advice = advise(small, [_use(other, 10_000)], 3600.0, load_catalog(), cloud="aws", region="us-east-1")
    assert advice is not None and "short of the" in advice.reason


def test_an_autoscaling_candidate_on_the_measured_range_is_priced_with_the_measured_disks() -> None:
    # The planner prices every candidate as written (`as_written`): the 2..40 candidate gets the
    # advice of the runs on 2..40 (1x gp3 380 GB at 3000 IOPS / 500 MiB/s), not 2x gp3 3750 GB.
    catalog = load_catalog()
    pricing = Pricing(cloud="aws", region="us-east-1", plan="premium")
    written = as_written(SCALING, SCALING, catalog, pricing, policy=None, pool=None,
                         disk_uses=[_use(SCALING, 10_000)])
    assert (written.ebs_volume_count, written.ebs_volume_size_gb) == (1, 380)


def test_more_workers_than_measured_are_not_oversized_the_demos_rec_9() -> None:
    # The demo: 80.5 GB written on 1 worker, then advised for 5 workers "short of the 121 GB needed
    # ... -> 130 GB"; spread over 5 it is 16.1 GB a node (24.15 with headroom): gp3's 100 GB.
    one = dataclasses.replace(MEASURED, num_workers=1, ebs_volume_count=1, ebs_volume_size_gb=130)
    live = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_iops": 3000, "ebs_volume_throughput": 125}
    five = dataclasses.replace(one, num_workers=5)
    new, advice = advise(five, [_use(one, 80.5)], 3600.0, load_catalog(), cloud="aws", region="us-east-1",
                         live_attrs=live)
    assert advice is not None and advice.changed
    assert advice.needed_gb_per_node == pytest.approx(80.5 / 5 * 1.5)
    assert _attrs(new) == (1, 100)


def test_a_single_node_cluster_holds_it_all_on_its_one_node() -> None:
    single = dataclasses.replace(MEASURED, num_workers=0)
    assert advised_workers(single) == 1
    _, advice = advise(single, [_use(MEASURED, 200)], 600.0, load_catalog(), cloud="aws", region="us-east-1")
    assert advice is not None and advice.needed_gb_per_node == pytest.approx(300)


IMPORTED = {"spark_version": "15.4.x-scala2.12", "node_type_id": "c6i.xlarge", "driver_node_type_id": "c6i.xlarge",
            "num_workers": 4, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1,
                                                 "ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 2,
                                                 "ebs_volume_size": 500}}


def test_each_candidate_is_priced_with_disks_for_its_own_workers() -> None:
    # 800 GB written on 4 workers. Each candidate's disks, as priced, hold 800 GB over its own
    # workers with 50% headroom: 1200 GB for 1 worker, 150 GB for 8 (all were 300 GB, from 4).
    catalog = load_catalog()
    pricing = Pricing(cloud="aws", region="us-east-1", plan="premium")
    anchor = config_from_spec(IMPORTED)
    uses = [DiskUse(spill_bytes=0, shuffle_write_bytes=800 * GB, workers=4)]
    pairs = build_candidates(anchor, ProjectSettings(), catalog, pricing, anchor=anchor, disk_uses=uses)
    sizes: dict[int, set[int]] = {}
    for _, config in pairs:
        written = as_written(config, anchor, catalog, pricing, policy=None, pool=None, disk_uses=uses)
        per_node = written.ebs_volume_count * written.ebs_volume_size_gb
        assert per_node >= 800 / advised_workers(config) * 1.5, (config, per_node)
        sizes.setdefault(advised_workers(config), set()).add(per_node)
    assert sizes[1] == {1200} and sizes[2] == {600} and sizes[4] == {300} and sizes[8] == {150}


def _run(store, project: Project, n: int, shuffle_gb: float) -> None:
    app = f"ctx-{n}"
    stage = Stage(application_id=app, stage_id=0, name="s0", num_tasks=64, submission_time_ms=0,
                  completion_time_ms=60_000,
                  metrics={"executor_run_time_ms": 600_000, "shuffle_bytes_written": int(shuffle_gb * GB)})
    store_run(store, project, n, [IngestEvent(application_id=app, key="stage/0/0", kind="Stage", body=stage,
                                              payload=app.encode())])


def test_the_plan_advises_disks_for_the_workers_it_recommends(store) -> None:
    # Measured on 4 workers, 800 GB of shuffle; the project's bounds now allow 2 at most. The
    # recommendation's disks hold 400 GB a node (600 with headroom), not the 200 (300) of 4 workers.
    catalog = load_catalog()
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=IMPORTED,
                                         original_spec=IMPORTED, settings=ProjectSettings(max_workers=2)))
    for n in (1, 2):
        _run(store, project, n, 800)
    rec = plan_project(store, int(project.id), catalog)
    assert rec is not None and rec.config.num_workers <= 2, rec.reason
    workers = advised_workers(rec.config)
    per_node = rec.config.ebs_volume_count * rec.config.ebs_volume_size_gb
    assert per_node == max(100, 10 * -(-800 * 1.5 / workers // 10)), rec.reason
    assert per_node >= 800 / workers * 1.5


def test_workers_whose_volume_change_was_turned_down_are_priced_on_the_live_volumes() -> None:
    # Review diffrev 2: the planner keeps their live volumes (`held_volumes`), so pricing them with the
    # advised (cheaper) disks would choose them for a saving that is never written.
    catalog = load_catalog()
    pricing = Pricing(cloud="aws", region="us-east-1", plan="premium")
    anchor = config_from_spec(IMPORTED)
    uses = [DiskUse(spill_bytes=0, shuffle_write_bytes=800 * GB, workers=4)]

    def prices(**kwargs: object) -> dict[str, float]:
        pairs = build_candidates(anchor, ProjectSettings(), catalog, pricing, anchor=anchor, **kwargs)  # type: ignore[arg-type]
        return {c.config_id: c.price_per_hour for c, _ in pairs}

    live, advised = prices(), prices(disk_uses=uses)
    held = prices(disk_uses=uses, volumes_held={config_id_of(anchor)})
    own = config_id_of(anchor)
    assert advised[own] < live[own] and held[own] == pytest.approx(live[own])
    assert {k: v for k, v in held.items() if k != own} == pytest.approx({k: v for k, v in advised.items() if k != own})
