"""Over TCP, PostgreSQL itself probes Trimtab's sessions, so the session (and an advisory lock it holds)
of a server whose host died or was cut off ends within the deadline, not after the kernel's two hours."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.store import engine as db


@pytest.fixture
def tcp_url(postgres_url: str) -> Iterator[str]:
    """The test database over TCP on 127.0.0.1, as a password role (a Unix socket has no keepalives)."""
    role, password = f"tt_tcp_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            port = int(conn.execute(sa.text("SHOW port")).scalar_one())
            conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        database = sa.engine.make_url(postgres_url).database
        yield f"postgresql://{role}:{password}@127.0.0.1:{port}/{database}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_the_database_probes_pooled_and_lock_sessions(tcp_url: str) -> None:
    # Review: a lock's connection idles outside a transaction, so when its client vanished the
    # session (and the project's lock) stayed until the database's TCP keepalive: two hours.
    engine = db.make_engine(tcp_url, timeout_s=60.0)
    try:
        for source in (engine, db.lock_engine(engine)):
            with source.connect() as conn:
                shown = [conn.execute(sa.text(f"SHOW {name}")).scalar_one()
                         for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")]
            assert shown == ["20", "10", "3"]  # idle + interval x count = 50 s, inside the 60 s deadline
    finally:
        engine.dispose()
