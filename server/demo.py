"""`trimtab demo`: the whole closed loop on this machine.

One process plays every part, each through its real interface:
- the Trimtab server (gRPC, SQLite in the state directory) that agents stream to;
- the sandbox workspace emulator over HTTP, whose simulated clusters run the real
  init script, which starts the real agent following the simulated event log;
- the collector (runs/get + cluster events + the agent's data -> costed Run) and
  the planner (models.decide -> recommendation -> jobs/update with auto-apply).

Each round runs every demo job once (the jobs run side by side in the emulator),
waits for the clusters to terminate (the agents flush on SIGTERM), then collects
and plans, so the next round's runs use what was applied. Everything is kept in
the state directory; a second invocation resumes: the same ports (job specs point
agents at the server's address), jobs, projects and run history, N more rounds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from server.domain import Project, Run, Workspace
from server.errors import FailedPrecondition

if TYPE_CHECKING:  # heavy imports only when the demo runs
    from sandbox.workspace import RunningWorkspace
    from server.config import ServerConfig
    from server.databricks import DatabricksGateway
    from server.serve import RunningServer
    from server.server_lock import ServerLock
    from server.store import Store

log = logging.getLogger(__name__)

WORKSPACE_NAME = "sandbox"
STATE_FILE = "demo.json"
DATABASE_FILE = "trimtab.db"  # where `ServerConfig` puts SQLite in a state directory
GROUND_TRUTH_FILE = "simulated_runs.json"
PROFILE_TAG = "sandbox:profile"  # what the emulator reads to pick a job's simulated workload
# What the emulator's start writes on a run a stopped process left unfinished (`Workspace._recover_interrupted`).
STOPPED_MESSAGE = "The sandbox workspace stopped while this run was in progress."


def _cluster(node_type: str, workers: int = 0, *, autoscale: tuple[int, int] | None = None,
             availability: str = "SPOT_WITH_FALLBACK", ebs: tuple[str, int, int] | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {"availability": availability, "first_on_demand": 1, "zone_id": "auto"}
    if ebs:
        attrs.update({"ebs_volume_type": ebs[0], "ebs_volume_count": ebs[1], "ebs_volume_size": ebs[2]})
    spec: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": node_type,
                            "aws_attributes": attrs, "custom_tags": {"team": "data-eng"}}
    if autoscale:
        spec["autoscale"] = {"min_workers": autoscale[0], "max_workers": autoscale[1]}
    else:
        spec["num_workers"] = workers
    return spec


@dataclass(frozen=True)
class DemoJob:
    """One demo job: a single job cluster running a simulated workload profile."""

    name: str
    profile: str
    spec: dict[str, Any]
    sla_seconds: float | None = None
    learning_budget: int = 3
    # Families the emulator offers in every size the price catalog lists (it has no c5/c5d.9xlarge).
    allowed_families: tuple[str, ...] = ("m5d", "r5d", "m6id", "r6id", "c6id")
    # The job's Quartz schedule, as a real job has one. The emulator stores it but does not fire
    # it (the demo starts each round with run-now, minutes apart): it is what savings project a
    # year with, instead of the demo's accelerated gaps.
    cron: str = "0 0 2 * * ?"
    timezone_id: str = "UTC"

    def schedule(self) -> dict[str, Any]:
        return {"quartz_cron_expression": self.cron, "timezone_id": self.timezone_id, "pause_status": "UNPAUSED"}

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "tags": {PROFILE_TAG: self.profile}, "max_concurrent_runs": 1,
                "schedule": self.schedule(),
                "job_clusters": [{"job_cluster_key": "main", "new_cluster": self.spec}],
                "tasks": [{"task_key": "main", "job_cluster_key": "main", "spark_python_task": {
                    "python_file": f"dbfs:/jobs/{self.profile}.py"}}]}


# Over-provisioned as found, the way jobs often are: one with an SLA, one autoscaling, one disk-heavy.
# Schedules: nightly, every six hours, and nightly (Quartz: sec min hour day-of-month month day-of-week).
DEMO_JOBS: tuple[DemoJob, ...] = (
    # On demand, and kept there: spot losses would put the SLA at risk. Import leaves spot off for a
    # cluster run wholly on demand, as for any job.
    DemoJob("orders-etl-sla", "etl_join_aggregate", _cluster("m5d.2xlarge", 10, availability="ON_DEMAND"),
            sla_seconds=8 * 60, cron="0 0 2 * * ?"),
    DemoJob("sessions-autoscaling", "memory_bound", _cluster("r5d.2xlarge", autoscale=(4, 16)),
            cron="0 15 */6 * * ?"),
    DemoJob("nightly-sort-disk", "sort", _cluster("m5.2xlarge", 8, ebs=("GENERAL_PURPOSE_SSD", 2, 500)),
            allowed_families=("m5", "r5", "m6i", "r6i", "c6i"), cron="0 30 3 * * ?"),
)


@dataclass(frozen=True)
class DemoConfig:
    state_dir: Path
    runs: int = 10  # rounds this invocation (each job runs once per round)
    # Simulated seconds per wall-clock second: slow enough that the agent (a Python process
    # started by the init script) is up before the shortest simulated run ends.
    speed: float = 100.0
    jobs: tuple[DemoJob, ...] = DEMO_JOBS
    run_timeout_s: float = 120.0  # wall seconds one round may take before the demo gives up
    # The emulator's spot reclaims per spot node-hour (`sandbox.sim.spot_market`); None: its default.
    spot_loss_rate: float | None = None


@dataclass(frozen=True)
class JobSummary:
    name: str
    profile: str
    project: Project
    runs: int
    start_cost: float | None
    start_runtime_s: float | None
    final_cost: float | None
    final_runtime_s: float | None
    saving_fraction: float | None
    # Projected annual saving and the runs a year behind it (docs/savings.md); None until the
    # project has a baseline and a Trimtab run. cadence_basis: schedule | observed.
    projected_annual: float | None
    runs_per_year: float | None
    cadence_basis: str | None
    sla_seconds: float | None
    sla_met_fraction: float | None
    phases: dict[str, int]
    timeline_png: Path
    timeline_html: Path
    terminal_timeline: str
    # Runs behind saving_fraction: baseline (the cluster as found) and now; fewer than three a side
    # is preliminary (docs/savings.md). None without savings.
    baseline_runs: int | None = None
    current_runs: int | None = None
    preliminary: bool = False
    # Why there is no saving though both sides ran (the workload changed: docs/savings.md); "" otherwise.
    not_comparable_note: str = ""


@dataclass(frozen=True)
class DemoResult:
    jobs: tuple[JobSummary, ...]
    rounds_total: int
    runs_ingested_completely: int
    runs_simulated: int
    state_dir: Path


@dataclass
class _State:
    """What a second invocation needs to resume (kept as JSON in the state directory)."""

    grpc_port: int = 0
    workspace_port: int = 0
    job_ids: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    # The jobs whose projects got the demo's settings (`_Loop.connect`): set once, so a re-run keeps
    # what the user changed since. None: a state file from before it was kept, whose demo set the
    # settings of every project it had imported.
    configured: list[str] | None = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> _State:
        if not path.is_file():
            return cls()
        return cls(**{"configured": None, **json.loads(path.read_text())})

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True))
        os.replace(tmp, path)  # atomic: an interrupted demo never leaves half a state file


Progress = Callable[[str, int, Run | None], None]  # (job name, round, collected run or None)


def run_demo(config: DemoConfig, progress: Progress | None = None) -> DemoResult:
    """Run `config.runs` more rounds of the closed loop; see the module docstring."""
    with _StopSignals() as stop:
        return _run_demo(config, progress, stop)


def _run_demo(config: DemoConfig, progress: Progress | None, stop: _StopSignals) -> DemoResult:
    from server.config import ServerConfig
    from server.store import open_store

    state_dir = config.state_dir.resolve()
    check_demo_dir(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_path = state_dir / STATE_FILE
    state = _State.load(state_path)
    if not state_path.is_file():
        state.save(state_path)  # first: the database made next belongs to a demo (`check_demo_dir`)
    # The demo collects and plans round by round itself (so each round's table is
    # complete), so the server's own background collector stays off.
    server_config = ServerConfig(listen=f"127.0.0.1:{_grpc_port(state.grpc_port)}", state_dir=state_dir,
                                 collect=0, **agent_settings(os.environ))
    if server_config.agent_wheel:
        _say(f"the demo's clusters install the agent from {server_config.agent_wheel} (TRIMTAB_AGENT_WHEEL_LOCATION): "
             "import does not upload a wheel there")
    # The demo is this database's server: held like `trimtab server start` holds it, before it opens.
    lock = _claim_database(server_config.database_url)
    try:
        store = open_store(server_config.database_url)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    server = None
    emulator = None
    playing = 0  # the round whose runs may be in flight; 0 before, between and after rounds
    try:
        server = _start_server(server_config, store)
        emulator = _start_emulator(state_dir / "workspace", config.speed, state.workspace_port, config.spot_loss_rate)
        truth = _GroundTruth(state_dir / GROUND_TRUTH_FILE)
        emulator.add_run_observer(truth.observe)
        state.grpc_port, state.workspace_port = server.port, int(emulator.host.rsplit(":", 1)[1])
        state.save(state_path)
        # Before anything is collected: a demo stopped hard mid-round (killed, or on an older
        # version) left runs that this start just failed as interrupted; they are no run of their job's.
        removed, uncollected = _remove_stopped_runs(emulator, store, set(state.job_ids.values()))
        if removed:
            if not uncollected and state.rounds:
                state.rounds -= 1  # the round it was playing kept no run: it did not happen
                state.save(state_path)
            _say(f"removed {len(removed)} run(s) a stopped demo left unfinished (the emulator failed them as "
                 f"interrupted), as after Ctrl-C: left out of the demo's history; {state.rounds} rounds so far")
        loop = _Loop(store, server_config, server.address, emulator.host, emulator.token)
        projects = loop.connect(config.jobs, state, lambda: state.save(state_path))
        state.save(state_path)
        for _ in range(config.runs):
            playing = state.rounds + 1
            loop.round_runs = {}
            # Saved at its start: a round whose runs are kept counts, however the demo ends.
            state.rounds = playing
            state.save(state_path)
            loop.play_round(projects, playing, emulator, config.run_timeout_s, progress, stop)
            playing = 0
        stop.check()
        result = _summarize(store, projects, config.jobs, state, truth, state_dir)
        stop.check()  # a stop the summary's drawing dropped: stopped, as the person asked
        return result
    except KeyboardInterrupt:
        stop.seen()
        if playing and emulator is not None:
            _abandon_round(loop, emulator, state, state_path, playing, config.run_timeout_s)
        else:
            # Before, between or after the rounds (drawing the summary's charts takes seconds): said
            # as mid-round, where it was one bare "Aborted." that left people wondering what counted.
            _say(f"\ninterrupted: no run in flight; {state.rounds} rounds so far")
        raise
    finally:
        if emulator is not None:
            emulator.stop()
        if server is not None:
            server.stop(grace=1)
        store.close()
        if lock is not None:
            lock.release()


def agent_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The settings of ``env`` that say where the demo's clusters get the agent, as `trimtab server start`
    reads them: TRIMTAB_AGENT_WHEEL_LOCATION (the advice import gives where it has no wheel to upload)
    and TRIMTAB_INIT_SCRIPT, with which a wheel location must agree (`ServerConfig` checks the pair).
    The demo's other settings are its own (its ports, state directory and collection)."""
    names = {"agent_wheel": "TRIMTAB_AGENT_WHEEL_LOCATION", "init_script": "TRIMTAB_INIT_SCRIPT"}
    return {name: env[var] for name, var in names.items() if env.get(var, "") != ""}


def _say(line: str) -> None:
    """A line on stderr that never raises: after a hang-up (SIGHUP) the terminal is gone, and the
    cancel must go on without it."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)


class _StopSignals:
    """Ctrl-C, a closed terminal (SIGHUP) and `kill` (SIGTERM) stop the demo one way: a
    KeyboardInterrupt, on which the round's runs in flight are cancelled and removed (`_abandon_round`).

    From the first on, the next ones are ignored with a line: people press Ctrl-C again during the
    seconds the cancel takes, and a terminal closed on Ctrl-C sends a hang-up. Either cut the
    cancel short: the runs left were failed by the emulator's next start and counted in SLA met and
    the savings for good. A signal ignored when the demo started (`nohup`, `&` in a script) stays
    ignored. Handlers can only be set in the main thread: elsewhere nothing changes."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.stopping = False
        # The KeyboardInterrupt raised and not yet seen by the round (`seen`). Python runs a handler
        # between any two bytecodes, and one raising inside a finalizer (a `__del__`, a weakref
        # callback) is printed as "Exception ignored" and dropped: the demo then played on, every
        # later signal ignored as "still cancelling" (a closed terminal ended with a full summary).
        self.unseen = False

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in _STOP_SIGNALS:
                if signal.getsignal(sig) != signal.SIG_IGN:
                    self.previous[sig] = signal.signal(sig, self._stop)
        return self

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            _say(f"\n{name} ignored: still cancelling the runs in flight and stopping the demo "
                 "(a second Ctrl-C is ignored so that no run is left half-done)")
            return
        self.stopping = self.unseen = True
        raise KeyboardInterrupt

    def seen(self) -> None:
        """The round caught the interrupt: nothing is left to raise again."""
        self.unseen = False

    def check(self) -> None:
        """Raise again an interrupt a signal raised that never reached the round (see ``unseen``);
        called where the round waits or moves on."""
        if self.unseen:
            self.unseen = False
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _start_emulator(workspace_dir: Path, speed: float, port: int,
                    spot_loss_rate: float | None = None) -> RunningWorkspace:
    """The demo's emulator on its remembered port, else on any free one. Refused, in the demo's words,
    while another emulator (a `trimtab sandbox up` on this directory) serves its workspace."""
    from sandbox.workspace import start_workspace
    from sandbox.workspace.backend import SandboxSimBackend
    from sandbox.workspace.state_lock import WorkspaceInUse

    backend = SandboxSimBackend(spot_loss_rate=spot_loss_rate)
    try:
        try:
            return start_workspace(workspace_dir, speed=speed, port=port, backend=backend)
        except OSError as exc:
            if not port:
                raise
            # Another process took it (another demo would hold the lock): `connect` moves the
            # stored workspace to wherever the emulator answers now, as after `workspace set --host`.
            print(f"the demo's workspace port {port} is taken ({exc.strerror or exc}): "
                  "the emulator listens on another one", file=sys.stderr)
            return start_workspace(workspace_dir, speed=speed, port=0, backend=backend)
    except WorkspaceInUse:
        from sandbox.workspace.state import STATE_FILE as WORKSPACE_STATE

        holder = ""
        with contextlib.suppress(OSError):
            holder = (workspace_dir / f"{WORKSPACE_STATE}.lock").read_text().strip()
        pid = f"pid {holder}" if holder.isdigit() else "another process"
        raise FailedPrecondition(
            f"another workspace emulator ({pid}) serves this demo's workspace, {workspace_dir}: stop it first "
            "(a `trimtab sandbox up` on that directory); the demo runs its own emulator there") from None


def _remove_stopped_runs(emulator: RunningWorkspace, store: Store,
                         job_ids: set[int]) -> tuple[list[int], list[int]]:
    """Delete from the emulator the demo jobs' runs its start just failed as interrupted and that no
    collection took in (as `abandon_runs` deletes what it cancelled). Returns their run ids, and
    those of the demo jobs' runs left that no collection took in yet (those of the stopped round
    that ended by themselves)."""
    from sandbox.workspace.runs import TERMINAL

    if not job_ids:
        return [], []
    collected = {r.databricks_run_id for p in store.projects.list() for r in store.runs.history(int(p.id or 0))}
    ws_store = emulator.workspace.store
    removed, uncollected = [], []
    with ws_store.lock:
        runs = ws_store.data["runs"]
        for key, run in list(runs.items()):
            run_id, state = int(run["run_id"]), run.get("state") or {}
            if int(run.get("job_id") or 0) not in job_ids or run_id in collected:
                continue
            if state.get("state_message") == STOPPED_MESSAGE and state.get("life_cycle_state") in TERMINAL:
                del runs[key]
                removed.append(run_id)
            else:
                uncollected.append(run_id)
        if removed:
            ws_store.save()
    return sorted(removed), sorted(uncollected)


def check_demo_dir(state_dir: Path) -> None:
    """Refuse a directory holding a Trimtab database that no demo made (a server's state directory):
    the demo would add its `sandbox` workspace and auto-applied projects to that server's database."""
    if (state_dir / DATABASE_FILE).exists() and not (state_dir / STATE_FILE).is_file():
        raise FailedPrecondition(
            f"{state_dir} holds a Trimtab database ({DATABASE_FILE}) but no {STATE_FILE}: it is not a demo's "
            "directory (a server's state directory?), and the demo would add its sandbox workspace and "
            "auto-applied jobs to that database. Give the demo a directory of its own (--state-dir DIR; "
            "default <data dir>/demo)")


def _claim_database(url: str) -> ServerLock | None:
    """The server lock of the demo's SQLite file (`server.server_lock`), held for the demo's life: a
    dashboard server (`trimtab server start --state-dir` on it) and the demo would both plan and apply."""
    from server.server_lock import claim
    from server.store.urls import sqlite_file

    try:
        return claim(url)
    except FailedPrecondition:
        db_file = sqlite_file(url)
        holder = ""
        if db_file is not None:
            with contextlib.suppress(OSError):
                holder = db_file.with_name(db_file.name + ".server.lock").read_text().strip()
        pid = f"pid {holder}" if holder.isdigit() else "another process"
        raise FailedPrecondition(
            f"a Trimtab server ({pid}) serves this demo's database: stop it first (a dashboard started with "
            "`trimtab server start --state-dir` on it, or another `trimtab demo` on this directory); two "
            "servers on one SQLite file would both plan and apply") from None


def _port_free(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound as gRPC binds it (SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _grpc_port(remembered: int) -> int:
    """The remembered gRPC port, else any free one (0). Its jobs name the old address, and
    `connect`'s import re-wires them to the new one, as for any server that moved."""
    if remembered and not _port_free(remembered):
        print(f"the demo's gRPC port {remembered} is taken by another process: listening on another one, "
              "and the demo's jobs are re-wired to it", file=sys.stderr)
        return 0
    return remembered


def _start_server(server_config: ServerConfig, store: Store) -> RunningServer:
    """`start_server`, on any free port if the remembered one was taken since `_grpc_port` looked."""
    from server.serve import start_server

    try:
        return start_server(server_config, store)
    except FailedPrecondition:
        if server_config.listen.endswith(":0"):
            raise
        return start_server(dataclasses.replace(server_config, listen="127.0.0.1:0"), store)


def _abandon_round(loop: _Loop, emulator: RunningWorkspace, state: _State, state_path: Path, round_no: int,
                   timeout_s: float) -> None:
    """Ctrl-C mid-round: the runs still going are cancelled and deleted from the workspace.

    Stopped by the user, not by their configuration, they are no run of their job's: collected as
    failed (the emulator fails what a stop left running) or even as canceled, they counted in SLA
    met (a canceled run missed it) and in the savings' cost for good. Runs of the round that ended
    by themselves are kept (the next demo collects them), and the round counts if one was. The
    round is uncounted first: a demo killed while cancelling has its runs removed on its next
    start (`_remove_stopped_runs`), and the count stays true."""
    state.rounds = round_no - 1
    state.save(state_path)
    _say("\ninterrupted: cancelling the runs in flight (left out of the demo's history; "
         "a second Ctrl-C is ignored) ...")
    deleted = set(emulator.workspace.abandon_runs(timeout_s))
    if set(loop.round_runs.values()) - deleted:
        state.rounds = round_no  # some run of it ended by itself and is kept: it happened
        state.save(state_path)
    _say(f"interrupted: {len(deleted)} run(s) cancelled and removed; {state.rounds} rounds so far")


class _GroundTruth:
    """What the simulator wrote for each cluster (stage and executor counts), kept on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clusters: dict[str, dict[str, int]] = json.loads(path.read_text()) if path.is_file() else {}

    def observe(self, job: dict[str, Any] | None, run: dict[str, Any] | None, sim: Any,
                spec: dict[str, Any]) -> None:
        cluster_id = next((t.get("cluster_instance", {}).get("cluster_id") for t in (run or {}).get("tasks", [])
                           if t.get("cluster_instance")), None)
        summary = getattr(sim, "summary", None) or {}
        if cluster_id:
            self.clusters[cluster_id] = {"stages": len(summary.get("stages", [])),
                                         "executors": len(summary.get("executors_added", [])),
                                         "run_id": int((run or {}).get("run_id") or 0)}
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.clusters, indent=1, sort_keys=True))
            os.replace(tmp, self.path)


class _Loop:
    """The server side of the demo: connect, import, and after each round collect and plan."""

    def __init__(self, store: Store, server_config: ServerConfig, server_address: str, host: str,
                 token: str) -> None:
        from server.clock import SystemClock
        from server.collect import Collector
        from server.costing.catalog import load_active_catalog
        from server.onboard import AgentWiring, init_script_info
        from server.plan.planner import Planner
        from server.services import workspaces
        from server.services.secrets import SecretBox

        self.store = store
        self.secrets = SecretBox.from_config(server_config.secret_key, server_config.state_dir)
        self.wiring = AgentWiring(server_address=server_address, init_script=init_script_info(server_config.init_script),
                                  agent_wheel=server_config.agent_wheel)
        self.host, self.token = host, token
        self.workspaces = workspaces

        def gateway_for(ws: Workspace) -> DatabricksGateway:
            return workspaces.gateway_for(store, self.secrets, ws)

        # The catalog the server would plan with for this state directory (an imported one, else
        # the shipped one), kept so the demo's own settings go through the same check as `project set`.
        catalog = load_active_catalog(server_config.state_dir)
        self.catalog = catalog
        self.collected: list[Run] = []
        self.round_runs: dict[str, int] = {}  # this round's runs by job name
        clock = SystemClock()
        planner = Planner(store, catalog, gateway_for, clock=clock)

        def on_run(run: Run) -> None:
            self.collected.append(run)
            planner(run)  # plan, then auto-apply before the next round starts

        self.collector = Collector(store, gateway_for, clock=clock, on_run_collected=on_run,
                                   catalog=catalog)
        self.gateway_for = gateway_for

    def connect(self, jobs: Sequence[DemoJob], state: _State, save: Callable[[], None]) -> dict[str, Project]:
        """The workspace added, the demo jobs created and imported, auto-apply on (idempotent).
        `save` keeps `state` on disk: called as soon as a job is made, so that a demo stopped during
        its first start finds its jobs again instead of making three more."""
        from server.errors import NotFound
        from server.services.projects import update_settings

        try:
            ws = self.store.workspaces.get(WORKSPACE_NAME)
        except NotFound:
            ws = self.workspaces.add_workspace(self.store, self.secrets, WORKSPACE_NAME, self.host, self.token,
                                               "aws")
        if ws.host.rstrip("/") != self.host.rstrip("/"):
            # The demo owns this workspace: it is wherever the demo's emulator now answers (someone
            # re-pointed it, as docs/operations.md shows for `sandbox up`). Checked as `workspace set
            # --host` checks it: the same workspace must answer there, else nothing changes.
            from server.services.workspace_lifecycle import set_host

            old_host = ws.host
            ws, _ = set_host(self.store, self.secrets, WORKSPACE_NAME, self.host, self.token)
            print(f"the demo's workspace was at {old_host}: back at its emulator, {self.host}")
        gateway = self.gateway_for(ws)
        for job in jobs:
            if job.name not in state.job_ids:
                # Made by a demo stopped before it could save the id (or during create): taken back.
                found = _existing_job(gateway.list_jobs(), job)
                state.job_ids[job.name] = found if found is not None else gateway.create_job(job.settings())
                save()
            elif (gateway.get_job(state.job_ids[job.name]).get("settings") or {}).get("schedule") != job.schedule():
                # A state directory from before the demo jobs had schedules (or with a changed
                # one): set it, and the import below reads it like any schedule edit.
                gateway.update_job(state.job_ids[job.name], {"schedule": job.schedule()})
        # The demo names its own jobs, as a person does with `workspace import --job`: one detached
        # between two demos is taken back (import alone leaves detached projects alone).
        result = self.workspaces.import_jobs(self.store, self.secrets, WORKSPACE_NAME,
                                             [state.job_ids[j.name] for j in jobs], wiring=self.wiring,
                                             reattach=True)
        by_job = {p.project.job_id: p.project for p in result.projects}
        projects: dict[str, Project] = {}
        if state.configured is None:
            # An older demo's state: every project it had imported got its settings then.
            created = {p.project.job_id for p in result.projects if p.created}
            state.configured = [j.name for j in jobs if state.job_ids[j.name] not in created]
        for job in jobs:
            project = by_job[state.job_ids[job.name]]
            if job.name not in state.configured:
                # Once, when the demo first imports the job: a re-run resumes, and settings the user
                # changed since (`trimtab project set`) are theirs (they were reset on every re-run).
                update_settings(self.store, str(project.id), {"auto_apply": True, "sla_seconds": job.sla_seconds,
                                                              "learning_budget": job.learning_budget,
                                                              "allowed_families": job.allowed_families},
                                catalog=self.catalog)
                state.configured.append(job.name)
                save()
            projects[job.name] = self.store.projects.get(int(project.id or 0))
        return projects

    def play_round(self, projects: dict[str, Project], round_no: int, emulator: RunningWorkspace, timeout_s: float,
                   progress: Progress | None, stop: _StopSignals) -> None:
        gateway = self.gateway_for(self.store.workspaces.get(WORKSPACE_NAME))
        started = self.round_runs = {}  # filled as they start, for `_abandon_round`
        for name, p in projects.items():
            started[name] = gateway.run_now(p.job_id)
            stop.check()
        # In slices: a stop signal whose interrupt was dropped is acted on within one.
        deadline = time.monotonic() + timeout_s
        while not emulator.wait_idle(min(0.25, max(deadline - time.monotonic(), 0.0))):
            stop.check()
            if time.monotonic() >= deadline:
                raise FailedPrecondition(f"round {round_no}: runs did not finish within {timeout_s:.0f}s")
        stop.check()
        self.collected.clear()
        self.collector.poll_once()
        by_run = {r.databricks_run_id: r for r in self.collected}
        for name, run_id in started.items():
            if progress is not None:
                progress(name, round_no, by_run.get(run_id))


def _existing_job(listed: Sequence[dict[str, Any]], job: DemoJob) -> int | None:
    """The oldest job in the demo's emulator with `job`'s name and workload: the emulator is the
    demo's own, so such a job is one the demo made."""
    ids = [int(j["job_id"]) for j in listed if (j.get("settings") or {}).get("name") == job.name
           and ((j.get("settings") or {}).get("tags") or {}).get(PROFILE_TAG) == job.profile]
    return min(ids) if ids else None


def _summarize(store: Store, projects: dict[str, Project], jobs: Sequence[DemoJob], state: _State,
               truth: _GroundTruth, state_dir: Path) -> DemoResult:
    from server.render import write_timeline
    from server.render.terminal import render_terminal
    from server.services.projects import sla_met_fraction
    from server.services.savings import stored_changes, stored_project_savings
    from server.timeline import reverted_ids, timeline_of_runs

    out_dir = state_dir / "timelines"
    out_dir.mkdir(exist_ok=True)
    summaries = []
    complete = 0
    simulated = 0
    for job in jobs:
        project = store.projects.get(int(projects[job.name].id or 0))
        runs = store.runs.history(int(project.id or 0))
        for run in runs:
            expected = truth.clusters.get(run.cluster_id)
            if expected is None:
                continue
            simulated += 1
            stages = sum(len(store.applications.stages(a)) for a in run.application_ids)
            executors = sum(len(store.applications.executors(a)) for a in run.application_ids)
            complete += int(stages == expected["stages"] and executors == expected["executors"])
        chart = timeline_of_runs(runs, project.settings.sla_seconds, f"{job.name} ({project.name})",
                                 stored_changes(store, project),
                                 reverted_ids(store.recommendations.list(int(project.id or 0)), runs))
        png = write_timeline(chart, out_dir / f"{job.name}.png")
        html = write_timeline(chart, out_dir / f"{job.name}.html")
        costed = [r for r in runs if r.cost is not None and r.outcome == "succeeded"]
        first, last = (costed[0], costed[-1]) if costed else (None, None)
        # The one definition of docs/savings.md (a first-against-last-run figure said "65 %" from two runs).
        savings = stored_project_savings(store, project, runs)
        fraction = savings.saving_fraction if savings else None
        summaries.append(JobSummary(
            name=job.name, profile=job.profile, project=project, runs=len(runs),
            start_cost=first.cost.total if first and first.cost else None,
            start_runtime_s=first.runtime_s if first else None,
            final_cost=last.cost.total if last and last.cost else None,
            final_runtime_s=last.runtime_s if last else None, saving_fraction=fraction,
            projected_annual=savings.projected_annual if savings else None,
            runs_per_year=savings.runs_per_year if savings else None,
            cadence_basis=savings.cadence_basis if savings else None,
            sla_seconds=project.settings.sla_seconds,
            sla_met_fraction=sla_met_fraction(runs, project.settings.sla_seconds),
            # As the timeline draws them: the run of the cluster as found is the baseline, no learning trial.
            phases=dict(Counter(p.phase for p in chart.points)), timeline_png=png, timeline_html=html,
            terminal_timeline=render_terminal(chart, legend=False),
            baseline_runs=savings.baseline_runs if savings else None,
            current_runs=savings.current_runs if savings else None,
            not_comparable_note=savings.not_comparable_note if savings else "",
            preliminary=savings.preliminary if savings else False))
    return DemoResult(jobs=tuple(summaries), rounds_total=state.rounds, runs_ingested_completely=complete,
                      runs_simulated=simulated, state_dir=state_dir)
