"""Whether a workspace's agent-token secret is accepted by this server, said at import.

Databricks does not give a secret's value back (its secrets/get serves DBUtils on a cluster), so import
cannot check the value against the token table itself. The agents do present it, on every call, and the
auth interceptor checks it against the token table and keeps each cluster's last refusal
(`server.agent_refusals`, this process's memory): a refusal from a cluster of the workspace's jobs since
this database's agent token for the workspace was made says the secret holds something else. The value
is never read or printed. A plain import that finds so says it and the fix (it does not overwrite: the
value may be another server's token); one that replaces the secret (--take-over, or no live token here)
says what it replaced.
"""

from __future__ import annotations

import datetime as dt

from server.agent_refusals import SHARED, AgentRefusal, AgentRefusals
from server.domain import ApiToken, Workspace
from server.onboard import AgentWiring
from server.store import Store

# A project's runs whose clusters are matched with refusals (the newest; a job cluster's name names its job too).
RECENT_RUNS = 20

NOT_ACCEPTED = ("the agents' token secret {scope}/{key} (last written {written}) is not accepted by this server: "
                "{count} cluster(s) of this workspace's jobs were refused since this database's agent token {name!r} "
                "was made ({made}), the latest {cluster} at {at}: {reason}. A plain import leaves the secret as it "
                "is (it may hold another server's token); `trimtab workspace import {workspace} --take-over` writes "
                "a token of this server there (clusters that start after it send; a cluster still running since "
                "before {made} keeps the value it read)")
REPLACED = ("wrote a new agent token {name!r} (id {token_id}) into secret {scope}/{key}{why}, replacing the value "
            "last written {written}: {what}")


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ms else "at an unknown time"


def _written(ms: int | None) -> str:
    return f"{_when(ms)} (Databricks' clock)" if ms else "at a time Databricks did not say"


def _cluster(r: AgentRefusal) -> str:
    return f"cluster {r.cluster_id}" + (f" of job {r.job_id}" if r.job_id is not None else "")


def refused_clusters(store: Store, ws: Workspace, since_ms: int,
                     refusals: AgentRefusals = SHARED) -> list[AgentRefusal]:
    """The refusals (latest first) since ``since_ms`` (this server's clock) of clusters of ``ws``'s jobs:
    named job-<job>-run-<run> for one of its projects' jobs, or a cluster one of its recent runs ran on."""
    refused = [r for r in refusals.latest() if r.at_ms >= since_ms]
    if not refused:
        return []
    projects = store.projects.list(ws.name)
    jobs = {p.job_id for p in projects}
    clusters = {r.cluster_id for p in projects if p.id is not None
                for r in store.runs.newest_first(int(p.id), limit=RECENT_RUNS) if r.cluster_id}
    return [r for r in refused if r.job_id in jobs or r.cluster_id in clusters]


def _newest_live(store: Store, ws: Workspace, name: str) -> ApiToken | None:
    live = [t for t in store.tokens.list()
            if t.name == name and t.scope == "agent" and not t.revoked and t.workspace == ws.name]
    return max(live, key=lambda t: t.created_at_ms, default=None)


def not_accepted(store: Store, ws: Workspace, wiring: AgentWiring, name: str, written_ms: int | None,
                 refusals: AgentRefusals = SHARED) -> str | None:
    """Why the secret a plain import leaves as it is (a live token ``name`` is here) is not accepted, or None."""
    token = _newest_live(store, ws, name)
    if token is None:
        return None
    refused = refused_clusters(store, ws, token.created_at_ms, refusals)
    if not refused:
        return None
    latest = refused[0]
    return NOT_ACCEPTED.format(scope=wiring.secret_scope, key=wiring.secret_key, written=_written(written_ms),
                               count=len(refused), name=name, made=_when(token.created_at_ms),
                               cluster=_cluster(latest), at=_when(latest.at_ms), reason=latest.reason,
                               workspace=ws.name)


def replaced(store: Store, ws: Workspace, wiring: AgentWiring, new: ApiToken, written_ms: int | None,
             take_over: bool, refusals: AgentRefusals = SHARED) -> str:
    """What an import writing ``new`` into a held secret replaced, as far as this server can tell."""
    before = [t for t in store.tokens.list() if t.name == new.name and t.scope == "agent"
              and t.workspace == ws.name and t.token_id != new.token_id]
    live = [t for t in before if not t.revoked]
    since = max((t.created_at_ms for t in live), default=0)
    refused = refused_clusters(store, ws, since, refusals)
    if refused:
        what = (f"this server refused the agents of {len(refused)} cluster(s) of this workspace's jobs, the latest "
                f"{_cluster(refused[0])} at {_when(refused[0].at_ms)}: {refused[0].reason}")
    elif live:
        newest = max(live, key=lambda t: t.created_at_ms)
        what = (f"this database's token {newest.name!r} (id {newest.token_id}, made {_when(newest.created_at_ms)}) "
                "unless something wrote the secret since; no agent of this workspace was refused since this server "
                "started")
    elif before:
        what = "a token this database made and revoked since, or a value it never made"
    else:
        what = "a value this database never made (another server's token, or one written by hand)"
    why = " (--take-over)" if take_over else " (this database holds no live agent token for the workspace)"
    return REPLACED.format(name=new.name, token_id=new.token_id, scope=wiring.secret_scope, key=wiring.secret_key,
                           why=why, written=_written(written_ms), what=what)
