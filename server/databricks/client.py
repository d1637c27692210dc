"""databricks-sdk's ``WorkspaceClient`` as the gateway builds it.

Apart from `server.databricks.gateway` so that importing the gateway (the server and the CLI do
at start) does not import databricks-sdk: that costs ~0.8-1.4 s, and a process that never talks
to a workspace (`trimtab server start` with none connected, most CLI commands) never needs it. The
gateway imports this module when it builds its first client.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import requests
import requests.auth
from databricks.sdk import WorkspaceClient, oauth
from databricks.sdk._base_client import _BaseClient
from databricks.sdk.clock import Clock as SdkClock
from databricks.sdk.config import ConfigAttribute
from databricks.sdk.core import Config
from requests.adapters import HTTPAdapter

from server.clock import Clock
from server.databricks.call_stop import raise_if_stopped, stoppable_sleep
from server.databricks.m2m_tokens import TOKEN_SOURCES, source_key
from server.databricks.stoppable_http import make_stoppable

log = logging.getLogger("server.databricks.gateway")

# The shortest HTTP timeout a request gets even when its call's deadline is (nearly) past: the last
# try, made right at the deadline after a capped wait, still gets a chance to be answered.
MIN_HTTP_TIMEOUT_S = 1.0


class RetryWaitPastDeadline(Exception):  # noqa: N818 (not an error of its own: the SDK's last error says why)
    """The SDK's retry loop asked to wait ``wait_s`` before its next try, and only ``left_s`` of the
    call's deadline remain. Raised from the wait itself, inside the SDK's ``except`` block, so the
    SDK's last error (a 429 with its Retry-After, a refused connection, a read that timed out) is
    its ``__context__``."""

    def __init__(self, wait_s: float, left_s: float) -> None:
        super().__init__(f"the next try would come in {wait_s:.1f}s, {left_s:.1f}s before the deadline")
        self.wait_s = wait_s
        self.left_s = left_s


class _SdkClockAdapter(SdkClock):
    """Lets the SDK's own 429/503 retry loop wait on our injected clock, within the call's deadline.

    The SDK's loop (``databricks.sdk.retries.retried``) sleeps the whole ``Retry-After`` first and
    only then looks at its deadline: one 429 with Retry-After 600 held a call with a 60 s budget (and
    the collector's one thread, every other workspace with it) for 600 s. So a wait that would end
    past the deadline the gateway set for this thread's call (`deadline`) fails at once instead:
    `RetryWaitPastDeadline`. Per thread, since a gateway serves the server's request threads."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._call = threading.local()

    def time(self) -> float:
        return self._clock.monotonic()

    def sleep(self, seconds: float) -> None:
        left = self.time_left()
        if left is not None and seconds > left:
            raise RetryWaitPastDeadline(seconds, max(0.0, left))
        stoppable_sleep(self._clock, seconds)  # a thread whose owner stops waits no more (`call_stop`)

    @contextlib.contextmanager
    def deadline(self, at: float) -> Iterator[None]:
        """Within the block, this thread's waits and HTTP timeouts end by ``at`` (on the clock)."""
        before = getattr(self._call, "deadline", None)
        self._call.deadline = at if before is None else min(before, at)
        try:
            yield
        finally:
            self._call.deadline = before

    def time_left(self) -> float | None:
        """Seconds to this thread's call deadline (None: no call under way)."""
        at = getattr(self._call, "deadline", None)
        return None if at is None else at - self._clock.monotonic()


class _DeadlineHttpAdapter(HTTPAdapter):
    """requests' transport with each request's timeout cut to the time left before its call's
    deadline. The SDK gives every request the whole ``http_timeout_seconds``: a host that accepts
    connections and never answers held each try that long, and a 10 s check took 41 s."""

    def __init__(self, deadline: _SdkClockAdapter) -> None:
        # The pool sizes the SDK gives its own adapter.
        super().__init__(pool_connections=20, pool_maxsize=20)
        self._deadline = deadline

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        make_stoppable(self.poolmanager)  # a GET's read ends when its thread's owner stops

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # A workspace reached through HTTP(S)_PROXY goes through a manager of its own, not the one
        # above: without this a stop waited a read's whole timeout there (review owndiff). A SOCKS
        # proxy's pools are its own kind, left as they are.
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            make_stoppable(manager)
        return manager

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        raise_if_stopped()  # nothing new is sent once the thread's owner stops
        left = self._deadline.time_left()
        if left is not None and isinstance(timeout, int | float):
            timeout = max(MIN_HTTP_TIMEOUT_S, min(float(timeout), left))
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                            proxies=proxies)


class _PatConfig(Config):
    """The SDK's Config without its host-metadata probe.

    Newer SDKs' ``Config.__init__`` asks ``{host}/.well-known/databricks-config`` for the
    account id, OIDC discovery URL and token audience, retrying for the whole
    ``retry_timeout_seconds`` with real sleeps (not our clock) and then going on without them.
    Trimtab authenticates with a PAT, or a service principal's OAuth secret against the
    workspace's own OIDC endpoint (`_M2MConfig` names it), and uses none of those fields, so the probe only costs time: a workspace that cannot be reached blocked
    building the client for over a minute, stalling every other workspace's collection.
    The SDK has no option to turn it off; this private hook is the narrowest place to do
    it. tests/integration/test_dbx_collect_unreachable.py fails if an SDK upgrade renames the
    hook and the probe comes back (building a gateway on a refusing host must return at once).
    """

    def _resolve_host_metadata(self) -> None:
        return

    @classmethod
    def attributes(cls) -> Iterable[ConfigAttribute]:
        # Config finds its settings in its own class ``__dict__`` (and caches them on the
        # class asked first): a subclass asked first would have none, and PAT auth would fail.
        return Config.attributes()


# Where a workspace's OAuth authorization server describes itself (RFC 8414): its ``token_endpoint``
# is where a service principal trades its client id and secret for an access token.
OIDC_DISCOVERY_PATH = "/oidc/.well-known/oauth-authorization-server"
# The scope a service principal's token needs for the REST API (the SDK's default for oauth-m2m).
M2M_SCOPE = "all-apis"


class OAuthClientRefused(Exception):  # noqa: N818 (the gateway turns it into WorkspaceAuthError)
    """The workspace's token endpoint refused the service principal's client id and secret (its
    ``error`` and ``error_description``, e.g. "invalid_client: Client authentication failed")."""


class OAuthTokenUnavailable(OSError):
    """The token endpoint did not give a token for a reason of its own (a 5xx, a 429, an answer that is
    not a token): the workspace's trouble, not the secret's, so not `OAuthClientRefused`."""


# Token endpoint answers that judge the client id and secret (RFC 6749 5.2: invalid_client is 401, an
# invalid grant or scope 400, a principal that may not 403).
_REFUSED_STATUSES = (400, 401, 403)


# A kept access token is used until this long before it expires (a call made with it must still arrive
# in time), and refreshed from the start of the last half of its life or its last 20 minutes, whichever
# is shorter: the SDK's own "stale" window (`oauth.Refreshable`). A refresh that fails in that window for
# the endpoint's own trouble keeps the token, and is tried again after `REFRESH_RETRY`.
EXPIRY_MARGIN = datetime.timedelta(seconds=40)
MAX_STALE = datetime.timedelta(minutes=20)
REFRESH_RETRY = datetime.timedelta(minutes=1)


@dataclasses.dataclass
class _ClientCredentials(oauth.ClientCredentials):
    """The SDK's client-credentials token source (it keeps the token) with its one request sent through
    the calling gateway's transport: the SDK's own (`oauth.retrieve_token`) posts with no timeout, so a
    token endpoint that took the connection and never answered held the call, and the collector's one
    thread, past any deadline. Here the request goes through the caller's session (`through`), whose
    adapter cuts its timeout to the time left before that caller's deadline (`_DeadlineHttpAdapter`), and
    an answer is told apart: the secret refused (`OAuthClientRefused`) or the endpoint failing
    (`OAuthTokenUnavailable`).

    One source serves every gateway on its workspace (`m2m_tokens.TOKEN_SOURCES`), from any thread, so
    the session is the calling thread's, not the source's."""

    http_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._via = threading.local()
        self._refresh_after: datetime.datetime | None = None

    @contextlib.contextmanager
    def through(self, session: requests.Session) -> Iterator[None]:
        """Within the block, this thread's token requests are sent with ``session``."""
        self._via.session = session
        try:
            yield
        finally:
            self._via.session = None

    def token(self) -> oauth.Token:
        """The kept token while it is fresh; a new one when it is stale (keeping the old one if the
        endpoint fails meanwhile) or expired. Under the source's lock: one fetch for all threads."""
        with self._lock:
            now = datetime.datetime.now()
            held: oauth.Token = self._token
            if held.access_token and held.expiry and now < held.expiry - EXPIRY_MARGIN:
                if self._refresh_after is None or now < self._refresh_after:
                    return held
                try:
                    fresh = self.refresh()
                except OSError as err:  # OAuthTokenUnavailable, no connection, no answer in time
                    # The token still works for a while: the endpoint briefly down costs no call.
                    log.warning("OAuth token refresh at %s failed (%s); the current token is kept until it "
                                "expires at %s", self.token_url, err, held.expiry)
                    self._refresh_after = now + REFRESH_RETRY
                    return held
            else:
                fresh = self.refresh()
            self._token = fresh
            life = (fresh.expiry - now) if fresh.expiry else datetime.timedelta(0)
            self._refresh_after = (fresh.expiry - min(life / 2, MAX_STALE)) if fresh.expiry else None
            return fresh

    def drop(self, access_token: str) -> None:
        """Forget the kept token if it is ``access_token``, which the workspace refused before its expiry:
        the next `token` fetches a new one, for every gateway sharing this source. A newer token another
        thread fetched meanwhile is kept."""
        with self._lock:
            if access_token and self._token.access_token == access_token:
                self._token = oauth.Token("")
                self._refresh_after = None

    def refresh(self) -> oauth.Token:
        session = getattr(self._via, "session", None)
        assert session is not None, "a token request is sent through its caller's session (`through`)"
        params = {"grant_type": "client_credentials", "scope": self.scopes or M2M_SCOPE}
        response = session.post(self.token_url, data=params, timeout=self.http_timeout_s,
                                auth=requests.auth.HTTPBasicAuth(self.client_id, self.client_secret))
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok:
            why = (f"{body.get('error', 'unknown')}: {body.get('error_description', '')}".rstrip(": ")
                   if isinstance(body, dict) else f"HTTP {response.status_code}")
            if response.status_code in _REFUSED_STATUSES:
                raise OAuthClientRefused(why)
            raise OAuthTokenUnavailable(f"the OAuth token endpoint answered HTTP {response.status_code}: {why}")
        if not (isinstance(body, dict) and isinstance(body.get("access_token"), str)):
            raise OAuthTokenUnavailable("the OAuth token endpoint answered without an access token")
        expires_in = int(body.get("expires_in") or 3600)
        return oauth.Token(access_token=body["access_token"], token_type=body.get("token_type") or "Bearer",
                           expiry=datetime.datetime.now() + datetime.timedelta(seconds=expires_in))


class OAuthDiscoveryFailed(Exception):  # noqa: N818 (the gateway turns it into DatabricksRequestInvalid)
    """The host's OIDC discovery document (`OIDC_DISCOVERY_PATH`) is not there: a 4xx, as from a host
    that is not a workspace (the account console). Not the secret's fault, and no retry will find it."""


class _M2MCredentials:
    """The SDK's OAuth machine-to-machine credentials, set up at the first call instead of when the
    client is built.

    The SDK's own ``oauth-m2m`` strategy reads the OIDC discovery document inside
    ``Config.__init__``, with a client of its own (a 300 s retry budget, real sleeps): building a
    gateway on a host that does not answer would block for minutes, as the host-metadata probe
    did (`_PatConfig`). Here the discovery is the first call's, on its deadline and our clock, and
    only when the process has no token source for this workspace, principal and secret yet: the
    source (`_ClientCredentials`, client_credentials grant, scope all-apis, id and secret in HTTP
    Basic auth) is kept for the process (`m2m_tokens.TOKEN_SOURCES`), since a gateway is built for
    each poll and each command and the token lives about an hour."""

    def __init__(self, cfg: Config, workspace: str) -> None:
        self._cfg = cfg
        self._key = source_key(workspace, cfg.host, cfg.client_id, cfg.client_secret)
        self._lock = threading.Lock()
        self._source: _ClientCredentials | None = None
        # This gateway's transport for the token requests (its deadline: `_DeadlineHttpAdapter`).
        self._session = requests.Session()
        self._session.mount("https://", cfg.http_adapter)
        self._session.mount("http://", cfg.http_adapter)
        # The access token this thread's last request carried: the one to drop when it is refused.
        self._sent = threading.local()

    def _discover(self) -> str:
        """The token endpoint the host's OIDC discovery document names."""
        from databricks.sdk import errors as sdk_errors

        cfg = self._cfg
        client = _BaseClient(retry_timeout_seconds=cfg.retry_timeout_seconds,
                             http_timeout_seconds=cfg.http_timeout_seconds,
                             http_adapter=cfg.http_adapter, clock=cfg.clock)
        try:
            return oauth.get_endpoints_from_url(cfg.discovery_url, client=client).token_endpoint
        except sdk_errors.NotFound as err:
            # Without this, a host that is not a workspace read as the failing call's own 404 ("GET
            # /api/2.2/jobs/list: ..."), though no call was made.
            raise OAuthDiscoveryFailed(f"{cfg.discovery_url} answered 404: is {cfg.host.rstrip('/')} a workspace "
                                       "URL (not the account console)?") from err

    def _token_source(self) -> _ClientCredentials:
        with self._lock:
            if self._source is None:
                source = TOKEN_SOURCES.get(self._key)
                if source is None:
                    cfg = self._cfg
                    source = TOKEN_SOURCES.put(self._key, _ClientCredentials(
                        client_id=cfg.client_id, client_secret=cfg.client_secret, token_url=self._discover(),
                        scopes=M2M_SCOPE, use_header=True, disable_async=True,
                        http_timeout_s=cfg.http_timeout_seconds))
                self._source = source
            return self._source

    def __call__(self) -> dict[str, str]:
        source = self._token_source()
        with source.through(self._session):
            token = source.token()
        self._sent.token = token.access_token
        return {"Authorization": f"{token.token_type} {token.access_token}"}

    def drop_refused(self) -> None:
        """Drop the access token this thread last sent (refused by the workspace) from the shared source."""
        source, sent = self._source, getattr(self._sent, "token", "")
        if source is not None and sent:
            source.drop(sent)


class _M2MConfig(_PatConfig):
    """`_PatConfig` authenticating as a service principal (OAuth M2M), discovery deferred: `_M2MCredentials`."""

    def __init__(self, *, workspace: str = "", **kwargs: Any) -> None:
        # Before Config.__init__, which calls `init_auth`.
        self._workspace = workspace
        super().__init__(**kwargs)

    def init_auth(self) -> None:
        self._credentials = _M2MCredentials(self, self._workspace)
        self._header_factory = self._credentials
        self.auth_type = "oauth-m2m"

    def drop_refused_token(self) -> None:
        """The workspace refused the access token this thread just sent: the next request fetches a new one."""
        self._credentials.drop_refused()


def workspace_client(*, host: str, token: str, retry_timeout_s: int, http_timeout_s: float,
                     clock: Clock, client_id: str = "", workspace: str = "") -> WorkspaceClient:
    """A client whose retries wait on ``clock`` (building it makes no call): authenticated with a PAT
    (``token``), or with ``client_id`` as a service principal whose OAuth client secret ``token`` is
    (its token source kept for ``workspace``: `m2m_tokens`).

    Its ``config.clock`` is a `_SdkClockAdapter`: the gateway sets each call's deadline there, which
    bounds both the SDK's waits and each request's HTTP timeout."""
    retry_clock = _SdkClockAdapter(clock)
    common: dict[str, Any] = {"host": host, "retry_timeout_seconds": retry_timeout_s,
                              "http_timeout_seconds": http_timeout_s, "clock": retry_clock,
                              "http_adapter": _DeadlineHttpAdapter(retry_clock)}
    if client_id:
        # The workspace's own authorization server, named rather than found by the host-metadata probe
        # `_PatConfig` turns off.
        sdk_config: Config = _M2MConfig(workspace=workspace, auth_type="oauth-m2m", client_id=client_id, client_secret=token,
                                         discovery_url=host.rstrip("/") + OIDC_DISCOVERY_PATH, **common)
    else:
        sdk_config = _PatConfig(token=token, auth_type="pat", **common)
    return WorkspaceClient(config=sdk_config)
