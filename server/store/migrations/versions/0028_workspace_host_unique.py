"""workspaces: a unique index on host. One Databricks workspace is added once (its clusters read one
agent token secret, which an import under a second name takes from the first), but only
`refuse_host_taken`'s check said so: two `workspace add` calls at once, with the same host and two
names, each passed it before the other stored its row, and both were stored (a review: 8 in 10 on
PostgreSQL, 10 in 10 on SQLite, where the check comes seconds before the insert, after the token's
call to Databricks). The database now refuses the second.

Hosts are stored in `normal_host`'s form (0019, and every write since goes through `check_host`), so
one host is one value here. Rows are compared in that form (a frozen copy, as 0019's) before the index
is made, and a host still in another spelling is written in it.

A database that already holds one host under two or more names is not changed: the upgrade stops,
naming them with their attached projects, and leaves every row as it was. Which name to keep is the
operator's call (the one whose clusters' agents the secret serves: its last import wrote it), and
removing the other keeps its projects' history (a detached project stays in the store).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 23:05:00.000000
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None

INDEX = 'uq_workspaces_host'
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _normal(host: str) -> str:
    # A frozen copy of `normal_host` as of this revision (as 0019's): no migration imports the server.
    try:
        parts = urlsplit(host.strip())
        port = parts.port
    except ValueError:
        return host.rstrip("/")
    scheme, name = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if not scheme or not name:
        return host.rstrip("/")
    authority = f"[{name}]" if ":" in name else name
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        authority += f":{port}"
    return f"{scheme}://{authority}{parts.path.rstrip('/')}"


def _shared(conn: sa.Connection) -> list[tuple[str, list[tuple[int, str, int]]]]:
    """The hosts more than one workspace has, each with its workspaces as (id, name, attached projects)."""
    rows = conn.execute(sa.text("SELECT id, name, host FROM workspaces")).all()
    attached = dict(conn.execute(sa.text(
        "SELECT workspace, COUNT(*) FROM projects WHERE NOT detached AND NOT orphaned GROUP BY workspace")).all())
    by_host: dict[str, list[tuple[int, str, int]]] = {}
    # Sorted here, not by ORDER BY: the message reads the same on both engines (0023's reason).
    for row_id, name, host in sorted(rows, key=lambda r: (int(r[0]))):
        by_host.setdefault(_normal(host), []).append((int(row_id), name, int(attached.get(name, 0))))
    return sorted((host, group) for host, group in by_host.items() if len(group) > 1)


def upgrade() -> None:
    conn = op.get_bind()
    shared = _shared(conn)
    if shared:
        named = "; ".join(f"{host}: " + " and ".join(f"{name!r} (id {row_id}, {count} attached project(s))"
                                                      for row_id, name, count in group)
                          for host, group in shared)
        # One line, as 0023's: the CLI and the server's start print an error's first line.
        raise RuntimeError(
            f"cannot make workspace hosts unique: these workspaces are one Databricks workspace (one host): "
            f"{named}. Nothing was changed (the schema stays at its revision): keep one name for each host "
            "(the one whose import last wrote the agents' token secret), and with the Trimtab version that "
            "made them `trimtab project detach` the others' projects (their runs stay) and `trimtab workspace "
            "remove NAME`, then upgrade again")
    table = sa.table('workspaces', sa.column('id', sa.Integer), sa.column('host', sa.String))
    for row_id, host in conn.execute(sa.select(table.c.id, table.c.host)).all():
        if (normal := _normal(host)) != host:
            conn.execute(table.update().where(table.c.id == row_id).values(host=normal))
    op.create_index(INDEX, 'workspaces', ['host'], unique=True)


def downgrade() -> None:
    # The hosts written in the normal form stay so: every older Trimtab reads it (0019's downgrade).
    op.drop_index(INDEX, table_name='workspaces')
