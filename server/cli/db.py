"""`trimtab db upgrade`: bring the database schema to this version's."""

from __future__ import annotations

from pathlib import Path

import click

from server.cli.context import CliContext, print_json
from server.cli.store_options import config_from, store_options


@click.group(name="db")
def cli() -> None:
    """Manage the database schema."""


@cli.command()
@store_options
@click.pass_obj
def upgrade(ctx: CliContext, db_url: str | None, state_dir: Path | None) -> None:
    """Apply every migration not applied yet."""
    from server.store import migrate, open_store

    config = config_from(db_url, state_dir)
    store = open_store(config.database_url, upgrade=True)
    try:
        revision = migrate.current_revision(store.engine)
    finally:
        store.close()
    if ctx.as_json:
        print_json({"database": store.url, "revision": revision})
    else:
        click.echo(f"database {store.url} is at revision {revision}")
