"""HTTP front of the workspace: routing, PAT and OAuth M2M auth, rate limiting, Databricks error bodies.

Every API version prefix the SDKs use (/api/2.0, 2.1, 2.2) reaches the same handlers; the
service keeps request shapes identical across them for the endpoints emulated here.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox.workspace import (
    allowlists,
    array_pages,
    clusters,
    dbfs,
    files_api,
    jobs,
    oauth,
    policies,
    pools,
    runs,
    secrets_api,
    workspace_files,
)
from sandbox.workspace.errors import ApiError
from sandbox.workspace.faults import Faults
from sandbox.workspace.workspace import Workspace

log = logging.getLogger(__name__)

Handler = Callable[[Workspace, dict[str, Any]], dict[str, Any]]
# The client hung up mid-request (a Ctrl-C'd `trimtab demo` with a run-now in flight): nothing failed here.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
API_PATH = re.compile(r"^/api/(?P<version>2\.[012])/(?P<endpoint>[a-z0-9/_-]+?)/?$")


StateFn = Callable[[Workspace, dict[str, Any], dict[str, Any]], dict[str, Any]]


def _locked(fn: StateFn, *, save: bool = False) -> Handler:
    """Run `fn(ws, state, params)` under the store lock; save after mutations."""

    def handler(ws: Workspace, params: dict[str, Any]) -> dict[str, Any]:
        with ws.store.lock:
            out = fn(ws, ws.store.data, params)
            if save:
                ws.store.save()
            return json.loads(json.dumps(out))  # a snapshot, safe to serialise unlocked

    return handler


def _plain(fn: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]], *,
           save: bool = False) -> Handler:
    """A state function that needs nothing from the workspace but its state."""
    return _locked(lambda ws, data, params: fn(data, params), save=save)


def _create_job(ws: Workspace, data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    job_id = ws.store.next_id("job_id")
    try:
        return jobs.create(data, body, job_id, ws.now_ms(), ws.backend)
    except ApiError:
        data["counters"]["job_id"] -= 1  # a rejected spec takes no id
        raise


def _get_job(ws: Workspace, data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return jobs.get_job(data, jobs.parse_job_id(params.get("job_id")))


def _get_job_2_2(ws: Workspace, data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return array_pages.page_arrays(_get_job(ws, data, params), "settings",
                                   array_pages.JOB_ARRAYS, params.get("page_token"), "job_id")


def _get_run_2_2(ws: Workspace, data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return array_pages.page_arrays(runs.get_run(data, params), None, array_pages.RUN_ARRAYS,
                                   params.get("page_token"), "run_id")


def _list_jobs_2_2(ws: Workspace, data: dict[str, Any], params: dict[str, Any]
                   ) -> dict[str, Any]:
    out = jobs.list_jobs(data, params)
    if "jobs" in out:
        out["jobs"] = [array_pages.truncated(j) for j in out["jobs"]]
    return out


def _dbfs(fn: Callable[[Path, dict[str, Any]], dict[str, Any]]) -> Handler:
    # DBFS lives in files, not in the state document: no lock needed.
    return lambda ws, params: fn(ws.dbfs_root, params)


def _files(fn: Callable[[Path, dict[str, Any]], dict[str, Any]]) -> Handler:
    return lambda ws, params: fn(ws.state_dir / "workspace", params)


def _schedules_follow(handler: Handler) -> Handler:
    """After a job changed (and the store lock is released), its schedule applies from now."""

    def changed(ws: Workspace, params: dict[str, Any]) -> dict[str, Any]:
        out = handler(ws, params)
        ws.jobs_changed()
        return out

    return changed


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "jobs/list"): _plain(jobs.list_jobs),
    ("GET", "jobs/get"): _locked(_get_job),
    ("POST", "jobs/create"): _schedules_follow(_locked(_create_job, save=True)),
    ("POST", "jobs/update"): _schedules_follow(
        _locked(lambda ws, d, p: jobs.update(d, p, ws.backend), save=True)),
    ("POST", "jobs/reset"): _schedules_follow(
        _locked(lambda ws, d, p: jobs.reset(d, p, ws.backend), save=True)),
    ("POST", "jobs/delete"): _schedules_follow(_plain(jobs.delete, save=True)),
    ("POST", "jobs/run-now"): lambda ws, body: ws.run_now(body),
    ("GET", "jobs/runs/list"): _plain(runs.list_runs),
    ("GET", "jobs/runs/get"): _plain(runs.get_run),
    ("POST", "jobs/runs/cancel"): lambda ws, body: ws.cancel_run(body),
    ("POST", "jobs/runs/repair"): lambda ws, body: ws.repair_run(body),
    ("GET", "clusters/get"): _plain(clusters.get_cluster),
    ("POST", "policies/clusters/create"): _plain(policies.create_policy, save=True),
    ("POST", "policies/clusters/edit"): _plain(policies.edit_policy, save=True),
    ("GET", "policies/clusters/get"): _plain(policies.get_policy),
    ("POST", "instance-pools/create"): _plain(pools.create_pool, save=True),
    ("GET", "instance-pools/get"): _plain(pools.get_pool),
    ("POST", "clusters/events"): _plain(clusters.list_events),
    ("GET", "dbfs/get-status"): _dbfs(dbfs.get_status),
    ("GET", "dbfs/list"): _dbfs(dbfs.list_dir),
    ("GET", "dbfs/read"): _dbfs(dbfs.read),
    ("POST", "dbfs/put"): _dbfs(dbfs.put),
    ("POST", "dbfs/mkdirs"): _dbfs(dbfs.mkdirs),
    ("POST", "dbfs/create"): lambda ws, body: ws.dbfs_streams.create(body),
    ("POST", "dbfs/add-block"): lambda ws, body: ws.dbfs_streams.add_block(body),
    ("POST", "dbfs/close"): lambda ws, body: ws.dbfs_streams.close(body),
    ("POST", "workspace/import"): _files(workspace_files.import_file),
    ("GET", "workspace/get-status"): _files(workspace_files.get_status),
    ("POST", "workspace/mkdirs"): _files(workspace_files.mkdirs),
    ("POST", "secrets/scopes/create"): _plain(secrets_api.create_scope, save=True),
    ("GET", "secrets/scopes/list"): _plain(lambda d, p: secrets_api.list_scopes(d)),
    ("POST", "secrets/scopes/delete"): _plain(secrets_api.delete_scope, save=True),
    ("POST", "secrets/put"): _locked(lambda ws, d, p: secrets_api.put(d, p, ws.now_ms()),
                                     save=True),
    ("GET", "secrets/list"): _plain(secrets_api.list_secrets),
    ("POST", "secrets/delete"): _plain(secrets_api.delete, save=True),
    ("POST", "secrets/acls/put"): _plain(secrets_api.put_acl, save=True),
    ("GET", "secrets/acls/get"): _plain(secrets_api.get_acl),
    ("GET", "secrets/acls/list"): _plain(secrets_api.list_acls),
    ("POST", "secrets/acls/delete"): _plain(secrets_api.delete_acl, save=True),
}


# API 2.2 differs only in paging a job's or run's arrays (at most 100 entries per response).
ROUTES_2_2: dict[tuple[str, str], Handler] = {
    ("GET", "jobs/list"): _locked(_list_jobs_2_2),
    ("GET", "jobs/get"): _locked(_get_job_2_2),
    ("GET", "jobs/runs/get"): _locked(_get_run_2_2),
}


# Endpoints whose path carries their parameter (a volume file's path, an artifact type, which
# API_PATH's lowercase endpoints cannot match): the handler gets the rest of the path
# (percent-decoded), the method, the query, and the body raw (a Files API PUT is bytes, not JSON).
PathHandler = Callable[[Workspace, str, str, dict[str, Any], bytes], "dict[str, Any] | files_api.RawReply"]
PATH_ROUTES: dict[str, PathHandler] = {
    "fs/files": files_api.handle,
    "unity-catalog/artifact-allowlists": allowlists.handle,
}
PATH_PARAM = re.compile(r"^/api/2\.[012]/(?P<endpoint>fs/files|unity-catalog/artifact-allowlists)(?P<rest>/.+)$")


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, keep-alive + Nagle + delayed ACK costs ~40 ms per SDK call.
    disable_nagle_algorithm = True
    server: WorkspaceHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            # The client hung up mid-body (a Ctrl-C during its send): a server never acts on half a
            # request. Read as an empty body, a cut-off jobs/create made a job with no settings.
            self.close_connection = True
            return
        try:
            if url.path == "/.well-known/databricks-config":
                raise ApiError(404, "NOT_FOUND", "No host metadata in the sandbox workspace.")
            ws = self.server.workspace
            if url.path in (oauth.DISCOVERY_PATH, oauth.TOKEN_PATH):
                self._oauth(ws, method, url.path, raw)
                return
            ws.authenticate(self.headers.get("Authorization"))
            if ws.rate_limiter is not None:
                ws.rate_limiter.check()
            by_path = PATH_PARAM.match(url.path)
            if by_path:
                out = PATH_ROUTES[by_path["endpoint"]](
                    ws, method, unquote(by_path["rest"]), dict(parse_qsl(url.query, keep_blank_values=True)), raw)
                if isinstance(out, files_api.RawReply):
                    self._reply_raw(out)
                else:
                    self._reply(200, out)
                return
            match = API_PATH.match(url.path)
            route = None
            if match:
                key = (method, match["endpoint"])
                route = (ROUTES_2_2.get(key) if match["version"] == "2.2" else None) \
                    or ROUTES.get(key)
            if route is None:
                known = match and any(ep == match["endpoint"] for _, ep in ROUTES)
                raise ApiError(405 if known else 404, "ENDPOINT_NOT_FOUND",
                               f"No API found for '{method} {url.path}'")
            params = self._params(method, url.query, raw,
                                  self.headers.get("Content-Type") or "")
            self.server.faults.check(method, match["endpoint"] if match else "", params)
            self._reply(200, route(ws, params))
        except ApiError as exc:
            self._reply(exc.status, exc.body(), exc.headers)
        except CLIENT_GONE:
            raise  # no failure of ours, and no one to send a 500 to: `handle_error` notes it
        except Exception as exc:  # the client gets a Databricks-shaped 500, the log the trace
            log.exception("sandbox workspace failed on %s %s", method, self.path)
            self._reply(500, {"error_code": "INTERNAL_ERROR", "message": str(exc)})

    def _oauth(self, ws: Workspace, method: str, path: str, raw: bytes) -> None:
        """The OIDC discovery document and the token endpoint (`sandbox.workspace.oauth`): no Bearer token."""
        if path == oauth.DISCOVERY_PATH and method == "GET":
            self._reply(200, oauth.discovery(self.server.url))
        elif path == oauth.TOKEN_PATH and method == "POST":
            reply = ws.oauth.token_reply(self.headers.get("Authorization"), raw)
            self._reply(reply.status, reply.body)
        else:
            raise ApiError(405, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")

    @staticmethod
    def _params(method: str, query: str, raw: bytes, content_type: str) -> dict[str, Any]:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        if method == "POST" and content_type.startswith("multipart/form-data"):
            params.update(workspace_files.parse_multipart(content_type, raw))
        elif method == "POST" and raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise ApiError(400, "MALFORMED_REQUEST", f"Invalid JSON body: {exc}") from exc
            if not isinstance(body, dict):
                raise ApiError(400, "MALFORMED_REQUEST", "The body must be a JSON object")
            params.update(body)
        return params

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
               ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":  # a HEAD reply has headers only: a body would desync keep-alive
            self.wfile.write(data)

    def _reply_raw(self, reply: files_api.RawReply) -> None:
        self.send_response(reply.status)
        headers = {"Content-Length": str(len(reply.body)), **reply.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s - %s", self.address_string(), format % args)


class WorkspaceHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, workspace: Workspace, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _RequestHandler)
        self.workspace = workspace
        self.faults = Faults()  # what a test injected (faults.py): none unless asked
        # A short poll interval keeps stop() quick; the loop is idle otherwise.
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="sandbox-workspace-http", daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback to stderr for any error: a client that hung up gets a debug
        line instead (two tracebacks on the demo's terminal after a Ctrl-C during run-now)."""
        error = sys.exc_info()[1]
        if isinstance(error, CLIENT_GONE):
            log.debug("sandbox workspace: client %s hung up: %s", client_address, error)
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"
