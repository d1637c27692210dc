"""Agent batches: protobuf ⇄ domain, with validation. Pure (no I/O, no clock).

`batch_from_proto` checks everything a well-behaved agent guarantees. A bad
batch envelope (its id, agent, counters) raises `InvalidArgument` naming the
field, and a batch with too many events `ResourceExhausted`, before anything is
stored — so a rejected batch leaves no rows behind. A bad event (`check_event`
names its first bad field, ``events[3].key``) is left out instead, counted
(`Drops`), and the batch's other events are stored: the agent parks a refused
batch whole, and on a job cluster a parked batch dies with the driver, so
refusing the batch for one event lost every valid event sent with it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from google.protobuf.unknown_fields import UnknownFieldSet

from protos.trimtab.v1 import common_pb2, ingest_pb2
from server.domain import (
    TASK_METRIC_NAMES,
    UNKNOWN_EVENT_KIND,
    AgentCounters,
    AgentInfo,
    Application,
    ApplicationEnd,
    Distribution,
    DriverPeaks,
    Executor,
    ExecutorGauges,
    ExecutorStagePeak,
    IngestBatch,
    IngestEvent,
    IngestResult,
    Job,
    SqlExecution,
    Stage,
)
from server.errors import InvalidArgument, ResourceExhausted
from server.event_amounts import CHECKED_KINDS, check_amounts
from server.store.repos.ingest_rows import text

log = logging.getLogger(__name__)

_FIRST_BODY_FIELD = min(f.number for f in ingest_pb2.Event.DESCRIPTOR.oneofs_by_name["body"].fields)

MAX_ID_LENGTH = 256
MAX_KEY_LENGTH = 512

REMOVAL_REASONS = {
    ingest_pb2.REMOVAL_REASON_UNSPECIFIED: "",
    ingest_pb2.REMOVAL_REASON_KILLED_BY_DRIVER: "killed_by_driver",
    ingest_pb2.REMOVAL_REASON_DECOMMISSION: "decommission",
    ingest_pb2.REMOVAL_REASON_LOST: "lost",
    ingest_pb2.REMOVAL_REASON_HEARTBEAT_TIMEOUT: "heartbeat_timeout",
    ingest_pb2.REMOVAL_REASON_EXITED: "exited",
}
_DIST_FIELDS = ("count", "min", "p25", "p50", "p75", "p90", "p95", "p99", "max", "sum")

# 3000-01-01T00:00:00Z in ms: a timestamp past it is a unit slip or garbage, never a Spark event's time.
MAX_TIME_MS = 32_503_680_000_000
# The timestamps of each event kind (durations such as total_gc_time_ms are not times). 0 is allowed
# in every one of them: the agent sends 0 for a time Spark's log left out (`agent.parse._int`).
# executor_removed.time_ms must be positive all the same (`check_event`): a removal at 0
# would read as the executor's addition (`server.domain.Executor`).
_TIMESTAMPS: dict[str, tuple[str, ...]] = {
    "application_start": ("start_time_ms",), "application_end": ("end_time_ms",),
    "executor_added": ("time_ms",), "executor_removed": ("time_ms",),
    "stage_completed": ("submission_time_ms", "completion_time_ms"),
    "job_completed": ("submission_time_ms", "completion_time_ms"),
    "sql_execution": ("start_time_ms", "end_time_ms"), "executor_gauges": ("time_ms",),
}
_COUNTERS = tuple(f.name for f in ingest_pb2.AgentCounters.DESCRIPTOR.fields if f.name != "spark_dropped_events")


def _check_counters(msg: ingest_pb2.EventBatch) -> None:
    """`InvalidArgument` naming the first counter below 0 (timestamps: `check_event`)."""
    if msg.HasField("counters"):
        c = msg.counters
        for name in _COUNTERS:
            if getattr(c, name) < 0:
                raise InvalidArgument(f"counters.{name}: must not be negative")
        for key, value in c.spark_dropped_events.items():
            if value < 0:
                raise InvalidArgument(f"counters.spark_dropped_events[{key!r}]: must not be negative")


def _check_times(kind: str, body: object, index: int) -> None:
    for name in _TIMESTAMPS.get(kind, ()):
        value = getattr(body, name)
        if not 0 <= value <= MAX_TIME_MS:
            raise InvalidArgument(f"events[{index}].{kind}.{name}: {value} is not a time between 0 (unknown) "
                                  "and the year 3000 in ms")


def _check_id(value: str, field: str, limit: int = MAX_ID_LENGTH) -> None:
    if not value or value.isspace():
        # A blank id is refused like an empty one (it names nothing a person can tell apart).
        raise InvalidArgument(f"{field}: must not be empty" + (f" (got {value!r})" if value else ""))
    if len(value) > limit:
        raise InvalidArgument(f"{field}: longer than {limit} characters")
    if "\x00" in value:
        # PostgreSQL cannot store NUL in text. Ids are not rewritten (a rewritten id could meet
        # another one, and would no longer match what the agent resends): refused, named.
        raise InvalidArgument(f"{field}: contains a NUL character (\\x00), which the database cannot store")


def _bad_id(value: str, limit: int) -> bool:
    """Whether `_check_id` would refuse `value` (the hot path calls it only then)."""
    return not value or len(value) > limit or value.isspace() or "\x00" in value


def check_batch(msg: ingest_pb2.EventBatch, max_events: int) -> None:
    """Raise for a bad batch header (id, agent, size); events are checked by `check_event`."""
    _check_id(msg.batch_id, "batch_id")
    if not msg.HasField("agent"):
        raise InvalidArgument("agent: missing")
    _check_id(msg.agent.agent_id, "agent.agent_id")
    if len(msg.events) > max_events:
        raise ResourceExhausted(f"events: {len(msg.events)} events in one batch, at most {max_events}")
    _check_counters(msg)


def agent_from_proto(msg: ingest_pb2.EventBatch) -> tuple[AgentInfo, AgentCounters | None]:
    """The batch's agent, and its counters: None when the batch has none, which is not all zeros
    (the store keeps the agent's stored counters then: ingest.proto ``EventBatch.counters``)."""
    agent = AgentInfo(agent_id=msg.agent.agent_id, version=text(msg.agent.version),
                      hostname=text(msg.agent.hostname), cluster_id=text(msg.agent.cluster_id))
    return agent, (_counters(msg.counters) if msg.HasField("counters") else None)


# A drop reason is shown in a log line and sent back in the acknowledgement: bounded, as an id or a
# value quoted in it may be long (`check_event` quotes what it refuses in some messages).
MAX_DROP_REASON = 500


@dataclass
class Drops:
    """The events of one batch left out because `check_event` refused them: how many, and the
    first one's reason and application (what a person needs to find the agent and the event)."""

    count: int = 0
    first_reason: str = ""
    first_application: str = ""

    def add(self, error: InvalidArgument, application_id: str) -> None:
        if not self.count:
            reason = str(error)
            self.first_reason = reason if len(reason) <= MAX_DROP_REASON else reason[:MAX_DROP_REASON] + "..."
            self.first_application = application_id[:MAX_ID_LENGTH]
        self.count += 1

    def warn(self, batch_id: str, agent_id: str, kept: int) -> None:
        """One WARNING for the batch, if it dropped anything (never one per event: a broken agent
        sends thousands)."""
        if self.count:
            log.warning("batch %s of agent %s: %d invalid event(s) dropped, the other %d stored; first: %s "
                        "(application %r)", batch_id, agent_id, self.count, kept, self.first_reason,
                        self.first_application)


def batch_from_proto(msg: ingest_pb2.EventBatch, max_events: int) -> IngestBatch:
    """The domain batch for `msg` without its invalid events (logged, see `Drops`), or
    `InvalidArgument`/`ResourceExhausted` for a bad batch envelope."""
    check_batch(msg, max_events)
    events: list[IngestEvent] = []
    drops = Drops()
    for i, ev in enumerate(msg.events):
        try:
            events.append(_event(ev, i))
        except InvalidArgument as exc:
            drops.add(exc, ev.application_id)
    agent, counters = agent_from_proto(msg)
    drops.warn(msg.batch_id, agent.agent_id, len(events))
    return IngestBatch(batch_id=msg.batch_id, agent=agent, events=tuple(events), counters=counters)


def ack_to_proto(result: IngestResult, dropped_events: int = 0, drop_reason: str = "") -> ingest_pb2.BatchAck:
    refused = [ingest_pb2.RefusedApplication(application_id=r.application_id, events=r.events, reason=r.reason)
               for r in result.refused_applications]
    return ingest_pb2.BatchAck(batch_id=result.batch_id, stored_events=result.stored_events,
                               duplicate_events=result.duplicate_events, dropped_events=dropped_events,
                               drop_reason=drop_reason, refused_applications=refused)


def _counters(c: ingest_pb2.AgentCounters) -> AgentCounters:
    return AgentCounters(
        events_read=c.events_read, events_sent=c.events_sent,
        events_dropped_spool_full=c.events_dropped_spool_full,
        batches_dropped_spool_full=c.batches_dropped_spool_full, lines_corrupt=c.lines_corrupt,
        lines_oversized=c.lines_oversized, batches_rejected=c.batches_rejected,
        spark_dropped_events={text(k): v for k, v in c.spark_dropped_events.items()},
        file_bytes_unread_at_stop=c.file_bytes_unread_at_stop,
    )


_NAMES_EXECUTOR = frozenset({"executor_added", "executor_removed", "executor_gauges"})


def check_event(ev: ingest_pb2.Event, index: int) -> str:
    """The event's kind (its body's field name), or `InvalidArgument` naming the first bad field.
    Hot path (tens of thousands a second): the field path is only formatted on error."""
    key, app = ev.key, ev.application_id
    # `_bad_id` written out: twice per event.
    if not key or len(key) > MAX_KEY_LENGTH or key.isspace() or "\x00" in key:
        _check_id(key, f"events[{index}].key", MAX_KEY_LENGTH)
    if not app or len(app) > MAX_ID_LENGTH or app.isspace() or "\x00" in app:
        _check_id(app, f"events[{index}].application_id")
    kind = ev.WhichOneof("body")
    if kind is None:
        if any(f.field_number >= _FIRST_BODY_FIELD for f in UnknownFieldSet(ev)):
            return UNKNOWN_EVENT_KIND
        raise InvalidArgument(f"events[{index}].body: no event set")
    if kind == "stage_completed":
        s = ev.stage_completed
        if s.stage_id < 0:
            raise InvalidArgument(f"events[{index}].stage_completed.stage_id: must not be negative")
        for i, p in enumerate(s.executor_peaks):
            if _bad_id(p.executor_id, MAX_ID_LENGTH):
                _check_id(p.executor_id, f"events[{index}].stage_completed.executor_peaks[{i}].executor_id")
    elif kind in _NAMES_EXECUTOR:
        executor_id = getattr(ev, kind).executor_id
        if _bad_id(executor_id, MAX_ID_LENGTH):
            _check_id(executor_id, f"events[{index}].{kind}.executor_id")
        if kind == "executor_removed" and ev.executor_removed.time_ms <= 0:
            raise InvalidArgument(f"events[{index}].executor_removed.time_ms: must be positive")
    elif kind == "driver_peaks":
        for name, value in ev.driver_peaks.metrics.items():
            if not name or len(name) > MAX_ID_LENGTH:
                _check_id(name, f"events[{index}].driver_peaks.metrics key")
            if value < 0:
                raise InvalidArgument(f"events[{index}].driver_peaks.metrics[{name!r}]: must not be negative")
    elif kind == "application_start":
        own = ev.application_start.application_id
        if own and own != app:
            raise InvalidArgument(f"events[{index}].application_start.application_id: {own!r} differs from "
                                  f"the event's {app!r}")
    if kind in _TIMESTAMPS:
        _check_times(kind, getattr(ev, kind), index)
    if kind in CHECKED_KINDS:
        check_amounts(kind, getattr(ev, kind), index)
    return kind


def _event(ev: ingest_pb2.Event, index: int) -> IngestEvent:
    kind = check_event(ev, index)
    app = ev.application_id
    body: object
    if kind == UNKNOWN_EVENT_KIND:
        body = None  # kept as its payload only (see server.domain.UNKNOWN_EVENT_KIND)
    elif kind == "application_start":
        body = _application(ev.application_start, app)
    elif kind == "application_end":
        e = ev.application_end
        body = ApplicationEnd(end_time_ms=e.end_time_ms, stages_completed=e.stages_completed,
                              jobs_completed=e.jobs_completed, executors_added=e.executors_added)
    elif kind == "executor_added":
        a = ev.executor_added
        body = Executor(application_id=app, executor_id=a.executor_id, host=a.host, total_cores=a.total_cores,
                        added_ms=a.time_ms, resource_profile_id=a.resource_profile_id)
    elif kind == "executor_removed":
        r = ev.executor_removed
        body = Executor(application_id=app, executor_id=r.executor_id, removed_ms=r.time_ms,
                        removal_reason=REMOVAL_REASONS.get(r.reason, ""), removal_text=r.reason_text)
    elif kind == "stage_completed":
        body = _stage(ev.stage_completed, app)
    elif kind == "job_completed":
        j = ev.job_completed
        body = Job(application_id=app, job_id=j.job_id, submission_time_ms=j.submission_time_ms,
                   completion_time_ms=j.completion_time_ms, stage_ids=tuple(j.stage_ids),
                   succeeded=j.succeeded, sql_execution_id=j.sql_execution_id)
    elif kind == "sql_execution":
        s = ev.sql_execution
        body = SqlExecution(application_id=app, execution_id=s.execution_id, description=s.description,
                            start_time_ms=s.start_time_ms, end_time_ms=s.end_time_ms, error=s.error)
    elif kind == "driver_peaks":
        body = DriverPeaks(application_id=app, metrics=dict(ev.driver_peaks.metrics))
    else:
        g = ev.executor_gauges
        body = ExecutorGauges(application_id=app, executor_id=g.executor_id, time_ms=g.time_ms,
                              memory_used_bytes=g.memory_used_bytes, max_memory_bytes=g.max_memory_bytes,
                              active_tasks=g.active_tasks, total_gc_time_ms=g.total_gc_time_ms,
                              disk_used_bytes=g.disk_used_bytes)
    return IngestEvent(application_id=app, key=ev.key, kind=kind, body=body, payload=ev.SerializeToString())


def _application(a: ingest_pb2.ApplicationStart, app: str) -> Application:
    return Application(
        application_id=app, spark_app_id=a.spark_app_id, attempt_id=a.attempt_id,
        spark_context_id=a.spark_context_id, app_name=a.app_name, spark_version=a.spark_version,
        user=a.user, cluster_id=a.cluster_id, cluster_name=a.cluster_name, job_id=a.job_id,
        databricks_run_id=a.run_id, conf=dict(a.conf), event_log_path=a.event_log_path,
        start_time_ms=a.start_time_ms,
    )


def _stage(s: ingest_pb2.StageCompleted, app: str) -> Stage:
    peaks = tuple(ExecutorStagePeak(p.executor_id, dict(p.metrics.items())) for p in s.executor_peaks)
    return Stage(
        application_id=app, stage_id=s.stage_id, attempt_id=s.attempt_id, name=s.name, num_tasks=s.num_tasks,
        parent_ids=tuple(s.parent_ids), submission_time_ms=s.submission_time_ms,
        completion_time_ms=s.completion_time_ms, failure_reason=s.failure_reason,
        metrics=metrics_from_proto(s.metrics), task_duration_ms=distribution_from_proto(s.task_duration_ms),
        tasks_succeeded=s.tasks_succeeded, tasks_failed=s.tasks_failed, tasks_killed=s.tasks_killed,
        executor_peaks=peaks, input_from_cache=s.input_from_cache,
    )


def metrics_from_proto(m: common_pb2.TaskMetrics) -> dict[str, int]:
    """The metrics that are set (absent ones are 0, as in the proto)."""
    return {f.name: v for f, v in m.ListFields()}


def metrics_to_proto(metrics: dict[str, int]) -> common_pb2.TaskMetrics:
    return common_pb2.TaskMetrics(**{k: int(v) for k, v in metrics.items() if k in TASK_METRIC_NAMES})


def distribution_from_proto(d: common_pb2.Distribution) -> Distribution:
    # Positional on purpose: this runs once per stage on the ingest hot path.
    return Distribution(*task_durations(d))


# A distribution with a NaN or an infinite value is stored as this one: unknown (count 0), as for a
# stage whose log had no task times. Why not refuse the batch (INVALID_ARGUMENT naming the field)?
# The agent parks a refused batch whole, so the batch's valid events would be lost with it, and
# the stage's other fields (times, metrics, task counts) are still good. Why not store the value?
# SQLite binds NaN as NULL (the td_* columns are NOT NULL: the batch failed) while PostgreSQL
# stores it, so the engines disagreed; and an infinite sum or quantile would flow into the models'
# arithmetic. Why the whole distribution rather than the one value? A quantile set to 0 among real
# ones would read as a real 0 ms; count 0 makes the planner fall back to the stage's task count and
# run time (`server.plan.observe.stage_obs`). `server.ingest_wire.prepare_batch` logs what it dropped.
EMPTY_DISTRIBUTION: tuple[int | float, ...] = (0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def nonfinite_field(d: common_pb2.Distribution) -> str | None:
    """``"p50=nan"`` for the first NaN or infinite value of `d`, None when all are finite."""
    # Hot path (once per stage): one sum decides for the usual all-finite distribution. A NaN or an
    # infinity makes total - total NaN; a sum of huge finite values can overflow too, so the slow
    # path below has the last word.
    total = d.min + d.p25 + d.p50 + d.p75 + d.p90 + d.p95 + d.p99 + d.max + d.sum
    if total - total == 0.0:
        return None
    for name in _DIST_FIELDS[1:]:  # count is an integer: always finite
        value = getattr(d, name)
        if not math.isfinite(value):
            return f"{name}={value}"
    return None


def task_durations(d: common_pb2.Distribution) -> tuple[int | float, ...]:
    """The values of `d` in `_DIST_FIELDS` order, or `EMPTY_DISTRIBUTION` when one is not finite."""
    if nonfinite_field(d) is not None:
        return EMPTY_DISTRIBUTION
    return (d.count, d.min, d.p25, d.p50, d.p75, d.p90, d.p95, d.p99, d.max, d.sum)


def distribution_to_proto(d: Distribution) -> common_pb2.Distribution:
    return common_pb2.Distribution(**{name: getattr(d, name) for name in _DIST_FIELDS})
