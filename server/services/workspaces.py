"""Workspaces — store-only version.

The Databricks-integration part replaces this module (keeping these
signatures): it checks the host and token against the workspace and
implements `import_jobs`. Until then adding, listing and showing work from
the store, and importing says what it needs.
"""

from __future__ import annotations

import json

from server.domain import ImportResult, Workspace
from server.errors import FailedPrecondition, InvalidArgument
from server.services.secrets import SecretBox, mask
from server.store import Store

CLOUDS = ("aws", "azure")


def add_workspace(store: Store, secrets: SecretBox, name: str, host: str, token: str, cloud: str,
                  plan: str = "premium", region: str = "", cloud_credentials_json: str = "") -> Workspace:
    """Store a workspace with its token (and cloud credentials) encrypted."""
    for field, value in (("name", name), ("host", host), ("token", token)):
        if not value.strip():
            raise InvalidArgument(f"{field}: must not be empty")
    if cloud not in CLOUDS:
        raise InvalidArgument(f"cloud: must be one of {', '.join(CLOUDS)}, not {cloud!r}")
    if not host.startswith(("http://", "https://")):
        raise InvalidArgument(f"host: {host!r} is not an http(s) URL")
    credentials = None
    if cloud_credentials_json:
        try:
            json.loads(cloud_credentials_json)
        except ValueError as exc:
            raise InvalidArgument("cloud_credentials_json: not valid JSON") from exc
        credentials = secrets.encrypt(cloud_credentials_json)
    workspace = Workspace(name=name, host=host.rstrip("/"), cloud=cloud, plan=plan or "premium",
                          region=region, token_masked=mask(token))
    return store.workspaces.add(workspace, secrets.encrypt(token), credentials)


def list_workspaces(store: Store) -> list[Workspace]:
    return store.workspaces.list()


def get_workspace(store: Store, name: str) -> Workspace:
    return store.workspaces.get(name)


def import_jobs(store: Store, secrets: SecretBox, workspace: str, job_ids: list[int],
                dry_run: bool = False) -> ImportResult:
    store.workspaces.get(workspace)
    raise FailedPrecondition("importing jobs needs the Databricks integration, which this build lacks")
