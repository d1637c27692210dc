"""`trimtab recommendation`: list, review, apply, reject and revert a project's recommendations.

    trimtab recommendation list P [--state S] [--limit N] | show P | apply P [--dry-run] | reject P
    trimtab recommendation revert P [--dry-run]

``P`` is a project id or ``<workspace>/<job_id>/<cluster_key>``. Apply and
revert change the job through the Jobs API and print the unified diff of the
cluster entry; ``--dry-run`` prints the diff and changes nothing.
"""

from __future__ import annotations

from typing import Any

import click

from server.cli.context import CliContext, message_dict, print_json
from server.cli.given import Given
from server.cli.workspace import rpc

# The dashboard shows reasons too: one wording for both (MONITORING_PREFIX re-exported for callers here).
from server.render.fmt import (
    INTERVAL_WORDS,
    availability_name,
    availability_text,
    counted,
    duration,
    money,
    p_meet_text,
)
from server.render.reason import MONITORING_PREFIX as MONITORING_PREFIX
from server.render.reason import reason_as_of


@click.group(name="recommendation")
def cli() -> None:
    """List, review, apply, reject and revert recommendations."""


# `server.already_runs.ALREADY_RUNS` (not imported: the CLI stays light; a test keeps them equal).
ALREADY_RUNS = "the job already runs this configuration"
ON_JOB_NOTE = f"{ALREADY_RUNS}: applying it changes nothing (it stays pending until the next run plans again)"

# What runtime and cost say for a recommendation made before any usable run (`models.decide`'s first
# decision: "no usable run yet: measuring X first"), whose prediction is stored as 0.
NOT_PREDICTED = "not predicted yet (no usable run to predict from)"


def predicted(rec: Any) -> bool:
    """Whether ``rec`` carries a prediction: the planner stores none (zeros) before a usable run,
    and no cluster runs a job in 0 s or for nothing."""
    return rec.predicted_runtime_s > 0 or rec.predicted_cost > 0


def currency_of(rec: Any) -> str:
    """The currency of ``rec``'s costs: a server older than `Recommendation.currency` leaves it empty,
    and its catalog prices were USD, the one currency a catalog is in."""
    return rec.currency or "USD"


def as_json(rec: Any) -> dict[str, Any]:
    """``rec`` as `--json` prints it: without a prediction, ``predicted`` false and no empty intervals
    (a reader would take a missing predicted_cost for 0). The reason stays as stored: ``state`` says
    whether it was applied."""
    out = message_dict(rec)
    if "config" in out:  # the cloud's name beside the stored one (AWS's), as `run show --json` has it
        out["config"]["availability_name"] = availability_name(rec.config)
    out["predicted"] = predicted(rec)
    if not out["predicted"]:
        for key in ("predicted_runtime_s", "runtime_interval_s", "predicted_cost", "cost_interval"):
            out.pop(key, None)
    return out


def short_config(c: Any) -> str:
    """A configuration in a table cell or a one-line summary: ``m5.xlarge x4``, ``r5.2xlarge x2-8``
    (autoscale), with `` spot`` on spot and the driver when it is another type; "-" for none."""
    if not (c.node_type_id or c.num_workers or c.autoscale_max):
        return "-"
    size = f"{c.autoscale_min}-{c.autoscale_max}" if c.autoscale_max else str(c.num_workers)
    spot = " spot" if c.availability.upper().startswith("SPOT") else ""
    driver = f" driver {c.driver_node_type_id}" if c.driver_node_type_id and c.driver_node_type_id != c.node_type_id \
        else ""
    return f"{c.node_type_id or 'pool nodes'} x{size}{spot}{driver}"


def _when_who(at_ms: int, by: str) -> str:
    """When a change was made, and by whom ("auto", an admin token), as `recommendation show` says it."""
    from server.cli.context import one_line
    from server.cli.run import utc

    return f"{utc(at_ms)} by {one_line(by) if by else 'an unknown caller'}"


def _describe(rec: Any) -> None:
    c = rec.config
    size = (f"autoscale {c.autoscale_min}-{c.autoscale_max}" if c.autoscale_max
            else counted(c.num_workers, "worker"))
    driver = f", driver {c.driver_node_type_id}" if c.driver_node_type_id else ""
    spot = f", {availability_text(c)}" if c.availability else ""
    click.echo(f"recommendation {rec.id} for project {rec.project_id}: {rec.state} ({rec.phase})")
    if rec.already_on_job:
        # Shown as a change it read as one to apply; applying it writes nothing (`apply` says so).
        click.echo(f"  note:     {ON_JOB_NOTE}")
    click.echo(f"  cluster:  {c.node_type_id} x {size}{driver}{spot}")
    if c.ebs_volume_count:
        click.echo(f"  disks:    {c.ebs_volume_count} x {c.ebs_volume_size_gb} GB {c.ebs_volume_type}")
    rt, cost, currency = rec.runtime_interval_s, rec.cost_interval, currency_of(rec)
    if predicted(rec):
        # In the words and units of `recommendation list`, `project show` and the timeline (5m38s, $0.18).
        click.echo(f"  runtime:  {duration(rec.predicted_runtime_s)}, {INTERVAL_WORDS} "
                   f"[{duration(rt.low)}, {duration(rt.high)}]")
        click.echo(f"  cost:     {money(rec.predicted_cost, currency)}/run, {INTERVAL_WORDS} "
                   f"[{money(cost.low, currency)}, {money(cost.high, currency)}]")
    else:
        # "0 s [0, 0]" would read as a prediction of a free, instant run.
        click.echo(f"  runtime:  {NOT_PREDICTED}")
        click.echo(f"  cost:     {NOT_PREDICTED}")
    if rec.HasField("working_sla_seconds"):
        # What the cluster was chosen to meet; P(SLA) below stays the owner's SLA's.
        click.echo(f"  aimed at: {duration(rec.working_sla_seconds)}, the working SLA (the SLA was out of reach)")
    if rec.HasField("p_meet_sla"):
        click.echo(f"  P(SLA):   {p_meet_text(rec.p_meet_sla)}")
    if rec.reason:
        click.echo(f"  why:      {reason_as_of(rec.reason, rec.state)}")
    # Who put it on the job and took it off again: the record of what changed on a job, and who did it.
    if rec.HasField("applied_at_ms"):
        click.echo(f"  applied:  {_when_who(rec.applied_at_ms, rec.applied_by)}")
    if rec.HasField("reverted_at_ms"):
        click.echo(f"  reverted: {_when_who(rec.reverted_at_ms, rec.reverted_by)}")
    if rec.storage_advice:
        click.echo(f"  storage:  {rec.storage_advice}")
    if rec.HasField("projected_monthly_saving"):
        # The storage advice's own saving (the planner sets it from `storage_advice` alone), not the
        # recommendation's: a review read "saving: 6.85 USD per month" beside a cluster that cost 4x
        # more a run. Negative: the advised disks cost more.
        click.echo(f"  storage saving: {money(rec.projected_monthly_saving, currency)} per month (projected, disks only)")


# The most rows a list call returns (`server.services.runs.MAX_PAGE`, as `run list` has it).
MAX_PAGE = 500
STATES = ("pending", "applied", "superseded", "rejected", "reverted")
# `recommendation list` keeps who applied or reverted to this many characters (`show` has it whole).
WHO_WIDTH = 24


def _done_cell(at_ms: int, by: str) -> str:
    """When and by whom a recommendation was applied or reverted, in a table cell."""
    from server.cli.context import one_line
    from server.cli.run import when
    from server.render.fmt import cut

    return f"{when(at_ms)} {cut(one_line(by), WHO_WIDTH) if by else '?'}"


def _state_cell(rec: Any) -> str:
    return f"{rec.state} (already on the job)" if rec.already_on_job else rec.state


@cli.command(name="list")
@click.argument("project")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only recommendations in this state.")
@click.option("--limit", type=click.IntRange(min=1, max=MAX_PAGE), default=50, show_default=True,
              help=f"Recommendations per page, 1 to {MAX_PAGE}.")
@click.option("--page-token", default="", help="Continue after a previous page.")
@click.pass_obj
def list_recommendations(ctx: CliContext, project: str, state: str | None, limit: int, page_token: str) -> None:
    """A project's recommendations, newest first, and what became of each."""
    from protos.trimtab.v1 import admin_pb2
    from server.cli.context import admin_call, print_table
    from server.cli.run import when

    reply = admin_call(ctx, "RecommendationServiceStub", "ListRecommendations",
                       admin_pb2.ListRecommendationsRequest(project=project, state=state or "", page_size=limit,
                                                            page_token=page_token))
    if ctx.as_json:
        print_json({"recommendations": [as_json(r) for r in reply.recommendations],
                    "next_page_token": reply.next_page_token})
        return
    rows = []
    for r in reply.recommendations:
        # From: the cluster of the job's last run when it was made ("-": no run yet).
        change = f"{short_config(r.planned_from) if r.HasField('planned_from') else '-'} -> {short_config(r.config)}"
        rows.append((r.id, when(r.created_at_ms), _state_cell(r), change,
                     money(r.predicted_cost, currency_of(r)) if predicted(r) else "-",
                     duration(r.predicted_runtime_s) if predicted(r) else "-",
                     _done_cell(r.applied_at_ms, r.applied_by) if r.HasField("applied_at_ms") else "-",
                     _done_cell(r.reverted_at_ms, r.reverted_by) if r.HasField("reverted_at_ms") else "-"))
    print_table(rows, ["ID", "CREATED (UTC)", "STATE", "FROM -> TO", "PREDICTED COST", "PREDICTED RUNTIME",
                       "APPLIED (UTC, BY)", "REVERTED (UTC, BY)"])
    if reply.next_page_token:
        click.echo(f"more: --page-token {reply.next_page_token}")


@cli.command()
@click.argument("project")
@click.pass_obj
def show(ctx: CliContext, project: str) -> None:
    """The pending recommendation (else the newest one)."""
    from protos.trimtab.v1 import admin_pb2

    rec = rpc(ctx, "RecommendationServiceStub", "GetRecommendation",
              admin_pb2.GetRecommendationRequest(project=project))
    if ctx.as_json:
        print_json(as_json(rec))
    else:
        _describe(rec)


def _print_result(ctx: CliContext, result: Any, done: str, dry_run: bool) -> None:
    if ctx.as_json:
        print_json(message_dict(result))
        return
    if result.HasField("recommendation") and result.recommendation.already_on_job:
        # The server wrote nothing (not even its tag): said as such, not as an empty diff.
        click.echo(f"nothing to apply: recommendation {result.recommendation.id}: {ALREADY_RUNS}; "
                   "nothing was written")
        return
    if result.diff:
        click.echo(result.diff.rstrip("\n"))
    if dry_run:
        click.echo("dry run: nothing changed")
    elif result.applied:
        click.echo(done)
    else:
        click.echo("nothing to change")


# `--id`: None when left out; given empty (an unset variable), refused rather than read as left out.
PIN = Given("the recommendation id a dry run or `recommendation list` showed",
            "to act on whichever recommendation is pending")


def _pin(rec_id: str | None) -> str:
    """``--id`` as the server compares it ("" when not given); refused here when it is no id, so a
    server too old to know the pin never sees a value it would ignore."""
    if rec_id is None:
        return ""
    wanted = rec_id.strip()
    if not wanted.isascii() or not wanted.isdigit():
        raise click.BadParameter(f"{rec_id!r} is not a recommendation id", param_hint="--id")
    return wanted.lstrip("0") or "0"


def _check_pending(ctx: CliContext, project: str, pin: str) -> None:
    """The pinned recommendation is the pending one, asked before the change. The server checks the
    pin again under the project's lock; this check is for a server older than the pin, which drops
    the field it does not know and acts on whatever is pending (review revU 1)."""
    from protos.trimtab.v1 import admin_pb2

    rec = rpc(ctx, "RecommendationServiceStub", "GetRecommendation",
              admin_pb2.GetRecommendationRequest(project=project))
    if rec.state != "pending" or rec.id != pin:
        # Asked of the server first, which tells a recommendation replaced since from an id that is
        # none of the project's (NOT_FOUND); one older than the pin ignores it and answers the dry run.
        rpc(ctx, "RecommendationServiceStub", "ApplyRecommendation",
            admin_pb2.ApplyRecommendationRequest(project=project, dry_run=True, recommendation_id=pin))
        now = f"recommendation {rec.id} is" if rec.state == "pending" else "none is"
        raise click.ClickException(f"recommendation {pin} is no longer pending ({now}; review it, e.g. with a "
                                   "dry run) (FAILED_PRECONDITION)")


def _check_acted_on(pin: str, acted: str, what: str) -> None:
    """After the change: a server that ignored the pin (older than this CLI) acted on another one
    between the check and the call; said, and the exit status is 1."""
    if pin and acted != pin:
        raise click.ClickException(f"the server {what} recommendation {acted}, not {pin}: it is older than this CLI "
                                   "and does not know --id; review the job, and upgrade the server")


@cli.command()
@click.argument("project")
@click.option("--dry-run", is_flag=True, help="Show the diff of the job's cluster entry; change nothing.")
@click.option("--id", "rec_id", type=PIN, default=None, metavar="REC_ID",
              help="Only if recommendation REC_ID (what a dry run showed) is still the pending one.")
@click.option("--replace-unconfirmed", is_flag=True,
              help="Write over the last apply even though no run has used it yet (without: only when the "
                   "project's settings changed since it; otherwise the apply waits for that run).")
@click.pass_obj
def apply(ctx: CliContext, project: str, dry_run: bool, rec_id: str | None, replace_unconfirmed: bool) -> None:
    """Apply the pending recommendation to the job (jobs/update)."""
    from protos.trimtab.v1 import admin_pb2

    pin = _pin(rec_id)
    if pin:
        _check_pending(ctx, project, pin)
    result = rpc(ctx, "RecommendationServiceStub", "ApplyRecommendation",
                 admin_pb2.ApplyRecommendationRequest(project=project, dry_run=dry_run, recommendation_id=pin,
                                                      replace_unconfirmed=replace_unconfirmed))
    rec_id = result.recommendation.id if result.HasField("recommendation") else "?"
    _print_result(ctx, result, f"applied recommendation {rec_id}: the next run uses it", dry_run)
    if result.note and not ctx.as_json:
        click.echo(f"note: the apply {result.note}")
    _check_acted_on(pin, rec_id, "showed" if dry_run else "applied")


@cli.command()
@click.argument("project")
@click.option("--id", "rec_id", type=PIN, default=None, metavar="REC_ID",
              help="Only if recommendation REC_ID is still the pending one.")
@click.pass_obj
def reject(ctx: CliContext, project: str, rec_id: str | None) -> None:
    """Reject the pending recommendation (the job is not changed)."""
    from protos.trimtab.v1 import admin_pb2

    pin = _pin(rec_id)
    if pin:
        _check_pending(ctx, project, pin)
    rec = rpc(ctx, "RecommendationServiceStub", "RejectRecommendation",
              admin_pb2.RejectRecommendationRequest(project=project, recommendation_id=pin))
    if ctx.as_json:
        print_json(message_dict(rec))
    else:
        click.echo(f"rejected recommendation {rec.id}")
    _check_acted_on(pin, rec.id, "rejected")


@cli.command()
@click.argument("project")
@click.option("--dry-run", is_flag=True, help="Show the diff; change nothing.")
@click.option("--id", "rec_id", type=PIN, default=None, metavar="REC_ID",
              help="Only if recommendation REC_ID (what a dry run showed) is still the last applied.")
@click.pass_obj
def revert(ctx: CliContext, project: str, dry_run: bool, rec_id: str | None) -> None:
    """Go back to the configuration before the last apply."""
    from protos.trimtab.v1 import admin_pb2

    pin = _pin(rec_id)
    if pin and not dry_run:
        # What a revert would undo now, as its dry run says (any server version has the dry run).
        shown = rpc(ctx, "RecommendationServiceStub", "RevertRecommendation",
                    admin_pb2.RevertRecommendationRequest(project=project, dry_run=True, recommendation_id=pin))
        last = shown.recommendation.id if shown.HasField("recommendation") else "none"
        if last != pin:
            raise click.ClickException(f"recommendation {pin} is not the last applied (recommendation {last} is; "
                                       "review it, e.g. with a dry run of the revert) (FAILED_PRECONDITION)")
    result = rpc(ctx, "RecommendationServiceStub", "RevertRecommendation",
                 admin_pb2.RevertRecommendationRequest(project=project, dry_run=dry_run, recommendation_id=pin))
    _print_result(ctx, result, "reverted: the next run uses the previous configuration", dry_run)
    if result.HasField("recommendation"):
        _check_acted_on(pin, result.recommendation.id, "showed the revert of" if dry_run else "reverted")
