"""One stand-in HTTP server on 127.0.0.1, an ephemeral port, serving from a daemon thread.

The cloud stand-ins differ in what they answer (their request handler) and whether they speak TLS;
starting, stopping and the context-manager protocol are the same for all of them.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    """Base of the stand-ins: subclasses give their request handler (``handler_class``; the handler's
    ``stand_in`` is the instance) and ``thread_name``, and may wrap the listening socket (TLS) in
    ``_wrap``."""

    thread_name = "stand-in"
    scheme = "http"

    def __init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        assert self._httpd is not None, "start() first"
        return f"{self.scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _wrap(self, httpd: ThreadingHTTPServer) -> None:
        """Called before serving: a TLS stand-in wraps ``httpd.socket`` here."""

    def start(self) -> Self:
        handler = type("Handler", (self.handler_class(),), {"stand_in": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._wrap(self._httpd)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
