"""`trimtab project backfill` against a database that is not there refuses, naming it (review
s0-s7 follow-up): it created the database where --db/--state-dir pointed (with a warning) and then
failed with "project not found", leaving an empty database behind. Now, as `token create` without
--create-database, it is a usage error (exit 2) naming the database, and nothing is made; an existing
database is used as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.store_options import NO_DATABASE_HINT
from server.store import open_store
from tests.inprocess_cli import run_cli

pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


@pytest.mark.parametrize("where", ["db", "state-dir"])
def test_a_missing_database_is_refused_naming_it_and_nothing_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    typo = tmp_path / "typo" / "dir"
    option = ["--db", f"sqlite:///{typo / 't.db'}"] if where == "db" else ["--state-dir", str(typo)]
    url = f"sqlite:///{typo / 't.db'}" if where == "db" else f"sqlite:///{typo / 'trimtab.db'}"
    code, out, err = run_cli(capsys, "project", "backfill", "1", "--eventlogs", str(logs), *option)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == f"error: no Trimtab database at {url}: {NO_DATABASE_HINT}"
    assert "creating it" not in err and not (tmp_path / "typo").exists()


def test_an_existing_database_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_store(f"sqlite:///{tmp_path / 'trimtab.db'}").close()  # as the server's first start
    logs = tmp_path / "logs"
    logs.mkdir()
    code, _, err = run_cli(capsys, "project", "backfill", "7", "--eventlogs", str(logs), "--state-dir", str(tmp_path))
    assert code == 1 and "project 7 not found" in err and "no Trimtab database" not in err
