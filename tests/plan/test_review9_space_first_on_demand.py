"""The user's first_on_demand is a floor: a spot candidate keeps at least as many nodes on demand as
the cluster the project was imported with (a SPOT_WITH_FALLBACK cluster with first_on_demand 3 got
spot candidates with first_on_demand 1, two more workers on spot; ninth review). Checked on the
spec applying each candidate, as the workspace emulator launches it."""

from __future__ import annotations

from typing import Any

from sandbox.sim.cluster import plan_cluster
from server.costing.catalog import load_catalog
from server.domain import ProjectSettings, Run
from server.plan.candidates import Pricing, build_candidates, spot_losses
from server.spec import config_from_spec, recommended_spec

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")


def _spec(first_on_demand: int | None, workers: int = 4) -> dict[str, Any]:
    attrs: dict[str, Any] = {"availability": "SPOT_WITH_FALLBACK"}
    if first_on_demand is not None:
        attrs["first_on_demand"] = first_on_demand
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": workers,
            "aws_attributes": attrs}


def _on_demand_nodes(spec: dict[str, Any]) -> int:
    """How many of the cluster's nodes (driver included) the emulator launches on demand."""
    plan = plan_cluster(spec)
    return sum(not plan.is_spot(i) for i in range(plan.max_workers + 1))


def test_spot_candidates_keep_the_users_on_demand_nodes() -> None:
    imported = _spec(3)
    pairs = build_candidates(config_from_spec(imported), ProjectSettings(), load_catalog(), PRICING)
    spot = [cfg for c, cfg in pairs if c.allowed and c.spot]
    assert spot and all(cfg.first_on_demand >= 3 for cfg in spot)
    for cfg in spot:
        written = recommended_spec(imported, cfg, cloud="aws")
        assert written["aws_attributes"]["first_on_demand"] >= 3
        plan = plan_cluster(written)
        assert not any(plan.is_spot(i) for i in range(3))  # the driver and two workers, as the user had them
        assert any(plan.is_spot(i) for i in range(plan.max_workers + 1))  # and a spot node: else it is on demand
    # On-demand candidates are unchanged (every node on demand whatever first_on_demand says).
    assert {cfg.first_on_demand for c, cfg in pairs if c.allowed and not c.spot} == {1}


def test_the_default_floor_is_one_and_the_imported_cluster_sets_it_not_the_live_one() -> None:
    # Unset and 1: spot workers, on-demand driver; 0: the driver on spot too, kept so (review fod0:
    # the floor was at least 1, and moved a driver the user put on spot to on demand).
    for first, floor in ((None, 1), (1, 1), (0, 0)):
        pairs = build_candidates(config_from_spec(_spec(first)), ProjectSettings(), load_catalog(), PRICING)
        new = [cfg for c, cfg in pairs if c.allowed and c.spot and cfg.num_workers != 4]
        assert new and {cfg.first_on_demand for cfg in new} == {floor}, first
    # Trimtab applied a half-on-demand variant (first_on_demand 5 after losses): the floor stays the
    # imported cluster's 3, so new spot candidates can go back to more workers on spot.
    live = config_from_spec(_spec(5, workers=8))
    pairs = build_candidates(live, ProjectSettings(), load_catalog(), PRICING, anchor=config_from_spec(_spec(3)))
    assert {cfg.first_on_demand for c, cfg in pairs if c.allowed and c.spot and cfg.num_workers != 8} == {3}


def test_half_on_demand_after_losses_never_goes_below_the_floor() -> None:
    imported = _spec(4, workers=8)
    current = config_from_spec(imported)
    lossy = spot_losses([Run(project_id=1, databricks_run_id=i, runtime_s=600.0, config=current,
                             anomalies=("spot_loss",) if i != 2 else ()) for i in range(4)])
    pairs = build_candidates(current, ProjectSettings(), load_catalog(), PRICING, spot_losses=lossy)
    spot = [cfg for c, cfg in pairs if c.allowed and c.spot]
    assert spot and all(cfg.first_on_demand >= 4 for cfg in spot)
    sixteen = {cfg.first_on_demand for cfg in spot if cfg.node_type_id == "m5d.xlarge" and cfg.num_workers == 16}
    assert sixteen == {4, 9}  # the floor, and half of 16 workers on demand
    for cfg in spot:
        assert _on_demand_nodes(recommended_spec(imported, cfg, cloud="aws")) >= 4
