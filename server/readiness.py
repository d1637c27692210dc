"""What the server's health says, and why: gRPC health and the dashboard's ``/healthz`` read one state.

Readiness is NOT_SERVING for a service while any problem covers it:
- ``database``: the store's database failed `DB_PROBE_FAILURES` probes in a row (`DatabaseProbe`);
  every service.
- ``ingest``: the ingest writer is stalled (`server.serve._StallWatcher`); the whole server ("")
  and IngestService.
- draining (`Readiness.drain`, at SIGTERM or ``stop``): every service, for good.
The collector has a health name of its own (`COLLECTOR_SERVICE`), NOT_SERVING while its polls have
all failed for longer than `COLLECTOR_FAILING_POLLS` poll intervals (`CollectorWatch`): something to
alert on, not a reason to take the server out of a load balancer, which would only stop the agents.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from grpc_health.v1 import health, health_pb2

from server.clock import Clock

log = logging.getLogger(__name__)

COLLECTOR_SERVICE = "trimtab.v1.Collector"
# The database is asked this often (on the injected clock), and only when no other call committed
# meanwhile; this many failures in a row take the server out of readiness (one is a blip).
DB_PROBE_INTERVAL_S = 10.0
DB_PROBE_FAILURES = 2
# The collector is NOT_SERVING once every poll has failed for longer than this many poll intervals.
COLLECTOR_FAILING_POLLS = 3
# How often the readiness thread looks at the clock (real seconds): the clock says when work is due.
TICK_S = 0.5

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Readiness:
    """The problems that make services NOT_SERVING, written through to the gRPC health servicer.

    Each problem has a reason said publicly (``/healthz`` answers without a token: no driver text,
    host or user there; the log says those)."""

    def __init__(self, health_servicer: health.HealthServicer, services: Iterable[str]) -> None:
        self._health = health_servicer
        self._services = ("", *services)
        self._lock = threading.Lock()
        self._problems: dict[str, tuple[str, tuple[str, ...] | None]] = {}  # source -> (reason, services)
        self._draining = False
        self._collector: str | None = None  # None: not collecting; "": polls work; else why not
        # What ``GET /metrics`` answers, given the scrape's Accept header: (content type, body)
        # (`server.metrics.ServerMetrics.exposition`); None: metrics are off. Kept here because this is
        # what the HTTP listener is handed for the endpoints it serves without a token.
        self.metrics: Callable[[str], tuple[str, bytes]] | None = None

    def start(self) -> None:
        """Every service SERVING (once the server listens)."""
        self._write()

    def set_problem(self, source: str, reason: str | None, services: tuple[str, ...] | None = None) -> None:
        """``source``'s problem (None: it has none any more), covering ``services`` (None: every one)."""
        with self._lock:
            if reason is None:
                self._problems.pop(source, None)
            else:
                self._problems[source] = (reason, services)
        self._write()

    def set_collector(self, failing: str | None) -> None:
        """The collector's state: "" working, a public reason while failing, None when not collecting."""
        with self._lock:
            self._collector = failing
            status = None if failing is None else (NOT_SERVING if failing else SERVING)
        if status is not None:
            self._health.set(COLLECTOR_SERVICE, status)

    def drain(self) -> None:
        """Shutting down: every service NOT_SERVING from now on, whatever else is said later."""
        with self._lock:
            self._draining = True
        self._health.enter_graceful_shutdown()

    def state(self) -> tuple[bool, dict[str, object]]:
        """(ready, what ``/healthz`` shows): no database call, only what the watchers last found."""
        with self._lock:
            reasons = ["shutting down"] if self._draining else []
            reasons += [reason for reason, services in self._problems.values() if services is None or "" in services]
            body: dict[str, object] = {"status": "unavailable" if reasons else "ok"}
            if reasons:
                body["reasons"] = reasons
            if self._collector is not None:
                body["collector"] = self._collector or "ok"
        return not reasons, body

    def _write(self) -> None:
        # Under the lock, so two sources changing at once cannot leave an older status written last.
        # The servicer ignores `set` once draining (it stays NOT_SERVING).
        with self._lock:
            for name in self._services:
                down = any(services is None or name in services for _, services in self._problems.values())
                self._health.set(name, NOT_SERVING if down else SERVING)


class DatabaseProbe:
    """Asks the database ``SELECT 1`` (``ping``, bounded by the store's deadline) every
    `DB_PROBE_INTERVAL_S`, unless another transaction committed since the last look (``commits``
    changed): a busy server is not asked anything more. `DB_PROBE_FAILURES` failures in a row set
    the ``database`` problem; the first success clears it. One WARNING each way, naming ``where``
    (the masked URL) and the error. ``on_failure`` is told of every failed look (the metrics count them)."""

    def __init__(self, readiness: Readiness, ping: Callable[[], object], commits: Callable[[], int],
                 clock: Clock, where: str, interval_s: float = DB_PROBE_INTERVAL_S,
                 failures: int = DB_PROBE_FAILURES, on_failure: Callable[[], None] | None = None) -> None:
        self._readiness = readiness
        self._ping = ping
        self._commits = commits
        self._clock = clock
        self._where = where
        self._interval_s = interval_s
        self._failures_needed = max(1, failures)
        self._due = clock.monotonic() + interval_s
        self._seen = commits()
        self._failures = 0
        self._down = False
        self._looks = 0
        self._looked = threading.Condition()
        self._on_failure = on_failure

    def tick(self) -> None:
        """One look, when one is due on the clock (the readiness thread calls this; so may tests)."""
        with self._looked:
            now = self._clock.monotonic()
            if now < self._due:
                return
            self._due = now + self._interval_s
            seen = self._commits()
            error: Exception | None = None
            if seen == self._seen:  # nothing else reached the database since the last look: ask it
                try:
                    self._ping()
                except Exception as exc:  # noqa: BLE001 - whatever it is, the database did not answer
                    error = exc
            self._seen = self._commits()  # after the ping: its own commit is no sign from others
            self._judge(error)
            self._looks += 1
            self._looked.notify_all()

    def wait_for_looks(self, count: int, timeout: float) -> bool:
        """True once ``count`` looks have been made since start (for tests)."""
        with self._looked:
            return self._looked.wait_for(lambda: self._looks >= count, timeout)

    def _judge(self, error: Exception | None) -> None:
        if error is None:
            self._failures = 0
            if self._down:
                self._down = False
                log.warning("database %s answers again: health SERVING", self._where)
                self._readiness.set_problem("database", None)
            return
        self._failures += 1
        if not self._down and self._failures >= self._failures_needed:
            self._down = True
            log.warning("database %s did not answer %d checks in a row, %.0fs apart (%s): health NOT_SERVING "
                        "until it answers", self._where, self._failures, self._interval_s, _first_line(error))
            self._readiness.set_problem("database", "database not answering")
        if self._on_failure is not None:  # after the judgement: the count must not hold readiness up
            self._on_failure()


class CollectorWatch:
    """The collector's health name, from what each poll reports (`polled`): NOT_SERVING once its polls
    have all failed for longer than ``bound_s``; SERVING again at the first poll that works."""

    def __init__(self, readiness: Readiness, clock: Clock, bound_s: float) -> None:
        self._readiness = readiness
        self._clock = clock
        self._bound_s = bound_s
        self._lock = threading.Lock()
        self._failing_since: float | None = None
        self._why = ""
        self._down = False
        readiness.set_collector("")

    def polled(self, worked: bool | None, why: str = "") -> None:
        """A poll's outcome: True some workspace was collected (or none needed it), False every one
        tried failed (``why``: the last failure), None nothing was tried (every workspace resting)."""
        with self._lock:
            if worked:
                self._failing_since, self._why = None, ""
                if self._down:
                    self._down = False
                    log.warning("collector: a poll works again: health %s SERVING", COLLECTOR_SERVICE)
                    self._readiness.set_collector("")
                return
            if worked is False:
                self._why = why or self._why
                if self._failing_since is None:
                    self._failing_since = self._clock.monotonic()
        self.check()

    def check(self) -> None:
        """Flip to NOT_SERVING once failing past the bound (polls and the readiness thread call it)."""
        with self._lock:
            if self._down or self._failing_since is None:
                return
            failing_s = self._clock.monotonic() - self._failing_since
            if failing_s <= self._bound_s:
                return
            self._down = True
            log.warning("collector: every poll has failed for %.0fs (last: %s): health %s NOT_SERVING until a "
                        "poll works", failing_s, self._why or "no workspace could be polled", COLLECTOR_SERVICE)
            self._readiness.set_collector(f"every poll failing for {failing_s:.0f}s")


class ReadinessThread:
    """The named thread that makes the probe's looks and the collector's check when due."""

    def __init__(self, probe: DatabaseProbe, collector: CollectorWatch | None = None) -> None:
        self.probe = probe
        self.collector = collector
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trimtab-readiness", daemon=True)

    def start(self) -> ReadinessThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop looking. Waited for briefly only: a look stuck on a database that stopped answering
        would otherwise take the shutdown's grace (the thread is a daemon, the look bounded by the
        database deadline, and draining keeps health NOT_SERVING whatever it finds)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.probe.tick()
                if self.collector is not None:
                    self.collector.check()
            except Exception:  # a bug here must not end readiness for good
                log.exception("readiness check failed")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
