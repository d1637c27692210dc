"""`trimtab app list | show APP_ID`: Spark applications received from agents."""

from __future__ import annotations

from typing import Any

import click

from server.cli.context import CliContext, admin_call, message_dict, print_fields, print_json, print_table
from server.cli.run import MAX_PAGE, utc, when


@click.group(name="app")
def cli() -> None:
    """Spark applications received from agents."""


@cli.command(name="list")
@click.option("--limit", type=click.IntRange(min=1, max=MAX_PAGE), default=50, show_default=True,
              help=f"Applications per page, 1 to {MAX_PAGE}.")
@click.option("--page-token", default="", help="Continue after a previous page (the same filters).")
@click.option("--all", "every", is_flag=True, help="Every page: all the applications the filters keep.")
@click.option("--run", "run_id", default="", metavar="RUN_ID", help="Only the applications of this run.")
@click.option("--cluster", "cluster_id", default="", metavar="CLUSTER_ID",
              help="Only the applications of this Databricks cluster.")
@click.option("--unassigned", is_flag=True, help="Only the applications not tied to a run (yet).")
@click.pass_obj
def list_apps(ctx: CliContext, limit: int, page_token: str, every: bool, run_id: str, cluster_id: str,
              unassigned: bool) -> None:
    """Newest start first, tied to a run or not."""
    from protos.trimtab.v1 import admin_pb2

    if every and page_token:
        raise click.UsageError("--all lists from the first page: give it or --page-token, not both")
    apps: list[Any] = []
    while True:
        reply = admin_call(ctx, "RunServiceStub", "ListApplications", admin_pb2.ListApplicationsRequest(
            limit=limit, page_token=page_token, run_id=run_id, cluster_id=cluster_id, unassigned=unassigned))
        apps.extend(reply.applications)
        page_token = reply.next_page_token
        if not (every and page_token):
            break
    if ctx.as_json:
        # A list, as before paging, for the scripts that read it; the continuation goes to stderr.
        print_json([message_dict(a) for a in apps])
    else:
        print_table([(a.application_id, a.app_name, a.cluster_id or "-", when(a.start_time_ms),
                      "ended" if a.ended else "running", a.stage_count, a.executor_count, a.run_id or "-")
                     for a in apps],
                    ["APPLICATION", "NAME", "CLUSTER", "STARTED (UTC)", "STATE", "STAGES", "EXECUTORS", "RUN"])
    if page_token:
        click.echo(f"more: --page-token {page_token} (or --all)", err=ctx.as_json)


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
