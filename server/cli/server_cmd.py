"""`trimtab server start`: run the gRPC server until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from server.cli.store_options import config_from, store_options


@click.group(name="server")
def cli() -> None:
    """Run the Trimtab server."""


@cli.command()
@click.option("--listen", default=None, envvar="TRIMTAB_LISTEN",
              help="host:port for gRPC (default 127.0.0.1:50051; port 0 picks a free one).")
@click.option("--http", default=None, envvar="TRIMTAB_HTTP", help="host:port for the dashboard.")
@click.option("--advertise", default=None, envvar="TRIMTAB_ADVERTISE",
              help="host:port agents on clusters reach this server at (default: the listen address).")
@click.option("--tls-cert", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              envvar="TRIMTAB_TLS_CERT", help="TLS certificate (PEM); needs --tls-key.")
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              envvar="TRIMTAB_TLS_KEY", help="TLS private key (PEM).")
@store_options
def start(listen: str | None, http: str | None, advertise: str | None, tls_cert: Path | None, tls_key: Path | None,
          db_url: str | None, state_dir: Path | None) -> None:
    """Serve until SIGTERM or Ctrl-C; prints `listening on HOST:PORT` once ready."""
    from server.serve import serve_until_signalled, start_server

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from(db_url, state_dir, listen=listen, http=http, advertise=advertise, tls_cert=tls_cert,
                         tls_key=tls_key)
    logging.getLogger("trimtab").info("config: %s", config.describe())
    running = start_server(config)
    # One line on stdout that scripts (and tests) wait for.
    click.echo(f"listening on {running.address}")
    if getattr(running.dashboard, "url", None):
        click.echo(f"dashboard on {running.dashboard.url}")
    sys.stdout.flush()
    serve_until_signalled(running, config.grace_seconds)
    click.echo("stopped")
