"""The worker bounds hold: validated in one place, and candidates never leave them; configurations
the user turned down (a rejected or reverted recommendation) are never offered again."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.errors import FailedPrecondition, InvalidArgument
from server.plan.candidates import MIN_WORKERS, Pricing, build_candidates, config_id_of, worker_counts
from server.services.projects import apply_changes

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
CURRENT = ClusterConfig(node_type_id="m5d.xlarge", driver_node_type_id="m5d.xlarge", num_workers=4,
                        availability="ON_DEMAND", first_on_demand=1)


@pytest.mark.parametrize("changes, option", [
    ({"max_workers": 0}, "--max-workers"),  # the review's case: below the implied minimum of 1
    ({"min_workers": 0}, "--min-workers"),
    ({"min_workers": -1}, "--min-workers"),
    ({"min_workers": 5, "max_workers": 3}, "--max-workers"),
])
def test_bounds_that_hold_no_worker_count_are_refused_naming_the_option(changes: dict[str, int],
                                                                        option: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        apply_changes(ProjectSettings(), changes)
    assert option in err.value.message


def test_a_maximum_is_checked_against_the_minimum_already_saved() -> None:
    saved = ProjectSettings(min_workers=4)
    with pytest.raises(InvalidArgument, match="max_workers .*3 is below min_workers 4"):
        apply_changes(saved, {"max_workers": 3})
    assert apply_changes(saved, {"max_workers": 4}).max_workers == 4
    assert apply_changes(ProjectSettings(), {"max_workers": MIN_WORKERS}).max_workers == MIN_WORKERS


def test_worker_counts_refuse_bounds_without_a_count() -> None:
    assert worker_counts(3, 5) == [3, 4, 5]
    for low, high in ((1, 0), (0, 4), (5, 3)):
        with pytest.raises(ValueError):
            worker_counts(low, high)


def test_candidates_keep_to_the_bounds_and_refuse_stored_bounds_without_a_count() -> None:
    catalog = load_catalog()
    settings = ProjectSettings(min_workers=3, max_workers=5)
    pairs = build_candidates(CURRENT, settings, catalog, PRICING)
    new = [cfg for _, cfg in pairs if config_id_of(cfg) != config_id_of(CURRENT)]
    assert new and all(3 <= cfg.num_workers <= 5 for cfg in new)
    # An autoscaling cluster's range keeps to the minimum too (its floor was max(1, max // 2)).
    auto = ClusterConfig(node_type_id="m5d.xlarge", autoscale_min=2, autoscale_max=8)
    keep = ProjectSettings(min_workers=3, max_workers=5, keep_autoscaling=True)
    ranges = [cfg for _, cfg in build_candidates(auto, keep, catalog, PRICING)
              if config_id_of(cfg) != config_id_of(auto)]
    assert ranges and all(3 <= cfg.autoscale_min <= cfg.autoscale_max <= 5 for cfg in ranges)
    # Bounds saved before the check (max_workers 0): a clear refusal, not a 1-worker candidate.
    for stored in (ProjectSettings(max_workers=0), ProjectSettings(min_workers=6, max_workers=2)):
        with pytest.raises(FailedPrecondition, match="worker bounds hold no valid worker count"):
            build_candidates(CURRENT, stored, catalog, PRICING)


def test_a_rejected_configuration_is_never_offered_but_its_runs_still_count() -> None:
    catalog = load_catalog()
    turned_down = ClusterConfig(node_type_id="c5d.xlarge", driver_node_type_id="m5d.xlarge", num_workers=4,
                                availability="ON_DEMAND", first_on_demand=1)
    unseen = ClusterConfig(node_type_id="m5d.2xlarge", driver_node_type_id="m5d.xlarge", num_workers=2,
                           availability="ON_DEMAND", first_on_demand=1)
    rejected = (config_id_of(turned_down), config_id_of(unseen), config_id_of(CURRENT))
    before = {c.config_id: c for c, _ in build_candidates(CURRENT, ProjectSettings(), catalog, PRICING,
                                                          tried=[turned_down])}
    assert before[config_id_of(turned_down)].allowed and before[config_id_of(unseen)].allowed
    after = {c.config_id: c for c, _ in build_candidates(CURRENT, ProjectSettings(), catalog, PRICING,
                                                         tried=[turned_down], rejected=rejected)}
    assert not after[config_id_of(turned_down)].allowed  # it ran: observed only
    assert config_id_of(unseen) not in after  # never ran: not a candidate at all
    assert not after[config_id_of(CURRENT)].allowed  # turned down while the job runs it: it moves off it
    assert set(before) - set(after) == {config_id_of(unseen)}


def test_values_saved_under_looser_rules_do_not_block_other_changes() -> None:
    """Review: a learning budget of 30 or a 10-day SLA saved before the caps made every later
    change (even `--auto-apply on`) fail; only what a call changes is checked."""
    legacy = ProjectSettings(sla_seconds=10 * 86400.0, learning_budget=30, max_workers=20000)
    assert apply_changes(legacy, {"auto_apply": True}).auto_apply is True
    for changes, field in (({"learning_budget": 30}, "learning_budget"), ({"sla_seconds": 10 * 86400.0}, "sla_seconds"),
                           ({"max_workers": 20000}, "max_workers")):
        with pytest.raises(InvalidArgument, match=f"settings.{field}"):
            apply_changes(ProjectSettings(), changes)
