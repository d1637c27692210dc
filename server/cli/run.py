"""`trimtab run list P | show RUN`"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
import grpc

from server.cli.context import (
    CliContext,
    admin_call,
    format_duration,
    message_dict,
    one_line,
    print_json,
    print_table,
)
from server.render.fmt import (
    availability_name,
    breakdown_amounts,
    counted,
    cut,
    driver_use,
    money,
    outcome_text,
)


def when(ms: int) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def utc(ms: int) -> str:
    """`when`, said to be UTC (outside a table whose header says so)."""
    return f"{when(ms)} UTC" if ms else "-"


def cost_lines(k: Any) -> list[str]:
    """A run's cost breakdown: the parts, estimate against bill, what the models used, cost per input GB."""
    cloud_estimate = k.compute_cost + k.storage_cost
    used = "the bill" if (k.used_by_models or k.source) == "billed" else "the estimate"
    billed = k.HasField("billed_cloud_cost")
    # The parts with as many decimals as they need to add up to the total shown (the dashboard's run
    # page too): DBU 0.04 + compute 0.10 + storage 0.01 beside a total of 0.16 read as a wrong sum.
    if k.source == "billed" and billed:
        d, (dbu, bill) = breakdown_amounts(k.total, [k.dbu_cost, k.billed_cloud_cost])
        compute, storage = k.compute_cost, k.storage_cost  # the estimate beside the bill: in no sum shown
    else:
        d, (dbu, compute, storage) = breakdown_amounts(k.total, [k.dbu_cost, k.compute_cost, k.storage_cost])
        bill = k.billed_cloud_cost
    # The total in every other command's money format ($0.16); the parts below stay bare numbers in
    # a column under it, so they line up.
    lines = [f"cost {money(k.total, k.currency or 'USD', d)} ({k.source}; models learn from {used})",
             f"  DBU      {dbu:>10,.{d}f}  ({k.dbus:,.2f} DBU, catalog price)",
             f"  compute  {compute:>10,.{d}f}  (catalog estimate)",
             f"  storage  {storage:>10,.{d}f}  (catalog estimate)"]
    if billed:
        delta = k.billed_cloud_cost - cloud_estimate
        lines.append(f"  billed   {bill:>10,.{d}f}  (compute+storage from the cloud bill; "
                     f"estimate {cloud_estimate:,.{d}f}, {delta:+,.{d}f})")
    else:
        # Whether a bill is still to come, from the note (`server.costing.notes`): a workspace without
        # credentials, a pool-backed cluster or a sum over several clusters never gets one.
        from server.costing.notes import bill_outlook

        lines.append("  billed   {:>10}  ({})".format("-", bill_outlook(k.note)))
    if k.HasField("cost_per_input_gb"):
        lines.append(f"  per input GB {money(k.cost_per_input_gb, k.currency or 'USD', 4)}")
    if k.note:
        lines.append(f"  note: {k.note}")
    return lines


def unpriced_lines(ctx: CliContext, project_id: str) -> list[str]:
    """Why a run has no cost: the server's catalog could not price it. The run's message (shown as
    `why:`) names the node type and the catalog version tried; this adds what decides it (the
    workspace's cloud and region) and the project's kept problem when that says what could not be
    priced; a failing extra call leaves just the first line."""
    from protos.trimtab.v1 import admin_pb2

    lines = ["cost -  (not priced: the server's price catalog has no price for this run's cluster, in its "
             "workspace's region or for a node type; `trimtab prices show` lists what it prices)"]
    try:
        project = admin_call(ctx, "ProjectServiceStub", "GetProject", admin_pb2.GetProjectRequest(project=project_id))
        ws = admin_call(ctx, "WorkspaceServiceStub", "GetWorkspace",
                        admin_pb2.GetWorkspaceRequest(name=project.workspace))
    except (click.ClickException, grpc.RpcError):  # admin_call re-raises NOT_FOUND for its caller to judge
        return lines
    lines.append(f"  workspace {ws.name}: {ws.cloud}, region {ws.region or 'the cloud default'}")
    if project.HasField("problem") and "could be priced" in project.problem.message:
        lines.append(f"  note: {project.problem.message}")
    return lines


# The most rows a list call returns (`server.services.runs.MAX_PAGE`; not imported: the CLI stays
# light, and a test keeps them equal): a larger --limit was cut to it without a word, and one past
# 2**31-1 failed as "Value out of range" naming no option.
MAX_PAGE = 500

# `run list` keeps its outcome column to this width: a failed run's message can be 500 characters,
# and the table sizes each column to its widest cell.
OUTCOME_WIDTH = 64


def outcome_cell(outcome: str, message: str, width: int = OUTCOME_WIDTH) -> str:
    """The outcome, followed by as much of Databricks' reason as fits in ``width`` characters."""
    if not message:
        return outcome_text(outcome)
    return cut(f"{outcome_text(outcome)}: {message}", width)


# `run list` keeps a run's reason for not being learned to this many characters in NOTES (`run show` has it whole).
NOT_LEARNED_WIDTH = 60


# `run list`'s NOTES for a run whose cluster's agent this server refused (`run show` says why and the fix).
AGENT_REFUSED_NOTE = "agent refused (run show)"
# ... and for a run no agent data reached at all (a cluster that ended while the server was down or
# upgrading: its spool went with it). The list is where an operator looks for what to backfill.
NO_AGENT_DATA_NOTE = "no agent data (run show)"


def agent_line(r: Any) -> str | None:
    """What `run show` says of the run's agent data: None when it has some and nothing went wrong."""
    a = r.agent_refusal if r.HasField("agent_refusal") else None
    refused = (f"the agent on this cluster was refused: {a.reason} at {utc(a.at_ms)}, {a.calls} call(s) "
               f"(fix: {a.fix})") if a is not None else ""
    if r.application_ids:
        # Some data came, then its token stopped being accepted (revoked mid-run): the rest is missing.
        return f"agent data: partial: {refused}" if a is not None else None
    if "launch_failed" in r.anomalies:
        return None
    if a is not None:
        return f"agent data: none: {refused}"
    # Collected from the Jobs API alone: the tuner learns its runtime and cost, not its stages, input
    # or driver use. Said, because the usual causes leave no trace anywhere else the user looks.
    return ("agent data: none: no Spark application of this run reached the server (its agent did not run, "
            "was refused before this server's last start, or its cluster ended while the server was away and "
            "the spool went with it; the agent's own log says which: driver/trimtab-agent.log in the cluster's "
            f"delivered logs); `trimtab project backfill {r.project_id} --eventlogs <the cluster's log "
            "destination>` reads it from the delivered event logs (docs/agent.md)")


def notes_cell(r: Any) -> str:
    """A run's NOTES in `run list`: what was unusual, and why the planner did not learn it."""
    from server.timeline import WITHOUT_SETUP

    # A runtime without setup is not comparable with the others, nor with the SLA.
    notes = ",".join([WITHOUT_SETUP] * r.execution_only + list(r.anomalies))
    if not r.application_ids and "launch_failed" not in r.anomalies:
        # Otherwise blank: the run's missing agent data had no word in the list at all.
        missing = AGENT_REFUSED_NOTE if r.HasField("agent_refusal") else NO_AGENT_DATA_NOTE
        notes = f"{notes}; {missing}" if notes else missing
    if r.not_learned:
        why = cut(f"not learned: {one_line(r.not_learned)}", NOT_LEARNED_WIDTH)
        notes = f"{notes}; {why}" if notes else why
    return notes


def judged_sla(r: Any) -> tuple[float, float | None, bool | None] | None:
    """The SLA the run is judged against, the project's now and the verdict (None: unknown), as the server
    sent them; None when the run has no SLA to meet (or an older server did not say)."""
    if not r.HasField("sla_seconds"):
        return None
    now = r.current_sla_seconds if r.HasField("current_sla_seconds") else None
    return r.sla_seconds, now, r.sla_met if r.HasField("sla_met") else None


def sla_line(r: Any) -> str | None:
    """What `run show` says of the run's SLA: the one in force when it was collected, said to be an
    earlier one when the project's differs now, so an old run is not read against today's target."""
    from server.timeline import verdict_words

    judged = judged_sla(r)
    if judged is None:
        return None
    sla, now, met = judged
    then = "" if sla == now else " (then; no SLA now)" if now is None else f" (then; {format_duration(now)} now)"
    return f"SLA {format_duration(sla)}{then}: {verdict_words(met)}"


def sla_cell(r: Any) -> str:
    """`run list`'s SLA column: met, missed or unknown, and the SLA only when it is not today's (the
    one `project show` says); "-" for a run without one among runs with one."""
    judged = judged_sla(r)
    if judged is None:
        return "-"
    sla, now, met = judged
    word = "met" if met else "missed" if met is False else "unknown"
    return word if sla == now else f"{word} {format_duration(sla)}"


@click.group(name="run")
def cli() -> None:
    """List and inspect collected runs."""


@cli.command(name="list")
@click.argument("project")
@click.option("--limit", type=click.IntRange(min=1, max=MAX_PAGE), default=50, show_default=True,
              help=f"Runs per page, 1 to {MAX_PAGE}.")
@click.option("--page-token", default="", help="Continue after a previous page.")
@click.pass_obj
def list_runs(ctx: CliContext, project: str, limit: int, page_token: str) -> None:
    """A project's runs, latest start first (a backfilled past run sorts by when it ran)."""
    from protos.trimtab.v1 import admin_pb2
    from server.timeline import phase_shown

    reply = admin_call(ctx, "RunServiceStub", "ListRuns",
                       admin_pb2.ListRunsRequest(project=project, page_size=limit, page_token=page_token))
    if ctx.as_json:
        print_json({"runs": [run_json(r) for r in reply.runs], "next_page_token": reply.next_page_token})
        return
    # A page with no run to judge (a project that never had an SLA, an older server) gets no SLA
    # column: a column of "-" would only widen the table.
    judged = any(judged_sla(r) is not None for r in reply.runs)
    rows = []
    for r in reply.runs:
        c = r.config
        size = f"{c.autoscale_min}-{c.autoscale_max}" if c.autoscale_max else str(c.num_workers)
        setup = format_duration(r.setup_s) if r.HasField("setup_s") else "-"
        rows.append((r.id, when(r.start_time_ms), format_duration(r.runtime_s), setup,
                     outcome_cell(r.outcome, r.message), *([sla_cell(r)] if judged else []),
                     f"{c.node_type_id} x{size}" if c.node_type_id else "-",
                     money(r.cost.total, r.cost.currency or "USD") if r.HasField("cost") else "-",
                     phase_shown(r.phase, r.recommendation_id),
                     # A runtime without setup is not comparable with the others, nor with the SLA.
                     notes_cell(r)))
    print_table(rows, ["RUN", "STARTED (UTC)", "RUNTIME", "SETUP", "OUTCOME", *(["SLA"] if judged else []),
                       "CLUSTER", "COST", "PHASE", "NOTES"])
    if reply.next_page_token:
        click.echo(f"more: --page-token {reply.next_page_token}")


def run_json(r: Any) -> dict[str, Any]:
    """A run as `--json` prints it: ``config.availability`` as stored (AWS's names, as before), and
    ``config.availability_name`` as the run's cloud names it (SPOT_AZURE on Azure), added beside it
    so a script reading the first is not broken."""
    out = message_dict(r)
    if "config" in out:
        out["config"]["availability_name"] = availability_name(r.config)
    return out


@cli.command()
@click.argument("run_id")
@click.pass_obj
def show(ctx: CliContext, run_id: str) -> None:
    """One run: cluster, cost breakdown, stages and executors."""
    from protos.trimtab.v1 import admin_pb2
    from server.cli.lost_nodes import lost_nodes_line
    from server.timeline import phase_shown

    r = admin_call(ctx, "RunServiceStub", "GetRun", admin_pb2.GetRunRequest(run_id=run_id))
    if ctx.as_json:
        print_json(run_json(r))
        return
    c = r.config
    click.echo(f"run {r.id} of project {r.project_id} (Databricks run {r.databricks_run_id}, "
               f"cluster {r.cluster_id or '-'})")
    # The runtime the SLA is about includes creating the cluster, which the configuration hardly
    # changes: showing it apart tells how much of the runtime tuning can act on.
    parts = [f"cluster setup {format_duration(r.setup_s)}"] if r.HasField("setup_s") else []
    if r.execution_only:  # known from its event log alone: the setup is unknown, and not in the runtime
        parts = ["without cluster setup"]
    if r.HasField("wait_s") and r.wait_s > 0:
        # Idle while other clusters' tasks ran: paid for and under the SLA, but no part of what this
        # configuration takes (the tuner does not learn it as execution).
        parts.append(f"waited {format_duration(r.wait_s)} for other clusters' tasks")
    setup = f" ({', '.join(parts)})" if parts else ""
    click.echo(f"started {utc(r.start_time_ms)}, runtime {format_duration(r.runtime_s)}{setup}, {outcome_text(r.outcome)}, "
               f"phase {phase_shown(r.phase, r.recommendation_id)}")
    if r.message:
        # Databricks' own words on why the run failed or was canceled: the first thing a user asks.
        click.echo(f"why: {one_line(r.message)}")
    if (line := sla_line(r)) is not None:
        click.echo(line)
    if c.node_type_id:
        size = f"autoscale {c.autoscale_min}-{c.autoscale_max}" if c.autoscale_max else counted(c.num_workers, "worker")
        click.echo(f"cluster {c.node_type_id} (driver {c.driver_node_type_id or c.node_type_id}), {size}, "
                   f"{availability_name(c) or 'default availability'}")
        if r.HasField("peak_workers"):
            # The cluster's events say how far it went: a range's mean hides the burst the max is for,
            # and a fixed cluster that lost nodes ran on fewer than its size.
            start = c.autoscale_min if c.autoscale_max else c.num_workers
            click.echo(f"workers: {start} at start, {r.peak_workers} at most")
    if (line := lost_nodes_line(r)) is not None:
        click.echo(line)
    if r.HasField("cost"):
        for line in cost_lines(r.cost):
            click.echo(line)
    else:
        for line in unpriced_lines(ctx, r.project_id):
            click.echo(line)
    if r.HasField("input_bytes"):
        click.echo(f"input {r.input_bytes / 1e9:,.2f} GB")
    if r.HasField("driver"):
        d = r.driver
        # GC as a share of the driver's life, which starts after the cluster's setup.
        alive_s = r.runtime_s - (r.setup_s if r.HasField("setup_s") else 0.0)
        click.echo("driver " + driver_use(d.peak_heap_bytes, d.gc_ms, d.peak_outside_heap_bytes, alive_s))
    if r.anomalies:
        click.echo(f"unusual: {', '.join(r.anomalies)}")
    if r.not_learned:
        # The planner's own word on why this run taught the model nothing (its runtime is not the
        # configuration's normal): "unusual" alone left the owner guessing whether it counted.
        click.echo(f"not learned: {one_line(r.not_learned)}")
    if (line := agent_line(r)) is not None:
        click.echo(line)
    if r.HasField("detail_pruned_at_ms"):
        # Else a pruned run read as one whose agent sent no executors and no driver metrics.
        click.echo(f"executor detail pruned {utc(r.detail_pruned_at_ms)} (`trimtab db prune`): its executors, "
                   "per-executor peaks and driver use are no longer stored; its stages and summary are")
    if r.stages:
        click.echo("")
        print_table([(s.stage_id, s.attempt_id, s.name[:40], s.num_tasks, f"{s.duration_s:.1f}s",
                      f"{s.metrics.input_bytes / 1e6:,.1f}", f"{s.metrics.shuffle_bytes_written / 1e6:,.1f}",
                      f"{s.metrics.disk_bytes_spilled / 1e6:,.1f}") for s in r.stages],
                    ["STAGE", "ATT", "NAME", "TASKS", "DURATION", "INPUT MB", "SHUFFLE W MB", "SPILL MB"])
    if r.executors:
        click.echo("")
        print_table([(e.executor_id, e.host, e.total_cores, e.removal_reason or "-") for e in r.executors],
                    ["EXECUTOR", "HOST", "CORES", "REMOVED"])
