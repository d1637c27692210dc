"""How the workspace services reach a workspace: the settings the server sets once at start
(`configure`), a gateway with the workspace's token (or service principal's OAuth secret) decrypted for one use (`gateway_for`), and the
outcome of its calls recorded on the workspace (`recording_status`).

Every call that reaches Databricks records the outcome on the workspace:
a refused token sets its status to ``error`` with the one clear message, which
``workspace show`` prints; the next successful call sets it back to ``ok``.

Split from `server.services.workspaces`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from server.clock import Clock, SystemClock
from server.costing.catalog import PriceCatalog
from server.databricks import (
    DatabricksGateway,
    DatabricksUnavailable,
    GatewayConfig,
    WorkspaceAuthError,
    WorkspaceUnreachable,
)
from server.domain import Workspace
from server.onboard import AgentWiring
from server.render.workspace_text import M2M_NO_PERMISSION
from server.services.secrets import SecretBox
from server.store import Store

GatewayFactory = Callable[[GatewayConfig, Clock], DatabricksGateway]


def _real_gateway(config: GatewayConfig, clock: Clock) -> DatabricksGateway:
    return DatabricksGateway(config, clock=clock)


@dataclasses.dataclass
class Integration:
    """What the server sets once at start (`configure`): how agents reach it, the clock.

    Module-level because the servicers call these functions with (store, secrets, ...) only;
    the process has one server, so one setting.
    """

    wiring: AgentWiring | None = None
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    gateway_factory: GatewayFactory = _real_gateway
    # The price catalog the server prices runs with: a region is checked against it.
    catalog: PriceCatalog | None = None
    # The agent wheel import uploads beside the init script (None: built from the source tree).
    # How long one call of a paged import starts jobs for (`ServerConfig.import_page_seconds`).
    import_page_s: float = 60.0


_integration = Integration()


def configure(*, wiring: AgentWiring | None = None, clock: Clock | None = None,
              gateway_factory: GatewayFactory | None = None, catalog: PriceCatalog | None = None,
              import_page_s: float | None = None) -> None:
    """Set the server-wide integration settings (called by the server at start)."""
    if import_page_s is not None:
        _integration.import_page_s = import_page_s
    if catalog is not None:
        _integration.catalog = catalog
    if wiring is not None:
        _integration.wiring = wiring
    if clock is not None:
        _integration.clock = clock
    if gateway_factory is not None:
        _integration.gateway_factory = gateway_factory


def agent_wiring() -> AgentWiring:
    """The configured wiring, else the address agents reach this server at from the environment."""
    if _integration.wiring is not None:
        return _integration.wiring
    address = os.environ.get("TRIMTAB_ADVERTISE") or os.environ.get("TRIMTAB_LISTEN") or "127.0.0.1:50051"
    return AgentWiring(server_address=address)


def gateway_for(store: Store, secrets: SecretBox, workspace: Workspace | str,
                retry_timeout_s: int | None = None) -> DatabricksGateway:
    """A gateway on the workspace, with its token decrypted for this use only (``retry_timeout_s``:
    a shorter retry budget than a collector's call gets, for a person waiting on the answer)."""
    ws = store.workspaces.get(workspace) if isinstance(workspace, str) else workspace
    held = store.workspaces.secrets(ws.name)
    # A PAT, or the service principal's OAuth client secret (the SDK fetches its access tokens).
    # Named, so that every gateway on the workspace shares its service principal's one access token.
    config = GatewayConfig(host=ws.host, token=secrets.decrypt(held.token_encrypted), client_id=held.client_id,
                           workspace=ws.name)
    if retry_timeout_s is not None:
        config = dataclasses.replace(config, retry_timeout_s=retry_timeout_s)
    return _integration.gateway_factory(config, _integration.clock)


# The status the collector gives a workspace it could not reach (`server.collect.health.UNREACHABLE`).
UNREACHABLE = "unreachable"


def check_answers(workspace: Workspace, gateway: DatabricksGateway) -> None:
    """For a workspace the collector found unreachable: one short probe (`DatabricksGateway.probe`),
    and `FailedPrecondition` at once when it still does not answer, instead of a call spending its
    whole retry budget (a minute and more) while a person waits and, for apply and revert, while the
    project is locked. A workspace not marked unreachable is not probed."""
    if workspace.status != UNREACHABLE:
        return
    try:
        gateway.probe()
    except DatabricksUnavailable as err:
        last = workspace.last_error or err.message
        raise WorkspaceUnreachable(f"workspace {workspace.name} is unreachable (last error: {last}): try again "
                                   "when it answers") from err


def refused_remedy(workspace: Workspace, error: str) -> str:
    """What gives ``workspace`` credentials Databricks accepts, in a command's words (``error``: the
    refusal's; a service principal's 403 with a working secret asks for access, not a new secret)."""
    if workspace.client_id:
        add = (f"`trimtab workspace add {workspace.name} --host URL --client-id ID --client-secret-env VAR "
               "--replace`")
        if M2M_NO_PERMISSION in error:
            return f"once a workspace admin grants that access, {add} with the same secret tries at once"
        return f"a new client secret: {add}"
    return (f"a new token (or the permission the error names): `trimtab workspace add {workspace.name} --host URL "
            "--token-env VAR --replace`")


@contextmanager
def recording_status(store: Store, workspace: Workspace) -> Iterator[None]:
    """Record a refused token (or its recovery) on the workspace around Databricks calls."""
    try:
        yield
    except WorkspaceAuthError as err:
        store.workspaces.set_status(workspace.name, "error", str(err))
        # A person's command (apply, revert, import) says what gives the workspace working credentials:
        # the error alone said only "refused the token" (multi-workspace review). The stored status
        # keeps the error itself; `workspace show` adds its own hint.
        raise WorkspaceAuthError(f"{err.message}; {refused_remedy(workspace, err.message)}") from err
    if workspace.status != "ok":
        store.workspaces.set_status(workspace.name, "ok")
