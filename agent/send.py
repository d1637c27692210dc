"""The one sender thread: spool → ``IngestService.SendBatch``, oldest batch first.

- Jittered exponential backoff (base ×2, ±20%, capped) on retryable codes only; a
  ``retry-after-ms`` trailing-metadata hint from the server is the delay's minimum (it may
  exceed the cap), never a replacement for the jittered backoff.
- An application the server refuses (``BatchAck.refused_applications``: another workspace's
  agent token sent it first) costs only its own events: the server stored the batch's other
  applications and acknowledged it, so the batch leaves the spool; one WARNING per application
  names it and the server's reason, and its events are counted (``events_refused_by_server``).
  Servers before that field refused such a batch whole with PERMISSION_DENIED: retried like a
  refused token (below), so an upgraded server takes it, but its WARNING says so rather than blame
  the token (the current server answers PERMISSION_DENIED to no agent call).
- A refused token (UNAUTHENTICATED) is a person's configuration
  problem, not a bad batch: the batches stay in the spool and are retried with the same
  capped backoff with the token this process started with (if the spool fills meanwhile,
  its usual oldest-first drop applies and is counted); only an agent started with a valid
  token on the same state directory delivers them (docs/agent.md says how).
- INTERNAL and UNKNOWN (a proxy's reset stream, a server bug) are retried with the same backoff
  ``transient_retries`` times for each batch, then the batch is parked like a permanent error.
- A token gRPC cannot send (client-side "Invalid metadata": a newline, a non-ASCII character)
  is a configuration error, not a bad batch: one ERROR names TRIMTAB_TOKEN, the batches stay
  in the spool and are retried with the capped backoff.
- Other permanent errors (a malformed batch…) are logged once per code and the batch is
  parked, never retried in a loop.
- While delivery fails, a WARNING names the target and the cause when it starts and
  again at most every ``warn_every_s`` whatever the codes (a switch to or from a refused
  token may add one more per window); an INFO line says when delivery works again.
- A batch leaves the spool only when the server acknowledged it (ack = stored).
- ``stop`` interrupts any backoff and keeps sending for at most the flush bound;
  whatever is left stays in the spool for the next start.
- An unexpected error (a bug, not a failed RPC or disk) never ends the thread: it is logged
  with its traceback at most once per ``warn_every_s`` and the loop goes on after a pause.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from agent.clock import Clock
from agent.spool import Spool, SpooledBatch
from protos.trimtab.v1 import ingest_pb2, ingest_pb2_grpc

log = logging.getLogger("trimtab.agent.send")

RETRYABLE = frozenset({
    grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
})
AUTH_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
# Usually not the batch's fault: a load balancer's reset stream (RST_STREAM) reads as INTERNAL, and
# the server answers INTERNAL for any unexpected exception (a bug, a database hiccup). Retried with
# the usual backoff a few times (``SenderSettings.transient_retries``) before the batch is parked.
TRANSIENT_CODES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
# What gRPC's client answers, without calling the server, when a metadata value holds a character it
# cannot send (the token with a newline or a non-ASCII character): the same for every batch.
INVALID_METADATA = "Invalid metadata"
RETRY_AFTER_KEY = "retry-after-ms"
# Sent beside the token on every call, so a server that refuses the token (its interceptor reads
# metadata before refusing, and never parses a refused request's batch) can still say which
# cluster's agent it refused: otherwise the run showed "agent did not run". The server reads the
# same names (`server.api.caller`).
CLUSTER_ID_KEY = "trimtab-cluster-id"
CLUSTER_NAME_KEY = "trimtab-cluster-name"
# gRPC sends printable ASCII only in metadata; a cluster name is the user's (any character, any length).
_MAX_CALLER_CHARS = 128
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Reconnect quickly after a server restart; our own backoff paces the retries.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5_000),
    ("grpc.enable_retries", 0),
]


@dataclass(frozen=True)
class SenderSettings:
    target: str
    token: str
    tls: bool = False
    rpc_timeout_s: float = 10.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    root_certificates: bytes | None = None  # PEM (TRIMTAB_TLS_CA); None = the system's roots
    use_proxy: bool = False  # honour grpc_proxy/https_proxy/http_proxy (TRIMTAB_AGENT_USE_PROXY)
    warn_every_s: float = 300.0  # a lasting failure is repeated this often, not at every retry
    transient_retries: int = 5  # INTERNAL/UNKNOWN retries of one batch before it is parked
    caller: tuple[tuple[str, str], ...] = ()  # `caller_metadata`: sent with the token on every call


# Applications named in a refusal WARNING that this process remembers, not to name them again.
_MAX_REFUSED_NAMED = 10_000

# 2^60 s outgrows any cap; past it ``2 ** (attempt - 1)`` only grows towards a float overflow
# (an OverflowError at the 1,025th consecutive failure: a server down for a few hours).
_MAX_BACKOFF_EXPONENT = 60


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before retry ``attempt`` (1-based): base·2^(n-1) ±20%, never above ``cap``."""
    exponent = min(max(attempt - 1, 0), _MAX_BACKOFF_EXPONENT)
    return min(cap, base * (2 ** exponent) * rng.uniform(0.8, 1.2))


def caller_metadata(cluster_id: str, cluster_name: str) -> tuple[tuple[str, str], ...]:
    """The metadata naming this agent's cluster: only what is known, reduced to what gRPC can send
    (an unsendable value would fail every call, as a bad token does)."""
    def sendable(value: str) -> str:
        return "".join(c if " " <= c <= "~" else "?" for c in value.strip())[:_MAX_CALLER_CHARS]

    pairs = ((CLUSTER_ID_KEY, sendable(cluster_id)), (CLUSTER_NAME_KEY, sendable(cluster_name)))
    return tuple((k, v) for k, v in pairs if v)


def _retry_hint_s(err: grpc.RpcError) -> float | None:
    try:
        for k, v in err.trailing_metadata() or ():
            if k == RETRY_AFTER_KEY:
                return max(0.0, int(v) / 1000.0)
    except (TypeError, ValueError, AttributeError):
        return None
    return None


class Sender(threading.Thread):
    def __init__(self, spool: Spool, settings: SenderSettings, clock: Clock,
                 prepare: Callable[[ingest_pb2.EventBatch], None], rng: random.Random | None = None) -> None:
        super().__init__(name="trimtab-agent-sender", daemon=True)
        self.spool = spool
        self.s = settings
        self.clock = clock
        self.prepare = prepare  # fills agent info and current counters just before sending
        self.rng = rng or random.Random()
        self._stop_event = threading.Event()
        self._deadline: float | None = None
        self._logged_codes: set[grpc.StatusCode] = set()
        self.attempts = 0
        self.last_error: grpc.StatusCode | None = None
        self.failed_attempts = 0  # consecutive failed attempts, across batches
        self.events_dropped_by_server = 0  # events the server found invalid and dropped (named in its acks)
        # Events of applications the server refused (named in its acks), and the applications, each
        # named in one WARNING (bounded: an all-purpose cluster runs applications for weeks).
        self.events_refused_by_server = 0
        self.refused_applications: dict[str, int] = {}
        self._last_warn: float | None = None  # start of the current warning window
        self._warned_auth: bool | None = None  # failure class of the last WARNING
        self._extra_warned = False  # the one class-change WARNING this window allows
        self._codes_since: set[str] = set()  # codes seen since the last WARNING
        self._spool_error = False  # the spool failed under the last ack/park (logged once)
        self._crash_logged_at: float | None = None  # last traceback logged for an unexpected error
        self.unexpected_errors = 0
        self._bad_token_logged = False  # the one ERROR for a token gRPC cannot send
        self._channel = self._open()

    def _open(self) -> grpc.Channel:
        # gRPC reads the proxy variables itself; a cluster's egress proxy (set for pip) usually
        # refuses CONNECT to the server's port, so they are ignored unless asked for.
        options = CHANNEL_OPTIONS + ([] if self.s.use_proxy else [("grpc.enable_http_proxy", 0)])
        if self.s.tls:
            creds = grpc.ssl_channel_credentials(root_certificates=self.s.root_certificates)
            ch = grpc.secure_channel(self.s.target, creds, options=options, compression=grpc.Compression.Gzip)
        else:
            ch = grpc.insecure_channel(self.s.target, options=options, compression=grpc.Compression.Gzip)
        self._stub = ingest_pb2_grpc.IngestServiceStub(ch)
        return ch

    # -- lifecycle -------------------------------------------------------------------------------
    def stop(self, flush_s: float) -> None:
        """Send what is spooled for at most ``flush_s`` more seconds, then return."""
        self._deadline = self.clock.monotonic() + flush_s
        self._stop_event.set()
        self.spool.wake()
        self.join(flush_s + self.s.rpc_timeout_s + 1.0)
        self._channel.close()
        self.spool.save_counters_if_behind()  # a failed save after the last delivery: last chance

    def _time_left(self) -> float | None:
        return None if self._deadline is None else self._deadline - self.clock.monotonic()

    def run(self) -> None:
        while True:
            try:
                self._loop()
                return
            except Exception:  # never raise into the cluster, never end the thread
                self._unexpected()

    def _unexpected(self) -> None:
        """An unexpected error ended ``_loop``: log it (throttled), pause, and let ``run`` go on.

        Ending the thread left every later batch in the spool until the agent restarted. The
        pause keeps a bug that fails at once from turning into a busy loop and a flood of logs.
        """
        self.unexpected_errors += 1
        self.spool.release()
        now = self.clock.monotonic()
        if self._crash_logged_at is None or now - self._crash_logged_at >= self.s.warn_every_s:
            self._crash_logged_at = now
            log.exception("sender hit an unexpected error (%d so far); retrying after a pause, this "
                          "traceback is repeated at most every %.0f s", self.unexpected_errors, self.s.warn_every_s)
        else:
            log.debug("sender hit an unexpected error again (%d so far)", self.unexpected_errors, exc_info=True)
        left = self._time_left()
        delay = max(0.1, self.s.backoff_max_s)
        if left is not None:
            delay = max(0.0, min(delay, left))
        self.clock.wait(threading.Event() if self._stop_event.is_set() else self._stop_event, delay)

    def _loop(self) -> None:
        while True:
            left = self._time_left()
            if left is not None and left <= 0:
                return
            batch = self.spool.oldest(timeout=0.5 if left is None else min(0.5, left))
            if batch is None:
                if self._stop_event.is_set():
                    return  # drained
                self.spool.save_counters_if_behind()  # idle: a failed save is not left for the next batch
                continue
            try:
                delivered = self._deliver(batch)
            except OSError as exc:
                # The spool's own disk failed under an ack or a park (full, read-only): the
                # batch stays where it is and is tried again after a pause, never ending the thread.
                self.spool.release()
                self._spool_failed(exc)
                continue
            if self._spool_error:
                log.info("spool %s usable again", self.spool.dir)
                self._spool_error = False
            if not delivered:
                self.spool.release()
                return

    def _spool_failed(self, exc: OSError) -> None:
        if not self._spool_error:
            log.warning("spool %s failed while sending (%s); retrying", self.spool.dir, exc)
            self._spool_error = True
        left = self._time_left()
        delay = self.s.backoff_max_s if left is None else max(0.0, min(self.s.backoff_max_s, left))
        # While stopping, _stop_event is already set: wait on a private event so the pause holds.
        self.clock.wait(threading.Event() if self._stop_event.is_set() else self._stop_event, delay)

    def _deliver(self, batch: SpooledBatch) -> bool:
        """Send one batch until acked, parked, or the shutdown bound; False = stop now."""
        try:
            request = ingest_pb2.EventBatch.FromString(self.spool.read(batch))
        except Exception as exc:  # a spool file we cannot read back: park it rather than loop
            log.error("unreadable spool entry %s (%s): parked", batch.path.name, exc)
            self.spool.park(batch)
            return True
        attempt = 0
        transient = 0  # INTERNAL/UNKNOWN answers for this batch (see TRANSIENT_CODES)
        while True:
            self.prepare(request)
            left = self._time_left()
            timeout = self.s.rpc_timeout_s if left is None else max(0.05, min(self.s.rpc_timeout_s, left))
            self.attempts += 1
            try:
                ack = self._stub.SendBatch(request, timeout=timeout,
                                           metadata=(("authorization", f"Bearer {self.s.token}"), *self.s.caller))
            except grpc.RpcError as err:
                code = err.code()
                self.last_error = code
                hint = _retry_hint_s(err)
                auth = code in AUTH_CODES
                bad_token = code == grpc.StatusCode.INTERNAL and INVALID_METADATA in (err.details() or "")
                if code in TRANSIENT_CODES and not bad_token:
                    transient += 1
                retryable = (auth or bad_token or code in RETRYABLE
                             or (code in TRANSIENT_CODES and transient <= self.s.transient_retries)
                             or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and hint is not None))
                if not retryable:
                    if code not in self._logged_codes:
                        self._logged_codes.add(code)
                        tries = f" {transient} times in a row" if code in TRANSIENT_CODES else " permanently"
                        log.error("server %s rejected batch %s%s (%s: %s); parking it and any others "
                                  "rejected the same way", self.s.target, request.batch_id, tries, code.name,
                                  err.details())
                    self.spool.park(batch)
                    return True
                attempt += 1
                self.failed_attempts += 1
                # The server's hint is a floor, not the delay: taken as is, every agent retried
                # at the hint's pace in lockstep (2 Hz each while the database was down).
                delay = backoff_delay(attempt, self.s.backoff_base_s, self.s.backoff_max_s, self.rng)
                if hint is not None:
                    delay = max(hint, delay)
                if bad_token:
                    self._token_unsendable()
                else:
                    self._warn_failing(code, err, auth)
                left = self._time_left()
                if left is not None:
                    if left <= 0:
                        return False
                    delay = min(delay, left)
                log.debug("send to %s failed (%s), retry %d in %.2fs", self.s.target, code.name, attempt, delay)
                if self._stop_event.is_set():
                    # Shutting down: wait on a private event so the flush bound, not stop(), ends it.
                    self.clock.wait(threading.Event(), delay)
                else:
                    self.clock.wait(self._stop_event, delay)
                continue
            if self.failed_attempts:
                log.info("delivering again to %s after %d failed attempt(s)", self.s.target, self.failed_attempts)
                self.failed_attempts = 0
                self._last_warn = self._warned_auth = None
                self._extra_warned = False
                self._codes_since = set()
            self.last_error = None
            if ack.dropped_events:
                # The server stored the rest of the batch and dropped events it found invalid (the
                # parser should have caught them: a line of a shape it does not know). Said, not retried.
                self.events_dropped_by_server += ack.dropped_events
                log.warning("server %s dropped %d invalid event(s) of batch %s and stored the rest: %s",
                            self.s.target, ack.dropped_events, request.batch_id, ack.drop_reason)
            for refused in ack.refused_applications:
                self._refused(refused)
            self.spool.ack(batch)
            return True

    def _refused(self, refused: ingest_pb2.RefusedApplication) -> None:
        """The server refused one application's events of an acknowledged batch: counted, and said once
        per application (each later batch of it is refused the same way, never resent)."""
        self.events_refused_by_server += refused.events
        app = refused.application_id
        if app in self.refused_applications:
            self.refused_applications[app] += refused.events
            return
        if len(self.refused_applications) >= _MAX_REFUSED_NAMED:
            self.refused_applications.clear()  # an application named again is better than unbounded memory
        self.refused_applications[app] = refused.events
        # repr'd: the reason quotes what the server was sent, and must not make lines of its own.
        log.warning("server %s refused the events of application %r (%s): %d event(s) dropped and not resent, "
                    "and its later events are refused the same way (counted, not logged again); this agent's "
                    "other applications are delivered, and its token is valid", self.s.target, app,
                    refused.reason[:1000], refused.events)

    def _token_unsendable(self) -> None:
        """The token cannot be sent as gRPC metadata: one ERROR for this process, batches kept.

        Parking was wrong: every batch failed the same way, and the log blamed the server. The
        configuration check refuses such a token at start (``agent.config``); this covers any
        path around it. No restart of this process can help: only a fixed token can.
        """
        if self._bad_token_logged:
            return
        self._bad_token_logged = True
        log.error("the agent token holds a character gRPC cannot send as metadata (a newline, a space "
                  "inside it, a non-ASCII character): fix TRIMTAB_TOKEN (store it exactly as `trimtab token "
                  "create` printed it) and restart the agent; %d batch(es) kept in the spool, nothing was sent "
                  "to %s", self.spool.pending()[0], self.s.target)

    def _warn_failing(self, code: grpc.StatusCode, err: grpc.RpcError, auth: bool) -> None:
        """One WARNING when delivery starts failing, then at most one per ``warn_every_s``.

        The throttle is per failure episode, not per code: an overloaded server alternating
        UNAVAILABLE and DEADLINE_EXCEEDED would otherwise log at every retry. The one exception
        is a change between "token refused" and any other failure (typically the server comes
        back up and now refuses the token): that is news a person must act on, so it may add
        at most one extra WARNING per window (alternating classes cannot flood either). Codes
        seen since the previous WARNING are listed in the next one.

        It names the target and gRPC's own cause (connection refused, name not resolved, TLS
        handshake…), so a wrong address is told apart from a server restart.
        """
        now = self.clock.monotonic()
        if self._last_warn is None or now - self._last_warn >= self.s.warn_every_s:
            self._last_warn, self._extra_warned = now, False  # a new window
        elif auth != self._warned_auth and not self._extra_warned:
            self._extra_warned = True
        else:
            self._codes_since.add(code.name)
            return
        others = sorted(self._codes_since - {code.name})
        self._codes_since = set()
        self._warned_auth = auth
        also = f"; also seen since the last warning: {', '.join(others)}" if others else ""
        pending = self.spool.pending()[0]
        if code == grpc.StatusCode.PERMISSION_DENIED:
            log.warning("server %s accepted the agent token but refused a batch (%s: %s): a Trimtab server older "
                        "than this agent refuses a whole batch holding an application another workspace's agent "
                        "token sent first, and the agent's later batches wait behind it; upgrade the server (it "
                        "then refuses only that application's events); %d batch(es) kept in the spool and retried "
                        "(%d failed attempt(s) so far%s)", self.s.target, code.name, err.details(), pending,
                        self.failed_attempts, also)
        elif auth:
            log.warning("server %s refused the agent token (%s: %s): fix TRIMTAB_TOKEN; %d batch(es) kept in "
                        "the spool and retried (%d failed attempt(s) so far%s)", self.s.target, code.name,
                        err.details(), pending, self.failed_attempts, also)
        else:
            log.warning("cannot deliver to %s (%s: %s); %d batch(es) kept in the spool and retried "
                        "(%d failed attempt(s) so far%s)", self.s.target, code.name, err.details(), pending,
                        self.failed_attempts, also)
