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
               update: tuple[str, ...] | None, accumulate: tuple[str, ...], ph: str,
               fill: tuple[str, ...] = ()) -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table}" ({cols}) VALUES ({", ".join([ph] * len(columns))})'
    if keys is None:
        return sql
    target = ", ".join(f'"{k}"' for k in keys)
    sets = [f'"{c}" = excluded."{c}"' for c in (update or ())]
    sets += [f'"{c}" = "{table}"."{c}" + excluded."{c}"' for c in accumulate]
    sets += [f'"{c}" = COALESCE("{table}"."{c}", excluded."{c}")' for c in fill]
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
           accumulate: Sequence[str] = (), *, fill: Sequence[str] = (), plain: bool = False) -> None:
    """Bulk INSERT of `rows` (dicts of one shape) into `table` (see `_run`;
    ``plain``: always the driver's executemany, the benchmark's ceiling).

    Without `keys`: a plain insert. With `keys`: on a clash, set the `update`
    columns (None: every non-key column) to the new values and add the new
    values to the `accumulate` columns, and set the `fill` columns only where they are NULL
    (a stored value stays); with none of them, do nothing. Rows are
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
    columns = given + tuple(missing)
    values = itemgetter(*given)
    extra = tuple(missing.values())
    if len(given) == 1:
        params = [(values(r), *extra) for r in rows]
    elif extra:
        params = [values(r) + extra for r in rows]
    else:
        params = [values(r) for r in rows]
    _run(conn, table, columns, params, tuple(keys) if keys is not None else None,
         tuple(update) if update is not None else None, tuple(accumulate), plain, fill=tuple(fill))


def insert_tuples(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], params: list[tuple[Any, ...]],
                  keys: tuple[str, ...] | None = None, returning: tuple[str, ...] = ()) -> list[tuple[Any, ...]] | int:
    """Bulk INSERT of rows already in `columns` order, all columns given; with
    `keys`, a row whose key exists is skipped (ON CONFLICT DO NOTHING).

    Returns how many rows were inserted, or with `returning` (PostgreSQL only:
    SQLite has no RETURNING with executemany) those columns of the inserted rows."""
    if not params:
        return [] if returning else 0
    return _run(conn, table, columns, params, keys, None if keys is None else (), (), False, returning)


def _run(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], params: list[tuple[Any, ...]],
         keys: tuple[str, ...] | None, update: tuple[str, ...] | None, accumulate: tuple[str, ...],
         plain: bool, returning: tuple[str, ...] = (), fill: tuple[str, ...] = ()) -> list[tuple[Any, ...]] | int:
    """On SQLite, executemany (each row is a cheap in-process call). On
    PostgreSQL, one INSERT ... SELECT FROM unnest(column arrays): executemany
    costs a server round of parse/bind/execute per row (~30 us, pipelined or
    not), the arrays one statement for all rows, several times faster."""
    if plain or conn.dialect.name != "postgresql":
        if returning:
            raise ValueError("RETURNING needs PostgreSQL")
        return _driver(conn, _statement(table.name, columns, keys, update, accumulate, placeholder(conn), fill),
                       params, many=True)
    arrays = [list(col) for col in zip(*params, strict=True)]
    sql = _unnest_statement(table, columns, keys, update, accumulate, fill)
    if returning:
        sql += " RETURNING " + ", ".join(f'"{c}"' for c in returning)
    return _driver(conn, sql, arrays, many=False, fetch=bool(returning))


@lru_cache(maxsize=256)
def _unnest_statement(table: sa.Table, columns: tuple[str, ...], keys: tuple[str, ...] | None,
                      update: tuple[str, ...] | None, accumulate: tuple[str, ...],
                      fill: tuple[str, ...] = ()) -> str:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    # %b: psycopg sends these arrays in binary; text arrays are quoted element by element in Python.
    arrays = ", ".join(f"%b::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
    insert = _statement(table.name, columns, keys, update, accumulate, "%s", fill)
    head, _, tail = insert.partition(" VALUES (")
    tail = tail.partition(")")[2]  # what follows the VALUES list: the ON CONFLICT clause, if any
    return f"{head} SELECT * FROM unnest({arrays}){tail}"


def _driver(conn: sa.Connection, sql: str, params: Sequence[Any], *, many: bool,
            fetch: bool = False) -> list[tuple[Any, ...]] | int:
    """Run `sql` with the driver's cursor on this connection's transaction:
    the rows it returns (`fetch`) or the count of rows it changed. Driver errors
    are re-raised as SQLAlchemy's, so `engine.translate_errors` sees them."""
    dbapi = conn.dialect.dbapi
    assert dbapi is not None
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return [tuple(r) for r in cursor.fetchall()] if fetch else cursor.rowcount
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error,
                                         dialect=conn.dialect) from exc  # type: ignore[arg-type]
    finally:
        cursor.close()
