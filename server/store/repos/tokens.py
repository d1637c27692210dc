"""API tokens. The plaintext is ``tt_<token_id>_<secret>``; only sha256(secret) is stored.

The public token id makes a lookup one primary-key read; the secret is compared
in constant time. An agent token may be bound to a workspace (``workspace``): what it sends is
then tied only to that workspace's runs (`server.store.repos.ingest`, `server.collect.build`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from server.domain import SCOPES, ApiToken
from server.errors import InvalidArgument, NotFound, Unauthenticated, shown
from server.store import convert
from server.store.repos.base import Repository
from server.store.repos.workspaces import name_as_stored
from server.store.tables import ApiTokenRow

T = ApiTokenRow.__table__  # type: ignore[attr-defined]
PREFIX = "tt_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(plaintext: str) -> tuple[str, str] | None:
    """(token_id, secret) of a well-formed token, else None."""
    if not plaintext.startswith(PREFIX):
        return None
    token_id, sep, secret = plaintext[len(PREFIX):].partition("_")
    if not sep or not token_id or not secret:
        return None
    return token_id, secret


class TokenRepository(Repository):
    def create(self, name: str, scope: str, workspace: str | None = None) -> tuple[ApiToken, str]:
        """A new token: (what is stored, the plaintext — shown once, never stored). ``workspace``
        binds an agent token to that workspace, which must exist."""
        if scope not in SCOPES:
            raise InvalidArgument(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        if not name.strip():
            raise InvalidArgument("name must not be empty")
        if workspace is not None and scope != "agent":
            raise InvalidArgument(f"only an agent token is bound to a workspace, not an {scope} token")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24).replace("_", "-")
        now = self._clock.now_ms()
        with self._write() as conn:
            # Checked in the insert's transaction: a token bound to a workspace that is not there
            # (a typo) would send data nothing is ever tied to.
            # Bound to the name as stored (`--workspace SB` for `sb`): data is tied to runs by that name.
            stored = name_as_stored(conn, workspace) if workspace is not None else None
            if workspace is not None and stored is None:
                raise NotFound(f"workspace {shown(workspace)} not found (see `trimtab workspace list`)")
            workspace = stored
            conn.execute(T.insert().values(token_id=token_id, name=name, scope=scope, workspace=workspace,
                                           secret_sha256=_digest(secret), created_at_ms=now))
        return (ApiToken(token_id=token_id, name=name, scope=scope, created_at_ms=now, workspace=workspace),
                f"{PREFIX}{token_id}_{secret}")

    def verify(self, plaintext: str) -> ApiToken:
        """The token `plaintext` stands for; `Unauthenticated` if unknown, wrong or revoked."""
        parts = split_token(plaintext)
        if parts is None:
            raise Unauthenticated("malformed token")
        with self._read() as conn:
            row = conn.execute(sa.select(T).where(T.c.token_id == parts[0])).first()
        if row is None or row.revoked or not hmac.compare_digest(row.secret_sha256, _digest(parts[1])):
            raise Unauthenticated("invalid token")
        return convert.token(row)

    def exists(self, token_id: str) -> bool:
        """Whether a token of this id is stored, revoked or not (the refusal log names only those)."""
        with self._read() as conn:
            return conn.execute(sa.select(T.c.token_id).where(T.c.token_id == token_id)).first() is not None

    def list(self) -> list[ApiToken]:
        with self._read() as conn:
            return [convert.token(r) for r in conn.execute(sa.select(T).order_by(T.c.created_at_ms)).all()]

    def revoked_ids(self) -> frozenset[str]:
        """Ids of every revoked token (the verifier's cheap revocation check)."""
        with self._read() as conn:
            return frozenset(conn.execute(sa.select(T.c.token_id).where(T.c.revoked)).scalars())

    def revoke(self, token_id: str) -> None:
        with self._write() as conn:
            if not conn.execute(T.update().where(T.c.token_id == token_id).values(revoked=True)).rowcount:
                raise NotFound(f"token {token_id!r} not found")
