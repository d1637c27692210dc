"""``GET /metrics`` on the dashboard's listener (`server.metrics`): real servers on 127.0.0.1:0, real
gRPC calls, scraped over HTTP and parsed as Prometheus parses them. Before, none of these figures
had a metrics surface: they were in `workspace show`, `agent list` and the logs only."""

from __future__ import annotations

import dataclasses
import logging
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health
from prometheus_client.parser import text_string_to_metric_families

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2
from server.clock import FakeClock
from server.domain import PROBLEM_KEY, PlanProblem, Workspace
from server.metrics import ServerMetrics
from server.metrics_scrape import STORE_READ_EVERY_S, ScrapedFigures
from server.readiness import DB_PROBE_INTERVAL_S, Readiness
from server.serve import SERVICE_NAMES
from server.services import workspace_lifecycle
from server.store import Store
from tests.conftest import migrated_sqlite_file
from tests.metrics_scrape import Samples, scrape, value
from tests.server.conftest import Harness, StartHarness, event_batch, planned_project
from tests.server.test_readiness import Cutoff

SEND_BATCH = "trimtab.v1.IngestService/SendBatch"


def _served(h: Harness) -> str:
    assert h.running.dashboard is not None
    return str(h.running.dashboard.url)


def _code(call: grpc.UnaryUnaryMultiCallable, request: object, metadata: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call(request, metadata=metadata, timeout=30)
    return err.value.code()


def test_grpc_calls_and_agent_batches_are_counted_by_method_and_status(start_harness: StartHarness,
                                                                        migrated_db_url: str) -> None:
    h = start_harness(migrated_db_url, http="127.0.0.1:0", collect=0)
    url = _served(h)
    before = scrape(url)
    assert value(before, "trimtab_ingest_batches_accepted_total") == 0
    # Shown at 0 before the first one: rate() and increase() need the series before it moves.
    assert value(before, "trimtab_ingest_batches_refused_total", code="UNAUTHENTICATED") == 0
    assert value(before, "trimtab_ingest_events_total", result="stored") == 0
    assert value(before, "trimtab_grpc_requests_total", method=SEND_BATCH, code="OK") is None

    batch = event_batch("b-1", 5)
    assert h.ingest.SendBatch(batch, metadata=h.agent, timeout=30).stored_events == 5
    assert h.ingest.SendBatch(batch, metadata=h.agent, timeout=30).duplicate_events == 5  # the agent resends
    bad_token = (("authorization", "Bearer tt_nope.nope"),)
    assert _code(h.ingest.SendBatch, event_batch("b-2", 1), bad_token) == grpc.StatusCode.UNAUTHENTICATED
    no_id = event_batch("b-3", 1)
    no_id.ClearField("batch_id")
    assert _code(h.ingest.SendBatch, no_id, h.agent) == grpc.StatusCode.INVALID_ARGUMENT
    workspaces = admin_pb2_grpc.WorkspaceServiceStub(h.channel)
    workspaces.ListWorkspaces(admin_pb2.ListWorkspacesRequest(), metadata=h.admin, timeout=30)
    assert _code(workspaces.ListWorkspaces, admin_pb2.ListWorkspacesRequest(), h.agent) \
        == grpc.StatusCode.PERMISSION_DENIED
    # A method no service has, sent with a made-up token: counted, but not under its own name (an
    # unauthenticated caller must not be able to add a series per name it makes up).
    made_up = h.channel.unary_unary("/trimtab.v1.Made/Up" + "x" * 50)
    assert _code(made_up, b"", bad_token) == grpc.StatusCode.UNAUTHENTICATED
    # With a good token it is UNIMPLEMENTED, which no handler answers: counted all the same.
    assert _code(made_up, b"", h.admin) == grpc.StatusCode.UNIMPLEMENTED

    after = scrape(url)
    assert value(after, "trimtab_ingest_batches_accepted_total") == 2
    assert value(after, "trimtab_ingest_batches_refused_total", code="UNAUTHENTICATED") == 1
    assert value(after, "trimtab_ingest_batches_refused_total", code="INVALID_ARGUMENT") == 1
    assert value(after, "trimtab_ingest_events_total", result="stored") == 5
    assert value(after, "trimtab_ingest_events_total", result="duplicate") == 5
    assert value(after, "trimtab_ingest_events_total", result="dropped") == 0
    assert value(after, "trimtab_grpc_requests_total", method=SEND_BATCH, code="OK") == 2
    assert value(after, "trimtab_grpc_requests_total", method=SEND_BATCH, code="UNAUTHENTICATED") == 1
    assert value(after, "trimtab_grpc_requests_total", method=SEND_BATCH, code="INVALID_ARGUMENT") == 1
    listing = "trimtab.v1.WorkspaceService/ListWorkspaces"
    assert value(after, "trimtab_grpc_requests_total", method=listing, code="OK") == 1
    assert value(after, "trimtab_grpc_requests_total", method=listing, code="PERMISSION_DENIED") == 1
    assert value(after, "trimtab_grpc_requests_total", method="other", code="UNAUTHENTICATED") == 1
    assert value(after, "trimtab_grpc_requests_total", method="other", code="UNIMPLEMENTED") == 1
    assert not [name for name, labels in after if "Made/Up" in str(labels)]
    assert value(after, "trimtab_ready") == 1


def test_each_server_counts_only_its_own_calls(start_harness: StartHarness, sqlite_template: Path,
                                               tmp_path: Path) -> None:
    """Each server has its own registry, never the process's default one: two in one process (as
    tests run them) do not add up."""
    first = start_harness(http="127.0.0.1:0", collect=0)
    second = start_harness(migrated_sqlite_file(sqlite_template, tmp_path / "second.db"), http="127.0.0.1:0",
                           collect=0)
    first.ingest.SendBatch(event_batch("only-first", 1), metadata=first.agent, timeout=30)
    assert value(scrape(_served(first)), "trimtab_ingest_batches_accepted_total") == 1
    assert value(scrape(_served(second)), "trimtab_ingest_batches_accepted_total") == 0
    assert not [name for name, _ in scrape(_served(second)) if name == "trimtab_grpc_requests_total"]


def test_the_store_s_figures_per_workspace(start_harness: StartHarness, migrated_db_url: str) -> None:
    h = start_harness(migrated_db_url, http="127.0.0.1:0", collect=0)
    project, rec_id = planned_project(h)  # workspace "ws": three runs, one recommendation
    other, _ = planned_project(h, job_id=2)
    h.store.projects.update(project, recommendations={rec_id: "applied"}, by="auto")
    failed = PlanProblem(step="apply", run_id=1, at_ms=1, message="PermissionDenied: CAN_MANAGE needed")
    h.store.projects.update(dataclasses.replace(other, state={**other.state, PROBLEM_KEY: failed.to_json()}))
    h.store.workspaces.add(Workspace(name="quiet", host="http://y", cloud="aws"), "enc")
    h.store.workspaces.set_status("quiet", "unreachable", "no connection")

    samples = scrape(_served(h))
    assert value(samples, "trimtab_metrics_store_read_ok") == 1
    assert value(samples, "trimtab_workspace_runs_collected_total", workspace="ws") == 6
    assert value(samples, "trimtab_workspace_recommendations_total", workspace="ws") == 2
    assert value(samples, "trimtab_workspace_recommendations_applied_total", workspace="ws") == 1
    assert value(samples, "trimtab_workspace_projects_apply_failing", workspace="ws") == 1
    assert value(samples, "trimtab_workspace_projects", workspace="ws") == 2
    assert value(samples, "trimtab_workspace_ok", workspace="ws") == 1
    assert value(samples, "trimtab_workspace_ok", workspace="quiet") == 0
    assert value(samples, "trimtab_workspace_runs_collected_total", workspace="quiet") == 0
    # Not collecting: no poll is due, so no poll's age is shown.
    assert not [name for name, _ in samples if name == "trimtab_workspace_seconds_since_last_successful_poll"]


def test_metrics_off_answer_404_and_healthz_still_answers(start_harness: StartHarness) -> None:
    h = start_harness(http="127.0.0.1:0", collect=0, metrics=0)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(_served(h) + "metrics", timeout=30)
    assert err.value.code == 404
    with urllib.request.urlopen(_served(h) + "healthz", timeout=30) as reply:
        assert reply.status == 200


def _exposed(metrics: ServerMetrics) -> Samples:
    _, body = metrics.exposition()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def _metrics(store: Store, clock: FakeClock) -> ServerMetrics:
    return ServerMetrics(store, clock, Readiness(health.HealthServicer(), SERVICE_NAMES), collecting=True)


AGE = "trimtab_workspace_seconds_since_last_successful_poll"


def test_seconds_since_the_last_successful_poll_follow_the_injected_clock(sqlite_store: Store) -> None:
    clock = FakeClock()
    sqlite_store.workspaces.add(Workspace(name="prod", host="http://x", cloud="aws",
                                          created_at_ms=clock.now_ms() - 3_600_000), "enc")
    metrics = _metrics(sqlite_store, clock)
    age = AGE
    assert value(_exposed(metrics), age, workspace="prod") == 3600  # since its adding: never polled yet
    clock.advance(STORE_READ_EVERY_S)
    assert value(_exposed(metrics), age, workspace="prod") == 3600 + STORE_READ_EVERY_S
    metrics.workspace_polled("prod", True)
    clock.advance(STORE_READ_EVERY_S + 7)
    assert value(_exposed(metrics), age, workspace="prod") == STORE_READ_EVERY_S + 7
    metrics.workspace_polled("prod", False)  # a failed poll is no successful one
    clock.advance(8)
    samples = _exposed(metrics)
    assert value(samples, age, workspace="prod") == STORE_READ_EVERY_S + 15
    assert value(samples, "trimtab_workspace_polls_total", workspace="prod") == 2
    assert value(samples, "trimtab_workspace_poll_failures_total", workspace="prod") == 1
    # A workspace added after the start counts from its adding, not from the start.
    sqlite_store.workspaces.add(Workspace(name="new", host="http://y", cloud="aws",
                                          created_at_ms=clock.now_ms() - 2_000), "enc")
    clock.advance(STORE_READ_EVERY_S)
    assert value(_exposed(metrics), age, workspace="new") == STORE_READ_EVERY_S + 2


def test_the_poll_age_goes_on_across_a_restart(sqlite_store: Store) -> None:
    """The last successful poll is the store's (the collector records it): a restarted server showed
    the age from its own start, hiding that every poll had failed for an hour before it."""
    clock = FakeClock()
    sqlite_store.workspaces.add(Workspace(name="prod", host="http://x", cloud="aws",
                                          created_at_ms=clock.now_ms() - 7_200_000), "enc")
    sqlite_store.workspaces.record_polled("prod", clock.now_ms() - 3_600_000, polled_host="http://x")
    sqlite_store.workspaces.record_polled("prod", clock.now_ms(), polled_host="http://elsewhere")  # re-pointed since
    metrics = _metrics(sqlite_store, clock)  # the restarted server: it has seen no poll of its own
    assert value(_exposed(metrics), AGE, workspace="prod") == 3600
    metrics.workspace_polled("prod", False)
    clock.advance(STORE_READ_EVERY_S)
    assert value(_exposed(metrics), AGE, workspace="prod") == 3600 + STORE_READ_EVERY_S
    sqlite_store.workspaces.record_polled("prod", clock.now_ms(), polled_host="http://x")  # as the collector does
    metrics.workspace_polled("prod", True)
    clock.advance(STORE_READ_EVERY_S)
    assert value(_exposed(metrics), AGE, workspace="prod") == STORE_READ_EVERY_S


def test_a_removed_workspace_s_series_leave_the_scrape(sqlite_store: Store) -> None:
    """`trimtab workspace remove` (the service the API calls): every series labelled with its name
    leaves /metrics at the next read of the store. The counters kept in memory stayed until a restart."""
    clock = FakeClock()
    for name in ("gone", "kept"):
        sqlite_store.workspaces.add(Workspace(name=name, host=f"http://{name}", cloud="aws"), "enc")
    metrics = _metrics(sqlite_store, clock)
    for name in ("gone", "kept"):
        metrics.workspace_polled(name, True)
        metrics.workspace_polled(name, False)
        metrics.auto_apply_failed(name)
    before = _exposed(metrics)
    assert value(before, "trimtab_workspace_polls_total", workspace="gone") == 2
    assert value(before, AGE, workspace="gone") == 0

    workspace_lifecycle.remove_workspace(sqlite_store, "gone")
    clock.advance(STORE_READ_EVERY_S)
    after = _exposed(metrics)
    assert [name for name, labels in after if ("workspace", "gone") in labels] == []
    assert value(after, "trimtab_workspace_polls_total", workspace="kept") == 2
    assert value(after, "trimtab_workspace_poll_failures_total", workspace="kept") == 1
    assert value(after, "trimtab_workspace_auto_apply_failures_total", workspace="kept") == 1
    assert value(after, AGE, workspace="kept") == STORE_READ_EVERY_S

    # Added again under the name: counted from 0, with no poll age carried over from the one removed.
    sqlite_store.workspaces.add(Workspace(name="gone", host="http://gone", cloud="aws",
                                          created_at_ms=clock.now_ms()), "enc")
    metrics.workspace_polled("gone", False)
    clock.advance(STORE_READ_EVERY_S)
    again = _exposed(metrics)
    assert value(again, "trimtab_workspace_polls_total", workspace="gone") == 1
    assert value(again, "trimtab_workspace_auto_apply_failures_total", workspace="gone") == 0
    assert value(again, AGE, workspace="gone") == STORE_READ_EVERY_S


def test_a_workspace_polled_after_a_read_began_is_not_taken_for_removed(sqlite_store: Store) -> None:
    """A read that began before the workspace was added does not find it: its counts are kept while a
    hook named it after that read began."""
    clock = FakeClock()
    metrics = _metrics(sqlite_store, clock)
    read_at = clock.monotonic()
    clock.advance(1)
    sqlite_store.workspaces.add(Workspace(name="new", host="http://new", cloud="aws"), "enc")
    metrics.workspace_polled("new", True)
    metrics.workspaces_read(frozenset(), read_at)  # that read's figures, without it
    assert value(_exposed(metrics), "trimtab_workspace_polls_total", workspace="new") == 1


def test_failed_auto_applies_are_counted_per_workspace_from_0(sqlite_store: Store) -> None:
    clock = FakeClock()
    sqlite_store.workspaces.add(Workspace(name="prod", host="http://x", cloud="aws"), "enc")
    metrics = _metrics(sqlite_store, clock)
    failures = "trimtab_workspace_auto_apply_failures_total"
    assert value(_exposed(metrics), failures, workspace="prod") is None  # not collected yet
    # Shown at 0 from the first poll: increase() needs the series before its first failure.
    metrics.workspace_polled("prod", True)
    assert value(_exposed(metrics), failures, workspace="prod") == 0
    metrics.auto_apply_failed("prod")
    metrics.auto_apply_failed("prod")
    assert value(_exposed(metrics), failures, workspace="prod") == 2


def test_a_scrape_without_the_database_still_says_readiness(caplog: pytest.LogCaptureFixture) -> None:
    """The store's figures are left out (and said so), not the whole scrape failed: readiness is
    what says the database is down, and it is wanted most then."""
    engine = sa.create_engine("postgresql+psycopg://nobody@/no_such_database?host=/nonexistent",
                              connect_args={"connect_timeout": 2})
    clock = FakeClock()
    readiness = Readiness(health.HealthServicer(), SERVICE_NAMES)
    figures = ScrapedFigures(Store(engine, clock), clock, readiness, polled_at=dict)
    caplog.set_level(logging.WARNING, logger="server.metrics")
    for _ in range(2):
        clock.advance(STORE_READ_EVERY_S)
        families = {f.name: f for f in figures.collect()}
        assert [s.value for s in families["trimtab_metrics_store_read_ok"].samples] == [0]
        assert [s.value for s in families["trimtab_ready"].samples] == [1]
        assert families["trimtab_workspace_runs_collected"].samples == []
    assert len([r for r in caplog.records if r.name == "server.metrics"]) == 1  # once per outage, not per scrape


def test_a_database_that_does_not_answer_holds_no_scrape_and_is_tried_once_per_interval() -> None:
    """A database host that takes the connection and never answers (a frozen PostgreSQL): each scrape
    waited its turn and then its own connect timeout, 10, 14, 18... 30 s, past Prometheus' scrape
    timeout, so `trimtab_ready` went unscraped while the database was down."""
    import socket
    import threading
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    taken: list[socket.socket] = []
    threading.Thread(target=lambda: [taken.append(silent.accept()[0]) for _ in range(16)], daemon=True).start()
    port = silent.getsockname()[1]
    engine = sa.create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/trimtab",
                              connect_args={"connect_timeout": 20})
    clock = FakeClock()  # held still: every scrape below falls in one read interval
    readiness = Readiness(health.HealthServicer(), SERVICE_NAMES)
    figures = ScrapedFigures(Store(engine, clock), clock, readiness, polled_at=dict, wait_s=0.5)
    try:
        for _ in range(4):
            began = time.monotonic()
            families = {f.name: f for f in figures.collect()}
            assert time.monotonic() - began < 10  # 0.5 s here; it was the connect timeout, and more
            assert [s.value for s in families["trimtab_metrics_store_read_ok"].samples] == [0]
            assert [s.value for s in families["trimtab_ready"].samples] == [1]
        assert len(taken) <= 1  # one read under way, not one per scrape
    finally:
        silent.close()
        for conn in taken:
            conn.close()
        engine.dispose()


def test_readiness_and_database_probe_failures_over_http(start_harness: StartHarness, postgres_url: str,
                                                         migrated_postgres_url: str) -> None:
    clock = FakeClock()
    h = start_harness(migrated_postgres_url, http="127.0.0.1:0", collect=0, clock=clock, db_timeout_seconds=5)
    url = _served(h)
    probe = h.running.readiness_thread.probe if h.running.readiness_thread else None
    assert probe is not None
    cutoff = Cutoff(postgres_url, migrated_postgres_url)
    try:
        samples = scrape(url)
        assert value(samples, "trimtab_ready") == 1
        assert value(samples, "trimtab_database_probe_failures_total") == 0
        # The first look finds the start-up's (and that scrape's) commits: the database answered.
        clock.advance(DB_PROBE_INTERVAL_S)
        assert probe.wait_for_looks(1, 30)
        cutoff.cut()
        for look in (2, 3):
            clock.advance(DB_PROBE_INTERVAL_S)
            assert probe.wait_for_looks(look, 30)
        samples = scrape(url)
        assert value(samples, "trimtab_ready") == 0
        assert value(samples, "trimtab_database_probe_failures_total") == 2
        assert value(samples, "trimtab_metrics_store_read_ok") == 0
        cutoff.restore()
        clock.advance(DB_PROBE_INTERVAL_S)
        assert probe.wait_for_looks(4, 30)
        clock.advance(STORE_READ_EVERY_S)  # the store's figures are read again
        samples = scrape(url)
        assert value(samples, "trimtab_ready") == 1
        assert value(samples, "trimtab_database_probe_failures_total") == 2
        assert value(samples, "trimtab_metrics_store_read_ok") == 1
    finally:
        cutoff.close()


def test_the_method_label_is_one_the_server_serves_for_every_unary_method() -> None:
    from server.metrics import known_methods

    names = known_methods()
    assert SEND_BATCH in names and "grpc.health.v1.Health/Check" in names
    for service in (*ingest_pb2.DESCRIPTOR.services_by_name.values(), *admin_pb2.DESCRIPTOR.services_by_name.values()):
        for method in service.methods:
            assert f"{service.full_name}/{method.name}" in names
