"""The one gateway between Trimtab and a Databricks workspace.

Everything Trimtab asks of Databricks goes through :class:`DatabricksGateway`;
the modules of this package are the only ones that import ``databricks.sdk``, and only
once a gateway is built (importing the SDK costs ~1 s; see `client`). Requests and answers are
plain dicts exactly as the REST API shapes them: the SDK's dataclasses drop
fields they do not know, and a cluster spec has to travel through Trimtab
without losing anything the user set, so calls go through the SDK's
``api_client.do`` (which still brings PAT auth, error mapping and retries).

The gateway is one class put together from parts, each a module with one job:
`transport` (`GatewayConfig`, one call's deadline and retries, `retrying_5xx_for`), `translate`
(the SDK's errors in Trimtab's words), `jobs_api` (jobs, runs, clusters), `storage_api` (secrets,
files, the artifact allowlist) and `paths` (the REST paths); `call_stop` and `stoppable_http` end a
stopping server's calls (its retry waits, a GET waiting for its answer). `probe` stays here, since it builds
a gateway of its own. Every public name this module had before the split is still importable from
here (`__all__`), so callers import from `server.databricks` (or this module) as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

# Re-exported: these lived in this module before it was split, and callers and tests import them
# from here.
from server.databricks.errors import (
    DatabricksCallError,
    DatabricksNotFound,
    DatabricksRejected,
    DatabricksRequestInvalid,
    DatabricksServerError,
    DatabricksUnavailable,
    WorkspaceAuthError,
)
from server.databricks.jobs_api import JOB_PAGED_ARRAYS, RUN_PAGED_ARRAYS, JobsApi
from server.databricks.paths import (
    ARTIFACT_ALLOWLISTS,
    CLUSTERS,
    DBFS,
    FILES,
    INSTANCE_POOLS,
    JOBS,
    POLICIES,
    SECRETS,
    WORKSPACE,
)
from server.databricks.storage_api import StorageApi
from server.databricks.translate import DatabricksPermissionDenied
from server.databricks.transport import GatewayConfig, retrying_5xx_for

__all__ = [
    "ARTIFACT_ALLOWLISTS",
    "CLUSTERS",
    "DBFS",
    "FILES",
    "INSTANCE_POOLS",
    "JOBS",
    "JOB_PAGED_ARRAYS",
    "POLICIES",
    "PROBE_BUDGET_S",
    "RUN_PAGED_ARRAYS",
    "SECRETS",
    "WORKSPACE",
    "DatabricksCallError",
    "DatabricksGateway",
    "DatabricksNotFound",
    "DatabricksPermissionDenied",
    "DatabricksRejected",
    "DatabricksRequestInvalid",
    "DatabricksServerError",
    "DatabricksUnavailable",
    "GatewayConfig",
    "WorkspaceAuthError",
    "call_or_none",
    "retrying_5xx_for",
]

T = TypeVar("T")


# The retry budget of `DatabricksGateway.probe`: a dead host costs this, not `retry_timeout_s`.
PROBE_BUDGET_S = 10


class DatabricksGateway(JobsApi, StorageApi):
    """Jobs, runs, clusters and secrets of one workspace, as plain dicts."""

    def probe(self, budget_s: int = PROBE_BUDGET_S) -> None:
        """`check_token` within ``budget_s`` of retries instead of the full budget: whether a
        workspace found unreachable answers again. Its tries (1, 2, 4, ... polls apart) then cost
        the other workspaces' collection seconds, not a whole call's retry budget each, while a
        workspace that answers gets the full budget for its real calls."""
        short = replace(self._cfg, retry_timeout_s=min(budget_s, self._cfg.retry_timeout_s),
                        http_timeout_s=min(float(budget_s), self._cfg.http_timeout_s))
        DatabricksGateway(short, clock=self._clock).check_token()


def call_or_none(fn: Callable[[], T]) -> T | None:
    """``fn()``, or None when what it asks for does not exist."""
    try:
        return fn()
    except DatabricksNotFound:
        return None
