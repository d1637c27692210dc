"""`trimtab project list | show P | set P ... | detach P | remove P | backfill P`"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from server.cli.context import (
    CliContext,
    admin_call,
    format_duration,
    message_dict,
    parse_duration,
    parse_switch,
    print_fields,
    print_json,
    print_table,
)
from server.cli.given import Given
from server.cli.store_options import open_cli_store, store_options

# The server's caps (`server.services.projects.MAX_WORKERS`, `MAX_LEARNING_BUDGET`; not imported: the
# CLI stays light, and a test keeps them equal). Checked here too so a value past them is refused
# naming the option: past 2**31-1 the request could not even be built ("Value out of range").
MAX_WORKERS = 10_000
MAX_LEARNING_BUDGET = 20


class WorkerBound(click.ParamType):
    """A worker bound for `project set`: a whole number from 1 to `MAX_WORKERS`, or ``none`` to clear it
    (the planner's default again), as ``--sla none`` clears the SLA."""

    name = "N|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        text = str(value).strip()
        if text.lower() == "none":
            return "none"
        # Only the word clears: an empty value is most often an unset shell variable.
        if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_WORKERS:
            return int(text)
        self.fail(f"{value!r}: give a whole number from 1 to {MAX_WORKERS}, or 'none' to clear it", param, ctx)


@click.group(name="project")
def cli() -> None:
    """List, inspect, configure and remove projects."""


def _money(value: float | None) -> str:
    """A project's latest cost: catalog prices are USD, shown with its sign as `trimtab savings` does."""
    from server.render.fmt import money

    return money(value)




def problem_line(step: str, run_id: int | str, at_ms: int, message: str) -> str:
    """A project's planning or auto-apply failure, e.g. ``planning after run 31 failed
    2026-12-05 04:17 UTC: Unavailable: database unavailable: ...`` (also `trimtab demo`'s)."""
    from server.cli.run import when
    from server.render.fmt import STEP_WORDS

    at = f" {when(at_ms)} UTC" if at_ms else ""
    return f"{STEP_WORDS.get(step, step)} after run {run_id} failed{at}: {message}"


@cli.command(name="list")
@click.option("--workspace", type=Given("a workspace name", "for every workspace's projects"), default=None,
              help="Only this workspace's projects.")
@click.pass_obj
def list_projects(ctx: CliContext, workspace: str | None) -> None:
    """Every project with its phase, SLA and latest run."""
    from protos.trimtab.v1 import admin_pb2

    reply = admin_call(ctx, "ProjectServiceStub", "ListProjects", admin_pb2.ListProjectsRequest(workspace=workspace or ""))
    if ctx.as_json:
        print_json([message_dict(p) for p in reply.projects])
        return
    from server.render.fmt import auto_apply_text, phase_marks, problem_mark

    rows = []
    for p in reply.projects:
        sla = p.settings.sla_seconds if p.settings.HasField("sla_seconds") else None
        # A failing project says so where its phase is, since that phase is as of the last success.
        failing = f" ({problem_mark(p.problem.step)})" if p.HasField("problem") else ""
        # Detached and orphaned both, as `project show` and the dashboard say (`phase_marks`).
        phase = p.phase + "".join(f" ({mark})" for mark in phase_marks(p.detached, p.orphaned)) + failing
        # The share of judged runs within today's SLA, the one in the SLA column ("-": none judged);
        # "*" where earlier runs were held to another SLA (`sla_met_text`).
        met = sla_met_column(p)
        rows.append((p.id, p.name, phase, format_duration(sla), met,
                     auto_apply_text(p.settings.auto_apply, p.auto_apply_hold, short=True), p.run_count,
                     _money(p.latest_cost if p.HasField("latest_cost") else None),
                     format_duration(p.latest_runtime_s if p.HasField("latest_runtime_s") else None)
                     + (f" ({p.latest_outcome.split(':', 1)[0]})" if p.latest_outcome else "")))
    print_table(rows, ["ID", "PROJECT", "PHASE", "SLA", "SLA MET", "AUTO-APPLY", "RUNS", "LAST COST", "LAST RUNTIME"])
    if any(p.sla_earlier_judged for p in reply.projects):
        print("* SLA MET counts the runs since the SLA became what the SLA column shows; `trimtab project show P` "
              "gives the earlier runs' share against the SLA of their day")
    failing_ids = [p.id for p in reply.projects if p.HasField("problem")]
    if failing_ids:
        # On stderr: the table stays the same shape for whoever reads stdout.
        click.echo(f"planning or auto-apply is failing for project(s) {', '.join(failing_ids)}: "
                   "`trimtab project show <id>` says why", err=True)
    held = [p.id for p in reply.projects if p.settings.auto_apply and p.auto_apply_hold]
    if held:
        click.echo(f"auto-apply is paused for project(s) {', '.join(held)}: the cluster was edited outside Trimtab; "
                   "`trimtab project show <id>` says since when and how to resume", err=True)


def workers_line(s: Any, c: Any, default_max: int | None = None) -> str:
    """The worker bounds as the planner reads them: an unset minimum is 1, and an unset maximum is
    the planner's default (`server.plan.candidates.default_max_workers`), said to be one; ``s`` the
    project's settings, ``c`` its current cluster (proto messages), ``default_max`` the default the
    server computed (`Project.default_max_workers`: from the cluster as imported, as the planner does)."""
    from server.plan.candidates import DEFAULT_MAX_FACTOR, DEFAULT_MAX_FLOOR, MIN_WORKERS, default_max_workers

    low = s.min_workers if s.HasField("min_workers") else None
    shown_low = str(low) if low is not None else f"{MIN_WORKERS}"
    if s.HasField("max_workers"):
        return f"{shown_low}..{s.max_workers}"
    rule = (f"max by default: {DEFAULT_MAX_FACTOR} x the larger of min_workers and the cluster's workers as "
            f"imported, at least {DEFAULT_MAX_FLOOR}; --max-workers sets one")
    if default_max is not None:
        return f"{shown_low}..{default_max} ({rule})"
    workers = c.autoscale_max if c.autoscale_max > 0 else c.num_workers
    if not c.node_type_id:
        return f"{shown_low}..- ({rule})"
    # A server that predates Project.default_max_workers: the current cluster stands for the imported
    # one, which that reply does not carry; they differ only once a recommendation changed the workers.
    return f"{shown_low}..{default_max_workers(max(workers, 1), low)} ({rule})"


def window_line(project: Any) -> str:
    """The search window (`server.plan.search_window`) as the server sent it (`Project.search_window`:
    worked out with its own catalog and the runs that confirmed the current cluster), else the rule
    alone (a server before the field, or one that cannot tell: no cluster to start from)."""
    from server.plan.worker_bounds import CORE_SPAN

    edge = "; a pick at its edge says so in its reason"
    if project.search_window:
        return project.search_window + edge
    return (f"{CORE_SPAN:g}x either way of the worker cores of the cluster as imported and of the current one "
            "once a run on it succeeded (within the SLA, if any)" + edge)


def _show(ctx: CliContext, project: Any, *, pending: bool = False) -> None:
    """``pending``: with the pending recommendation (GetProject's reply has it; `project set` says
    what became of it in a note of its own)."""
    from server.render.fmt import auto_apply_text, counted, phase_text, sla_text
    from server.render.project_status import collection_line, orphan_cause

    if ctx.as_json:
        print_json(message_dict(project))
        return
    s = project.settings
    c = project.current_config
    size = (f"{c.autoscale_min}-{c.autoscale_max} workers (autoscale)" if c.autoscale_max
            else counted(c.num_workers, "worker"))
    lines = [
        ("project", f"{project.name} (id {project.id})"),
        ("job", f"{project.job_id} {project.job_name}".strip()),
        ("phase", phase_text(project.phase, project.detached, project.orphaned)),
        # Why, in import's words: "orphaned" alone left the owner guessing what changed in the job.
        *([("orphaned", orphan_cause(project))] if project.orphaned else []),
        # The figures below are as of the last collected run: say when collection stopped.
        *([("collection", collection_line(project.collection_problem, project.workspace))]
          if project.HasField("collection_problem") else []),
        # Right under the phase: while this shows, the phase and recommendation are as of the last success.
        *([("problem", problem_line(project.problem.step, project.problem.after_run_id or project.problem.run_id,
                                    project.problem.at_ms, project.problem.message))]
          if project.HasField("problem") else []),
        ("SLA", sla_text(s.sla_seconds, project.working_sla_seconds if project.HasField("working_sla_seconds")
                         else None) if s.HasField("sla_seconds") else "none (minimize cost)"),
        # Without an SLA there is nothing for a run to meet, so the line would only mislead.
        *([("SLA applies to", "every run" if s.sla_every_run else "the typical run"),
           ("SLA out of reach", "aim at a working SLA" if s.working_sla else "run the fastest")]
          if s.HasField("sla_seconds") else []),
        ("auto-apply", auto_apply_text(s.auto_apply, project.auto_apply_hold)),
        ("workers", workers_line(s, c, project.default_max_workers if project.HasField("default_max_workers")
                                 else None)),
        ("search window", window_line(project)),
        ("families", ",".join(s.allowed_families) or "any"),
        # How to allow it, too: import leaves spot off for a job its owner runs wholly on demand.
        ("spot", "allowed" if s.spot_allowed
         else f"not allowed (`trimtab project set {project.name} --spot on` allows it)"),
        ("driver", s.driver_node_type_id or "chosen by Trimtab"),
        ("keep autoscaling", "on" if s.keep_autoscaling else "off"),
        ("learning budget", f"{s.learning_budget} runs" if s.HasField("learning_budget") else "-"),
        ("runs", str(project.run_count)),
        ("current cluster", f"{c.node_type_id}, {size}" if c.node_type_id else "-"),
        ("latest cost", _money(project.latest_cost if project.HasField("latest_cost") else None)),
        ("latest runtime", format_duration(project.latest_runtime_s if project.HasField("latest_runtime_s")
                                           else None)),
        # A failed run's 0s and $0.00 (a cluster that never started) read as a fast, free run without it.
        *([("latest run", project.latest_outcome)] if project.latest_outcome else []),
        ("SLA met", sla_met_text(project)),
        *(pending_lines(project) if pending and project.HasField("pending_recommendation") else []),
    ]
    print_fields(lines)


def sla_met_column(p: Any) -> str:
    """`project list`'s SLA MET: the share against today's SLA, marked "*" when runs before it were
    held to another (the footnote says so)."""
    from server.render.fmt import percent

    share = percent(p.sla_met_fraction_now) if p.HasField("sla_met_fraction_now") else "-"
    return share + ("*" if p.sla_earlier_judged else "")


def sla_met_text(p: Any) -> str:
    """`project show`'s SLA met: the share against today's SLA, and every run's against the SLA of
    its day when some were held to an earlier one ("37% met" beside "SLA 50m00s" had read as 37% of
    runs within 50 minutes when none was)."""
    if not p.HasField("sla_met_fraction"):
        return "-"
    if not p.sla_earlier_judged:
        return f"{p.sla_met_fraction:.0%}"
    runs = "1 run" if p.sla_now_judged == 1 else f"{p.sla_now_judged} runs"
    now = (f"{p.sla_met_fraction_now:.0%} of {runs} under today's SLA" if p.HasField("sla_met_fraction_now")
           else "no run judged under today's SLA yet")
    total = p.sla_now_judged + p.sla_earlier_judged
    return f"{now}; {p.sla_met_fraction:.0%} of all {total} against the SLA of their day"


@cli.command()
@click.argument("project")
@click.pass_obj
def show(ctx: CliContext, project: str) -> None:
    """A project's settings, phase, latest figures and pending recommendation (PROJECT: id or name)."""
    from protos.trimtab.v1 import admin_pb2

    _show(ctx, admin_call(ctx, "ProjectServiceStub", "GetProject", admin_pb2.GetProjectRequest(project=project)),
          pending=True)


def pending_lines(project: Any) -> list[tuple[str, str]]:
    """What `project show` says of the pending recommendation: its id, cluster and predicted saving
    against what the current cluster's runs cost, and the command that applies it; or that the job
    already runs it, which leaves nothing to apply; or, for an orphaned project, that nothing can
    apply it (an apply is refused), and why."""
    from server.cli.recommendation import ALREADY_RUNS, currency_of, predicted, short_config
    from server.render.fmt import money as fmt_money
    from server.render.project_status import orphan_cause

    rec = project.pending_recommendation

    def money(amount: float) -> str:
        return fmt_money(amount, currency_of(rec))

    head = f"{rec.id}: {short_config(rec.config)}"
    if project.orphaned:
        return [("pending", f"recommendation {head}: cannot be applied: {orphan_cause(project)}")]
    if rec.already_on_job:
        return [("pending", f"recommendation {head}: {ALREADY_RUNS} (nothing to apply)")]
    now = project.current_cost_per_run if project.HasField("current_cost_per_run") else None
    if not predicted(rec):
        saving = "its cost is not predicted yet"
    elif now is None or now <= 0:
        saving = f"predicted {money(rec.predicted_cost)} a run (no priced run of the current cluster to compare with)"
    else:
        gap, new, old = _compared(rec.predicted_cost, now, currency_of(rec))
        if rec.predicted_cost <= now:
            saving = (f"predicted saving {gap} a run ({(now - rec.predicted_cost) / now:.0%}): "
                      f"{new} against {old} for the current cluster's recent runs")
        else:
            # Dearer, e.g. to meet the SLA: said as what it costs, never as a negative saving.
            saving = f"predicted to cost {gap} a run more: {new} against {old} for the current cluster's recent runs"
    # Pinned to the id shown, so a plan made meanwhile is not applied unseen (`recommendation apply --id`).
    return [("pending", f"recommendation {head}, {saving}"),
            ("apply it with", f"trimtab recommendation apply {project.id} --id {rec.id}")]


def _compared(new: float, old: float, currency: str) -> tuple[str, str, str]:
    """The difference between two costs per run and the two, written so the difference is the one of the
    figures shown: "$0.02 more: $0.18 against $0.17" read as a wrong sum. The gap is taken from the rounded
    figures, with more decimals (up to 4) while they would round to the same cents."""
    from decimal import Decimal

    from server.render.fmt import money

    decimals = next((d for d in (2, 3, 4) if f"{new:.{d}f}" != f"{old:.{d}f}"), 2)  # equal: cents
    a, b = (Decimal(f"{x:.{decimals}f}") for x in (new, old))
    return (money(float(abs(a - b)), currency, decimals), money(float(a), currency, decimals),
            money(float(b), currency, decimals))


def _families(text: str) -> list[str]:
    """`--allowed-families`: the families listed, or none for ``any`` (every family allowed again).

    Only the word clears, as for --sla: an empty value is most often an unset shell variable
    (``--allowed-families "$FAMILIES"``), which silently lifted the restriction.
    """
    families = [f.strip() for f in text.split(",") if f.strip()]
    if not families:
        raise click.BadParameter(f"{text!r}: an empty value is most often an unset shell variable; give "
                                 "families like m5d,r5d, or 'any' to allow every family",
                                 param_hint="'--allowed-families'")
    if any(f.lower() == "any" for f in families):
        if len(families) > 1:
            raise click.BadParameter(f"{text!r}: 'any' allows every family: give it alone, or only families",
                                     param_hint="'--allowed-families'")
        return []
    return families


def _driver_type(text: str) -> str:
    """`--driver-type`: the node type fixed, or "" for ``auto`` (Trimtab chooses again); blank is refused
    as in `_families`."""
    value = text.strip()
    if not value:
        raise click.BadParameter(f"{text!r}: an empty value is most often an unset shell variable; give a node "
                                 "type like m5d.xlarge, or 'auto' to let Trimtab choose",
                                 param_hint="'--driver-type'")
    return "" if value.lower() == "auto" else value


@cli.command(name="set")
@click.argument("project")
@click.option("--sla", default=None,
              help="Max runtime with a unit, e.g. 45m, 1h30m, 900s (at most 7d); 'none' to clear.")
@click.option("--auto-apply", default=None, metavar="on|off")
@click.option("--min-workers", type=WorkerBound(), default=None, metavar="N|none",
              help=f"Fewest workers a recommendation has, 1 to {MAX_WORKERS}; 'none' to clear (unset: 1).")
@click.option("--max-workers", type=WorkerBound(), default=None, metavar="N|none",
              help=f"Most workers a recommendation has, 1 to {MAX_WORKERS}; 'none' to clear. Unset: twice the "
                   "larger of --min-workers and the cluster's workers when imported, at least 8 (`project show` "
                   "says which).")
@click.option("--allowed-families", default=None, metavar="F1,F2|any",
              help="Instance families a recommendation may use, e.g. m5d,r5d; 'any' for every family.")
@click.option("--spot", default=None, metavar="on|off",
              help="Whether recommendations may run workers on spot instances (on for a new project).")
@click.option("--driver-type", default=None, metavar="TYPE|auto",
              help="Fixed driver node type, e.g. m5d.xlarge; 'auto' to let Trimtab choose.")
@click.option("--keep-autoscaling", default=None, metavar="on|off",
              help="Keep an autoscaling cluster autoscaling (its max workers above its min).")
@click.option("--learning-budget", type=click.IntRange(min=0, max=MAX_LEARNING_BUDGET), default=None,
              help=f"Most learning runs, 0 to {MAX_LEARNING_BUDGET}.")
@click.option("--sla-every-run/--sla-typical-run", "sla_every_run", default=None,
              help="Every run meets the SLA with P >= 0.9 (the default for new projects) / the typical run "
                   "does (cheaper; single runs miss more often).")
@click.option("--working-sla/--no-working-sla", "working_sla", default=None,
              help="When no cluster can meet the SLA on the job's own runs: aim at a working SLA 25% over "
                   "the fastest measured runtime and find the cheapest that meets it (the default) / run "
                   "the fastest measured (usually the dearest) cluster every run.")
@click.pass_obj
def set_settings(ctx: CliContext, project: str, sla: str | None, auto_apply: str | None,
                 min_workers: int | str | None, max_workers: int | str | None, allowed_families: str | None,
                 spot: str | None, driver_type: str | None, keep_autoscaling: str | None,
                 learning_budget: int | None, sla_every_run: bool | None, working_sla: bool | None) -> None:
    """Change only the settings given."""
    from protos.trimtab.v1 import admin_pb2

    s = admin_pb2.ProjectSettings()
    if sla is not None:
        # Only the word clears: an empty value is most often an unset shell variable (--sla "$SLA"),
        # which must not wipe the SLA.
        if sla.strip().lower() == "none":
            s.clear_sla = True
        elif not sla.strip():
            raise click.BadParameter("'': give a duration like 45m, or 'none' to clear the SLA",
                                     param_hint="'--sla'")
        else:
            s.sla_seconds = parse_duration(sla, "--sla")
    if auto_apply is not None:
        s.auto_apply = parse_switch(auto_apply, "--auto-apply")
    # "none" clears a bound (`WorkerBound`): the planner's default applies again.
    if min_workers == "none":
        s.clear_min_workers = True
    elif isinstance(min_workers, int):
        s.min_workers = min_workers
    if max_workers == "none":
        s.clear_max_workers = True
    elif isinstance(max_workers, int):
        s.max_workers = max_workers
    if allowed_families is not None:
        s.replace_allowed_families = True
        s.allowed_families.extend(_families(allowed_families))
    if spot is not None:
        s.spot_allowed = parse_switch(spot, "--spot")
    if driver_type is not None:
        if driver := _driver_type(driver_type):
            s.driver_node_type_id = driver
        else:
            s.clear_driver_node_type_id = True
    if keep_autoscaling is not None:
        s.keep_autoscaling = parse_switch(keep_autoscaling, "--keep-autoscaling")
    if learning_budget is not None:
        s.learning_budget = learning_budget
    if sla_every_run is not None:
        s.sla_every_run = sla_every_run
    if working_sla is not None:
        s.working_sla = working_sla
    if not s.ListFields():
        raise click.UsageError("nothing to change: give at least one setting (see --help)")
    reply = admin_call(ctx, "ProjectServiceStub", "UpdateProjectSettings",
                       admin_pb2.UpdateProjectSettingsRequest(project=project, settings=s))
    _show(ctx, reply)
    # Notes on stderr, so what stdout shows (the table, or --json) keeps its shape for scripts.
    if reply.detached:
        # Accepted (they apply again once it is imported again), but a silent success read as if
        # the project were planned under them now.
        click.echo(f"note: {reply.name} is detached: its settings are saved, but nothing is planned or applied "
                   f"until it is imported again (`trimtab workspace import {reply.workspace} --job "
                   f"{reply.job_id}`)", err=True)
    for given, flag in ((sla_every_run, "--sla-every-run"), (working_sla is not None, "--[no-]working-sla")):
        if given and not reply.settings.HasField("sla_seconds"):
            click.echo(f"note: {flag} has no effect until the project has an SLA (--sla)", err=True)
    if not reply.detached:
        # Any change plans again (the server's `Planner.replan`), and with auto-apply on applies the
        # new plan at once: say which of the two happened, as a run's cluster depends on it.
        note = pending_note(ctx, reply.id, reply.settings.auto_apply,
                            reply.pending_recommendation if reply.HasField("pending_recommendation") else None)
        if note:
            click.echo(note, err=True)


def pending_note(ctx: CliContext, project_id: str, auto_apply: bool = False, pending: Any = None) -> str:
    """After a settings change: a recommendation still pending waits for an apply (by hand, or with
    auto-apply on the next run's plan: the server applies at once only where it can); one applied
    since the change was made went on the job now. "" without a recommendation. ``pending``: the
    pending recommendation the reply carries (None: asked for). One the job's cluster already runs
    (its ``already_on_job``, the server's one rule, as `project show` and `recommendation apply` read
    it) leaves the cluster unchanged, and is not one to apply (an apply writes nothing)."""
    import grpc

    from protos.trimtab.v1 import admin_pb2

    rec = pending
    if rec is None:
        try:
            rec = admin_call(ctx, "RecommendationServiceStub", "GetRecommendation",
                             admin_pb2.GetRecommendationRequest(project=project_id))
        except (grpc.RpcError, click.ClickException):  # none yet (no run), or no answer: the settings are saved
            return ""
    if rec.state == "applied" and auto_apply:
        return f"note: recommendation {rec.id} is on the job's cluster: the next run uses it (auto-apply)"
    if rec.state != "pending":
        return ""
    if rec.already_on_job:
        return (f"note: the cluster is unchanged: recommendation {rec.id} keeps the configuration the job runs on "
                "(nothing to apply)")
    return (f"note: the next run still uses the current cluster; `trimtab recommendation apply {project_id}` "
            f"applies recommendation {rec.id} now (--dry-run shows the change first)")


@cli.command()
@click.argument("project")
@click.pass_obj
def detach(ctx: CliContext, project: str) -> None:
    """Stop managing a project: Trimtab comes off its job's cluster, whose sizing goes back as imported."""
    from protos.trimtab.v1 import admin_pb2

    before = admin_call(ctx, "ProjectServiceStub", "GetProject", admin_pb2.GetProjectRequest(project=project))
    reply = admin_call(ctx, "ProjectServiceStub", "DetachProject", admin_pb2.DetachProjectRequest(project=project))
    # Notes on stderr: stdout keeps the project's table (or --json) for scripts.
    if before.detached:
        click.echo(f"note: {reply.name} was detached already: nothing changed", err=True)
    elif before.orphaned:
        # Orphaned: nothing of Trimtab's is left on a cluster it may still steer, so nothing was put back;
        # the cause in project show's words (taken over by another server is not "gone").
        from server.render.project_status import orphan_cause

        click.echo(f"note: {reply.name} detached: it was orphaned ({orphan_cause(before)}), so nothing was "
                   "changed in Databricks; its runs and recommendations stay", err=True)
    else:
        click.echo(f"note: {reply.name} detached: Trimtab's init script, TRIMTAB_* variables, tags and the log "
                   f"delivery it added are gone from job {reply.job_id}'s cluster {reply.cluster_key!r}, and its "
                   "workers, node types and availability are back as imported where Trimtab changed them; edits "
                   "made outside Trimtab since (runtime, Spark conf, ...) stay. Its runs and recommendations stay. "
                   f"`trimtab workspace import {reply.workspace} --job {reply.job_id}` attaches it again", err=True)
    _show(ctx, reply)


# ------------------------------------------------------------------ remove (opens the store itself)


@cli.command()
@click.argument("project")
@click.option("--purge", is_flag=True, help="Delete its runs, recommendations and their Spark data with it.")
@click.option("--yes", is_flag=True, help="Confirm: without it nothing is deleted, and what would be is said.")
@store_options
@click.pass_obj
def remove(ctx: CliContext, project: str, purge: bool, yes: bool, db_url: str | None, state_dir: Path | None) -> None:
    """Delete a detached or orphaned PROJECT (id or name) from the database; with --purge, its history too.

    An attached project is refused: `trimtab project detach` first. Nothing in Databricks changes.
    """
    from server.errors import TrimtabError
    from server.services.project_remove import project_history, remove_project

    # Never created here: a fresh database holds no project to remove.
    _, store = open_cli_store(db_url, state_dir, may_create=False)
    try:
        try:
            found = project_history(store, project)
            from server.render.fmt import counted

            what = (f"project {found.project.id} ({found.name}) with {counted(found.runs, 'run')} and "
                    f"{counted(found.recommendations, 'recommendation')}")
            if not yes:
                if (found.runs or found.recommendations) and not purge:
                    remove_project(store, found, purge=False)  # refused: says --purge
                click.echo(f"would delete {what}" + (" and their Spark data" if found.runs else ""))
                raise click.UsageError("nothing deleted: add --yes to confirm")
            report = remove_project(store, found, purge=purge)
        except TrimtabError as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if ctx.as_json:
        print_json({"project": found.name, "id": str(found.project.id), "deleted_rows": report.rows})
        return
    click.echo(f"deleted {what}")
    deleted = {name: n for name, n in report.rows.items() if n and name != "projects"}
    if deleted:
        width = max(len(name) for name in deleted)
        for name, n in deleted.items():
            click.echo(f"  {name:<{width}}  {n:>10,} rows")


# ------------------------------------------------------------------ backfill (opens the store itself)


@cli.command()
@click.argument("project")
@click.option("--eventlogs", required=True, metavar="PATH|dbfs:/...",
              help="Delivered cluster logs: a local directory or a dbfs:/ path (any level of the tree).")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="Parse on local processes, or on Spark (one task per application).")
@click.option("--spark-master", default=None, help="Spark master for --engine spark (default local[*]).")
@store_options
@click.pass_obj
def backfill(ctx: CliContext, project: str, eventlogs: str, engine: str, spark_master: str | None,
             db_url: str | None, state_dir: Path | None) -> None:
    """Import past runs of PROJECT from delivered event logs (id or name)."""
    from server.backfill import backfill as run_backfill
    from server.costing.catalog import load_active_catalog

    if not eventlogs.strip():
        # Path("") is the current directory: `--eventlogs "$LOGDIR"` with LOGDIR unset imported whatever
        # cluster logs lay where the command ran, as runs of this project.
        raise click.BadParameter(f"{eventlogs!r}: an empty value is most often an unset shell variable; give a "
                                 "local directory or a dbfs:/ path (`.` for the current directory)",
                                 param_hint="'--eventlogs'")
    if spark_master and engine != "spark":
        raise click.UsageError("--spark-master needs --engine spark")
    # Never created here: a fresh database holds no project, so the backfill could only fail on it
    # ("project not found") after making it where --db/--state-dir pointed by mistake.
    config, store = open_cli_store(db_url, state_dir, may_create=False)
    try:
        def gateway_for(workspace: str) -> Any:
            from server.serve import stored_secrets
            from server.services.secrets import SecretBox
            from server.services.workspaces import gateway_for as workspace_gateway

            # Never a fresh key beside a database that holds secrets (as the server: `for_store`).
            box = SecretBox.for_store(config.secret_key, config.state_dir, bool(stored_secrets(store)))
            return workspace_gateway(store, box, workspace)

        report = run_backfill(store, project, eventlogs, engine=engine, spark_master=spark_master,
                              gateway_for=gateway_for, catalog=load_active_catalog(config.state_dir),
                              progress=lambda line: click.echo(line, err=True))
    finally:
        store.close()
    if ctx.as_json:
        print_json(report.as_dict())
    else:
        print_table([(report.project, report.applications_found, report.imported, report.already_present,
                      report.runs_created)], ["PROJECT", "APPLICATIONS FOUND", "IMPORTED", "ALREADY PRESENT",
                                              "RUNS CREATED"])
        if report.skipped_other_job:
            click.echo(f"{report.skipped_other_job} application(s) belong to another job: no run made for them",
                       err=True)
        if report.already_tied_to_runs:
            click.echo(f"{report.already_tied_to_runs} application(s) already tied to runs: no new run made for "
                       "them", err=True)
        if report.damaged_logs:
            # On stderr like the note above, so the table on stdout stays the same for scripts.
            imported = ": what could be read was imported" if report.usable else ""
            click.echo(f"damaged event logs ({len(report.damaged_logs)}){imported}", err=True)
            for damaged in report.damaged_logs:
                for line in damaged.lines():
                    click.echo(f"  {line}", err=True)
    if not report.usable:
        # Damage alone is not a failure (the rest was imported); finding nothing to import is.
        raise click.ClickException(f"{eventlogs}: no usable event log: not one of the "
                                   f"{report.applications_found} application(s) could be read")
