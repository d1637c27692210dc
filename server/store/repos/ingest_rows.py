"""Pure: the table rows a batch of events becomes. No database, no clock.

Kept apart from the repository so the rows can be built on the request's own
thread (many at once) and the single writer thread only runs SQL.

Two producers build the same `PreparedBatch`: `prepare` here, from domain
objects (tests, tools), and `server.ingest_wire`, straight from an agent's
protobuf batch on the ingest hot path (building domain objects only to take
them apart again was most of the server's CPU per event). A test holds the
two to the same rows for every kind of event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.domain import (
    Application,
    ApplicationEnd,
    DriverPeaks,
    Executor,
    ExecutorGauges,
    IngestBatch,
    IngestEvent,
    Job,
    SqlExecution,
    Stage,
)
from server.store import convert
from server.store.repos.fastsql import json_text

# Columns an application's start event owns (its end event owns the end_* ones).
APP_START_COLUMNS = ("spark_app_id", "attempt_id", "spark_context_id", "app_name", "spark_version", "user",
                     "cluster_id", "cluster_name", "job_id", "databricks_run_id", "conf", "event_log_path",
                     "start_time_ms", "agent_id")
PURPOSES = ("starts", "ends", "added", "removed", "stages", "peaks", "jobs", "sqls", "gauges", "drivers")

# (purpose, row) pairs one event adds to the materialized tables if it is new.
Materialized = tuple[tuple[str, dict[str, Any]], ...]
# One event, as plain tuples (cheaper than an object per event on the hot path):
# ((application_id, key), kind, payload as received, materialized rows).
PreparedEvent = tuple[tuple[str, str], str, bytes, Materialized]


# `value` storable in a PostgreSQL text column (NUL made U+FFFD): the one rule for an agent's text and
# Databricks' alike (`server.store.convert.storable_text`). Ids and keys are refused (`server.translate`).
text = convert.storable_text


def json_value(value: Any) -> str:
    """`json_text` of `value` with NUL in its strings (keys too) made U+FFFD (see `text`).
    NUL is rare: it is looked for in the JSON (where it is written \\u0000), not in each string."""
    out = json_text(value)
    return json_text(_without_nul(value)) if "\\u0000" in out else out


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


@dataclass(frozen=True)
class PreparedBatch:
    """A validated batch as rows. ``batch`` carries the batch id, agent and
    counters; its ``events`` may be empty: ``events`` here stands for them."""

    batch: IngestBatch
    events: tuple[PreparedEvent, ...]
    ended_applications: tuple[str, ...] = ()  # applications this batch has an end event of
    # Events of the batch left out for their own content (`server.ingest_wire.prepare_batch`): how
    # many, and why the first one was (the field it names). Not stored: a resend drops them again.
    dropped_events: int = 0
    drop_reason: str = ""
    # The workspace of the token that sent the batch (None: bound to none): see `IngestRepository.write`.
    workspace: str | None = None


def prepare(batch: IngestBatch) -> PreparedBatch:
    """The rows of a domain batch."""
    agent_id = batch.agent.agent_id
    events = tuple(((ev.application_id, ev.key), ev.kind, ev.payload, event_materialized(ev, agent_id))
                   for ev in batch.events)
    ended = tuple(dict.fromkeys(ev.application_id for ev in batch.events if ev.kind == "application_end"))
    return PreparedBatch(batch, events, ended)


def event_rows(prepared: Sequence[PreparedBatch], now: int) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Rows of the events table (`EVENT_COLUMNS`), one per distinct (application_id, key), first wins."""
    rows: dict[tuple[str, str], tuple[Any, ...]] = {}
    for pb in prepared:
        for key, kind, payload, _ in pb.events:
            if key not in rows:
                rows[key] = (key[0], key[1], kind, payload, now)
    return rows


EVENT_COLUMNS = ("application_id", "key", "kind", "payload", "received_ms")


def rows_by_purpose(fresh: Sequence[tuple[str, PreparedEvent]], now: int) -> dict[str, list[dict[str, Any]]]:
    """The rows of new events (with the agent that sent each) grouped by what
    they do, plus one row per application."""
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in ("apps", *PURPOSES)}
    seen_apps: set[str] = set()
    for agent_id, (key, _, _, rows) in fresh:
        app_id = key[0]
        if app_id not in seen_apps:
            seen_apps.add(app_id)
            out["apps"].append({"application_id": app_id, "agent_id": agent_id, "received_ms": now})
        for purpose, row in rows:
            out[purpose].append(row)
    return out


def event_materialized(ev: IngestEvent, agent_id: str) -> Materialized:
    """What one domain event adds to the materialized tables."""
    app = ev.application_id
    body = ev.body
    if isinstance(body, Stage):
        row = convert.stage_values(body)
        row["application_id"] = app
        row["name"], row["failure_reason"] = text(row["name"]), text(row["failure_reason"])
        row["parent_ids"] = json_text(row["parent_ids"])
        peaks = tuple(("peaks", {"application_id": app, "stage_id": body.stage_id, "attempt_id": body.attempt_id,
                                 "executor_id": p.executor_id, "metrics": json_value(p.metrics)})
                      for p in body.executor_peaks)
        return (("stages", row), *peaks)
    if isinstance(body, ExecutorGauges):
        return (("gauges", {"application_id": app, "executor_id": body.executor_id, "time_ms": body.time_ms,
                            "memory_used_bytes": body.memory_used_bytes, "max_memory_bytes": body.max_memory_bytes,
                            "active_tasks": body.active_tasks, "total_gc_time_ms": body.total_gc_time_ms,
                            "disk_used_bytes": body.disk_used_bytes}),)
    if isinstance(body, DriverPeaks):
        return (("drivers", {"application_id": app, "jvm_heap_bytes": body.jvm_heap_bytes,
                             "total_gc_ms": body.total_gc_ms, "outside_heap_bytes": body.outside_heap_bytes,
                             "metrics": json_value(body.metrics)}),)
    if isinstance(body, Executor):
        if body.removed_ms:
            return (("removed", {"application_id": app, "executor_id": body.executor_id,
                                 "removed_ms": body.removed_ms, "removal_reason": body.removal_reason,
                                 "removal_text": text(body.removal_text)}),)
        return (("added", {"application_id": app, "executor_id": body.executor_id, "host": text(body.host),
                           "total_cores": body.total_cores, "added_ms": body.added_ms,
                           "resource_profile_id": body.resource_profile_id}),)
    if isinstance(body, Job):
        return (("jobs", {"application_id": app, "job_id": body.job_id, "submission_time_ms": body.submission_time_ms,
                          "completion_time_ms": body.completion_time_ms, "stage_ids": json_text(body.stage_ids),
                          "succeeded": body.succeeded, "sql_execution_id": text(body.sql_execution_id)}),)
    if isinstance(body, SqlExecution):
        return (("sqls", {"application_id": app, "execution_id": body.execution_id, "description": text(body.description),
                          "start_time_ms": body.start_time_ms, "end_time_ms": body.end_time_ms,
                          "error": text(body.error)}),)
    if isinstance(body, Application):
        row = convert.storable_row({c: getattr(body, c) for c in APP_START_COLUMNS if c != "agent_id"})
        return (("starts", {"application_id": app, **row, "conf": json_value(body.conf), "agent_id": agent_id}),)
    if isinstance(body, ApplicationEnd):
        return (("ends", {"application_id": app, "end_time_ms": body.end_time_ms, "ended": True,
                          "expected_stages": body.stages_completed, "expected_jobs": body.jobs_completed,
                          "expected_executors": body.executors_added}),)
    return ()
