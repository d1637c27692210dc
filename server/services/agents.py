"""The agents, as the CLI reads them: what each last reported with its batches."""

from __future__ import annotations

from server.domain import AgentStatus
from server.errors import InvalidArgument
from server.services.runs import MAX_PAGE
from server.store import Store

DEFAULT_LIMIT = 50


def list_agents(store: Store, workspace: str = "", cluster_id: str = "", limit: int = 0) -> list[AgentStatus]:
    """The ``limit`` agents seen last (0: `DEFAULT_LIMIT`, at most `MAX_PAGE`), newest first; only
    ``workspace``'s (the first workspace-bound token that reported each was its) or ``cluster_id``'s when given.

    An empty list for a workspace no agent has (on any cluster) is NotFound when no such workspace
    is connected either, so a typo is not read as "its agents report nothing". A removed workspace
    whose agents are still stored lists them."""
    if limit < 0:
        raise InvalidArgument("limit: must not be negative")
    # In any case, as `projects.list_projects` finds a workspace.
    workspace = workspace and (store.workspaces.stored_name(workspace) or workspace)
    found = store.ingest.agents(workspace=workspace or None, cluster_id=cluster_id or None,
                                limit=min(limit or DEFAULT_LIMIT, MAX_PAGE))
    if workspace and not found and not (cluster_id and store.ingest.agents(workspace=workspace, limit=1)):
        store.workspaces.get(workspace)  # NotFound: "workspace 'nope' not found"
    return found
