"""`trimtab server start`: run the gRPC server until SIGTERM/SIGINT.

Every setting, its variable and the configuration file are in docs/operations.md."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from server.cli.store_options import config_from, store_options


@click.group(name="server")
def cli() -> None:
    """Run the Trimtab server."""


@cli.command()
@click.option("--listen", default=None, envvar="TRIMTAB_LISTEN",
              help="host:port for gRPC (default 127.0.0.1:50051; 0.0.0.0 or [::] for every interface; "
                   "port 0 picks a free one).")
@click.option("--http", default=None, envvar="TRIMTAB_HTTP", help="host:port for the dashboard.")
@click.option("--advertise", default=None, envvar="TRIMTAB_ADVERTISE",
              help="host:port agents on Databricks clusters reach this server at, written into imported "
                   "jobs (default: the listen address; needed whenever that is 127.0.0.1 or 0.0.0.0).")
@click.option("--tls-cert", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              envvar="TRIMTAB_TLS_CERT",
              help="TLS certificate (PEM); needs --tls-key. Imported clusters get TRIMTAB_TLS=1; the CLI "
                   "needs TRIMTAB_TLS_CA.")
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              envvar="TRIMTAB_TLS_KEY", help="TLS private key (PEM).")
# No envvar= here (unlike the options above): TRIMTAB_LOG_LEVEL/TRIMTAB_LOG_FORMAT are read by
# server.config, so a bad value's error names the variable it came from, not the flag.
@click.option("--log-level", default=None,
              help="debug, info, warning or error: the least severe log lines written (default info; env "
                   "TRIMTAB_LOG_LEVEL).")
@click.option("--log-format", default=None,
              help="text or json: JSON lines for a log shipper (default text; env TRIMTAB_LOG_FORMAT).")
@store_options
def start(listen: str | None, http: str | None, advertise: str | None, tls_cert: Path | None, tls_key: Path | None,
          log_level: str | None, log_format: str | None, db_url: str | None, state_dir: Path | None) -> None:
    """Serve until SIGTERM or Ctrl-C; prints `listening on HOST:PORT` once ready."""
    from server.config import unknown_variables
    from server.logs import configure_logging

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    # Before logging is set up: a bad setting (the log ones too) is main()'s one plain "error:" line.
    config = config_from(db_url, state_dir, listen=listen, http=http, advertise=advertise, tls_cert=tls_cert,
                         tls_key=tls_key, log_level=log_level, log_format=log_format)
    # Only now the server itself (gRPC, the store, the planner's numerics: ~4 s of imports on a small
    # machine): a bad setting stops in half a second.
    from server.serve import serve_until_signalled, start_server

    configure_logging(config)
    log = logging.getLogger("trimtab")
    settings = config.describe()
    # Also as a field of its own: in JSON lines the settings are an object a log search can filter on.
    log.info("config: %s", settings, extra={"config": settings})
    unknown = unknown_variables(os.environ)
    if unknown:
        log.warning("environment variables no Trimtab part reads, ignored: %s", ", ".join(unknown))
    try:
        running = start_server(config)

        def ready() -> None:
            # One line on stdout that scripts (and tests) wait for: the address as bound (0.0.0.0
            # when on every interface), an IPv6 host in brackets as --server takes it. Printed once
            # SIGTERM stops the server gracefully.
            click.echo(f"listening on {running.bound_address}")
            if getattr(running.dashboard, "url", None):
                click.echo(f"dashboard on {running.dashboard.url}")
            sys.stdout.flush()

        serve_until_signalled(running, config.grace_seconds, ready)
    except Exception as exc:
        if config.log_format != "json":
            raise  # main() prints the one "error:" line
        # main() would print that line as plain text, the one line on stderr a log shipper could not
        # parse: logged as JSON instead (a traceback only for the unexpected), exiting 1 all the same.
        from server.cli.context import describe_error
        from server.errors import TrimtabError

        log.error("server stopped: %s", describe_error(exc), exc_info=not isinstance(exc, TrimtabError))
        sys.exit(1)
    click.echo("stopped")
