"""Alembic, configured in code (no alembic.ini to find): upgrade and check.

The scripts live in `server/store/migrations/`; `env.py` there runs on the
connection we hand it through ``config.attributes``.
"""

from __future__ import annotations

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


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with db.translate_errors(), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply every migration not applied yet, in one transaction per engine call."""
    with db.translate_errors(), engine.connect() as conn:
        conn = conn.execution_options(trimtab_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Two servers starting at once must not both create the tables (SQLite's
                # BEGIN IMMEDIATE already serializes them).
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7262846)"))
            command.upgrade(alembic_config(conn), revision)


def require_current(engine: sa.Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise FailedPrecondition(
            f"database schema is at {current or 'nothing'}, this server needs {head}: run `trimtab db upgrade`")
