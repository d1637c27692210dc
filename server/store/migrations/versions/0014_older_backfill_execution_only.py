"""runs.execution_only for runs backfilled by Trimtab before 49b67da (2026-12-05): every run a backfill
made then came from the event log alone (its start and end are its Spark applications' span, with no
cluster setup before them), but it carries neither 0012's note nor any other sign: its message was ""
(a succeeded run) or began "backfilled from event logs" (a failed one), and before 0007 there was no
message at all. Left unmarked, the tuner took the project's mean setup out of such a runtime (a 282 s
run learned as 83 s of execution): the false regressions and optimistic predictions 0012 ended for the
runs it could recognise.

A run is marked when its setup is unknown (setup_s NULL) and either its message says it was backfilled
from event logs, or its start and end are those of its applications' span within a second. The span is
what the old backfill made the run from: the applications' earliest start, and their latest end (or
stage completion, for an application whose log has no end: its driver died). A collected run never
matches: it starts at the Jobs API's start, the cluster's setup (minutes) before its application.

Runs are read in batches of ids, so a store with many runs is not read into memory at once. The
downgrade unmarks the runs these rules match, except the ones 0012's note marks (a backfill since
49b67da writes it on every run it makes from a log alone), which is what 0013 had.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# server.backfill.runs.STATE_MESSAGE before 49b67da, which began every failed backfilled run's message
# (": the event log ends without the application's end", ": a Spark job failed"); lower case.
OLD_BACKFILL_MESSAGE = "backfilled from event logs"
# What 0012 recognises (server.backfill.runs.SETUP_UNKNOWN_NOTE since 49b67da).
SETUP_UNKNOWN_NOTE = "runtime spans the Spark application only"
# How far a run's start or end may be from its applications' span and still be that span (ms).
SPAN_TOLERANCE_MS = 1000
BATCH = 1000

runs = sa.table('runs', sa.column('id', sa.Integer()), sa.column('start_ms', sa.BigInteger()),
                sa.column('end_ms', sa.BigInteger()), sa.column('setup_s', sa.Float()),
                sa.column('message', sa.String()), sa.column('execution_only', sa.Boolean()))
run_applications = sa.table('run_applications', sa.column('run_id', sa.Integer()),
                            sa.column('application_id', sa.String()))
applications = sa.table('applications', sa.column('application_id', sa.String()),
                        sa.column('start_time_ms', sa.BigInteger()), sa.column('end_time_ms', sa.BigInteger()))
stages = sa.table('stages', sa.column('application_id', sa.String()), sa.column('completion_time_ms', sa.BigInteger()))


def _old_backfill_message() -> sa.ColumnElement[bool]:
    return sa.func.lower(runs.c.message).contains(OLD_BACKFILL_MESSAGE, autoescape=True)


def _batches(conn: sa.Connection, marked: bool) -> Iterator[Sequence[sa.Row]]:
    """The runs of unknown setup whose execution_only is ``marked``, ``BATCH`` at a time by id."""
    last = 0
    while True:
        rows = conn.execute(sa.select(runs.c.id, runs.c.start_ms, runs.c.end_ms)
                            .where(runs.c.id > last, runs.c.setup_s.is_(None),
                                   runs.c.execution_only == (sa.true() if marked else sa.false()))
                            .order_by(runs.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = int(rows[-1].id)


def _spans(conn: sa.Connection, run_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """The span of each run's applications, as the backfill before 49b67da made a run's bounds from
    them: (earliest start, latest of their ends and, where an application has no end, its stages'
    completions). Runs without applications are left out."""
    apps = conn.execute(sa.select(run_applications.c.run_id, applications.c.application_id,
                                  applications.c.start_time_ms, applications.c.end_time_ms)
                        .join(applications, applications.c.application_id == run_applications.c.application_id)
                        .where(run_applications.c.run_id.in_(run_ids))).all()
    # Stages only for applications without an end (few): an ended one's stages complete before it does.
    unended = sorted({str(a.application_id) for a in apps if not a.end_time_ms})
    completed: dict[str, int] = {}
    for i in range(0, len(unended), BATCH):
        completed.update((str(app_id), int(last or 0)) for app_id, last in conn.execute(
            sa.select(stages.c.application_id, sa.func.max(stages.c.completion_time_ms))
            .where(stages.c.application_id.in_(unended[i:i + BATCH])).group_by(stages.c.application_id)))
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for a in apps:
        run_id = int(a.run_id)
        start = int(a.start_time_ms or 0)
        end = int(a.end_time_ms or 0) or completed.get(str(a.application_id), 0)
        starts[run_id] = min(starts.get(run_id, start), start)
        ends[run_id] = max(ends.get(run_id, end), end)
    return {run_id: (start, ends[run_id]) for run_id, start in starts.items()}


def _log_only(conn: sa.Connection, batch: Sequence[sa.Row]) -> list[int]:
    """The runs of ``batch`` whose bounds are their applications' span (within SPAN_TOLERANCE_MS)."""
    spans = _spans(conn, [int(r.id) for r in batch])
    out = []
    for r in batch:
        span = spans.get(int(r.id))
        if span is None or not span[0] or not span[1]:
            continue
        if (abs(int(r.start_ms) - span[0]) <= SPAN_TOLERANCE_MS
                and abs(int(r.end_ms) - span[1]) <= SPAN_TOLERANCE_MS):
            out.append(int(r.id))
    return out


def upgrade() -> None:
    conn = op.get_bind()
    conn.execute(runs.update().where(runs.c.setup_s.is_(None), runs.c.execution_only == sa.false(),
                                     _old_backfill_message())
                 .values(execution_only=True))
    for batch in _batches(conn, marked=False):
        ids = _log_only(conn, batch)
        if ids:
            conn.execute(runs.update().where(runs.c.id.in_(ids)).values(execution_only=True))


def downgrade() -> None:
    conn = op.get_bind()
    noted = runs.c.message.contains(SETUP_UNKNOWN_NOTE, autoescape=True)
    for batch in _batches(conn, marked=True):
        ids = set(_log_only(conn, batch))
        ids |= {int(i) for i in conn.execute(
            sa.select(runs.c.id).where(runs.c.id.in_([int(r.id) for r in batch]), _old_backfill_message())).scalars()}
        if ids:
            conn.execute(runs.update().where(runs.c.id.in_(sorted(ids)), sa.not_(noted))
                         .values(execution_only=False))
