"""Build, run and stop the gRPC server.

    running = start_server(ServerConfig(listen="127.0.0.1:0", db_url=url), store)
    channel = grpc.insecure_channel(running.address)
    ...
    running.stop(grace=1)

Every call except health checking and reflection needs a token (see
`server.api.auth`); tests make one with ``store.tokens.create(name, scope)``.
Shutdown (``stop`` or SIGTERM through `serve_until_signalled`): health flips
to NOT_SERVING first so load balancers stop sending, new calls are refused,
in-flight calls get ``grace`` seconds to finish, then the collector and the
ingest writer finish what they hold, each with what is left of ``grace`` but
at least `STOP_FLOOR_S` (capped at ``grace``), and the store is closed (a
writer stuck on a database that stopped answering is left behind, its
batches answered UNAVAILABLE and not acknowledged, and the store is then
left for the process exit to close rather than closed under it).

While the ingest writer is stalled (batches waiting ``ingest_stall_seconds``
without a commit), health says NOT_SERVING for the whole server and for
IngestService, and SERVING again once it commits, or, when no batch waits any
more, once the database takes a write transaction again. Health also follows the
database itself and the collector has a health name of its own (`server.readiness`).
"""

from __future__ import annotations

import gc
import importlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from types import FrameType
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from server.api.admin_servicers import ProjectServicer, RecommendationServicer, RunServicer, WorkspaceServicer
from server.api.auth import AuthInterceptor, TokenVerifier
from server.api.errors import ErrorInterceptor
from server.api.ingest_servicer import IngestServicer
from server.clock import Clock, SystemClock
from server.config import ServerConfig, is_loopback_host, join_host_port, split_host_port
from server.costing.catalog import PriceCatalog, load_active_catalog
from server.errors import FailedPrecondition
from server.ingest import IngestWriter
from server.readiness import (
    COLLECTOR_FAILING_POLLS,
    CollectorWatch,
    DatabaseProbe,
    Readiness,
    ReadinessThread,
)
from server.server_lock import ServerLock
from server.server_lock import claim as claim_server_lock
from server.services.secrets import SecretBox
from server.store import Store, open_store
from server.store.activity import commits
from server.store.rollout import fill_change_points

if TYPE_CHECKING:
    from server.metrics import ServerMetrics

log = logging.getLogger(__name__)

SERVICE_NAMES = tuple(
    d.services_by_name[name].full_name
    for d, name in ((ingest_pb2.DESCRIPTOR, "IngestService"), (admin_pb2.DESCRIPTOR, "WorkspaceService"),
                    (admin_pb2.DESCRIPTOR, "ProjectService"), (admin_pb2.DESCRIPTOR, "RunService"),
                    (admin_pb2.DESCRIPTOR, "RecommendationService"))
)


# What the collector and the ingest writer each get to finish at shutdown, however much of the
# grace the in-flight calls used (at most the grace itself; see `RunningServer.stop`).
STOP_FLOOR_S = 2.0


class RunningServer:
    """A started server: where it listens, and how to stop it."""

    def __init__(self, server: grpc.Server, port: int, host: str, store: Store, owns_store: bool,
                 writer: IngestWriter, health_servicer: health.HealthServicer, dashboard: Any = None,
                 collector: Any = None, bound_host: str = "", stall_watcher: _StallWatcher | None = None,
                 server_lock: ServerLock | None = None, readiness: Readiness | None = None,
                 readiness_thread: ReadinessThread | None = None) -> None:
        self._server = server
        self.port = port
        self.host = host  # a host this machine reaches the server at (loopback for a wildcard bind)
        self.bound_host = bound_host or host  # as bound: 0.0.0.0 or :: for every interface
        self.store = store
        self._owns_store = owns_store
        self._writer = writer
        self.health = health_servicer
        self.dashboard = dashboard  # what server.dashboard.serve_dashboard returned, if --http
        self.collector = collector  # server.collect.RunningCollector, when collection is on
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._watcher = stall_watcher
        self._server_lock = server_lock
        self.readiness = readiness or Readiness(health_servicer, SERVICE_NAMES)
        self.readiness_thread = readiness_thread  # its probe and collector watch (tests drive them)

    @property
    def address(self) -> str:
        """Where a client on this machine connects (an IPv6 host in brackets)."""
        return join_host_port(self.host, self.port)

    @property
    def bound_address(self) -> str:
        """What the server listens on, as bound (``0.0.0.0:PORT`` on every interface)."""
        return join_host_port(self.bound_host, self.port)

    def stop(self, grace: float = 5.0) -> None:
        """Stop gracefully (idempotent; safe from any thread)."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            # Everything below is bounded (the grace, plus at most two floors): a database that
            # stopped answering must not hold the shutdown (it hung for good on the ingest writer).
            # The collector and the writer each get what is left of the grace, but at least
            # `STOP_FLOOR_S` (or the whole grace when shorter): calls that used it all left them
            # none, so the collector stopped mid-collection and the writer answered UNAVAILABLE to
            # batches it was writing on a healthy database.
            deadline = time.monotonic() + grace
            floor = min(STOP_FLOOR_S, max(0.0, grace))

            def share() -> float:
                return max(deadline - time.monotonic(), floor)

            if self._watcher is not None:
                self._watcher.stop()
            if self.readiness_thread is not None:
                self.readiness_thread.stop()
            self.readiness.drain()
            self._server.stop(grace).wait()
            running: list[str] = []
            if self.collector is not None and not self.collector.stop(timeout=share()):
                running.append("the collector")
            if not self._writer.close(timeout=share()):
                running.append("the ingest writer")
            # The dashboard's warm-up reads the store too: past its share it is left, as the writer is.
            if self.dashboard is not None and not self.dashboard.stop(timeout=share()):
                running.append("the dashboard's warm-up")
            if self._owns_store:
                if running:
                    # Closing the store under a thread still using it would fail what it is doing
                    # for a reason that is not the database's; the process is ending anyway.
                    # Either may be waiting on the database or (the collector) on a Databricks call.
                    log.error("shutdown: %s still busy past the grace (waiting on the database or on "
                              "Databricks): the database connections are left for the process exit to close",
                              " and ".join(running))
                else:
                    self.store.close()
            if self._server_lock is not None and not running:
                # Kept while the collector or the writer is still busy past the grace: they may
                # still write, so the next server must not start on the file yet. The process is
                # ending, and its end releases the claim.
                self._server_lock.release()
            self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped; True once stopped."""
        return self._stopped.wait(timeout)


def _split(listen: str) -> tuple[str, int]:
    try:
        host, port = split_host_port(listen, allow_port_zero=True)
    except ValueError as exc:
        raise FailedPrecondition(f"listen address {exc}") from exc
    return host or "0.0.0.0", port


def _bind_refusal(host: str, port: int) -> str | None:
    """Why `host`:`port` cannot be bound, found by binding it as gRPC does (SO_REUSEADDR); None if it can."""
    import errno
    import socket

    bind = join_host_port(host, port)
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"address already in use: {bind} (another process listens there: stop it or pick " \
                       "another --listen port)"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"address not available: {bind} (not an address of this machine)"
            if exc.errno == errno.EACCES:
                return f"permission denied: {bind} (ports below 1024 need privileges)"
            return f"{bind}: {exc.strerror or exc}"
    return None


def _connectable(host: str) -> str:
    """A wildcard bind is reached on this machine through loopback (of the same family)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def stored_secrets(store: Store) -> list[tuple[str, str]]:
    """(what, ciphertext) for every secret the database holds, for `SecretBox.for_store`."""
    out: list[tuple[str, str]] = []
    for ws in store.workspaces.list():
        held = store.workspaces.secrets(ws.name)
        out.append((f"workspace {ws.name} token", held.token_encrypted))
        if held.cloud_credentials_encrypted:
            out.append((f"workspace {ws.name} cloud credentials", held.cloud_credentials_encrypted))
    return out


def _report_unreadable_secrets(secrets: SecretBox, held: list[tuple[str, str]], config: ServerConfig) -> None:
    """An ERROR at start when the key cannot read the stored secrets.

    Said at once, not first by the collector as a workspace `error` that reads like a revoked
    token. Not a refusal to start: with the original key lost, the way out is a server on a new
    key that the tokens are added to again (`workspace add --replace`)."""
    unreadable = secrets.unreadable(held)
    if not unreadable:
        return
    path = config.state_dir / "secret.key"
    if not secrets.has_key:
        where = f"a key this server does not have (no TRIMTAB_SECRET_KEY, no {path}; no new key was made)"
    else:
        where = f"another key than {'TRIMTAB_SECRET_KEY' if config.secret_key else path}"
    shown = ", ".join(unreadable[:6]) + (f" and {len(unreadable) - 6} more" if len(unreadable) > 6 else "")
    log.error("stored secrets were encrypted with %s (%s): start with the original --state-dir or set "
              "TRIMTAB_SECRET_KEY to that key; until then these workspaces are not collected. If that key is "
              "lost: docs/operations.md, 'The secret key'", where, shown)


def _tune_gc(threshold: int) -> None:
    """Collect less often, and never walk what start-up made. Ingest keeps every queued batch's
    rows alive until its commit (tens of thousands of dicts and tuples with many agents): with
    Python's default of 700 allocations the collector ran so often that the ingest benchmark lost
    a quarter of its throughput at 10-50 agents, and each full collection also walked every module,
    table definition and protobuf descriptor loaded at start. After collecting what is garbage now,
    `gc.freeze` moves those objects out of the collector's sight. benchmarks/ingest.py, SQLite,
    medians of 3 rounds at 1/10/50 agents: 33k/31k/30k events/s with the threshold alone,
    50k/48k/45k with the freeze as well.
    threshold 0 leaves the collector as Python sets it."""
    if threshold > 0:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])
        gc.collect()
        gc.freeze()


# Agents ping every 30 s, between calls too (agent/send.py CHANNEL_OPTIONS), so a dead connection is
# found before a batch waits on it. gRPC servers by default allow a ping without data only every 5
# minutes and answer more with GOAWAY "too_many_pings": agents then logged errors and reconnected.
AGENT_PING_MIN_MS = 20_000


def server_options(max_receive_bytes: int) -> list[tuple[str, int]]:
    """The gRPC server's channel options."""
    return [("grpc.max_receive_message_length", max_receive_bytes),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            # Never share a port with another process (tests bind port 0 side by side).
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", AGENT_PING_MIN_MS),
            ("grpc.http2.min_ping_interval_without_data_ms", AGENT_PING_MIN_MS)]


def start_server(config: ServerConfig, store: Store | None = None, clock: Clock | None = None) -> RunningServer:
    """Start serving on ``config.listen``; opens (and migrates) the store unless given one."""
    clock = clock or SystemClock()
    _tune_gc(config.gc_threshold)
    # One catalog for the server's life, read at start: the planner and collector price with it
    # and `project set` checks driver types and families against it, so what the API accepts is
    # what the planner knows. `trimtab prices update` writes a new version for the next start.
    # Read before the store is opened, so a broken catalog leaves nothing open.
    catalog = load_active_catalog(config.state_dir)
    host, port_wanted = _split(config.listen)
    owns_store = store is None
    if owns_store and port_wanted:
        # A port that cannot be bound is found before the database is created or migrated: a
        # mistyped or busy --listen must not leave a new (or upgraded) database behind. The bind
        # below still checks, as another process may take the port in between.
        refused = _bind_refusal(host, port_wanted)
        if refused:
            raise FailedPrecondition(f"cannot listen on {config.listen}: {refused}")
    # A second server on this SQLite file is refused before it opens (or migrates) it.
    server_lock = claim_server_lock(config.database_url) if owns_store else None
    if store is None:
        # migrate=0: an older schema is refused ("run `trimtab db upgrade`") instead of migrated.
        try:
            store = open_store(config.database_url, upgrade=bool(config.migrate), clock=clock,
                               busy_timeout_ms=config.db_busy_timeout_ms, timeout_s=config.db_timeout_seconds)
        except BaseException:
            if server_lock is not None:
                server_lock.release()
            raise
    opened: Store = store

    def close_store() -> None:
        opened.close()
        if server_lock is not None:
            server_lock.release()

    try:
        filled = fill_change_points(store.engine)
        if filled:
            log.info("stored the change point of %d recommendation(s) an older server wrote after the schema "
                     "upgrade (named in their reasons only)", filled)
        held = stored_secrets(store)
        secrets = SecretBox.for_store(config.secret_key, config.state_dir, bool(held))
    except BaseException:
        if owns_store:
            close_store()
        raise
    _report_unreadable_secrets(secrets, held, config)
    writer = IngestWriter(store, group_batches=config.ingest_group_batches,
                          queue_batches=config.ingest_queue_batches)
    verifier = TokenVerifier(store, clock, config.token_cache_seconds,
                             config.token_revocation_check_seconds)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    readiness = Readiness(health_servicer, SERVICE_NAMES)
    metrics = _metrics(config, store, clock, readiness)
    # The metrics' first: it sees the status the others end a call with (a refused token's included).
    interceptors: list[grpc.ServerInterceptor] = [AuthInterceptor(verifier), ErrorInterceptor()]
    if metrics is not None:
        from server.metrics_grpc import MetricsInterceptor

        interceptors.insert(0, MetricsInterceptor(metrics))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="trimtab-grpc"),
        interceptors=interceptors,
        options=server_options(config.max_receive_bytes),
    )
    loop = _ClosedLoop()
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(
        IngestServicer(writer, config.max_events_per_batch, on_application_end=loop.application_ended), server)
    admin_pb2_grpc.add_WorkspaceServiceServicer_to_server(WorkspaceServicer(store, secrets), server)
    admin_pb2_grpc.add_ProjectServiceServicer_to_server(
        ProjectServicer(store, secrets, catalog, replan=loop.replan), server)
    admin_pb2_grpc.add_RunServiceServicer_to_server(RunServicer(store, verifier.refusals), server)
    admin_pb2_grpc.add_RecommendationServiceServicer_to_server(RecommendationServicer(store, secrets), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)

    bind = join_host_port(host, port_wanted)
    try:
        if config.tls_cert or config.tls_key:
            if not (config.tls_cert and config.tls_key):
                raise FailedPrecondition("TLS needs both --tls-cert and --tls-key")
            creds = grpc.ssl_server_credentials([(config.tls_key.read_bytes(), config.tls_cert.read_bytes())])
            port = server.add_secure_port(bind, creds)
        else:
            port = server.add_insecure_port(bind)
            if not is_loopback_host(host):
                # Bearer tokens (the agents', the admins') would cross the network in clear text.
                log.warning("listening on %s without TLS: agent and admin tokens cross the network in clear "
                            "text; give --tls-cert and --tls-key (docs/operations.md, TLS)", bind)
    except RuntimeError as exc:
        # Its own tail ("set GRPC_VERBOSITY=debug ...") is no help to whoever reads this line.
        port, failure = 0, str(exc).split("; set GRPC_VERBOSITY")[0]
    else:
        failure = ""
    if not port:
        # Depending on its version gRPC raises or returns port 0; its own text ends "set
        # GRPC_VERBOSITY=debug ..." without the reason, so the reason is found by binding here.
        writer.close()
        if owns_store:
            close_store()
        reason = _bind_refusal(host, port_wanted) or failure or "gRPC could not bind it"
        raise FailedPrecondition(f"cannot listen on {config.listen}: {reason}")
    server.start()
    readiness.start()
    public_host = _connectable(host)
    try:
        dashboard = _start_dashboard(config, store, readiness)
        collector = loop.start(config, store, secrets, catalog, clock, join_host_port(public_host, port),
                               on_workspace_polled=metrics.workspace_polled if metrics is not None else None,
                               on_apply_failed=metrics.auto_apply_failed if metrics is not None else None)
    except BaseException:
        server.stop(0).wait()
        writer.close()
        if owns_store:
            close_store()
        raise
    log.info("trimtab server listening on %s (db %s)", join_host_port(host, port), store.url)
    watch = None
    if collector is not None:
        watch = CollectorWatch(readiness, clock, COLLECTOR_FAILING_POLLS * config.collect_interval_seconds)
        collector.collector.on_poll = watch.polled
    probe = DatabaseProbe(readiness, store.ping, commits(store.engine), clock, store.url,
                          on_failure=metrics.database_probe_failed if metrics is not None else None)
    return RunningServer(server, port, public_host, store, owns_store, writer, health_servicer, dashboard,
                         collector, bound_host=host, server_lock=server_lock,
                         stall_watcher=_StallWatcher(writer, readiness, config.ingest_stall_seconds,
                                                     store.ingest.check_writable),
                         readiness=readiness, readiness_thread=ReadinessThread(probe, watch).start())


class _StallWatcher:
    """Health NOT_SERVING while the ingest writer is stalled; SERVING again once it commits, or, when
    no batch waits any more, once the database takes a write transaction (`check`).

    Agents and load balancers then see what is true: a writer stuck on a database that stopped
    answering acknowledges nothing (health said SERVING while every batch timed out). The writer no
    longer being stalled is not enough to say SERVING: agents that back off during an outage leave
    nothing waiting, which ended the stall while the database was still down (health went back to
    SERVING and the log said the writer "commits again" though nothing had committed)."""

    def __init__(self, writer: IngestWriter, readiness: Readiness, seconds: float,
                 check: Callable[[], object]) -> None:
        self._writer = writer
        self._readiness = readiness
        self._seconds = seconds
        self._check = check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trimtab-ingest-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        stalled = False
        commits_then = 0  # the writer's commit count when the stall was reported
        check_failed = False  # the failed check was logged (once per stall: it runs every interval)
        # Checked often enough that the report lags the threshold by a small fraction of it.
        while not self._stop.wait(min(1.0, self._seconds / 4)):
            if not stalled:
                if self._writer.stalled(self._seconds):
                    stalled, commits_then, check_failed = True, self._writer.commits(), False
                    log.error("ingest stalled: batches have waited %.0fs without a commit (database not "
                              "answering?); health NOT_SERVING until the writer commits again (or, once no batch "
                              "waits, the database takes a write transaction)", self._seconds)
                    self._set(health_pb2.HealthCheckResponse.NOT_SERVING)
                continue
            if self._writer.commits() != commits_then:
                log.warning("ingest writer commits again: health SERVING")
            elif self._writer.stalled(self._seconds):
                continue  # batches still wait: the writer itself is the check
            else:
                # Nothing waits (agents back off between resends): ask the database itself.
                try:
                    self._check()
                except Exception as exc:
                    if not check_failed:
                        check_failed = True
                        log.warning("ingest still stalled: no batch is waiting, but the database does not take "
                                    "a write transaction (%s); health stays NOT_SERVING", exc)
                    continue
                log.warning("ingest: the database takes writes again (checked; no batch was waiting): "
                            "health SERVING")
            stalled = False
            self._set(health_pb2.HealthCheckResponse.SERVING)

    def _set(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        # Through `Readiness`: a database the probe finds down keeps every service NOT_SERVING
        # even once the writer commits again (and draining wins over both).
        stalled = status != health_pb2.HealthCheckResponse.SERVING
        self._readiness.set_problem("ingest", "ingest stalled" if stalled else None, ("", SERVICE_NAMES[0]))


class _ClosedLoop:
    """The background half of the server: collect finished runs, plan, auto-apply.

    Started after the port is known, because onboarding writes the address
    agents reach into the jobs it changes (``--advertise``, else the bound address).
    """

    def __init__(self) -> None:
        self.running: Any = None
        self.planner: Any = None

    def application_ended(self, application_id: str) -> None:
        if self.running is not None:
            self.running.notify_application_end(application_id)

    def replan(self, project_id: int) -> None:
        """Plan a project again after its settings changed, with the collector's planner (none
        while collection is off: nothing plans then)."""
        if self.planner is not None:
            self.planner.replan(project_id)

    def start(self, config: ServerConfig, store: Store, secrets: SecretBox, catalog: PriceCatalog, clock: Clock,
              bound: str, on_workspace_polled: Callable[[str, bool], None] | None = None,
              on_apply_failed: Callable[[str], None] | None = None) -> Any:
        from server.config import shared_location_warning
        from server.onboard import AgentWiring, init_script_info
        from server.services import workspaces

        script = init_script_info(config.init_script)
        if "dbfs" in script:
            # Accepted for workspaces that still run them, but Databricks has ended DBFS init scripts
            # (end of life): where they no longer run, onboarded clusters would not start the agent.
            log.warning("TRIMTAB_INIT_SCRIPT %s is on DBFS: Databricks has ended init scripts on DBFS; use a "
                        "workspace path or a /Volumes path", config.init_script)
        if shared := shared_location_warning(config.init_script, config.agent_wheel):
            log.warning("%s", shared)
        scope, _, key = config.agent_secret.partition("/")
        wiring = AgentWiring(server_address=config.advertise or bound, init_script=script,
                             tls=bool(config.tls_cert and config.tls_key), agent_wheel=config.agent_wheel,
                             secret_scope=scope, secret_key=key)
        if wiring.only_local:
            log.warning("agents on Databricks clusters cannot reach this server at %s, the address import "
                        "writes into jobs (%s): set --advertise/TRIMTAB_ADVERTISE to the host:port clusters "
                        "reach it at (only a workspace on this machine, like the sandbox, reaches it as it "
                        "is)", wiring.server_address,
                        "--advertise" if config.advertise else "the listen address; no --advertise given")
        workspaces.configure(wiring=wiring, clock=clock, catalog=catalog,  # regions are checked against the catalog
                             import_page_s=config.import_page_seconds)
        from server.services.agent_secret import names_sharing_a_host

        for first, second in names_sharing_a_host(store.workspaces.list()):
            # Only an older Trimtab let these in (add refuses a host another name has): said at each start
            # until one name is removed, since nothing else shows that one name's agents send as the other.
            log.warning("workspaces %r and %r are one Databricks workspace (one host, spelled two ways): their "
                        "clusters read one agents' token secret, so the agents of one send as the other and its runs "
                        "are stored with no applications and no input size. Import into one name, detach the other's "
                        "projects and `trimtab workspace remove` it (docs/operations.md, 'Workspaces')", first, second)
        if not config.collect:
            return None
        from server.collect.running import start_collector
        from server.costing.billing import RecostPolicy
        from server.plan.planner import Planner

        planner = self.planner = Planner(store, catalog, lambda ws: workspaces.gateway_for(store, secrets, ws),
                                         clock=clock)
        planner.on_apply_failed = on_apply_failed  # before the first poll, which may apply
        self.running = start_collector(store, secrets, clock=clock, on_run_collected=planner, catalog=catalog,
                                       poll_interval_s=config.collect_interval_seconds,
                                       recost_interval_s=config.recost_interval_seconds,
                                       recost_policy=RecostPolicy(
                                           first_check_after_ms=int(config.bill_wait_hours * 3_600_000)),
                                       auto_import_interval_s=config.auto_import_interval_seconds,
                                       on_workspace_polled=on_workspace_polled)
        return self.running


def _metrics(config: ServerConfig, store: Store, clock: Clock, readiness: Readiness) -> ServerMetrics | None:
    """The server's metrics, served by the dashboard at ``/metrics`` through ``readiness``; None with
    ``metrics = 0`` or without ``--http`` (nothing would serve them: no call is counted for nobody)."""
    if not (config.metrics and config.http):
        return None
    from server.metrics import ServerMetrics  # prometheus_client loads only when metrics are served

    metrics = ServerMetrics(store, clock, readiness, collecting=bool(config.collect))
    readiness.metrics = metrics.exposition
    return metrics


def _start_dashboard(config: ServerConfig, store: Store, readiness: Readiness) -> Any:
    """The dashboard hook: `server.dashboard.serve_dashboard(store, addr)` when that module exists."""
    if not config.http:
        return None
    try:
        module = importlib.import_module("server.dashboard")
    except ModuleNotFoundError as exc:
        if exc.name in ("server.dashboard",):
            log.warning("--http given but this build has no dashboard")
            return None
        raise
    dashboard_host, _ = split_host_port(config.http, allow_port_zero=True)
    if not is_loopback_host(dashboard_host):
        log.warning("dashboard on %s over plain HTTP: its sign-in takes an admin token in clear text; keep it on "
                    "127.0.0.1 behind an HTTPS proxy (docs/operations.md, TLS)", config.http)
    dashboard = module.serve_dashboard(store, config.http, readiness=readiness)
    dashboard.warm()
    return dashboard


def serve_until_signalled(running: RunningServer, grace: float, ready: Callable[[], None] | None = None) -> None:
    """Block until SIGTERM or SIGINT, then stop gracefully (main thread only). ``ready`` runs once
    the handlers are in place: a supervisor that sends SIGTERM as soon as the server says it is
    listening gets the graceful stop, not the default action (killed without a word)."""
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down (grace %.1fs)", signum, grace)
        # Not in the handler itself: stopping waits for in-flight calls.
        threading.Thread(target=running.stop, args=(grace,), name="trimtab-shutdown").start()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ready is not None:
            ready()
        # Signal handlers run in the main thread even while it waits here.
        running.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
