"""Who may see the dashboard: holders of an admin token.

A browser signs in once with the login form. The token stays in the server's memory: the browser
gets a random session id in an HttpOnly, SameSite=Strict cookie, so the cookie (a browser profile
copied, a proxy's log) never holds a token the gRPC API accepts. A session ends at "Sign out",
after `SESSION_TTL_S`, or when the server restarts; the token behind it is verified on every request,
so revoking it locks its sessions out at once. Scripts send ``Authorization: Bearer``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie

from server.errors import PermissionDenied, Unauthenticated
from server.store import Store

COOKIE = "trimtab_session"
# A working day: long enough not to interrupt a review, short enough that a browser left signed in
# on a shared machine does not stay so for good.
SESSION_TTL_S = 12 * 3600
# Sign-ins are rare (people, not scripts); the bound only keeps a flood of them from growing memory.
MAX_SESSIONS = 10_000


class Sessions:
    """Signed-in browsers: session id -> (token, when it expires), in memory only.

    ``clock`` is monotonic seconds (injectable for tests); expiry is absolute, from the sign-in."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.monotonic,
                 max_sessions: int = MAX_SESSIONS) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max = max_sessions
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()  # oldest sign-in first

    def start(self, token: str) -> str:
        """A new session for ``token`` (already verified); its id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            while self._sessions and (len(self._sessions) >= self._max or next(iter(self._sessions.values()))[1] <= now):
                self._sessions.popitem(last=False)  # expired ones first, then the oldest sign-in
            self._sessions[session_id] = (token, now + self.ttl_s)
        return session_id

    def token(self, session_id: str) -> str:
        """The token behind a live session; "" for an unknown or expired one (which is dropped)."""
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None:
                return ""
            if found[1] <= self._clock():
                del self._sessions[session_id]
                return ""
            return found[0]

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


def session_id_from(headers: dict[str, str]) -> str:
    """The session id in the request's cookie; "" when none."""
    try:
        jar = SimpleCookie(headers.get("cookie", ""))
    except CookieError:
        return ""
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else ""


def token_from(headers: dict[str, str], sessions: Sessions) -> str:
    """The token a request carries (Bearer header first, then the cookie's session); "" when none."""
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    session_id = session_id_from(headers)
    return sessions.token(session_id) if session_id else ""


def require_admin(store: Store, token: str) -> None:
    """Raise `Unauthenticated` (no or bad token) or `PermissionDenied` (not admin)."""
    if not token:
        raise Unauthenticated("sign in with an admin token")
    found = store.tokens.verify(token)
    if found.scope != "admin":
        raise PermissionDenied(f"token {found.name!r} has scope {found.scope!r}; the dashboard needs 'admin'")


def session_cookie(session_id: str, max_age_s: float, secure: bool = False) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={int(max_age_s)}{flags}"


def cleared_cookie() -> str:
    return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
