"""A database URL that does not parse is refused by the configuration, in words that show none of it.

Review: a password with an unencoded ':' or '@' made SQLAlchemy read part of it as the port, and every
command said ``error: invalid literal for int() with base 10: 'Xk9#Lm2@db.internal'`` (the password's
tail); an '@' left in the host part ("ab@cd") connected to host "cd@127.0.0.1", and libpq's
"failed to resolve host" showed it."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.main import main
from server.config import ServerConfig, load_config
from server.errors import InvalidArgument
from server.store.engine import make_engine

NOT_A_URL = ("setting db_url (TRIMTAB_DB): not a valid URL; percent-encode special characters in the password "
             "(@ -> %40, : -> %3A, / -> %2F, # -> %23)")

BAD_URLS = [
    "postgresql://trimtab:Ab@cd:Xk9#Lm2@db.internal/trimtab",
    "postgresql://u:p@ss:w/rd#1%?x@127.0.0.1/trimtab",
    "postgresql://u:ab@cd@127.0.0.1/trimtab",
    "postgresql://u:p?x@ss/word@127.0.0.1/trimtab",  # connected to host "ss", database "word@127.0.0.1/..."
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_the_configuration_refuses_a_url_that_does_not_parse_showing_none_of_it(url: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        ServerConfig(db_url=url)
    # The fixed words only: no part of the URL.
    assert str(err.value) == NOT_A_URL
    # Not chained either (a --debug traceback would show the parser's error).
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_make_engine_refuses_it_alike() -> None:
    with pytest.raises(InvalidArgument) as err:
        make_engine("postgresql://trimtab:Ab@cd:Xk9#Lm2@db.internal/trimtab")
    assert "Xk9" not in str(err.value) and "percent-encode" in str(err.value)


@pytest.mark.parametrize("url", [
    "postgresql://trimtab:Ab%40cd%3AXk9%23Lm2@db.internal/trimtab",  # the same password, encoded
    "postgresql://trimtab:Xk9#Lm2/x:y@db.internal:5433/trimtab",  # '#', '/' and ':' SQLAlchemy reads right
    "postgresql://root@/trimtab?host=/var/run/postgresql&options=-csearch_path%3Dtrimtab",
    "postgresql://[::1]:5432/trimtab",
])
def test_urls_that_parse_are_kept(url: str) -> None:
    assert ServerConfig(db_url=url).db_url == url


def test_an_at_in_a_sqlite_path_is_a_path(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a@b/trimtab.db"
    assert ServerConfig(db_url=url).db_url == url


@pytest.mark.parametrize("command", [["db", "status"], ["db", "upgrade"], ["token", "list"]])
def test_commands_say_it_in_one_line(command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIMTAB_DB", "postgresql://trimtab:Ab@cd:Xk9#Lm2@db.internal/trimtab")
    code = main([*command, "--state-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2  # a configuration error
    assert err.strip() == f"error: {NOT_A_URL}"
    assert "Xk9" not in out + err


def test_from_the_environment_too(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a valid URL; percent-encode"):
        load_config({}, env={"TRIMTAB_DB": "postgresql://u:ab@cd@127.0.0.1/trimtab",
                             "TRIMTAB_STATE_DIR": str(tmp_path)})


# ------------------------------------------------------------------ drivers Trimtab does not run on


@pytest.mark.parametrize("url", ["postgresql+asyncpg://root@/trimtab?host=/var/run/postgresql",
                                 "postgresql+psycopg2://u:hunter2@h/trimtab", "sqlite+aiosqlite:////tmp/x.db"])
def test_another_driver_is_refused_naming_the_supported_ones(url: str) -> None:
    # Review: postgresql+asyncpg failed with a bare "No module named 'asyncpg'".
    with pytest.raises(InvalidArgument, match=r"^setting db_url \(TRIMTAB_DB\): the \S+ driver: only sqlite:/// "
                                              r"and postgresql:// URLs are supported, with Python's sqlite3 and "
                                              r"psycopg 3; write (sqlite|postgresql)://$") as err:
        ServerConfig(db_url=url)
    assert "hunter2" not in str(err.value)
    with pytest.raises(InvalidArgument, match="only sqlite:/// and postgresql:// URLs are supported"):
        make_engine(url)


@pytest.mark.parametrize("url", ["postgresql+psycopg://root@/trimtab?host=/var/run/postgresql",
                                 "sqlite+pysqlite:////tmp/trimtab.db"])
def test_the_supported_drivers_named_in_full_are_kept(url: str) -> None:
    # The drivers Trimtab runs on, named in full (as an older server logged a postgresql:// URL): they work.
    assert ServerConfig(db_url=url).db_url == url


def test_db_status_with_another_driver_says_what_is_supported(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["db", "status", "--db", "postgresql+asyncpg://root@/trimtab?host=/var/run/postgresql",
                 "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2  # a configuration error
    assert "postgresql+asyncpg driver: only sqlite:/// and postgresql:// URLs are supported" in err
    assert "No module named" not in err
