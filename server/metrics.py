"""The server's Prometheus metrics, served at ``GET /metrics`` on the dashboard's address (``--http``).

Each server has a registry of its own (`ServerMetrics.registry`), never prometheus_client's global
one: tests start several servers in one process, and each must count only its own calls.

Two kinds of figures:
- counted here as they happen, because nothing stores them: each workspace's polls and failed
  polls (`workspace_polled`, the collector's hook) and failed auto-applies (`auto_apply_failed`, the
  planner's), the database probe's failed looks
  (`database_probe_failed`), every unary gRPC call by method and status code and what ingest
  accepted or refused (`call_ended`, from `server.metrics_grpc.MetricsInterceptor`);
- read at scrape time (`server.metrics_scrape.ScrapedFigures`): readiness, and what the store
  holds (runs collected, recommendations made and applied, projects whose auto-apply fails).

A workspace removed (`trimtab workspace remove`) takes its series with it: the store's figures at the
next read of the store, the ones counted here once that read no longer finds it (`workspaces_read`).

Labels are the workspace name at most (plus a gRPC method and status code, and the few outcomes
named below): never a run id, a token, a host or an agent id, which would make a series per value.
docs/operations.md, "Metrics", lists every metric; a test fails when one is added without it there.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder

from protos.trimtab.v1 import admin_pb2, ingest_pb2
from server.clock import Clock
from server.metrics_scrape import ScrapedFigures
from server.readiness import Readiness
from server.store import Store

log = logging.getLogger(__name__)

SEND_BATCH = "trimtab.v1.IngestService/SendBatch"
# Any other method name a caller sends is counted as this: an unauthenticated caller could otherwise
# make a series per name it makes up (the auth interceptor refuses those calls after the method is known).
OTHER_METHOD = "other"
# How SendBatch refuses a batch (`server.api.auth`, `server.api.ingest_servicer`, `server.ingest`).
REFUSAL_CODES = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                 grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
EVENT_RESULTS = ("stored", "duplicate", "dropped", "refused")


def known_methods() -> frozenset[str]:
    """Every unary method the server serves, as the ``method`` label spells it (``Service/Method``)."""
    services = [*ingest_pb2.DESCRIPTOR.services_by_name.values(), *admin_pb2.DESCRIPTOR.services_by_name.values()]
    names = {f"{service.full_name}/{method.name}" for service in services for method in service.methods
             if not (method.client_streaming or method.server_streaming)}
    return frozenset(names | {"grpc.health.v1.Health/Check"})


class ServerMetrics:
    """One server's metrics: the hooks its parts call, and the text a scrape gets (`exposition`)."""

    def __init__(self, store: Store, clock: Clock, readiness: Readiness, *, collecting: bool) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._clock = clock
        self._methods = known_methods()
        self._lock = threading.Lock()
        self._last_polled_ms: dict[str, int] = {}  # workspace -> when a poll of it last worked (wall ms)
        self._reported: dict[str, float] = {}  # workspace -> when a hook last named it (monotonic s)
        registry = self.registry
        # Registered first, so a scrape reads the store (and forgets the workspaces removed) before the
        # counters below are collected: else a removed workspace's counts showed in that scrape again.
        registry.register(ScrapedFigures(store, clock, readiness, self._polled_at if collecting else None,
                                         on_read=self.workspaces_read))
        self._polls = Counter("trimtab_workspace_polls", "Collector polls of the workspace (resting ones are "
                              "not polled).", ["workspace"], registry=registry)
        self._poll_failures = Counter("trimtab_workspace_poll_failures", "Collector polls of the workspace that "
                                      "failed as a whole (unreachable, token refused, database, a bug).",
                                      ["workspace"], registry=registry)
        self._apply_failures = Counter("trimtab_workspace_auto_apply_failures", "Auto-applies of the workspace's "
                                       "recommendations that failed, first tries and tries again.",
                                       ["workspace"], registry=registry)
        self._per_workspace = (self._polls, self._poll_failures, self._apply_failures)
        self._probe_failures = Counter("trimtab_database_probe_failures", "Readiness checks of the database "
                                       "(SELECT 1) that failed.", registry=registry)
        self._requests = Counter("trimtab_grpc_requests", "Unary gRPC calls answered, by method and status code.",
                                 ["method", "code"], registry=registry)
        self._accepted = Counter("trimtab_ingest_batches_accepted", "Agent batches stored and acknowledged.",
                                 registry=registry)
        self._refused = Counter("trimtab_ingest_batches_refused", "Agent batches not acknowledged, by status "
                                "code (the agent keeps them and sends again).", ["code"], registry=registry)
        self._events = Counter("trimtab_ingest_events", "Events of acknowledged agent batches: stored new, "
                               "already stored (a resend), dropped as invalid, or refused (an application "
                               "another workspace's agent token sent first).", ["result"], registry=registry)
        # The outcomes known ahead are shown at 0 from the start (see `workspace_polled`).
        for code in REFUSAL_CODES:
            self._refused.labels(code.name)
        for result in EVENT_RESULTS:
            self._events.labels(result)

    # ------------------------------------------------------------ hooks (never raise into the caller)

    def workspace_polled(self, workspace: str, worked: bool) -> None:
        """The collector tried ``workspace`` in a poll (`server.collect.collector.Collector`)."""
        with self._lock:
            self._reported[workspace] = self._clock.monotonic()
            self._polls.labels(workspace).inc()
            # Made at 0 with the first poll: a series that appears only at its first failure is missed by
            # rate() and increase(), which need two samples, and an alert on it would never fire.
            failures = self._poll_failures.labels(workspace)
            self._apply_failures.labels(workspace)
            if worked:
                self._last_polled_ms[workspace] = self._clock.now_ms()
            else:
                failures.inc()

    def auto_apply_failed(self, workspace: str) -> None:
        """An auto-apply of a project of ``workspace`` failed (`server.plan.apply_retry.RetriedApplies`)."""
        with self._lock:
            self._reported[workspace] = self._clock.monotonic()
            self._apply_failures.labels(workspace).inc()

    def workspaces_read(self, stored: frozenset[str], read_at: float) -> None:
        """A read of the store that began at ``read_at`` (the clock's monotonic s) found the workspaces
        ``stored``: the series of one it did not find are dropped, when no hook named it since the read
        began. One named after that may have been added after the read (its first poll's count would be
        lost) or polled as it was removed (the next read finds it gone)."""
        with self._lock:
            gone = [name for name, at in self._reported.items() if name not in stored and at <= read_at]
            for name in gone:
                del self._reported[name]
                self._last_polled_ms.pop(name, None)
                for counter in self._per_workspace:
                    with contextlib.suppress(KeyError):  # never made for it (each is made by a hook of its own)
                        counter.remove(name)
        if gone:
            log.info("metrics: the series of removed workspace(s) %s are no longer shown", ", ".join(sorted(gone)))

    def database_probe_failed(self) -> None:
        """The readiness probe's ``SELECT 1`` failed (`server.readiness.DatabaseProbe`)."""
        self._probe_failures.inc()

    def call_ended(self, method: str, code: grpc.StatusCode, response: Any = None) -> None:
        """A unary call answered: ``method`` as gRPC names it (``/pkg.Service/Method``), ``response``
        when it succeeded."""
        name = method.lstrip("/")
        label = name if name in self._methods else OTHER_METHOD
        self._requests.labels(label, code.name).inc()
        if label != SEND_BATCH:
            return
        if code is not grpc.StatusCode.OK:
            self._refused.labels(code.name).inc()
            return
        self._accepted.inc()
        if isinstance(response, ingest_pb2.BatchAck):
            counts = (response.stored_events, response.duplicate_events, response.dropped_events,
                      sum(r.events for r in response.refused_applications))
            for result, count in zip(EVENT_RESULTS, counts, strict=True):
                self._events.labels(result).inc(count)

    # ------------------------------------------------------------ scrape

    def exposition(self, accept: str = "") -> tuple[str, bytes]:
        """(content type, body) for a scrape whose ``Accept`` header is ``accept``: the Prometheus text
        format, or OpenMetrics when the scraper asks for it."""
        encoder, content_type = choose_encoder(accept)
        return content_type, encoder(self.registry)

    def _polled_at(self) -> dict[str, int]:
        with self._lock:
            return dict(self._last_polled_ms)
