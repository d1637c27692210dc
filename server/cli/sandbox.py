"""`trimtab sandbox up`: a local Databricks workspace with simulated clusters.

Imports only the sandbox package (never the server's stack): the sandbox stands in for
the outside world and talks to Trimtab only over HTTP, files and init scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from server.cli.context import CliContext


@click.group(name="sandbox", help="A local Databricks workspace emulator with simulated clusters.")
def cli() -> None:
    pass


@cli.command("up")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="TRIMTAB_SANDBOX_STATE_DIR", default=None,
              help="Where jobs, runs, clusters and logs are kept  [default: ~/.trimtab/sandbox].")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=600.0,
              envvar="TRIMTAB_SANDBOX_SPEED", show_default=True,
              help="Simulated seconds per wall-clock second.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--rate-limit", type=click.IntRange(min=1), default=None,
              help="Answer 429 beyond this many requests per second.")
@click.option("--no-seed", is_flag=True, help="Do not create the example jobs.")
@click.pass_obj
def up(obj: CliContext | None, state_dir: Path | None, speed: float, port: int,
       rate_limit: int | None, no_seed: bool) -> None:
    """Serve the workspace until Ctrl-C; prints DATABRICKS_HOST and DATABRICKS_TOKEN."""
    from sandbox.workspace.serve import DEFAULT_STATE_DIR, describe, serve_until_stopped

    def ready(info: dict[str, Any]) -> None:
        if obj is not None and obj.as_json:
            click.echo(json.dumps(info, sort_keys=True))  # one line: readable while running
        else:
            for line in describe(info):
                click.echo(line)

    serve_until_stopped(state_dir or DEFAULT_STATE_DIR, speed=speed, port=port,
                        rate_limit=rate_limit, seed=not no_seed, on_ready=ready)
    click.echo("# sandbox stopped", err=True)
