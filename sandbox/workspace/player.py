"""Plays one run's tasks and simulated clusters in accelerated time (one thread per run).

The simulator computes a whole cluster timeline up front (SimulatedRun); the player walks
it in simulated time, which the workspace's SimClock maps onto the injected clock, and
makes each moment visible: cluster events and states, init scripts executed at
INIT_SCRIPTS_STARTED, event-log lines appended to the driver's disk, the agent stopped at
TERMINATING, logs delivered to DBFS, and finally the run's result and timings.

A job cluster is checked against its cluster policy as it is requested (`policies.refusal`): one the
policy now refuses never starts, and its tasks fail with the service's "Cluster validation error".

Tasks follow `depends_on`: a cluster is requested (and simulated from that moment) when its
first task may run (its dependencies ended, its `run_if` holding); tasks whose condition fails
are skipped (UPSTREAM_FAILED, EXCLUDED, ...) and a cluster left with no task never starts. The
tasks sharing a job cluster run in the order of their dependencies (`runs.waves`): the
cluster's Spark time, RUNNING to TERMINATING, is split evenly between the waves, and a
simulated failure fails the last one. A wave whose tasks still wait for tasks on other clusters
makes the cluster wait, up and billed, its timeline held and then moved later (`pause.py`).
Tasks with no dependency between them run at once. Moments are kept in a heap because a task's
end can start a new cluster whose timeline joins the ones already playing.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from sandbox.workspace import allowlists, node, outcome, pause, policies, pools, runs
from sandbox.workspace.backend import CloudLaunchFailure, EventLogWriter
from sandbox.workspace.clusters import event_dict, set_nodes
from sandbox.workspace.dbfs import local_path
from sandbox.workspace.errors import ApiError
from sandbox.workspace.runs import ClusterPlan, RunPlan
from sandbox.workspace.secrets_api import SecretNotFound, resolve, run_owner

if TYPE_CHECKING:
    from sandbox.workspace.workspace import Workspace

log = logging.getLogger(__name__)

EXISTING_CLUSTER_TASK_MS = 5 * 60 * 1000   # tasks on all-purpose clusters are not simulated
EVENT, LOG, WAVE, END = 0, 1, 2, 3         # order of actions sharing one timestamp
EXISTING = -1                              # cluster index of the existing-cluster tasks


class Action(NamedTuple):
    """One moment of the run: sorted by (t_ms, kind, seq) so ties keep the simulator's order."""

    t_ms: int
    kind: int
    seq: int
    cluster: int
    payload: Any


@dataclass
class LiveCluster:
    plan: ClusterPlan
    sim: Any = None
    writer: EventLogWriter | None = None
    spark_env: dict[str, str] = field(default_factory=dict)
    init_done: bool = False
    agent_stopped: bool = False
    terminating_ms: int | None = None
    failure: str | None = None
    # The failed tasks' termination_details {code, type} (Jobs API 2.2): the cluster's fault as the
    # Jobs service words it, or the cloud's (CLOUD_FAILURE) for a launch the cloud refused.
    failure_code: str = "CLUSTER_ERROR"
    failure_type: str = "CLIENT_ERROR"
    done: bool = False
    pending_lines: list[tuple[int, str]] = field(default_factory=list)
    started: bool = False     # its dependencies were settled: requested, or skipped with no task
    start_ms: int = 0         # when the cluster was requested
    # The tasks it runs, in dependency order, and when each wave but the last ends (sim ms).
    waves: list[list[str]] = field(default_factory=list)
    wave_ends: list[int] = field(default_factory=list)
    # When each wave started (sim ms): the cluster's request for wave 0, the wave before's end
    # for the others, or the end of a wait (below).
    wave_starts: list[int] = field(default_factory=list)
    # Tasks that were waiting for a task on another cluster when this one started: each is
    # judged (`run_if`) when its wave is due, and the cluster waits there until those tasks end.
    deferred: set[str] = field(default_factory=set)
    # While it waits: the wave it waits to start, since when, and its timeline's actions held.
    paused_wave: int | None = None
    paused_at: int = 0
    held: list[Action] = field(default_factory=list)


class RunPlayer:
    def __init__(self, ws: Workspace, plan: RunPlan, settled: dict[str, str] | None = None) -> None:
        """`settled`: results of tasks that are not played (a repair's tasks it does not re-run)."""
        self.ws = ws
        self.plan = plan
        self.cancel = threading.Event()
        self.live = [LiveCluster(p) for p in plan.clusters]
        self.thread = threading.Thread(target=self._main, name=f"sandbox-run-{plan.run_id}",
                                       daemon=True)
        self._heap: list[Action] = []
        self._seq = 0
        self._results: dict[str, str] = dict(settled or {})  # task_key -> result_state once it has one
        self._existing_started: set[str] = set()
        self._released_at = -1                 # len(_results) when _release last looked
        self._resumed = False                  # picked up after a restart (`resume`)
        self.timed_out_at: int | None = None   # sim ms when a timeout stopped the run (`_deadline`)
        # Sim ms when jobs/runs/cancel asked (`request_cancel`): the player may notice it late (a real
        # init script it waits on, while simulated time runs on), and the run stops when it was asked.
        self.cancel_requested_ms: int | None = None

    def request_cancel(self) -> None:
        """jobs/runs/cancel: the run's clusters terminate now, in simulated time, however late the
        player thread notices it."""
        if self.cancel_requested_ms is None:
            self.cancel_requested_ms = self.ws.simclock.now_ms()
        self.cancel.set()

    def start(self) -> None:
        self.thread.start()

    # -- main loop ---------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._play()
        except Exception as exc:  # a bug must not leave the run hanging in RUNNING
            log.exception("run %s failed in the player", self.plan.run_id)
            self._stop_all()
            outcome.finish_run(self.ws, self.plan, self.live, error=f"Internal error: {exc}")
        finally:
            self.ws._player_done(self)

    def resume(self, results: dict[str, str], t: int) -> bool:
        """Pick the run up after a restart (`recover.py`): `results` are its tasks that have
        ended (the interrupted ones failed); clusters already started are marked done by the
        caller. The tasks still waiting start or are skipped as their dependencies allow, at
        `t`. True when something is left to play (then `start()`); else the run has ended."""
        self._resumed = True
        self._results.update(results)
        self._existing_started.update(k for k in self.plan.existing_tasks if k in results)
        self._release(t)
        if self._heap:
            return True
        self._finish()
        return False

    def _play(self) -> None:
        # A run gets its player only once it leaves the job's queue (Workspace._admit_queued).
        if not self._resumed:
            self._release(self.plan.start_ms)
        while self._heap:
            if self.cancel.is_set():
                break
            # Every moment before the timeout plays first: the cluster was created, the task started.
            deadline = self._deadline()
            if deadline is not None and self._heap[0].t_ms > deadline and self.ws.simclock.now_ms() >= deadline:
                self.timed_out_at = deadline
                break
            due = self._heap[0].t_ms if deadline is None else min(self._heap[0].t_ms, deadline)
            wait = self.ws.simclock.wall_seconds_until(due)
            if wait > 0:
                # Wake at least every second so stop() and cancel are noticed promptly.
                self.ws.clock.wait(self.cancel, min(wait, 1.0))
                continue
            now = self.ws.simclock.now_ms()
            if deadline is not None:
                now = min(now, deadline)
            while self._heap and self._heap[0].t_ms <= now and not self.cancel.is_set():
                action = heapq.heappop(self._heap)
                self._apply(action)
                if len(self._results) != self._released_at:
                    # A task that ended may let others start, at that very moment.
                    self._release(action.t_ms)
            for live in self.live:
                self._flush(live)
        self._finish()

    def _finish(self) -> None:
        """Nothing left to play: the run ends (stopped, cancelled, or as its tasks ended)."""
        if self.ws.stopping.is_set():
            self._stop_all()  # the restart marks the run interrupted
            return
        if self.cancel.is_set():
            self._cancel_all()
            outcome.finish_run(self.ws, self.plan, self.live, cancelled=True)
            return
        if self.timed_out_at is not None:
            # The service stops the run's clusters at the timeout, as at a cancel.
            self._cancel_all(self.timed_out_at)
            outcome.finish_run(self.ws, self.plan, self.live, timed_out_at=self.timed_out_at)
            return
        if not all(lv.started and lv.paused_wave is None for lv in self.live) or \
                not self._existing_started.issuperset(self.plan.existing_tasks):
            # A guard, not a path: every acyclic order plays (runs.waves puts a task after the
            # cluster's tasks it waits for through other clusters). Were it reached, nothing is
            # left to play yet some tasks still wait: end the run rather than hang.
            outcome.finish_run(self.ws, self.plan, self.live, error=(
                "The sandbox workspace cannot sequence this job's tasks: some wait for each "
                "other through a shared job cluster."))
            return
        outcome.finish_run(self.ws, self.plan, self.live)

    def _push(self, t_ms: int, kind: int, cluster: int, payload: Any) -> None:
        self._seq += 1  # payloads never compare: (t_ms, kind, seq) is unique
        heapq.heappush(self._heap, Action(int(t_ms), kind, self._seq, cluster, payload))

    # -- dependencies --------------------------------------------------------------------
    def _release(self, t: int) -> None:
        """Start every cluster and existing-cluster task whose dependencies have all ended by
        `t`; repeat, since a skip settles its dependants at once."""
        changed = True
        while changed:
            changed = False
            for index, live in enumerate(self.live):
                if live.started:
                    if live.paused_wave is not None and self._wave_ready(live, live.paused_wave):
                        self._resume(index, live, t)
                        changed = True
                    continue
                changed = self._settle_ready(live, t) or changed
                if live.started:
                    changed = True
                    if not live.done:
                        self._start_cluster(index, live, t)
            for key in self.plan.existing_tasks:
                ups = self.plan.upstream.get(key, [])
                if key in self._existing_started or not set(ups) <= self._results.keys():
                    continue
                self._existing_started.add(key)
                changed = True
                skip = runs.run_if_outcome(self.plan.run_if.get(key),
                                           [self._results[u] for u in ups])
                if skip is not None:
                    self._skip({key: skip}, t)
                    continue
                outcome.start_existing_task(self.ws, self.plan, key, t)
                self._push(t + EXISTING_CLUSTER_TASK_MS, END, EXISTING, key)
        self._released_at = len(self._results)

    def _skip(self, skipped: dict[str, str], t: int) -> None:
        self._results.update(skipped)
        outcome.skip_tasks(self.ws, self.plan, skipped, self._results, t)

    def _settle_ready(self, live: LiveCluster, t: int) -> bool:
        """Skip the cluster's tasks whose dependencies have all ended and whose `run_if` fails
        (no cluster is needed for that); mark it started once one of its tasks can run, or once
        none is left (a cluster left with no task is never created). True when a task was
        skipped."""
        skipped_any = False
        while True:
            waiting = [k for k in live.plan.task_keys if k not in self._results]
            if not waiting:
                live.started = live.done = True
                return skipped_any
            ready = [k for k in waiting
                     if set(self.plan.upstream.get(k, [])) <= self._results.keys()]
            skips = {k: skip for k in ready if (skip := self._judge(k)) is not None}
            if not skips:
                # On Databricks the cluster starts when its first task may run.
                live.started = bool(ready)
                return skipped_any
            self._skip(skips, t)
            skipped_any = True

    def _judge(self, key: str, assumed: dict[str, str] | None = None) -> str | None:
        """`run_if_outcome` of the task on its dependencies' results; `assumed` gives those of
        tasks on the same cluster that have not run yet (they succeed unless skipped)."""
        results = [self._results.get(u) or (assumed or {}).get(u) or "SUCCESS"
                   for u in self.plan.upstream.get(key, [])]
        return runs.run_if_outcome(self.plan.run_if.get(key), results)

    def _start_cluster(self, index: int, live: LiveCluster, t: int) -> None:
        """Decide which of the cluster's tasks run (`run_if`), then request it at `t`. A task
        that still waits for a task on another cluster (directly, or through one of this
        cluster's tasks that waits) is deferred to a later wave and judged when it is due."""
        keys = [k for k in live.plan.task_keys if k not in self._results]
        mine = set(keys)
        skipped: dict[str, str] = {}
        running: list[str] = []
        for key in [k for wave in runs.waves(keys, self.plan.upstream) for k in wave]:
            ups = self.plan.upstream.get(key, [])
            if any(u not in self._results and (u not in mine or u in live.deferred) for u in ups):
                live.deferred.add(key)
                continue
            # A dependency on the same cluster runs before this task does: it counts as
            # succeeded unless it is skipped itself (a failure fails the cluster's last wave).
            skip = self._judge(key, skipped)
            if skip is None:
                running.append(key)
            else:
                skipped[key] = skip
        if skipped:
            self._skip(skipped, t)
        if not running:
            live.done = True  # no task left for it: the cluster is never created
            return
        live.waves = runs.waves(running + sorted(live.deferred), self.plan.upstream,
                                later=live.deferred)
        live.start_ms = t
        outcome.cluster_requested(self.ws, self.plan, live, t)
        p = live.plan
        with self.ws.store.lock:
            # Databricks validates a job cluster against its policy again when it creates the
            # cluster: a policy tightened since the job was saved fails the run at start.
            refused = policies.refusal(self.ws.store.data, p.sent_spec)
            # A pool's instances come with its disks: simulated (and billed) with them.
            simulated_spec = pools.with_pool_disks(self.ws.store.data, p.spec)
        if refused is not None:
            self._fail(live, refused, t)
            return
        try:
            live.sim = self.ws.backend.simulate_run(
                simulated_spec, p.profile, seed=p.seed, day=self.plan.day, cluster_id=p.cluster_id,
                spark_context_id=p.spark_context_id, start_time_ms=t,
                job_id=self.plan.job_id, run_id=self.plan.run_id, app_name="Databricks Shell")
        except CloudLaunchFailure as exc:  # injected: the cloud did not give the instances
            self._launch_failed(live, exc, t)
            return
        except Exception as exc:  # bad profile or spec: the cluster never starts
            self._fail(live, f"Simulation failed: {exc}", t)
            return
        for ev in live.sim.cluster_events:
            self._push(int(ev.timestamp_ms), EVENT, index, ev)
        for line_t, line in live.sim.eventlog:
            self._push(int(line_t), LOG, index, line)
        running_ms, term = int(live.sim.running_ms), self._terminating_at(live)
        n = len(live.waves)
        even = [running_ms + (term - running_ms) * j // n for j in range(1, n)]
        # A boundary before a wave with a deferred task may become a wait: put it between two
        # of the application's Spark jobs when there is such a place.
        may_wait = {j - 1 for j, wave in enumerate(live.waves) if live.deferred & set(wave)}
        cuts = [c for c in pause.quiet_points(live.sim.eventlog) if c > running_ms] \
            if may_wait else []
        live.wave_ends = pause.boundaries(even, may_wait, cuts, term)
        live.wave_starts = [t, *live.wave_ends]
        for j, wave_end in enumerate(live.wave_ends):
            self._push(wave_end, WAVE, index, j)
        self._push(int(live.sim.end_time_ms), END, index, None)

    @staticmethod
    def _terminating_at(live: LiveCluster) -> int:
        ends = [int(ev.timestamp_ms) for ev in live.sim.cluster_events if ev.type == "TERMINATING"]
        return ends[-1] if ends else int(live.sim.end_time_ms)

    def _apply(self, action: Action) -> None:
        t, kind, _, index, payload = action
        if index == EXISTING:
            outcome.finish_existing_task(self.ws, self.plan, payload, t)
            self._results.update({payload: "SUCCESS"})
            self._maybe_terminating()
            return
        live = self.live[index]
        if live.done:
            return
        if kind == LOG:
            live.pending_lines.append((t, payload))
            return
        self._flush(live)
        if kind == EVENT:
            self._on_event(live, payload)
        elif kind == WAVE:
            self._results.update(outcome.wave_done(self.ws, self.plan, live, payload, t))
            self._next_wave(index, live, payload + 1, t)
        else:
            self._on_end(live, t)

    def _maybe_terminating(self) -> None:
        """The run is TERMINATING once nothing is left to start and every cluster is going."""
        if (all(lv.started and (lv.done or lv.terminating_ms is not None) for lv in self.live)
                and all(k in self._results for k in self.plan.existing_tasks)):
            outcome.run_terminating(self.ws, self.plan)

    # -- waits between waves -------------------------------------------------------------
    def _wave_ready(self, live: LiveCluster, wave: int) -> bool:
        """Every task the wave's deferred tasks depend on has ended."""
        return all(u in self._results for k in live.waves[wave] if k in live.deferred
                   for u in self.plan.upstream.get(k, []))

    def _next_wave(self, index: int, live: LiveCluster, wave: int, t: int) -> None:
        """The wave before `wave` ended at `t`: start `wave` on the running cluster, or wait
        (the cluster stays up, its timeline held) until its deferred tasks' dependencies end."""
        if self._wave_ready(live, wave):
            self._begin_wave(index, live, wave, t)
            return
        live.paused_wave, live.paused_at = wave, t
        live.held = [a for a in self._heap if a.cluster == index]
        self._heap = [a for a in self._heap if a.cluster != index]
        heapq.heapify(self._heap)

    def _resume(self, index: int, live: LiveCluster, t: int) -> None:
        """The wait ends at `t`: the rest of the cluster's timeline moves later by the wait."""
        wave, delta = live.paused_wave, t - live.paused_at
        assert wave is not None
        live.paused_wave = None
        if delta > 0:
            pause.shift_run(live.sim, live.paused_at, delta)
            live.wave_ends = [e + delta if e > live.paused_at else e for e in live.wave_ends]
        for action in live.held:
            payload = action.payload
            if action.kind == EVENT:
                payload.timestamp_ms = int(payload.timestamp_ms) + delta
            elif action.kind == LOG:
                payload = pause.shift_line(payload, live.paused_at, delta)
            self._push(action.t_ms + delta, action.kind, index, payload)
        live.held = []
        self._begin_wave(index, live, wave, t)

    def _begin_wave(self, index: int, live: LiveCluster, wave: int, t: int) -> None:
        """Judge the wave's deferred tasks now that their dependencies have ended; the others
        start on the cluster at `t`. With no task left for it in any wave to come, the cluster
        terminates now instead."""
        deferred = [k for k in live.waves[wave] if k in live.deferred]
        skips = {k: skip for k in deferred if (skip := self._judge(k)) is not None}
        if skips:
            live.waves[wave] = [k for k in live.waves[wave] if k not in skips]
            self._skip(skips, t)
        live.wave_starts[wave] = t
        if not any(live.waves[wave:]):
            self._end_early(index, live, t)
            return
        outcome.wave_started(self.ws, self.plan, live, wave, t)

    def _end_early(self, index: int, live: LiveCluster, t: int) -> None:
        """No task is left for the cluster: Spark stops and the cluster terminates at `t`."""
        self._heap = [a for a in self._heap if a.cluster != index]
        heapq.heapify(self._heap)
        app_end = json.dumps({"Event": "SparkListenerApplicationEnd", "Timestamp": t,
                              "ExitCode": 0}, separators=(",", ":"))
        live.pending_lines.append((t, app_end))
        self._flush(live)
        pause.cut_short(live.sim, t)
        live.sim.eventlog.append((t, app_end))
        outcome.record_event(self.ws, live, t, "TERMINATING",
                             {"reason": {"code": "JOB_FINISHED", "type": "SUCCESS"}})
        live.terminating_ms = t
        self._shutdown(live)
        outcome.cluster_state(self.ws, live, "TERMINATING", "Terminating the cluster")
        self._deliver(live, t)
        live.done = True
        outcome.cluster_terminated(self.ws, live, t, code="JOB_FINISHED", type_="SUCCESS")
        self._maybe_terminating()

    # -- cluster moments ---------------------------------------------------------------
    def _on_event(self, live: LiveCluster, ev: Any) -> None:
        cid = live.plan.cluster_id
        with self.ws.store.lock:
            self.ws.store.data["events"][cid].append(event_dict(cid, ev))
            record = self.ws.store.data["clusters"][cid]
            set_nodes(record, live.sim.nodes, int(ev.timestamp_ms))
            self.ws.store.save()
        if ev.type == "CREATING":
            outcome.cluster_assigned(self.ws, self.plan, live, live.waves[0])
        if ev.type == "INIT_SCRIPTS_STARTED" or (ev.type == "RUNNING" and not live.init_done):
            self._init_scripts(live, int(ev.timestamp_ms))
            if live.done:
                return
        if ev.type == "RUNNING":
            outcome.cluster_running(self.ws, self.plan, live, int(ev.timestamp_ms))
        elif ev.type == "TERMINATING":
            live.terminating_ms = int(ev.timestamp_ms)
            self._shutdown(live)
            outcome.cluster_state(self.ws, live, "TERMINATING", "Terminating the cluster")
            self._maybe_terminating()

    def _init_scripts(self, live: LiveCluster, t: int) -> None:
        live.init_done = True
        cid, sim = live.plan.cluster_id, live.sim
        try:
            with self.ws.store.lock:
                name = self.ws.store.data["clusters"][cid]["cluster_name"]
                env = live.plan.spec.get("spark_env_vars") or {}
                owner = run_owner(self.ws.store.data, self.plan.run_id)
                live.spark_env = {k: resolve(self.ws.store.data, str(v), owner) for k, v in env.items()}
                # Standard access mode: the allowlist as it is when the cluster starts decides.
                refused = allowlists.refused_init_script(self.ws.store.data, live.plan.spec)
        except SecretNotFound as exc:
            self._fail(live, f"Failed to resolve spark_env_vars: {exc.args[0]}", t, code=exc.code)
            return
        if refused is not None:
            self._fail(live, f"Init script failure: {refused}", t, code="INIT_SCRIPT_FAILURE")
            return
        if not allowlists.script_env_allowed(live.plan.spec):
            # Standard access on runtime 19+: init scripts (and what they start) see only
            # Databricks' own variables, so the agent gets no TRIMTAB_SERVER.
            live.spark_env = {}
        scripts = live.plan.spec.get("init_scripts") or []
        driver = next((n for n in sim.nodes if n.is_driver), None)
        worker = next((n for n in sim.nodes if not n.is_driver), None)
        try:
            for n, root in ((driver, self.ws.driver_root(cid)), (worker, self.ws.worker_root(cid))):
                if n is None:
                    continue
                ident = node.NodeIdentity(cid, name, sim.driver_ip, n.private_ip, n.node_type_id,
                                          n.is_driver)
                node.run_init_scripts(
                    scripts, state_dir=self.ws.state_dir, node=ident, fs_root=root,
                    spark_env=live.spark_env, stamp_ms=t,
                    log_dir=self.ws.init_log_dir(cid) / f"{cid}_{n.private_ip.replace('.', '_')}")
        except (node.InitScriptFailure, OSError) as exc:
            self._fail(live, f"Init script failure: {exc}", t, code="INIT_SCRIPT_FAILURE")

    def _flush(self, live: LiveCluster) -> None:
        if not live.pending_lines or live.done:
            live.pending_lines.clear()
            return
        if live.writer is None:
            eventlogs = self.ws.driver_root(live.plan.cluster_id) / "databricks" / "driver" / "eventlogs"
            live.writer = self.ws.backend.eventlog_writer(eventlogs, live.plan.spark_context_id)
        t = live.pending_lines[-1][0]
        live.writer.append(t, [line for _, line in live.pending_lines])
        live.pending_lines.clear()

    def _shutdown(self, live: LiveCluster) -> None:
        """What TERMINATING means on the driver: Spark stops writing, the agent gets SIGTERM."""
        if live.writer is not None:
            live.writer.close()
            live.writer = None
        if live.agent_stopped:
            return
        live.agent_stopped = True
        pid_file = node.agent_pid_file(self.ws.driver_root(live.plan.cluster_id), live.spark_env)
        log.info("cluster %s: agent %s", live.plan.cluster_id,
                 node.stop_agent(pid_file, self.ws.clock))

    def _on_end(self, live: LiveCluster, t: int) -> None:
        self._shutdown(live)
        self._deliver(live, t)
        live.done = True
        # The simulated TERMINATING's reason: JOB_FINISHED, or the cloud's when it took a spot driver.
        reason = next((dict(ev.details.get("reason") or {}) for ev in live.sim.cluster_events
                       if ev.type == "TERMINATING"), {})
        outcome.cluster_terminated(self.ws, live, t, code=str(reason.get("code") or "JOB_FINISHED"),
                                   type_=str(reason.get("type") or "SUCCESS"),
                                   message=str((reason.get("parameters") or {}).get("databricks_error_message") or ""))
        self._results.update(outcome.last_wave_done(self.ws, self.plan, live, t))

    def _deliver(self, live: LiveCluster, t: int) -> None:
        """Databricks delivers all logs at termination; DBFS and volumes destinations only."""
        conf = live.plan.spec.get("cluster_log_conf") or {}
        if not conf or live.sim is None:
            return
        if "dbfs" in conf:
            root, dest = self.ws.dbfs_root, str(conf["dbfs"].get("destination") or "")
        elif "volumes" in conf:
            root, dest = self.ws.state_dir / "volumes", str(conf["volumes"].get("destination") or "")
        else:
            outcome.log_status(self.ws, live, t, f"log delivery to {sorted(conf)} is not emulated")
            return
        try:
            node.deliver_logs(local_path(root, dest), cluster_id=live.plan.cluster_id,
                              driver_ip=live.sim.driver_ip,
                              spark_context_id=live.plan.spark_context_id,
                              driver_root=self.ws.driver_root(live.plan.cluster_id),
                              init_logs=self.ws.init_log_dir(live.plan.cluster_id), stamp_ms=t)
        except (OSError, ApiError) as exc:
            outcome.log_status(self.ws, live, t, str(exc))
            return
        outcome.log_status(self.ws, live, t)

    def _launch_failed(self, live: LiveCluster, exc: CloudLaunchFailure, t: int) -> None:
        """The cluster was created (CREATING; its tasks name it) and the cloud did not give its
        instances: it terminates at once with the cloud's code, and its tasks fail with the Jobs
        service's CLOUD_FAILURE code and type. The message quotes the cluster's code and type; its
        wording is the emulator's reading."""
        cid = live.plan.cluster_id
        outcome.record_event(self.ws, live, t, "CREATING",
                             {"user": "jobs-service", "attributes": dict(live.plan.spec)})
        outcome.cluster_assigned(self.ws, self.plan, live, live.waves[0])
        message = (f"Cluster {cid} was terminated during launch: {exc.code}({exc.type_}): "
                   f"{exc.message}")
        live.failure_code = live.failure_type = "CLOUD_FAILURE"
        self._fail(live, message, t, code=exc.code, type_=exc.type_)

    def _fail(self, live: LiveCluster, message: str, t: int, code: str = "INVALID_ARGUMENT",
              type_: str = "CLIENT_ERROR") -> None:
        live.failure = message
        live.done = True
        outcome.record_event(self.ws, live, t, "TERMINATING", {"reason": {
            "code": code, "type": type_,
            "parameters": {"databricks_error_message": message}}})
        live.terminating_ms = t
        self._shutdown(live)
        self._deliver(live, t)
        outcome.cluster_terminated(self.ws, live, t, code=code, type_=type_, message=message)
        self._results.update(outcome.cluster_failed(self.ws, self.plan, live, t))

    def _deadline(self) -> int | None:
        """When the job's timeout, or the earliest timeout of a task going, stops the run (sim ms); None
        without one. A task's timeout ends the whole run here: the service would stop that task alone and
        skip the tasks after it (UPSTREAM_FAILED), which for a single-task job is the same."""
        if not self.plan.timeout_ms and not self.plan.task_timeout_ms:
            return None
        ends = outcome.timeout_deadlines(self.ws, self.plan)
        return min(ends) if ends else None

    def _cancel_all(self, at: int | None = None) -> None:
        if at is None:
            at = self.cancel_requested_ms if self.cancel_requested_ms is not None else self.ws.simclock.now_ms()
        for live in self.live:
            if live.done or not live.started:
                continue
            # Never before what the cluster already showed (an event played after the request, in the
            # moment before the player saw it).
            with self.ws.store.lock:
                shown = [int(e.get("timestamp") or 0) for e in self.ws.store.data["events"].get(live.plan.cluster_id) or []]
            now = max([at, *shown])
            outcome.record_event(self.ws, live, now, "TERMINATING",
                                 {"reason": {"code": "USER_REQUEST", "type": "SUCCESS"}})
            live.terminating_ms = now
            if live.sim is not None:
                # Its instances are released now: the cloud bills them to here, not to the end the
                # simulation had planned (the run observers bill `live.sim.nodes`).
                pause.cut_short(live.sim, now)
            self._shutdown(live)
            self._deliver(live, now)
            live.done = True
            outcome.cluster_terminated(self.ws, live, now, code="USER_REQUEST", type_="SUCCESS")

    def _stop_all(self) -> None:
        for live in self.live:
            if live.started and not live.done:
                try:
                    self._shutdown(live)
                except Exception:  # stopping must go on for the other clusters
                    log.exception("could not stop cluster %s", live.plan.cluster_id)
