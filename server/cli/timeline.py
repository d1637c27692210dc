"""`trimtab timeline P [--out FILE.png|FILE.html|FILE.svg]`: a compact terminal chart by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from server.cli.context import CliContext, admin_call, message_dict, print_json


def chart_from_message(reply: Any) -> Any:
    """The `ProjectTimeline` of a `trimtab.v1.Timeline` reply (drawn exactly as the server would)."""
    from server.timeline import TimelinePoint, build_timeline

    points = [TimelinePoint(
        run_id=int(p.run_id) if p.run_id.isdigit() else 0, start_time_ms=p.start_time_ms, runtime_s=p.runtime_s,
        cost=p.cost, phase=p.phase, outcome=p.outcome, anomalies=tuple(p.anomalies),
        applied_recommendation_id=int(p.applied_recommendation_id) if p.applied_recommendation_id else None,
        input_gb=p.input_gb if p.HasField("input_gb") else None,
        setup_s=p.setup_s if p.HasField("setup_s") else None, execution_only=p.execution_only,
        sla_s=p.sla_seconds if p.HasField("sla_seconds") else None) for p in reply.points]
    project = reply.project
    title = f"{project.job_name} ({project.name})" if project.job_name else project.name
    return build_timeline(points, reply.sla_seconds if reply.HasField("sla_seconds") else None, title,
                          working_sla_seconds=reply.working_sla_seconds if reply.HasField("working_sla_seconds")
                          else None)


@click.command(name="timeline")
@click.argument("project")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the chart to FILE.png, FILE.html or FILE.svg instead of the terminal.")
@click.option("--width", type=click.IntRange(min=10), default=72, show_default=True,
              help="Runs shown in the terminal (the latest).")
@click.pass_obj
def cli(ctx: CliContext, project: str, out: Path | None, width: int) -> None:
    """Runtime and cost of PROJECT's runs over time, with phases, applies and anomalies."""
    from protos.trimtab.v1 import admin_pb2

    if out is not None and out.suffix.lower() not in (".png", ".html", ".htm", ".svg"):
        raise click.UsageError(f"--out {out}: the file must end in .png, .html or .svg")
    if out is not None and not out.parent.is_dir():
        # Checked before the call so a typo in the folder does not cost the server a timeline.
        raise click.UsageError(f"cannot write {out}: no such directory")
    reply = admin_call(ctx, "ProjectServiceStub", "GetTimeline", admin_pb2.GetTimelineRequest(project=project))
    chart = chart_from_message(reply)
    if out is not None:
        from server.render import write_timeline
        from server.render.fmt import counted

        try:
            write_timeline(chart, out)
        except OSError as exc:  # permissions, a full disk: the path and the reason, not errno text
            raise click.ClickException(f"cannot write {out}: {(exc.strerror or str(exc)).lower()}") from exc
        if ctx.as_json:
            # --json is for scripts: what was written, as JSON (a sentence here broke `| jq`).
            print_json({"out": str(out), "runs": len(chart.points)})
        else:
            click.echo(f"wrote {out} ({counted(len(chart.points), 'run')})")
    elif ctx.as_json:
        print_json(message_dict(reply))
    else:
        from server.render.terminal import render_terminal

        click.echo(render_terminal(chart, width=width))
