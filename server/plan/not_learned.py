"""Why each run was not learned, as the decision core said it (`models.decide.Decision.explained`), for the store
and for the recommendation's reason.

The decision core keys its explanations by the run's place in the history it was given and its configuration
("<index>:<config_id>", `models.changes.run_key`); the store knows runs by id. Every run the decision saw gets
its reason written again at each plan, "" for one it learned: a run explained away before a change point (or
before the bounds took its configuration in) is learned again, or left in an older segment, and must not
keep the reason of an older plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from models.changes import run_key
from models.observation import Observation
from server.domain import Run

# What a run's explanation starts with, in the words of a count ("3 runs lost spot nodes"): the anomaly words
# `models.changes._why_not_learned` names, and the openings of its other reasons. The first that matches wins.
KINDS: tuple[tuple[str, str], ...] = (
    ("failed out of memory", "failed out of memory"),
    ("the driver died", "lost the driver"),
    ("the cloud or the service failed", "could not launch their cluster"),
    ("spot_loss", "lost spot nodes"),
    ("preempted", "{were} preempted"),
    ("cancelled", "{were} cancelled"),
    ("timeout", "timed out"),
    ("retried", "{were} retried"),
    ("repaired", "{were} repaired"),
    ("failure", "failed"),
    ("failed run", "failed"),
    ("no valid runtime", "recorded no valid runtime"),
    ("ran on a configuration outside", "ran outside the configurations planned from"),
)


def reasons_by_run(explained: Mapping[str, str], history: Sequence[Observation],
                   run_ids: Sequence[int]) -> dict[int, str]:
    """Every run the decision saw (``run_ids[k]`` is ``history[k]``'s store id), with why it was not learned,
    "" for one it learned."""
    return {run_ids[k]: explained.get(run_key(k, obs), "") for k, obs in enumerate(history)}


def changed(reasons: Mapping[int, str], runs: Sequence[Run]) -> dict[int, str]:
    """The part of ``reasons`` that differs from what the runs hold (only those are written)."""
    held = {int(r.id or 0): r.not_learned for r in runs}
    return {run_id: why for run_id, why in reasons.items() if held.get(run_id, "") != why}


def kind(reason: str) -> str:
    """The few words a count of runs says of ``reason`` ("lost spot nodes"; "{were} cancelled" takes was or were)."""
    # A reason naming anomaly words says them before its first colon ("failure, spot_loss: runtime ...").
    head = reason.split(":", 1)[0]
    for opening, words in KINDS:
        if opening in head:
            return words
    return "{were} not learned"


def summary(reasons: Sequence[str]) -> str:
    """How many runs were explained away and why ("3 runs lost spot nodes, 1 failed out of memory"); "" for none."""
    counts = Counter(kind(r) for r in reasons if r)
    if not counts:
        return ""
    parts = [f"{n}{' run' if i == 0 else ''}{'s' if i == 0 and n != 1 else ''} "
             f"{words.format(were='were' if n != 1 else 'was')}" for i, (words, n) in enumerate(counts.most_common())]
    return ", ".join(parts)
