"""How one Databricks call is made: its deadline, its retries, and what its failure says.

`Transport` is the base of :class:`server.databricks.gateway.DatabricksGateway` (callers use that
class, never this one): it builds the SDK's client from a `GatewayConfig` and makes each call
(`Transport._do`), which the resource calls (`server.databricks.jobs_api`,
`server.databricks.storage_api`) all go through.

Retries: the SDK retries 429 and 503 itself, sleeping for ``Retry-After``, and any call whose
connection failed (refused, reset, aborted), POSTs included; we hand it our clock so tests never
wait. Other 5xx are retried here with capped
exponential backoff on the same clock. Both stop at one deadline, after which
the call fails with :class:`DatabricksUnavailable`; a wait that would end past it (a Retry-After
longer than the time left) fails at once, and each request's HTTP timeout is cut to the time left
(`client._SdkClockAdapter`). A refused token (401, or 403 "Invalid access token.") is not retried,
save once with a new access token for a service principal: it becomes :class:`WorkspaceAuthError`, as
does any other 403 unless it is on one job's resource and meets a token that works
(`Transport._resource_call`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from server.clock import Clock
from server.databricks.call_stop import raise_if_stopped, stoppable_sleep
from server.databricks.errors import (
    DatabricksRequestInvalid,
    DatabricksServerError,
    DatabricksUnavailable,
    WorkspaceAuthError,
)
from server.databricks.paths import JOBS
from server.databricks.translate import (
    _CONNECTION_REPR,
    DatabricksPermissionDenied,
    _cut,
    _message,
    _transient,
    _translate,
    lacks_permission,
    token_refused,
)

if TYPE_CHECKING:
    from server.databricks.client import _SdkClockAdapter

log = logging.getLogger("server.databricks.gateway")  # split from gateway.py: its log lines keep their name


# This thread's 5xx retry budget while in `retrying_5xx_for` (every gateway's calls in the thread).
_THREAD_BUDGET = threading.local()


@contextlib.contextmanager
def retrying_5xx_for(budget_s: int) -> Iterator[None]:
    """Within the block, this thread's Databricks calls (any gateway's) retry a 5xx answer for at most
    ``budget_s`` instead of the whole budget. For calls on one resource whose failure is its own (the
    collector's calls for one job), so a resource that keeps failing costs seconds, not a minute per
    try. A 429/503 or a connection that fails keeps the whole budget: those are the workspace's
    trouble, not the resource's. Per thread, so a gateway's other users keep theirs; a function, not
    a gateway method, so that wrapping a gateway (tests count its calls) wraps no new call."""
    before = getattr(_THREAD_BUDGET, "server_error_s", None)
    _THREAD_BUDGET.server_error_s = budget_s if before is None else min(before, budget_s)
    try:
        yield
    finally:
        _THREAD_BUDGET.server_error_s = before


@dataclass(frozen=True)
class GatewayConfig:
    host: str
    # A personal access token; with ``client_id``, the service principal's OAuth client secret. Out of
    # the repr: a config in a log line or a traceback's locals must not carry the secret.
    token: str = field(repr=False)
    # The deadline for all retries of one call (building the client makes no call).
    retry_timeout_s: int = 60
    http_timeout_s: float = 30.0
    # The deadline for retrying a 5xx answer (500, 502, 504), when shorter than ``retry_timeout_s``
    # (None: the same; `retrying_5xx_for` shortens it for a block of calls).
    # A 429/503 or a connection that fails keeps ``retry_timeout_s``: those are the workspace's.
    server_error_retry_s: int | None = None
    # A service principal's OAuth client id (OAuth machine-to-machine: the SDK trades it and the secret
    # in ``token`` for short-lived access tokens, and fetches a new one before each expires); "": a PAT.
    client_id: str = ""
    # The workspace's name: its service principal's token source is kept for it, shared by every gateway
    # on it in this process (`server.databricks.m2m_tokens`); "": a check before the workspace is stored.
    workspace: str = ""


class Transport:
    """The calls' machinery that every resource call shares (see the module docstring)."""

    def __init__(self, config: GatewayConfig, *, clock: Clock) -> None:
        from server.databricks.client import workspace_client  # imports databricks-sdk (see there)

        self._cfg = config
        self._clock = clock
        self._client = workspace_client(host=config.host, token=config.token, client_id=config.client_id,
                                        workspace=config.workspace,
                                        retry_timeout_s=config.retry_timeout_s,
                                        http_timeout_s=config.http_timeout_s, clock=clock)
        # The HTTP status of this thread's last answer. The SDK keeps none on an error it has no
        # class for, and an unmapped 4xx (431: a header too large) must not be retried like a 502.
        # Its session is private: without it, `_transient` judges by the reason phrase alone.
        self._last = threading.local()
        # Where each call sets its deadline (`_do`): the SDK's waits and HTTP timeouts end by it.
        self._retry_clock: _SdkClockAdapter = self._client.config.clock
        session = getattr(getattr(self._client.api_client, "_api_client", None), "_session", None)
        if session is not None:
            session.hooks["response"].append(self._note_status)

    @property
    def host(self) -> str:
        return self._cfg.host

    def _note_status(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self._last.status = getattr(response, "status_code", None)

    # ------------------------------------------------------------ transport

    def _do(self, method: str, path: str, *, query: dict[str, Any] | None = None,
            body: dict[str, Any] | None = None, data: bytes | None = None,
            retry_5xx: bool = True) -> dict[str, Any]:
        """One call, with 5xx retries (unless the call is not idempotent) and our error types.
        ``data`` is a raw body (the Files API) instead of a JSON ``body``.

        The whole call ends by one deadline, ``retry_timeout_s`` from now: the SDK's waits (429/503,
        no connection) and each request's HTTP timeout are cut to it (`client._SdkClockAdapter`), so
        neither a long Retry-After nor a host that never answers holds the caller past its budget."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

        from server.databricks.client import (
            OAuthClientRefused,
            OAuthDiscoveryFailed,
            OAuthTokenUnavailable,
            RetryWaitPastDeadline,
        )

        raw = {"data": data, "headers": {"Content-Type": "application/octet-stream"}} if data is not None else {}
        started = self._clock.monotonic()
        # The deadline of our own 5xx retries; the SDK's own (429/503, no connection) keep the whole budget.
        budget_5xx = min(self._cfg.retry_timeout_s, getattr(_THREAD_BUDGET, "server_error_s", None)
                         or self._cfg.server_error_retry_s or self._cfg.retry_timeout_s)
        deadline_5xx = started + budget_5xx
        attempt = 0
        refetched = False  # an M2M token refused was dropped and the call made again with a new one
        with self._retry_clock.deadline(started + self._cfg.retry_timeout_s):
            while True:
                attempt += 1
                self._last.status = None
                try:
                    result = self._send(method, path, query, body, raw)
                    return result if isinstance(result, dict) else {"items": result}
                except RetryWaitPastDeadline as err:
                    # The SDK's next try would come after the budget (a Retry-After longer than the time
                    # left, or its backoff after a failed connection): waiting would only fail later.
                    # Its last error, which says why, is this one's context (raised from its wait).
                    last = err.__context__ or err
                    raise DatabricksUnavailable(
                        f"{method} {path}: {self._why(last)} (gave up after {self._since(started)}: the next "
                        f"try would come after the {self._cfg.retry_timeout_s}s retry budget)") from last
                except (sdk_errors.InternalError, sdk_errors.DeadlineExceeded) as err:
                    # 500/504 (and 502 below): the SDK does not retry these; we do.
                    if not retry_5xx or self._clock.monotonic() >= deadline_5xx:
                        raise DatabricksServerError(f"{method} {path}: {_message(err)}") from err
                    self._backoff(attempt, err, deadline_5xx)
                except sdk_errors.DatabricksError as err:
                    status = getattr(self._last, "status", None)
                    if type(err) is sdk_errors.DatabricksError and retry_5xx and _transient(err, status):
                        # Unmapped status (502 Bad Gateway, a proxy's 408 and the like): transient.
                        if self._clock.monotonic() < deadline_5xx:
                            self._backoff(attempt, err, deadline_5xx)
                            continue
                        raise DatabricksServerError(
                            f"{method} {path}: {_message(err)} (HTTP {status or '?'}, still failing after "
                            f"{budget_5xx}s of retries)") from err
                    if self._cfg.client_id and token_refused(err) and not refetched:
                        # A kept access token the workspace no longer takes before it expires (revoked:
                        # the principal disabled, then enabled again; Databricks answers 403 "Invalid
                        # access token" as often as 401). Dropped, and the call made once more with a new
                        # one, which a working secret gets: without this the call failed and the workspace
                        # was marked refusing, its 403 worded as a missing grant. Once only: a new token
                        # refused too is the principal's trouble. A 403 for a missing permission keeps it.
                        refetched = True
                        self._drop_refused_token()
                        continue
                    raise _translate(method, path, err, status, m2m=bool(self._cfg.client_id)) from err
                except OAuthClientRefused as err:
                    # The token endpoint refused the client id and secret: no call can be made until a
                    # new secret is given. Before ValueError, which the SDK's own error was.
                    raise WorkspaceAuthError(
                        f"the workspace's OAuth token endpoint refused service principal {self._cfg.client_id} "
                        f"(invalid client id or client secret, or the secret expired or was deleted): "
                        f"{_cut(self._scrubbed(str(err)))}") from err
                except OAuthDiscoveryFailed as err:
                    # No token can be fetched at this host (not a workspace): its settings' fault, not the
                    # call's, so the message is the discovery's, not "GET /api/...: not found".
                    raise DatabricksRequestInvalid(str(err)) from err
                except OAuthTokenUnavailable as err:
                    # The token endpoint failing is the workspace's trouble (as a 5xx is), not the secret's.
                    raise DatabricksUnavailable(f"{method} {path}: {_cut(self._cfg.host)}: {err}") from err
                except TimeoutError as err:
                    # The SDK's retry budget ran out on its own (a wait that ended right at it): 429/503,
                    # or no connection at all.
                    raise DatabricksUnavailable(
                        f"{method} {path}: {self._why(err.__cause__ or err)} (still failing after "
                        f"{self._since(started)} of retries)") from err
                except json.JSONDecodeError as err:
                    # An answer that is not JSON (a proxy's or a firewall's HTML page): not Databricks
                    # answering, so the workspace is as good as unreachable. Before ValueError, which
                    # requests' JSONDecodeError also is.
                    raise DatabricksUnavailable(
                        f"{method} {path}: {_cut(self._cfg.host)} answered with something other than JSON "
                        "(a proxy or a login page in the way?)") from err
                except ValueError as err:
                    # Raised before anything is sent (urllib3's LocationParseError for a host name label
                    # over 63 characters, UnicodeEncodeError for a header http.client cannot encode,
                    # requests' InvalidHeader/InvalidURL): the same request fails the same way again.
                    raise DatabricksRequestInvalid(
                        f"{method} {path}: the request to {_cut(self._cfg.host)} could not be sent "
                        f"({err.__class__.__name__}: {_cut(self._scrubbed(_message(err)))})") from err
                except OSError as err:
                    # No connection, or (a POST, which the SDK does not send again) no answer in time.
                    raise DatabricksUnavailable(f"{method} {path}: {self._why(err)}") from err

    def _send(self, method: str, path: str, query: dict[str, Any] | None, body: dict[str, Any] | None,
              raw: dict[str, Any]) -> Any:
        """One try through the SDK. A try the thread's stop cut short (`call_stop`: its connection shut
        under it) ends as stopped, not as the workspace's failure, which would be recorded on it."""
        try:
            return self._client.api_client.do(method, path, query=query, body=body, **raw)
        except Exception:
            raise_if_stopped()
            raise

    def _drop_refused_token(self) -> None:
        """Drop the service principal's access token this thread just sent, which the workspace refused,
        from the token source every gateway on the workspace shares (`client._M2MConfig`)."""
        from server.databricks.client import _M2MConfig  # imported: a gateway was built

        if isinstance(self._client.config, _M2MConfig):
            self._client.config.drop_refused_token()

    def _since(self, started: float) -> str:
        """The time since ``started`` on the clock, as a message says it ("0.4s", "58s")."""
        spent = max(0.0, self._clock.monotonic() - started)
        return f"{spent:.1f}s" if spent < 10 else f"{spent:.0f}s"

    def _why(self, err: BaseException) -> str:
        """What the last try of a call met, in words. A 429 or 503 is the workspace answering (rate
        limited, or busy), not a connection that failed: the SDK's errors are OSErrors too, and once
        read as one, a throttled workspace was reported as "cannot reach"."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built
        from requests.exceptions import ConnectionError as NoConnection
        from requests.exceptions import Timeout

        host = _cut(self._cfg.host)
        if isinstance(err, sdk_errors.DatabricksError):
            status = getattr(self._last, "status", None)
            wait = getattr(err, "retry_after_secs", None)
            after = f", Retry-After {wait}s" if wait is not None else ""
            if isinstance(err, sdk_errors.TooManyRequests) or status == HTTPStatus.TOO_MANY_REQUESTS:
                return f"rate limited by the workspace {host} (HTTP 429{after}): {_message(err)}"
            if isinstance(err, sdk_errors.TemporarilyUnavailable) or status == HTTPStatus.SERVICE_UNAVAILABLE:
                return f"the workspace {host} is unavailable (HTTP 503{after}): {_message(err)}"
            return f"{host} answered: {_message(err)}" + (f" (HTTP {status})" if status else "")
        if isinstance(err, Timeout) and not isinstance(err, NoConnection):
            # A read timeout (a connect timeout is also a ConnectionError: "cannot reach" below).
            return f"{host} took the connection but did not answer in time (read timed out)"
        return self._cannot_reach(err) or _message(err)

    def _scrubbed(self, text: str) -> str:
        """``text`` without the token: http.client's "Invalid header value b'Bearer <token>'"
        would otherwise carry it into a status message and the log."""
        token = getattr(self._cfg, "token", "") or ""
        # As sent, and as the error writes it (a repr: "\n" escaped), longest first.
        for form in sorted({token, token.strip(), repr(token)[1:-1], repr(token.strip())[1:-1]} - {""},
                           key=len, reverse=True):
            text = text.replace(form, "***")
        return text

    def _cannot_reach(self, err: BaseException) -> str | None:
        """"cannot reach HOST: why" for a connection that failed (refused, unknown name,
        timed out), else None: also for an answer (the SDK's errors are OSErrors) and for a read that
        timed out (see `_why`). requests' own text is a long pool repr; its innermost reason
        (urllib3's ``MaxRetryError.reason``) says what happened."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built
        from requests.exceptions import ConnectionError as NoConnection
        from requests.exceptions import Timeout

        if (not isinstance(err, OSError) or isinstance(err, TimeoutError | sdk_errors.DatabricksError)
                or (isinstance(err, Timeout) and not isinstance(err, NoConnection))):
            return None
        reason = getattr(err.args[0] if err.args else None, "reason", None)
        text = _CONNECTION_REPR.sub("", str(reason or err)).strip()
        return f"cannot reach {self._cfg.host}: {text or err.__class__.__name__}"

    def _backoff(self, attempt: int, err: BaseException, deadline: float) -> None:
        retry_after = getattr(err, "retry_after_secs", None)
        delay = float(retry_after) if retry_after else min(30.0, 0.5 * 2 ** (attempt - 1))
        delay = max(0.0, min(delay, deadline - self._clock.monotonic()))
        log.info("Databricks call failed (%s); retrying in %.1fs", _message(err), delay)
        stoppable_sleep(self._clock, delay)

    # ------------------------------------------------------------ auth

    def check_token(self) -> None:
        """One real, cheap call; raises WorkspaceAuthError when the token is refused."""
        self._do("GET", f"{JOBS}/list", query={"limit": 1})

    def _principal_words(self, text: str) -> str:
        """``text`` naming who lacks a permission as the workspace authenticates: a service principal
        (OAuth M2M) has no token of Trimtab's, and "the token's principal" sent its user looking for one."""
        if not self._cfg.client_id:
            return text
        return text.replace("the token's principal", "the service principal").replace(
            "Trimtab's token", "Trimtab's service principal")

    def _resource_call(self, lacking: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A call on one resource (a job, a run, a cluster) whose 403 may be that resource's alone:
        then :class:`DatabricksPermissionDenied` saying ``lacking``, which leaves the workspace's status
        alone. A token refused outright is still :class:`WorkspaceAuthError`: `check_token` tells them
        apart. Taken for the token, one job's run or cluster the token may not read marked the whole
        workspace as refusing it: no job collected, and the workspace rested for up to 30 minutes."""
        try:
            return self._do(method, path, **kwargs)
        except WorkspaceAuthError as err:
            if lacks_permission(err):
                self.check_token()  # raises WorkspaceAuthError when the token itself is refused
                raise DatabricksPermissionDenied(
                    f"{self._principal_words(lacking)}: {_message(err.__cause__)}") from err.__cause__
            raise

    # ------------------------------------------------------------ helpers

    def _pages(self, method: str, path: str, field: str, query: dict[str, Any], *, dedupe_key: str,
               stop: Callable[[dict[str, Any]], bool] | None = None,
               lacking: str | None = None) -> Iterator[dict[str, Any]]:
        """Items of every page, each once; no further page once ``stop`` held for an item. ``lacking``:
        the pages are one resource's, whose 403 may be its own (`_resource_call`)."""
        seen: set[Any] = set()
        token: str | None = None
        while True:
            paged = {**query, **({"page_token": token} if token else {})}
            page = (self._do(method, path, query=paged) if lacking is None
                    else self._resource_call(lacking, method, path, query=paged))
            stopped = False
            for item in page.get(field) or []:
                stopped = stopped or bool(stop and stop(item))
                if item.get(dedupe_key) in seen:
                    continue
                seen.add(item.get(dedupe_key))
                yield item
            token = page.get("next_page_token")
            if stopped or not token or not page.get("has_more", True):
                return
