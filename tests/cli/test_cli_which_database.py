"""Commands that open the database themselves never make one silently (review, task I).

`trimtab token list` without --state-dir/--db created the per-user default database and printed an
empty table; `token create` made a working-looking token there that the server (on another
--state-dir) refused. Now: commands refuse a database that is not there (exit 2: the --db or
--state-dir is what to fix); `db upgrade`, and `token create` asked with --create-database, create it
only where the user named a place, and say so; the server's refusal names the other database as a
reason; --server/--token, which these commands never used, are refused on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.cli.store_options import NO_DATABASE_HINT
from server.config import ServerConfig
from server.serve import start_server
from server.store import open_store
from tests.inprocess_cli import run_cli as _run


@pytest.fixture
def default_dir(nothing_from_the_environment: Path) -> Path:
    """The per-user default state directory, in tmp_path, with nothing pointing elsewhere."""
    return nothing_from_the_environment


@pytest.mark.parametrize("args", [["token", "list"], ["--json", "token", "list"], ["token", "revoke", "abc123"],
                                  ["db", "compact-events", "--older-than", "90d"]])
def test_reading_commands_refuse_a_missing_default_database_and_create_nothing(
        default_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, err = _run(capsys, *args)
    assert (code, out) == (2, "")
    url = f"sqlite:///{default_dir / 'trimtab.db'}"
    assert err.splitlines()[-1] == f"error: no Trimtab database at {url}: {NO_DATABASE_HINT}"
    assert not default_dir.exists()


def test_reading_commands_refuse_a_missing_named_database_too(tmp_path: Path, default_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "typo"
    code, _, err = _run(capsys, "token", "list", "--state-dir", str(state))
    url = f"sqlite:///{state / 'trimtab.db'}"
    assert code == 2 and err.splitlines()[-1] == f"error: no Trimtab database at {url}: {NO_DATABASE_HINT}"
    assert not state.exists()


@pytest.mark.parametrize(("args", "asking"), [
    (["token", "create", "--name", "me", "--scope", "admin"], ["--create-database"]), (["db", "upgrade"], [])])
def test_writing_commands_refuse_to_create_the_default_database(default_dir: Path, capsys: pytest.CaptureFixture[str],
                                                                args: list[str], asking: list[str]) -> None:
    for given in ([], asking):
        code, out, err = _run(capsys, *args, *given)
        assert (code, out) == (2, "")
        url = f"sqlite:///{default_dir / 'trimtab.db'}"
        assert err.splitlines()[-1] == (f"error: no Trimtab database at {url} (the default location, not created): "
                                        f"{NO_DATABASE_HINT}; to create one there anyway, pass --state-dir "
                                        f"{default_dir}"
                                        + "".join(f" {a}" for a in asking))
        assert not default_dir.exists()
    # Named explicitly, the same place is created (with the warning below).
    code, _, err = _run(capsys, *args, *asking, "--state-dir", str(default_dir))
    assert code == 0 and "creating it" in err
    assert _run(capsys, "token", "list")[0] == 0  # and from then on the default works without flags


def test_the_default_database_once_created_by_a_server_works_without_flags(
        default_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_store(f"sqlite:///{default_dir / 'trimtab.db'}").close()  # as `trimtab server start` without flags
    code, out, err = _run(capsys, "token", "create", "--name", "me", "--scope", "admin")
    assert code == 0 and out.startswith("tt_") and "warning" not in err
    code, out, _ = _run(capsys, "--json", "token", "list")
    assert code == 0 and [t["name"] for t in json.loads(out)] == ["me"]


def test_token_create_on_a_named_new_database_warns_and_the_server_on_it_accepts_the_token(
        tmp_path: Path, default_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "srv"
    code, out, err = _run(capsys, "token", "create", "--name", "me", "--scope", "admin", "--state-dir", str(state),
                          "--create-database")
    url = f"sqlite:///{state / 'trimtab.db'}"
    assert code == 0
    assert err.splitlines()[:2] == [
        f"database: {url} (SQLite in --state-dir)",
        f"warning: no Trimtab database at {url} yet: creating it. Only a server started on this same database "
        "(--db/--state-dir) will see what this command writes."]
    token = out.strip().splitlines()[-1]
    running = start_server(ServerConfig(listen="127.0.0.1:0", http="", collect=0, state_dir=state))
    try:
        code, out, err = _run(capsys, "--server", running.address, "--token", token, "project", "list")
        assert code == 0, err
    finally:
        running.stop(0)
    # A second token on the now existing database: no warning.
    code, _, err = _run(capsys, "token", "create", "--name", "two", "--scope", "agent", "--state-dir", str(state))
    assert code == 0 and "warning" not in err


def test_a_token_from_another_database_is_refused_with_that_hint(tmp_path: Path, default_dir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "token", "create", "--name", "me", "--scope", "admin",
                        "--state-dir", str(tmp_path / "elsewhere"), "--create-database")
    assert code == 0
    running = start_server(ServerConfig(listen="127.0.0.1:0", http="", collect=0, state_dir=tmp_path / "srv"))
    try:
        code, _, err = _run(capsys, "--server", running.address, "--token", out.strip(), "project", "list")
    finally:
        running.stop(0)
    assert code == 1
    assert err == ("error: invalid or revoked token (see `trimtab token list`; created against another "
                   "--state-dir/--db than this server's?) (UNAUTHENTICATED)\n")


def test_a_database_without_trimtab_schema_is_refused_by_readers_and_created_by_a_named_writer(
        db_url: str, default_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`db_url`: a SQLite path not there yet, or an empty PostgreSQL database (no Trimtab schema)."""
    import sqlalchemy as sa

    empty_database = db_url
    shown = sa.engine.make_url(empty_database).render_as_string(hide_password=True)
    code, _, err = _run(capsys, "token", "list", "--db", empty_database)
    assert code == 2 and err.splitlines()[-1] == f"error: no Trimtab database at {shown}: {NO_DATABASE_HINT}"
    code, out, err = _run(capsys, "--json", "token", "create", "--name", "ops", "--scope", "admin",
                          "--db", empty_database, "--create-database")
    assert code == 0 and "creating it" in err
    created = json.loads(out)
    code, out, _ = _run(capsys, "--json", "token", "list", "--db", empty_database)
    assert code == 0 and [t["token_id"] for t in json.loads(out)] == [created["token_id"]]


@pytest.mark.parametrize("args", [["token", "list"], ["token", "create", "--name", "x", "--scope", "admin"],
                                  ["db", "upgrade"]])
@pytest.mark.parametrize("option", ["--server", "--token"])
def test_server_and_token_options_are_refused_where_no_server_is_called(
        default_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], option: str) -> None:
    code, out, err = _run(capsys, *args, option, "x:1")
    assert (code, out) == (2, "")
    assert err == (f"error: {option} does not apply to `trimtab {' '.join(args[:2])}`: it calls no Trimtab server "
                   "but opens the database itself: give it the server's --state-dir or --db\n")
    assert not default_dir.exists()
    code, out, _ = _run(capsys, *args[:2], "--help")
    assert code == 0 and option not in out and "--state-dir" in out


def test_group_help_of_store_commands_lists_no_server_option(capsys: pytest.CaptureFixture[str]) -> None:
    for group in ("token", "db"):
        code, out, _ = _run(capsys, group, "--help")
        assert code == 0 and "--server" not in out and "--token" not in out and "--json" in out
    code, out, _ = _run(capsys, "project", "--help")  # project list etc. call the server
    assert code == 0 and "--server" in out and "--token" in out


# ------------------------------------------------------------- --older-than 90: days suggested


def test_compact_events_suggests_days_for_a_bare_number(default_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "db", "compact-events", "--older-than", "90")
    assert code == 2
    assert err == "error: Invalid value for '--older-than': '90': add a unit: 90s, 90m, 90h or 90d\n"


@pytest.mark.parametrize(("text", "hint"), [("45", "45s, 45m or 45h"), ("3", "3s, 3m, 3h or 3d"),
                                            ("200", "200s or 200m"), ("1.5", "1.5m, 1.5h or 1.5d")])
def test_a_bare_number_suggests_only_units_that_would_be_taken(text: str, hint: str) -> None:
    import click

    from server.cli.context import parse_duration

    with pytest.raises(click.BadParameter) as raised:
        parse_duration(text, "--sla")  # at most 7d
    assert raised.value.format_message() == f"Invalid value for '--sla': '{text}': add a unit: {hint}"
    for suggested in hint.replace(" or ", ", ").split(", "):
        assert parse_duration(suggested) > 0
