"""Every message names the database file used, in the form every command prints (docs/operations.md).

A relative --state-dir was printed as given ("database: sqlite:///state/trimtab.db"), which names no
directory, though a relative sqlite:/// path was made absolute for the same reason; and `db upgrade`
(also `db compact-events` and the server's log) printed the URL with the driver Trimtab picks,
postgresql+psycopg://, where every other command printed postgresql://.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import load_config
from server.store.urls import shown_url
from tests.inprocess_cli import run_cli as _run

pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


@pytest.fixture(autouse=True)
def _in_tmp_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The relative state directories these tests name resolve inside tmp_path.
    monkeypatch.chdir(tmp_path)


def test_a_relative_state_dir_is_named_absolute(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    used = f"sqlite:///{tmp_path / 'state' / 'trimtab.db'}"
    code, out, err = _run(capsys, "db", "upgrade", "--state-dir", "state")
    assert code == 0 and out == f"database {used} is at revision {out.split()[-1]}\n", err
    code, out, err = _run(capsys, "db", "status", "--state-dir", "state")
    assert code == 0 and out.splitlines()[0] == f"database:  {used}", err
    code, _, err = _run(capsys, "token", "list", "--state-dir", "state")
    assert code == 0 and err == f"database: {used} (SQLite in --state-dir)\n"
    code, _, err = _run(capsys, "token", "list", "--state-dir", "nowhere")
    assert code == 2 and err.startswith(f"database: sqlite:///{tmp_path / 'nowhere' / 'trimtab.db'} "), err


def test_the_configurations_state_dir_is_absolute(tmp_path: Path) -> None:
    assert load_config({"state_dir": Path("state")}).state_dir == tmp_path / "state"
    assert load_config({}, env={"TRIMTAB_STATE_DIR": "a/../s"}).state_dir == tmp_path / "s"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://ops:pw@db.example/trimtab", "postgresql://ops:***@db.example/trimtab"),
    ("sqlite+pysqlite:////var/lib/trimtab/trimtab.db", "sqlite:////var/lib/trimtab/trimtab.db"),
])
def test_the_driver_trimtab_picks_is_not_shown(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_db_upgrade_names_a_postgresql_database_as_the_others_do(
        capsys: pytest.CaptureFixture[str], postgres_schema_url: str) -> None:
    code, out, err = _run(capsys, "db", "upgrade", "--db", postgres_schema_url)
    assert code == 0, err
    named = out.split()[1]
    assert named.startswith("postgresql://") and "+psycopg" not in out
    code, out, err = _run(capsys, "db", "status", "--db", postgres_schema_url)
    assert code == 0 and out.splitlines()[0] == f"database:  {named}", err
    code, out, err = _run(capsys, "db", "compact-events", "--older-than", "90d", "--db", postgres_schema_url)
    assert code == 0 and out.rstrip().endswith(f" in {named}"), err
