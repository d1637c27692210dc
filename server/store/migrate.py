"""Alembic, configured in code (no alembic.ini to find): upgrade, check and status.

The scripts live in `server/store/migrations/`; `env.py` there runs on the
connection we hand it through ``config.attributes``.

Every way the store is opened goes through `upgrade` or `require_current`, and both first
refuse a schema at a revision this code has no script for (a newer Trimtab migrated it, then
this older one was started): Alembic would only say "Can't locate revision", and
"run `trimtab db upgrade`" would be wrong advice, since no upgrade from here can help.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.errors import FailedPrecondition
from server.store import engine as db

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    """The migration scripts, read once per process: they ship with this code, so they cannot
    change under it. Alembic reads (compiles and runs) every script again for each ScriptDirectory
    it makes, which cost ~0.04-0.07 s each time a store was opened, twice over (tests open hundreds)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    """Every revision this code has a script for, newest first."""
    return [script.revision for script in _scripts().walk_revisions()]


def current_revision(engine: sa.Engine) -> str | None:
    with db.translate_errors(), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def refuse_unknown(current: str | None) -> None:
    """Refuse a schema this code cannot read or upgrade: one at a revision it has no script for."""
    if current is not None and current not in known_revisions():
        raise FailedPrecondition(
            f"the database schema is at {current}, newer than this Trimtab (knows up to {head_revision()}): "
            "run the newer Trimtab version, or restore a backup")


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands against this code's migrations (`trimtab db status`)."""

    current: str | None  # None: no Trimtab schema yet (an empty database)
    head: str
    behind: int  # migrations `trimtab db upgrade` would apply; 0 when up to date or newer
    newer: bool  # at a revision this code does not know

    @property
    def state(self) -> str:
        if self.newer:
            return "newer than this code"
        if self.behind:
            return f"behind {self.behind}"
        return "up to date"


def status(engine: sa.Engine) -> SchemaStatus:
    """Read-only: never migrates, so an operator can look before deciding to upgrade."""
    current, head = current_revision(engine), head_revision()
    if current is not None and current not in known_revisions():
        return SchemaStatus(current, head, 0, True)
    # iterate_revisions yields head down to just above `current` (or every one from "base").
    behind = len(list(_scripts().iterate_revisions(head, current or "base")))
    return SchemaStatus(current, head, behind, False)


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply every migration not applied yet, in one transaction per engine call."""
    with db.translate_errors(), engine.connect() as conn:
        conn = conn.execution_options(trimtab_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Two servers starting at once must not both create the tables (SQLite's
                # BEGIN IMMEDIATE already serializes them).
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7262846)"))
            # Read under the lock: another server may have just migrated it.
            current = MigrationContext.configure(conn).get_current_revision()
            refuse_unknown(current)
            if revision == "head" and current == head_revision():
                return  # nothing to apply: Alembic would read every script and env.py again to do nothing
            command.upgrade(alembic_config(conn), revision)


def require_current(engine: sa.Engine) -> None:
    current, head = current_revision(engine), head_revision()
    refuse_unknown(current)
    if current != head:
        raise FailedPrecondition(
            f"database schema is at {current or 'nothing'}, this Trimtab needs {head}: run `trimtab db upgrade`")
