"""For the commands that open the store themselves: `--db` and `--state-dir`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class Directory(click.Path):
    """A directory option (``--state-dir``, ...): `click.Path` that refuses a blank value.

    ``Path("")`` is the current directory, so ``--state-dir "$DIR"`` with ``DIR`` unset would quietly
    put (or look for) the database, the secret key and the price catalog wherever the command ran.
    """

    def __init__(self) -> None:
        super().__init__(path_type=Path, file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            # As for --sla "": an empty value is most often an unset shell variable.
            self.fail(f"{value!r}: an empty value is most often an unset shell variable; give a directory, or "
                      "leave the option out for the default", param, ctx)
        return super().convert(value, param, ctx)


class DatabaseUrl(click.ParamType):
    """``--db``: refuses a blank value, which load_config read as "not set": ``--db "$URL"`` with
    ``URL`` unset opened the default database without a word. (An empty TRIMTAB_DB is unset, for
    Click and the server alike.)"""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(f"{value!r}: an empty value is most often an unset shell variable; give a database URL "
                      "(sqlite:////path/trimtab.db or postgresql://...), or leave the option out for SQLite in "
                      "the state directory", param, ctx)
        return value

    def local_path(self, value: str) -> bool:
        """A SQLite URL names a file opened on this machine, whatever bytes its path holds
        (`server.cli.undecodable`); a PostgreSQL URL is sent to the database server."""
        return value.strip().lower().startswith("sqlite")


def store_options(func: F) -> F:
    func = click.option("--state-dir", type=Directory(), default=None,
                        envvar="TRIMTAB_STATE_DIR",
                        help="Where local files live (default: a per-user data directory).")(func)
    return click.option("--db", "db_url", type=DatabaseUrl(), default=None, envvar="TRIMTAB_DB",
                        help="Database URL (default: SQLite file in the state directory).")(func)  # type: ignore[return-value]


def _from_environment(param: str) -> bool:
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(param) == click.core.ParameterSource.ENVIRONMENT


def refuse_unused_state_dir(db_url: str | None, state_dir: Path | None) -> None:
    """A usage error when --state-dir is given with a database URL, for a command that uses the state
    directory only to find the database: the URL won, and `token create --state-dir X --db URL` made a
    token in a new database at URL while the user meant X. (The server and `project backfill` read the
    state directory for more than the database, so they take both.) A TRIMTAB_STATE_DIR left in the
    environment is no choice made for this command, and is not refused."""
    if not db_url or state_dir is None or _from_environment("state_dir"):
        return
    url_from = "TRIMTAB_DB" if _from_environment("db_url") else "--db"
    raise click.UsageError(f"--state-dir and {url_from} both name the database: this command would use "
                           f"{url_from} and ignore --state-dir; give one of them")


def config_from(db_url: str | None, state_dir: Path | None, *, database_only: bool = False, **flags: Any) -> Any:
    """The configuration for a command with `store_options` (``database_only``: the command uses the
    state directory only to find the database, see `refuse_unused_state_dir`).

    A value Click read from an environment variable (TRIMTAB_DB, TRIMTAB_LISTEN, ...) is left to
    load_config, which reads the same variables: only values given on the command line are passed as
    flags, so an error names where the value came from (`db status --db garbage` blamed TRIMTAB_DB).
    A bad value is reported before the two options together: both are true, and the value is the
    one to fix in any case."""
    from server.config import load_config

    given = {"db_url": db_url, "state_dir": state_dir, **flags}
    config = load_config({k: None if _from_environment(k) else v for k, v in given.items()})
    if database_only:
        refuse_unused_state_dir(db_url, state_dir)
    return config


def _default_location(state_dir: Path | None, config: Any) -> bool:
    """True when nothing chose the database: no --db, TRIMTAB_DB, --state-dir, TRIMTAB_STATE_DIR or file setting."""
    from server.config import default_state_dir

    return not config.db_url and state_dir is None and Path(config.state_dir) == default_state_dir().resolve()


def database_source(db_url: str | None, state_dir: Path | None, config: Any) -> str:
    """Where the database URL came from, for the line `announce_database` prints."""
    ctx = click.get_current_context(silent=True)

    def given(param: str, value: Any, flag: str, env: str) -> str | None:
        if value is None:
            return None
        source = ctx.get_parameter_source(param) if ctx is not None else None
        return env if source == click.core.ParameterSource.ENVIRONMENT else flag

    if db_url:
        return given("db_url", db_url, "--db", "TRIMTAB_DB") or "--db"
    if config.db_url:
        return "db_url in the server configuration file"
    where = given("state_dir", state_dir, "--state-dir", "TRIMTAB_STATE_DIR")
    if where:
        return f"SQLite in {where}"
    if not _default_location(state_dir, config):
        return "SQLite in state_dir of the server configuration file"
    return "default; pass --db or --state-dir as given to `trimtab server start`"


def _shown(config: Any) -> str:
    from server.store.urls import shown_url

    return shown_url(config.database_url)


def announce_database(db_url: str | None, state_dir: Path | None, config: Any) -> None:
    """One line on stderr naming the database opened and why that one.

    These commands write the database, not the server: one opened on the per-user default
    while the server runs on another (its --db or --state-dir) makes, say, a token the
    server refuses, so the line shows which one it was before anything else happens.
    """
    click.echo(f"database: {_shown(config)} ({database_source(db_url, state_dir, config)})", err=True)


def has_trimtab_schema(url: str) -> bool:
    """Whether `url` holds a Trimtab database (any schema revision), without creating anything.

    A SQLite file that is not there is not connected to at all: connecting would create it.
    """
    from server.store import engine as db
    from server.store import migrate
    from server.store.urls import parse_url

    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:" \
            and not Path(parsed.database).is_file():
        return False
    engine = db.make_engine(url)
    try:
        return migrate.current_revision(engine) is not None
    finally:
        engine.dispose()


def is_server_database(url: str) -> bool:
    """Whether `url` names a database on a server (PostgreSQL), which connecting never creates: unlike a
    SQLite file, one that is not there fails at connect."""
    from server.store.urls import parse_url

    return parse_url(url).get_backend_name() != "sqlite"


NO_DATABASE_HINT = "pass --state-dir/--db of your server, or start `trimtab server start` once to create it"


def require_database(db_url: str | None, state_dir: Path | None, config: Any, *, may_create: bool,
                     create_option: str | None = None) -> bool:
    """Refuse, or warn, before a command opens a database that does not exist yet.

    Opening one creates it (file and schema), so a command run without the server's --db or
    --state-dir used to make a fresh default database and report success on it: a token the
    server then refused, an empty `token list`. A database that is not there is a usage error
    (exit 2): the --db or --state-dir given, or left out, is the setting to fix. Commands that only
    read or change what is there (`may_create=False`) refuse; so does a writer whose option asking
    to create it (`create_option`, `token create --create-database`) was not given: `token create
    --db sqlite:////typo/dir/t.db` made the directory, the database and a token that the running
    server never accepts. Commands that create it (`db upgrade`, or that option given) do so only
    where the user named a place (flag, variable or configuration file), and say so on stderr: a
    named place is a decision (say, a token made before the server's first start), the per-user
    default only a guess at where the server's database is.

    A PostgreSQL database that exists (made by `createdb` or a DBA) is there even without the schema,
    and a writer with `create_option` creates the schema in it without that option: the option catches
    a typo in a SQLite path, while a typo in a PostgreSQL database's name already fails at connect.
    Returns whether the command may create the schema.
    """
    if has_trimtab_schema(config.database_url):
        return may_create
    if create_option and is_server_database(config.database_url):
        # has_trimtab_schema has connected to it, so it is there.
        may_create = True
    shown = _shown(config)
    if _default_location(state_dir, config) and (may_create or create_option):
        asking = f" {create_option}" if create_option else ""
        raise click.UsageError(
            f"no Trimtab database at {shown} (the default location, not created): {NO_DATABASE_HINT}; "
            f"to create one there anyway, pass --state-dir {Path(config.state_dir)}{asking}")
    if not may_create:
        asking = f"; to create one there, pass {create_option}" if create_option else ""
        raise click.UsageError(f"no Trimtab database at {shown}: {NO_DATABASE_HINT}{asking}")
    click.echo(f"warning: no Trimtab database at {shown} yet: creating it. Only a server started on this "
               "same database (--db/--state-dir) will see what this command writes.", err=True)
    return True


def open_cli_store(db_url: str | None, state_dir: Path | None, *, may_create: bool = True,
                   create_option: str | None = None, database_only: bool = False) -> tuple[Any, Any]:
    """The configuration and the opened store of a command with `store_options`, after saying which database.

    `may_create`, `create_option`: see `require_database` (`may_create` False for commands that only
    read or change what is there); `database_only`: see `config_from`.
    An existing database is never migrated here, whatever ``TRIMTAB_MIGRATE`` says: a newer CLI pointed
    at production would move the schema under a running older server, which could then no longer
    restart. An older schema is refused with "run `trimtab db upgrade`"; only that command migrates.
    """
    from server.store import open_store

    config = config_from(db_url, state_dir, database_only=database_only)
    announce_database(db_url, state_dir, config)
    create = require_database(db_url, state_dir, config, may_create=may_create, create_option=create_option)
    return config, open_store(config.database_url, upgrade=False, create=create)
