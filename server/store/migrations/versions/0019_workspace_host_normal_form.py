"""workspaces.host in its normal form (`server.services.workspace_checks.normal_host`): scheme and host
name in lower case, no trailing dot, no port the scheme implies, no trailing '/'. Hosts are written in
that form since 0018's release and compared in it, but ones stored before kept their spelling
(``HTTP://LocalHost:38717`` in `workspace list`, beside a new one's ``http://localhost:38717``).
Data only; the downgrade keeps the normal form, which every older Trimtab reads as it reads any host.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 03:50:00.000000
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_DEFAULT_PORTS = {"https": 443, "http": 80}


def _normal(host: str) -> str:
    # A frozen copy of `normal_host` as of this revision: a migration must do tomorrow what it did today,
    # whatever the server's function becomes (no migration here imports the server).
    try:
        parts = urlsplit(host.strip())
        port = parts.port
    except ValueError:
        return host.rstrip("/")
    scheme, name = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if not scheme or not name:
        return host.rstrip("/")
    authority = f"[{name}]" if ":" in name else name
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        authority += f":{port}"
    return f"{scheme}://{authority}{parts.path.rstrip('/')}"


def upgrade() -> None:
    conn = op.get_bind()
    table = sa.table('workspaces', sa.column('name', sa.String), sa.column('host', sa.String))
    for name, host in conn.execute(sa.select(table.c.name, table.c.host)).all():
        if (normal := _normal(host)) != host:
            conn.execute(table.update().where(table.c.name == name).values(host=normal))


def downgrade() -> None:
    pass  # the normal form is a host every older version reads; the old spelling is not kept
