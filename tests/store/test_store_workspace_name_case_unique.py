"""Workspace names are unique in any case by the database (0023), not only by the check in
`WorkspaceRepository.add`: two servers (or sessions) on one PostgreSQL database could each pass the
check and add "Prod" and "prod". The loser of such a race gets the check's own ALREADY_EXISTS. An
upgrade over names that already clash stops naming them and changes nothing. SQLite and PostgreSQL
(the race on PostgreSQL only: SQLite takes one writer at a time, so there the check always sees the
other insert)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.domain import Workspace
from server.errors import AlreadyExists
from server.store import Store, migrate, open_store
from server.store.engine import make_engine
from server.store.tables import WorkspaceRow
from tests.cli_process_env import cli_process_env
from tests.store.conftest import assert_upgrade_refused, downgraded_to, seeded_at

REPO = Path(__file__).resolve().parents[2]
T = WorkspaceRow.__table__  # type: ignore[attr-defined]


def _row(name: str) -> dict[str, object]:
    """A workspace row in the columns every schema since 0018 has (as an older Trimtab, or another
    server, wrote it)."""
    return {"name": name, "host": f"https://{name.lower()}.example", "cloud": "aws", "plan": "premium", "region": "",
            "token_encrypted": "enc", "token_masked": "", "client_id": "", "status": "ok", "last_error": "",
            "created_at_ms": 5, "auto_import": False, "bill_read_error": ""}


def _insert(conn: sa.Connection, *names: str) -> None:
    for name in names:
        conn.execute(sa.text(
            "INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, status, "
            "last_error, created_at_ms) VALUES (:name, :host, 'aws', 'premium', '', 'enc', '', 'ok', '', 5)"),
            {"name": name, "host": f"https://{name.lower()}.example"})


def test_the_database_refuses_a_name_differing_only_by_case(store: Store) -> None:
    """An insert that skips the repository's check (another server's, an older Trimtab's) is refused."""
    store.workspaces.add(Workspace(name="Prod", host="https://a.example", cloud="aws"), "enc")
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(T.insert().values(**_row("pROD")))
    assert [w.name for w in store.workspaces.list()] == ["Prod"]


def _blocked_writer(conn: sa.Connection) -> bool:
    """Whether a session other than ``conn``'s waits on a lock (the racing insert, on the index)."""
    return bool(conn.execute(sa.text(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() "
        "AND pid <> pg_backend_pid()")).scalar())


@pytest.mark.parametrize(("first", "second", "message"), [
    ("Prod", "prod", "workspace 'Prod' already exists, and workspace names differ by more than case: 'prod' "
                     "would be taken for it (in commands, project names and logs)"),
    ("Prod", "Prod", "workspace 'Prod' already exists"),
])
def test_the_loser_of_a_race_gets_the_checks_already_exists(migrated_postgres_url: str, first: str, second: str,
                                                             message: str) -> None:
    """The first insert is uncommitted while the second passes its check; the second then waits on the
    unique index and fails when the first commits. Before 0023 "prod" was stored beside "Prod", and
    "Prod" twice answered the database's words ("already exists: (psycopg.errors.UniqueViolation) ...")."""
    store = open_store(migrated_postgres_url)
    other = make_engine(migrated_postgres_url)
    failed: list[BaseException] = []

    def add() -> None:
        try:
            store.workspaces.add(Workspace(name=second, host="https://b.example", cloud="aws"), "enc")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failed.append(exc)

    try:
        with other.connect() as first_server, other.connect() as watcher:
            with first_server.begin():
                first_server.execute(T.insert().values(**_row(first)))
                racing = threading.Thread(target=add, name="second-server")
                racing.start()
                deadline = time.monotonic() + 60
                while racing.is_alive() and not _blocked_writer(watcher) and time.monotonic() < deadline:
                    watcher.rollback()  # a new snapshot of pg_stat_activity each time
                    time.sleep(0.02)
            racing.join(60)
        assert not racing.is_alive()
        assert len(failed) == 1 and isinstance(failed[0], AlreadyExists), failed
        assert str(failed[0]) == message
        # What the check answers once it sees the committed row: the same words.
        with pytest.raises(AlreadyExists) as checked:
            store.workspaces.add(Workspace(name=second, host="https://b.example", cloud="aws"), "enc")
        assert str(checked.value) == message
        assert [w.name for w in store.workspaces.list()] == [first]
    finally:
        store.close()
        other.dispose()


def test_upgrade_from_0022_with_names_differing_by_case_stops_naming_them(db_url: str,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    seeded_at(db_url, "0022", lambda conn: _insert(conn, "prod", "Prod", "dev", "DEV", "Dev", "staging"))
    expected = ("cannot make workspace names unique in any case: these workspaces differ only by case: "
                "'DEV' (id 4) and 'Dev' (id 5) and 'dev' (id 3); 'Prod' (id 2) and 'prod' (id 1). Nothing was "
                "changed (the schema stays at its revision): keep one of each, removing the others with the "
                "Trimtab version that made them (`trimtab workspace remove NAME`, after detaching their "
                "projects), then upgrade again")
    # `trimtab db upgrade` says it in its one line.
    assert_upgrade_refused(db_url, capsys, expected, stays_at="0022")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT id, name FROM workspaces ORDER BY id")).all()
        assert [tuple(r) for r in names] == [(1, "prod"), (2, "Prod"), (3, "dev"), (4, "DEV"), (5, "Dev"),
                                             (6, "staging")]
    finally:
        engine.dispose()


def test_upgrade_from_0022_without_clashes_adds_the_index_and_downgrade_drops_it(db_url: str) -> None:
    seeded_at(db_url, "0022", lambda conn: _insert(conn, "Prod", "dev"))
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert [w.name for w in store.workspaces.list()] == ["Prod", "dev"]
        with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
            _insert(conn, "DEV")
    finally:
        store.close()
    engine = downgraded_to(db_url, "0022")
    try:
        with engine.begin() as conn:
            _insert(conn, "DEV")  # an older Trimtab's schema: only its check refused it
            assert conn.execute(sa.text("SELECT COUNT(*) FROM workspaces")).scalar() == 3
    finally:
        engine.dispose()


def test_server_start_names_the_clash_in_one_line(tmp_path: Path) -> None:
    """`trimtab server start` migrates at start: it stops with the same line (exit 1, no traceback)."""
    url = f"sqlite:///{tmp_path / 'trimtab.db'}"
    seeded_at(url, "0022", lambda conn: _insert(conn, "a", "A"))
    env = cli_process_env(tmp_path)
    out = subprocess.run([sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
                          "--db", url, "--state-dir", str(tmp_path / "state")], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "listening on" not in out.stdout
    assert out.stderr.strip().splitlines()[-1].startswith(
        "error: cannot make workspace names unique in any case: these workspaces differ only by case: 'A' (id 2) "
        "and 'a' (id 1). "), out.stderr
