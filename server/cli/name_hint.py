""""did you mean sb?" for a workspace name typed in another case.

Workspace names are stored as added (`workspace add Prod` stores ``Prod``) and are unique whatever
their case (`SB` beside `sb` is refused), yet every lookup is exact: `workspace show SB` and
`project show SB/1/main` were NOT_FOUND with no hint although ``sb`` was there. Matching in any case
on the server would change what every RPC resolves a name to, so the CLI says what it meant instead:
after a NOT_FOUND, it lists the workspaces and names the one the typed name matches but for case
(one at most, by that uniqueness). Any RPC whose request names a workspace (``name``, ``workspace``)
or a project (``project``, ``<workspace>/<job_id>/<cluster_key>``) gets it, in `context.admin_call`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# The request fields holding a workspace name, by the RPC's method.
WORKSPACE_FIELDS = {"GetWorkspace": "name", "UpdateWorkspace": "name", "RemoveWorkspace": "name",
                    "AddWorkspace": "name", "ImportJobs": "workspace", "ListProjects": "workspace",
                    "ListAgents": "workspace"}


def typed_workspace(method: str, request: Any) -> tuple[str, str] | None:
    """(the workspace name in `request`, what to suggest instead of it: "workspace" or "project"), or None."""
    field = WORKSPACE_FIELDS.get(method)
    if field is not None and getattr(request, field, ""):
        return getattr(request, field), "workspace"
    ref = getattr(request, "project", "") if "project" in _fields(request) else ""
    workspace, sep, rest = ref.strip().partition("/")
    if sep and workspace and rest:
        return workspace, "project"
    return None


def _fields(request: Any) -> set[str]:
    descriptor = getattr(request, "DESCRIPTOR", None)
    return {f.name for f in descriptor.fields} if descriptor is not None else set()


def same_but_case(typed: str, names: Iterable[str]) -> str | None:
    """The name in `names` that `typed` matches but for case, when `typed` itself is not one."""
    names = list(names)
    if typed in names:
        return None
    return next((n for n in names if n.lower() == typed.lower()), None)


def case_hint(method: str, request: Any, list_workspaces: Callable[[], Iterable[str]]) -> str | None:
    """What to add to a NOT_FOUND answer to `request` ("did you mean ..."), or None.

    `list_workspaces` asks the server for the workspace names; it is called only when the request
    names a workspace, and any failure of it leaves the answer as it was."""
    typed = typed_workspace(method, request)
    if typed is None:
        return None
    name, kind = typed
    try:
        meant = same_but_case(name, list_workspaces())
    except Exception:  # noqa: BLE001 - a hint is a courtesy: the NOT_FOUND is said anyway
        return None
    if meant is None:
        return None
    rule = "workspace names are matched exactly, case included"
    if kind == "workspace":
        return f"did you mean {meant}? W{rule[1:]}"
    return f"did you mean {meant}{request.project.strip()[len(name):]}? Its workspace is {meant}: {rule}"
