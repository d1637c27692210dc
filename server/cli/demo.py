"""`trimtab demo [--runs N] [--state-dir DIR]`: the whole closed loop locally (see `server.demo`)."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from server.cli.context import CliContext, print_json, print_table
from server.cli.output import unescaped
from server.cli.store_options import Directory
from server.render.fmt import counted


def _default_state_dir() -> Path:
    from server.config import default_state_dir

    return default_state_dir() / "demo"


def _check_speed(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    """The sandbox's own limit (`sandbox.workspace.config.check_speed`): click's FloatRange lets nan and inf
    through, and the demo then ran with them."""
    from sandbox.workspace.config import check_speed

    try:
        return check_speed(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from exc


def _check_rate(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """The simulator's own check (`sandbox.sim.spot_market.check_rate`): FloatRange lets nan and inf through."""
    from sandbox.sim.spot_market import check_rate

    try:
        return None if value is None else check_rate(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from exc


@click.command(name="demo")
@click.option("--runs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Runs of each job this time (a second invocation adds more).")
# No variable: TRIMTAB_STATE_DIR, read here before, is the server's directory (README's commands
# export it), and a demo there wrote into the server's own database.
@click.option("--state-dir", type=Directory(),
              default=None, help="Where the demo keeps everything  [default: <data dir>/demo].")
@click.option("--speed", type=click.FloatRange(min=1), default=100.0, show_default=True, callback=_check_speed,
              help="Simulated seconds per wall-clock second, at most 1000000.")
@click.option("--spot-loss-rate", type=click.FloatRange(min=0), default=None, callback=_check_rate,
              help="Spot instances the emulator reclaims per spot node-hour  [default: 0.9, some 3% per spot "
                   "node of a typical run].")
@click.pass_obj
def cli(ctx: CliContext | None, runs: int, state_dir: Path | None, speed: float,
        spot_loss_rate: float | None) -> None:
    """Run three jobs N times on the sandbox workspace while Trimtab tunes them."""
    from server.demo import DEMO_JOBS, DemoConfig, check_demo_dir, run_demo

    state_dir = state_dir or _default_state_dir()
    check_demo_dir(state_dir)  # before its log is written there
    state_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(state_dir / "demo.log")
    config = DemoConfig(state_dir=state_dir, runs=runs, speed=speed, spot_loss_rate=spot_loss_rate)
    as_json = ctx is not None and ctx.as_json
    click.echo(f"trimtab demo: {counted(len(DEMO_JOBS), 'job')} x {counted(runs, 'run')} in {state_dir} "
               f"(log: {state_dir / 'demo.log'})",
               err=as_json)
    # The bar writes to stderr under main()'s escaping (server.cli.output): it draws with \r and ESC
    # sequences of its own, and its labels are the demo's own job names.
    with click.progressbar(length=runs * len(DEMO_JOBS), label="running jobs", show_pos=True,
                           file=unescaped(click.get_text_stream("stderr"))) as bar:
        def progress(name: str, round_no: int, run: Any) -> None:
            bar.label = f"round {round_no}: {name}" + ("" if run is not None else " (not collected)")
            bar.update(1)

        result = run_demo(config, progress)
    if as_json:
        print_json(_as_dict(result))
        return
    _print_summary(result)


def _log_to_file(path: Path) -> None:
    # The terminal shows the progress bar; what the server parts say goes to the state directory.
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _print_summary(result: Any) -> None:
    from server.render.fmt import duration, money, percent

    rows = []
    for job in result.jobs:
        phases = " ".join(f"{p[0].upper()}{job.phases.get(p, 0)}"
                          for p in ("baseline", "learning", "optimizing", "monitoring"))
        sla = f"{percent(job.sla_met_fraction)} of {duration(job.sla_seconds)}" if job.sla_seconds else "no SLA"
        per_year = "-" if job.projected_annual is None else \
            f"{money(job.projected_annual)} ({job.runs_per_year:.0f} runs, {job.cadence_basis})"
        rows.append((job.name, job.runs, money(job.start_cost), duration(job.start_runtime_s),
                     money(job.final_cost), duration(job.final_runtime_s), _saving(job), per_year,
                     sla, phases))
    click.echo("")
    print_table(rows, ["JOB", "RUNS", "START COST", "START TIME", "FINAL COST", "FINAL TIME", "SAVING",
                       "PROJECTED/YEAR", "SLA MET", "PHASES (B/L/O/M)"])
    _print_problems(result)
    for note in _summary_notes(result.jobs):
        click.echo(note)
    click.echo(f"\n{result.runs_ingested_completely}/{result.runs_simulated} simulated runs ingested completely "
               f"by the agents; {result.rounds_total} rounds so far.")
    click.echo("\nClusters, imported -> now:")
    for job in result.jobs:
        p = job.project
        click.echo(f"  {job.name}: {_cluster(p.original_spec)} -> {_cluster(p.current_spec)}")
    from server.render.terminal import LEGEND

    for job in result.jobs:
        click.echo("")
        click.echo(job.terminal_timeline)
    click.echo(LEGEND)
    click.echo("\nTimeline charts:")
    for job in result.jobs:
        click.echo(f"  {job.timeline_png}\n  {job.timeline_html}")
    state = shlex.quote(str(result.state_dir))
    click.echo("\nBrowse it in the dashboard:\n"
               f"  trimtab token create --name me --scope admin --state-dir {state}\n"
               f"  trimtab server start --state-dir {state} --listen 127.0.0.1:0 --http 127.0.0.1:8080\n"
               "Run more (stop that dashboard server first: the demo is its database's server while it runs):\n"
               f"  trimtab demo --state-dir {state} --runs 5")


def _summary_notes(jobs: Sequence[Any]) -> list[str]:
    """What a newcomer asked of the table: why the saving stays "preliminary" however long the demo
    runs, and why a final cluster is slower than the one found (both by design, neither said)."""
    from server.services.savings_types import FIRM_RUNS

    notes = []
    if any(job.preliminary for job in jobs):
        notes.append(f"saving: runs as found vs now; marked preliminary, and the projection from it, while "
                     f"either side has fewer than {FIRM_RUNS} runs (one run's setup time alone varies by "
                     "minutes). The demo runs each cluster as found in its first round only, so that side "
                     "keeps its first-round runs.")
    slower = [job for job in jobs if job.start_runtime_s is not None and job.final_runtime_s is not None
              and job.final_runtime_s > job.start_runtime_s]
    if slower:
        names = ", ".join(job.name for job in slower)
        notes.append(f"FINAL TIME above START TIME ({names}): by design. Trimtab runs the cheapest cluster "
                     "whose runtime meets the job's SLA (SLA MET), and without an SLA the cheapest whatever "
                     "its runtime; give a job one with `trimtab project set PROJECT --sla 30m`.")
    return notes


def _saving(job: Any) -> str:
    """The saving and the runs it rests on (the cluster as found vs now), preliminary under 3 a side."""
    from server.render.fmt import percent

    if job.saving_fraction is None:
        return "-"
    tail = ", preliminary" if job.preliminary else ""
    return f"{percent(job.saving_fraction)} ({job.baseline_runs} vs {job.current_runs} runs{tail})"


def _print_problems(result: Any) -> None:
    """Under the table, per job: why its saving is "-" though both sides ran (the workload changed),
    and a planning or auto-apply failure (its figures stopped moving)."""
    from server.cli.project import problem_line

    for job in result.jobs:
        if getattr(job, "not_comparable_note", ""):
            click.echo(f"{job.name}: {job.not_comparable_note}")
        problem = job.project.problem
        if problem is not None:
            click.echo(f"{job.name}: {problem_line(problem.step, problem.run_id, problem.at_ms, problem.message)}")


def _cluster(spec: dict[str, Any] | None) -> str:
    from server.spec import config_from_spec

    if not spec:
        return "-"
    c = config_from_spec(spec)
    size = f"autoscale {c.autoscale_min}-{c.autoscale_max}" if c.autoscale_max else f"x {c.num_workers}"
    spot = ", spot" if c.availability.upper().startswith("SPOT") else ""
    return f"{c.node_type_id} {size}{spot} (driver {c.driver_node_type_id or c.node_type_id})"


def _as_dict(result: Any) -> dict[str, Any]:
    return {"rounds_total": result.rounds_total, "runs_ingested_completely": result.runs_ingested_completely,
            "runs_simulated": result.runs_simulated,
            "jobs": [{"name": j.name, "project": j.project.name, "runs": j.runs, "start_cost": j.start_cost,
                      "start_runtime_s": j.start_runtime_s, "final_cost": j.final_cost,
                      "final_runtime_s": j.final_runtime_s, "saving_fraction": j.saving_fraction,
                      "saving_baseline_runs": j.baseline_runs, "saving_current_runs": j.current_runs,
                      "saving_preliminary": j.preliminary,
                      "sla_seconds": j.sla_seconds, "sla_met_fraction": j.sla_met_fraction, "phases": j.phases,
                      "timeline_png": str(j.timeline_png), "timeline_html": str(j.timeline_html),
                      "problem": j.project.problem.to_json() if j.project.problem else None}
                     for j in result.jobs]}
