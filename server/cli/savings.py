"""`trimtab savings [P]`: savings to date and projected annual savings (see docs/savings.md)."""

from __future__ import annotations

from typing import Any

import click

from server.cli.context import CliContext, admin_call, message_dict, print_json, print_table

CADENCE_DOC = "docs/savings.md"
FIRM_RUNS = 3  # server.services.savings.FIRM_RUNS (not imported: the CLI needs no server code)
NOT_COMPARABLE = "not_comparable"  # server.services.savings.NOT_COMPARABLE: the basis when the workload changed


@click.command(name="savings")
@click.argument("project", required=False, default="")
@click.pass_obj
def cli(ctx: CliContext, project: str) -> None:
    """Per project and in total, against the cost before Trimtab (per GB of input when input drives runtime)."""
    from protos.trimtab.v1 import admin_pb2
    from server.render.fmt import money, percent

    reply = admin_call(ctx, "ProjectServiceStub", "GetSavings", admin_pb2.GetSavingsRequest(project=project))
    if ctx.as_json:
        print_json(message_dict(reply))
        return
    cur = reply.currency or "USD"
    rows = []
    for p in reply.projects:
        comparable = p.basis != NOT_COMPARABLE
        fraction = 1 - p.current_cost_per_run / p.baseline_cost_per_run if p.baseline_cost_per_run > 0 else None
        rows.append((p.project_id, p.project_name, money(p.baseline_cost_per_run, cur),
                     money(p.current_cost_per_run, cur),
                     percent(fraction) + runs_behind(p) if comparable else "not comparable",
                     money(p.saved_to_date, cur) + (" (preliminary)" if p.saved_to_date_preliminary else ""),
                     money(p.projected_annual, cur) if comparable else "-", p.basis.replace("_", " "),
                     p.cost_basis or "-",
                     now_from(p), p.runs,
                     f"{_runs_a_year(p.runs_per_year)} ({p.cadence_basis})" if p.cadence_basis else "-"))
    waiting = [f"{w.project_name}: {w.reason}" for w in reply.waiting]
    if not rows:
        click.echo("no savings yet: a project needs a succeeded run as found and a succeeded run with an "
                   "applied recommendation")
        for line in waiting:
            click.echo(line)
        return
    print_table(rows, ["ID", "PROJECT", "BEFORE/RUN", "NOW/RUN", "SAVING", "SAVED TO DATE",
                       "PROJECTED/YEAR", "BASIS", "COSTS", "NOW FROM", "RUNS", "RUNS/YEAR"])
    click.echo(f"total saved to date {money(reply.total_saved_to_date, cur)}, "
               f"projected annual {money(reply.total_projected_annual, cur)}")
    for p in reply.projects:
        for line in project_notes(p, p.has_sla if p.HasField("has_sla") else None):
            click.echo(f"{p.project_name}: {line}")
    for line in waiting:
        click.echo(line)
    click.echo("now/run: the runs of the recommendation applied now that met the SLA; until one has, "
               "the last 3 succeeded Trimtab runs, learning trials included (marked 'last 3'); after a revert "
               "to the cluster as found, the cost before Trimtab (marked 'as found')")
    click.echo(f"saving: marked preliminary, and the projection from it, while it rests on fewer than {FIRM_RUNS} "
               "runs before or now (one run's setup time alone varies by minutes); per input GB after the input "
               "size shifted, 'not comparable' after a code change")
    click.echo("costs: the bill on both sides only when every run has one, else the catalog estimate on both "
               "(a bill holds charges and discounts the estimate does not)")
    click.echo(f"runs/year: from each job's unpaused schedule, else the observed gaps between its runs "
               f"({CADENCE_DOC})")


def now_from(p: Any) -> str:
    """Which runs NOW/RUN is the cost of: the applied recommendation's, the cluster as found's, or the fallback."""
    if p.current_source == "applied":
        return f"rec {p.current_recommendation_id} ({p.current_runs})"
    if p.current_source == "applied_over_sla":
        return f"rec {p.current_recommendation_id} ({p.current_runs}, over SLA)"
    if p.current_source == "original":
        return f"as found ({p.current_runs})"
    return f"last {p.current_runs}" if p.current_source else "-"


def runs_behind(p: Any) -> str:
    """How many runs the saving rests on, "preliminary" under FIRM_RUNS a side (docs/savings.md).

    The reply names the runs behind now/run (``current_runs``) and before/run (``baseline_runs``).
    A reply always has a baseline run, so 0 there is a server that predates the field (proto3 reads
    an unsent int32 as 0): now's side alone then."""
    baseline = getattr(p, "baseline_runs", 0)
    if not baseline:
        if p.current_runs >= FIRM_RUNS:
            return ""
        return f" ({p.current_runs} run{'' if p.current_runs == 1 else 's'} now, preliminary)"
    if hasattr(p, "HasField") and p.HasField("preliminary"):  # the server's verdict: it also knows an
        # extrapolated baseline
        preliminary = p.preliminary
    else:
        preliminary = min(baseline, p.current_runs) < FIRM_RUNS or getattr(p, "per_gb_unproven", False)
    tail = ", preliminary" if preliminary else ""
    return f" ({baseline} vs {p.current_runs} runs{tail})"


def project_notes(p: Any, has_sla: bool | None = True) -> list[str]:
    """What a reader needs to weigh a row: the fallback (``has_sla``: whether the project has an SLA,
    None: unknown), a revert to the cluster as found, mixed bills, runs left out."""
    notes = []
    if p.basis == NOT_COMPARABLE:
        # The server's own words name the run and the kind of change (an older server sends none).
        notes.append((getattr(p, "not_comparable_note", "") or
                      "not comparable: the workload changed (a code change or a runtime regression, marked on "
                      "`trimtab timeline`) and the cluster as found never ran it, so its cost then is no measure of "
                      "a saving; no saving now nor projection is shown")
                     + "; saved to date counts the runs before the change")
    if p.current_source == "recent":
        within = {True: " within the SLA", False: "", None: " (within the SLA, when the project has one)"}[has_sla]
        notes.append(f"the recommendation applied now has no succeeded run{within} yet: "
                     f"now/run is the last {p.current_runs} succeeded Trimtab runs, learning trials included")
    if p.current_source == "applied_over_sla":
        notes.append(f"every succeeded run of the recommendation applied now ran over the SLA (a plan made while the "
                     f"SLA is out of reach aims at a working SLA above it, or runs the fastest measured when the "
                     f"project's working SLA is off: its reason says which): now/run is its "
                     f"{p.current_runs} succeeded run(s)")
    if p.current_source == "original":
        notes.append("reverted to the cluster as found: now/run is the cost before Trimtab, so no saving now; "
                     "saved to date keeps what Trimtab's runs saved")
    if p.cost_basis == "estimate" and p.billed_runs:
        notes.append(f"{p.billed_runs} of the runs compared have a bill; not all do, so every run is compared "
                     "on its catalog estimate")
    if p.user_edited_runs:
        notes.append(f"{p.user_edited_runs} run(s) on a cluster edited outside Trimtab are left out of "
                     "before, now and saved to date")
    if getattr(p, "baseline_note", ""):
        notes.append(p.baseline_note)
    if getattr(p, "repriced_runs", 0):
        notes.append(f"{p.repriced_runs} run(s) priced under another plan when collected are compared here with "
                     f"their DBUs at the workspace's plan now ({getattr(p, 'dbu_plan', '') or 'today'}), so both "
                     "sides use one price list; `run list` and the timeline show their stored costs")
    if p.cadence_note:
        notes.append(p.cadence_note)
    return notes


def _runs_a_year(count: float) -> str:
    """Whole runs, but a job that runs every four years (29 February) is 0.25, not 0."""
    return f"{count:.0f}" if count >= 10 else f"{round(count, 2):g}"
