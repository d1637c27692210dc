"""A TCP relay to PostgreSQL that can turn every open connection into a black hole.

What a failover or a network partition without a reset looks like to a client: the socket stays
open, what is sent is swallowed, nothing ever comes back. Connections opened afterwards work.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

import sqlalchemy as sa

Upstream = tuple[int, "str | tuple[str, int]"]


def relay_endpoints(postgres_url: str, listener: socket.socket) -> tuple[Upstream, str]:
    """Where a relay listening on ``listener`` connects to (PostgreSQL's socket file or host:port), and
    the URL that reaches PostgreSQL through the relay."""
    url = sa.engine.make_url(postgres_url)
    host = url.query.get("host") or url.host or "/var/run/postgresql"
    if isinstance(host, tuple):
        host = host[0]
    port = url.port or 5432
    upstream: Upstream = (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/") \
        else (socket.AF_INET, (host, port))
    through = url.difference_update_query(["host"]).set(host="127.0.0.1", port=listener.getsockname()[1])
    return upstream, through.render_as_string(hide_password=False)


class BlackHoleRelay:
    def __init__(self, postgres_url: str) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._upstream, self.url = relay_endpoints(postgres_url, self._listener)
        self._lock = threading.Lock()
        self._epoch = 0
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="blackhole-accept", daemon=True).start()

    def blackhole(self) -> None:
        """From now on, every connection open now swallows what either side sends, for good."""
        with self._lock:
            self._epoch += 1

    def close(self) -> None:
        """Close every connection (the client sees them end) and stop accepting."""
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        for s in (self._listener, *sockets):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            family, address = self._upstream
            server = socket.socket(family, socket.SOCK_STREAM)
            server.connect(address)
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
                born = self._epoch
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b, born), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, born: int) -> None:
        try:
            while data := src.recv(65536):
                if self._epoch == born:
                    dst.sendall(data)
        except OSError:
            pass


def within(seconds: float, call: Callable[[], object]) -> object:
    """What `call` returns or raises, or a failure if it takes longer than `seconds`."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still waiting after {seconds}s"
    return out[0]
