"""`trimtab app list | show APP_ID`: Spark applications received from agents."""

from __future__ import annotations

import click

from server.cli.context import CliContext, admin_call, message_dict, print_fields, print_json, print_table
from server.cli.run import MAX_PAGE, utc, when


@click.group(name="app")
def cli() -> None:
    """Spark applications received from agents."""


@cli.command(name="list")
@click.option("--limit", type=click.IntRange(min=1, max=MAX_PAGE), default=50, show_default=True,
              help=f"Applications to list, 1 to {MAX_PAGE}.")
@click.pass_obj
def list_apps(ctx: CliContext, limit: int) -> None:
    """Newest first, tied to a run or not."""
    from protos.trimtab.v1 import admin_pb2

    reply = admin_call(ctx, "RunServiceStub", "ListApplications", admin_pb2.ListApplicationsRequest(limit=limit))
    if ctx.as_json:
        print_json([message_dict(a) for a in reply.applications])
        return
    print_table([(a.application_id, a.app_name, a.cluster_id or "-", when(a.start_time_ms),
                  "ended" if a.ended else "running", a.stage_count, a.executor_count, a.run_id or "-")
                 for a in reply.applications],
                ["APPLICATION", "NAME", "CLUSTER", "STARTED (UTC)", "STATE", "STAGES", "EXECUTORS", "RUN"])


@cli.command()
@click.argument("application_id")
@click.pass_obj
def show(ctx: CliContext, application_id: str) -> None:
    """One application: APPLICATION_ID as `app list` shows it, or its Spark application id (app-...)."""
    from protos.trimtab.v1 import admin_pb2

    a = admin_call(ctx, "RunServiceStub", "GetApplication",
                   admin_pb2.GetApplicationRequest(application_id=application_id))
    if ctx.as_json:
        print_json(message_dict(a))
        return
    print_fields((("application", a.application_id), ("spark app id", a.spark_app_id or "-"),
                  ("name", a.app_name or "-"), ("spark", a.spark_version or "-"),
                  ("cluster", a.cluster_id or "-"), ("started", utc(a.start_time_ms)),
                  ("ended", utc(a.end_time_ms) if a.ended else "not yet"),
                  ("stages", str(a.stage_count)), ("executors", str(a.executor_count)),
                  ("jobs", str(a.job_count)), ("run", a.run_id or "not tied to a run yet")))
