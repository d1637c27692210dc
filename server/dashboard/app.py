"""The dashboard's HTTP server: stdlib `http.server`, one thread per request, read-only.

Routes (every one but /login, /healthz and /metrics needs an admin token):
    GET  /                          projects list
    GET  /projects/<id>[?page=N]    timeline, current recommendation, runs (200 a page, newest first)
    GET  /projects/<id>/timeline.png  the timeline as a PNG
    GET  /projects/<id>/timeline.svg  the timeline as SVG
    GET  /runs/<id>                 stage and cost breakdown
    GET  /login, POST /login, POST /logout
    GET  /healthz
    GET  /metrics                   Prometheus' scrape (`server.metrics`; 404 when off)
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from server.dashboard import auth, pages, views
from server.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TrimtabError,
    Unauthenticated,
    Unavailable,
)
from server.ids import parse_id
from server.readiness import Readiness
from server.store import Store

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 4096
# Retry-After on a 503 when the store gave no hint of its own (`TrimtabError.retry_after_ms`).
RETRY_AFTER_S = 5

# A view: the store, the route's match and the query (`urllib.parse.parse_qs`) -> content type and body.
View = Callable[[Store, re.Match[str], dict[str, list[str]]], tuple[str, bytes]]
Route = tuple[re.Pattern[str], View]


def _html(text: str) -> tuple[str, bytes]:
    return "text/html; charset=utf-8", text.encode("utf-8")


def _id(m: re.Match[str], kind: str) -> int:
    """The route's ``id``: one no row can have (above `MAX_ROW_ID`: handed to the driver it raises
    OverflowError or "integer out of range", which no handler here catches) is a 404 like any id that
    names nothing (`server.ids.parse_id`).

    Negative ids never get here: the routes match digits only, so ``/runs/-1`` is "no page"."""
    number = parse_id(m["id"])
    if number is None:
        raise NotFound(f"{kind} {m['id'][:20]}{'...' if len(m['id']) > 20 else ''} not found")
    return number


# More digits than this is no page a project has (200 runs a page): refused before int() reads them.
_PAGE_DIGITS = 9


def _page(query: dict[str, list[str]]) -> int:
    """``?page=N``, the page of a project's runs (1, the newest, when not given)."""
    text = query.get("page", ["1"])[-1].strip()
    if not (text.isascii() and text.isdigit()) or len(text) > _PAGE_DIGITS or int(text) < 1:
        raise InvalidArgument(f"page {text[:20]!r}: give a page number from 1")
    return int(text)


def _projects(store: Store, _m: re.Match[str], _query: dict[str, list[str]]) -> tuple[str, bytes]:
    return _html(pages.projects_page(views.project_rows(store), views.troubled_workspaces(store)))


def _project(store: Store, m: re.Match[str], query: dict[str, list[str]]) -> tuple[str, bytes]:
    project_id = _id(m, "project")
    return _html(pages.project_page(views.project_page(store, project_id, _page(query))))


def _run(store: Store, m: re.Match[str], _query: dict[str, list[str]]) -> tuple[str, bytes]:
    return _html(pages.run_page(views.run_page(store, _id(m, "run"))))


def _chart(store: Store, m: re.Match[str], _query: dict[str, list[str]]) -> tuple[str, bytes]:
    # The page's chart: the newest `views.TIMELINE_RUNS` runs (`trimtab timeline --out` draws every one).
    project = store.projects.get(_id(m, "project"))
    timeline = views.project_timeline(store, project, store.runs.history(int(project.id or 0)))
    if m["fmt"] == "png":
        from server.render.png import timeline_png

        return "image/png", timeline_png(timeline)
    from server.render.svg import timeline_svg

    return "image/svg+xml", timeline_svg(timeline).encode("utf-8")


ROUTES: list[Route] = [
    (re.compile(r"/"), _projects),
    # [0-9], not \d: \d also matches other scripts' digits, some of which int() refuses.
    (re.compile(r"/projects/(?P<id>[0-9]+)"), _project),
    (re.compile(r"/projects/(?P<id>[0-9]+)/timeline\.(?P<fmt>png|svg)"), _chart),
    (re.compile(r"/runs/(?P<id>[0-9]+)"), _run),
]


# A local path as the dashboard's own links write them. Anything else ("/\\evil.example" and
# "/<TAB>/evil.example", which browsers read as another site; CR/LF, which would write headers of
# its own into the redirect) is "/".
_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%?=&+-]*")


def _safe_next(path: str) -> str:
    # Only local paths: a login link must not bounce a signed-in browser to another site.
    return path if _LOCAL_PATH.fullmatch(path) else "/"


def _form_length(header: str | None) -> int | None:
    """A POST's Content-Length: no header is an empty form; None when it is not a whole number of
    bytes. int() took "-1" (rfile.read(-1) then waited for the client to hang up) and raised on
    "abc" (a traceback and a dropped connection); digits only, and not so many that int() is slow."""
    if header is None or not header.strip():
        return 0
    text = header.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    # Past the cap's digits it is too large whatever it says: kept as a number the 413 reads.
    return int(text) if len(text) <= len(str(MAX_FORM_BYTES)) else MAX_FORM_BYTES + 1


class DashboardHandler(BaseHTTPRequestHandler):
    server_version = "trimtab-dashboard"
    sys_version = ""  # the Server header does not tell which Python runs it
    store: Store  # set on the subclass made per server
    sessions: auth.Sessions  # likewise: one dashboard's signed-in browsers
    readiness: Readiness | None = None  # the server's (`server.readiness`); None: a dashboard alone

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("dashboard %s - " + format, self.address_string(), *args)

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _send(self, status: int, content_type: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        # Nothing is loaded from anywhere: a strict policy costs nothing and blocks injected content.
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                                    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
        # Not framed by another site (clickjacking), no content sniffing, no URL sent elsewhere.
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The client hung up before the answer was written (it read a part and closed, or gave up):
            # nothing is left to tell it, and a traceback on stderr for each one said nothing either.
            self.close_connection = True
            log.debug("dashboard: %s went away before the answer to %s: %s", self.address_string(),
                      self.path, exc)

    def _redirect(self, location: str, cookie: str = "") -> None:
        extra = {"Location": location}
        if cookie:
            extra["Set-Cookie"] = cookie
        self._send(303, "text/plain; charset=utf-8", b"", extra)

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's name
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self._healthz()
            return
        if url.path == "/metrics":
            self._metrics()
            return
        if url.path == "/login":
            query = urllib.parse.parse_qs(url.query)
            self._send(200, *_html(pages.login_page(next_path=_safe_next(query.get("next", ["/"])[0]))))
            return
        for pattern, view in ROUTES:
            match = pattern.fullmatch(url.path)
            if match is not None:
                self._serve(view, match, url)
                return
        self._send(404, *_html(pages.error_page(404, f"no page at {url.path}", signed_in=False)))

    def _healthz(self) -> None:
        """The server's readiness as its gRPC health says it, from what its watchers last found: no
        database call per request (a probe every few seconds must not add load to a database in trouble)."""
        ready, body = self.readiness.state() if self.readiness is not None else (True, {"status": "ok"})
        extra = {} if ready else {"Retry-After": str(RETRY_AFTER_S)}
        self._send(200 if ready else 503, "application/json", (json.dumps(body) + "\n").encode(), extra)

    def _metrics(self) -> None:
        """The server's metrics, without a token as /healthz: counts and workspace names only, for a
        scraper that should hold no admin token (one could apply recommendations)."""
        render = self.readiness.metrics if self.readiness is not None else None
        if render is None:
            self._send(404, "text/plain; charset=utf-8", b"no metrics here: TRIMTAB_METRICS=0, or a dashboard "
                                                         b"without its server\n")
            return
        try:
            content_type, body = render(self.headers.get("Accept", ""))
        except Exception as exc:  # noqa: BLE001 - every failure answers (`_failed`)
            self._failed(exc, "/metrics", signed_in=False)
            return
        self._send(200, content_type, body)

    def _serve(self, view: View, match: re.Match[str], url: urllib.parse.SplitResult) -> None:
        # The query too, so signing in comes back to the page of runs asked for.
        path = url.path + (f"?{url.query}" if url.query else "")
        try:
            auth.require_admin(self.store, auth.token_from(self._headers(), self.sessions))
        except Unauthenticated as exc:
            if "authorization" in self._headers() or "text/html" not in self._headers().get("accept", "text/html"):
                self._send(401, "text/plain; charset=utf-8", f"{exc}\n".encode(),
                           {"WWW-Authenticate": 'Bearer realm="trimtab"'})
            else:
                self._redirect("/login?" + urllib.parse.urlencode({"next": path}))
            return
        except PermissionDenied as exc:
            self._send(403, *_html(pages.error_page(403, str(exc))))
            return
        except Exception as exc:  # noqa: BLE001 - the token check reads the store, which can be down
            self._failed(exc, path)
            return
        try:
            content_type, body = view(self.store, match, urllib.parse.parse_qs(url.query))
        except NotFound as exc:
            self._send(404, *_html(pages.error_page(404, str(exc))))
            return
        except InvalidArgument as exc:
            self._send(400, *_html(pages.error_page(400, str(exc))))
            return
        except Exception as exc:  # noqa: BLE001 - every failure answers (`_failed`)
            self._failed(exc, path)
            return
        self._send(200, content_type, body)

    def _failed(self, exc: Exception, path: str, *, signed_in: bool = True) -> None:
        """Answer a request the store or a bug failed: an answer, never a dropped connection, and one
        log record, never a traceback on stderr. A database that is down or busy is a 503 the browser
        may retry (Retry-After, from the store's own hint); another `TrimtabError` says what it is; a
        bug is logged with its traceback and the reader is sent to the log."""
        if isinstance(exc, Unavailable):
            log.warning("dashboard: %s: %s", path, exc)
            wait_s = max(1, math.ceil(exc.retry_after_ms / 1000)) if exc.retry_after_ms else RETRY_AFTER_S
            # The driver's words (socket path, host, port, database, user) stay in the log: the
            # token check reads the store before anyone is signed in (review rev15h).
            self._send(503, *_html(pages.error_page(
                503, f"the database is unavailable; retry in {wait_s} s (the server log says why)", signed_in=signed_in)),
                {"Retry-After": str(wait_s)})
        elif isinstance(exc, TrimtabError):
            log.warning("dashboard: %s: %s", path, exc)
            said = str(exc) if signed_in else "the server could not answer (the server log says why)"
            self._send(500, *_html(pages.error_page(500, said, signed_in=signed_in)))
        else:
            log.error("dashboard: %s failed", path, exc_info=exc)
            self._send(500, *_html(pages.error_page(500, "internal error (see the server log)", signed_in=signed_in)))

    def do_POST(self) -> None:  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        length = _form_length(self.headers.get("Content-Length"))
        if length is None or length > MAX_FORM_BYTES:
            # The body is left unread, so the connection cannot carry another request.
            self.close_connection = True
            if length is None:
                self._send(400, "text/plain; charset=utf-8", b"bad Content-Length: give the form's size in bytes\n")
            else:
                self._send(413, "text/plain; charset=utf-8", b"form too large\n")
            return
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        if url.path == "/logout":
            session_id = auth.session_id_from(self._headers())
            if session_id:
                self.sessions.end(session_id)  # the id is dead even if a copy of the cookie survives
            self._redirect("/login", auth.cleared_cookie())
            return
        if url.path != "/login":
            self._send(405, "text/plain; charset=utf-8", b"read-only dashboard\n")
            return
        token = form.get("token", [""])[0].strip()
        next_path = _safe_next(form.get("next", ["/"])[0])
        try:
            auth.require_admin(self.store, token)
        except (Unauthenticated, PermissionDenied) as exc:
            status = 403 if isinstance(exc, PermissionDenied) else 401
            self._send(status, *_html(pages.login_page(str(exc), next_path)))
            return
        except Exception as exc:  # noqa: BLE001 - the token check reads the store, which can be down
            self._failed(exc, url.path, signed_in=False)
            return
        # Behind a TLS proxy (docs/operations.md) the cookie is marked Secure, so the browser never sends
        # the token over plain HTTP. Trusting the header costs nothing: it can only add the flag.
        behind_tls = self._headers().get("x-forwarded-proto", "").strip().lower() == "https"
        session_id = self.sessions.start(token)
        self._redirect(next_path, auth.session_cookie(session_id, self.sessions.ttl_s, secure=behind_tls))


def _family(host: str, port: int) -> socket.AddressFamily:
    """The address family to listen on ``host`` with: IPv6 for a literal IPv6 address ("::1", "::")
    or a name that resolves to IPv6 only, else IPv4, as before IPv6 was served. A name resolving to
    both stays IPv4: glibc lists ::1 first for "localhost", and the dashboard moved off 127.0.0.1,
    where proxies, tunnels and health checks reach it (review rev15h)."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        pass  # a name (or "")
    try:
        found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host!r}: {exc}") from exc
    families = {f[0] for f in found}
    return socket.AF_INET6 if families == {socket.AF_INET6} else socket.AF_INET


class DashboardServer(ThreadingHTTPServer):
    """The stdlib server, but what escapes a request's handling is a log record (with
    ``--log-format json``, one JSON line), not a traceback printed on stderr by `socketserver`."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        # The stdlib server is IPv4 only (``address_family`` AF_INET): "[::1]:8080" failed with
        # "Address family for hostname not supported". The family is the one the host resolves to.
        self.address_family = _family(*address)
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("dashboard: handling a request from %s failed", client_address)


class Dashboard:
    """A running dashboard: where it listens, and how to stop it."""

    def __init__(self, store: Store, host: str, port: int, sessions: auth.Sessions | None = None,
                 readiness: Readiness | None = None) -> None:
        self.sessions = sessions or auth.Sessions()
        handler = type("BoundDashboardHandler", (DashboardHandler,),
                       {"store": store, "sessions": self.sessions, "readiness": readiness})
        self._httpd = DashboardServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="trimtab-dashboard", daemon=True)
        self._thread.start()
        self._store = store
        self._stop_warming = threading.Event()
        self._warming: threading.Thread | None = None

    def warm(self) -> None:
        """Compute the projects page's savings once in the background, so that the first visit after a
        start is served from the kept savings (`views.project_rows`): at 300 jobs with a year of
        nightly runs, that first visit otherwise took 15-19 s. Best effort: a failure is logged and
        the page computes what it needs as before; `stop` ends it between two projects."""
        def run() -> None:
            try:
                views.project_rows(self._store, stop=self._stop_warming)
            except Exception:  # noqa: BLE001 - the page recomputes whatever this did not keep
                log.warning("dashboard: computing the projects page ahead failed; the first visit computes it",
                            exc_info=True)

        self._warming = threading.Thread(target=run, name="trimtab-dashboard-warm", daemon=True)
        self._warming.start()

    @property
    def address(self) -> str:
        """``host:port``, an IPv6 host in brackets (``[::1]:8080``) as URLs and ``--http`` write it."""
        host, port = self._httpd.server_address[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/"

    def stop(self, timeout: float | None = None) -> bool:
        """Stop serving and end the warm-up; False when the warm-up is still running after
        ``timeout`` seconds (it stops between two projects, but one stuck on a database that stopped
        answering waits for the database's own deadline, and a shutdown has a grace to keep)."""
        self._stop_warming.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        if self._warming is not None:
            # Before the store closes under it (and a test database is dropped with its connection).
            self._warming.join(timeout)
            return not self._warming.is_alive()
        return True
