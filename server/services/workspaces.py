"""Workspaces: connect one (token checked with a real call, stored encrypted), list, show, update.

Importing a workspace's jobs: `server.services.job_import` (onboarding one job:
`server.services.job_onboard`). The checks of a name, host, token, cloud, plan and region:
`server.services.workspace_checks`. The settings the server sets at start, a gateway on a
workspace and its status recorded around calls: `server.services.workspace_access`. Their
public names are re-exported here, as callers (and tests) import them from this module.

Re-pointing a workspace at a new host and removing one: `server.services.workspace_lifecycle`.
"""

from __future__ import annotations

import logging

from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksNotFound,
    DatabricksUnavailable,
    GatewayConfig,
    WorkspaceAuthError,
)
from server.domain import DEFAULT_REGIONS, Workspace
from server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from server.services.billing_credentials import record_check, try_billing_credentials
from server.services.import_pages import ImportPage, import_page
from server.services.job_import import (
    REASON_DETACHED,
    REASON_NOT_EDITABLE,
    REASON_NOT_KEPT,
    REASON_REFUSED,
    import_jobs,
    read_init_script_allowlist,
)
from server.services.job_onboard import OnboardNotTaken
from server.services.projects import required
from server.services.secrets import SecretBox, mask
from server.services.workspace_access import (
    UNREACHABLE,
    GatewayFactory,
    Integration,
    _integration,
    agent_wiring,
    check_answers,
    configure,
    gateway_for,
    recording_status,
)
from server.services.workspace_checks import (
    CHECK_PATH,
    CLOUDS,
    HOST_CLOUDS,
    MAX_TOKEN_CHARS,
    NAME_RULE,
    PLANS,
    WORKSPACE_NAME,
    _check_cloud_credentials,
    _check_name,
    _check_plan,
    _check_plan_priced,
    _check_region,
    _cloud_change_problem,
    _host_cloud_problem,
    _same_workspace,
    check_client_id,
    check_host,
    check_token,
    normal_host,
    pricing_catalog,
    refuse_host_taken,
    refuse_name_taken_in_another_case,
    refused_token_hint,
    same_host,
)
from server.store import Store

log = logging.getLogger(__name__)

# What moved out keeps its name here: callers, and tests that patch ``_integration``'s attributes, use it.
__all__ = [
    "ADD_CHECK_TIMEOUT_S", "CHECK_PATH", "CLOUDS", "HOST_CLOUDS", "MAX_TOKEN_CHARS", "NAME_RULE", "PLANS",
    "REASON_DETACHED", "REASON_NOT_EDITABLE", "REASON_NOT_KEPT", "REASON_REFUSED", "UNREACHABLE", "WORKSPACE_NAME",
    "GatewayFactory", "Integration", "OnboardNotTaken", "add_workspace", "agent_wiring", "check_answers",
    "check_client_id", "check_host", "check_reaches", "secret_given", "check_token", "configure", "gateway_for", "get_workspace", "import_jobs",
    "ImportPage", "import_page",
    "list_workspaces", "normal_host", "pricing_catalog", "refuse_host_taken", "same_host", "read_init_script_allowlist", "recording_status", "update_workspace",
]

# A person is waiting on `workspace add`: a wrong host fails in seconds, not after the collector's budget.
ADD_CHECK_TIMEOUT_S = 10


def add_workspace(store: Store, secrets: SecretBox, name: str, host: str, token: str, cloud: str,
                  plan: str = "", region: str = "", cloud_credentials_json: str = "",
                  replace: bool = False, auto_import: bool | None = None,
                  skip_billing_check: bool = False, client_id: str = "") -> Workspace:
    """Check the token with a real call, then store the workspace with its secrets encrypted.

    ``client_id`` "": ``token`` is a personal access token. Otherwise the workspace authenticates as
    that service principal (OAuth machine-to-machine) and ``token`` is its OAuth client secret, which
    is checked (an access token fetched with it, then a real call) and stored exactly as a token is.

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
    secret_field = "client_secret" if client_id else "token"
    for field, value in (("name", name), ("host", host), (secret_field, token)):
        required(value, field)
    if not replace:
        # Only new names are judged: a workspace stored before the rule keeps working (and its
        # token can still be rotated with ``replace``).
        _check_name(name)
    check_token(token, secret_field)
    if client_id:
        check_client_id(client_id)
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
    existing = store.workspaces.named(name) if replace else None
    if existing is not None:
        # Found in any case (`add SB --replace` rotates `sb`'s token): said and logged as it is stored.
        name = existing.name
    if existing is None and _exists(store, name):
        # Before the token check: a person retyping `add` for a workspace they have means one of these.
        raise AlreadyExists(f"workspace {name!r} already exists: `trimtab workspace add {name} ... --replace` "
                            f"rotates its token, `trimtab workspace set {name} --host URL --token-env VAR` re-points it")
    if existing is None:
        refuse_name_taken_in_another_case(store, name)
        # Before the token check too: the host, not the token, is what is wrong.
        refuse_host_taken(store, name, host)
    else:
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
    check_reaches(name, host, token, "updated" if replace else "added", client_id=client_id)
    # After the token's check (a wrong host is said first, and costs no bill read), before anything is stored.
    check = (try_billing_credentials(name, cloud, cloud_credentials_json, _integration.clock,
                                     "updated" if replace else "added")
             if cloud_credentials_json and not skip_billing_check else None)
    if existing is not None:
        # The way of authenticating given replaces the stored one (a PAT workspace moves to a service
        # principal with --client-id, and back with --token-env).
        updated = store.workspaces.set_token(name, secrets.encrypt(token), mask(token), credentials,
                                             client_id=client_id)
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
                          region=region, token_masked=mask(token), auto_import=bool(auto_import),
                          client_id=client_id)
    try:
        added = store.workspaces.add(workspace, secrets.encrypt(token), credentials)
    except AlreadyExists:
        # Another call stored this host under another name since `refuse_host_taken` above (two adds at
        # once, seconds apart by the token's call): the database's unique index on host (0028) refused
        # this one, which is said as the check says it. A name taken meanwhile the store said already.
        refuse_host_taken(store, name, host)
        raise
    return record_check(store, added, credentials, check, _integration.clock)


def secret_given(token: str, client_id: str, client_secret: str) -> str:
    """The secret a request gives: its ``token`` (a PAT), or with ``client_id`` its ``client_secret``.
    `InvalidArgument` for a request that mixes the two ways, or gives half of OAuth M2M's."""
    if client_id and token:
        raise InvalidArgument("token: give either a token or a client id and secret (OAuth M2M), not both")
    if client_secret and not client_id:
        raise InvalidArgument("client_id: required with client_secret (the service principal's OAuth client id)")
    return client_secret if client_id else token


def check_reaches(name: str, host: str, token: str, verb: str, *, client_id: str = "") -> DatabricksGateway:
    """A gateway on ``host`` once ``token`` passed a real call there (a person waits: a short retry
    budget); `FailedPrecondition` saying "workspace NAME not VERB: why" otherwise. With ``client_id``,
    ``token`` is that service principal's OAuth client secret: the call first fetches an access token
    with it, so a wrong id or secret is refused here."""
    gateway = _integration.gateway_factory(
        GatewayConfig(host=host, token=token, retry_timeout_s=ADD_CHECK_TIMEOUT_S, client_id=client_id,
                      workspace=name),
        _integration.clock)
    try:
        gateway.check_token()
    except WorkspaceAuthError as err:
        raise FailedPrecondition(f"workspace {name!r} not {verb}: {err.message}"
                                 f"{refused_token_hint(token, client_id)}") from err
    except DatabricksUnavailable as err:
        # The gateway's message names the host when it says why (no connection, rate limited, no answer);
        # a 5xx past the deadline does not. Neither is "cannot reach" unless the gateway says so.
        why = err.message if gateway.host in err.message else f"{host}: {err.message}"
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
    """The workspace ``name`` names in any case (`SB` is `sb`, whose name `add` keeps `SB` from taking)."""
    return store.workspaces.named(name)


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
    workspace = store.workspaces.named(name)
    name = workspace.name  # found in any case (`get_workspace`); written and logged as stored
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
