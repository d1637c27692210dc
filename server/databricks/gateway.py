"""The one gateway between Trimtab and a Databricks workspace.

Everything Trimtab asks of Databricks goes through :class:`DatabricksGateway`;
it and `server.databricks.client` are the only modules that import ``databricks.sdk``, and only
once a gateway is built (importing the SDK costs ~1 s; see `client`). Requests and answers are
plain dicts exactly as the REST API shapes them: the SDK's dataclasses drop
fields they do not know, and a cluster spec has to travel through Trimtab
without losing anything the user set, so calls go through the SDK's
``api_client.do`` (which still brings PAT auth, error mapping and retries).

Retries: the SDK retries 429 and 503 itself, sleeping for ``Retry-After``, and any call whose
connection failed (refused, reset, aborted), POSTs included; we hand it our clock so tests never
wait. Other 5xx are retried here with capped
exponential backoff on the same clock. Both stop at one deadline, after which
the call fails with :class:`DatabricksUnavailable`; a wait that would end past it (a Retry-After
longer than the time left) fails at once, and each request's HTTP timeout is cut to the time left
(`client._SdkClockAdapter`). A refused token (401/403) is never retried: it becomes
:class:`WorkspaceAuthError`, unless a 403 on one job's resource meets a token that works
(`DatabricksGateway._resource_call`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar

from server.clock import Clock
from server.databricks.errors import (
    DatabricksCallError,
    DatabricksNotFound,
    DatabricksRejected,
    DatabricksRequestInvalid,
    DatabricksServerError,
    DatabricksUnavailable,
    WorkspaceAuthError,
)

if TYPE_CHECKING:
    # At run time each function below that needs the SDK's error classes imports them itself:
    # only a built gateway raises them, and building one has imported the SDK (`client`).
    from databricks.sdk import errors as sdk_errors

    from server.databricks.client import _SdkClockAdapter

log = logging.getLogger(__name__)


T = TypeVar("T")

JOBS = "/api/2.2/jobs"
CLUSTERS = "/api/2.1/clusters"
SECRETS = "/api/2.0/secrets"
DBFS = "/api/2.0/dbfs"
WORKSPACE = "/api/2.0/workspace"
POLICIES = "/api/2.0/policies/clusters"
INSTANCE_POOLS = "/api/2.0/instance-pools"
ARTIFACT_ALLOWLISTS = "/api/2.1/unity-catalog/artifact-allowlists"
FILES = "/api/2.0/fs/files"


class DatabricksPermissionDenied(DatabricksCallError):
    """The token works but lacks a privilege this one call needs (403 on a call others succeed on).

    Unlike :class:`WorkspaceAuthError` it says nothing about the token as a whole, so it does not
    mark the workspace as failing."""

    code = "PERMISSION_DENIED"


# The retry budget of `DatabricksGateway.probe`: a dead host costs this, not `retry_timeout_s`.
PROBE_BUDGET_S = 10


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


# The SDK appends ". Config: host=..., token=***, auth_type=pat" to auth errors.
_CONFIG_SUFFIX = re.compile(r"\.?\s*Config:.*$", re.DOTALL)
# urllib3 prefixes a connection failure with the connection's repr: "HTTPConnection(host=..., port=...): ".
_CONNECTION_REPR = re.compile(r"^\w*Connection(?:Pool)?\(host=[^)]*\):\s*")


def _message(err: BaseException) -> str:
    text = _CONFIG_SUFFIX.sub("", str(err)).strip()
    return text or err.__class__.__name__


class DatabricksGateway:
    """Jobs, runs, clusters and secrets of one workspace, as plain dicts."""

    def __init__(self, config: GatewayConfig, *, clock: Clock) -> None:
        from server.databricks.client import workspace_client  # imports databricks-sdk (see there)

        self._cfg = config
        self._clock = clock
        self._client = workspace_client(host=config.host, token=config.token, client_id=config.client_id,
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

        from server.databricks.client import OAuthClientRefused, OAuthTokenUnavailable, RetryWaitPastDeadline

        raw = {"data": data, "headers": {"Content-Type": "application/octet-stream"}} if data is not None else {}
        started = self._clock.monotonic()
        # The deadline of our own 5xx retries; the SDK's own (429/503, no connection) keep the whole budget.
        budget_5xx = min(self._cfg.retry_timeout_s, getattr(_THREAD_BUDGET, "server_error_s", None)
                         or self._cfg.server_error_retry_s or self._cfg.retry_timeout_s)
        deadline_5xx = started + budget_5xx
        attempt = 0
        with self._retry_clock.deadline(started + self._cfg.retry_timeout_s):
            while True:
                attempt += 1
                self._last.status = None
                try:
                    result = self._client.api_client.do(method, path, query=query, body=body, **raw)
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
                    raise _translate(method, path, err, status, m2m=bool(self._cfg.client_id)) from err
                except OAuthClientRefused as err:
                    # The token endpoint refused the client id and secret: no call can be made until a
                    # new secret is given. Before ValueError, which the SDK's own error was.
                    raise WorkspaceAuthError(
                        f"the workspace's OAuth token endpoint refused service principal {self._cfg.client_id} "
                        f"(invalid client id or client secret, or the secret expired or was deleted): "
                        f"{_cut(self._scrubbed(str(err)))}") from err
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
        self._clock.sleep(delay)

    # ------------------------------------------------------------ auth

    def check_token(self) -> None:
        """One real, cheap call; raises WorkspaceAuthError when the token is refused."""
        self._do("GET", f"{JOBS}/list", query={"limit": 1})

    def probe(self, budget_s: int = PROBE_BUDGET_S) -> None:
        """`check_token` within ``budget_s`` of retries instead of the full budget: whether a
        workspace found unreachable answers again. Its tries (1, 2, 4, ... polls apart) then cost
        the other workspaces' collection seconds, not a whole call's retry budget each, while a
        workspace that answers gets the full budget for its real calls."""
        short = replace(self._cfg, retry_timeout_s=min(budget_s, self._cfg.retry_timeout_s),
                        http_timeout_s=min(float(budget_s), self._cfg.http_timeout_s))
        DatabricksGateway(short, clock=self._clock).check_token()

    # ------------------------------------------------------------ jobs

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every job with its tasks and clusters (all pages)."""
        return self._every_job()

    def list_job_settings(self) -> list[dict[str, Any]]:
        """Every job with its tasks and clusters, as the collector looks over them each poll: the same
        listing as `list_jobs` (auto-import's), apart so that each can be told apart and counted.
        API 2.2 cuts a job's arrays at 100 entries here; such a job says ``has_more``."""
        return self._every_job()

    def _every_job(self) -> list[dict[str, Any]]:
        return list(self._pages("GET", f"{JOBS}/list", "jobs", {"limit": 100, "expand_tasks": True},
                                dedupe_key="job_id"))

    def get_job(self, job_id: int) -> dict[str, Any]:
        """``jobs/get`` with the 2.2 array pages (tasks, job_clusters...) merged into one."""
        job = self._job_call(job_id, "CAN_VIEW", "GET", f"{JOBS}/get", query={"job_id": job_id})
        token = job.pop("next_page_token", None)
        while token:
            page = self._job_call(job_id, "CAN_VIEW", "GET", f"{JOBS}/get",
                                  query={"job_id": job_id, "page_token": token})
            _merge_array_pages(job.setdefault("settings", {}), page.get("settings") or {}, JOB_PAGED_ARRAYS)
            token = page.get("next_page_token")
        job.pop("has_more", None)
        return job

    def update_job(self, job_id: int, new_settings: dict[str, Any]) -> None:
        """Partial update: top-level fields replaced, ``tasks``/``job_clusters`` merged by key."""
        self._job_call(job_id, "CAN_MANAGE", "POST", f"{JOBS}/update",
                       body={"job_id": job_id, "new_settings": new_settings})

    def _job_call(self, job_id: int, needs: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A call on one job whose 403 may be that job's alone: the token's principal lacks ``needs``
        on it (jobs/list shows jobs it may only view) while every other call works (`_resource_call`)."""
        return self._resource_call(_needs(needs, job_id), method, path, **kwargs)

    def _resource_call(self, lacking: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A call on one resource (a job, a run, a cluster) whose 403 may be that resource's alone:
        then :class:`DatabricksPermissionDenied` saying ``lacking``, which leaves the workspace's status
        alone. A token refused outright is still :class:`WorkspaceAuthError`: `check_token` tells them
        apart. Taken for the token, one job's run or cluster the token may not read marked the whole
        workspace as refusing it: no job collected, and the workspace rested for up to 30 minutes."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

        try:
            return self._do(method, path, **kwargs)
        except WorkspaceAuthError as err:
            if isinstance(err.__cause__, sdk_errors.PermissionDenied):
                self.check_token()  # raises WorkspaceAuthError when the token itself is refused
                raise DatabricksPermissionDenied(f"{lacking}: {_message(err.__cause__)}") from err.__cause__
            raise

    def create_job(self, settings: dict[str, Any]) -> int:
        return int(self._do("POST", f"{JOBS}/create", body=settings, retry_5xx=False)["job_id"])

    def delete_job(self, job_id: int) -> None:
        self._do("POST", f"{JOBS}/delete", body={"job_id": job_id})

    def run_now(self, job_id: int, idempotency_token: str | None = None) -> int:
        """Start a run; retried like any call, since the SDK retries this POST itself anyway (on a
        429, a 503 or a connection aborted, any of which may follow a run already started). The
        ``idempotency_token`` (one per call unless given) makes every retry return the run the
        first attempt started instead of starting another."""
        token = idempotency_token or uuid.uuid4().hex
        body = {"job_id": job_id, "idempotency_token": token}
        return int(self._do("POST", f"{JOBS}/run-now", body=body)["run_id"])

    # ------------------------------------------------------------ runs

    def list_runs(self, job_id: int, *, newer_than_run_id: int | None = None,
                  completed_only: bool = False) -> list[dict[str, Any]]:
        """Runs of a job newer than a run id, newest first, each once (pages can repeat runs).

        Run ids grow with time and the list is newest first, so paging stops at
        the first page that reaches ``newer_than_run_id``: a job's long history
        is not re-read on every poll.
        """
        query: dict[str, Any] = {"job_id": job_id, "limit": 20}
        if completed_only:
            query["completed_only"] = True
        out = []
        for run in self._pages("GET", f"{JOBS}/runs/list", "runs", query, dedupe_key="run_id",
                               stop=lambda r: newer_than_run_id is not None
                               and int(r["run_id"]) <= newer_than_run_id, lacking=_needs("CAN_VIEW", job_id)):
            if newer_than_run_id is None or int(run["run_id"]) > newer_than_run_id:
                out.append(run)
        return out

    def list_workspace_runs(self, *, started_from_ms: int | None = None,
                            active_only: bool = False) -> list[dict[str, Any]]:
        """Runs of every job (``runs/list`` without ``job_id``) that started at or after
        ``started_from_ms`` (Databricks' clock; None: any), or only those still going, newest first,
        each once, every page (25 runs a page, the API's most)."""
        query: dict[str, Any] = {"limit": 25}
        if started_from_ms is not None:
            query["start_time_from"] = started_from_ms
        if active_only:
            query["active_only"] = True
        return list(self._pages("GET", f"{JOBS}/runs/list", "runs", query, dedupe_key="run_id"))

    def newest_run(self) -> dict[str, Any] | None:
        """The workspace's run that started last (any job, any state), or None: one page of one run."""
        runs = self._do("GET", f"{JOBS}/runs/list", query={"limit": 1}).get("runs") or []
        return runs[0] if runs else None

    def latest_run_id(self, job_id: int) -> int | None:
        """The newest run of a job (any state), or None when it never ran: one page only."""
        page = self._resource_call(_needs("CAN_VIEW", job_id), "GET", f"{JOBS}/runs/list",
                                   query={"job_id": job_id, "limit": 1})
        runs = page.get("runs") or []
        return max((int(r["run_id"]) for r in runs), default=None)

    def get_run(self, run_id: int) -> dict[str, Any]:
        # include_history: the repair history is sent only when asked for (the collector reads it).
        run = self._run_call(run_id, query={"run_id": run_id, "include_history": "true"})
        token = run.pop("next_page_token", None)
        # As the SDK's get_run: a for-each task's run pages its iterations (its one task is on the
        # first page only); any other run pages its tasks.
        paged = ("iterations",) if run.get("iterations") else ("tasks",)
        while token:
            page = self._run_call(run_id, query={"run_id": run_id, "page_token": token, "include_history": "true"})
            _merge_array_pages(run, page, paged + RUN_PAGED_ARRAYS)
            token = page.get("next_page_token")
        run.pop("has_more", None)
        return run

    def _run_call(self, run_id: int, **kwargs: Any) -> dict[str, Any]:
        return self._resource_call(
            f"the token's principal may not read run {run_id} (it needs CAN_VIEW on the run's job)",
            "GET", f"{JOBS}/runs/get", **kwargs)

    # ------------------------------------------------------------ clusters

    def get_cluster(self, cluster_id: str) -> dict[str, Any]:
        return self._resource_call(
            f"the token's principal may not read cluster {cluster_id} (a job's cluster: it needs CAN_VIEW on "
            "the job)", "GET", f"{CLUSTERS}/get", query={"cluster_id": cluster_id})

    def cluster_events(self, cluster_id: str, *, start_time_ms: int | None = None,
                       end_time_ms: int | None = None, page_size: int = 500) -> list[dict[str, Any]]:
        """Every event of a cluster, oldest first, following all pages.

        Pages as the SDK's ``clusters.events`` iterator does: the next request is the answer's
        ``next_page`` (the complete body of the next request) while there is one. An answer with
        only a ``next_page_token`` is followed with ``page_token`` and the same ``page_size``:
        never with the deprecated ``limit``/``offset``, which the REST reference says not to mix
        with tokens."""
        body: dict[str, Any] = {"cluster_id": cluster_id, "order": "ASC", "page_size": page_size}
        if start_time_ms is not None:
            body["start_time"] = start_time_ms
        if end_time_ms is not None:
            body["end_time"] = end_time_ms
        events: list[dict[str, Any]] = []
        request: dict[str, Any] | None = body
        while request is not None:
            page = self._resource_call(
                f"the token's principal may not read the events of cluster {cluster_id} (a job's cluster: it "
                "needs CAN_VIEW on the job)", "POST", f"{CLUSTERS}/events", body=request)
            events.extend(page.get("events") or [])
            if isinstance(page.get("next_page"), dict) and page["next_page"]:
                request = page["next_page"]
            elif page.get("next_page_token"):
                request = {**body, "page_token": page["next_page_token"]}
            else:
                request = None
        return events

    def get_cluster_policy(self, policy_id: str) -> dict[str, Any]:
        """``policies/clusters/get``: ``{policy_id, name, definition}``, the definition a JSON string.

        An unknown id is :class:`DatabricksNotFound` (404) or :class:`DatabricksRejected` (400). A 403
        while the token works is this policy's alone (its principal lacks CAN_USE on it):
        :class:`DatabricksPermissionDenied`, which leaves the workspace's status alone; a token refused
        outright is still :class:`WorkspaceAuthError` (`check_token` tells them apart)."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

        try:
            return self._do("GET", f"{POLICIES}/get", query={"policy_id": policy_id})
        except WorkspaceAuthError as err:
            if isinstance(err.__cause__, sdk_errors.PermissionDenied):
                self.check_token()  # raises WorkspaceAuthError when the token itself is refused
                raise DatabricksPermissionDenied(
                    f"the token's principal cannot read cluster policy {policy_id} (CAN_USE on it, or workspace "
                    f"admin): {_message(err.__cause__)}") from err.__cause__
            raise

    def get_instance_pool(self, pool_id: str) -> dict[str, Any]:
        """``instance-pools/get``: the pool (``instance_pool_id``, ``node_type_id``, ``max_capacity``...).

        An unknown id is :class:`DatabricksNotFound` (404) or :class:`DatabricksRejected` (400)."""
        return self._do("GET", f"{INSTANCE_POOLS}/get", query={"instance_pool_id": pool_id})

    # ------------------------------------------------------------ secrets and files

    def put_secret(self, scope: str, key: str, value: str, *, initial_manage_principal: str | None = None) -> None:
        """Store a secret, creating the scope when it does not exist yet (``initial_manage_principal``
        "users": every user may manage it, which a Standard-plan workspace requires, having no
        secret ACLs)."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

        create: dict[str, Any] = {"scope": scope}
        if initial_manage_principal:
            create["initial_manage_principal"] = initial_manage_principal
        try:
            self._do("POST", f"{SECRETS}/scopes/create", body=create)
        except DatabricksRejected as err:
            if not isinstance(err.__cause__, sdk_errors.ResourceConflict):
                raise
        self._scope_call("write to", scope, "WRITE", "POST", f"{SECRETS}/put",
                         body={"scope": scope, "key": key, "string_value": value})

    def has_secret(self, scope: str, key: str) -> bool:
        try:
            page = self._scope_call("list the secrets of", scope, "READ", "GET", f"{SECRETS}/list",
                                    query={"scope": scope})
        except DatabricksNotFound:
            return False
        return any(s.get("key") == key for s in page.get("secrets") or [])

    def secret_acl(self, scope: str, principal: str) -> str | None:
        """The permission (READ, WRITE or MANAGE) ``principal`` holds on ``scope`` itself, or None.

        Needs MANAGE on the scope (:class:`DatabricksPermissionDenied` without it)."""
        try:
            acl = self._scope_call("read the ACLs of", scope, "MANAGE", "GET", f"{SECRETS}/acls/get",
                                   query={"scope": scope, "principal": principal})
        except DatabricksNotFound:
            return None
        return str(acl.get("permission") or "") or None

    def put_secret_acl(self, scope: str, principal: str, permission: str) -> None:
        """``secrets/acls/put``: give ``principal`` ``permission`` on ``scope``, replacing what it
        had (so a caller checks `secret_acl` first, not to lower a MANAGE to READ). Needs MANAGE."""
        self._scope_call("change the ACLs of", scope, "MANAGE", "POST", f"{SECRETS}/acls/put",
                         body={"scope": scope, "principal": principal, "permission": permission})

    def delete_secret_acl(self, scope: str, principal: str) -> None:
        """``secrets/acls/delete``: take whatever ``principal`` holds on ``scope`` away (a caller reads it
        with `secret_acl` first, to take away only a READ it gave). One already gone is no error. Needs
        MANAGE."""
        try:
            self._scope_call("change the ACLs of", scope, "MANAGE", "POST", f"{SECRETS}/acls/delete",
                             body={"scope": scope, "principal": principal})
        except DatabricksNotFound:
            return

    def _scope_call(self, doing: str, scope: str, needs: str, method: str, path: str,
                    **kwargs: Any) -> dict[str, Any]:
        """A secrets call whose 403 means the token's principal lacks a permission on this scope
        (it did the other calls), not a refused token: :class:`DatabricksPermissionDenied`."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

        try:
            return self._do(method, path, **kwargs)
        except WorkspaceAuthError as err:
            if isinstance(err.__cause__, sdk_errors.PermissionDenied):
                # One cheap call tells a revoked token (raises here) from a missing permission.
                self.check_token()
                raise DatabricksPermissionDenied(
                    f"Trimtab's token may not {doing} the secret scope {scope!r} (it needs {needs} on the scope; "
                    f"a scope manager can grant it with secrets/acls/put): {_message(err.__cause__)}"
                ) from err.__cause__
            raise

    def put_workspace_file(self, path: str, contents: bytes) -> None:
        """Write a workspace file (``/Shared/...``), replacing it, creating its folder."""
        import base64
        import posixpath

        self._do("POST", f"{WORKSPACE}/mkdirs", body={"path": posixpath.dirname(path) or "/"})
        self._do("POST", f"{WORKSPACE}/import", body={
            "path": path, "format": "AUTO", "overwrite": True,
            "content": base64.b64encode(contents).decode("ascii")})

    def put_dbfs_file(self, path: str, contents: bytes) -> None:
        """Write a small file (one block, < 1 MiB) to DBFS, replacing it."""
        import base64

        self._do("POST", f"{DBFS}/put", body={
            "path": path, "overwrite": True, "contents": base64.b64encode(contents).decode("ascii")})

    def list_dbfs(self, path: str) -> list[dict[str, Any]]:
        """``dbfs/list``: ``[{path, is_dir, file_size, modification_time}]`` (empty for an empty folder)."""
        return list(self._do("GET", f"{DBFS}/list", query={"path": path}).get("files") or [])

    def read_dbfs(self, path: str, chunk_bytes: int = 1024 * 1024) -> bytes:
        """A whole DBFS file; ``dbfs/read`` returns at most 1 MiB per call, so it is read in chunks."""
        import base64

        out = bytearray()
        while True:
            page = self._do("GET", f"{DBFS}/read", query={"path": path, "offset": len(out),
                                                          "length": chunk_bytes})
            data = base64.b64decode(page.get("data") or "")
            out += data
            if len(data) < chunk_bytes or not int(page.get("bytes_read") or 0):
                return bytes(out)

    def put_volume_file(self, path: str, contents: bytes) -> None:
        """Write a file in a Unity Catalog volume (``/Volumes/<catalog>/<schema>/<volume>/...``),
        replacing it: the Files API takes the raw bytes and creates missing parent folders."""
        from urllib.parse import quote

        # A raw body; retried on 5xx like any call (an upload with ``overwrite`` is idempotent).
        self._do("PUT", f"{FILES}{quote(path)}", query={"overwrite": "true"}, data=contents)

    # ------------------------------------------------------------ Unity Catalog

    def get_artifact_allowlist(self, artifact_type: str = "INIT_SCRIPT") -> dict[str, Any]:
        """``artifact-allowlists/get``: ``{artifact_type, artifact_matchers: [{artifact, match_type}]}``.

        Reading it needs metastore admin or MANAGE ALLOWLIST on the metastore; without that the 403
        is :class:`DatabricksPermissionDenied`, not a refused token (the token did its other calls)."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

        try:
            return self._do("GET", f"{ARTIFACT_ALLOWLISTS}/{artifact_type}")
        except WorkspaceAuthError as err:
            if isinstance(err.__cause__, sdk_errors.PermissionDenied):
                raise DatabricksPermissionDenied(
                    f"GET {ARTIFACT_ALLOWLISTS}/{artifact_type}: {_message(err.__cause__)}") from err.__cause__
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


# The arrays a 2.2 jobs/get and runs/get answer pages (databricks-sdk mixins/jobs.py `get` and
# `get_run`): only these are appended from later pages; any other list a later page carries is
# the same field again, not more of it.
JOB_PAGED_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
RUN_PAGED_ARRAYS = ("job_clusters", "job_parameters", "repair_history")


def _needs(permission: str, job_id: int) -> str:
    """What a 403 on one job's call says the token's principal lacks."""
    return (f"the token's principal needs {permission} on job {job_id} (a job owner or workspace admin can "
            "grant it in the job's permissions)")


def _merge_array_pages(into: dict[str, Any], page: dict[str, Any], arrays: Iterable[str]) -> None:
    """Append a 2.2 page's named arrays to the first page's."""
    for key in arrays:
        value = page.get(key)
        if isinstance(value, list):
            into.setdefault(key, [])
            into[key].extend(value)


# 4xx that pass by themselves: a proxy's request timeout, a locked resource, too early, throttling.
_TRANSIENT_4XX = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.LOCKED, HTTPStatus.TOO_EARLY,
                            HTTPStatus.TOO_MANY_REQUESTS})


def _transient(err: sdk_errors.DatabricksError, status: int | None) -> bool:
    """Whether an error the SDK maps to no class of its own may pass: a 5xx (502 Bad Gateway and
    the like), a 408/423/425/429, or a status not known. A 4xx such as 431 (a header too large) is the request's
    own fault and fails the same way every time. ``status`` is the answer's (see `_note_status`);
    without it, an HTML reply's ``error_code`` is its reason phrase (``BAD_GATEWAY``), which may name it."""
    if status is None:
        try:
            status = HTTPStatus[str(err.error_code or "")]
        except KeyError:
            return True
    return status >= 500 or status in _TRANSIENT_4XX


def _cut(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters: an HTTP stack's message may repeat a 100k-character host."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _translate(method: str, path: str, err: Exception, status: int | None = None, *,
               m2m: bool = False) -> DatabricksCallError:
    """``err`` in Trimtab's words; ``m2m``: the workspace authenticates as a service principal (OAuth
    M2M), whose access token Trimtab never holds: a refusal is about the principal, not a token."""
    from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

    text = f"{method} {path}: {_message(err)}"
    if type(err) is sdk_errors.DatabricksError and status is not None:
        # A status the SDK has no class for: the number says what its message may not ("Error response").
        text += f" (HTTP {status})"
        if 400 <= status < 500 and status not in _TRANSIENT_4XX:
            return DatabricksRejected(text)
    if isinstance(err, sdk_errors.Unauthenticated | sdk_errors.PermissionDenied):
        if m2m:
            return WorkspaceAuthError(f"the workspace refused the service principal's OAuth access token (the "
                                      f"principal removed from the workspace, disabled or without permission): "
                                      f"{_message(err)}")
        return WorkspaceAuthError(f"the workspace refused the token (revoked, expired or without "
                                  f"permission): {_message(err)}")
    if isinstance(err, sdk_errors.NotFound):
        return DatabricksNotFound(text)
    if isinstance(err, sdk_errors.BadRequest | sdk_errors.ResourceConflict):
        return DatabricksRejected(text)
    return DatabricksCallError(text)


def call_or_none(fn: Callable[[], T]) -> T | None:
    """``fn()``, or None when what it asks for does not exist."""
    try:
        return fn()
    except DatabricksNotFound:
        return None
