"""`trimtab db status`: where the schema stands, read-only. `trimtab db upgrade`: bring the database
schema to this version's. `trimtab db compact-events`: drop old events' verbatim copies; `trimtab db
prune`: delete old runs' per-executor detail (run both from cron, like `mlflow gc`).

A schema newer than this code is refused by every command that opens the store (see
`server.store.migrate`), `db status` excepted: it only reports it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from server.cli.context import MAX_AGE_SECONDS, CliContext, parse_duration, print_json
from server.cli.store_options import NO_DATABASE_HINT, config_from, require_database, store_options

if TYPE_CHECKING:  # the CLI stays light: the store is imported when a command opens it
    from server.store import Store


@click.group(name="db")
def cli() -> None:
    """Manage the database: schema, stored event copies, old runs' detail."""


@cli.command()
@store_options
@click.pass_obj
def status(ctx: CliContext, db_url: str | None, state_dir: Path | None) -> None:
    """Show the schema revision, this version's, and whether an upgrade is due (changes nothing)."""
    from server.store import engine as db
    from server.store import migrate
    from server.store.urls import parse_url, shown_url

    config = config_from(db_url, state_dir, database_only=True)
    # The configuration refused a URL that does not parse (in words that show none of it), so this
    # only reads its parts.
    url = parse_url(config.database_url)
    shown = shown_url(url)
    path = url.database if url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not Path(path).is_file():
        # Never connected to: that would create the file, and a status look must leave no trace.
        # "behind 8 migrations: `trimtab db upgrade` applies them" read as if a database were there
        # (a typo in --state-dir); `token list` and the others say this too.
        raise click.UsageError(f"no Trimtab database at {shown}: {NO_DATABASE_HINT}")
    engine = db.make_engine(config.database_url)
    try:
        found = migrate.status(engine)
    finally:
        engine.dispose()
    if ctx.as_json:
        print_json({"database": shown, "revision": found.current, "head": found.head,
                    "behind": found.behind, "newer": found.newer, "state": found.state})
        return
    click.echo(f"database:  {shown}")
    click.echo(f"revision:  {found.current or 'none (no Trimtab schema yet)'}")
    click.echo(f"head:      {found.head} (this Trimtab)")
    if found.newer:
        click.echo("state:     newer than this code: run the newer Trimtab version, or restore a backup")
    elif found.behind:
        plural = "s" if found.behind != 1 else ""
        click.echo(f"state:     behind {found.behind} migration{plural}: `trimtab db upgrade` applies them")
    else:
        click.echo("state:     up to date")


@cli.command()
@store_options
@click.pass_obj
def upgrade(ctx: CliContext, db_url: str | None, state_dir: Path | None) -> None:
    """Apply every migration not applied yet."""
    from server.store import migrate, open_store

    config = config_from(db_url, state_dir, database_only=True)
    require_database(db_url, state_dir, config, may_create=True)
    store = open_store(config.database_url, upgrade=True)
    try:
        revision = migrate.current_revision(store.engine)
    finally:
        store.close()
    if ctx.as_json:
        print_json({"database": store.url, "revision": revision})
    else:
        click.echo(f"database {store.url} is at revision {revision}")


@cli.command("compact-events")
@click.option("--older-than", "older_than", required=True, metavar="DURATION",
              help="Events received longer ago than this, e.g. 90d or 2160h.")
@store_options
@click.pass_obj
def compact_events(ctx: CliContext, older_than: str, db_url: str | None, state_dir: Path | None) -> None:
    """Drop the verbatim copy of events received before --older-than ago.

    Everything read from them stays: applications, stages, executors, driver peaks, runs and
    recommendations, and each event's key, so a re-sent old event is still a duplicate. Events
    of a kind this server does not know (from a newer agent) keep their copy, their only one.
    The copies were about half of the demo's database (12 runs of 3 jobs); nothing but an
    upgrade that reads old events again would need them.
    """
    store, cutoff_ms = _existing_store_and_cutoff(older_than, db_url, state_dir)
    try:
        events, dropped = store.ingest.compact_event_payloads(cutoff_ms)
    finally:
        store.close()
    if ctx.as_json:
        print_json({"database": store.url, "received_before_ms": cutoff_ms, "events": events, "bytes": dropped})
    else:
        click.echo(f"dropped the stored copy of {events} events received before {older_than} ago "
                   f"({dropped / 2**20:.1f} MiB) in {store.url}")


@cli.command()
@click.option("--older-than", "older_than", required=True, metavar="DURATION",
              help="Runs that started longer ago than this, e.g. 90d or 2160h.")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@store_options
@click.pass_obj
def prune(ctx: CliContext, older_than: str, dry_run: bool, db_url: str | None, state_dir: Path | None) -> None:
    """Delete the per-executor detail of runs that started before --older-than ago.

    Goes: each stage's per-executor peaks, the executors, their gauges, the driver's peaks, the
    Spark jobs and SQL executions, and agents' status and batch records not seen for a week as
    well. Stays: every run's summary (runtime, cost, configuration, outcome, input size,
    anomalies, SLA), its stages (the planner and savings compare runs' stage structure), each event's
    key (a re-sent event is still a duplicate), and all the detail of each project's newest 50
    runs, whatever their age. Safe while the server runs.
    """
    from server.store.repos.retention import KEEP_NEWEST_RUNS

    store, cutoff_ms = _existing_store_and_cutoff(older_than, db_url, state_dir)
    try:
        report = store.retention.prune_detail(cutoff_ms, dry_run=dry_run)
    finally:
        store.close()
    if ctx.as_json:
        print_json({"database": store.url, "dry_run": dry_run, "started_before_ms": cutoff_ms,
                    "newest_kept_per_project": KEEP_NEWEST_RUNS, "runs": report.runs,
                    "applications": report.applications, "rows": report.rows})
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} the per-executor detail of {report.runs} runs ({report.applications} Spark applications) "
               f"that started before {older_than} ago, each project's newest {KEEP_NEWEST_RUNS} runs excepted, "
               f"in {store.url}:")
    width = max(len(name) for name in report.rows)
    for name, rows in report.rows.items():
        click.echo(f"  {name:<{width}}  {rows:>10,} rows")
    click.echo("kept: every run's summary and cost, its stages, and each event's key")
    if dry_run:
        click.echo("nothing deleted (--dry-run)")
    elif store.is_sqlite and any(report.rows.values()):
        # SQLite reuses the freed pages for new rows but keeps the file's size until a VACUUM.
        click.echo("note: the SQLite file keeps its size (new rows reuse the space); to shrink it, stop the server "
                   "and run `sqlite3 <file> VACUUM` (it needs free disk space the size of the file)")


def _existing_store_and_cutoff(older_than: str, db_url: str | None, state_dir: Path | None) -> tuple[Store, int]:
    """The store of an existing database (never created, never upgraded: these commands only delete)
    and the cutoff `--older-than` names, in ms since the epoch."""
    from server.clock import SystemClock
    from server.store import open_store

    seconds = parse_duration(older_than, "--older-than", max_seconds=MAX_AGE_SECONDS)
    config = config_from(db_url, state_dir, database_only=True)
    require_database(db_url, state_dir, config, may_create=False)
    store = open_store(config.database_url, upgrade=False)
    return store, SystemClock().now_ms() - int(seconds * 1000)
