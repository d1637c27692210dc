"""A blank event-log source (review 13): `project backfill P --eventlogs "$LOGDIR"` with LOGDIR unset is
``--eventlogs ""``, and ``Path("")`` is the current directory: every cluster log lying where the command
ran was imported as runs of P. Refused now, by the CLI (a usage error, exit 2) and by `backfill` itself,
before anything is written. A blank --state-dir (also the current directory) is refused the same way.
Real CLI, real SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from server.backfill import backfill
from server.cli.main import main
from server.errors import InvalidArgument
from server.store import Store
from tests.backfill.conftest import add_project, write_delivered


def _counts(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return (conn.execute(sa.text("select count(*) from applications")).scalar_one(),
                    conn.execute(sa.text("select count(*) from runs")).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def logs_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command runs in a directory that holds delivered cluster logs."""
    root = tmp_path / "logs"
    write_delivered(root)
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_eventlogs_is_a_usage_error_and_imports_nothing(
        blank: str, logs_in_cwd: Path, sqlite_store: Store, migrated_sqlite_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    project = add_project(sqlite_store)
    code = main(["project", "backfill", str(project.id), "--eventlogs", blank, "--db", migrated_sqlite_url])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--eventlogs" in err and "an empty value is most often an unset shell variable" in err
    assert _counts(migrated_sqlite_url) == (0, 0)
    # The same directory named is imported: it was only the blank that was refused.
    code = main(["project", "backfill", str(project.id), "--eventlogs", ".", "--db", migrated_sqlite_url])
    assert code == 0, capsys.readouterr().err
    assert _counts(migrated_sqlite_url)[0] == 3


def test_backfill_itself_refuses_a_blank_source(logs_in_cwd: Path, sqlite_store: Store,
                                                migrated_sqlite_url: str) -> None:
    project = add_project(sqlite_store)
    with pytest.raises(InvalidArgument, match="no event-log source given"):
        backfill(sqlite_store, str(project.id), "")
    assert _counts(migrated_sqlite_url) == (0, 0)


@pytest.mark.parametrize("command", [["token", "list"], ["db", "status"], ["prices", "show"],
                                     ["project", "backfill", "1", "--eventlogs", "/nowhere"]])
def test_a_blank_state_dir_is_a_usage_error(command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([*command, "--state-dir", ""])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "'--state-dir'" in err and "an empty value is most often an unset shell variable" in err
    assert list(tmp_path.iterdir()) == []  # nothing made in the current directory
