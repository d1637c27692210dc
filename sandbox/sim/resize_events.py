"""The worker counts of a simulated cluster's resize events, from the nodes themselves (pure).

The scheduler records what happened: upsize requests (``RESIZING`` with the new target), nodes joining
(``ADD``), nodes released (``RESIZING`` naming the node) and lost (``NODES_LOST``). Counts written at
request time cannot know which nodes are still on their way, so they are filled in here, walking the
changes in time order: every event's ``current_num_workers`` is the workers up at its time (a node is
up from its ``ADD``), its ``target_num_workers`` what the cluster asked for (Databricks' cluster events
report the cluster's current and target size).

``UPSIZE_COMPLETED`` ends an upsize: Databricks reports it once the nodes finished being added, with a
count below the target only when some could not be acquired, and a reader such as Trimtab's collector
takes it as the end of every request under way. So while requests overlap (a second upsize asked for
before the first's nodes joined), one event completes them all, when the last node they asked for
joins; a cluster that ends with nodes still on the way completes at the last node that joined, its
count short of the target. A lost node's replacement completes on its own when it joins, or with the
upsize under way then; until the replacement joins, a completion's count is short of the target.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass


@dataclass
class ClusterChange:
    t_ms: int
    # RESIZING | UPSIZE_COMPLETED | NODES_LOST are Databricks cluster events; ADD is internal:
    # a node joined (``run.py`` turns it into a SimNode and drops it from the cluster events); an
    # upsize's carries ``requested_ms``, the RESIZING that asked for it, when its instance launched.
    type: str
    details: dict
    node_index: int | None = None  # the node lost, added or released


def _with_counts(change: ClusterChange, current: int, target: int) -> ClusterChange:
    details = {"current_num_workers": current, "target_num_workers": target,
               **{k: v for k, v in change.details.items() if k not in ("current_num_workers", "target_num_workers")}}
    return dataclasses.replace(change, details=details)


def _completed(t_ms: int, up: int, target: int) -> ClusterChange:
    return ClusterChange(t_ms, "UPSIZE_COMPLETED", {"current_num_workers": up, "target_num_workers": target})


def sized_changes(changes: list[ClusterChange], first_workers: int, end_ms: int) -> list[ClusterChange]:
    """``changes`` in time order, their counts those of the nodes up, with the ``UPSIZE_COMPLETED``
    events (`module docstring`). ``first_workers`` are up from the start; nothing joins at or after
    ``end_ms`` (the application's end: the cluster terminates before such a node joins)."""
    out: list[ClusterChange] = []
    up = target = first_workers
    # How many nodes each upsize request asked for (its nodes' ADD carry the request's time).
    asked_at = Counter(int(c.details["requested_ms"]) for c in changes if c.type == "ADD" and "requested_ms" in c.details)
    on_way = 0  # nodes upsizes asked for that have not joined
    # Where the latest node of the upsize under way joined (index into out, workers up, target then).
    joined: tuple[int, int, int] | None = None
    for change in sorted(changes, key=lambda c: c.t_ms):  # stable: the scheduler's order breaks ties
        asked = int(change.details.get("target_num_workers", target))
        if change.type == "RESIZING" and change.node_index is None:  # an upsize request
            target = asked
            on_way += asked_at.pop(change.t_ms, 0)
            out.append(_with_counts(change, up, target))
        elif change.type == "RESIZING":  # autoscaling released an idle node
            out.append(_with_counts(change, up, asked))
            up, target = up - 1, asked
        elif change.type == "NODES_LOST":  # the target stays: Databricks replaces the node
            up -= 1
            out.append(_with_counts(change, up, target))
        elif change.type == "ADD":
            out.append(change)
            if change.t_ms >= end_ms:
                continue
            up += 1
            on_way -= "requested_ms" in change.details
            # A lost node's replacement joining while an upsize is under way joins silently: the
            # upsize's completion counts it.
            if on_way <= 0:
                out.append(_completed(change.t_ms, up, target))
                joined = None
            else:
                joined = (len(out), up, target)
        else:
            out.append(change)
    if joined is not None:  # the cluster ended with nodes on the way: the upsize ends short of its target
        at, count, goal = joined
        out.insert(at, _completed(out[at - 1].t_ms, count, goal))
    return out
