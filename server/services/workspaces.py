"""Workspaces: connect one (token checked with a real call, stored encrypted), list, show, import jobs.

Import lists the workspace's jobs (or the named ones), creates one project
per qualified job cluster, and onboards each cluster with one ``jobs/update``
per job that sends the complete entry of every changed key (see
`server.onboard`). It is idempotent: a second import finds the projects and
the specs already onboarded and changes nothing in the workspace; it refreshes
what the store keeps of the job (name, schedule). ``dry_run`` shows the diffs
and changes nothing, neither in the store nor in the workspace.

A detached project is left as it is by an import of every job (and by auto-import): the
person who detached it put the job back as it was. Only an import that names the job
(``job_ids``, `workspace import W --job N`) onboards it again, and says so
(`ImportedProject.reattached`). A job named that way and not found is skipped with
`SkippedJob.not_found`, which
the CLI turns into a failure; an import of every job skips quietly.

A cluster in standard access mode is onboarded only when the service will run Trimtab's
init script there (`server.onboard.standard_access_problem`): import reads the metastore's
INIT_SCRIPT allowlist for that, at most once, and only when a job has such a cluster.

A job whose cluster's ``trimtab:project-id`` tag names an attached project of another workspace of
this server is skipped naming it (`server.services.job_owner`): it is the same Databricks workspace
added twice, and importing would take the job from the project that manages it.

Re-pointing a workspace at a new host and removing one: `server.services.workspace_lifecycle`.

Every call that reaches Databricks records the outcome on the workspace:
a refused token sets its status to ``error`` with the one clear message, which
``workspace show`` prints; the next successful call sets it back to ``ok``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit

from server.apply import (
    AGENT_ENV_PREFIX,
    ONBOARDED_KEY,
    adopt_own_write,
    onboard_record,
    project_lock,
    rebase,
)
from server.clock import Clock, SystemClock
from server.clouds.factory import parse_cloud_credentials
from server.config import is_loopback_host
from server.costing.catalog import PriceCatalog, last_active_catalog, load_catalog
from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksNotFound,
    DatabricksRejected,
    DatabricksUnavailable,
    GatewayConfig,
    WorkspaceAuthError,
    WorkspaceUnreachable,
)
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import (
    DEFAULT_REGIONS,
    ImportedProject,
    ImportResult,
    Project,
    ProjectSettings,
    SkippedJob,
    Workspace,
)
from server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, shown
from server.onboard import (
    TRIMTAB_TAGS,
    AgentWiring,
    AllowlistMatcher,
    ClusterTarget,
    ImportTarget,
    StandardAccess,
    job_schedule,
    onboard_spec,
    qualify,
    run_as_principal,
    script_location,
    spec_diff,
    was_taken_over,
)
from server.plan.policy import POLICY_FILLS_KEY, ClusterPolicy, kept_fills
from server.services.agent_install import (
    DBFS_WARNING,
    REASON_NO_OWNER,
    agent_wheel_plan,
    check_secret,
    grant_secret_read,
    prepare_agent,
    standard_plan,
)
from server.services.billing_credentials import record_check, try_billing_credentials
from server.services.job_owner import (
    NOTE_CLONED,
    as_found,
    cloned_from,
    other_server,
    other_server_reason,
    owned_reason,
    owner_elsewhere,
)
from server.services.projects import required, unplanned_phase
from server.services.secrets import SecretBox, mask
from server.spec import cluster_entry_update, find_cluster_spec, readback_mismatch, spec_drift, written_paths
from server.store import Store

log = logging.getLogger(__name__)

CLOUDS = ("aws", "azure")
# The plan tiers `workspace add` offers (the price catalog's DBU rates are per cloud and plan).
PLANS = ("standard", "premium", "enterprise")
# A person is waiting on `workspace add`: a wrong host fails in seconds, not after the collector's budget.
ADD_CHECK_TIMEOUT_S = 10

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


_integration = Integration()


def configure(*, wiring: AgentWiring | None = None, clock: Clock | None = None,
              gateway_factory: GatewayFactory | None = None, catalog: PriceCatalog | None = None) -> None:
    """Set the server-wide integration settings (called by the server at start)."""
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
    token = secrets.decrypt(store.workspaces.secrets(ws.name).token_encrypted)
    config = GatewayConfig(host=ws.host, token=token)
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


@contextmanager
def recording_status(store: Store, workspace: Workspace) -> Iterator[None]:
    """Record a refused token (or its recovery) on the workspace around Databricks calls."""
    try:
        yield
    except WorkspaceAuthError as err:
        store.workspaces.set_status(workspace.name, "error", str(err))
        raise
    if workspace.status != "ok":
        store.workspaces.set_status(workspace.name, "ok")


# ------------------------------------------------------------------ connect


def add_workspace(store: Store, secrets: SecretBox, name: str, host: str, token: str, cloud: str,
                  plan: str = "", region: str = "", cloud_credentials_json: str = "",
                  replace: bool = False, auto_import: bool | None = None,
                  skip_billing_check: bool = False) -> Workspace:
    """Check the token with a real call, then store the workspace with its secrets encrypted.

    ``plan`` "": premium; ``region`` "": the cloud's default. With ``replace`` the workspace
    must exist with the same host: its token (and its cloud credentials, when given) are
    replaced and its status goes back to ``ok``; a plan or region given replaces the stored
    one (runs priced from then on use it), "" keeps it; the cloud may change only while the
    workspace has no project (`_cloud_change_problem`); auto-import stays unless
    ``auto_import`` is given. This is how a revoked Databricks token is rotated and a wrong
    plan or region put right. ``auto_import`` None: off for a new workspace (importing
    changes jobs, so it is opt-in).

    Cloud credentials given are tried with one bill read (`try_billing_credentials`) unless
    ``skip_billing_check``: refused by the cloud, nothing is stored; not answered, they are stored
    and the failure recorded (`billing_warning` says it).
    """
    for field, value in (("name", name), ("host", host), ("token", token)):
        required(value, field)
    if not replace:
        # Only new names are judged: a workspace stored before the rule keeps working (and its
        # token can still be rotated with ``replace``).
        _check_name(name)
    check_token(token)
    if cloud not in CLOUDS:
        raise InvalidArgument(f"cloud: must be one of {', '.join(CLOUDS)}, not {cloud!r}")
    if plan:
        _check_plan(plan)
    host = check_host(host)
    if (problem := _host_cloud_problem(host, cloud)) is not None:
        raise InvalidArgument(problem)
    credentials = None
    if cloud_credentials_json:
        credentials = secrets.encrypt(cloud_credentials_json)
    existing = store.workspaces.get(name) if replace else None
    if existing is None and _exists(store, name):
        # Before the token check: a person retyping `add` for a workspace they have means one of these.
        raise AlreadyExists(f"workspace {name!r} already exists: `trimtab workspace add {name} ... --replace` "
                            f"rotates its token, `trimtab workspace set {name} --host URL --token-env VAR` re-points it")
    if existing is not None:
        # Checked before the token: a typo in the host must not look like a bad token.
        _same_workspace(existing, host)
        if cloud != existing.cloud:
            problem = _cloud_change_problem(store, existing, cloud, given_credentials=credentials is not None)
            if problem:
                raise FailedPrecondition(problem)
    # Before the token check too (a person is waiting, a typo must not cost a Databricks call), after
    # the cloud change's (a cloud that may not change is the first thing to say).
    # The plan runs will be priced with: the one given, else the one kept (a moved cloud keeps it too).
    effective_plan = plan or (existing.plan if existing is not None else "premium")
    if not (existing is not None and (existing.cloud, existing.plan) == (cloud, effective_plan)):
        # The plan already saved is not checked again, as the region below.
        _check_plan_priced(effective_plan, cloud)
    if region and not (existing is not None and (existing.cloud, existing.region) == (cloud, region)):
        # The region already saved is not checked again (see `update_workspace`).
        _check_region(region, cloud)
    if cloud_credentials_json:
        _check_cloud_credentials(cloud, cloud_credentials_json)
    check_reaches(name, host, token, "updated" if replace else "added")
    # After the token's check (a wrong host is said first, and costs no bill read), before anything is stored.
    check = (try_billing_credentials(name, cloud, cloud_credentials_json, _integration.clock,
                                     "updated" if replace else "added")
             if cloud_credentials_json and not skip_billing_check else None)
    if existing is not None:
        updated = store.workspaces.set_token(name, secrets.encrypt(token), mask(token), credentials)
        if cloud != existing.cloud:
            # The old cloud's region means nothing on the new one: the given region, else the default.
            updated = store.workspaces.set_pricing(name, cloud=cloud, plan=plan or existing.plan, region=region)
            log.info("workspace %s: cloud %s -> %s", name, existing.cloud, cloud)
        else:
            updated = _set_pricing(store, updated, plan=plan or None, region=region or None)
        if auto_import is not None and auto_import != updated.auto_import:
            updated = store.workspaces.set_auto_import(name, auto_import)
        return record_check(store, updated, credentials, check, _integration.clock)
    workspace = Workspace(name=name, host=host, cloud=cloud, plan=plan or "premium",
                          region=region, token_masked=mask(token), auto_import=bool(auto_import))
    return record_check(store, store.workspaces.add(workspace, secrets.encrypt(token), credentials),
                        credentials, check, _integration.clock)


def check_reaches(name: str, host: str, token: str, verb: str) -> DatabricksGateway:
    """A gateway on ``host`` once ``token`` passed a real call there (a person waits: a short retry
    budget); `FailedPrecondition` saying "workspace NAME not VERB: why" otherwise."""
    gateway = _integration.gateway_factory(
        GatewayConfig(host=host, token=token, retry_timeout_s=ADD_CHECK_TIMEOUT_S), _integration.clock)
    try:
        gateway.check_token()
    except WorkspaceAuthError as err:
        raise FailedPrecondition(f"workspace {name!r} not {verb}: {err.message}") from err
    except DatabricksUnavailable as err:
        # No connection: the gateway's message names the host already; a 5xx or 429 past the deadline does not.
        why = err.message if f"cannot reach {host}" in err.message else f"cannot reach {host}: {err.message}"
        raise FailedPrecondition(f"workspace {name!r} not {verb}: {why}") from err
    except DatabricksNotFound as err:
        # The host answered, but not with the Jobs API: a wrong URL (a path, another service). NOT_FOUND
        # would read as "no such workspace name".
        raise FailedPrecondition(f"workspace {name!r} not {verb}: {host} did not answer as a Databricks "
                                 f"workspace (404 on {CHECK_PATH})") from err
    except DatabricksCallError as err:
        # Anything else the host answered (a 400, an oversized request, an unparsable reply) is about
        # this host and these values, never the server's own failure.
        raise FailedPrecondition(f"workspace {name!r} not {verb}: {host} refused the check ({err.message})") from err
    return gateway


def _exists(store: Store, name: str) -> bool:
    try:
        store.workspaces.get(name)
    except NotFound:
        return False
    return True


def check_host(host: str) -> str:
    """``host`` as stored (no trailing '/') when it is an http(s) URL the SDK can build a client for.

    A URL copied from the browser's address bar is taken as the workspace's: its scheme in any case
    (``HTTPS://``), and without the ``?o=<workspace id>`` query and ``#...`` fragment Azure's and the
    UI's pages carry. The SDK kept them in every request's URL, and the check call came back 404,
    "did not answer as a Databricks workspace". On a Databricks workspace domain (`HOST_CLOUDS`) a
    path is a UI page (``/jobs/42``, ``/browse``, ``/compute``) and is dropped too: the API is served
    at the root. Elsewhere a path is kept (a proxy may serve the API under one)."""
    scheme, sep, rest = host.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        host = scheme.lower() + sep + re.split(r"[?#]", rest, maxsplit=1)[0]
        authority, slash, _page = host[len(scheme) + len(sep):].partition("/")
        name = authority.rsplit("@", 1)[-1].split(":", 1)[0].lower().rstrip(".")
        if slash and name.endswith(tuple(suffix for suffix, _cloud in HOST_CLOUDS)):
            host = scheme.lower() + sep + authority
    authority = re.split(r"[/?#]", host.split("://", 1)[-1], maxsplit=1)[0]
    if "@" in authority:
        # Checked first, so no later message echoes it: Databricks takes the token, never a user and
        # password in the URL, and stored, the password would show in `workspace list` and in every
        # log line naming the host.
        raise InvalidArgument("host (--host): must not carry a user name or password (user:password@host): "
                              "give the workspace URL alone, and its token with --token-env")
    if not host.startswith(("http://", "https://")):
        raise InvalidArgument(f"host: {shown(host)} is not an http(s) URL")
    _check_host(host)
    if host.startswith("http://") and not is_loopback_host(urlsplit(host).hostname or ""):
        # Every call carries the workspace's token in its Authorization header: over http:// anyone
        # on the path reads it. Databricks workspaces answer on https:// only; a workspace on this
        # machine (the sandbox's emulator) is the one place plain http is fine.
        raise InvalidArgument(f"host: {shown(host)} would send the workspace's token in clear text: use https:// "
                              "(http:// is only for a workspace on this machine, such as the sandbox)")
    return host.rstrip("/")


# The path `check_token` calls, named when a host answers it with 404.
CHECK_PATH = "/api/2.2/jobs/list"
# Workspace names: they are the first part of project names (``<workspace>/<job_id>/<cluster_key>``,
# split on '/' when looked up), appear in logs and tables, and are typed on the command line.
WORKSPACE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
NAME_RULE = "may contain only letters, digits, '-', '_' and '.' (at most 64 characters)"
# A Databricks PAT is ~40 ASCII characters; OAuth tokens are longer JWTs. 4096 leaves room for
# those while refusing a value that could not fit in an HTTP header most servers accept.
MAX_TOKEN_CHARS = 4096


def _check_name(name: str) -> None:
    if not WORKSPACE_NAME.fullmatch(name):
        raise InvalidArgument(f"name: {shown(name)} {NAME_RULE}")


def check_token(token: str) -> None:
    """A token that can go into an HTTP header: printable ASCII (http.client encodes headers as
    latin-1 and refuses control characters) and not absurdly long."""
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidArgument(f"token: longer than {MAX_TOKEN_CHARS} characters ({len(token)})")
    if not all(" " < c <= "~" for c in token):
        # The token itself is never echoed.
        raise InvalidArgument("token: must be printable ASCII (no spaces, control or non-ASCII characters)")


def _check_host(host: str) -> None:
    """A host the SDK can build a client for: a bad port or IPv6 literal is the user's typo, not a crash;
    a name with an empty or too long label (DNS: at most 63 characters a label, 253 in all) is refused
    here rather than failing deep in the HTTP stack."""
    try:
        parts = urlsplit(host)
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError as exc:
        raise InvalidArgument(f"host: {shown(host)} is not a valid URL ({exc})") from exc
    hostname = parts.hostname
    if not hostname:
        raise InvalidArgument(f"host: {shown(host)} is not a valid URL (no host name)")
    if not all(" " < c <= "~" for c in host):
        raise InvalidArgument(f"host: {shown(host)} is not a valid URL (only printable ASCII; "
                              "an international name goes in its xn-- form)")
    if hostname.startswith("[") or ":" in hostname:
        return  # an IPv6 literal: urlsplit checked it
    if len(hostname) > 253:
        raise InvalidArgument(f"host: {shown(host)} is not a valid URL (host name longer than 253 characters)")
    if any(not label or len(label) > 63 for label in hostname.rstrip(".").split(".")):
        raise InvalidArgument(f"host: {shown(host)} is not a valid URL (a host name label is empty or "
                              "longer than 63 characters)")


# Host name endings that say a workspace's cloud (Databricks' workspace URLs); any other host (a
# private link name, the sandbox on localhost) says nothing and is taken with the cloud given.
HOST_CLOUDS = ((".azuredatabricks.net", "azure"), (".cloud.databricks.com", "aws"))


def _host_cloud_problem(host: str, cloud: str) -> str | None:
    """Why ``host`` cannot be on ``cloud`` (its domain names the other cloud), or None. A workspace
    added on the wrong cloud has every run stored unpriced: its node types are not the cloud's."""
    name = (urlsplit(host).hostname or "").lower()
    for suffix, said in HOST_CLOUDS:
        if name.endswith(suffix) and said != cloud:
            return (f"cloud: {host} is {'an Azure' if said == 'azure' else 'an AWS'} Databricks workspace "
                    f"(*{suffix}), not {cloud}: give --cloud {said}")
    return None


def _same_workspace(existing: Workspace, host: str) -> None:
    """Replacing a token must not silently repoint a workspace: projects and runs belong to it."""
    if existing.host.rstrip("/") != host:
        raise FailedPrecondition(f"workspace {existing.name!r} is {existing.host}, not {host}: --replace only "
                                 "rotates the token (and sets the plan and region given), never the host. The same "
                                 f"workspace at a new URL: `trimtab workspace set {existing.name} --host {host} --token-env VAR`; "
                                 "another workspace: add it under a new name")


def _cloud_change_problem(store: Store, existing: Workspace, cloud: str, *, given_credentials: bool) -> str | None:
    """Why the workspace's cloud may not change now, or None.

    Only while it has no project: a project's node types, driver type and instance families
    were checked against the old cloud's catalog, its runs were priced there and its model
    learned from those prices, so a new cloud would leave them all wrong (a host is on one
    cloud: a workspace with projects on the wrong one was added wrong, and is added again
    under a new name). The old cloud's billing credentials cannot read the new cloud's bill.
    """
    projects = store.projects.list(existing.name)
    if projects:
        return (f"workspace {existing.name!r} is on {existing.cloud}, not {cloud}: its {len(projects)} "
                f"project(s) were sized and priced on {existing.cloud}, so its cloud cannot change; "
                "add the workspace under a new name")
    if existing.has_cloud_credentials and not given_credentials:
        return (f"workspace {existing.name!r}: its cloud billing credentials are for {existing.cloud}; "
                f"give {cloud} credentials (--cloud-credentials-env) to move it to {cloud}")
    return None


def _check_plan(plan: str) -> None:
    if plan not in PLANS:
        raise InvalidArgument(f"plan: must be one of {', '.join(PLANS)}, not {plan!r}")


def _check_plan_priced(plan: str, cloud: str) -> None:
    """`InvalidArgument` for a plan the price catalog has no jobs DBU rate for on ``cloud``.

    Not every cloud sells every plan (Azure Databricks has no Enterprise tier): such a plan would
    be stored, and every run collected afterwards left unpriced (`UnknownPlan`), as a region the
    catalog lacks would (`_check_region`)."""
    known = pricing_catalog().plans(cloud)
    if plan in known:
        return
    raise InvalidArgument(f"plan: the price catalog has no {cloud} DBU rate for the {plan!r} plan (its {cloud} "
                          f"plans: {', '.join(known) or 'none'}); runs on it could not be priced")


def pricing_catalog() -> PriceCatalog:
    """The catalog a region is checked against: the one the server was configured with, else the one
    this process's server read at start (`last_active_catalog`), else the shipped one."""
    return _integration.catalog or last_active_catalog() or load_catalog()


def _check_region(region: str, cloud: str) -> None:
    """`InvalidArgument` for a region the price catalog has no prices for on ``cloud``, naming close ones.

    A typo here ("us-wst-2") would otherwise be stored, and every run collected afterwards would
    be left unpriced, so the planner could price no configuration: the same check as `project set
    --driver-type` makes of a node type (`server.services.projects`)."""
    known = pricing_catalog().regions(cloud)
    if region in known:
        return
    # The helper `project set --driver-type` names close node types with.
    from server.services.projects import _close

    close = _close(region, known, cloud)
    if not close.startswith("close: "):
        # `_close`'s fallback points at the node types; for a region, the few the catalog has are the answer.
        close = f"it has prices for {', '.join(known) or 'none'}"
    article = "an" if cloud[:1] in "aeiou" else "a"
    raise InvalidArgument(f"region: {region!r} is not {article} {cloud} region in the price catalog ({close}); "
                          f"runs there could not be priced. A region Trimtab does not ship: `trimtab prices update "
                          f"--cloud {cloud} --region {region}`, then restart the server (it reads the catalog at "
                          "start)")


def _check_cloud_credentials(cloud: str, text: str) -> None:
    """Refuse billing credentials the server could not use, with the factory's reason (never echoing
    secrets): checked once here rather than found out run after run by the collector, whose note
    would otherwise say the workspace has none."""
    try:
        parse_cloud_credentials(cloud, text)
    except InvalidArgument as exc:
        raise InvalidArgument(f"cloud_credentials_json: {exc.message}") from exc


def _set_pricing(store: Store, workspace: Workspace, *, plan: str | None, region: str | None) -> Workspace:
    """The workspace with the plan and region given (None: unchanged), logged when they change.

    Only what is given is written (`WorkspaceRepository.set_plan_region`): ``workspace`` may be a
    read from before another call's change to the other field, which writing both would undo."""
    if (plan in (None, workspace.plan)) and (region in (None, workspace.region)):
        return workspace
    log.info("workspace %s: %s (runs priced from now on)", workspace.name, ", ".join(
        [f"plan {workspace.plan} -> {plan}"] * (plan not in (None, workspace.plan))
        + [f"region {workspace.region!r} -> {region!r}"] * (region not in (None, workspace.region))))
    return store.workspaces.set_plan_region(workspace.name, cloud=workspace.cloud, plan=plan, region=region)


def list_workspaces(store: Store) -> list[Workspace]:
    return store.workspaces.list()


def get_workspace(store: Store, name: str) -> Workspace:
    return store.workspaces.get(name)


def update_workspace(store: Store, name: str, *, auto_import: bool | None = None, plan: str | None = None,
                     region: str | None = None, cloud_credentials_json: str | None = None,
                     secrets: SecretBox | None = None, skip_billing_check: bool = False) -> Workspace:
    """Change only the settings given (``None``: unchanged); `NotFound` for an unknown name.

    No Databricks call: turning auto-import on takes effect at the collector's next discovery
    pass (`server.collect.discovery`), which is where the workspace is reached. A new plan or
    region prices the runs collected from then on; stored costs are not rewritten (a run still
    waiting for its cloud bill is re-costed with the new one when the bill lands). Both are
    checked before anything is saved, so a refused value changes nothing. Cloud credentials
    (``cloud_credentials_json``, with ``secrets`` to encrypt them) replace the stored ones once
    tried as `add_workspace` tries them: refused by the cloud, nothing changes.
    """
    workspace = store.workspaces.get(name)
    if cloud_credentials_json is not None:
        required(cloud_credentials_json, "cloud_credentials_json")
        _check_cloud_credentials(workspace.cloud, cloud_credentials_json)
    if plan is not None:
        _check_plan(plan)
        if plan != workspace.plan:
            # The plan already saved is not checked again, as the region below.
            _check_plan_priced(plan, workspace.cloud)
    if region is not None and not region.strip():
        # "" is how `add` says "the cloud's default"; here it would be a silent reset (an unset
        # shell variable), so the default region is given by name instead.
        raise InvalidArgument(f"region: must not be empty (the {workspace.cloud} default is "
                              f"{DEFAULT_REGIONS.get(workspace.cloud, '-')})")
    if region is not None and region.strip() != workspace.region:
        # The region already saved is not checked again: a catalog that dropped it since must not
        # block a plan change (the planner names that region as the project's problem instead).
        _check_region(region.strip(), workspace.cloud)
    check = (try_billing_credentials(name, workspace.cloud, cloud_credentials_json, _integration.clock,
                                     "updated")
             if cloud_credentials_json is not None and not skip_billing_check else None)
    workspace = _set_pricing(store, workspace, plan=plan, region=region.strip() if region is not None else None)
    if cloud_credentials_json is not None:
        if secrets is None:
            raise TypeError("update_workspace: cloud credentials need the secret box to be stored")
        credentials = secrets.encrypt(cloud_credentials_json)
        workspace = record_check(store, store.workspaces.set_cloud_credentials(name, credentials), credentials,
                                 check, _integration.clock)
        log.info("workspace %s: cloud billing credentials replaced", name)
    if auto_import is not None and auto_import != workspace.auto_import:
        workspace = store.workspaces.set_auto_import(name, auto_import)
        log.info("workspace %s: auto-import %s", name, "on" if auto_import else "off")
    return workspace


# ------------------------------------------------------------------ import


def import_jobs(store: Store, secrets: SecretBox, workspace: str, job_ids: list[int],
                dry_run: bool = False, *, wiring: AgentWiring | None = None,
                reattach: bool = False, take_over: bool = False) -> ImportResult:
    """One project per qualified job cluster, onboarded; skipped jobs with the reason why.

    A detached project is left alone (reported skipped) unless ``reattach``: set only when a
    person named the job (`workspace import W --job N`), never by auto-import, which passes
    job ids too but must not undo a detach. A job wired to another Trimtab server, and a token
    secret this database never wrote, are left alone unless ``take_over`` (a person's explicit
    `--take-over`; never auto-import's).
    """
    ws = store.workspaces.get(workspace)
    wiring = wiring or agent_wiring()
    # Before any call: jobs wired to a loopback server would send their agents' data nowhere.
    wiring.check_reachable_from(ws.host)
    # Also before any call: without a wheel the clusters could install, onboarding is for nothing.
    wiring, wheel_upload = agent_wheel_plan(wiring)
    gateway = gateway_for(store, secrets, ws)
    imported: list[ImportedProject] = []
    skipped: list[SkippedJob] = []
    access = StandardAccess(init_script=wiring.init_script)
    # A cluster on the other cloud is left out, naming the command that puts the workspace's cloud right.
    catalog = pricing_catalog()
    into = ImportTarget(ws.name, ws.host, ws.cloud, {c: frozenset(catalog.node_types(c)) for c in CLOUDS})
    with recording_status(store, ws):
        check_answers(ws, gateway)
        # A job named twice is imported once (order kept).
        ids = list(dict.fromkeys(job_ids)) or [int(j["job_id"]) for j in gateway.list_jobs()]
        agent_ready = False
        rewritten = False  # the token secret written by this import whatever it held
        # Principals already given READ on the token's scope by this import (or found holding it).
        readers: dict[str, str | None] = {}
        if "dbfs" in wiring.init_script:
            log.warning(DBFS_WARNING, script_location(wiring.init_script)[1])
        for job_id in ids:
            try:
                job = gateway.get_job(job_id)
            except DatabricksNotFound:
                skipped.append(SkippedJob(job_id, "", "job not found in the workspace", not_found=bool(job_ids)))
                continue
            except DatabricksPermissionDenied as err:  # the token may not even view this job
                skipped.append(SkippedJob(job_id, "", f"Databricks refused to read the job: {err.message}"))
                continue
            found = qualify(job, access, into)
            if found.needs_allowlist:
                # Only the allowlist decides now: read it (once per import) and judge the job again.
                access = read_init_script_allowlist(gateway, access)
                found = qualify(job, access, into)
            if found.skipped_reason is not None:
                skipped.append(SkippedJob(job_id, found.job_name, found.skipped_reason, found.allowlist_bound))
                continue
            elsewhere = None if take_over else other_server(store, ws, found.clusters, wiring.server_address)
            if elsewhere is not None:
                # The whole job, as for an owner of another workspace below.
                skipped.append(SkippedJob(job_id, found.job_name,
                                          other_server_reason(*elsewhere, wiring.server_address)))
                continue
            owned = owner_elsewhere(store, ws, found.clusters)
            if owned is not None:
                # The whole job, not the one cluster: its other clusters are the owner's to import too.
                skipped.append(SkippedJob(job_id, found.job_name, owned_reason(store, ws, *owned)))
                continue
            targets, detached = _split_detached(store, ws, found.clusters, reattach)
            if detached:
                names = ", ".join(p.name for p in detached)
                skipped.append(SkippedJob(job_id, found.job_name, REASON_DETACHED.format(
                    projects=names, workspace=ws.name, job_id=job_id)))
            if not targets:
                continue
            # A job this server takes back from another one (a project of it orphaned as taken over):
            # the secret holds that server's token, though this database's own is live.
            retaking = any(was_taken_over(store.projects.get_by_key(ws.name, t.job_id, t.cluster_key))
                           for t in targets)
            if dry_run and not agent_ready:
                check_secret(store, gateway, ws, wiring, take_over=take_over)  # what the import would refuse
                agent_ready = True
            elif not dry_run and (not agent_ready or (retaking and not rewritten)):
                prepare_agent(store, gateway, ws, wiring, wheel_upload, take_over=take_over or retaking)
                agent_ready = True
                rewritten = rewritten or take_over or retaking
            if not dry_run and not standard_plan(ws):
                principal = run_as_principal(job)
                if not principal:
                    skipped.append(SkippedJob(job_id, found.job_name, REASON_NO_OWNER))
                    continue
                if principal not in readers:
                    readers[principal] = grant_secret_read(gateway, wiring, principal)
                if readers[principal] is not None:
                    skipped.append(SkippedJob(job_id, found.job_name, str(readers[principal])))
                    continue
            try:
                imported.extend(_import_job(store, gateway, ws, job, targets, wiring, dry_run))
            except (WorkspaceAuthError, DatabricksPermissionDenied) as err:
                # jobs/list shows jobs the token may only view: a 403 editing one is that job's
                # alone (the gateway's `DatabricksPermissionDenied`), unless the token is refused
                # outright (then this raises, for the workspace).
                gateway.check_token()
                skipped.append(SkippedJob(job_id, found.job_name, REASON_NOT_EDITABLE.format(error=err.message)))
            except (DatabricksRejected, OnboardNotTaken) as err:
                # This job's own refusal (its cluster policy fixes a field onboarding sets, a spec
                # Databricks no longer accepts): nothing of it is recorded or left written
                # (`_onboard_job`), and the other jobs are imported, as auto-import does.
                log.warning("workspace %s: job %d (%s) not imported: %s", ws.name, job_id, found.job_name, err)
                why = REASON_NOT_KEPT if isinstance(err, OnboardNotTaken) else REASON_REFUSED
                skipped.append(SkippedJob(job_id, found.job_name, why.format(error=err.message)))
    return ImportResult(tuple(imported), tuple(skipped))


# Why a job Databricks would not let the token update is skipped (the import goes on with the others).
REASON_NOT_EDITABLE = ("Databricks refused to update the job ({error}): the token can see it but needs "
                       "CAN_MANAGE on it to onboard it")
# Why a job Databricks refused to onboard is skipped: its message says which field (the import goes on).
REASON_REFUSED = "Databricks refused the onboarded cluster spec, nothing was changed: {error}"
# Why a job that did not read back as onboarded is skipped (its clusters were written back as found).
REASON_NOT_KEPT = "the job did not keep the onboarded cluster spec, so it was put back as found: {error}"
# Why a detached project's cluster is left as it is by an import of every job.
REASON_DETACHED = ("project {projects} is detached: left as it is (`trimtab workspace import {workspace} "
                   "--job {job_id}` re-attaches it)")


def _split_detached(store: Store, ws: Workspace, targets: list[ClusterTarget],
                    reattach: bool) -> tuple[list[ClusterTarget], list[Project]]:
    """(the clusters to import, the detached projects left alone): all of them with ``reattach``.

    Per cluster, not per job: a cluster added to the job later is imported beside a detached one,
    whose entry the job update then does not touch (`cluster_entry_update` sends changed keys only).
    """
    if reattach:
        return list(targets), []
    kept: list[ClusterTarget] = []
    detached: list[Project] = []
    for target in targets:
        project = store.projects.get_by_key(ws.name, target.job_id, target.cluster_key)
        if project is not None and project.detached:
            detached.append(project)
        else:
            kept.append(target)
    return kept, detached


def read_init_script_allowlist(gateway: DatabricksGateway, access: StandardAccess) -> StandardAccess:
    """``access`` with the metastore's INIT_SCRIPT allowlist, or with why it could not be read.

    A refusal here says nothing about the token (it did the other calls): the jobs that need the
    allowlist are skipped saying so, and the rest of the import goes on."""
    try:
        info = gateway.get_artifact_allowlist("INIT_SCRIPT")
    except DatabricksPermissionDenied as err:
        log.info("INIT_SCRIPT allowlist not readable: %s", err.message)
        return dataclasses.replace(access, allowlist_error="403: needs metastore admin or MANAGE ALLOWLIST "
                                                           "on the metastore")
    except DatabricksNotFound as err:
        log.info("INIT_SCRIPT allowlist not found: %s", err.message)
        return dataclasses.replace(access, allowlist_error="404: is a Unity Catalog metastore assigned "
                                                           "to the workspace?")
    except DatabricksUnavailable:
        raise  # the workspace is failing: as for any other call of the import
    except DatabricksCallError as err:
        return dataclasses.replace(access, allowlist_error=err.message)
    matchers = tuple(AllowlistMatcher(str(m.get("artifact") or ""), str(m.get("match_type") or ""))
                     for m in info.get("artifact_matchers") or [] if isinstance(m, dict))
    return dataclasses.replace(access, allowlist=matchers)


def _import_job(store: Store, gateway: DatabricksGateway, ws: Workspace, job: dict[str, Any],
                targets: list[ClusterTarget], wiring: AgentWiring, dry_run: bool) -> list[ImportedProject]:
    """Onboard ``targets`` (the qualified clusters of ``job``, as read by `import_jobs`).

    Each cluster's project is found or created first (its id goes into the onboarded spec's tag).
    Then, under the locks of all the job's projects, the job is read again and judged as it is now:
    another importer (a second server's discovery pass, or a manual import during an auto-import)
    may have onboarded it since the read above. Judged on that read, this import sent a second
    jobs/update from the stale spec and, comparing the stale spec with the onboarded one the other
    importer stored, took Trimtab's own wiring for a user's edit (auto-apply paused for good)."""
    projects: list[tuple[Project, bool]] = []
    latest_run: int | None = None
    for target in targets:
        project = store.projects.get_by_key(ws.name, target.job_id, target.cluster_key)
        created = project is None
        if project is None:
            found, _ = _found_spec(store, ws, target, quiet=True)  # said when onboarded, below
            project = Project(workspace=ws.name, job_id=target.job_id, cluster_key=target.cluster_key,
                              job_name=target.job_name, original_spec=found, current_spec=found,
                              phase=unplanned_phase(ProjectSettings()))
            if not dry_run:
                project = dataclasses.replace(project, state=_policy_fills(gateway, found, target.job_id))
                # The cursor starts at the newest run: history is backfill's job, not the collector's.
                if latest_run is None:
                    latest_run = gateway.latest_run_id(target.job_id) or 0
                project, created = _add_project(store, dataclasses.replace(project, last_seen_run_id=latest_run or None))
        projects.append((project, created))
    if dry_run:
        return _onboard_job(store, gateway, ws, job, {t.cluster_key: t.spec for t in targets}, projects,
                            wiring, dry_run=True)
    with ExitStack() as held:
        # In id order, so two importers of one job never hold one lock each, waiting for the other's.
        for project_id in sorted({int(p.id or 0) for p, _ in projects}):
            held.enter_context(project_lock(project_id, store))
        try:
            job = gateway.get_job(int(job["job_id"]))  # as it is now, no longer as first read
        except Exception:
            _remove_unonboarded(store, projects)
            raise
        settings = job.get("settings") or {}
        live: dict[str, dict[str, Any]] = {}
        kept: list[tuple[Project, bool]] = []
        for project, created in projects:
            spec = find_cluster_spec(settings, project.cluster_key)
            if spec is None:
                # Taken off the job since the first read: nothing to onboard for it any more.
                log.warning("job %s: cluster %r left the job during its import; not imported",
                            project.job_id, project.cluster_key)
                _remove_unonboarded(store, [(project, created)])
                continue
            live[project.cluster_key] = spec
            kept.append((project, created))
        return _onboard_job(store, gateway, ws, job, live, kept, wiring, dry_run=False)


def _policy_fills(gateway: DatabricksGateway, spec: dict[str, Any], job_id: int) -> dict[str, Any]:
    """A new project's state with what its cluster policy fills into an availability the spec leaves
    unset (`server.plan.policy.POLICY_FILLS_KEY`). The planner keeps it after every plan, but until the
    first one (after the first collected run) the project page and the savings baseline read such a
    spec with the cloud's default: a job under a policy fixing ON_DEMAND showed spot workers, and its
    backfilled runs, recorded on demand, were another cluster than as found (no baseline). One policy
    read per new project; one that fails leaves it to the planner."""
    policy_id = spec.get("policy_id")
    if not policy_id:
        return {}
    try:
        fills = kept_fills(ClusterPolicy.from_api(gateway.get_cluster_policy(str(policy_id))))
    except (DatabricksCallError, ValueError) as err:
        log.info("job %s: cluster policy %s not read at import (%s); the first plan reads it", job_id, policy_id, err)
        return {}
    return {POLICY_FILLS_KEY: fills} if fills["fixed"] or fills["defaults"] else {}


def _found_spec(store: Store, ws: Workspace, target: ClusterTarget, *,
                quiet: bool = False) -> tuple[dict[str, Any], str]:
    """(the cluster's spec as found, a note to show): a copy of another project's cluster (Clone job)
    carries that project's wiring and tags, so the spec as found is the copy without them. Kept, the
    copy's "original" would be Trimtab's wiring (detach left the agent running there) and its runs
    were credited to the other project's recommendation, so it never had a run as found."""
    source = cloned_from(store, ws, target)
    if source is None:
        return target.spec, ""
    note = NOTE_CLONED.format(cluster=target.cluster_key, owner=source.name) + "\n"
    if not quiet:
        log.warning("job %s: %s", target.job_id, note.strip())
    return as_found(store, source, target.spec), note


def _add_project(store: Store, project: Project) -> tuple[Project, bool]:
    """(the project stored, whether this call created it): another importer may have created it
    since `get_by_key` said there was none (the key is unique), and then this import goes on with
    that one, as if it had found it."""
    try:
        return store.projects.add(project), True
    except AlreadyExists:
        existing = store.projects.get_by_key(project.workspace, project.job_id, project.cluster_key)
        if existing is None:
            raise  # created and removed again meanwhile (its import failed there): the next import retries
        return existing, False


def _remove_unonboarded(store: Store, projects: list[tuple[Project, bool]]) -> None:
    """Remove the projects this import created that nobody onboarded (call under their locks): they
    would stand for clusters Trimtab never reaches. One another importer onboarded meanwhile (its
    record is in the state) stays: the job carries its id."""
    for project, created in projects:
        if created and project.id is not None and ONBOARDED_KEY not in store.projects.get(project.id).state:
            store.projects.remove_unused(project.id)


def _onboard_job(store: Store, gateway: DatabricksGateway, ws: Workspace, job: dict[str, Any],
                 live: dict[str, dict[str, Any]], projects: list[tuple[Project, bool]], wiring: AgentWiring,
                 *, dry_run: bool) -> list[ImportedProject]:
    """Onboard the clusters of ``job`` whose specs are ``live`` (by cluster key) with one jobs/update,
    and record each project. Unless ``dry_run``, called holding the locks of all ``projects``, with
    ``job`` read under them."""
    settings = job.get("settings") or {}
    job_name = str(settings.get("name") or "")
    # (project, the spec onboarded, the diff and notes, created, the live spec, the spec as found)
    out: list[tuple[Project, dict[str, Any], str, bool, dict[str, Any], dict[str, Any]]] = []
    update: dict[str, list[Any]] = {}
    for project, created in projects:
        spec = live[project.cluster_key]
        label = f"job {project.job_id} / {project.cluster_key}"
        found, note = _found_spec(store, ws, ClusterTarget(project.job_id, job_name, project.cluster_key, spec))
        new_spec = onboard_spec(found, project_id=str(project.id or "<new>"), wiring=wiring)
        diff = spec_diff(spec, new_spec, label)
        if diff:
            # Only when the job lacks the wiring: one another importer already sent is not sent again.
            for key, entries in cluster_entry_update(settings, project.cluster_key, new_spec).items():
                update.setdefault(key, []).extend(entries)
        out.append((project, new_spec, note + diff, created, dict(spec), found))
    held: dict[str, dict[str, Any]] = {}
    if update and not dry_run:
        # One update for the whole job: all its clusters are onboarded together or not at all.
        try:
            gateway.update_job(int(job["job_id"]), update)
        except Exception:
            # Not onboarded (e.g. a 403: the token may view the job, not edit it).
            _remove_unonboarded(store, [(p, c) for p, _, _, c, _, _ in out])
            raise
        try:
            held = _verify(gateway, int(job["job_id"]), [(p.cluster_key, live, s) for p, s, _, _, live, _ in out])
        except OnboardNotTaken:
            # Written but not as sent: the clusters go back as they were, and nothing is recorded,
            # so no project stands for a cluster Trimtab did not onboard.
            _restore_clusters(gateway, int(job["job_id"]), settings, [(p.cluster_key, live) for p, _, _, _, live, _ in out])
            _remove_unonboarded(store, [(p, c) for p, _, _, c, _, _ in out])
            raise
    result = []
    schedule = job_schedule(settings)  # as the job has it now: changed, paused or removed since
    newest: int | None = None
    for project, new_spec, diff, created, spec, found in out:
        # As the job holds it when written (what runs report, so later drift checks agree: a field
        # the service fills in on read is no user's edit); as sent when nothing was written.
        new_spec = held.get(project.cluster_key, new_spec)
        if not dry_run:
            # Rows are written whole: re-read under the lock (held by the caller: this process's
            # and other servers'), so a collector or an apply writing since the read above keeps its change.
            fresh = store.projects.get(int(project.id or 0))
            # Only reached for a detached project when the import named its job (`_split_detached`).
            reattached = fresh.detached
            changes: dict[str, Any] = {}
            if reattached:
                # The job is back on its cluster as found (detach restored it), onboarded again: recorded
                # as a revert to it, so savings read "as found" until a recommendation is applied (they
                # read the last recommendation before the detach as applied), and a run already going
                # on the detached spec is judged against that spec, not as a user edit.
                if newest is None:
                    newest = gateway.latest_run_id(fresh.job_id) or 0
                changes["pending_apply"] = {
                    "recommendation_id": None, "applied_spec": new_spec, "previous_spec": spec,
                    "applied_after_run_id": newest, "applied_at_ms": store.clock.now_ms(), "confirmed": True,
                    "reverted": True, "reattached": True}
            elif not created:
                fresh = _edited_outside(store, fresh, spec, new_spec, wiring)
                if fresh.pending_apply and not reattached:
                    # The apply's record takes the wiring this import wrote (a server that moved: a new
                    # TRIMTAB_SERVER; a new TRIMTAB_AGENT_SECRET): compared with the old one, the next
                    # run read as another server's take-over, or as a user's edit of TRIMTAB_TOKEN that
                    # paused auto-apply. `_edited_outside` has ruled out any other difference.
                    changes["pending_apply"] = {**fresh.pending_apply, "applied_spec": new_spec}
            # What this import added, so detach takes off exactly that (`server.apply.detached_spec`).
            changes["state"] = {**fresh.state, ONBOARDED_KEY: onboard_record(
                fresh.original_spec, found, new_spec, dict(wiring.init_script), fresh.state.get(ONBOARDED_KEY))}
            project = store.projects.update(dataclasses.replace(
                fresh, current_spec=new_spec, job_name=job_name or fresh.job_name,
                detached=False, orphaned=False, schedule=schedule, **changes))
            if reattached:
                log.info("project %s re-attached by an import naming job %s", project.name, job["job_id"])
        else:
            reattached = project.detached
        result.append(ImportedProject(project, diff, created, reattached=reattached))
    return result


def _edited_outside(store: Store, project: Project, found: dict[str, Any], onboarded: dict[str, Any],
                    wiring: AgentWiring) -> Project:
    """``project`` after an import found its cluster as ``found``: rebased on it when that is a user's
    edit, as an apply or the collector finding the edit does (`server.apply.rebase`: the pending
    recommendation superseded, auto-apply held); unchanged otherwise. Call under the project lock.

    The import is about to record the job's spec as the project's: without this, an edit made since
    Trimtab's last write became the spec Trimtab expects, and the next apply wrote the recommendation
    planned before the edit over it, with no "edited outside Trimtab" refusal. ``onboarded`` is the
    spec the import leaves on the job (the edit, with Trimtab wired in again), the one adopted.

    Trimtab's own wiring (its init script, TRIMTAB_* variables, tags and log delivery) is never a
    user's edit: the import puts it back anyway, and a cluster read before another importer wired it
    would otherwise pause auto-apply for good."""
    pending = project.pending_apply or {}
    expected = pending.get("applied_spec") or project.current_spec
    drift = spec_drift(_without_own_wiring(found, project, wiring),
                       _without_own_wiring(expected, project, wiring)) if expected else []
    if not drift:
        return project
    if adopt_own_write(store, project, found) is not None:
        # Trimtab's own apply, written but never recorded: recorded now, no user edit.
        return store.projects.get(int(project.id or 0))
    log.warning("project %s: the import found its cluster edited outside Trimtab (%s); rebasing on it",
                project.name, ", ".join(drift))
    return rebase(store, project, onboarded, drift)


def _without_own_wiring(spec: dict[str, Any], project: Project, wiring: AgentWiring) -> dict[str, Any]:
    """``spec`` without what onboarding puts on a cluster (`server.onboard.onboard_spec`): Trimtab's
    init scripts (this wiring's and those earlier imports recorded, never one the cluster had when
    first imported), the TRIMTAB_* variables, Trimtab's tags, and the log delivery it added."""
    out = copy.deepcopy(spec)
    original = project.original_spec
    recorded = project.state.get(ONBOARDED_KEY)
    recorded = recorded if isinstance(recorded, dict) else {}
    theirs = original.get("init_scripts") or []
    ours = [s for s in [*(recorded.get("init_scripts") or []), dict(wiring.init_script)] if s not in theirs]
    scripts = [s for s in out.get("init_scripts") or [] if s not in ours]
    env = {k: v for k, v in (out.get("spark_env_vars") or {}).items() if not k.startswith(AGENT_ENV_PREFIX)}
    tags = {k: v for k, v in (out.get("custom_tags") or {}).items() if k not in TRIMTAB_TAGS}
    for key, value in (("init_scripts", scripts), ("spark_env_vars", env), ("custom_tags", tags)):
        if value:
            out[key] = value
        else:
            out.pop(key, None)  # emptied: the same as absent ([] and a missing list read apart)
    own_logs = [recorded.get("cluster_log_conf"), {"dbfs": {"destination": wiring.log_destination}}]
    if not original.get("cluster_log_conf") and out.get("cluster_log_conf") in own_logs:
        out.pop("cluster_log_conf", None)
    return out


def _restore_clusters(gateway: DatabricksGateway, job_id: int, settings: dict[str, Any],
                      specs: list[tuple[str, dict[str, Any]]]) -> None:
    """Write ``specs`` (cluster key, spec as found) back into the job; a failure is logged (the
    caller reports the first one)."""
    update: dict[str, list[Any]] = {}
    for key, spec in specs:
        for field, entries in cluster_entry_update(settings, key, spec).items():
            update.setdefault(field, []).extend(entries)
    try:
        gateway.update_job(job_id, update)
    except DatabricksCallError as err:
        log.error("job %d: could not write the clusters back as found after a failed onboarding: %s", job_id, err)


class OnboardNotTaken(FailedPrecondition):
    """The job read back after onboarding does not hold what was written (the previous clusters were
    written back): that job's failure alone, reported as skipped by an import of several."""


def _verify(gateway: DatabricksGateway, job_id: int,
            written: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each cluster's spec read back after onboarding (by key), given ``written`` as (key, the spec
    before, the spec sent). Only the paths the import wrote are judged (`server.spec.written_paths`),
    as an apply's read-back does: a field Databricks fills in or normalises on its side
    (``runtime_engine``, ``enable_local_disk_encryption``) is no failed write. `OnboardNotTaken` names
    the paths that do not hold what was sent."""
    settings = gateway.get_job(job_id).get("settings") or {}
    held: dict[str, dict[str, Any]] = {}
    for key, before, sent in written:
        live = find_cluster_spec(settings, key)
        if live is None:
            raise OnboardNotTaken(f"job {job_id}: cluster {key!r} is gone from the job after onboarding")
        mismatch = readback_mismatch(live, sent, written_paths(before, sent))
        if mismatch:
            raise OnboardNotTaken(f"job {job_id}: cluster {key!r} did not take the onboarded spec "
                                  f"({', '.join(mismatch)} differ)")
        held[key] = live
    return held
