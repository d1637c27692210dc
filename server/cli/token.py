"""`trimtab token create|list|revoke`: API tokens (opens the store itself)."""

from __future__ import annotations

from pathlib import Path

import click

from server.cli.context import CliContext, print_json, print_table
from server.cli.given import Given
from server.cli.store_options import open_cli_store, store_options


@click.group(name="token")
def cli() -> None:
    """Create, list and revoke API tokens."""


# A name is a label in `token list`'s table: a line feed in it broke the table, and nothing bounded it.
MAX_NAME_LENGTH = 100


def _name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    name = value.strip()
    if not name:
        raise click.BadParameter(f"{value!r}: an empty value is most often an unset shell variable; give who or "
                                 "what uses the token")
    bad = next((c for c in name if not c.isprintable()), None)
    if bad is not None:
        raise click.BadParameter(f"{value!r} contains a control character ({bad!r}): give one line of text")
    if len(name) > MAX_NAME_LENGTH:
        raise click.BadParameter(f"{len(name)} characters: at most {MAX_NAME_LENGTH}")
    return name


@cli.command()
@click.option("--name", required=True, callback=_name,
              help=f"Who or what uses the token (one line, at most {MAX_NAME_LENGTH} characters).")
@click.option("--scope", required=True, type=click.Choice(["agent", "admin"]))
@click.option("--workspace", type=Given("a workspace name", "for a token bound to no workspace"), default=None,
              metavar="W",
              help="Bind an agent token to workspace W: the server ties what it sends only to W's runs and "
                   "refuses it for applications another workspace's token sent. Safer; import binds the "
                   "token it writes into a workspace's secret.")
@click.option("--create-database", is_flag=True,
              help="Create the SQLite database (at --db or in --state-dir) if it is not there yet, e.g. for a token "
                   "made before the server's first start; without it a token command refuses a missing database. "
                   "An existing PostgreSQL database gets the schema without it.")
@store_options
@click.pass_obj
def create(ctx: CliContext, name: str, scope: str, workspace: str | None, create_database: bool,
           db_url: str | None, state_dir: Path | None) -> None:
    """Create a token; it is printed once, alone on the last line.

    Give the server's --state-dir or --db: a token is valid only on the database it is stored in.
    An agent token without --workspace may send data for any workspace's clusters.
    """
    if workspace is not None and scope != "agent":
        raise click.BadParameter("only an agent token is bound to a workspace", param_hint="--workspace")
    _, store = open_cli_store(db_url, state_dir, may_create=create_database, create_option="--create-database",
                              database_only=True)
    try:
        token, plaintext = store.tokens.create(name, scope, workspace=workspace)
    finally:
        store.close()
    if ctx.as_json:
        print_json({"token_id": token.token_id, "name": token.name, "scope": token.scope,
                    "workspace": token.workspace, "token": plaintext})
        return
    bound = f" for workspace {workspace}" if workspace is not None else ""
    click.echo(f"created {scope} token {token.token_id} ({name}){bound}; it is shown only now:", err=True)
    if scope == "agent" and workspace is None:
        click.echo("note: bound to no workspace, it may send data for any workspace's clusters "
                   "(--workspace W binds it to one)", err=True)
    click.echo(plaintext)


@cli.command(name="list")
@store_options
@click.pass_obj
def list_tokens(ctx: CliContext, db_url: str | None, state_dir: Path | None) -> None:
    """Tokens by creation time (never their secret)."""
    _, store = open_cli_store(db_url, state_dir, may_create=False, database_only=True)
    try:
        tokens = store.tokens.list()
    finally:
        store.close()
    if ctx.as_json:
        print_json([{"token_id": t.token_id, "name": t.name, "scope": t.scope, "workspace": t.workspace,
                     "created_at_ms": t.created_at_ms, "revoked": t.revoked} for t in tokens])
        return
    # WORKSPACE "*": an agent token bound to none sends data for any workspace's clusters.
    print_table([(t.token_id, t.name, t.scope, t.workspace or ("*" if t.scope == "agent" else ""),
                  "revoked" if t.revoked else "active") for t in tokens],
                ["ID", "NAME", "SCOPE", "WORKSPACE", "STATE"])


@cli.command()
@click.argument("token_id", type=Given("the id of a token `trimtab token list` shows"))
@store_options
@click.pass_obj
def revoke(ctx: CliContext, token_id: str, db_url: str | None, state_dir: Path | None) -> None:
    """Revoke TOKEN_ID (see `token list`); servers refuse it within TRIMTAB_TOKEN_REVOCATION_CHECK_SECONDS."""
    _, store = open_cli_store(db_url, state_dir, may_create=False, database_only=True)
    try:
        store.tokens.revoke(token_id)
    finally:
        store.close()
    if ctx.as_json:
        print_json({"token_id": token_id, "revoked": True})
        return
    click.echo(f"revoked token {token_id}")
