"""`trimtab workspace`: connect Databricks workspaces and import their jobs.

    trimtab workspace add NAME --host URL --token-env VAR --cloud aws|azure [--plan premium] [--region R]
                          [--cloud-credentials-env VAR] [--replace] [--auto-import]
    trimtab workspace list | show NAME | import NAME [--job ID ...] [--dry-run]
    trimtab workspace set NAME --auto-import on|off

The token is read from the named environment variable (never a flag, so it
stays out of shell history and process lists) and sent once to the server,
which checks it against the workspace and stores it encrypted.
"""

from __future__ import annotations

import os
from typing import Any

import click

from server.cli.context import CliContext, admin_call, message_dict, parse_switch, print_json, print_table

# Import and apply talk to Databricks, which may throttle: allow minutes, not the default minute.
DATABRICKS_CALL_TIMEOUT_S = 600.0


def rpc(ctx: CliContext, stub_name: str, method: str, request: Any) -> Any:
    return admin_call(ctx, stub_name, method, request, timeout=DATABRICKS_CALL_TIMEOUT_S)


@click.group(name="workspace")
def cli() -> None:
    """Connect Databricks workspaces and import their jobs."""


@cli.command()
@click.argument("name")
@click.option("--host", required=True, help="Workspace URL, e.g. https://dbc-123.cloud.databricks.com")
@click.option("--token-env", required=True, metavar="VAR", help="Environment variable holding the token.")
@click.option("--cloud", required=True, type=click.Choice(["aws", "azure"]))
@click.option("--plan", default="premium", show_default=True,
              type=click.Choice(["standard", "premium", "enterprise"]), help="Plan tier (DBU prices).")
@click.option("--region", default="", help="Cloud region (prices); e.g. us-east-1.")
@click.option("--cloud-credentials-env", default=None, metavar="VAR",
              help="Environment variable holding cloud billing credentials as JSON (real bills instead of "
                   "catalog estimates).")
@click.option("--replace", is_flag=True,
              help="Rotate the token (and credentials, if given) of the existing workspace NAME; host and "
                   "cloud must match.")
@click.option("--auto-import", is_flag=True,
              help="Import new jobs by themselves (it changes them as `workspace import` does); off by default.")
@click.pass_obj
def add(ctx: CliContext, name: str, host: str, token_env: str, cloud: str, plan: str, region: str,
        cloud_credentials_env: str | None, replace: bool, auto_import: bool) -> None:
    """Connect a workspace (the token is checked with a real call first)."""
    from protos.trimtab.v1 import admin_pb2

    token = _from_env(token_env, "the token")
    credentials = _from_env(cloud_credentials_env, "the cloud credentials JSON") if cloud_credentials_env else ""
    request = admin_pb2.AddWorkspaceRequest(name=name, host=host, token=token, cloud=cloud, plan=plan,
                                            region=region, cloud_credentials_json=credentials, replace=replace)
    if auto_import:
        # Sent only when given: with --replace, leaving the flag out keeps the workspace's setting.
        request.auto_import = True
    ws = rpc(ctx, "WorkspaceServiceStub", "AddWorkspace", request)
    if replace and not ctx.as_json:
        click.echo(f"replaced the token of workspace {name}", err=True)
    _show(ctx, ws)


def _from_env(var: str, what: str) -> str:
    # Secrets come from the environment, never flags: flags end up in shell history and `ps`.
    value = os.environ.get(var, "")
    if not value:
        raise click.UsageError(f"environment variable {var} is not set (it must hold {what})")
    return value


@cli.command(name="list")
@click.pass_obj
def list_(ctx: CliContext) -> None:
    """Connected workspaces."""
    from protos.trimtab.v1 import admin_pb2

    found = rpc(ctx, "WorkspaceServiceStub", "ListWorkspaces", admin_pb2.ListWorkspacesRequest()).workspaces
    if ctx.as_json:
        print_json([message_dict(w) for w in found])
        return
    print_table([(w.name, w.host, w.cloud, w.plan, w.region, w.status, w.token_masked, _switch(w.auto_import))
                 for w in found],
                ["NAME", "HOST", "CLOUD", "PLAN", "REGION", "STATUS", "TOKEN", "AUTO-IMPORT"])
    troubled = [w.name for w in found if w.status != "ok"]
    if troubled:
        # On stderr: the table stays the same shape for whoever reads stdout.
        click.echo(f"not collecting from workspace(s) {', '.join(troubled)}: "
                   "`trimtab workspace show <name>` says why", err=True)


@cli.command()
@click.argument("name")
@click.pass_obj
def show(ctx: CliContext, name: str) -> None:
    """One workspace, its token masked and the last error if any."""
    from protos.trimtab.v1 import admin_pb2

    _show(ctx, rpc(ctx, "WorkspaceServiceStub", "GetWorkspace", admin_pb2.GetWorkspaceRequest(name=name)))


@cli.command(name="set")
@click.argument("name")
@click.option("--auto-import", default=None, metavar="on|off",
              help="on: new jobs become projects by themselves (each is changed as `workspace import` "
                   "changes it); off: only `workspace import` imports.")
@click.pass_obj
def set_(ctx: CliContext, name: str, auto_import: str | None) -> None:
    """Change only the workspace settings given."""
    from protos.trimtab.v1 import admin_pb2

    request = admin_pb2.UpdateWorkspaceRequest(name=name)
    if auto_import is not None:
        request.auto_import = parse_switch(auto_import)
    if not request.HasField("auto_import"):
        raise click.UsageError("nothing to change: give --auto-import on|off")
    _show(ctx, rpc(ctx, "WorkspaceServiceStub", "UpdateWorkspace", request))


def _switch(value: bool) -> str:
    return "on" if value else "off"


def _show(ctx: CliContext, ws: Any) -> None:
    if ctx.as_json:
        print_json(message_dict(ws))
        return
    for label, value in (("name", ws.name), ("host", ws.host), ("cloud", ws.cloud), ("plan", ws.plan),
                         ("region", ws.region or "-"), ("token", ws.token_masked), ("status", ws.status),
                         ("auto-import", _switch(ws.auto_import))):
        click.echo(f"{label + ':':<{_LABEL}} {value}")
    if ws.last_error:
        click.echo(f"{'error:':<{_LABEL}} {ws.last_error}")
    hint = _STATUS_HINTS.get(ws.status)
    if hint:
        click.echo(f"{'':<{_LABEL}} {hint.format(name=ws.name)}")


_LABEL = len("auto-import:")  # the longest label: values line up


# What the collector does about a workspace in each status other than ok, and what a person can do
# (30 min: server.collect.collector.BACKOFF_CAP_S; not imported, the CLI stays light).
_STATUS_HINTS = {
    "unreachable": ("the collector cannot reach this host (down, network, wrong host); it tries again "
                    "less and less often, up to every 30 min, and collects by itself once it answers. "
                    "`trimtab workspace add {name} ... --replace` tries at once."),
    "error": "collection is stopped until the token is replaced: `trimtab workspace add {name} ... --replace`",
}


@cli.command(name="import")
@click.argument("name")
@click.option("--job", "jobs", multiple=True, type=int, metavar="ID", help="Import only this job (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what onboarding would change; change nothing.")
@click.pass_obj
def import_(ctx: CliContext, name: str, jobs: tuple[int, ...], dry_run: bool) -> None:
    """One project per qualified job cluster (every qualified job, or the named ones)."""
    from protos.trimtab.v1 import admin_pb2

    if not ctx.as_json:
        click.echo(f"{'Checking' if dry_run else 'Importing'} jobs of {name}...", err=True)
    result = rpc(ctx, "WorkspaceServiceStub", "ImportJobs", admin_pb2.ImportJobsRequest(
        workspace=name, job_ids=list(jobs), dry_run=dry_run))
    if ctx.as_json:
        print_json(message_dict(result))
        return
    for item in result.projects:
        p = item.project
        verb = ("would create" if dry_run else "created") if item.created else "exists"
        ident = p.id if p.id not in ("", "None") else "-"
        click.echo(f"{verb:<13} project {ident:<4} {p.name}  ({p.job_name})")
        if item.diff and (dry_run or item.created):
            click.echo(item.diff.rstrip("\n"))
    for skipped in result.skipped:
        click.echo(f"{'skipped':<13} job {skipped.job_id} {skipped.job_name}: {skipped.reason}")
    if not result.projects and not result.skipped:
        click.echo("no jobs found")
