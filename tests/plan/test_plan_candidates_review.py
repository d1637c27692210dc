"""Review of the candidates over weeks of simulated runs: narrowed bounds and rejections hold for the
configuration the job runs now, every candidate is priced with the disks it would run with, and spot
is priced at the job's own loss rate, with on-demand workers offered once it loses nodes."""

from __future__ import annotations

import dataclasses

import pytest

from server.costing.catalog import load_catalog
from server.costing.ebs import DiskUse
from server.costing.run_cost import hourly_cost
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.plan.candidates import (
    SPOT_INTERRUPTIONS_PER_NODE_HOUR,
    Pricing,
    build_candidates,
    config_id_of,
    leaving_note,
    moved_off_spot,
    outside_bounds,
    spot_losses,
    spot_nodes,
)
from server.plan.planner import plan_project
from server.plan.storage import advise
from server.spec import config_from_spec, recommended_spec

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
GP2 = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 2, "ebs_volume_size": 500}
GP3 = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1, "ebs_volume_size": 130,
       "ebs_volume_iops": 3000, "ebs_volume_throughput": 125}
IMPORTED = {"spark_version": "15.4.x-scala2.12", "node_type_id": "c6i.xlarge", "driver_node_type_id": "c6i.xlarge",
            "num_workers": 4, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1, **GP2}}
# After the storage advice was applied: the same cluster on one 130 GB gp3 volume per node.
APPLIED = {**IMPORTED, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1, **GP3}}


def _ids(pairs) -> dict[str, object]:
    return {c.config_id: c for c, _ in pairs}


# ------------------------------------------------------------------ 1. bounds and rejections


def test_a_current_configuration_outside_narrowed_bounds_is_observed_only() -> None:
    catalog = load_catalog()
    current = config_from_spec(IMPORTED)
    narrowed = ProjectSettings(max_workers=2)
    cands = _ids(build_candidates(current, narrowed, catalog, PRICING, anchor=current))
    assert not cands[config_id_of(current)].allowed  # its runs still teach the model
    assert all(c.nodes <= 2 for c in cands.values() if c.allowed)
    assert "4 workers is above max_workers 2" in outside_bounds(current, narrowed, catalog, "aws")
    # Each bound the settings set: families, spot, the minimum; a configuration inside says nothing.
    assert "c6i is not among allowed_families" in outside_bounds(
        current, ProjectSettings(allowed_families=("m5",)), catalog, "aws")
    assert "spot is not allowed" in outside_bounds(current, ProjectSettings(spot_allowed=False), catalog, "aws")
    assert "below min_workers 6" in outside_bounds(current, ProjectSettings(min_workers=6), catalog, "aws")
    assert outside_bounds(current, ProjectSettings(min_workers=4, max_workers=4), catalog, "aws") == ""


def test_the_reasons_hold_no_parentheses_of_their_own() -> None:
    """Callers show them in parentheses: "(spot is not allowed (spot_allowed off))" read as a slip."""
    catalog = load_catalog()
    current = config_from_spec(IMPORTED)
    both = ProjectSettings(allowed_families=("m5", "r5"), spot_allowed=False)
    why = outside_bounds(current, both, catalog, "aws")
    assert why == "c6i is not among allowed_families m5, r5; spot is not allowed: spot_allowed is off"
    for settings in (ProjectSettings(allowed_families=("m5",)), ProjectSettings(spot_allowed=False)):
        cands = _ids(build_candidates(current, settings, catalog, PRICING, anchor=current))
        assert not cands[config_id_of(current)].allowed
    # A configuration the job ran on before, outside the bounds now, is observed only too.
    tried = dataclasses.replace(current, num_workers=8)
    cands = _ids(build_candidates(current, ProjectSettings(max_workers=6), catalog, PRICING, tried=[tried]))
    assert not cands[config_id_of(tried)].allowed and cands[config_id_of(current)].allowed


def test_rejecting_the_configuration_the_job_runs_is_honoured() -> None:
    catalog = load_catalog()
    current = config_from_spec(IMPORTED)
    cands = _ids(build_candidates(current, ProjectSettings(), catalog, PRICING, rejected=[config_id_of(current)]))
    assert not cands[config_id_of(current)].allowed
    assert any(c.allowed for c in cands.values())


def _runs(store, project: Project, config: ClusterConfig, n: int, *, runtime_s: float = 900.0,
          lost: tuple[int, ...] = ()) -> None:
    for i in range(n):
        store.runs.add(Run(project_id=int(project.id), databricks_run_id=100 + i, start_ms=(i + 1) * 86_400_000,
                           end_ms=(i + 1) * 86_400_000 + int(runtime_s * 1000), runtime_s=runtime_s,
                           outcome="succeeded", config=config, anomalies=("spot_loss",) if i in lost else ()))


def test_the_plan_moves_inside_narrowed_bounds_even_when_nothing_meets_the_sla(store) -> None:
    """The review's case: `project set --max-workers 2` while the job runs x4. The recommendation
    is inside the bounds, also when no configuration inside is predicted to meet the SLA (x4 meets
    1000 s, half the workers take twice as long)."""
    catalog = load_catalog()
    for sla in (None, 1000.0):
        project = store.projects.add(Project(
            workspace="ws", job_id=1 if sla is None else 2, cluster_key="main", current_spec=IMPORTED,
            original_spec=IMPORTED, settings=ProjectSettings(max_workers=2, sla_seconds=sla, auto_apply=True)))
        _runs(store, project, config_from_spec(IMPORTED), 3)
        rec = plan_project(store, int(project.id), catalog)
        assert rec is not None and rec.config.num_workers <= 2, (sla, rec.reason)
        # What the planner puts first in the reason.
        note = leaving_note(store.projects.get(int(project.id)), catalog, "aws",
                            store.runs.history(int(project.id)), rec.config)
        assert note == "c6i.xlarge x 4 workers, spot is outside the project's bounds (4 workers is above max_workers 2)"
        assert rec.reason.startswith(note + ". "), rec.reason  # the planner says it


# ------------------------------------------------------------------ 2. disks


def _written_price(live: dict, config: ClusterConfig) -> float:
    """What the spec apply writes for ``config`` costs an hour, priced as collection prices a run."""
    from server.collect.usage import ebs_volumes

    spec = recommended_spec(live, config, cloud="aws")
    (volume,) = ebs_volumes(spec) or [None]

    @dataclasses.dataclass(frozen=True)
    class Shape(ClusterConfig):
        ebs_volume_iops: int | None = None
        ebs_volume_throughput: int | None = None

    shape = Shape(**{f.name: getattr(config_from_spec(spec), f.name) for f in dataclasses.fields(ClusterConfig)},
                  ebs_volume_iops=(volume or {}).get("iops"), ebs_volume_throughput=(volume or {}).get("throughput"))
    return hourly_cost(shape, "aws", "us-east-1", "premium", "jobs", load_catalog())


def test_candidates_are_priced_with_the_disks_apply_writes_not_the_imported_ones() -> None:
    """The review's case: imported on 2x500 GB gp2, advised onto 1x130 GB gp3; c6i.xlarge x4 spot was
    predicted at the price of the imported disks (about 1.6 $/h here), not of those it ran with."""
    catalog = load_catalog()
    anchor, live = config_from_spec(IMPORTED), config_from_spec(APPLIED)
    pairs = build_candidates(live, ProjectSettings(), catalog, PRICING, anchor=anchor)
    cands = _ids(pairs)
    same = cands[config_id_of(live)]
    assert same.price_per_hour == pytest.approx(_written_price(APPLIED, live), rel=1e-9)
    imported = hourly_cost(anchor, "aws", "us-east-1", "premium", "jobs", catalog)
    assert same.price_per_hour < 0.65 * imported  # 0.98 against 1.60 $/h
    for cand, config in pairs[::17]:  # every candidate: its price is that of the spec apply writes
        assert cand.price_per_hour == pytest.approx(_written_price(APPLIED, config), rel=1e-9), cand.config_id
        assert (config.ebs_volume_count, config.ebs_volume_size_gb) == (1, 130)


def test_candidates_are_priced_with_the_storage_advice_the_plan_will_apply() -> None:
    catalog = load_catalog()
    anchor = config_from_spec(IMPORTED)
    uses = [DiskUse(spill_bytes=40 * 10**9, shuffle_write_bytes=40 * 10**9, workers=4)]
    pairs = build_candidates(anchor, ProjectSettings(), catalog, PRICING, anchor=anchor, disk_uses=uses)
    checked = 0
    for cand, config in pairs[::13]:
        # As the planner does with the decision: the candidate's configuration, its spec dropped, advised.
        advised, advice = advise(dataclasses.replace(config, spec={}), uses, 600.0, catalog, cloud="aws",
                                 region="us-east-1")
        assert cand.price_per_hour == pytest.approx(_written_price(IMPORTED, advised), rel=1e-9), cand.config_id
        checked += bool(advice is not None and advice.changed)
    assert checked  # the advice changed the disks of some of them


# ------------------------------------------------------------------ 3. spot losses


def _spot_run(config: ClusterConfig, lost: bool, runtime_s: float = 600.0) -> Run:
    return Run(project_id=1, databricks_run_id=1, runtime_s=runtime_s, config=config,
               anomalies=("spot_loss",) if lost else ())


def test_spot_is_priced_at_the_jobs_own_loss_rate_with_on_demand_workers_offered_after_losses() -> None:
    catalog = load_catalog()
    current = config_from_spec(IMPORTED)
    calm = spot_losses([_spot_run(current, False) for _ in range(4)])
    stormy = spot_losses([_spot_run(current, i != 2) for i in range(4)])
    assert calm.per_node_hour < SPOT_INTERRUPTIONS_PER_NODE_HOUR < stormy.per_node_hour
    assert stormy.note().startswith("3 of the last 4 runs on spot lost spot nodes")
    assert calm.note() == ""
    quiet = _ids(build_candidates(current, ProjectSettings(), catalog, PRICING, spot_losses=calm))
    loud = _ids(build_candidates(current, ProjectSettings(), catalog, PRICING, spot_losses=stormy))
    cid = "c6i.xlargex4-spot"
    assert loud[cid].interruption_rate == pytest.approx(stormy.per_node_hour * 4)
    assert quiet[cid].interruption_rate == pytest.approx(calm.per_node_hour * 4)
    # After losses: half the workers on demand (first_on_demand counts the driver), priced so.
    assert not any("od" in c for c in quiet if c.endswith("od"))
    half = loud["c6i.xlargex4-spot-2od"]
    assert half.interruption_rate == pytest.approx(stormy.per_node_hour * 2)
    assert loud[cid].price_per_hour < half.price_per_hour < loud["c6i.xlargex4"].price_per_hour
    assert loud["c6i.xlargex4"].interruption_rate == 0.0
    # The model's hardware feature reads the on-demand price, the same for all three variants.
    od = loud["c6i.xlargex4"].price_per_hour
    assert loud[cid].hardware_price == half.hardware_price == pytest.approx(od)
    assert loud["c6i.xlargex4"].hardware_price == od


def test_the_plan_leaves_spot_for_a_job_that_keeps_losing_spot_nodes(store) -> None:
    catalog = load_catalog()
    project = store.projects.add(Project(workspace="ws", job_id=3, cluster_key="main", current_spec=IMPORTED,
                                         original_spec=IMPORTED,
                                         settings=ProjectSettings(sla_seconds=1500.0, auto_apply=True,
                                                                  learning_budget=0)))
    current = config_from_spec(IMPORTED)
    _runs(store, project, current, 6, lost=(2, 3, 4, 5))
    rec = plan_project(store, int(project.id), catalog)
    # Fewer nodes on spot than the configuration that keeps losing them (on demand, on demand
    # workers, or a smaller spot cluster), which is kept no longer.
    assert rec is not None and config_id_of(rec.config) != config_id_of(current)
    assert spot_nodes(rec.config) < spot_nodes(current), (config_id_of(rec.config), rec.reason)
    note = leaving_note(project, catalog, "aws", store.runs.history(int(project.id)), rec.config)
    if moved_off_spot(current, rec.config):
        assert note.startswith("fewer nodes on spot: 4 of the last 6 runs on spot lost spot nodes"), note
        assert rec.reason.startswith(note + ". "), rec.reason
    else:
        # A smaller cluster with every worker still on spot is a change of size, not a move off spot
        # the losses made (tests/plan/test_plan_spot_note_blame.py).
        assert note == "" and "fewer nodes on spot" not in rec.reason, rec.reason
    assert leaving_note(project, catalog, "aws", store.runs.history(int(project.id)), current) == ""
