"""Token authentication on every call except health checking and reflection.

Clients send ``authorization: Bearer <token>``. Ingest accepts `agent` and
`admin` tokens; every admin service needs `admin`. A verified token is
trusted for ``cache_seconds`` (injected clock) so a busy agent does not cost
a database read per batch. Revocation (`trimtab token revoke` writes the
store, possibly from another process) must not wait that long, so at most
every ``revocation_check_seconds`` one read of the revoked token ids drops
revoked tokens from the cache: one query per interval however many agents
call, and a revoked token is refused within that bound.

An agent token may be bound to a workspace (`server.store.repos.tokens`). The interceptor hands the
verified token of an ingest call to its handler (`calling_token`): ingest records which workspace
sent each application, and refuses a batch adding to another workspace's.

A refused agent token is logged by its id only when that id is stored (revoked, or a wrong secret):
made-up ids (anyone can send them) are counted into one summary line per interval instead, so an
unauthenticated caller cannot fill the log. Either line names the cluster the agent said it runs on
(`server.agent_refusals`), where the refusal is also kept for `trimtab run show`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

import grpc

from server.actor import acting_as, token_actor
from server.agent_refusals import MALFORMED, SHARED, STORED, UNKNOWN, AgentRefusals, Caller, read_caller
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

# The verified token of the agent call this thread is handling (set around the handler by
# `AuthInterceptor`: interceptors run before the handler's thread takes the call).
_calling_token: contextvars.ContextVar[ApiToken | None] = contextvars.ContextVar("trimtab_calling_token",
                                                                                  default=None)


def calling_token() -> ApiToken | None:
    """The token that authenticated the ingest call being handled; None outside one (a servicer
    called without `AuthInterceptor`, as some tests do)."""
    return _calling_token.get()


def required_scope(method: str) -> str | None:
    """None for public methods, else the scope a token needs."""
    if method.startswith(PUBLIC_PREFIXES):
        return None
    return "agent" if method.startswith(AGENT_PREFIXES) else "admin"


class TokenVerifier:
    def __init__(self, store: Store, clock: Clock, cache_seconds: float,
                 revocation_check_seconds: float = 2.0, refusals: AgentRefusals | None = None) -> None:
        self._store = store
        self.refusals = SHARED if refusals is None else refusals
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._revocation_check_seconds = revocation_check_seconds
        self._cache: dict[str, tuple[ApiToken, float]] = {}
        self._next_revocation_check = float("-inf")
        self._lock = threading.Lock()
        self._refusals: dict[str, float] = {}  # token id -> monotonic time it may be logged again
        # Refusals of ids not stored (or malformed tokens): counted, said in one line per interval.
        self._unknown_refused = 0
        self._unknown_next_log = float("-inf")
        # The clusters those came from since the last summary line: a few named, the rest counted.
        self._unknown_callers: dict[str, Caller] = {}
        self._unknown_callers_more = 0

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


    def note_agent_refusal(self, plaintext: str, method: str, caller: Caller | None = None) -> None:
        """Keep the refusal as ``caller``'s cluster's last (`AgentRefusals`) and log it, once per token per
        `AGENT_REFUSAL_LOG_SECONDS`, naming the cluster.

        Otherwise only the agent's log on the driver says so, and the run is collected without
        its stages and executors: the data stops with nothing on the server's side to say why.
        Only a stored id (revoked, or the secret wrong) gets a line of its own: anyone can make up
        ids, so those, and malformed tokens, are counted into one line per interval."""
        caller = caller or Caller()
        parts = split_token(plaintext)
        token_id = parts[0][:40] if parts is not None else None
        now = self._clock.monotonic()
        if token_id is not None:
            with self._lock:
                logged = self._refusals.get(token_id, float("-inf")) > now
            # A token logged within the interval was stored then: no database read per retry.
            if logged or self._stored(token_id):
                self.refusals.note(caller, STORED, self._clock.now_ms(), token_id)
                with self._lock:
                    if self._refusals.get(token_id, float("-inf")) > now:
                        return  # logged within the interval (maybe by another call meanwhile)
                    if len(self._refusals) > 10_000:
                        self._refusals.clear()
                    self._refusals[token_id] = now + AGENT_REFUSAL_LOG_SECONDS
                log.warning("an agent's token %s was refused on %s (wrong secret or revoked), from %s: its "
                            "cluster's runs are collected without agent data. If it is a workspace's agent token "
                            "(`trimtab token list`: agent-<workspace>), `trimtab workspace import <workspace>` "
                            "writes a new one into the workspace's secret", token_id, method.rsplit("/", 1)[-1],
                            caller.describe())
                return
        self.refusals.note(caller, UNKNOWN if token_id is not None else MALFORMED, self._clock.now_ms())
        with self._lock:
            self._unknown_refused += 1
            if caller.cluster_id and caller.cluster_id not in self._unknown_callers:
                if len(self._unknown_callers) < 5:
                    self._unknown_callers[caller.cluster_id] = caller
                else:
                    self._unknown_callers_more += 1
            if self._unknown_next_log > now:
                return
            count, self._unknown_refused = self._unknown_refused, 0
            callers, more = list(self._unknown_callers.values()), self._unknown_callers_more
            self._unknown_callers, self._unknown_callers_more = {}, 0
            self._unknown_next_log = now + AGENT_REFUSAL_LOG_SECONDS
        named = "; ".join(c.describe() for c in callers) or "no cluster named"
        if more:
            named += f"; and {more} other cluster(s)"
        log.warning("%d call(s) to the agent service refused since the last such line (at most one every %.0f s), "
                    "from %s: token unknown to this database or malformed. An agent's token made on another "
                    "database than this server's (--state-dir/--db), or one another Trimtab server wrote into the "
                    "workspace's secret, is refused so; `trimtab workspace import <workspace> --take-over` writes a "
                    "token of this one there", count, AGENT_REFUSAL_LOG_SECONDS, named)

    def _stored(self, token_id: str) -> bool:
        """Whether the id is in the tokens table; False when that cannot be read (the line is a
        hint, and the call is refused whatever it says)."""
        try:
            return self._store.tokens.exists(token_id)
        except Exception:  # noqa: BLE001 - a database hiccup must not turn the refusal into another error
            return False


def check(verifier: TokenVerifier, method: str, metadata: tuple[tuple[str, str | bytes], ...]) -> ApiToken | None:
    """The call's verified token (None for a public method); `Unauthenticated`/`PermissionDenied`
    unless the call may proceed. A refused agent call is noted (`TokenVerifier.note_agent_refusal`)
    with the cluster its metadata names, an accepted one clears that cluster's refusal."""
    scope = required_scope(method)
    if scope is None:
        return None
    header = next((str(v) for k, v in metadata if k == "authorization"), "")
    try:
        token = _verified(verifier, header)
    except Unauthenticated:
        if scope == "agent":
            verifier.note_agent_refusal(header[7:].strip(), method, read_caller(metadata))
        raise
    if scope == "agent":
        verifier.refusals.accepted(read_caller(metadata))
    if scope == "admin" and token.scope != "admin":
        raise PermissionDenied(f"token {token.name!r} has scope {token.scope!r}; this call needs 'admin'")
    return token


def _verified(verifier: TokenVerifier, header: str) -> ApiToken:
    """The token of an ``authorization`` header; `Unauthenticated` saying what is wrong with it."""
    if header.strip() and not header.lower().startswith("bearer ") and header.strip().lower() != "bearer":
        # Something was sent, just not as a bearer token: "missing token" sent a script that passed
        # the bare token (or "Basic ...") looking for a token it had. The value is never echoed.
        raw = " (a bare token: put 'Bearer ' before it)" if " " not in header.strip() else ""
        raise Unauthenticated(f"malformed authorization header{raw}: send 'authorization: Bearer <token>'")
    if not header[7:].strip():
        raise Unauthenticated("missing token: send 'authorization: Bearer <token>'")
    try:
        return verifier.verify(header[7:].strip())
    except Unauthenticated as exc:
        if str(exc) != "invalid token":  # a malformed token keeps its own words
            raise
        # The store does not say whether the id is unknown, the secret wrong or the token
        # revoked (telling them apart would confirm a guessed id exists), so name both: a
        # user whose token stopped working learns revocation is one possible reason. A token made
        # with `trimtab token create` on another database than this server's is the third.
        raise Unauthenticated("invalid or revoked token (see `trimtab token list`; created against another "
                              "--state-dir/--db than this server's?)") from None


class AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        try:
            token = check(self._verifier, method, tuple(handler_call_details.invocation_metadata))
        except TrimtabError as exc:
            return _refuse(exc)
        handler = continuation(handler_call_details)
        if token is None or handler is None or handler.unary_unary is None:
            return handler
        # Agent calls read the token (what they may send for); admin calls say who a change to a job is
        # for (`server.actor`: an apply's or a revert's record and log line name it).
        behavior = _with_token(handler.unary_unary, token) if required_scope(method) == "agent" \
            else _as_actor(handler.unary_unary, token)
        return grpc.unary_unary_rpc_method_handler(behavior, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)


def _with_token(behavior: Callable[[object, grpc.ServicerContext], object],
                token: ApiToken) -> Callable[[object, grpc.ServicerContext], object]:
    """``behavior`` run with `calling_token` answering ``token``: on the handler's own thread, where
    the servicer reads it (the interceptor ran on the server's, before the call was handed over)."""
    def run(request: object, context: grpc.ServicerContext) -> object:
        reset = _calling_token.set(token)
        try:
            return behavior(request, context)
        finally:
            _calling_token.reset(reset)

    return run


def _as_actor(behavior: Callable[[object, grpc.ServicerContext], object],
              token: ApiToken) -> Callable[[object, grpc.ServicerContext], object]:
    """``behavior`` run with `server.actor.actor` answering the admin ``token``, on the handler's own thread."""
    def run(request: object, context: grpc.ServicerContext) -> object:
        with acting_as(token_actor(token.name, token.token_id)):
            return behavior(request, context)

    return run


def _refuse(exc: TrimtabError) -> grpc.RpcMethodHandler:
    def deny(_request: object, context: grpc.ServicerContext) -> None:
        abort(context, exc)

    # Raw bytes in and out: the request is never parsed for a refused call.
    return grpc.unary_unary_rpc_method_handler(deny)
