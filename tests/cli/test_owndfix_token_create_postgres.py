"""`token create` on an existing, empty PostgreSQL database creates the schema and the token (review owndiff 1).

The refusal of a database that is not there (exit 2 unless --create-database) is there to catch a typo in a
SQLite path, which opening would create. It refused what `createdb` or a DBA provides too: a PostgreSQL
database that exists but has no schema yet. A typo in a PostgreSQL database's name fails at connect.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.store import open_store
from tests.inprocess_cli import run_cli

CREATE = ["token", "create", "--name", "me", "--scope", "admin"]


pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


def test_an_empty_postgresql_database_gets_the_schema_and_the_token(
        postgres_schema_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "--json", *CREATE, "--db", postgres_schema_url)
    assert code == 0, err
    assert "creating it" in err
    token = json.loads(out)["token"]
    store = open_store(postgres_schema_url, upgrade=False)
    try:
        assert store.tokens.verify(token).name == "me"
    finally:
        store.close()
    # From then on it is a Trimtab database like any other: no warning.
    code, _, err = run_cli(capsys, *CREATE, "--db", postgres_schema_url)
    assert code == 0 and "warning" not in err


def test_readers_still_refuse_an_empty_postgresql_database(
        postgres_schema_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "token", "list", "--db", postgres_schema_url)
    assert (code, out) == (2, "")
    assert "error: no Trimtab database at" in err.splitlines()[-1]


def test_a_postgresql_database_that_is_not_there_fails_at_connect_and_is_not_made(
        postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    typo = sa.engine.make_url(postgres_url).set(database="trimtab_owndfix_no_such_database")
    url = typo.render_as_string(hide_password=False)
    code, out, err = run_cli(capsys, *CREATE, "--db", url, "--create-database")
    assert (code, out) == (1, "") and "tt_" not in err
    assert "trimtab_owndfix_no_such_database" in err.splitlines()[-1]
    server = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with server.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"),
                                     {"n": "trimtab_owndfix_no_such_database"}) == 0
    finally:
        server.dispose()


def test_a_sqlite_path_that_is_not_there_is_still_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, *CREATE, "--db", f"sqlite:///{tmp_path / 'typo' / 't.db'}")
    assert (code, out) == (2, "")
    assert err.splitlines()[-1].endswith("to create one there, pass --create-database")
    assert not (tmp_path / "typo").exists()
