"""Pure: the counts, sizes, durations and spans of an agent's event, checked (`server.translate.check_event`).

A stage sent with num_tasks -4, input_bytes -500 GB and a completion before its submission was
stored, and GetRun showed "tasks -4, input -500000000000"; the planner and the costing would have
taken them as measured. Such an event is refused like any other invalid one (dropped, counted in
the acknowledgement, the batch's other events stored). The agent repairs what a damaged log line
brings before it sends it (agent/parse.py), so a real Spark log never trips these.
"""

from __future__ import annotations

import math
from typing import Any

from protos.trimtab.v1 import common_pb2
from server.errors import InvalidArgument

# Counts, sizes and durations of each event kind: never below 0. Not executor peaks
# (StageCompleted.executor_peaks): Spark marks an executor's metrics "not set yet" with -1
# (ExecutorMetrics), and the agent sends a stage's peaks as its log gives them.
_NOT_NEGATIVE: dict[str, tuple[str, ...]] = {
    "stage_completed": ("num_tasks", "tasks_succeeded", "tasks_failed", "tasks_killed"),
    "executor_added": ("total_cores",),
    "executor_gauges": ("memory_used_bytes", "max_memory_bytes", "active_tasks", "total_gc_time_ms",
                        "disk_used_bytes"),
    "application_end": ("stages_completed", "jobs_completed", "executors_added"),
}
# (start, end) of each event kind with both: the end is never before the start when both are known
# (0 is unknown: `server.translate._TIMESTAMPS`).
_SPANS: dict[str, tuple[str, str]] = {
    "stage_completed": ("submission_time_ms", "completion_time_ms"),
    "job_completed": ("submission_time_ms", "completion_time_ms"),
    "sql_execution": ("start_time_ms", "end_time_ms"),
}
CHECKED_KINDS = frozenset(_NOT_NEGATIVE) | frozenset(_SPANS)
_DISTRIBUTION_FIELDS = tuple(f.name for f in common_pb2.Distribution.DESCRIPTOR.fields)
# `check_amounts` names them one by one (its fast path): a field added to the proto fails here.
assert _DISTRIBUTION_FIELDS == ("count", "min", "p25", "p50", "p75", "p90", "p95", "p99", "max", "sum")


def check_amounts(kind: str, body: Any, index: int) -> None:
    """`InvalidArgument` naming the first count, size or duration of the event below 0, or its end
    before its start (a stage shown with "tasks -4" and "input -500000000000" by GetRun)."""
    # Hot path (every stage of every batch): one comparison chain decides for the usual good stage,
    # `_refuse` finds the field only when it fails (a NaN fails it too; `_refuse` lets it through).
    if kind == "stage_completed":
        d = body.task_duration_ms
        if (body.num_tasks >= 0 and body.tasks_succeeded >= 0 and body.tasks_failed >= 0 and body.tasks_killed >= 0
                and d.count >= 0 and d.min >= 0 and d.p25 >= 0 and d.p50 >= 0 and d.p75 >= 0 and d.p90 >= 0
                and d.p95 >= 0 and d.p99 >= 0 and d.max >= 0 and d.sum >= 0
                and not 0 < body.completion_time_ms < body.submission_time_ms):
            for _, value in body.metrics.ListFields():
                if value < 0:
                    break
            else:
                return
    _refuse(kind, body, index)


def _refuse(kind: str, body: Any, index: int) -> None:
    for name in _NOT_NEGATIVE.get(kind, ()):
        value = getattr(body, name)
        if value < 0:
            raise InvalidArgument(f"events[{index}].{kind}.{name}: must not be negative (got {value})")
    if kind == "stage_completed":
        for f, value in body.metrics.ListFields():
            if value < 0:
                raise InvalidArgument(f"events[{index}].stage_completed.metrics.{f.name}: must not be negative "
                                      f"(got {value})")
        d = body.task_duration_ms
        # A NaN or an infinity is stored as unknown instead (`server.translate.EMPTY_DISTRIBUTION`).
        for name in _DISTRIBUTION_FIELDS:
            value = getattr(d, name)
            if value < 0 and math.isfinite(value):
                raise InvalidArgument(f"events[{index}].stage_completed.task_duration_ms.{name}: must not be "
                                      f"negative (got {value})")
    span = _SPANS.get(kind)
    if span is not None:
        start, end = getattr(body, span[0]), getattr(body, span[1])
        if 0 < end < start:
            raise InvalidArgument(f"events[{index}].{kind}.{span[1]}: {end} is before {span[0]} {start}")
