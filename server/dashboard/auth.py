"""Who may see the dashboard: holders of an admin token.

A browser signs in once with the login form; the token then rides in an
HttpOnly, SameSite=Strict cookie and is verified on every request, so revoking
a token locks its sessions out at once. Scripts send ``Authorization: Bearer``.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from server.errors import PermissionDenied, Unauthenticated
from server.store import Store

COOKIE = "trimtab_token"


def token_from(headers: dict[str, str]) -> str:
    """The token a request carries (header first, then cookie); "" when none."""
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    try:
        jar = SimpleCookie(headers.get("cookie", ""))
    except CookieError:
        return ""
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else ""


def require_admin(store: Store, token: str) -> None:
    """Raise `Unauthenticated` (no or bad token) or `PermissionDenied` (not admin)."""
    if not token:
        raise Unauthenticated("sign in with an admin token")
    found = store.tokens.verify(token)
    if found.scope != "admin":
        raise PermissionDenied(f"token {found.name!r} has scope {found.scope!r}; the dashboard needs 'admin'")


def session_cookie(token: str, secure: bool = False) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{flags}"


def cleared_cookie() -> str:
    return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
