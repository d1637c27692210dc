"""The one sender thread: spool → ``IngestService.SendBatch``, oldest batch first.

- Jittered exponential backoff (base ×2, ±20%, capped) on retryable codes only; a
  ``retry-after-ms`` trailing-metadata hint from the server replaces the computed delay.
- Permanent errors (bad token, invalid batch…) are logged once per code and the
  batch is parked, never retried in a loop.
- A batch leaves the spool only when the server acknowledged it (ack = stored).
- ``stop`` interrupts any backoff and keeps sending for at most the flush bound;
  whatever is left stays in the spool for the next start.
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
RETRY_AFTER_KEY = "retry-after-ms"
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


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before retry ``attempt`` (1-based): base·2^(n-1) ±20%, never above ``cap``."""
    return min(cap, base * (2 ** (attempt - 1)) * rng.uniform(0.8, 1.2))


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
        self._channel = self._open()

    def _open(self) -> grpc.Channel:
        if self.s.tls:
            ch = grpc.secure_channel(self.s.target, grpc.ssl_channel_credentials(), options=CHANNEL_OPTIONS,
                                     compression=grpc.Compression.Gzip)
        else:
            ch = grpc.insecure_channel(self.s.target, options=CHANNEL_OPTIONS, compression=grpc.Compression.Gzip)
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

    def _time_left(self) -> float | None:
        return None if self._deadline is None else self._deadline - self.clock.monotonic()

    def run(self) -> None:
        try:
            self._loop()
        except Exception:  # never raise into the cluster: log and end the thread
            log.exception("sender stopped by an unexpected error")

    def _loop(self) -> None:
        while True:
            left = self._time_left()
            if left is not None and left <= 0:
                return
            batch = self.spool.oldest(timeout=0.5 if left is None else min(0.5, left))
            if batch is None:
                if self._stop_event.is_set():
                    return  # drained
                continue
            if not self._deliver(batch):
                self.spool.release()
                return

    def _deliver(self, batch: SpooledBatch) -> bool:
        """Send one batch until acked, parked, or the shutdown bound; False = stop now."""
        try:
            request = ingest_pb2.EventBatch.FromString(self.spool.read(batch))
        except Exception as exc:  # a spool file we cannot read back: park it rather than loop
            log.error("unreadable spool entry %s (%s): parked", batch.path.name, exc)
            self.spool.park(batch)
            return True
        attempt = 0
        while True:
            self.prepare(request)
            left = self._time_left()
            timeout = self.s.rpc_timeout_s if left is None else max(0.05, min(self.s.rpc_timeout_s, left))
            self.attempts += 1
            try:
                self._stub.SendBatch(request, timeout=timeout,
                                     metadata=(("authorization", f"Bearer {self.s.token}"),))
            except grpc.RpcError as err:
                code = err.code()
                self.last_error = code
                hint = _retry_hint_s(err)
                retryable = code in RETRYABLE or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and hint is not None)
                if not retryable:
                    if code not in self._logged_codes:
                        self._logged_codes.add(code)
                        log.error("server rejected batch %s permanently (%s: %s); parking it and any "
                                  "others rejected the same way", request.batch_id, code.name, err.details())
                    self.spool.park(batch)
                    return True
                attempt += 1
                delay = hint if hint is not None else backoff_delay(
                    attempt, self.s.backoff_base_s, self.s.backoff_max_s, self.rng)
                left = self._time_left()
                if left is not None:
                    if left <= 0:
                        return False
                    delay = min(delay, left)
                log.info("send failed (%s), retry %d in %.2fs", code.name, attempt, delay)
                if self._stop_event.is_set():
                    # Shutting down: wait on a private event so the flush bound, not stop(), ends it.
                    self.clock.wait(threading.Event(), delay)
                else:
                    self.clock.wait(self._stop_event, delay)
                continue
            self.last_error = None
            self.spool.ack(batch)
            return True
