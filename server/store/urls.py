"""A database URL as it may be shown (logs, CLI output, error messages), and the file behind a
SQLite one."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, unquote

import sqlalchemy as sa

# libpq takes a password as a query parameter too (`?password=...`), and the SSL key's passphrase.
_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})


# Shown for any URL that does not parse: no part of it, since the part a parser trips on is most often
# the password (SQLAlchemy said "invalid literal for int() with base 10: 'Xk9#Lm2@db.internal'").
NOT_A_URL = ("not a valid URL; percent-encode special characters in the password "
             "(@ -> %40, : -> %3A, / -> %2F, # -> %23)")
SUPPORTED_URLS = "only sqlite:/// and postgresql:// URLs are supported"
# The drivers Trimtab runs on: the standard library's sqlite3 and psycopg 3 (the engine reads psycopg's
# connection state, `server.store.engine`). SQLAlchemy's names for them, with and without the driver.
_SUPPORTED_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"})
# What SQLAlchemy's URL pattern takes as a PostgreSQL URL's user:password@ (a username without ':' or
# '/', a password up to the first '@'), then the host, port and database, up to the query.
_AFTER_USERINFO = re.compile(r"[\w+]+://(?:[^:/]*(?::[^@]*)?@)?(?P<location>[^?]*)")
# libpq's several hosts for failover (``postgresql://u:p@h1:5432,h2:5432/db``): a host list (a comma in
# it) after the user:password@, up to the database or the query. SQLAlchemy's URL parser reads one
# host with an integer port, so it refused this form ("invalid literal for int()").
_HOST_LIST = re.compile(r"(?P<head>postgresql(?:\+\w+)?://(?:[^:/]*(?::[^@]*)?@)?)(?P<hosts>[^/?#@]*,[^/?#@]*)"
                        r"(?P<tail>[/?].*)?\Z", re.DOTALL)


class HostsGivenTwice(ValueError):
    """A host list and ``?host=``/``?port=`` in one URL: which libpq would read is not for us to guess."""

    def __init__(self) -> None:
        super().__init__("the hosts are given twice: as a host list (h1:5432,h2:5432) and as ?host= or "
                         "?port=; give them one way")


def _make_url(url: str) -> sa.engine.URL:
    """``url`` parsed by SQLAlchemy; a PostgreSQL host list is moved to the query (``?host=h1,h2&port=
    5432,5432``), the form SQLAlchemy's psycopg dialect hands libpq as is, so libpq tries each host in
    turn (``target_session_attrs`` and the rest as libpq reads them). `ValueError` for one that does
    not parse."""
    listed = _HOST_LIST.match(url)
    if listed is None:
        return sa.engine.make_url(url)
    hosts, ports = zip(*(_host_and_port(entry) for entry in listed.group("hosts").split(",")), strict=True)
    parsed = sa.engine.make_url(listed.group("head") + (listed.group("tail") or ""))
    if "host" in parsed.query or "port" in parsed.query:
        raise HostsGivenTwice
    # An empty port is the default one, as in libpq's own list.
    return parsed.update_query_dict({"host": ",".join(hosts), **({"port": ",".join(ports)} if any(ports) else {})})


def _host_and_port(entry: str) -> tuple[str, str]:
    """One ``host[:port]`` of a host list: an IPv6 address in brackets, a Unix-socket directory
    percent-encoded (``%2Fvar%2Frun%2Fpostgresql``), as libpq reads them."""
    if entry.startswith("["):
        host, closed, rest = entry[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(NOT_A_URL)
        port = rest[1:]
    else:
        host, _, port = entry.partition(":")
    if port and not port.isdigit():
        raise ValueError(NOT_A_URL)
    return unquote(host), port


def parse_url(url: str) -> sa.engine.URL:
    """``url`` parsed, or `ValueError` saying why in words that show no part of it.

    Refused: a URL SQLAlchemy cannot parse (a ':' or '@' in the password split it elsewhere, and its
    error quoted the rest), a PostgreSQL URL with an '@' after its user:password@ (an unencoded '@' in
    the password: "ab@cd" connected to host "cd@127.0.0.1", and libpq's "failed to resolve host" showed
    it), and a driver Trimtab does not run on (``postgresql+asyncpg`` failed with "No module named
    'asyncpg'"). Only the scheme is ever named."""
    try:
        parsed = _make_url(url)
    except HostsGivenTwice:
        raise
    except (ValueError, sa.exc.ArgumentError):  # ValueError: int() of what it took for the port
        # Not chained: the parser's error quotes the URL.
        raise ValueError(NOT_A_URL) from None
    driver = parsed.drivername
    if driver not in _SUPPORTED_DRIVERS:
        backend = driver.split("+", 1)[0]
        if backend in ("sqlite", "postgresql"):
            raise ValueError(f"the {driver} driver: {SUPPORTED_URLS}, with Python's sqlite3 and psycopg 3; "
                             f"write {backend}://")
        raise ValueError(f"a {driver} URL: {SUPPORTED_URLS}")
    if parsed.get_backend_name() == "postgresql":
        found = _AFTER_USERINFO.match(url)
        if found is None or "@" in found.group("location") or "@" in (parsed.host or ""):
            raise ValueError(NOT_A_URL)
    return parsed


# The drivers Trimtab runs on, shown as the scheme a user writes for them.
_SHOWN_SCHEMES = {"postgresql+psycopg": "postgresql", "sqlite+pysqlite": "sqlite"}


def shown_url(url: str | sa.engine.URL) -> str:
    """``url`` with every secret masked: the ``user:password@`` part and secret query parameters."""
    parsed = _make_url(url) if isinstance(url, str) else url
    if parsed.drivername in _SHOWN_SCHEMES:
        # The driver is Trimtab's choice (the engine sets psycopg 3), not the user's: `db upgrade` printed
        # postgresql+psycopg:// where every other command printed the postgresql:// given.
        parsed = parsed.set(drivername=_SHOWN_SCHEMES[parsed.drivername])
    secret = {k for k in parsed.query if k.lower() in _SECRET_QUERY_KEYS}
    if secret:
        parsed = parsed.update_query_dict({k: "***" for k in secret})
    file_bytes = _undecodable_path(parsed)
    if file_bytes is not None:
        parsed = parsed.set(database=_PATH_PLACEHOLDER)
    # The mask is written after rendering: as a query value it would be percent-encoded.
    shown = parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    return shown if file_bytes is None else shown.replace(_PATH_PLACEHOLDER, quote(file_bytes, safe=" +/"))


_PATH_PLACEHOLDER = "trimtab-file-path"


def _undecodable_path(parsed: sa.engine.URL) -> bytes | None:
    """The bytes of a SQLite file path that is not valid UTF-8 (a valid POSIX name, handed over by Python
    as lone surrogates, which rendering cannot percent-encode), to be shown percent-encoded as the rest."""
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite":
        return None
    try:
        database.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(database)
    return None


def sqlite_file(url: str | sa.engine.URL) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL, an in-memory database or a ``file:`` URI."""
    parsed = _make_url(url) if isinstance(url, str) else url
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    return Path(database)
