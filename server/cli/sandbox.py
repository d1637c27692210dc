"""`trimtab sandbox up`: a local Databricks workspace with simulated clusters.

Imports only the sandbox package (never the server's stack): the sandbox stands in for
the outside world and talks to Trimtab only over HTTP, files and init scripts. Options
and their environment variables come from the sandbox's one config (sandbox.workspace.config).
`--clouds` also reads Trimtab's shipped price catalog, only for the rates the stand-in clouds
bill at: list prices, as a real cloud bills a customer without discounts.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import click

from server.cli.context import CliContext
from server.cli.main import calls_no_server
from server.cli.store_options import Directory


@click.group(name="sandbox", help="A local Databricks workspace emulator with simulated clusters.")
def cli() -> None:
    pass


@calls_no_server("it serves a Databricks workspace emulator; a Trimtab server reaches it through "
                 "`trimtab workspace add --host` with the DATABRICKS_HOST it prints")
@cli.command("up")
@click.option("--state-dir", type=Directory(), default=None,
              help="Where jobs, runs, clusters and logs are kept  "
                   "[env TRIMTAB_SANDBOX_STATE_DIR; default: ~/.trimtab/sandbox].")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Simulated seconds per wall-clock second, at most 1000000  "
                   "[env TRIMTAB_SANDBOX_SPEED; default: 600].")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port on 127.0.0.1, 0 for any free port  [env TRIMTAB_SANDBOX_PORT; default: 0].")
@click.option("--rate-limit", type=click.IntRange(min=1), default=None,
              help="Answer 429 beyond this many requests per second  "
                   "[env TRIMTAB_SANDBOX_RATE_LIMIT].")
@click.option("--no-seed", "seed", flag_value=False, default=None,
              help="Do not create the example jobs  [env TRIMTAB_SANDBOX_SEED=0].")
@click.option("--no-schedules", "schedules", flag_value=False, default=None,
              help="Do not start runs at the jobs' schedules  [env TRIMTAB_SANDBOX_SCHEDULES=0].")
@click.option("--spot-loss-rate", type=click.FloatRange(min=0), default=None,
              help="Spot instances reclaimed per spot node-hour of a run, workers and a spot driver "
                   "(first_on_demand 0)  [env TRIMTAB_SANDBOX_SPOT_LOSS_RATE; default: 0.9, some 3% per "
                   "spot node of a typical run].")
@click.option("--clouds", is_flag=True, default=False,
              help="Also start the cloud stand-ins (moto for AWS, an HTTPS Azure Cost Management stand-in) "
                   "and bill each run's cluster in them; prints the credentials JSON for "
                   "`trimtab workspace add --cloud-credentials-env`.")
@click.pass_obj
def up(obj: CliContext | None, state_dir: Path | None, speed: float | None, port: int | None,
       rate_limit: int | None, seed: bool | None, schedules: bool | None, spot_loss_rate: float | None,
       clouds: bool) -> None:
    """Serve the workspace until Ctrl-C; prints DATABRICKS_HOST and DATABRICKS_TOKEN."""
    from sandbox.workspace.config import load
    from sandbox.workspace.serve import describe, serve_until_stopped
    from sandbox.workspace.state_lock import WorkspaceInUse

    try:
        config = load({"state_dir": state_dir, "speed": speed, "port": port,
                       "rate_limit": rate_limit, "seed": seed, "schedules": schedules,
                       "spot_loss_rate": spot_loss_rate})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    def ready(info: dict[str, Any]) -> None:
        if obj is not None and obj.as_json:
            click.echo(json.dumps(info, sort_keys=True))  # one line: readable while running
            return
        for line in describe(info):
            click.echo(line)
        if "clouds" in info:
            from sandbox.clouds.up import describe_clouds

            for line in describe_clouds(info):
                click.echo(line)

    try:
        if not clouds:
            serve_until_stopped(config, on_ready=ready)
        else:
            try:
                from sandbox.clouds.up import AWS_REGION, AZURE_REGION, serve_with_clouds
            except ModuleNotFoundError as exc:
                # moto's server (the AWS stand-in) and what it needs are the `sandbox` extra's, not the
                # server's: a `pip install 'trimtab[server]'` has the workspace emulator but not them.
                missing = (exc.name or str(exc)).partition(".")[0]
                raise click.ClickException(f"--clouds needs the cloud stand-ins' packages (moto's server for AWS), "
                                           f"and {missing} is not installed: pip install 'trimtab[sandbox]'") from exc
            from server.costing.billing import list_price_rates
            from server.costing.catalog import load_catalog

            regions = {"aws": AWS_REGION, "azure": AZURE_REGION}
            instance_rate, storage_rate = list_price_rates(load_catalog(), regions)
            serve_with_clouds(config, instance_rate, storage_rate, on_ready=ready)
    except WorkspaceInUse as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        if config.port == 0 or exc.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
        # Alone, "[Errno 98] Address already in use" named neither the port nor where it was set.
        where = "--port" if port is not None else "TRIMTAB_SANDBOX_PORT"
        why = ("is in use (another sandbox still running?)" if exc.errno == errno.EADDRINUSE
               else "needs privileges this user lacks")
        raise click.ClickException(f"port {config.port} on 127.0.0.1 ({where}) {why}: give another port, or 0 "
                                   "for any free one") from exc
    click.echo("# sandbox stopped", err=True)
