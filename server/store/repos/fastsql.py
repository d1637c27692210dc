"""Bulk inserts and upserts straight through the driver's ``executemany``.

The ingest path writes tens of thousands of rows a second; SQLAlchemy's
per-row parameter processing would cost more than the database itself. The
SQL here is the same on SQLite and PostgreSQL (``ON CONFLICT (...) DO ...``
with ``excluded``), only the placeholder differs. JSON columns take text made
with orjson; both engines read it back as JSON through the table classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def placeholder(conn: sa.Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


@lru_cache(maxsize=256)
def _statement(table: str, columns: tuple[str, ...], keys: tuple[str, ...] | None,
               update: tuple[str, ...] | None, accumulate: tuple[str, ...], ph: str) -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table}" ({cols}) VALUES ({", ".join([ph] * len(columns))})'
    if keys is None:
        return sql
    target = ", ".join(f'"{k}"' for k in keys)
    sets = [f'"{c}" = excluded."{c}"' for c in (update or ())]
    sets += [f'"{c}" = "{table}"."{c}" + excluded."{c}"' for c in accumulate]
    if not sets:
        return f"{sql} ON CONFLICT ({target}) DO NOTHING"
    return f"{sql} ON CONFLICT ({target}) DO UPDATE SET {', '.join(sets)}"


@lru_cache(maxsize=64)
def _defaults(table: sa.Table) -> dict[str, Any]:
    """What a column not given gets: its scalar default, else a zero of its type
    (the table classes' default factories: empty JSON object, empty text, 0)."""
    out: dict[str, Any] = {}
    for col in table.columns:
        default = col.default
        if default is not None and getattr(default, "is_scalar", False):
            out[col.name] = default.arg  # type: ignore[attr-defined]
        elif col.nullable:
            out[col.name] = None
        elif isinstance(col.type, sa.JSON):
            out[col.name] = "{}"
        elif isinstance(col.type, sa.Boolean):
            out[col.name] = False
        elif isinstance(col.type, (sa.Integer, sa.Float)):
            out[col.name] = 0
        elif isinstance(col.type, sa.LargeBinary):
            out[col.name] = b""
        else:
            out[col.name] = ""
    return out


def insert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
           keys: Sequence[str] | None = None, update: Sequence[str] | None = None,
           accumulate: Sequence[str] = ()) -> None:
    """executemany INSERT of `rows` (dicts of one shape) into `table`.

    Without `keys`: a plain insert. With `keys`: on a clash, set the `update`
    columns (None: every non-key column) to the new values and add the new
    values to the `accumulate` columns; with neither, do nothing. Rows are
    de-duplicated by key first, last wins, so one call never touches a row twice.
    """
    if not rows:
        return
    given = tuple(rows[0])
    if keys is not None:
        key_of = itemgetter(*keys)
        rows = list({key_of(r): r for r in rows}.values())
        if update is None:
            update = tuple(c for c in given if c not in keys)
    # Any row may be inserted, so every NOT NULL column needs a value; on a
    # clash only the `update`/`accumulate` columns change.
    missing = {c: v for c, v in _defaults(table).items() if c not in rows[0]}
    if missing:
        rows = [{**r, **missing} for r in rows]
    columns = tuple(rows[0])
    sql = _statement(table.name, columns, tuple(keys) if keys is not None else None,
                     tuple(update) if update is not None else None, tuple(accumulate), placeholder(conn))
    values = itemgetter(*columns)
    params = [values(r) for r in rows] if len(columns) > 1 else [(values(r),) for r in rows]
    executemany(conn, sql, params)


def executemany(conn: sa.Connection, sql: str, params: list[tuple[Any, ...]]) -> None:
    """The driver's own executemany on this connection's transaction.

    (psycopg's executemany pipelines the rows: no round trip per row.) Driver
    errors are re-raised as SQLAlchemy's, so `engine.translate_errors` sees them.
    """
    dbapi = conn.dialect.dbapi
    assert dbapi is not None
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error,
                                         dialect=conn.dialect) from exc  # type: ignore[arg-type]
    finally:
        cursor.close()
