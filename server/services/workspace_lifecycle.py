"""A workspace's life after `workspace add`: re-pointed at a new host, removed, how current its status is.

Re-pointing (`set_host`) is for the same Databricks workspace at a new URL (it moved; the sandbox
emulator came back on another port). Its projects, runs and recommendations stay, so the new host
must be that workspace: the token, given again, must pass a real call there, and when the workspace has
attached projects, at least one of their clusters there must carry its own ``trimtab:project-id``
tag (another workspace's jobs may share the ids, never the tags this server wrote). With no
attached project nothing can tell, and the reply says so.

Removing (`remove_workspace`) forgets the workspace and its token, and revokes the agent tokens bound to
it (a workspace added again under the name makes its own). It is refused while projects are
attached (their jobs carry Trimtab's init script and tag; `project detach` puts each back as it
was). Detached and orphaned projects stay in the store with their history.
"""

from __future__ import annotations

import logging

from server.databricks import DatabricksGateway
from server.databricks.m2m_tokens import forget_workspace
from server.domain import Project, Workspace
from server.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from server.onboard import PROJECT_TAG
from server.services import workspaces
from server.services.secrets import SecretBox, mask
from server.services.workspace_identity import check_tags
from server.store import Store

log = logging.getLogger(__name__)

# A person waits on `workspace set --host`: the identity check reads at most this many jobs.
MAX_JOBS_CHECKED = 10


def watched(store: Store, workspace: Workspace) -> bool:
    """Whether the collector reaches the workspace every poll (`server.collect.collector._poll_workspace`):
    it has an attached project, or auto-import is on. Otherwise its status is as of the last command
    that reached it, however long ago."""
    return workspace.auto_import or any(not (p.detached or p.orphaned) for p in store.projects.list(workspace.name))


def replace_note(store: Store, secrets: SecretBox, name: str, token: str, client_id: str = "") -> str:
    """For `add --replace`: "" or that the token (with ``client_id``: the service principal's client
    secret) given is the one stored (the call still checks it, sets the status back to ok and applies
    any plan/region given)."""
    try:
        held = store.workspaces.secrets(store.workspaces.stored_name(name) or name)
        stored = secrets.decrypt(held.token_encrypted)
    except FailedPrecondition:  # a token this server cannot decrypt is being replaced: not the same one
        return ""
    if stored != token or held.client_id != client_id:
        return ""
    return ("client secret unchanged (the one given is the one stored)" if client_id
            else "token unchanged (the one given is the one stored)")


def set_host(store: Store, secrets: SecretBox, name: str, host: str, token: str,
             client_id: str = "") -> tuple[Workspace, str]:
    """Re-point workspace ``name`` at ``host`` once it answers there, with ``token``, as the same workspace;
    (the workspace, what was checked). `FailedPrecondition` (nothing changed) when the token fails there
    or the host answers as another workspace.

    The token is the caller's, never the stored one: sending the stored token to a host named in the
    request would let anyone holding an admin token collect the workspace's Databricks token at a host
    of their own. Stored with the host (a workspace that moved may have a new token too). With
    ``client_id``, ``token`` is that service principal's OAuth client secret, given again likewise."""
    ws = store.workspaces.named(name)
    name = ws.name  # found in any case (`workspaces.get_workspace`); written, said and logged as stored
    host = workspaces.check_host(host)
    if workspaces.same_host(host, ws.host):
        # With a token or a secret, the person likely means to switch how it authenticates (or rotate):
        # `add --replace` is the way, and checks what it is given.
        switch = (f": to change how it authenticates or rotate its secret, use `trimtab workspace add {name} --host "
                  f"{ws.host} --token-env VAR --replace` (a PAT) or `... --client-id ID --client-secret-env VAR "
                  "--replace` (a service principal)") if token.strip() or client_id else ""
        raise InvalidArgument(f"host: workspace {name!r} is at {host} already{switch}")
    # Two names on one host would share its agents' token secret: the second's import takes the first's agents.
    workspaces.refuse_host_taken(store, name, host)
    token = token.strip()
    if not token:
        if client_id:
            raise InvalidArgument("client_secret: re-pointing a workspace needs its service principal's client secret "
                                  "given again (`--client-secret-env VAR`): the stored one is never sent to a new host")
        raise InvalidArgument("token: re-pointing a workspace needs its Databricks token given again "
                              "(`--token-env VAR`, or `--client-id ID --client-secret-env VAR` for a service "
                              "principal): the stored one is never sent to a new host")
    # As `workspace add` checks them, before they go anywhere.
    workspaces.check_token(token, "client_secret" if client_id else "token")
    if client_id:
        workspaces.check_client_id(client_id)
    gateway = workspaces.check_reaches(name, host, token, "re-pointed", client_id=client_id)
    attached = [p for p in store.projects.list(name) if not (p.detached or p.orphaned)]
    checked = _identity(gateway, name, host, attached, "the service principal" if client_id else "the token")
    # Cloud credentials kept; the way of authenticating is the one given.
    try:
        updated = store.workspaces.set_host(name, host, secrets.encrypt(token), mask(token), client_id=client_id)
    except AlreadyExists:
        # Another name took the host during the checks' calls: the unique index on host (0028) refused this
        # one, said as the check says it.
        workspaces.refuse_host_taken(store, name, host)
        raise
    log.info("workspace %s: host %s -> %s (%s)", name, ws.host, host, checked)
    return updated, f"host {ws.host} -> {host}; checked: {checked}"


def _identity(gateway: DatabricksGateway, name: str, host: str, attached: list[Project], who: str) -> str:
    """What shows ``host`` is workspace ``name``; `FailedPrecondition` when its jobs say it is another.
    ``who``: what was accepted, as the workspace authenticates ("the token", "the service principal")."""
    if not attached:
        return (f"{who} is accepted at {host}; workspace {name} has no attached project, so "
                "nothing tells whether it is the same Databricks workspace")
    check = check_tags(gateway, attached, MAX_JOBS_CHECKED)
    matched, missed = [p.name for p in check.matched], check.missed
    if not matched:
        raise FailedPrecondition(
            f"workspace {name!r} not re-pointed: {host} accepts {who} but answers as another Databricks "
            f"workspace ({'; '.join(missed[:3])}). Another workspace is added under its own name "
            "(`trimtab workspace add`)")
    found = f"{len(matched)} of {check.checked} attached project(s) checked"
    return (f"{who} is accepted at {host}, and its jobs carry the {PROJECT_TAG} tags of "
            f"{found} ({', '.join(matched[:3])}{', ...' if len(matched) > 3 else ''})")


def remove_workspace(store: Store, name: str) -> tuple[list[str], int]:
    """Forget workspace ``name`` and its token, and revoke the agent tokens bound to it; (the names of its
    detached and orphaned projects, which stay with their history; how many agent tokens were revoked).
    `FailedPrecondition` naming the attached projects, nothing removed or revoked."""
    name = store.workspaces.named(name).name  # found in any case; its projects and tokens name it as stored
    kept = [p.name for p in store.projects.list(name) if p.detached or p.orphaned]
    removal = store.workspaces.remove(name)
    if removal.attached:
        attached = removal.attached
        shown = ", ".join(attached[:5]) + (f" and {len(attached) - 5} more" if len(attached) > 5 else "")
        raise FailedPrecondition(
            f"workspace {name!r} not removed: it has {len(attached)} attached project(s) ({shown}); "
            f"`trimtab project detach <project>` puts each job back as it was, then remove the workspace")
    # Its service principal's access token goes with it (a workspace added again under the name fetches its own).
    forget_workspace(name)
    log.info("workspace %s removed (%d detached/orphaned project(s) kept, %d agent token(s) revoked)",
             name, len(kept), removal.tokens_revoked)
    return kept, removal.tokens_revoked


def update(store: Store, secrets: SecretBox, name: str, *, host: str | None = None, token: str = "",
           client_id: str = "", auto_import: bool | None = None, plan: str | None = None, region: str | None = None,
           cloud_credentials_json: str | None = None, skip_billing_check: bool = False
           ) -> tuple[Workspace, str]:
    """`workspaces.update_workspace`, or with ``host`` `set_host`; (the workspace, a note or "").

    A host goes alone: its check calls Databricks and may refuse, and a refusal must leave every
    setting as it was, so it is not mixed with settings saved on their own."""
    if host is None:
        if token.strip() or client_id:
            # Only a new host takes a token here (the stored one is never sent to it): a token alone
            # was answered OK and stored nowhere, so a script "rotated" a token that stayed as it was.
            raise InvalidArgument("token: goes with host (re-pointing the workspace); to rotate the workspace's "
                                  "token or client secret, use AddWorkspace with replace=true (`trimtab workspace add "
                                  "NAME --host URL --token-env VAR --replace`, or `--client-id ID --client-secret-env "
                                  "VAR --replace`), which checks it and stores it")
        return workspaces.update_workspace(store, name, auto_import=auto_import, plan=plan, region=region,
                                           cloud_credentials_json=cloud_credentials_json, secrets=secrets,
                                           skip_billing_check=skip_billing_check), ""
    if (auto_import, plan, region, cloud_credentials_json) != (None, None, None, None):
        raise InvalidArgument("host: change it on its own (`trimtab workspace set NAME --host URL --token-env VAR`), then the "
                              "other settings")
    return set_host(store, secrets, name, host, token, client_id)
