"""Whose the agents' token secret is, before an import writes a new token into it.

Every cluster of a Databricks workspace onboarded by this server reads its agent's token from one
secret (`trimtab/agent-token`, `TRIMTAB_AGENT_SECRET`), and import writes into it a token bound to the
workspace name it imports into. So a write is refused when the secret is read by agents it would cut
off: another workspace name of this database that is the same Databricks workspace and has attached
projects (`SHARED_SECRET`, whatever is asked), or, unless ``take_over``, a token this database never made
(`FOREIGN_SECRET`: another server's). Split from `server.services.agent_install`, which writes it.
"""

from __future__ import annotations

from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.errors import FailedPrecondition
from server.onboard import PROJECT_TAG, AgentWiring
from server.services.workspace_checks import same_host
from server.services.workspace_identity import check_tags
from server.store import Store


def agent_token_name(ws: Workspace) -> str:
    """The name of the token import writes into the workspace's secret for its agents."""
    return f"agent-{ws.name}"


# Why an import does not overwrite a token secret this database never wrote (`prepare_agent`). Kept within
# the API's 512 characters (`server.api.errors.capped`), with `FOREIGN_OWN_NAMES`, for short names.
FOREIGN_SECRET = ("workspace {workspace}: secret {scope}/{key} holds an agent token this database never made (no "
                  "token {name!r}, nor one of another name of it at this host){elsewhere}: another Trimtab server's, "
                  "or this one's before its database was replaced, whose agents an overwrite would cut off. "
                  "--take-over if this server is to be the workspace's Trimtab; beside the other server, give this "
                  "one its own secret (TRIMTAB_AGENT_SECRET=SCOPE/KEY)")
# Said in `FOREIGN_SECRET` when this database made agent tokens for other workspace names: the secret may
# be one of theirs, the same Databricks workspace added again under another URL (their jobs did not say so).
FOREIGN_OWN_NAMES = ". If it is workspace {names} under another URL, use that name"
# Why an import does not write the token secret at all, --take-over or not: another workspace name of this
# database is the same Databricks workspace and has projects whose agents read that secret.
SHARED_SECRET = ("workspace {workspace!r} is the same Databricks workspace as {other!r} ({why}), whose clusters "
                 "read their agent token from secret {scope}/{key}: one of {workspace!r} written there would cut "
                 "the agents of {other}'s {count} attached project(s) ({projects}) off their runs. Nothing written "
                 "(--take-over too). Import into {other!r} and `trimtab workspace remove {workspace}`; to keep "
                 "{workspace!r}, detach the projects of {other} and remove it first")
# How many of another workspace's jobs an import reads to tell whether it is the same Databricks workspace.
SAME_WORKSPACE_JOBS = 3


def _same_workspaces(store: Store, gateway: DatabricksGateway, ws: Workspace, *,
                     read_jobs: bool) -> list[tuple[Workspace, str]]:
    """The other workspace names of this database that are ``ws``'s Databricks workspace, each with what
    says so: its host is ``ws``'s in another spelling, or, with ``read_jobs`` (host names cannot tell: a
    workspace has several), its attached projects' jobs at ``ws``'s host carry their own
    ``trimtab:project-id`` tags: a few jobs are read for each other workspace with attached projects."""
    same: list[tuple[Workspace, str]] = []
    for other in store.workspaces.list():
        if other.name == ws.name:
            continue
        if same_host(other.host, ws.host):
            same.append((other, f"the same host, {other.host}"))
            continue
        attached = [p for p in store.projects.list(other.name) if not (p.detached or p.orphaned)] if read_jobs else []
        if not attached:
            continue
        check = check_tags(gateway, attached, SAME_WORKSPACE_JOBS, unreadable_is_missed=True)
        if check.matched:
            project = check.matched[0]
            same.append((other, f"its job {project.job_id} there carries {PROJECT_TAG}={project.id} of {project.name}"))
    return same


def _wrote_secret(store: Store, ws: Workspace, name: str, same: list[tuple[Workspace, str]]) -> bool:
    """Whether this database may have written the workspace's token secret: it made an agent token
    for the workspace (``name``, revoked or live), for another name of this database that is the same
    Databricks workspace (``same``: the workspace added a second time), or for a workspace since
    removed (added again under a new name, or at a new address: a persistent sandbox back on another port)."""
    names = {w.name for w in store.workspaces.list()}
    ours = {w.name for w, _why in same}
    return any(t.scope == "agent" and (t.name == name or (t.workspace is not None
                                                          and (t.workspace in ours or t.workspace not in names)))
               for t in store.tokens.list())


def check_secret(store: Store, gateway: DatabricksGateway, ws: Workspace, wiring: AgentWiring, *,
                 take_over: bool = False) -> None:
    """FailedPrecondition when `prepare_agent` would refuse to write the token secret: `SHARED_SECRET`,
    or `FOREIGN_SECRET` without ``take_over``. What a dry run says."""
    held = gateway.has_secret(wiring.secret_scope, wiring.secret_key)
    if not held or take_over or not has_live_token(store, ws):
        refuse_unsafe_write(store, gateway, ws, wiring, held=held, take_over=take_over)
    else:
        refuse_same_host(store, ws, wiring)


def refuse_same_host(store: Store, ws: Workspace, wiring: AgentWiring) -> None:
    """`SHARED_SECRET` when another name of this database at ``ws``'s host (another spelling) has
    attached projects. A live agent token of ``ws``'s name is taken to be what the secret holds, so
    the full check (`refuse_unsafe_write`) is skipped then; but a store an older Trimtab let one
    workspace into under two spellings of its host may hold the other name's instead (its last import
    wrote it). This check costs no call, so it is made anyway: the import is refused naming the other
    name, rather than onboarding more clusters whose agents send as that one."""
    for other in store.workspaces.list():
        if other.name != ws.name and same_host(other.host, ws.host):
            _refuse_shared(store, ws, wiring, other, f"the same host, {other.host}")


def _refuse_shared(store: Store, ws: Workspace, wiring: AgentWiring, other: Workspace, why: str) -> None:
    """`SHARED_SECRET` when ``other`` (``why``: what says it is ``ws``'s Databricks workspace) has
    attached projects."""
    attached = [p.name for p in store.projects.list(other.name) if not (p.detached or p.orphaned)]
    if attached:
        shown = ", ".join(attached[:2]) + (", ..." if len(attached) > 2 else "")
        raise FailedPrecondition(SHARED_SECRET.format(workspace=ws.name, other=other.name, why=why,
                                                      count=len(attached), projects=shown,
                                                      scope=wiring.secret_scope, key=wiring.secret_key))


def names_sharing_a_host(workspaces: list[Workspace]) -> list[tuple[str, str]]:
    """Pairs of workspace names whose hosts are one host spelled two ways (`same_host`): an older
    Trimtab accepted them, and their clusters share one agents' secret (`SHARED_SECRET`)."""
    return [(a.name, b.name) for i, a in enumerate(workspaces) for b in workspaces[i + 1:] if same_host(a.host, b.host)]


def has_live_token(store: Store, ws: Workspace) -> bool:
    """Whether this database holds a live agent token of ``ws``'s name bound to it (what the secret then holds)."""
    name = agent_token_name(ws)
    return any(t.name == name and t.scope == "agent" and not t.revoked and t.workspace == ws.name
               for t in store.tokens.list())


def refuse_unsafe_write(store: Store, gateway: DatabricksGateway, ws: Workspace, wiring: AgentWiring, *, held: bool,
                 take_over: bool) -> None:
    """Refuse (FailedPrecondition) to write a new token of ``ws`` into the agents' secret while another
    workspace name of this database is the same Databricks workspace with attached projects
    (`SHARED_SECRET`): every cluster there reads the one secret, so their agents would send under
    ``ws``'s token, and their runs be stored with no applications and no input size, both workspaces
    `ok`. Then, unless ``take_over``, refuse to overwrite a held secret this database never made a
    token for (`FOREIGN_SECRET`). Jobs are read only for a held secret: one not there is read by no
    agent (a cluster whose secret reference is missing does not start), so a new workspace's first
    import costs no calls for the other workspaces."""
    same = _same_workspaces(store, gateway, ws, read_jobs=held)
    for other, why in same:
        _refuse_shared(store, ws, wiring, other, why)
    name = agent_token_name(ws)
    if held and not take_over and not _wrote_secret(store, ws, name, same):
        made = sorted({t.workspace for t in store.tokens.list()
                       if t.scope == "agent" and t.workspace not in (None, ws.name)})
        elsewhere = FOREIGN_OWN_NAMES.format(names=" or ".join(repr(n) for n in made[:3])) if made else ""
        raise FailedPrecondition(FOREIGN_SECRET.format(workspace=ws.name, scope=wiring.secret_scope,
                                                       key=wiring.secret_key, name=name, elsewhere=elsewhere))
