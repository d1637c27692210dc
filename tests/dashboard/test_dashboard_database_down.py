"""The dashboard while its database refuses connections: an answer the browser can act on, and log
records, never a dropped connection with tracebacks on stderr (review rev15e 1)."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.dashboard import Dashboard, serve_dashboard
from server.store import Store, open_store
from tests.timeline.seed import seed


class _Down:
    """Switches a real PostgreSQL database to refusing connections, and ends the ones it has."""

    def __init__(self, url: str) -> None:
        self.name = sa.engine.make_url(url).database
        self.admin = sa.create_engine(sa.engine.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")

    def down(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                         {"n": self.name})

    def up(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))
        self.admin.dispose()


@pytest.fixture
def down_site(migrated_postgres_url: str) -> Iterator[tuple[Store, Dashboard, str, _Down]]:
    store = open_store(migrated_postgres_url)
    seed(store)
    _, admin = store.tokens.create("dashboard-admin", "admin")
    dashboard = serve_dashboard(store, "127.0.0.1:0")
    switch = _Down(migrated_postgres_url)
    try:
        yield store, dashboard, admin, switch
    finally:
        switch.up()
        dashboard.stop(timeout=5)
        store.close()


def _ask(dashboard: Dashboard, method: str, path: str, headers: dict[str, str], body: bytes | None = None
         ) -> tuple[int, dict[str, str], str]:
    host, port = dashboard.address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
    finally:
        conn.close()


def test_a_database_that_refuses_connections_is_a_503_to_retry_and_log_records_only(
        down_site: tuple[Store, Dashboard, str, _Down], caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    _store, dashboard, admin, switch = down_site
    bearer = {"Authorization": f"Bearer {admin}", "Accept": "text/html"}
    assert _ask(dashboard, "GET", "/", bearer)[0] == 200
    capfd.readouterr()
    switch.down()
    with caplog.at_level(logging.WARNING, logger="server.dashboard"):
        # Before: the token check's Unavailable escaped the handler: no HTTP answer at all
        # (RemoteDisconnected), and socketserver printed each traceback on stderr.
        for path in ("/", "/projects/1", "/runs/1"):
            status, headers, body = _ask(dashboard, "GET", path, bearer)
            assert status == 503, (path, status, body[-300:])
            assert "the database is unavailable; retry in" in body
            assert int(headers["retry-after"]) >= 1
            # Review rev15h: the driver's words (socket path, database name) reached anyone,
            # signed in or not; they stay in the log.
            assert "PGSQL" not in body and "accepting connections" not in body and ".s." not in body
        status, headers, body = _ask(dashboard, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"},
                                     f"token={admin}&next=/".encode())
        assert status == 503 and "the database is unavailable; retry in" in body and "retry-after" in headers
        assert "accepting connections" not in body
        assert "Sign out" not in body  # the sign-in was not checked
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err[-2000:]
    records = [r for r in caplog.records if r.name.startswith("server.dashboard")]
    assert len(records) == 4 and all("database" in r.getMessage() for r in records), \
        [r.getMessage() for r in records]
    switch.up()
    assert _ask(dashboard, "GET", "/", bearer)[0] == 200  # the next request after the outage is served


def test_what_escapes_a_request_is_a_log_record_not_a_traceback_on_stderr(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    """socketserver's own handle_error printed the traceback of anything a handler let through."""
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    dashboard = serve_dashboard(store, "127.0.0.1:0")
    try:
        capfd.readouterr()
        with caplog.at_level(logging.ERROR, logger="server.dashboard"):
            try:
                raise RuntimeError("a handler's bug")
            except RuntimeError:
                # As socketserver's process_request_thread calls it, in the except block.
                dashboard._httpd.handle_error(None, ("127.0.0.1", 2))  # noqa: SLF001
        _out, err = capfd.readouterr()
        assert "Traceback" not in err and "a handler's bug" not in err, err
        logged = [r for r in caplog.records if "handling a request from" in r.getMessage()]
        assert len(logged) == 1 and logged[0].exc_info and "a handler's bug" in str(logged[0].exc_info[1])
    finally:
        dashboard.stop()
        store.close()
