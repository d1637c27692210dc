"""`trimtab agent list`: what each agent last reported, and what it could not deliver or read."""

from __future__ import annotations

import shlex
import time
from typing import Any

import click

from server.cli.context import CliContext, admin_call, format_duration, message_dict, print_json, print_table
from server.cli.given import Given
from server.cli.run import MAX_PAGE, when

# What each kind of loss means and what to do, said once under the table when any agent has it.
# The settings are the agent's (`agent/config.py`); on a Databricks job cluster they go into the
# cluster's `spark_env_vars`, which the init script passes on to the agent.
SPOOL_FULL = ("dropped: its disk spool filled (the server was unreachable, or refused its token, for long) and "
              "the oldest batches were deleted; those stages and executors are lost to its runs. Find why delivery "
              "failed (the agent's WARNINGs in /databricks/trimtab/agent.log) and raise the spool's bound, "
              "TRIMTAB_AGENT_SPOOL_BYTES (default 256 MiB), in the cluster's spark_env_vars")
UNREADABLE = ("corrupt/oversized: event-log lines it could not read, or longer than TRIMTAB_AGENT_MAX_LINE "
              "(default 16 MiB; raise it for oversized ones); the agent's log names each file")
SPARK_DROPPED = ("spark dropped: Spark's own listener bus dropped events, its queue full; those of the eventLog queue "
                 "never reached the event log the agent reads (a stage may lack its completion): raise "
                 "spark.scheduler.listenerbus.eventqueue.capacity (default 10000) in the cluster's Spark conf")
PARKED = ("parked: batches the server rejected, kept in the agent's state/spool/parked/: upgrade the server, "
          "then `trimtab-agent replay-parked --state-dir DIR` while the agent is stopped")
UNREAD = ("unread at stop: its stop (SIGTERM, the cluster ending) came before it had read its event logs to their "
          "end, and what it had not read was never sent: `trimtab project backfill <project> --eventlogs <the "
          "cluster's log destination>` reads the rest from the delivered event log (docs/agent.md)")
EXPLAIN = {"dropped": SPOOL_FULL, "corrupt": UNREADABLE, "spark": SPARK_DROPPED, "parked": PARKED, "unread": UNREAD}


@click.group(name="agent")
def cli() -> None:
    """Agents on Spark drivers: version, cluster, and what they could not deliver."""


def _last_seen(ms: int, now_ms: int) -> str:
    if not ms:
        return "-"
    age = max(0, now_ms - ms) / 1000
    return f"{when(ms)} ({format_duration(age)} ago)"


def _losses(c: Any) -> list[tuple[str, str]]:
    """(what, key of its explanation) for each kind of loss in counters ``c``; empty when none."""
    found = []
    if c.events_dropped_spool_full or c.batches_dropped_spool_full:
        found.append((f"{c.events_dropped_spool_full:,} event(s) in {c.batches_dropped_spool_full:,} batch(es) "
                      "dropped (spool full)", "dropped"))
    if c.lines_corrupt or c.lines_oversized:
        found.append((f"{c.lines_corrupt:,} corrupt and {c.lines_oversized:,} oversized line(s)", "corrupt"))
    spark = sum(c.spark_dropped_events.values())
    if spark:
        queues = ", ".join(f"{q} {n:,}" for q, n in sorted(c.spark_dropped_events.items()) if n)
        found.append((f"Spark dropped {spark:,} event(s) ({queues})", "spark"))
    if c.batches_rejected:
        found.append((f"{c.batches_rejected:,} batch(es) rejected by the server and parked", "parked"))
    if c.file_bytes_unread_at_stop:
        found.append((f"{c.file_bytes_unread_at_stop:,} file bytes of event logs left unread at its stop", "unread"))
    return found


def other_builds(agents: Any, build: str) -> list[str]:
    """One line per workspace whose most recently seen listed agent runs another build than the one
    the server uploads (``build``; empty from an older server: nothing said). Only the latest agent
    counts: job clusters are new every run, so older agents of a workspace are its history, and
    the latest one shows what its clusters install now."""
    if not build:
        return []
    latest: dict[str, Any] = {}
    for a in agents:
        if a.workspace not in latest or a.last_seen_ms > latest[a.workspace].last_seen_ms:
            latest[a.workspace] = a
    lines = []
    for ws, a in sorted(latest.items()):
        if a.version == build:
            continue
        whose = f"workspace {ws}" if ws else "agents without a workspace"
        again = f"`trimtab workspace import {shlex.quote(ws)}`" if ws else "importing their workspace again"
        lines.append(f"{whose}: its latest agent ({a.agent_id}, cluster {a.cluster_id or '-'}) runs agent "
                     f"{a.version or 'of unknown version'}, not this server's {build}: its clusters install the wheel "
                     f"an earlier import put there. {again} uploads this server's beside the init script (with "
                     "TRIMTAB_AGENT_WHEEL_LOCATION set, put it there yourself); each cluster installs it at its next start")
    return lines


def _none_listed(workspace: str, cluster: str) -> str:
    """What an empty list means, for the filters given."""
    on = f" on cluster {cluster}" if cluster else ""
    if not workspace:
        return f"no agent{on} has reported yet: agents report with every batch they send (docs/agent.md)"
    # Not "none of W's agents reported": an agent is W's once a token bound to W reports it first
    # among bound tokens. One reported only by unbound tokens, or not since the upgrade that added
    # workspaces to agents, is listed with WORKSPACE - whoever's it is.
    return (f"no agent{on} is listed under workspace {workspace} yet: an agent is listed under the workspace of "
            "the first workspace-bound token that reports it; agents shown with WORKSPACE - by 'trimtab agent "
            "list' were reported only by unbound tokens, or not since the server's upgrade (docs/agent.md)")


@cli.command(name="list")
@click.option("--workspace", type=Given("a workspace name", "for every workspace's agents"), default=None,
              help="Only this workspace's agents (the first workspace-bound token that reported each was its).")
@click.option("--cluster", type=Given("a Databricks cluster id", "for the agents on every cluster"), default=None,
              help="Only the agents on this Databricks cluster id.")
@click.option("--limit", type=click.IntRange(min=1, max=MAX_PAGE), default=50, show_default=True,
              help=f"Agents to list, most recently seen first, 1 to {MAX_PAGE}.")
@click.pass_obj
def list_agents(ctx: CliContext, workspace: str | None, cluster: str | None, limit: int) -> None:
    """Most recently seen first, with their counters (cumulative, as of each agent's last batch)."""
    from protos.trimtab.v1 import admin_pb2

    reply = admin_call(ctx, "RunServiceStub", "ListAgents",
                       admin_pb2.ListAgentsRequest(workspace=workspace or "", cluster_id=cluster or "", limit=limit))
    if ctx.as_json:
        # Every field, zeros and empty ones too (docs/agent.md: "--json has every counter"): `message_dict`.
        print_json([message_dict(a) for a in reply.agents])
        return
    if not reply.agents:
        click.echo(_none_listed(workspace or "", cluster or ""))
        return
    now_ms = int(time.time() * 1000)
    rows = []
    for a in reply.agents:
        c = a.counters
        dropped = (f"{c.events_dropped_spool_full:,} ({c.batches_dropped_spool_full:,} batches)"
                   if c.events_dropped_spool_full or c.batches_dropped_spool_full else "0")
        rows.append((a.agent_id, a.version or "-", a.cluster_id or "-", a.workspace or "-",
                     _last_seen(a.last_seen_ms, now_ms), f"{a.batches_received:,}", f"{c.events_sent:,}", dropped,
                     f"{c.lines_corrupt:,}/{c.lines_oversized:,}", f"{sum(c.spark_dropped_events.values()):,}"))
    print_table(rows, ["AGENT", "VERSION", "CLUSTER", "WORKSPACE", "LAST SEEN (UTC)", "BATCHES", "SENT",
                       "DROPPED", "CORRUPT/OVERSIZED", "SPARK DROPPED"])
    # On stderr: the table stays the same shape for whoever reads stdout.
    kinds: set[str] = set()
    for a in reply.agents:
        losses = _losses(a.counters)
        if losses:
            click.echo(f"agent {a.agent_id} (cluster {a.cluster_id or '-'}): "
                       + "; ".join(what for what, _ in losses), err=True)
            kinds.update(k for _, k in losses)
    for kind, text in EXPLAIN.items():
        if kind in kinds:
            click.echo(f"  {text}", err=True)
    for line in other_builds(reply.agents, reply.agent_build):
        click.echo(line, err=True)
