"""OAuth machine-to-machine for the emulated workspace: service principals' client ids and secrets,
the workspace's OIDC discovery document and token endpoint, and the short-lived access tokens it issues.

As Databricks serves them for a workspace: ``GET /oidc/.well-known/oauth-authorization-server`` names
the ``token_endpoint`` (``/oidc/v1/token``), which takes a ``client_credentials`` grant with the client
id and secret in HTTP Basic auth (or the form), and answers an access token with its ``expires_in``.
The token is then a Bearer token on the REST API until it expires; an expired one gets 401, a revoked
or unknown one 403 "Invalid access token." (or either as `Workspace.refused_token_status` says). A
wrong client id or secret gets 401 ``invalid_client`` at the token endpoint. A secret rotated
(`rotate_secret`, as one deleted) leaves the tokens already issued with it working until they expire;
`revoke_tokens` is for a workspace that ends them at once.

Access tokens live in memory only (a restarted emulator has issued none, as if they had expired);
service principals are kept in the state file with the personal access tokens.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sandbox.workspace.clock import Clock
from sandbox.workspace.state import StateStore

DISCOVERY_PATH = "/oidc/.well-known/oauth-authorization-server"
TOKEN_PATH = "/oidc/v1/token"
# Databricks' workspace access tokens last an hour.
DEFAULT_LIFETIME_S = 3600.0


@dataclass(frozen=True)
class OAuthReply:
    """What the token endpoint answers: its status and JSON body (an OAuth error body, not Databricks')."""

    status: int
    body: dict[str, Any]


def discovery(host: str) -> dict[str, Any]:
    """The workspace's authorization server metadata (RFC 8414), as Databricks serves it."""
    oidc = f"{host}/oidc"
    return {"issuer": oidc, "authorization_endpoint": f"{oidc}/v1/authorize", "token_endpoint": f"{oidc}/v1/token",
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["all-apis", "offline_access"]}


def _fake_jwt() -> str:
    """An access token shaped as Databricks' are (a JWT: three base64url parts): never parsed here."""
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'jti': secrets.token_hex(8)})}.{secrets.token_hex(16)}"


class OAuthIssuer:
    """Service principals' secrets and the access tokens issued for them. ``lifetime_s`` (settable:
    tests make it a few seconds) is how long a token issued from then on lasts, on ``clock``."""

    def __init__(self, store: StateStore, clock: Clock, lifetime_s: float = DEFAULT_LIFETIME_S) -> None:
        self._store = store
        self._clock = clock
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        # access token -> (client id, expiry on the clock)
        self._issued: dict[str, tuple[str, float]] = {}
        # Every token issued, in order (tests read which token the SDK used when).
        self.issued: list[str] = []

    def add_service_principal(self, client_id: str | None = None) -> tuple[str, str]:
        """A new service principal with one OAuth secret: (client id, client secret)."""
        client_id = client_id or "sp-" + secrets.token_hex(8)
        secret = "dose" + secrets.token_hex(16)
        with self._store.lock:
            self._store.data.setdefault("service_principals", {})[client_id] = {"secret": secret}
            self._store.save()
        return client_id, secret

    def rotate_secret(self, client_id: str) -> str:
        """A new secret for ``client_id``; the old one stops working (as deleting it in the account)."""
        secret = "dose" + secrets.token_hex(16)
        with self._store.lock:
            self._store.data.setdefault("service_principals", {})[client_id] = {"secret": secret}
            self._store.save()
        return secret

    def revoke_tokens(self, client_id: str) -> int:
        """Revoke every access token issued to ``client_id`` (as disabling the principal and enabling it
        again does): its secret still works. How many were revoked."""
        with self._lock:
            gone = [t for t, (who, _) in self._issued.items() if who == client_id]
            for token in gone:
                del self._issued[token]
        return len(gone)

    def token_reply(self, authorization: str | None, raw: bytes) -> OAuthReply:
        """The token endpoint: a client_credentials grant answered with an access token, or the error."""
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                return OAuthReply(400, {"error": "invalid_request", "error_description": "Malformed Basic auth"})
        if form.get("grant_type") != "client_credentials":
            return OAuthReply(400, {"error": "unsupported_grant_type",
                                    "error_description": f"grant_type {form.get('grant_type')!r} is not supported"})
        with self._store.lock:
            principal = self._store.data.get("service_principals", {}).get(client_id)
        if principal is None or not secrets.compare_digest(str(principal["secret"]), secret):
            return OAuthReply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        token = _fake_jwt()
        with self._lock:
            self._issued[token] = (client_id, self._clock.time() + self.lifetime_s)
            self.issued.append(token)
        return OAuthReply(200, {"access_token": token, "token_type": "Bearer", "scope": form.get("scope", "all-apis"),
                                "expires_in": int(self.lifetime_s)})

    def knows(self, token: str) -> bool:
        """Whether ``token`` is an access token issued here (expired or not)."""
        with self._lock:
            return token in self._issued

    def check(self, token: str) -> str | None:
        """Why ``token`` is refused ("Token is expired."), or None when it is an access token issued here
        and not expired. The workspace answers it (`Workspace.authenticate`: 401 or 403)."""
        with self._lock:
            issued = self._issued.get(token)
        if issued is None:
            return "Invalid access token."
        if self._clock.time() >= issued[1]:
            return "Token is expired."
        return None
