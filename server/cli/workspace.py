"""`trimtab workspace`: connect Databricks workspaces and import their jobs.

    trimtab workspace add NAME --host URL (--token-env VAR | --client-id ID --client-secret-env VAR)
                          --cloud aws|azure [--plan premium] [--region R]
                          [--cloud-credentials-env VAR [--skip-billing-check]] [--replace] [--auto-import]
    trimtab workspace list | show NAME | import NAME [--job ID ...] [--dry-run] [--take-over]
    trimtab workspace set NAME [--auto-import on|off] [--plan P] [--region R]
                          [--cloud-credentials-env VAR [--skip-billing-check]]
    trimtab workspace set NAME --host URL (--token-env VAR | --client-id ID --client-secret-env VAR)
    trimtab workspace remove NAME

A workspace is reached with a personal access token, or as a service principal
with OAuth machine-to-machine (its OAuth client id and secret: the server fetches
short-lived access tokens with them and refreshes them itself). The token or
client secret is read from the named environment variable (never a flag, so it
stays out of shell history and process lists) and sent once to the server,
which checks it against the workspace and stores it encrypted. Cloud billing
credentials are likewise read from a variable and tried with one bill read
before they are stored: refused by the cloud, the command fails (exit 1) and
nothing changes, unless --skip-billing-check; not answered (a timeout, the
network), they are stored and a warning says so.
"""

from __future__ import annotations

from typing import Any

import click

from server.cli.context import (
    CliContext,
    admin_call,
    describe_error,
    message_dict,
    one_line,
    parse_switch,
    print_json,
    print_table,
)
from server.cli.workspace_auth import auth_given, auth_lines, from_env
from server.cli.workspace_auth import hint as workspace_hint
from server.render.workspace_text import UNWATCHED, status_text

# As `server.services.workspaces.PLANS` (not imported: the CLI stays light); the server checks too.
PLANS = ("standard", "premium", "enterprise")

def rpc(ctx: CliContext, stub_name: str, method: str, request: Any) -> Any:
    """A workspace or recommendation call: Databricks' deadline (`context.DATABRICKS_CALL_TIMEOUT_S`)
    for all of them, reads included, as they sit beside calls that reach Databricks."""
    return admin_call(ctx, stub_name, method, request, databricks=True)


@click.group(name="workspace")
def cli() -> None:
    """Connect Databricks workspaces and import their jobs."""


@cli.command()
@click.argument("name")
@click.option("--host", required=True, help="Workspace URL, e.g. https://dbc-123.cloud.databricks.com")
@click.option("--token-env", default=None, metavar="VAR",
              help="Environment variable holding a personal access token (or use --client-id).")
@click.option("--client-id", default=None, metavar="ID",
              help="OAuth machine-to-machine: the service principal's OAuth client id (its application id), with "
                   "--client-secret-env. Trimtab fetches and refreshes access tokens with them.")
@click.option("--client-secret-env", default=None, metavar="VAR",
              help="With --client-id: environment variable holding the service principal's OAuth client secret.")
@click.option("--cloud", required=True, type=click.Choice(["aws", "azure"]))
@click.option("--plan", default=None, type=click.Choice(PLANS),
              help="Plan tier (DBU prices); premium for a new workspace. With --replace: changed only if given.")
@click.option("--region", default=None,
              help="Cloud region (prices); e.g. us-east-1. With --replace: changed only if given.")
@click.option("--cloud-credentials-env", default=None, metavar="VAR",
              help="Environment variable holding cloud billing credentials as JSON (real bills instead of "
                   "catalog estimates).")
@click.option("--skip-billing-check", is_flag=True,
              help="Store the cloud credentials without trying them (by default one bill read tries them, and "
                   "credentials the cloud refuses are not stored).")
@click.option("--replace", is_flag=True,
              help="Rotate the token or client secret (and credentials, if given) of the existing workspace NAME, "
                   "and set the "
                   "--plan/--region given; the host must match, the cloud may change only while the workspace "
                   "has no project.")
@click.option("--auto-import", is_flag=True,
              help="Import new jobs by themselves (it changes them as `workspace import` does); off by default.")
@click.pass_obj
def add(ctx: CliContext, name: str, host: str, token_env: str | None, client_id: str | None,
        client_secret_env: str | None, cloud: str, plan: str | None, region: str | None,
        cloud_credentials_env: str | None, skip_billing_check: bool, replace: bool, auto_import: bool) -> None:
    """Connect a workspace (the token or client secret is checked with a real call first, the cloud
    credentials with a bill read)."""
    from protos.trimtab.v1 import admin_pb2

    if region is not None and not region.strip():
        # An empty --region (an unset shell variable) would mean "unchanged" with --replace: refuse.
        raise click.BadParameter("must not be empty (leave --region out for the cloud's default)",
                                 param_hint="'--region'")
    if skip_billing_check and cloud_credentials_env is None:
        raise click.UsageError("--skip-billing-check goes with --cloud-credentials-env VAR")
    token, client_id, client_secret = auth_given(token_env, client_id, client_secret_env)
    credentials = (from_env(cloud_credentials_env, "the cloud credentials JSON", "--cloud-credentials-env")
                   if cloud_credentials_env is not None else "")
    # "" is "not given": premium and the cloud's default region for a new workspace, unchanged with --replace.
    request = admin_pb2.AddWorkspaceRequest(name=name, host=host, token=token, client_id=client_id,
                                            client_secret=client_secret, cloud=cloud, plan=plan or "",
                                            region=(region or "").strip(), cloud_credentials_json=credentials,
                                            replace=replace, skip_billing_check=skip_billing_check)
    if auto_import:
        # Sent only when given: with --replace, leaving the flag out keeps the workspace's setting.
        request.auto_import = True
    before = (rpc(ctx, "WorkspaceServiceStub", "GetWorkspace", admin_pb2.GetWorkspaceRequest(name=name))
              if replace else None)
    ws = rpc(ctx, "WorkspaceServiceStub", "AddWorkspace", request)
    if before is not None and not ctx.as_json:
        # The server says when the token given is the one it had (the call still re-checked it).
        replaced = "the client secret" if ws.client_id else "the token"
        click.echo(f"workspace {name}: {ws.note}" if ws.note else f"replaced {replaced} of workspace {name}", err=True)
        _pricing_note(before, ws)
    if credentials:
        _billing_check_note(ctx, ws, skipped=skip_billing_check)
    _show(ctx, ws)


def _billing_check_note(ctx: CliContext, ws: Any, *, skipped: bool) -> None:
    """On stderr, what trying the cloud credentials just given found (refused ones failed the call)."""
    if ws.billing_warning:
        # Also with --json: a script storing credentials it could not confirm should see it.
        click.echo(f"warning: workspace {ws.name}: {ws.billing_warning}", err=True)
    elif ctx.as_json:
        return
    elif skipped:
        click.echo(f"workspace {ws.name}: cloud billing credentials stored untried (--skip-billing-check); "
                   "`trimtab workspace show` says when a bill read works", err=True)
    else:
        click.echo(f"workspace {ws.name}: cloud billing credentials tried: the {ws.cloud} billing API answered "
                   "a bill read", err=True)


@cli.command(name="list")
@click.pass_obj
def list_(ctx: CliContext) -> None:
    """Connected workspaces."""
    from protos.trimtab.v1 import admin_pb2

    found = rpc(ctx, "WorkspaceServiceStub", "ListWorkspaces", admin_pb2.ListWorkspacesRequest()).workspaces
    if ctx.as_json:
        print_json([message_dict(w) for w in found])
        return
    # TOKEN: the masked PAT, or the service principal a workspace authenticates as (OAuth M2M).
    print_table([(w.name, w.host, w.cloud, w.plan, w.region, _status(w),
                  f"oauth-m2m {w.client_id}" if w.client_id else w.token_masked, _switch(w.auto_import))
                 for w in found],
                ["NAME", "HOST", "CLOUD", "PLAN", "REGION", "STATUS", "TOKEN", "AUTO-IMPORT"])
    troubled = [w.name for w in found if w.status != "ok"]
    if troubled:
        # On stderr: the table stays the same shape for whoever reads stdout.
        click.echo(f"not collecting from workspace(s) {', '.join(troubled)}: "
                   "`trimtab workspace show <name>` says why", err=True)
    # Status ok with an error: some of its jobs are not collected (failing, or a project locked by another
    # server) or cannot start; the status says the workspace answers, and this that it is not all well.
    partly = [w.name for w in found if w.status == "ok" and w.last_error]
    if partly:
        click.echo(f"workspace(s) {', '.join(partly)}: some jobs are not collected or cannot start: "
                   "`trimtab workspace show <name>` says which and why", err=True)
    unwatched = [w.name for w in found if not w.watched]
    if unwatched:
        click.echo(f"workspace(s) {', '.join(unwatched)}: {UNWATCHED}", err=True)


def _status(ws: Any) -> str:
    """The status, marked when nothing has checked it since the last command (see `UNWATCHED`)."""
    return status_text(ws.status, ws.watched)


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
@click.option("--plan", default=None, type=click.Choice(PLANS),
              help="Plan tier (DBU prices) of the runs priced from now on.")
@click.option("--region", default=None, help="Cloud region (prices) of the runs priced from now on; e.g. us-east-1.")
@click.option("--host", default=None, metavar="URL",
              help="Re-point the workspace at a new URL (it moved; the sandbox emulator's port changed), with "
                   "--token-env: the token must work there and the projects' jobs there must carry their "
                   "Trimtab tags. Alone.")
@click.option("--token-env", default=None, metavar="VAR",
              help="With --host: environment variable holding the workspace's token (required: the stored "
                   "token is never sent to a new host).")
@click.option("--client-id", default=None, metavar="ID",
              help="With --host, instead of --token-env: the service principal's OAuth client id.")
@click.option("--client-secret-env", default=None, metavar="VAR",
              help="With --host and --client-id: environment variable holding its OAuth client secret.")
@click.option("--cloud-credentials-env", default=None, metavar="VAR",
              help="Environment variable holding new cloud billing credentials as JSON; tried with one bill read "
                   "before they replace the stored ones.")
@click.option("--skip-billing-check", is_flag=True,
              help="With --cloud-credentials-env: store them without trying them.")
@click.pass_obj
def set_(ctx: CliContext, name: str, auto_import: str | None, plan: str | None, region: str | None,
         host: str | None, token_env: str | None, client_id: str | None, client_secret_env: str | None,
         cloud_credentials_env: str | None, skip_billing_check: bool) -> None:
    """Change only the workspace settings given."""
    from protos.trimtab.v1 import admin_pb2

    if skip_billing_check and cloud_credentials_env is None:
        raise click.UsageError("--skip-billing-check goes with --cloud-credentials-env VAR")
    if host is not None:
        if any(v is not None for v in (auto_import, plan, region, cloud_credentials_env)):
            raise click.UsageError("--host goes alone (its check may refuse, and must leave every setting as it "
                                   "was): set the others in a second command")
        if token_env is None and client_id is None and client_secret_env is None:
            raise click.UsageError("--host needs --token-env VAR, or --client-id ID --client-secret-env VAR (the "
                                   "workspace's token or client secret, given again: the stored one is never sent "
                                   "to a new host)")
        token, client_id, client_secret = auth_given(token_env, client_id, client_secret_env)
        ws = rpc(ctx, "WorkspaceServiceStub", "UpdateWorkspace",
                 admin_pb2.UpdateWorkspaceRequest(name=name, host=host, token=token, client_id=client_id,
                                                  client_secret=client_secret))
        if not ctx.as_json:
            click.echo(f"workspace {name}: {ws.note}", err=True)
        _show(ctx, ws)
        return
    given = [opt for opt, value in (("--token-env", token_env), ("--client-id", client_id),
                                    ("--client-secret-env", client_secret_env)) if value is not None]
    if given:
        raise click.UsageError(f"{' and '.join(given)} {'goes' if len(given) == 1 else 'go'} with --host (to rotate "
                               "the token or client secret: `workspace add NAME ... --replace`)")
    request = admin_pb2.UpdateWorkspaceRequest(name=name)
    if auto_import is not None:
        request.auto_import = parse_switch(auto_import)
    if plan is not None:
        request.plan = plan
    if region is not None:
        if not region.strip():
            # An unset shell variable must not reset the region; the server refuses it too.
            raise click.BadParameter("must not be empty", param_hint="'--region'")
        request.region = region.strip()
    if cloud_credentials_env is not None:
        request.cloud_credentials_json = from_env(cloud_credentials_env, "the cloud credentials JSON",
                                                   "--cloud-credentials-env")
        request.skip_billing_check = skip_billing_check
    if not any(request.HasField(f) for f in ("auto_import", "plan", "region", "cloud_credentials_json")):
        raise click.UsageError("nothing to change: give --auto-import on|off, --plan, --region, "
                               "--cloud-credentials-env or --host")
    before = (rpc(ctx, "WorkspaceServiceStub", "GetWorkspace", admin_pb2.GetWorkspaceRequest(name=name))
              if plan is not None or region is not None else None)
    ws = rpc(ctx, "WorkspaceServiceStub", "UpdateWorkspace", request)
    if before is not None and not ctx.as_json:
        _pricing_note(before, ws)
    if cloud_credentials_env is not None:
        _billing_check_note(ctx, ws, skipped=skip_billing_check)
    _show(ctx, ws)


def _pricing_note(before: Any, after: Any) -> None:
    """On stderr, what changed in how runs are priced, and that it holds for future runs only."""
    changes = [f"{label} {old or '-'} -> {new or '-'}"
               for label, old, new in (("cloud", before.cloud, after.cloud), ("plan", before.plan, after.plan),
                                       ("region", before.region, after.region)) if old != new]
    if changes:
        # Stored costs are not rewritten (server.services.workspaces.update_workspace says why), but
        # savings compare every run's DBUs at the plan now (docs/savings.md): said, or `trimtab
        # savings` disagrees with `run list` without a word.
        savings = ("; `trimtab savings` compares every run's DBUs at the new plan, so both sides use one "
                   "price list" if before.plan != after.plan else "")
        click.echo(f"{', '.join(changes)}: runs collected from now on are priced with this; the stored costs of "
                   f"runs already collected (`run list`, the timeline) stay as they are{savings}", err=True)


def _switch(value: bool) -> str:
    return "on" if value else "off"


def _show(ctx: CliContext, ws: Any) -> None:
    if ctx.as_json:
        print_json(message_dict(ws))
        return
    for label, value in (("name", ws.name), ("host", ws.host), ("cloud", ws.cloud), ("plan", ws.plan),
                         ("region", ws.region or "-"), *auth_lines(ws), ("status", _status(ws)),
                         ("auto-import", _switch(ws.auto_import)),
                         # Whether runs can be reconciled with the cloud bill, or stay catalog estimates.
                         ("billing", "cloud billing credentials set" if ws.has_cloud_credentials
                          else "no cloud billing credentials (costs are catalog estimates)")):
        click.echo(f"{label + ':':<{_LABEL}} {one_line(value)}")
    if ws.has_cloud_credentials:
        for n, line in enumerate(bill_reads_lines(ws)):
            click.echo(f"{'bill reads:' if n == 0 else '':<{_LABEL}} {one_line(line)}")
    if ws.last_error:
        # Holds job names and Databricks' messages: one line, whatever they hold.
        click.echo(f"{'error:':<{_LABEL}} {one_line(ws.last_error)}")
    if hint := workspace_hint(ws):
        click.echo(f"{'':<{_LABEL}} {hint}")
    if not ws.watched:
        click.echo(f"{'':<{_LABEL}} {UNWATCHED}")


_LABEL = len("auto-import:")  # the longest label: values line up


def bill_reads_lines(ws: Any) -> list[str]:
    """What the cloud credentials' bill reads came to: when one was last answered, and the last
    failure since (a wrong key, a permission taken away) with why; before any, that none was made."""
    from server.render.fmt import utc_minute

    lines = []
    if ws.HasField("bills_read_at_ms"):
        lines.append(f"last answered {utc_minute(ws.bills_read_at_ms)} UTC")
    if ws.HasField("bill_read_failed_at_ms"):
        lines.append(f"FAILED {utc_minute(ws.bill_read_failed_at_ms)} UTC: {ws.bill_read_error} (runs keep the catalog "
                     f"estimate; new credentials: `trimtab workspace set {ws.name} --cloud-credentials-env VAR`)")
    return lines or ["none yet (re-costing reads the bills of runs that ended a few hours ago)"]




@cli.command()
@click.argument("name")
@click.pass_obj
def remove(ctx: CliContext, name: str) -> None:
    """Forget a workspace and its token, and revoke the agent tokens bound to it (refused while it has
    attached projects: `project detach` them)."""
    from protos.trimtab.v1 import admin_pb2

    answer = rpc(ctx, "WorkspaceServiceStub", "RemoveWorkspace", admin_pb2.RemoveWorkspaceRequest(name=name))
    if ctx.as_json:
        print_json(message_dict(answer))
        return
    revoked = (f"; revoked {answer.revoked_agent_tokens} agent token(s) bound to it"
               if answer.revoked_agent_tokens else "")
    click.echo(f"removed workspace {name}{revoked}")
    if answer.kept_projects:
        click.echo(f"kept with their history: {len(answer.kept_projects)} detached or orphaned project(s) "
                   f"({', '.join(answer.kept_projects)}); a workspace added again as {name} has them again",
                   err=True)


@cli.command(name="import")
@click.argument("name")
# A Databricks job id is positive and travels as int64: past it the request could not even be built
# (the protobuf encoder's "Value out of range", exit 1, naming no option).
@click.option("--job", "jobs", multiple=True, type=click.IntRange(1, 2**63 - 1), metavar="ID",
              help="Import only this job (repeatable); it re-attaches the job's detached projects, and a job "
                   "not in the workspace fails the command (exit 1).")
@click.option("--dry-run", is_flag=True, help="Show what onboarding would change; change nothing.")
@click.option("--take-over", is_flag=True,
              help="Also import jobs wired to another Trimtab server, and write this server's agent token over "
                   "a secret this database never wrote (without it both are refused, naming the other server).")
@click.pass_obj
def import_(ctx: CliContext, name: str, jobs: tuple[int, ...], dry_run: bool, take_over: bool) -> None:
    """One project per qualified job cluster (every qualified job, or the named ones).

    Without --job, detached projects are left as they are (listed as skipped).
    """
    from protos.trimtab.v1 import admin_pb2

    if not ctx.as_json:
        click.echo(f"{'Checking' if dry_run else 'Importing'} jobs of {name}...", err=True)
    # Paged: each call imports for about a minute and answers with a token for the rest, so a workspace
    # with thousands of jobs never passes the call's deadline (an older server ignores it: all in one call).
    request = admin_pb2.ImportJobsRequest(workspace=name, job_ids=list(jobs), dry_run=dry_run, take_over=take_over,
                                          paged=True)
    result = admin_pb2.ImportJobsResponse()
    pages = 0
    try:
        while True:
            page = rpc(ctx, "WorkspaceServiceStub", "ImportJobs", request)
            pages += 1
            _merge_import(result, page)
            if not ctx.as_json and (page.next_page_token or pages > 1):
                click.echo(_import_progress(result, dry_run), err=True)
            if not page.next_page_token:
                break
            request = admin_pb2.ImportJobsRequest(workspace=name, dry_run=dry_run, take_over=take_over, paged=True,
                                                  page_token=page.next_page_token)
    except (KeyboardInterrupt, Exception) as exc:
        if not pages and not isinstance(exc, KeyboardInterrupt):
            raise  # the first call failed: its error says it all, as before paging
        stopped = _import_stopped(ctx, exc, result, pages, name, jobs, dry_run, take_over)
        if isinstance(exc, KeyboardInterrupt) or ctx.debug:
            click.echo(stopped, err=True)
            raise
        # Why it stopped, then what was done and how to finish (exit 1: a failure part way, never a usage one).
        reason = exc.format_message() if isinstance(exc, click.ClickException) else describe_error(exc)
        raise click.ClickException(f"{reason}\n{stopped}") from exc
    if ctx.as_json:
        print_json(message_dict(result))
    else:
        _print_import(result, dry_run)
    missing = [str(s.job_id) for s in result.skipped if s.not_found]
    failed = [str(s.job_id) for s in result.skipped if s.failed]
    if missing or failed:
        # A job named with --job that does not exist is the caller's typo, and a job whose import failed
        # is not imported: scripts must see both (exit 1). A job skipped for what it is (single node,
        # ...) is an answer, not a failure.
        said = ([f"job {', '.join(missing)} not found in workspace {name}"] if missing else []) + (
            [f"the import of job {', '.join(failed)} failed (the reason is listed above)"] if failed else [])
        raise click.ClickException("; ".join(said))


def _merge_import(result: Any, page: Any) -> None:
    """``page`` (one call's part of a paged import) added to ``result``, the import so far; its warnings
    (the same each call: about the wiring, not a job) once."""
    result.projects.extend(page.projects)
    result.skipped.extend(page.skipped)
    result.left_out.extend(page.left_out)
    result.warnings.extend(w for w in page.warnings if w not in result.warnings)
    result.jobs_total = page.jobs_total
    result.jobs_remaining = page.jobs_remaining


def _import_progress(result: Any, dry_run: bool) -> str:
    done = result.jobs_total - result.jobs_remaining
    return (f"{'checked' if dry_run else 'imported'} {done:,} of {result.jobs_total:,} jobs "
            f"({len(result.projects):,} project(s), {len(result.skipped):,} skipped so far)")


def _import_stopped(ctx: CliContext, exc: BaseException, result: Any, pages: int, name: str, jobs: tuple[int, ...],
                    dry_run: bool, take_over: bool) -> str:
    """When a paged import stops part way (a call failed, Ctrl-C): what the calls answered had done (listed
    on stdout as a finished import is), and the command that finishes it. Running the import again is that
    command: it finds what is imported already and leaves it as it is (no jobs/update, no row written)."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    import shlex

    command = " ".join(["trimtab workspace import", shlex.quote(name), *(f"--job {j}" for j in jobs),
                        *(["--dry-run"] if dry_run else []), *(["--take-over"] if take_over else [])])
    # Cancelled or past its deadline, a call's server side still finishes the jobs it started.
    under_way = "the call under way may have imported more" if not dry_run else "a dry run changes nothing"
    if pages:
        done = result.jobs_total - result.jobs_remaining
        what = (f"{'checked' if dry_run else 'imported'} {done:,} of {result.jobs_total:,} jobs before that "
                f"({len(result.projects):,} project(s), {len(result.skipped):,} skipped; {under_way})")
    else:
        what = ("a dry run changes nothing" if dry_run
                else "the server finishes the call under way, which may import some jobs")
    if not ctx.as_json and pages:
        _print_import(result, dry_run)  # what was done, as the finished import lists it
    return (f"import of {name} {'interrupted' if interrupted else 'stopped'}: {what}; run `{command}` again to "
            "finish it: jobs imported already are left as they are")


def _print_import(result: Any, dry_run: bool) -> None:
    # To stderr, as the progress line: what scripts parse is stdout; said before the jobs, once.
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    left_out: dict[int, list[str]] = {}
    for item in result.left_out:
        left_out.setdefault(item.job_id, []).append(item.reason)
    for n, item in enumerate(result.projects):
        p = item.project
        if item.created:
            verb = "would create" if dry_run else "created"
        elif item.reattached:
            verb = "would re-attach" if dry_run else "re-attached"
        else:
            verb = "exists"
        ident = p.id if p.id not in ("", "None") else "-"
        click.echo(f"{verb:<15} project {ident:<4} {p.name}  ({p.job_name})")
        # Whatever the import wrote into the job is shown (an existing, attached project's diff is
        # empty unless someone took the onboarding out of the job since).
        if item.diff:
            click.echo(item.diff.rstrip("\n"))
        # After the job's last project: what of the job stays as it is (its projects come together).
        following = result.projects[n + 1].project.job_id if n + 1 < len(result.projects) else None
        if following != p.job_id:
            for reason in left_out.pop(p.job_id, []):
                click.echo(f"{'left out':<15} job {p.job_id} ({p.job_name}): {reason}")
    for skipped in result.skipped:
        job = f"job {skipped.job_id}" + (f" ({skipped.job_name})" if skipped.job_name else "")
        click.echo(f"{'skipped':<15} {job}: {skipped.reason}")
    if not result.projects and not result.skipped:
        click.echo("no jobs found")
