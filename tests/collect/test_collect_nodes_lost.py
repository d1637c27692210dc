"""How many nodes a run's cluster lost, and how many were replaced before the end, from its cluster
events (`ClusterTimeline.lost_count`, `nodes_replaced`): the spot review's run 1 lost 5 of its 8 spot
workers and 3 replacements joined; a run whose events were not read lost an unknown number, not 0."""

from __future__ import annotations

from typing import Any

from server.collect.usage import cluster_timeline

SPEC = {"node_type_id": "m5d.xlarge", "num_workers": 8, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}
LOST = {"reason": {"code": "SPOT_INSTANCE_TERMINATION", "type": "CLOUD_FAILURE",
                   "parameters": {"databricks_error_message": "Spot instance was reclaimed."}}}


def _event(t: int, kind: str, **details: Any) -> dict[str, Any]:
    return {"timestamp": t, "type": kind, "details": details}


# The review's run 1 as the emulator reported it (times shortened to seconds).
REVIEW_RUN_1 = [
    _event(0, "CREATING"), _event(166_000, "INIT_SCRIPTS_STARTED"), _event(176_000, "INIT_SCRIPTS_FINISHED"),
    _event(181_000, "RUNNING", current_num_workers=8, target_num_workers=8),
    *(_event(208_000 + i * 10_000, "NODES_LOST", current_num_workers=7 - i, target_num_workers=8, **LOST)
      for i in range(5)),
    _event(304_000, "UPSIZE_COMPLETED", current_num_workers=4, target_num_workers=8),
    _event(330_000, "UPSIZE_COMPLETED", current_num_workers=5, target_num_workers=8),
    _event(346_000, "UPSIZE_COMPLETED", current_num_workers=6, target_num_workers=8),
    _event(358_000, "TERMINATING", reason={"code": "JOB_FINISHED", "type": "SUCCESS"}),
]


def test_the_review_run_lost_five_workers_and_three_were_replaced() -> None:
    timeline = cluster_timeline(SPEC, REVIEW_RUN_1, fallback_start_ms=0, fallback_end_ms=360_000, cloud="aws")
    assert (timeline.lost_count, timeline.nodes_replaced) == (5, 3)
    # The replacements were on demand (the spec falls back), the lost ones spot.
    workers = [n for n in timeline.nodes if not n.is_driver]
    assert sum(1 for n in workers if n.end_ms < 358_000 and n.spot) == 5
    assert sum(1 for n in workers if not n.spot) == 3


def test_a_calm_run_lost_none_and_a_run_without_events_an_unknown_number() -> None:
    calm = [e for e in REVIEW_RUN_1 if e["type"] not in ("NODES_LOST", "UPSIZE_COMPLETED")]
    timeline = cluster_timeline(SPEC, calm, fallback_start_ms=0, fallback_end_ms=360_000, cloud="aws")
    assert (timeline.lost_count, timeline.nodes_replaced) == (0, 0)
    unread = cluster_timeline(SPEC, [], fallback_start_ms=0, fallback_end_ms=360_000, cloud="aws")
    assert unread.lost_count is None


def test_a_replacement_still_on_its_way_at_the_end_is_not_counted() -> None:
    late = [*REVIEW_RUN_1[:4], _event(340_000, "NODES_LOST", current_num_workers=7, target_num_workers=8, **LOST),
            _event(358_000, "TERMINATING", reason={"code": "JOB_FINISHED", "type": "SUCCESS"})]
    timeline = cluster_timeline(SPEC, late, fallback_start_ms=0, fallback_end_ms=360_000, cloud="aws")
    assert (timeline.lost_count, timeline.nodes_replaced) == (1, 0)
