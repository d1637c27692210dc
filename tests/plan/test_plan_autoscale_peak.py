"""An autoscale range's runs are summed up by their mean workers and by their peak (`Run.peak_workers`):
a recommendation that moves the range names both ("used 3.2 workers on average, 7 at most, of 2-8"),
and says plainly whether its max stays above what the runs reached or cuts below it. The planner keeps
the max at the peak (`server.plan.peak_floor`, tested in test_plan_autoscale_peak_floor.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings
from server.plan.planner import plan_project
from server.plan.range_use import RUNS_READ, RangeUse, range_note, range_use
from tests.plan.test_plan_autoscale_use import SPEC, _run

M5D = "m5d.4xlarge"


def _spec(low: int, high: int, node_type: str = M5D) -> dict[str, Any]:
    return {**SPEC, "node_type_id": node_type, "autoscale": {"min_workers": low, "max_workers": high}}


def _range(low: int, high: int, node_type: str = M5D) -> ClusterConfig:
    return ClusterConfig(node_type_id=node_type, autoscale_min=low, autoscale_max=high)


def test_range_use_carries_the_highest_peak_of_the_runs_it_reads() -> None:
    catalog = load_catalog()
    spec = _spec(3, 16)
    older = [dataclasses.replace(_run(n, spec, [3], catalog), peak_workers=15) for n in range(1, 3)]
    newest = [dataclasses.replace(_run(n, spec, [3, 3, 3, 6], catalog), peak_workers=6 if n % 2 else None)
              for n in range(3, 3 + RUNS_READ)]
    use = range_use([(r, r.config) for r in [*older, *newest]], catalog, "aws", "jobs")  # type: ignore[misc]
    # The two older runs' 15 is past the newest RUNS_READ, as their means are.
    assert use is not None and use.runs == RUNS_READ
    assert (use.peak_workers, use.peak_cores, use.peak_at_max, use.ranges) == (6, 6 * 16, False, ((3, 16),))
    unknown = range_use([(dataclasses.replace(r, peak_workers=None), r.config) for r in newest], catalog, "aws",
                        "jobs")  # type: ignore[misc]
    assert unknown is not None and (unknown.peak_workers, unknown.peak_cores) == (None, None)


def test_a_max_cut_to_the_peak_says_the_runs_never_went_above_it() -> None:
    use = RangeUse(share=0.04, runs=5, mean_workers=3.4, peak_workers=6, peak_cores=96, ranges=((3, 16),),
                   node_types=(M5D,))
    assert range_note(_range(3, 16), _range(3, 6), use) == (
        "autoscale 3-16 -> 3-6: its last 5 autoscaling runs used 3.4 workers on average, 6 at most, of 3-16 "
        "(4% of the way from min to max); max 16 -> 6: the runs never went above 6")


def test_a_max_cut_below_the_peak_says_so() -> None:
    use = RangeUse(share=0.07, runs=5, mean_workers=2.4, peak_workers=7, peak_cores=112, ranges=((2, 8),),
                   node_types=(M5D,))
    assert range_note(_range(2, 8), _range(2, 6), use).endswith(
        "used 2.4 workers on average, 7 at most, of 2-8 (7% of the way from min to max); "
        "max 8 -> 6 although the runs reached 7: those runs will have fewer workers")


def test_a_raised_max_or_an_unknown_peak_says_no_cut() -> None:
    use = RangeUse(share=1.0, runs=2, mean_workers=5.0, peak_workers=5, peak_cores=80, peak_at_max=True,
                   ranges=((2, 5),), node_types=(M5D,))
    assert range_note(_range(2, 5), _range(4, 10), use) == (
        "autoscale 2-5 -> 4-10: its last 2 autoscaling runs used 5.0 workers on average, 5 at most (their max), "
        "of 2-5 (100% of the way from min to max)")
    older = RangeUse(share=0.1, runs=3, mean_workers=2.6, ranges=((2, 8),), node_types=(M5D,))
    assert range_note(_range(2, 8), _range(2, 4), older) == (
        "autoscale 2-8 -> 2-4: its last 3 autoscaling runs used 2.6 workers on average, of 2-8 "
        "(10% of the way from min to max)")


def test_the_planner_keeps_the_max_at_the_peak_the_runs_reached(store) -> None:
    """Priced at its runs' mean alone, a range of runs at 2 m5d.4xlarge workers but for a burst at 7
    (112 cores) was cut to m5d.2xlarge 3-6 (48 cores) without an SLA to hold it. The burst is where
    the job wanted parallelism: the max now keeps its cores, and the reason says what held it."""
    catalog = load_catalog()
    spec = _spec(2, 8)
    project = store.projects.add(Project(workspace="ws", job_id=3, cluster_key="main", current_spec=spec,
                                         original_spec=spec,
                                         settings=ProjectSettings(keep_autoscaling=True, spot_allowed=False)))
    pid = int(project.id or 0)
    for n in range(1, 6):
        store.runs.add(dataclasses.replace(_run(n, spec, [2, 2, 2, 2, 2, 2, 7, 7], catalog), project_id=pid,
                                           peak_workers=7))
    store.projects.update(dataclasses.replace(store.projects.get(pid), phase="optimizing"))
    rec = plan_project(store, pid, catalog)
    assert rec is not None, "planned"
    vcpus = catalog.node_type("aws", rec.config.node_type_id).vcpus
    assert rec.config.autoscale_max * vcpus >= 7 * 16, rec.reason
    assert (rec.config.node_type_id, rec.config.autoscale_min, rec.config.autoscale_max) == \
        ("c5d.4xlarge", 4, 8), rec.reason
    assert rec.reason.startswith(
        "autoscale 2-8 -> 4-8: its last 5 autoscaling runs used 3.2 workers on average, 7 at most, of 2-8 "
        "(21% of the way from min to max); max kept at >= 112 cores: the runs reached 7 m5d.4xlarge workers. "
        ), rec.reason
