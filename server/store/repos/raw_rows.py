"""The benchmark's ceiling: the rows ingest writes, inserted with plain executemany.

No de-duplication, no upserts, no RETURNING: just what the database can take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from server.domain import IngestBatch
from server.store import engine as db
from server.store.repos import fastsql, ingest, ingest_rows

_TABLES = {"added": ingest.EX, "stages": ingest.ST, "peaks": ingest.PK, "jobs": ingest.JB,
           "sqls": ingest.SQ, "gauges": ingest.GA, "drivers": ingest.DP}


def rows_for(batches: Sequence[IngestBatch], now: int) -> list[tuple[sa.Table, list[dict[str, Any]]]]:
    """(table, rows) for `batches` as if every event were new (per-application rows left out: one per app)."""
    prepared = [ingest_rows.prepare(b) for b in batches]
    events = ingest_rows.event_rows(prepared, now)
    materialized = ingest_rows.rows_by_purpose([("", ev) for pb in prepared for ev in pb.events], now)
    out = [(ingest.EV, [dict(zip(ingest_rows.EVENT_COLUMNS, r, strict=True)) for r in events.values()])]
    out.extend((table, materialized[name]) for name, table in _TABLES.items() if materialized[name])
    return out


def insert_plain(engine: sa.Engine, rows: list[tuple[sa.Table, list[dict[str, Any]]]]) -> None:
    """One transaction of plain INSERT executemany per table. Fails on any clash (use a fresh db)."""
    with db.write(engine) as conn:
        for table, values in rows:
            fastsql.insert(conn, table, values, plain=True)
