"""Instance types the cloud keeps refusing: avoided for a while over the job's whole history (capacity
is the type's in the zone, not the job's), whatever segment the change-point screen
(`models.changes.screen`) learns from. Pure, like the rest of `models/`.

`models.changes` re-exports every name here; `benchmarks.regressions --set NAME=VALUE` sets a name in
both modules, since each reads its own binding (`LAUNCH_REFUSALS` is in a reason there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models.observation import LAUNCH_FAILED, NO_CAPACITY, Observation
from models.space import Candidate

# One launch failure is the cloud's bad luck, not the configuration's fault (it is not avoided).
# Several in a row on one instance type are its capacity (AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE
# and the like) or a limit: six in a row on the recommendation, and it stayed the recommendation,
# "each run meets the SLA with P=100%", while no run happened. So after three in a row the instance
# type (every configuration of it: capacity is the type's in the zone, whatever the node count) is
# avoided for a week of a nightly job's runs elsewhere, then tried once again; a failure of that try
# makes it avoided for as long again.
LAUNCH_REFUSALS = 3
LAUNCH_RETRY_AFTER = 7


@dataclass(frozen=True)
class Refusal:
    """An instance type avoided because the cloud refused its clusters."""

    instance_type: str
    in_a_row: int  # launches of it that failed since it last launched
    runs_left: int  # runs of the job before it is tried again


def refused_instance_types(history: Sequence[Observation], known: Mapping[str, Candidate]) -> tuple[Refusal, ...]:
    """The instance types to avoid now: the cloud had no capacity (`NO_CAPACITY`) for the latest
    `LAUNCH_REFUSALS` or more launches of each (no run of it launched since), the last of them fewer
    than `LAUNCH_RETRY_AFTER` runs ago.
    A run that launched (whatever its outcome) ends its type's streak; runs on configurations outside
    ``known`` name no instance type and are left out."""
    streak: dict[str, int] = {}
    last_refused: dict[str, int] = {}
    for idx, obs in enumerate(history):
        cand = known.get(obs.config_id)
        if cand is None:
            continue
        if NO_CAPACITY in obs.anomalies:
            streak[cand.instance_type] = streak.get(cand.instance_type, 0) + 1
            last_refused[cand.instance_type] = idx
        elif LAUNCH_FAILED not in obs.anomalies:
            streak[cand.instance_type] = 0
        # Other launch failures (a secret not readable, a workspace limit, throttling, a reclaimed
        # instance) say nothing of the type: they neither count nor end a streak.
    out = []
    for kind, n in sorted(streak.items()):
        runs_since = len(history) - 1 - last_refused.get(kind, -1)
        if n >= LAUNCH_REFUSALS and runs_since < LAUNCH_RETRY_AFTER:
            out.append(Refusal(kind, n, LAUNCH_RETRY_AFTER - runs_since))
    return tuple(out)
