"""workspaces: a unique index on lower(name). Workspace names have been unique in any case since
`WorkspaceRepository.add` checked it, but only by that check: two servers on one PostgreSQL database
(or two sessions of one) could each pass it and both add "Prod" and "prod". The database now refuses
the second. Names are ASCII (`WORKSPACE_NAME`), so lower() is the same on SQLite and PostgreSQL.

A database that already holds names differing only by case is not changed: the upgrade stops, naming
them, and leaves every row as it was (which of the two is the one to keep is the operator's call).

Projects (keyed by workspace, job id and cluster key, which Databricks compares exactly) and API
tokens (names are labels, not keys) have no name meant to be unique in any case.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 11:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

INDEX = 'uq_workspaces_name_lower'


def _clashes(conn: sa.Connection) -> list[list[tuple[int, str]]]:
    """The workspaces whose names differ only by case, in groups of (id, name), by name."""
    rows = conn.execute(sa.text(
        "SELECT id, name FROM workspaces WHERE lower(name) IN "
        "(SELECT lower(name) FROM workspaces GROUP BY lower(name) HAVING COUNT(*) > 1)")).all()
    groups: dict[str, list[tuple[int, str]]] = {}
    # Sorted here, not by ORDER BY: PostgreSQL orders text by the database's collation, SQLite by
    # code point, and the message should read the same on both.
    for row_id, name in sorted(rows, key=lambda r: (r[1].lower(), r[1], r[0])):
        groups.setdefault(name.lower(), []).append((int(row_id), name))
    return list(groups.values())


def upgrade() -> None:
    conn = op.get_bind()
    clashes = _clashes(conn)
    if clashes:
        named = "; ".join(" and ".join(f"{name!r} (id {row_id})" for row_id, name in group) for group in clashes)
        # One line: the CLI and the server's start print an error's first line. RuntimeError as 0018's
        # downgrade: a migration does not import the server's errors (or anything of the server).
        raise RuntimeError(
            f"cannot make workspace names unique in any case: these workspaces differ only by case: {named}. "
            "Nothing was changed (the schema stays at its revision): keep one of each, removing the others with the "
            "Trimtab version that made them (`trimtab workspace remove NAME`, after detaching their projects), "
            "then upgrade again")
    op.create_index(INDEX, 'workspaces', [sa.text('lower(name)')], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name='workspaces')
