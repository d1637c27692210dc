"""Token authentication on every call except health checking and reflection.

Clients send ``authorization: Bearer <token>``. Ingest accepts `agent` and
`admin` tokens; every admin service needs `admin`. A verified token is
trusted for ``cache_seconds`` (injected clock) so a busy agent does not cost
a database read per batch. Revocation (`trimtab token revoke` writes the
store, possibly from another process) must not wait that long, so at most
every ``revocation_check_seconds`` one read of the revoked token ids drops
revoked tokens from the cache: one query per interval however many agents
call, and a revoked token is refused within that bound.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import grpc

from server.api.errors import abort
from server.clock import Clock
from server.domain import ApiToken
from server.errors import PermissionDenied, TrimtabError, Unauthenticated
from server.store import Store
from server.store.repos.tokens import split_token

log = logging.getLogger(__name__)
# How often one refused agent token is logged again: an agent retries every few seconds, and a
# workspace's clusters all hold the same token.
AGENT_REFUSAL_LOG_SECONDS = 600.0

# Services anyone may call: probes and tooling must work without a token.
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
AGENT_PREFIXES = ("/trimtab.v1.IngestService/",)


def required_scope(method: str) -> str | None:
    """None for public methods, else the scope a token needs."""
    if method.startswith(PUBLIC_PREFIXES):
        return None
    return "agent" if method.startswith(AGENT_PREFIXES) else "admin"


class TokenVerifier:
    def __init__(self, store: Store, clock: Clock, cache_seconds: float,
                 revocation_check_seconds: float = 2.0) -> None:
        self._store = store
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._revocation_check_seconds = revocation_check_seconds
        self._cache: dict[str, tuple[ApiToken, float]] = {}
        self._next_revocation_check = float("-inf")
        self._lock = threading.Lock()
        self._refusals: dict[str, float] = {}  # token id -> monotonic time it may be logged again

    def verify(self, plaintext: str) -> ApiToken:
        now = self._clock.monotonic()
        self._drop_revoked(now)
        with self._lock:
            hit = self._cache.get(plaintext)
        if hit is not None and hit[1] > now:
            return hit[0]
        token = self._store.tokens.verify(plaintext)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[plaintext] = (token, now + self._cache_seconds)
        return token

    def _drop_revoked(self, now: float) -> None:
        """Evict cached tokens revoked since the last check (one read, only when it is due)."""
        with self._lock:
            due = now >= self._next_revocation_check
            # Claim the check before reading so concurrent calls do not all query. With nothing
            # cached every verdict is about to be fresh from the database, so only start the clock.
            if due or not self._cache:
                self._next_revocation_check = now + self._revocation_check_seconds
            if not due or not self._cache:
                return
        revoked = self._store.tokens.revoked_ids()
        if not revoked:
            return
        with self._lock:
            for key in [k for k, (t, _) in self._cache.items() if t.token_id in revoked]:
                del self._cache[key]


    def note_agent_refusal(self, plaintext: str, method: str) -> None:
        """Log that an agent's token was refused, once per token per `AGENT_REFUSAL_LOG_SECONDS`.

        Otherwise only the agent's log on the driver says so, and the run is collected without
        its stages and executors: the data stops with nothing on the server's side to say why."""
        parts = split_token(plaintext)
        token_id = parts[0][:40] if parts is not None else "(malformed)"
        now = self._clock.monotonic()
        with self._lock:
            if self._refusals.get(token_id, float("-inf")) > now:
                return
            if len(self._refusals) > 10_000:
                self._refusals.clear()
            self._refusals[token_id] = now + AGENT_REFUSAL_LOG_SECONDS
        log.warning("an agent's token %s was refused on %s (unknown, wrong or revoked): its cluster's runs are "
                    "collected without agent data. If it is a workspace's agent token (`trimtab token list`: "
                    "agent-<workspace>), `trimtab workspace import <workspace>` writes a new one into the "
                    "workspace's secret", token_id, method.rsplit("/", 1)[-1])


def check(verifier: TokenVerifier, method: str, metadata: tuple[tuple[str, str | bytes], ...]) -> None:
    """Raise `Unauthenticated`/`PermissionDenied` unless the call may proceed."""
    scope = required_scope(method)
    if scope is None:
        return
    header = next((str(v) for k, v in metadata if k == "authorization"), "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise Unauthenticated("missing token: send 'authorization: Bearer <token>'")
    try:
        token = verifier.verify(header[7:].strip())
    except Unauthenticated as exc:
        if scope == "agent":
            verifier.note_agent_refusal(header[7:].strip(), method)
        if str(exc) != "invalid token":  # a malformed token keeps its own words
            raise
        # The store does not say whether the id is unknown, the secret wrong or the token
        # revoked (telling them apart would confirm a guessed id exists), so name both: a
        # user whose token stopped working learns revocation is one possible reason. A token made
        # with `trimtab token create` on another database than this server's is the third.
        raise Unauthenticated("invalid or revoked token (see `trimtab token list`; created against another "
                              "--state-dir/--db than this server's?)") from None
    if scope == "admin" and token.scope != "admin":
        raise PermissionDenied(f"token {token.name!r} has scope {token.scope!r}; this call needs 'admin'")


class AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        try:
            check(self._verifier, handler_call_details.method, tuple(handler_call_details.invocation_metadata))
        except TrimtabError as exc:
            return _refuse(exc)
        return continuation(handler_call_details)


def _refuse(exc: TrimtabError) -> grpc.RpcMethodHandler:
    def deny(_request: object, context: grpc.ServicerContext) -> None:
        abort(context, exc)

    # Raw bytes in and out: the request is never parsed for a refused call.
    return grpc.unary_unary_rpc_method_handler(deny)
