"""Past its deadline a PostgreSQL transaction fails with a message that says what happened: the database
did not answer (a statement in flight), or the call held its transaction open between statements while
the database was answering. 20 concurrent `trimtab savings` read "database did not answer within 60s"
though PostgreSQL answered every statement: the server was making rows of 327,000 runs on 2 cores."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.errors import Unavailable
from server.store import Store, open_store
from server.store import engine as db


@pytest.fixture
def store(migrated_postgres_url: str) -> Iterator[Store]:
    s = open_store(migrated_postgres_url, timeout_s=0.5)
    yield s
    s.close()


def test_a_transaction_held_between_statements_says_so(store: Store) -> None:
    with pytest.raises(Unavailable) as err, db.read(store.engine) as conn:
        # The database's own limit off for this transaction, so only the deadline ends it.
        conn.execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = 0"))
        time.sleep(2.0)  # this process at work between two statements, past the 0.5 s deadline
        conn.execute(sa.text("SELECT 1"))
    assert str(err.value).startswith("the call's database transaction ran longer than 0.5s "
                                     "(TRIMTAB_DB_TIMEOUT_SECONDS) while this server worked between its statements")
    assert "did not answer" not in str(err.value)
    assert store.ping() is None  # a new connection serves the next call


def test_a_statement_without_an_answer_says_the_database_did_not_answer(store: Store) -> None:
    with pytest.raises(Unavailable) as err, db.read(store.engine) as conn:
        conn.execute(sa.text("SELECT pg_sleep(5)"))
    assert str(err.value) == ("database did not answer within 0.5s (TRIMTAB_DB_TIMEOUT_SECONDS): its connection "
                              "was closed; retry")
    assert store.ping() is None
