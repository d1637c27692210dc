"""`trimtab savings [P]`: savings to date and projected annual savings (see docs/savings.md)."""

from __future__ import annotations

import click

from server.cli.context import CliContext, admin_call, message_dict, print_json, print_table
from server.cli.given import Given

# The wording `trimtab savings` and the dashboard's project page share (no server code: the CLI stays light).
from server.render.savings_text import (  # noqa: F401 - now_from, runs_behind, _runs_a_year: used by tests too
    CADENCE_DOC,
    FIRM_RUNS,
    NOT_COMPARABLE,
    now_from,
    project_notes,
    runs_a_year,
    runs_behind,
    saving_now,
)
from server.render.savings_text import runs_a_year as _runs_a_year  # noqa: F401 - the older name


@click.command(name="savings")
@click.argument("project", required=False, default=None,
                type=Given("a project id or <workspace>/<job_id>/<cluster_key>", "for every project"))
@click.pass_obj
def cli(ctx: CliContext, project: str | None) -> None:
    """Per project and in total, against the cost before Trimtab (per GB of input when input drives runtime)."""
    from protos.trimtab.v1 import admin_pb2
    from server.render.fmt import money, percent

    reply = admin_call(ctx, "ProjectServiceStub", "GetSavings", admin_pb2.GetSavingsRequest(project=project or ""))
    if ctx.as_json:
        print_json(message_dict(reply))
        return
    cur = reply.currency or "USD"
    rows = []
    for p in reply.projects:
        comparable = p.basis != NOT_COMPARABLE
        fraction = saving_now(p)
        rows.append((p.project_id, p.project_name, money(p.baseline_cost_per_run, cur),
                     money(p.current_cost_per_run, cur),
                     percent(fraction) + runs_behind(p) if comparable else "not comparable",
                     money(p.saved_to_date, cur) + (" (preliminary)" if p.saved_to_date_preliminary else ""),
                     money(p.projected_annual, cur) if comparable else "-", p.basis.replace("_", " "),
                     p.cost_basis or "-",
                     now_from(p), p.runs,
                     f"{runs_a_year(p.runs_per_year)} ({p.cadence_basis})" if p.cadence_basis else "-"))
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
               "to the cluster as found, the cost before Trimtab (marked 'as found'); while the job runs a cluster "
               "you set outside Trimtab, what its runs cost, no saving (marked 'your edit')")
    click.echo(f"saving: marked preliminary, and the projection from it, while it rests on fewer than {FIRM_RUNS} "
               "runs before or now (one run's setup time alone varies by minutes); per input GB after the input "
               "size shifted, 'not comparable' after a code change")
    click.echo("costs: the bill on both sides only when every run has one, else the catalog estimate on both "
               "(a bill holds charges and discounts the estimate does not)")
    click.echo(f"runs/year: from each job's unpaused schedule, else the observed gaps between its runs "
               f"({CADENCE_DOC})")
