"""`token create` against a database that is not there refuses unless asked to create it (review clifix 6).

`token create --db sqlite:////typo/dir/t.db` made the directory, the database and a token the running
server never accepts (exit 0, only a warning on stderr). Now it is a usage error naming the database
(exit 2) and nothing is made; --create-database makes it, with the warning, as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.cli.store_options import NO_DATABASE_HINT
from server.store import open_store
from tests.inprocess_cli import run_cli

CREATE = ["token", "create", "--name", "me", "--scope", "admin"]


pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


@pytest.mark.parametrize("where", ["db", "state-dir"])
def test_a_missing_database_is_refused_naming_it_and_nothing_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    typo = tmp_path / "typo" / "dir"
    option = ["--db", f"sqlite:///{typo / 't.db'}"] if where == "db" else ["--state-dir", str(typo)]
    url = f"sqlite:///{typo / 't.db'}" if where == "db" else f"sqlite:///{typo / 'trimtab.db'}"
    code, out, err = run_cli(capsys, *CREATE, *option)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (f"error: no Trimtab database at {url}: {NO_DATABASE_HINT}; to create one "
                                    "there, pass --create-database")
    assert "tt_" not in err and not (tmp_path / "typo").exists()


def test_asked_it_creates_the_database_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new" / "t.db"
    code, out, err = run_cli(capsys, "--json", *CREATE, "--db", f"sqlite:///{path}", "--create-database")
    assert code == 0, err
    assert "warning: no Trimtab database at" in err and "creating it" in err
    token = json.loads(out)["token"]
    store = open_store(f"sqlite:///{path}", upgrade=False)
    try:
        assert store.tokens.verify(token).name == "me"
    finally:
        store.close()


def test_an_existing_database_needs_no_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_store(f"sqlite:///{tmp_path / 'trimtab.db'}").close()  # as the server's first start
    code, out, err = run_cli(capsys, *CREATE, "--state-dir", str(tmp_path))
    assert code == 0 and out.startswith("tt_") and "warning" not in err
