"""An in-memory SQLite URL (review 13): ``sqlite://``, ``sqlite:///`` and ``sqlite:///:memory:`` failed in
every command with SQLAlchemy's internal "Invalid argument(s) 'max_overflow'". Such a database lives in one
process (a token made in it is gone when `token create` ends; a server's data with the server), so the
configuration refuses it, saying what to give instead. File URLs keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.main import main
from server.config import ServerConfig, load_config
from server.errors import InvalidArgument

MEMORY_URLS = ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:",
               "sqlite:///:memory:?cache=shared", "sqlite:///file::memory:?uri=true"]


@pytest.mark.parametrize("url", MEMORY_URLS)
def test_the_configuration_refuses_an_in_memory_database(url: str) -> None:
    with pytest.raises(InvalidArgument, match=r"setting db_url \(TRIMTAB_DB\): .*an in-memory database lives in "
                                              r"one process .*give sqlite:////path/trimtab.db"):
        ServerConfig(db_url=url)


def test_from_the_environment_too(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="an in-memory database lives in one process"):
        load_config({}, env={"TRIMTAB_DB": "sqlite:///:memory:", "TRIMTAB_STATE_DIR": str(tmp_path)})


def test_file_urls_are_still_taken(tmp_path: Path) -> None:
    assert ServerConfig(db_url=f"sqlite:///{tmp_path / 'x.db'}").database_url.endswith("x.db")
    assert ServerConfig(db_url="sqlite:///relative.db").db_url == f"sqlite:///{Path.cwd() / 'relative.db'}"
    assert ServerConfig(state_dir=tmp_path).database_url == f"sqlite:///{tmp_path / 'trimtab.db'}"


@pytest.mark.parametrize("command", [["db", "status"], ["token", "create", "--name", "x", "--scope", "admin"],
                                     ["token", "list"], ["db", "upgrade"]])
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_every_command_says_so(command: list[str], url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*command, "--db", url])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "an in-memory database lives in one process" in err
    assert "max_overflow" not in err


def test_a_relative_path_is_made_absolute_and_a_missing_slash_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`--db sqlite:///tmp/x/trimtab.db` (three slashes) is tmp/x/trimtab.db under the current
    directory: a server started in one directory and `token create` run in another made two
    databases, and messages named only the URL (review revD 5)."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work)
    # Relative and meant so (its directory exists here): taken, as the absolute path it names now.
    assert ServerConfig(db_url="sqlite:///sub/t.db?timeout=5").db_url == f"sqlite:///{work / 'sub' / 't.db'}?timeout=5"
    # An absolute path missing its fourth slash: its directory exists only from the root.
    absolute = tmp_path / "db"
    absolute.mkdir()
    typo = f"sqlite://{absolute}/trimtab.db"  # sqlite:///tmp/.../db/trimtab.db
    with pytest.raises(InvalidArgument, match=r"under the current directory .* write four slashes: "
                                              rf"sqlite:///{absolute}/trimtab.db"):
        ServerConfig(db_url=typo)
    code = main(["token", "create", "--name", "x", "--scope", "admin", "--db", typo])
    _, err = capsys.readouterr()
    assert code == 2 and "write four slashes" in err
    assert not (work / str(absolute).lstrip("/")).exists()  # no second database made under the directory
