"""A database newer than this code (review finding 13), and the read-only `trimtab db status`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.config import ServerConfig
from server.errors import FailedPrecondition
from server.serve import start_server
from server.store import migrate, open_store
from server.store.engine import make_engine
from tests.inprocess_cli import run_cli as _run

NEWER = "0999"  # a revision no script of this version has


def _set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def _newer_database(url: str) -> None:
    open_store(url).close()
    _set_revision(url, NEWER)


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def _newer_message() -> str:
    return (f"the database schema is at {NEWER}, newer than this Trimtab "
            f"(knows up to {migrate.head_revision()}): "
            "run the newer Trimtab version, or restore a backup")


@pytest.mark.parametrize("upgrade", [True, False])
def test_opening_a_newer_database_says_so_and_changes_nothing(db_url: str, upgrade: bool) -> None:
    _newer_database(db_url)
    with pytest.raises(FailedPrecondition) as raised:
        open_store(db_url, upgrade=upgrade)
    assert str(raised.value) == _newer_message()
    assert _revision(db_url) == NEWER


def test_every_db_command_and_token_create_refuse_a_newer_database(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _newer_database(db_url)
    for args in (["db", "upgrade"], ["db", "compact-events", "--older-than", "1d"],
                 ["token", "create", "--name", "x", "--scope", "admin"], ["token", "list"]):
        code, _, err = _run(capsys, *args, "--db", db_url)
        assert code == 1, args
        assert err.strip().splitlines()[-1] == f"error: {_newer_message()}", args
        assert "db upgrade" not in err and "Can't locate" not in err, args
    assert _revision(db_url) == NEWER


def test_server_start_refuses_a_newer_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trimtab.db'}"
    _newer_database(url)
    config = ServerConfig(listen="127.0.0.1:0", http="", collect=0, db_url=url, state_dir=tmp_path)
    with pytest.raises(FailedPrecondition, match="newer than this Trimtab"):
        start_server(config)


def test_an_older_schema_is_still_sent_to_db_upgrade(db_url: str) -> None:
    open_store(db_url).close()
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)  # idempotent at head
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
        with pytest.raises(FailedPrecondition, match="run `trimtab db upgrade`"):
            migrate.require_current(engine)
    finally:
        engine.dispose()


def test_db_status_reports_empty_behind_current_and_newer_without_migrating(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    head = migrate.head_revision()
    known = migrate.known_revisions()

    if db_url.startswith("sqlite:///"):
        # An empty database, not a missing file (`db status` refuses that: review 9).
        Path(db_url.removeprefix("sqlite:///")).touch()
    code, out, _ = _run(capsys, "--json", "db", "status", "--db", db_url)
    assert code == 0
    empty = json.loads(out)
    assert (empty["revision"], empty["head"], empty["behind"], empty["newer"]) == (
        None, head, len(known), False)
    assert empty["state"] == f"behind {len(known)}"
    assert _revision(db_url) is None  # looking did not migrate

    open_store(db_url).close()
    _set_revision(db_url, known[2])
    code, out, _ = _run(capsys, "--json", "db", "status", "--db", db_url)
    assert json.loads(out)["behind"] == 2 and json.loads(out)["state"] == "behind 2"
    code, out, _ = _run(capsys, "db", "status", "--db", db_url)
    assert code == 0 and f"revision:  {known[2]}" in out
    assert "behind 2 migrations: `trimtab db upgrade`" in out
    assert _revision(db_url) == known[2]

    _set_revision(db_url, head)
    code, out, _ = _run(capsys, "db", "status", "--db", db_url)
    assert code == 0 and "state:     up to date" in out

    _set_revision(db_url, NEWER)
    code, out, _ = _run(capsys, "--json", "db", "status", "--db", db_url)
    assert code == 0
    newer = json.loads(out)
    assert (newer["revision"], newer["newer"], newer["behind"], newer["state"]) == (
        NEWER, True, 0, "newer than this code")
    code, out, _ = _run(capsys, "db", "status", "--db", db_url)
    assert f"revision:  {NEWER}" in out and "newer than this code: run the newer Trimtab version" in out


def test_db_status_on_a_state_dir_without_a_database_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIMTAB_DB", raising=False)
    state = tmp_path / "state"
    code, out, err = _run(capsys, "db", "status", "--state-dir", str(state))
    # No database there is said so (review 9: it was "behind N migrations", exit 0), as `token list` does.
    assert code == 2 and out == "" and f"no Trimtab database at sqlite:///{state / 'trimtab.db'}" in err
    assert not (state / "trimtab.db").exists()
