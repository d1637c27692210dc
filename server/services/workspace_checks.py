"""The checks of what a person gives `workspace add` and `workspace set` before anything is stored
or any workspace is reached: the name, host, token, cloud, plan, region and billing credentials.

Split from `server.services.workspaces`, which re-exports these names.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from server.clouds.factory import parse_cloud_credentials
from server.config import is_loopback_host
from server.costing.catalog import PriceCatalog, last_active_catalog, load_catalog
from server.domain import Workspace
from server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, shown
from server.services.workspace_access import _integration
from server.store import Store

CLOUDS = ("aws", "azure")
# The plan tiers `workspace add` offers (the price catalog's DBU rates are per cloud and plan).
PLANS = ("standard", "premium", "enterprise")


def check_host(host: str) -> str:
    """``host`` as stored (`normal_host`'s form) when it is an http(s) URL the SDK can build a client for.

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
    return normal_host(host)


# The port a scheme means when none is given: ``https://h:443`` is ``https://h``.
DEFAULT_PORTS = {"https": 443, "http": 80}


def normal_host(host: str) -> str:
    """``host`` in the one form its spellings share: scheme and host name in lower case (DNS names
    are case-insensitive), no trailing dot on the name, no port the scheme implies (:443, :80), no
    trailing '/'. A path (a proxy's) is kept as typed.

    Stored hosts and hosts given are compared in this form, as are hosts stored before `check_host`
    wrote it: one Databricks workspace under two spellings of its host (``HTTPS://ADB-1...:443/``) was
    taken for two, added under a second name whose import took every agent from the first (they read
    one token secret). A value it cannot parse is only stripped of its trailing '/'."""
    try:
        parts = urlsplit(host.strip())
        port = parts.port
    except ValueError:
        return host.rstrip("/")
    scheme, name = parts.scheme.lower(), (parts.hostname or "").rstrip(".")  # hostname: lower case
    if not scheme or not name:
        return host.rstrip("/")
    authority = f"[{name}]" if ":" in name else name  # an IPv6 literal keeps its brackets
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        authority += f":{port}"
    return f"{scheme}://{authority}{parts.path.rstrip('/')}"


def same_host(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are spellings of one host (`normal_host`)."""
    return normal_host(a) == normal_host(b)


def registered_at(store: Store, host: str, *, besides: str) -> Workspace | None:
    """The workspace other than ``besides`` whose host is ``host`` in any spelling, or None."""
    return next((w for w in store.workspaces.list() if w.name != besides and same_host(w.host, host)), None)


def refuse_host_taken(store: Store, name: str, host: str) -> None:
    """`AlreadyExists` when another workspace name has ``host``: the one Databricks workspace added twice.

    Its agents read one token secret (`trimtab/agent-token`), which import fills with the token of the
    name it imports into: the first name's agents would then send under the second name's token, and
    every run of the first name be stored with no agent data while both said `ok`."""
    other = registered_at(store, host, besides=name)
    if other is None:
        return
    # Within the API's 512 characters (`server.api.errors.capped`) for an Azure host and short names.
    raise AlreadyExists(f"host: {host} is workspace {other.name!r} already (added as {other.host}). One Databricks "
                        "workspace is added once: its clusters read one agent token, and an import under a second "
                        f"name would take every agent from the runs of {other.name}. `trimtab workspace add "
                        f"{other.name} --host URL --token-env VAR --replace` rotates its token; to keep the name "
                        f"{name!r}, detach the projects of {other.name} and remove it first")


# The path `check_token` calls, named when a host answers it with 404.
CHECK_PATH = "/api/2.2/jobs/list"
# Workspace names: they are the first part of project names (``<workspace>/<job_id>/<cluster_key>``,
# split on '/' when looked up), appear in logs and tables, and are typed on the command line.
WORKSPACE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
NAME_RULE = "may contain only letters, digits, '-', '_' and '.' (at most 64 characters)"
# A Databricks PAT is ~40 ASCII characters, an OAuth client secret about as long (OAuth access tokens,
# longer JWTs, are refused: `is_jwt`).
# 4096 refuses a value that could not fit in an HTTP header most servers accept.
MAX_TOKEN_CHARS = 4096


def _check_name(name: str) -> None:
    if not WORKSPACE_NAME.fullmatch(name):
        raise InvalidArgument(f"name: {shown(name)} {NAME_RULE}")


def refuse_name_taken_in_another_case(store: Store, name: str) -> None:
    """`AlreadyExists` naming the workspace whose name is ``name`` in another case (`SB` beside `sb`).

    Names are typed in commands, read in project names (``sb/3/main``) and logs, where two names one
    Shift key apart are one mistake away from each other (`workspace remove SB` for `sb`). The store
    checks it again in the insert's transaction (`WorkspaceRepository.add`); this is said first, before
    the token's call to Databricks."""
    other = next((w for w in store.workspaces.list() if w.name != name and w.name.lower() == name.lower()), None)
    if other is not None:
        raise AlreadyExists(f"name: workspace {other.name!r} exists already, and workspace names differ by more "
                            f"than case: `trimtab workspace add {other.name} ... --replace` rotates its token, "
                            f"`trimtab workspace set {other.name} --host URL --token-env VAR` re-points it")


def check_token(token: str, field: str = "token") -> None:
    """A token (``field``: or an OAuth client secret) that can go into an HTTP header: printable ASCII
    (http.client encodes headers as latin-1 and refuses control characters) and not absurdly long."""
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidArgument(f"{field}: longer than {MAX_TOKEN_CHARS} characters ({len(token)})")
    if not all(" " < c <= "~" for c in token):
        # The token itself is never echoed.
        raise InvalidArgument(f"{field}: must be printable ASCII (no spaces, control or non-ASCII characters)")
    if is_jwt(token):
        raise InvalidArgument(f"{field}: {OAUTH_ACCESS_TOKEN}")


# A service principal's OAuth client id: a UUID on Databricks (its application id); any printable
# ASCII without ':' (HTTP Basic auth joins id and secret with one), at most this long, is taken.
MAX_CLIENT_ID_CHARS = 256


def check_client_id(client_id: str) -> None:
    """A client id the token endpoint can be sent: printable ASCII without ':' and not absurdly long."""
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        raise InvalidArgument(f"client_id: longer than {MAX_CLIENT_ID_CHARS} characters ({len(client_id)})")
    if not all(" " < c <= "~" and c != ":" for c in client_id):
        raise InvalidArgument(f"client_id: {shown(client_id)} must be printable ASCII without spaces or ':' (a "
                              "service principal's application id, a UUID)")


# Why a JWT is refused as a workspace's token. Trimtab keeps the token it is given and sends it on every
# call for as long as the workspace is connected; an OAuth access token (`databricks auth token`, a
# service principal's client-credentials grant) expires within about an hour, after which every poll,
# import and apply failed as a revoked token. Trimtab refreshes access tokens itself when it is given
# what they are fetched with: a service principal's client id and secret (OAuth M2M).
OAUTH_ACCESS_TOKEN = ("this is an OAuth access token (a JWT), which expires in about an hour, and Trimtab cannot "
                      "refresh a token it is given. Give the service principal's OAuth client id and secret instead "
                      "(`trimtab workspace add NAME --host URL --client-id ID --client-secret-env VAR`: Trimtab "
                      "fetches and refreshes its access tokens itself), or a personal access token (dapi...)")
# A JWT: three base64url parts joined by '.' (header, claims, signature); the header is a JSON object,
# so its base64url text starts with "eyJ" ('{"'). Databricks' PATs (dapi...) have no '.'.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


# What a refused PAT that looks like a service principal's OAuth secret adds: Databricks' OAuth secrets
# start with "dose", its PATs with "dapi". Said after the refusal, not instead of the call: a prefix is
# a likely mix-up, not proof.
OAUTH_SECRET_PREFIX = "dose"
OAUTH_SECRET_AS_TOKEN = ("this looks like a service principal's OAuth secret: use --client-id ID "
                         "--client-secret-env VAR")


def refused_token_hint(token: str, client_id: str) -> str:
    """"" or, for a refused PAT (no ``client_id``) that looks like an OAuth secret, what to use instead
    (`OAUTH_SECRET_AS_TOKEN`), as a sentence to append to the refusal."""
    if client_id or not token.strip().startswith(OAUTH_SECRET_PREFIX):
        return ""
    return f"; {OAUTH_SECRET_AS_TOKEN}"


def is_jwt(token: str) -> bool:
    """Whether ``token`` is a JSON Web Token (an OAuth access token), not a personal access token."""
    return _JWT.fullmatch(token.strip()) is not None


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
    if not same_host(existing.host, host):
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
