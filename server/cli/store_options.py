"""For the commands that open the store themselves: `--db` and `--state-dir`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def store_options(func: F) -> F:
    func = click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                        envvar="TRIMTAB_STATE_DIR",
                        help="Where local files live (default: a per-user data directory).")(func)
    return click.option("--db", "db_url", default=None, envvar="TRIMTAB_DB",
                        help="Database URL (default: SQLite file in the state directory).")(func)  # type: ignore[return-value]


def config_from(db_url: str | None, state_dir: Path | None, **flags: Any) -> Any:
    from server.config import load_config

    return load_config({"db_url": db_url, "state_dir": state_dir, **flags})


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
    return "default; pass --db or --state-dir as given to `trimtab server start`"


def announce_database(db_url: str | None, state_dir: Path | None, config: Any) -> None:
    """One line on stderr naming the database opened and why that one.

    These commands write the database, not the server: one opened on the per-user default
    while the server runs on another (its --db or --state-dir) makes, say, a token the
    server refuses, so the line shows which one it was before anything else happens.
    """
    import sqlalchemy as sa

    url = sa.engine.make_url(config.database_url).render_as_string(hide_password=True)
    click.echo(f"database: {url} ({database_source(db_url, state_dir, config)})", err=True)


def open_cli_store(db_url: str | None, state_dir: Path | None) -> tuple[Any, Any]:
    """The configuration and the opened store of a command with `store_options`, after saying which database."""
    from server.store import open_store

    config = config_from(db_url, state_dir)
    announce_database(db_url, state_dir, config)
    return config, open_store(config.database_url)
