"""A database URL as it may be shown (logs, CLI output, error messages), and the file behind a
SQLite one."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

# libpq takes a password as a query parameter too (`?password=...`), and the SSL key's passphrase.
_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})


def shown_url(url: str | sa.engine.URL) -> str:
    """``url`` with every secret masked: the ``user:password@`` part and secret query parameters."""
    parsed = sa.engine.make_url(url) if isinstance(url, str) else url
    secret = {k for k in parsed.query if k.lower() in _SECRET_QUERY_KEYS}
    if secret:
        parsed = parsed.update_query_dict({k: "***" for k in secret})
    # The mask is written after rendering: as a query value it would be percent-encoded.
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def sqlite_file(url: str | sa.engine.URL) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL, an in-memory database or a ``file:`` URI."""
    parsed = sa.engine.make_url(url) if isinstance(url, str) else url
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    return Path(database)
