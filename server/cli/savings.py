"""`trimtab savings [P]`: savings to date and projected annual savings (see docs/savings.md)."""

from __future__ import annotations

import click

from server.cli.context import CliContext, admin_call, message_dict, print_json, print_table

CADENCE_DOC = "docs/savings.md"


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
        fraction = 1 - p.current_cost_per_run / p.baseline_cost_per_run if p.baseline_cost_per_run > 0 else None
        rows.append((p.project_id, p.project_name, money(p.baseline_cost_per_run, cur),
                     money(p.current_cost_per_run, cur), percent(fraction), money(p.saved_to_date, cur),
                     money(p.projected_annual, cur), p.basis.replace("_", " "), p.runs,
                     f"{p.runs_per_year:.0f} ({p.cadence_basis})" if p.cadence_basis else "-"))
    if not rows:
        click.echo("no savings yet: a project needs a run as found and a run with an applied recommendation")
        return
    print_table(rows, ["ID", "PROJECT", "BEFORE/RUN", "NOW/RUN", "SAVING", "SAVED TO DATE",
                       "PROJECTED/YEAR", "BASIS", "RUNS", "RUNS/YEAR"])
    click.echo(f"total saved to date {money(reply.total_saved_to_date, cur)}, "
               f"projected annual {money(reply.total_projected_annual, cur)}")
    for p in reply.projects:
        if p.cadence_note:
            click.echo(f"{p.project_name}: {p.cadence_note}")
    click.echo(f"runs/year: from each job's unpaused schedule, else the observed gaps between its runs "
               f"({CADENCE_DOC})")
