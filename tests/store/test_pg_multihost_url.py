"""libpq's several hosts for failover (``postgresql://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write``):
SQLAlchemy's URL parser reads one host with an integer port, so such a URL was refused as "not a valid
URL; percent-encode special characters in the password", though libpq and psycopg 3 take it. It is now
handed to libpq as SQLAlchemy's psycopg dialect passes several hosts (``?host=h1,h2&port=5432,5432``),
and libpq tries each in turn."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa

from server.cli.main import main
from server.config import ServerConfig
from server.domain import Workspace
from server.errors import InvalidArgument
from server.store import open_store
from server.store.engine import make_engine
from server.store.urls import NOT_A_URL, parse_url, shown_url


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port on 127.0.0.1 bound and not listening: a connection to it is refused at once."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def _host_list(url: str, *entries: str) -> str:
    """``url`` (the tests' PostgreSQL database) written with a host list of ``entries``; "live" stands for
    its own host (a socket directory or a name) and port."""
    base = sa.engine.make_url(url)
    host = base.host or str(base.query.get("host") or "")
    assert host, "the tests' PostgreSQL URL names no host"
    live = quote(host, safe="") + (f":{base.port}" if base.port else "")
    user = quote(base.username or "", safe="") + (f":{quote(base.password, safe='')}" if base.password else "")
    rest = {k: v for k, v in base.query.items() if k not in ("host", "port")}
    query = urlencode({**rest, "target_session_attrs": "read-write"}, doseq=True)
    hosts = ",".join(live if e == "live" else e for e in entries)
    return f"postgresql://{user}@{hosts}/{base.database}?{query}"


def test_a_host_list_fails_over_from_a_dead_host_to_the_live_one(migrated_postgres_url: str, dead_port: int) -> None:
    url = _host_list(migrated_postgres_url, f"127.0.0.1:{dead_port}", "live")
    # The dead host alone is refused: the store below did try it first, and went on.
    alone = make_engine(_host_list(migrated_postgres_url, f"127.0.0.1:{dead_port}"), timeout_s=5)
    try:
        with pytest.raises(sa.exc.OperationalError, match="Connection refused"), alone.connect():
            pass
    finally:
        alone.dispose()

    store = open_store(url)  # was: InvalidArgument "database URL: not a valid URL; percent-encode ..."
    try:
        store.workspaces.add(Workspace(name="prod", host="https://p", cloud="aws"), "tok")
        assert [w.name for w in store.workspaces.list()] == ["prod"]
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "off"
            live = sa.engine.make_url(migrated_postgres_url)
            assert conn.connection.dbapi_connection.info.host in (live.host, live.query.get("host"))
    finally:
        store.close()


def test_db_status_and_the_server_settings_take_a_host_list(migrated_postgres_url: str, dead_port: int,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = _host_list(migrated_postgres_url, f"127.0.0.1:{dead_port}", "live")
    assert ServerConfig(db_url=url).db_url == url  # checked when made; was "setting db_url: not a valid URL; ..."
    capsys.readouterr()
    assert main(["--json", "db", "status", "--db", url]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "up to date"


@pytest.mark.parametrize(("url", "hosts", "ports"), [
    ("postgresql://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write", "h1,h2", "5432,5432"),
    ("postgresql://u@h1,h2:6432/db", "h1,h2", ",6432"),  # an empty port is the default one, as in libpq
    ("postgresql://h1,h2/db", "h1,h2", None),
    ("postgresql://u@[::1]:5433,[fe80::1]/db", "::1,fe80::1", "5433,"),
    ("postgresql://u@%2Fvar%2Frun%2Fpostgresql,h2:5432/db", "/var/run/postgresql,h2", ",5432"),
    ("postgresql+psycopg://u:a%40b@h1:1,h2:2/db", "h1,h2", "1,2"),
])
def test_a_host_list_is_read_as_libpq_reads_it(url: str, hosts: str, ports: str | None) -> None:
    parsed = parse_url(url)
    assert (parsed.host, parsed.port, parsed.database) == (None, None, "db")
    assert (parsed.query.get("host"), parsed.query.get("port")) == (hosts, ports)


def test_a_password_with_a_comma_is_still_one_host() -> None:
    parsed = parse_url("postgresql://u:p,q@h1:5432/db")
    assert (parsed.password, parsed.host, parsed.port, dict(parsed.query)) == ("p,q", "h1", 5432, {})


def test_a_host_list_is_shown_without_its_password() -> None:
    shown = shown_url("postgresql://trimtab:s3cret@h1:5432,h2:5432/db?target_session_attrs=read-write")
    assert "s3cret" not in shown and shown.startswith("postgresql://trimtab:***@/db?")


def test_hosts_given_twice_or_a_bad_port_in_the_list_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"^the hosts are given twice: as a host list \(h1:5432,h2:5432\) and "
                                         r"as \?host= or \?port=; give them one way$"):
        parse_url("postgresql://u:p@h1:5432,h2:5432/db?port=5432")
    with pytest.raises(InvalidArgument, match="hosts are given twice"):
        make_engine("postgresql://u:p@h1,h2/db?host=h3")
    for bad in ("postgresql://u:p@h1:54x,h2/db", "postgresql://u:p@[::1:5432,h2/db", "postgresql://u:a@b@h1,h2/db"):
        with pytest.raises(ValueError) as raised:
            parse_url(bad)
        assert str(raised.value) == NOT_A_URL
