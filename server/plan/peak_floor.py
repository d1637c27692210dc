"""The floor an autoscale range's max keeps: the most worker cores the project's runs reached.

A range is priced and its runtime predicted at the workers its runs used on average
(`server.plan.range_use`), which says nothing of a burst: a job at 2 workers but for one stage at 7
averages 3.2, and a range whose max holds 3.2 workers priced cheapest, yet those stages then ran on
fewer cores than they took, slower in a way the mean-based model cannot see. So no autoscaling
candidate's max holds fewer worker cores than the runs of the current segment reached, unless the
project's bounds (max_workers, allowed_families, an instance pool or a policy) allow no larger range:
then the largest they allow is the floor, and the reason says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, MutableMapping, Sequence
from dataclasses import dataclass

from models.space import Candidate
from server.domain import ClusterConfig, ProjectSettings, Run
from server.plan.range_use import RangeUse


@dataclass(frozen=True)
class PeakFloor:
    """The most worker cores a run of the current segment had up at once, and which run reached it."""

    cores: int
    workers: int  # that run's peak workers
    node_type: str  # of its workers
    # The run the current segment starts at (its id) when runs before it were left out: a reason
    # that names an older, larger peak beside this floor must say which runs the floor reads.
    since: int | None = None


def peak_floor(use: RangeUse | None, since: int | None = None) -> PeakFloor | None:
    """The floor ``use`` (the current segment's autoscaling runs, from run ``since`` when older ones
    were left out) sets; None when no peak is known."""
    if use is None or use.peak_cores is None or use.peak_cores_workers is None:
        return None
    return PeakFloor(cores=use.peak_cores, workers=use.peak_cores_workers, node_type=use.peak_node_type,
                     since=since)


def segment_runs(runs: Sequence[Run], segment_from: int | None) -> Sequence[Run]:
    """``runs`` (oldest first) from the run the current segment starts at (its id, a change point
    the planner kept); all of them when it is None or not among them. A burst before a change point
    (the job's input or code changed) is no measure of what the job needs now."""
    if segment_from is None:
        return runs
    at = next((i for i, r in enumerate(runs) if r.id == segment_from), None)
    return runs if at is None else runs[at:]


def max_cores(config: ClusterConfig, vcpus: int) -> int:
    return config.autoscale_max * vcpus


def hold_floor(out: MutableMapping[str, tuple[Candidate, ClusterConfig]], floor: PeakFloor,
               vcpus_of: Callable[[str], int], own: Collection[str]) -> None:
    """Leave out of ``out`` (candidates by id) every allowed autoscaling range whose max holds fewer
    cores than ``floor``, or the largest max the allowed ranges reach when the bounds keep every one
    below it. A configuration the job ran on (``own`` ids) stays, observed only: its runs still teach
    the model. Fixed-size candidates are not touched: the floor is about where a range may stop."""
    ranges = {cid: max_cores(cfg, vcpus_of(cfg.node_type_id)) for cid, (c, cfg) in out.items()
              if cfg.autoscale_max > 0 and c.allowed}
    if not ranges:
        return
    held = min(floor.cores, max(ranges.values()))
    for cid, cores in ranges.items():
        if cores >= held:
            continue
        if cid in own:
            candidate, config = out[cid]
            out[cid] = (dataclasses.replace(candidate, allowed=False), config)
        else:
            del out[cid]


def floor_note(chosen: ClusterConfig, floor: PeakFloor | None, vcpus: int | None, settings: ProjectSettings, *,
               pool: str = "", policy: bool = False) -> str:
    """What the floor did to ``chosen``'s range (``vcpus``: of its node type), for the pick's reason;
    "" for a fixed size or without a floor. Below the floor, the bounds that hold it there are named
    (``pool``: the instance pool's id when the cluster runs on one; ``policy``: it has a cluster policy)."""
    if floor is None or vcpus is None or chosen.autoscale_max <= 0:
        return ""
    runs = f"the runs since run {floor.since}" if floor.since is not None else "the runs"
    reached = f"{runs} reached {floor.workers} {floor.node_type} workers"
    cores = max_cores(chosen, vcpus)
    if cores >= floor.cores:
        return f"max kept at >= {floor.cores} cores: {reached}"
    bounds = [f"max_workers {settings.max_workers}"] if settings.max_workers is not None else []
    bounds += [f"allowed_families {', '.join(settings.allowed_families)}"] if settings.allowed_families else []
    bounds += [f"instance pool {pool}"] if pool else []
    bounds += ["cluster policy"] if policy else []
    which = f" ({'; '.join(bounds)})" if bounds else ""
    return (f"max {cores} cores, below the {floor.cores} cores {reached}: the project's bounds{which} "
            "allow no larger range")
