"""The figures a scrape reads when it comes (`ScrapedFigures`), not counted along the way: readiness as
the watchers last found it, each workspace's counts as the store holds them, and how long ago each
workspace was last polled successfully, on the injected clock: the later of the poll this server saw
work and the one the store recorded (`polled_ok_at_ms`, written by the collector), so a restart does not
start the count again and hide polls that had been failing before it.

The store is read at most once every `STORE_READ_EVERY_S` (the injected clock's seconds) however
often ``/metrics`` is asked: it answers without a token, so a caller looping on it must not become
a load on the database. A read that fails leaves the store's figures out of that scrape (with
``trimtab_metrics_store_read_ok 0``) rather than failing it: readiness is what says the database
is down, and it must still be scraped then. A failed read counts as a read (the next is tried
`STORE_READ_EVERY_S` later), and the read runs on a thread of its own that a scrape waits for at
most `SCRAPE_WAIT_S`: a database that does not answer (no refusal, no reply) held every scrape
until its connect timeout, one after the other, past Prometheus' own 10 s scrape timeout, and
readiness went unscraped exactly while it said the database was down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.clock import Clock
from server.readiness import Readiness
from server.store import Store
from server.store.counts import WorkspaceCounts, workspace_counts

log = logging.getLogger("server.metrics")

STORE_READ_EVERY_S = 5.0
SCRAPE_WAIT_S = 2.0  # well inside a scrape timeout (Prometheus: 10 s by default)


class ScrapedFigures(Collector):
    """``polled_at``: each workspace's last successful poll (wall ms) as the collector reported it;
    None when the server does not collect (then no poll age is shown: none is due). ``on_read``: told
    the workspaces each successful read of the store found, and when it began (the clock's monotonic s)."""

    def __init__(self, store: Store, clock: Clock, readiness: Readiness,
                 polled_at: Callable[[], dict[str, int]] | None, read_every_s: float = STORE_READ_EVERY_S,
                 wait_s: float = SCRAPE_WAIT_S,
                 on_read: Callable[[frozenset[str], float], None] | None = None) -> None:
        self._store = store
        self._on_read = on_read
        self._clock = clock
        self._readiness = readiness
        self._polled_at = polled_at
        self._read_every_s = read_every_s
        self._wait_s = wait_s
        self._lock = threading.Lock()
        # (read at, counts; None: that read failed): a failure is kept as long as a success.
        self._cached: tuple[float, dict[str, WorkspaceCounts] | None] | None = None
        self._reader: threading.Thread | None = None
        self._failing = False  # a failed read was logged: once per streak, not per scrape

    def collect(self) -> Iterator[Metric]:
        ready, body = self._readiness.state()
        yield GaugeMetricFamily("trimtab_ready", "1 while the server is ready (what /healthz and gRPC health "
                                "say for the whole server), 0 while not.", value=1 if ready else 0)
        failing = GaugeMetricFamily("trimtab_collector_failing", "1 while every collector poll has failed for "
                                    "longer than 3 poll intervals (health trimtab.v1.Collector NOT_SERVING).")
        if "collector" in body:  # said only while the server collects
            failing.add_metric([], 0 if body["collector"] == "ok" else 1)
        yield failing
        counts = self._counts()
        yield GaugeMetricFamily("trimtab_metrics_store_read_ok", "1 when this scrape read the store's figures "
                                "(the trimtab_workspace_* below), 0 when the database did not answer.",
                                value=1 if counts is not None else 0)
        yield from self._workspace_families(counts or {})

    def _workspace_families(self, counts: dict[str, WorkspaceCounts]) -> Iterator[Metric]:
        def gauge(name: str, text: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=["workspace"])

        def counter(name: str, text: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, text, labels=["workspace"])

        ok = gauge("trimtab_workspace_ok", "1 while the workspace's status is ok, 0 while it is unreachable or "
                   "its token is refused (`trimtab workspace show`).")
        projects = gauge("trimtab_workspace_projects", "Projects of the workspace (neither detached nor orphaned).")
        runs = counter("trimtab_workspace_runs_collected", "Runs collected and stored.")
        made = counter("trimtab_workspace_recommendations", "Recommendations made.")
        applied = counter("trimtab_workspace_recommendations_applied", "Recommendations put on their job (by "
                          "auto-apply or by hand), including those reverted or superseded since.")
        failing = gauge("trimtab_workspace_projects_apply_failing", "Projects whose latest auto-apply failed, "
                        "with no apply succeeding since (`trimtab project show` says why).")
        for name, figures in sorted(counts.items()):
            ok.add_metric([name], 1 if figures.status == "ok" else 0)
            projects.add_metric([name], figures.projects)
            runs.add_metric([name], figures.runs)
            made.add_metric([name], figures.recommendations)
            applied.add_metric([name], figures.applied)
            failing.add_metric([name], figures.apply_failing)
        yield from (ok, projects, runs, made, applied, failing)
        age = gauge("trimtab_workspace_seconds_since_last_successful_poll", "Seconds since a collector poll of "
                    "the workspace last worked, before a restart too; since the workspace's adding when none "
                    "has yet. Only while the server collects.")
        if self._polled_at is not None:
            polled = self._polled_at()
            now_ms = self._clock.now_ms()
            for name, figures in sorted(counts.items()):
                since = max(polled.get(name, 0), figures.polled_ok_at_ms or 0) or figures.created_at_ms
                age.add_metric([name], max(0.0, (now_ms - since) / 1000))
        yield age

    def _counts(self) -> dict[str, WorkspaceCounts] | None:
        """The store's figures, read again when the last read (or failure) is older than
        ``read_every_s``; None when the database did not answer, or not within ``wait_s``."""
        with self._lock:
            now = self._clock.monotonic()
            if self._cached is not None and now - self._cached[0] < self._read_every_s:
                return self._cached[1]
            if self._reader is None or not self._reader.is_alive():  # one read at a time
                self._reader = threading.Thread(target=self._read, args=(now,), name="trimtab-metrics-read",
                                                daemon=True)
                self._reader.start()
            reader = self._reader
        reader.join(self._wait_s)
        with self._lock:
            if reader.is_alive() or self._cached is None:
                return None  # still waiting on the database: this scrape goes without its figures
            return self._cached[1]

    def _read(self, started: float) -> None:
        try:
            counts: dict[str, WorkspaceCounts] | None = workspace_counts(self._store)
        except Exception as exc:  # noqa: BLE001 - whatever it is, scrapes go on without them
            counts = None
            if not self._failing:
                self._failing = True
                log.warning("metrics: the store's figures could not be read (%s); scrapes leave them out "
                            "until it answers", exc)
        else:
            if self._failing:
                self._failing = False
                log.info("metrics: the store's figures are read again")
        with self._lock:
            self._cached = (started, counts)
        if counts is not None and self._on_read is not None:
            try:  # before the scrape waiting on this read goes on to the counters (`ServerMetrics`)
                self._on_read(frozenset(counts), started)
            except Exception:  # a scrape goes on with what it has
                log.exception("metrics: forgetting the removed workspaces failed")
