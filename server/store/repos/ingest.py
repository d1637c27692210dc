"""The write side of agent data: batches of events, stored once, materialized.

`IngestRepository.write` stores any number of batches in ONE transaction:
the raw events first (keys already on the ``(application_id, key)`` primary
key are read, the rest inserted), then only the new ones are materialized
into applications / stages / executors / jobs / sql_executions with one
driver-level ``executemany`` upsert per table (see `fastsql`). Upserts name the columns each event owns,
so an executor's "removed" event arriving before its "added" one still ends
in the same row. Nothing is visible, and nothing acknowledged, before commit.

Each application row records the workspace of the token that first sent its events (the batch's
``workspace``; first writer wins). A batch from a token bound to one workspace that adds to an
application first sent under another workspace's token has that application's events refused
(``IngestResult.refused_applications``), not stored: one workspace's agent token cannot feed
another's runs. The batch's other applications are stored: an agent's batch mixes the applications
it follows, and refusing it whole held back every later one of them for good (the agent resends
what is not acknowledged, oldest first). Refusing in the result, not by raising, keeps the other
batches of its group in the one transaction.

Each agent's status row (what it last reported, `agents`) records the workspace of the first bound
token that reported it (a row an unbound token made, or one stored before migration 0011, is
claimed by the first bound token reporting it). A bound token reporting an agent id another
workspace's token claimed has its batch stored as usual, but the row is left as it is
(``IngestResult.agent_status_skipped``; the ingest servicer logs it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from server.domain import (
    UNKNOWN_EVENT_KIND,
    AgentCounters,
    AgentStatus,
    IngestBatch,
    IngestResult,
    RefusedApplication,
)
from server.errors import Unavailable, shown
from server.store.engine import RETRY_AFTER_MS
from server.store.repos import fastsql
from server.store.repos.base import Repository, chunks
from server.store.repos.ingest_rows import (
    APP_START_COLUMNS,
    EVENT_COLUMNS,
    PreparedBatch,
    PreparedEvent,
    event_rows,
    prepare,
    rows_by_purpose,
)
from server.store.tables import (
    AgentRow,
    ApplicationRow,
    DriverPeakRow,
    EventRow,
    ExecutorGaugeRow,
    ExecutorRow,
    IngestBatchRow,
    JobRow,
    SqlExecutionRow,
    StageExecutorPeakRow,
    StageRow,
)

EV = EventRow.__table__  # type: ignore[attr-defined]
BA = IngestBatchRow.__table__  # type: ignore[attr-defined]
AG = AgentRow.__table__  # type: ignore[attr-defined]
APP = ApplicationRow.__table__  # type: ignore[attr-defined]
ST = StageRow.__table__  # type: ignore[attr-defined]
PK = StageExecutorPeakRow.__table__  # type: ignore[attr-defined]
EX = ExecutorRow.__table__  # type: ignore[attr-defined]
GA = ExecutorGaugeRow.__table__  # type: ignore[attr-defined]
DP = DriverPeakRow.__table__  # type: ignore[attr-defined]
JB = JobRow.__table__  # type: ignore[attr-defined]
SQ = SqlExecutionRow.__table__  # type: ignore[attr-defined]



class IngestRepository(Repository):
    def prepare(self, batch: IngestBatch) -> PreparedBatch:
        """The rows `batch` would add, computed without the database: call it on
        the request's own thread so the single writer only executes SQL."""
        return prepare(batch)

    def write(self, batches: Sequence[IngestBatch | PreparedBatch]) -> list[IngestResult]:
        """Store `batches` atomically; one result per batch, in order.

        An event already stored (by an earlier call or an earlier batch of this
        call) counts as a duplicate and is not materialized again.
        """
        now = self._clock.now_ms()
        prepared = [b if isinstance(b, PreparedBatch) else prepare(b) for b in batches]
        with self._write() as conn:
            refused, owners = self._owners(conn, prepared)
            accepted = [_without(pb, refused.get(i, {})) for i, pb in enumerate(prepared)]
            new_keys = self._insert_events(conn, accepted, now)
            results: list[IngestResult] = []
            fresh: list[tuple[str, PreparedEvent]] = []
            for i, pb in enumerate(accepted):
                agent_id = pb.batch.agent.agent_id
                stored = 0
                for ev in pb.events:
                    # Each key counts as stored once: for its first occurrence only.
                    if ev[0] in new_keys:
                        new_keys.discard(ev[0])
                        fresh.append((agent_id, ev))
                        stored += 1
                results.append(IngestResult(pb.batch.batch_id, stored, len(pb.events) - stored,
                                            _refusals(prepared[i], refused.get(i, {}))))
            rows = rows_by_purpose(fresh, now)
            for row in rows["apps"]:  # inserted only when new: a stored application keeps its workspace
                row["workspace"] = owners.get(row["application_id"])
            _materialize(conn, rows)
            # Every batch is acknowledged, so each is recorded; with all its events (refused ones too)
            # in the agent's SENT, as the agent counts them once acknowledged.
            skipped = self._record_batches(conn, prepared, results, now)
        for n in skipped:
            results[n] = dataclasses.replace(results[n], agent_status_skipped=True)
        return results

    @staticmethod
    def _owners(conn: sa.Connection, prepared: Sequence[PreparedBatch]
                ) -> tuple[dict[int, dict[str, str]], dict[str, str | None]]:
        """(the applications refused to each batch, by its index, each with why; the workspace each
        application accepted belongs to). An application's workspace is the stored one, else that of
        the first batch of this call sending it (the batches' order is the writer's).

        A token bound to no workspace (an admin token, an agent token made without one) is refused
        nothing, as before tokens had workspaces; nor is a bound token adding to an application
        first sent by such a token (one stored before migration 0010 goes on taking its agent's
        last batches once the token is bound)."""
        apps = sorted({ev[0][0] for pb in prepared for ev in pb.events})
        owners: dict[str, str | None] = {}
        for part in chunks(apps, 500):
            owners.update((a, w) for a, w in conn.execute(
                sa.select(APP.c.application_id, APP.c.workspace).where(APP.c.application_id.in_(part))).all())
        refused: dict[int, dict[str, str]] = {}
        for i, pb in enumerate(prepared):
            for a in dict.fromkeys(ev[0][0] for ev in pb.events):
                if pb.workspace is not None and owners.get(a, pb.workspace) not in (None, pb.workspace):
                    # Names only what the sender sent: not the workspace the application is of.
                    refused.setdefault(i, {})[a] = (
                        f"application {shown(a)} was first sent with another workspace's agent token: this "
                        f"token may only send data of workspace {shown(pb.workspace)}'s clusters (its secret "
                        f"is that workspace's; see docs/agent.md)")
                else:
                    owners.setdefault(a, pb.workspace)
        return refused, owners

    def check_writable(self) -> None:
        """Raise (`Unavailable` when it cannot be reached) unless the database opens and commits an
        empty write transaction: what the ingest writer needs, checked without writing anything.
        On SQLite that takes the write lock (BEGIN IMMEDIATE), which a read would not need."""
        with self._write() as conn:
            if conn.dialect.name != "postgresql":
                conn.exec_driver_sql("SELECT 1")
                return
            # A read-only PostgreSQL (a standby after a failover, default_transaction_read_only)
            # accepts an empty transaction but refuses every insert.
            standby, read_only = conn.exec_driver_sql(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").one()
            if standby or read_only == "on":
                raise Unavailable("database is read-only (a standby after a failover, or set read-only): "
                                  "the ingest writer cannot write", retry_after_ms=RETRY_AFTER_MS)

    @staticmethod
    def _insert_events(conn: sa.Connection, prepared: Sequence[PreparedBatch], now: int) -> set[tuple[str, str]]:
        """Insert the events not stored yet; return their keys.

        ON CONFLICT DO NOTHING skips the keys already stored, and the insert
        itself says which rows were new: on PostgreSQL by RETURNING them; on
        SQLite (no RETURNING with executemany) by how many it inserted — all of
        them unless a batch is resent. Only then is the insert undone to a
        savepoint and the stored keys looked up first. The writer is the only
        one writing (`server.ingest`), so this is exact within its transaction.
        """
        rows = event_rows(prepared, now)
        if not rows:
            return set()
        key = ("application_id", "key")
        if conn.dialect.name == "postgresql":
            inserted = fastsql.insert_tuples(conn, EV, EVENT_COLUMNS, list(rows.values()), keys=key, returning=key)
            assert isinstance(inserted, list)
            return {(a, k) for a, k in inserted}
        conn.exec_driver_sql("SAVEPOINT trimtab_events")
        if fastsql.insert_tuples(conn, EV, EVENT_COLUMNS, list(rows.values()), keys=key) == len(rows):
            conn.exec_driver_sql("RELEASE trimtab_events")
            return set(rows)
        conn.exec_driver_sql("ROLLBACK TO trimtab_events")
        conn.exec_driver_sql("RELEASE trimtab_events")
        known: set[tuple[str, str]] = set()
        by_app: dict[str, list[str]] = {}
        for app_id, k in rows:
            by_app.setdefault(app_id, []).append(k)
        for app_id, keys in by_app.items():
            for part in chunks(keys, 500):
                sql = f"SELECT key FROM events WHERE application_id = ? AND key IN ({', '.join('?' * len(part))})"
                known.update((app_id, k) for (k,) in conn.exec_driver_sql(sql, (app_id, *part)).all())
        rows = {k: r for k, r in rows.items() if k not in known}
        fastsql.insert_tuples(conn, EV, EVENT_COLUMNS, list(rows.values()), keys=key)
        return set(rows)

    @staticmethod
    def _record_batches(conn: sa.Connection, prepared: Sequence[PreparedBatch],
                        results: list[IngestResult], now: int) -> set[int]:
        """Record the batches and their agents' latest status; returns the indexes of the batches
        whose agent's status was left alone (`_agent_owners`)."""
        batch_rows: dict[tuple[str, str], dict[str, Any]] = {}
        agent_rows: dict[str, dict[str, Any]] = {}
        owners = _agent_owners(conn, prepared)
        seen = _batches_seen(conn, prepared)
        # Each agent's counters as of the batch before (stored, then this group's): what a batch
        # without counters keeps (see below).
        latest = _stored_counters(conn, prepared)
        skipped: set[int] = set()
        for n, (pb, result) in enumerate(zip(prepared, results, strict=True)):
            batch = pb.batch
            key = (batch.agent.agent_id, batch.batch_id)
            # A batch counts once in the agent's BATCHES, at its first delivery; a re-delivery (its
            # acknowledgement was lost) only adds to the batch row's `deliveries`.
            first = key not in batch_rows and key not in seen
            if key in batch_rows:
                batch_rows[key]["deliveries"] += 1
                batch_rows[key]["duplicate_events"] += result.duplicate_events
            else:
                batch_rows[key] = {"agent_id": key[0], "batch_id": key[1], "received_ms": now,
                                   "stored_events": result.stored_events,
                                   "duplicate_events": result.duplicate_events, "deliveries": 1}
            owner = owners.setdefault(batch.agent.agent_id, pb.workspace)
            if pb.workspace is not None and owner not in (None, pb.workspace):
                skipped.add(n)
                continue
            if owner is None and pb.workspace is not None:
                # A row with no workspace (first reported by an unbound token, or stored before
                # migration 0011) is claimed by the first bound token reporting it: from then on it
                # is listed under that workspace and other workspaces' tokens leave it alone.
                owner = owners[batch.agent.agent_id] = pb.workspace
            previous = agent_rows.get(batch.agent.agent_id)
            counters = batch.counters
            # The agent fills its counters before each attempt to send a batch (agent/runner.py
            # `_prepare`) and adds a batch's events to events_sent only once it is acknowledged
            # (agent/spool.py `ack`), so the counters a batch carries never include the batch itself:
            # kept as sent, every agent's SENT would lag by its last batch for good. Stored, the batch
            # is sent, so its events are added here, all of them as the agent counts them (those this
            # server dropped as invalid too). A re-delivery cannot count them twice: its counters come
            # from the later attempt, which still excludes them (one batch is in flight at a time and
            # an acknowledged batch is deleted before it is counted, so never sent again), and the row
            # keeps the latest counters rather than adding them up.
            delivered = len(pb.events) + pb.dropped_events
            if counters is not None:
                sent = counters.events_sent + delivered
            else:
                # No counters (an older agent, another client; ingest.proto EventBatch.counters): they
                # are cumulative, so the stored ones still hold, not zeros. Its events were sent all
                # the same, once: a re-delivery adds nothing.
                counters = latest.get(batch.agent.agent_id) or AgentCounters()
                sent = counters.events_sent + (delivered if first else 0)
            counters = latest[batch.agent.agent_id] = dataclasses.replace(counters, events_sent=sent)
            agent_rows[batch.agent.agent_id] = {
                "agent_id": batch.agent.agent_id, "version": batch.agent.version,
                "hostname": batch.agent.hostname, "cluster_id": batch.agent.cluster_id,
                "counters": fastsql.json_text(dataclasses.asdict(counters)),
                "last_seen_ms": now,
                "batches_received": (previous["batches_received"] if previous else 0) + int(first),
                # Set when the row is new or has none (`fill` below): the first bound token's wins.
                "workspace": owner,
            }
        # Re-deliveries add up; the agent row keeps the latest counters.
        fastsql.insert(conn, BA, list(batch_rows.values()), keys=("agent_id", "batch_id"),
                       update=(), accumulate=("deliveries", "duplicate_events"))
        fastsql.insert(conn, AG, list(agent_rows.values()), keys=("agent_id",),
                       update=("version", "hostname", "cluster_id", "counters", "last_seen_ms"),
                       accumulate=("batches_received",), fill=("workspace",))
        return skipped

    def agents(self, workspace: str | None = None, cluster_id: str | None = None,
               limit: int | None = None) -> list[AgentStatus]:
        """What each agent last reported: by agent id, or the ``limit`` seen last (newest first).
        ``workspace`` keeps the agents it claimed (see `_agent_owners`), ``cluster_id``
        those on that Databricks cluster (filtered before the limit)."""
        query = sa.select(AG)
        if workspace is not None:
            query = query.where(AG.c.workspace == workspace)
        if cluster_id is not None:
            query = query.where(AG.c.cluster_id == cluster_id)
        if limit is None:
            query = query.order_by(AG.c.agent_id)
        else:
            query = query.order_by(AG.c.last_seen_ms.desc(), AG.c.agent_id).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [AgentStatus(agent_id=r.agent_id, version=r.version, hostname=r.hostname,
                            cluster_id=r.cluster_id, counters=_counters(r.counters),
                            batches_received=r.batches_received, last_seen_ms=r.last_seen_ms,
                            workspace=r.workspace) for r in rows]

    def events(self, application_id: str) -> list[tuple[str, str, bytes]]:
        """(key, kind, payload as received) of an application's events, by key."""
        with self._read() as conn:
            rows = conn.execute(sa.select(EV.c.key, EV.c.kind, EV.c.payload)
                                .where(EV.c.application_id == application_id).order_by(EV.c.key)).all()
        return [(r.key, r.kind, bytes(r.payload)) for r in rows]

    def compact_event_payloads(self, received_before_ms: int, batch: int = 5000) -> tuple[int, int]:
        """Drop the verbatim copy (payload) of events received before ``received_before_ms``;
        returns (events compacted, payload bytes dropped).

        Each event keeps its row: its key is what makes a re-sent event a duplicate, and everything
        materialized from it (applications, stages, executors, peaks) stays as it is. Events of a
        kind this server does not know keep their payload, their only copy. Fields a newer agent
        added to a kind this server does know live only in the payload and go with it. Works in batches of
        ``batch`` events so that a large table is never locked by one long transaction. The
        database reuses the space; only a VACUUM gives it back to the file system.
        """
        size = sa.func.length(EV.c.payload)
        pk = sa.tuple_(EV.c.application_id, EV.c.key)
        pick = (sa.select(EV.c.application_id, EV.c.key, size)
                .where(EV.c.received_ms < received_before_ms, size > 0, EV.c.kind != UNKNOWN_EVENT_KIND)
                .order_by(EV.c.application_id, EV.c.key).limit(batch))
        clear = (sa.update(EV).where(EV.c.application_id == sa.bindparam("app"), EV.c.key == sa.bindparam("ev"))
                 .values(payload=b""))
        events = dropped = 0
        after: tuple[str, str] | None = None
        while True:
            # Keyset pagination along the primary key: one pass over the table however many batches.
            query = pick if after is None else pick.where(pk > sa.tuple_(*after))
            with self._write() as conn:
                rows = conn.execute(query).all()
                if rows:
                    conn.execute(clear, [{"app": app_id, "ev": key} for app_id, key, _ in rows])
            events += len(rows)
            dropped += sum(int(n) for _, _, n in rows)
            if len(rows) < batch:
                return events, dropped
            after = (rows[-1][0], rows[-1][1])


def _without(pb: PreparedBatch, refused: dict[str, str]) -> PreparedBatch:
    """``pb`` without the events of the ``refused`` applications."""
    if not refused:
        return pb
    return dataclasses.replace(pb, events=tuple(ev for ev in pb.events if ev[0][0] not in refused),
                               ended_applications=tuple(a for a in pb.ended_applications if a not in refused))


def _refusals(pb: PreparedBatch, refused: dict[str, str]) -> tuple[RefusedApplication, ...]:
    """What the result says of the ``refused`` applications of ``pb``, in the batch's order."""
    if not refused:
        return ()
    events = dict.fromkeys(refused, 0)
    for ev in pb.events:
        if ev[0][0] in events:
            events[ev[0][0]] += 1
    return tuple(RefusedApplication(a, events[a], refused[a]) for a in refused)


def _agent_owners(conn: sa.Connection, prepared: Sequence[PreparedBatch]) -> dict[str, str | None]:
    """The stored workspace of each agent the batches report (absent: no row yet).

    An agent's status row is another workspace's when a bound token first reported it: a batch of a
    token bound to a different workspace is stored as usual (its applications follow their own rule,
    `_owners`) but does not overwrite that row, so one workspace's token cannot rewrite what another
    workspace's agent reported. Unbound tokens update any row, as before; a row with no workspace
    (first reported by an unbound token, or stored before migration 0011) is claimed by the first
    bound token that reports it."""
    ids = sorted({pb.batch.agent.agent_id for pb in prepared})
    owners: dict[str, str | None] = {}
    for part in chunks(ids, 500):
        owners.update((a, w) for a, w in conn.execute(
            sa.select(AG.c.agent_id, AG.c.workspace).where(AG.c.agent_id.in_(part))).all())
    return owners


def _stored_counters(conn: sa.Connection, prepared: Sequence[PreparedBatch]) -> dict[str, AgentCounters]:
    """The stored counters of the agents of the batches that carry none (read only for those: the
    agent sends them with every batch)."""
    ids = sorted({pb.batch.agent.agent_id for pb in prepared if pb.batch.counters is None})
    stored: dict[str, AgentCounters] = {}
    for part in chunks(ids, 500):
        stored.update((a, _counters(c)) for a, c in conn.execute(
            sa.select(AG.c.agent_id, AG.c.counters).where(AG.c.agent_id.in_(part))).all())
    return stored


def _batches_seen(conn: sa.Connection, prepared: Sequence[PreparedBatch]) -> set[tuple[str, str]]:
    """The (agent id, batch id) of the batches already stored by an earlier write: re-deliveries.

    Each engine looks the keys up on the primary key its own way: PostgreSQL with (agent_id,
    batch_id) IN pairs (given the two IN lists, it scanned every batch of those agents, a cost
    growing with the table); SQLite with the two IN lists (given pairs, it scanned the table)."""
    keys = sorted({(pb.batch.agent.agent_id, pb.batch.batch_id) for pb in prepared})
    seen: set[tuple[str, str]] = set()
    for part in chunks(keys, 500):
        match: sa.ColumnElement[bool]
        if conn.dialect.name == "postgresql":
            match = sa.tuple_(BA.c.agent_id, BA.c.batch_id).in_(part)
        else:
            match = sa.and_(BA.c.agent_id.in_(sorted({a for a, _ in part})),
                             BA.c.batch_id.in_(sorted({b for _, b in part})))
        seen.update((a, b) for a, b in conn.execute(sa.select(BA.c.agent_id, BA.c.batch_id).where(match)).all())
    return seen & set(keys)


def _counters(data: dict[str, Any] | None) -> AgentCounters:
    names = {f.name for f in dataclasses.fields(AgentCounters)}
    return AgentCounters(**{k: v for k, v in (data or {}).items() if k in names})


def _materialize(conn: sa.Connection, rows: dict[str, list[dict[str, Any]]]) -> None:
    app, ex = ("application_id",), ("application_id", "executor_id")
    # Every application that has events gets a row, even before its start event.
    fastsql.insert(conn, APP, rows["apps"], keys=app, update=())
    fastsql.insert(conn, APP, rows["starts"], keys=app, update=APP_START_COLUMNS)
    fastsql.insert(conn, APP, rows["ends"], keys=app)
    fastsql.insert(conn, EX, rows["added"], keys=ex)
    fastsql.insert(conn, EX, rows["removed"], keys=ex)
    fastsql.insert(conn, ST, rows["stages"], keys=("application_id", "stage_id", "attempt_id"))
    fastsql.insert(conn, PK, rows["peaks"], keys=("application_id", "stage_id", "attempt_id", "executor_id"))
    fastsql.insert(conn, JB, rows["jobs"], keys=("application_id", "job_id"))
    fastsql.insert(conn, SQ, rows["sqls"], keys=("application_id", "execution_id"))
    fastsql.insert(conn, GA, rows["gauges"], keys=("application_id", "executor_id", "time_ms"))
    fastsql.insert(conn, DP, rows["drivers"],
                   keys=("application_id", "jvm_heap_bytes", "total_gc_ms", "outside_heap_bytes"))
