"""The emulated workspace: state, simulated time, run players, tokens, and admin methods.

The HTTP layer (server.py) translates requests into calls on this object; tests and the
demo call its admin methods (tokens, observers, wait_idle) directly in Python.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.workspace import node, outcome, runs
from sandbox.workspace.backend import SandboxSimBackend, SimBackend
from sandbox.workspace.clock import Clock, RealClock, SimClock
from sandbox.workspace.dbfs import Streams
from sandbox.workspace.errors import ApiError, invalid, token_refused
from sandbox.workspace.job_scheduler import JobScheduler
from sandbox.workspace.oauth import OAuthIssuer
from sandbox.workspace.player import LiveCluster, RunPlayer
from sandbox.workspace.ratelimit import RateLimiter
from sandbox.workspace.state import StateStore, new_token

log = logging.getLogger(__name__)

# fn(job record or None if deleted, run dict seen from the cluster (only its tasks; its
# cluster_instance), SimulatedRun, cluster spec), called when a simulated cluster terminates.
RunObserver = Callable[[dict[str, Any] | None, dict[str, Any] | None, Any, dict[str, Any]], None]


class Workspace:
    def __init__(self, state_dir: Path, *, speed: float = 600.0, rate_limit: int | None = None,
                 clock: Clock | None = None, backend: SimBackend | None = None) -> None:
        # Absolute: simulated clusters run init scripts from their own working directories.
        self.state_dir = Path(state_dir).expanduser().absolute()
        self.clock: Clock = clock or RealClock()
        self.backend: SimBackend = backend or SandboxSimBackend()
        self.store = StateStore(self.state_dir)
        # Simulated time resumes where the last process left it, never going backwards.
        anchor = max(int(self.store.data["sim_now_ms"]), int(self.clock.time() * 1000))
        self.simclock = SimClock(self.clock, speed, anchor)
        self.store.on_save = self._stamp
        self.rate_limiter = RateLimiter(rate_limit, self.clock) if rate_limit else None
        self.observers: list[RunObserver] = []
        self.dbfs_streams = Streams(self.dbfs_root)
        self.stopping = threading.Event()
        self._players: dict[int, RunPlayer] = {}
        # Runs waiting in their job's queue, by run id. A queued run is only data until it
        # leaves the queue: no thread, no cluster (a schedule faster than its runs must not
        # grow a thread per queued run). Guarded by the store lock.
        self._queued: dict[int, runs.RunPlan] = {}
        # How many runs a job's queue holds (the service's limit, runs.MAX_QUEUED_RUNS_PER_JOB);
        # Python-only, so tests can reach a full queue in a few runs.
        self.max_queued_runs_per_job = runs.MAX_QUEUED_RUNS_PER_JOB
        # Set by start_workspace(schedules=True): fires jobs' schedules and periodic triggers.
        self.scheduler: JobScheduler | None = None
        self._idle = threading.Condition()
        self._run_now_lock = threading.Lock()  # run-now idempotency tokens (`run_now`)
        # Service principals (OAuth M2M) and the access tokens issued to them, on the emulator's clock.
        self.oauth = OAuthIssuer(self.store, self.clock)
        # How a token the workspace does not take is answered (`authenticate`). None: as most workspaces
        # answer, a revoked or unknown token (PAT or OAuth) 403 "Invalid access token." and an expired
        # OAuth access token 401; 403 or 401: every refused token so, as real workspaces differ (an
        # expired OAuth token is often 403 too). Python only (`RunningWorkspace.set_refused_token_status`).
        self.refused_token_status: int | None = None
        self._recover_interrupted()

    # -- paths -------------------------------------------------------------------------
    @property
    def dbfs_root(self) -> Path:
        return self.state_dir / "dbfs"

    def driver_root(self, cluster_id: str) -> Path:
        return self.state_dir / "clusters" / cluster_id / "driver"

    def worker_root(self, cluster_id: str) -> Path:
        return self.state_dir / "clusters" / cluster_id / "worker"

    def init_log_dir(self, cluster_id: str) -> Path:
        return self.state_dir / "clusters" / cluster_id / "init_scripts"

    # -- admin (Python only) -------------------------------------------------------------
    def add_run_observer(self, fn: RunObserver) -> None:
        self.observers.append(fn)

    @property
    def token(self) -> str:
        with self.store.lock:
            return str(self.store.data["tokens"][0])

    def add_token(self) -> str:
        token = new_token()
        with self.store.lock:
            self.store.data["tokens"].append(token)
            self.store.save()
        return token

    def revoke_token(self, token: str) -> None:
        with self.store.lock:
            if token in self.store.data["tokens"]:
                self.store.data["tokens"].remove(token)
                self.store.data["revoked_tokens"].append(token)
                self.store.save()

    def authenticate(self, header: str | None) -> None:
        if not header:
            raise ApiError(401, "UNAUTHENTICATED", "Missing Authorization header: "
                           "send `Authorization: Bearer <personal access token>`.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "UNAUTHENTICATED", "Unsupported authorization scheme.")
        with self.store.lock:
            if token.strip() in self.store.data["tokens"]:
                return
        if self.oauth.knows(token.strip()):
            # A service principal's OAuth access token: refused once expired.
            expired = self.oauth.check(token.strip())
            if expired is None:
                return
            raise token_refused(self.refused_token_status or 401, expired)
        raise token_refused(self.refused_token_status or 403)

    def now_ms(self) -> int:
        return self.simclock.now_ms()

    # -- runs --------------------------------------------------------------------------
    def run_now(self, body: dict[str, Any]) -> dict[str, Any]:
        """run-now; with an ``idempotency_token`` already used, the run that token started instead
        of a new one (the REST reference: "If a run with the provided token already exists, the
        request does not create a new run but returns the ID of the existing run instead")."""
        token = body.get("idempotency_token")
        if token is not None and (not isinstance(token, str) or len(token) > 64):
            raise invalid("idempotency_token must be a string of at most 64 characters")
        # Check and record under one lock of their own (start_run must not hold the store lock
        # while it wakes the scheduler): two calls with one token never both start a run.
        with self._run_now_lock:
            with self.store.lock:
                earlier = self.store.data.setdefault("run_idempotency", {}).get(token) if token else None
            if earlier is not None:
                return dict(earlier)
            started = self.start_run(body)
            assert started is not None  # no still_wanted check: always started
            if token:
                with self.store.lock:
                    self.store.data["run_idempotency"][token] = {
                        k: started[0][k] for k in ("run_id", "number_in_job") if k in started[0]}
                    self.store.save()
        return started[0]

    def start_run(self, body: dict[str, Any], *, trigger: str = "ONE_TIME",
                  still_wanted: Callable[[dict[str, Any]], bool] | None = None,
                  ) -> tuple[dict[str, Any], str] | None:
        """run-now's one path, for run-now (ONE_TIME) and the job scheduler (PERIODIC).

        Returns the run-now reply and the admission ("run", "queue" or "skip"), or None when
        `still_wanted(state)`, checked under the store lock, says no.
        """
        if self.stopping.is_set():
            raise ApiError(503, "TEMPORARILY_UNAVAILABLE", "The workspace is shutting down.")
        with self.store.lock:
            if still_wanted is not None and not still_wanted(self.store.data):
                return None
            now = self.now_ms()
            # Runs past their queue deadline leave the job's queue before this one is counted.
            self.expire_queued_runs(now)
            run_id = self.store.next_id("run_id")
            reply, plan = runs.run_now(
                self.store.data, body, run_id=run_id, start_ms=now,
                next_task_run_id=lambda: self.store.next_id("run_id"), trigger=trigger,
                queue_limit=self.max_queued_runs_per_job)
            if plan.admission == "queue":
                self._queued[plan.run_id] = plan
            self.store.save()
        if plan.admission == "queue" and self.scheduler is not None:
            self.scheduler.wake()  # it ends queued runs at their deadline: a new one may be sooner
        if plan.admission != "run":
            return reply, plan.admission
        player = RunPlayer(self, plan)
        with self._idle:
            self._players[plan.run_id] = player
        player.start()
        return reply, plan.admission

    def jobs_changed(self) -> None:
        """A job was created, edited or deleted: its schedule takes effect from now, and a
        raised `max_concurrent_runs` lets queued runs start.

        Call without holding the store lock (the scheduler takes its own lock first)."""
        if self.scheduler is not None:
            self.scheduler.jobs_changed()
        self._admit_queued()

    def repair_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """``runs/repair``: the run's chosen tasks play again on new clusters (`runs.repair_run`)."""
        if self.stopping.is_set():
            raise ApiError(503, "TEMPORARILY_UNAVAILABLE", "The workspace is shutting down.")
        with self.store.lock:
            reply, plan, settled = runs.repair_run(
                self.store.data, body, repair_id=self.store.next_id("run_id"), start_ms=self.now_ms(),
                next_task_run_id=lambda: self.store.next_id("run_id"))
            self.store.save()
            player = RunPlayer(self, plan, settled)
            with self._idle:
                self._players[plan.run_id] = player
                player.start()
        return reply

    def cancel_run(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            runs.get_run(self.store.data, body)
            plan = self._queued.pop(int(body["run_id"]), None)
            if plan is not None:
                # A queued run has nothing to tear down: it ends cancelled before the reply.
                # (The store lock is re-entrant, so no admission or expiry sees it half-done.)
                outcome.finish_run(self, plan, [LiveCluster(cp, done=True) for cp in plan.clusters],
                                   cancelled=True)
                return {}
        with self._idle:
            player = self._players.get(int(body["run_id"]))
            if player is not None:
                player.request_cancel()
        return {}

    def expire_queued_runs(self, now_ms: int | None = None) -> int | None:
        """End the queued runs that have waited the service's maximum (runs.MAX_QUEUE_MS) by
        `now_ms`; return the next such deadline (sim ms), or None with nothing queued.

        Called by the job scheduler's thread (which waits for the deadline on the injected
        clock) and before every admission; without a scheduler an overdue run ends at the
        next run-now, run end or cancel, still dated at its deadline."""
        with self.store.lock:
            now = self.now_ms() if now_ms is None else now_ms
            data = self.store.data
            changed = False
            deadlines: list[int] = []
            for run_id in sorted(self._queued):
                run = data["runs"][str(run_id)]
                deadline = runs.queue_deadline(run)
                if deadline <= now:
                    runs.expire_from_queue(run)
                    del self._queued[run_id]
                    changed = True
                    log.info("run %s of job %s: ended after %d h in the queue", run_id,
                             run["job_id"], runs.MAX_QUEUE_MS // 3_600_000)
                else:
                    deadlines.append(deadline)
            if changed:
                self.store.save()
            return min(deadlines, default=None)

    def _admit_queued(self) -> None:
        """Start the queued runs whose job has a free slot, oldest first in each job."""
        if self.stopping.is_set():
            return
        started: list[RunPlayer] = []
        # Lock order: the store's, then _idle (as everywhere in this class).
        with self.store.lock:
            now = self.now_ms()
            self.expire_queued_runs(now)
            data = self.store.data
            by_job: dict[int, list[int]] = {}
            for run_id in sorted(self._queued):
                by_job.setdefault(self._queued[run_id].job_id, []).append(run_id)
            for job_id, queued in by_job.items():
                settings = (data["jobs"].get(str(job_id)) or {}).get("settings") or {}
                # One count per job, not per queued run: a full queue holds 1000 runs.
                for run_id in queued[:runs.free_slots(data, job_id, settings)]:
                    plan = self._queued.pop(run_id)
                    runs.leave_queue(data, plan, now)
                    started.append(RunPlayer(self, plan))
            if started:
                self.store.save()
                with self._idle:
                    for player in started:
                        self._players[player.plan.run_id] = player
                        # Started under _idle: stop() never sees (and joins) an unstarted thread.
                        player.start()

    def _player_done(self, player: RunPlayer) -> None:
        # Admit first: wait_idle must not see "no players" in the moment between this run's
        # end and the start of the queued run that takes its slot.
        self._admit_queued()
        with self._idle:
            self._players.pop(player.plan.run_id, None)
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no run is playing (True) or `timeout` real seconds pass (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._players, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop playing runs (agents get SIGTERM); unfinished runs fail on the next start."""
        if self.scheduler is not None:
            self.scheduler.stop()  # first: no scheduled run may start while stopping
        self.stopping.set()
        with self._idle:
            players = list(self._players.values())
        with self._idle:
            for player in players:
                player.cancel.set()
            self._idle.notify_all()
        for player in players:
            player.thread.join(timeout)
        self.store.save()

    def abandon_runs(self, timeout: float) -> list[int]:
        """Cancel every run in flight or queued, wait up to `timeout` real seconds for them to end,
        and delete those that ended, as `jobs/runs/cancel` then `jobs/runs/delete` do. For an
        embedder whose user stopped it mid-run (`trimtab demo` on Ctrl-C): what it abandoned is no
        run of the job's, so no collector finds it. Returns the run ids deleted."""
        with self.store.lock:
            queued = list(self._queued)
        for run_id in queued:
            self.cancel_run({"run_id": run_id})
        with self._idle:
            playing = list(self._players)
            for player in self._players.values():
                player.cancel.set()
            self._idle.notify_all()
        if not self.wait_idle(timeout):
            log.warning("runs still ending %.0fs after they were cancelled: kept", timeout)
        deleted = []
        with self.store.lock:
            for run_id in queued + playing:
                run = self.store.data["runs"].get(str(run_id))
                # Only what the cancel ended: a run that ended by itself meanwhile is a whole run.
                if run is not None and run["state"].get("result_state") == "CANCELED":
                    del self.store.data["runs"][str(run_id)]
                    deleted.append(run_id)
            self.store.save()
        return deleted

    # -- internals -----------------------------------------------------------------------
    def _stamp(self, data: dict[str, Any]) -> None:
        data["sim_now_ms"] = max(int(data.get("sim_now_ms", 0)), self.simclock.now_ms())

    def _recover_interrupted(self) -> None:
        """Runs left unfinished by a previous process: their clusters terminate, what was
        running fails, and the tasks still waiting for dependencies are resumed (`recover.py`);
        a queued run fails (or expires, its 48 hours over)."""
        from sandbox.workspace.recover import resume_run

        now = self.now_ms()
        message = "The sandbox workspace stopped while this run was in progress."
        resumed: list[RunPlayer] = []
        with self.store.lock:
            for cid, cluster in self.store.data["clusters"].items():
                if cluster["state"] != "TERMINATED" and cluster.get("cluster_source") == "JOB":
                    node.stop_agent(node.agent_pid_file(self.driver_root(cid), {}), self.clock)
                    cluster.update({"state": "TERMINATED", "terminated_time": now,
                                    "state_message": message, "termination_reason": {
                                        "code": "INACTIVITY", "type": "SERVICE_FAULT",
                                        "parameters": {}}})
            for run in list(self.store.data["runs"].values()):
                life = run["state"]["life_cycle_state"]
                if life == "QUEUED" and runs.queue_deadline(run) <= now:
                    runs.expire_from_queue(run)  # its 48 hours ran out while we were down
                elif life == "QUEUED":
                    run["state"] = {"life_cycle_state": "INTERNAL_ERROR", "result_state": "FAILED",
                                    "state_message": message, "user_cancelled_or_timedout": False}
                    run["status"] = {"state": "TERMINATED", "termination_details": {
                        "code": "INTERNAL_ERROR", "type": "INTERNAL_ERROR", "message": message}}
                    run["end_time"] = now
                    run["run_duration"] = now - run["start_time"]
                elif life not in runs.TERMINAL:
                    player = resume_run(self, run, message, now)
                    if player is not None:
                        resumed.append(player)
            self.store.save()
            with self._idle:
                for player in resumed:
                    self._players[player.plan.run_id] = player
                    player.start()

    def add_existing_cluster(self, spec: dict[str, Any], name: str) -> str:
        """An always-running all-purpose cluster, for tasks that use existing_cluster_id."""
        from sandbox.workspace.clusters import make_cluster_id, new_cluster_record

        self._validate(spec)
        with self.store.lock:
            n = len(self.store.data["clusters"])
            cid = make_cluster_id(self.now_ms(), self.store.data["id_salt"], "all-purpose", name, n)
            record = new_cluster_record(cid, spec, job_id=0, run_name=name, task_run_id=0,
                                        start_ms=self.now_ms())
            record.update({"cluster_name": name, "cluster_source": "UI", "state": "RUNNING",
                           "state_message": ""})
            record["default_tags"] = {"Vendor": "Databricks", "Creator": record["creator_user_name"],
                                      "ClusterName": name, "ClusterId": cid}
            self.store.data["clusters"][cid] = record
            self.store.data["events"][cid] = []
            self.store.save()
        return cid

    def _validate(self, spec: dict[str, Any]) -> None:
        try:
            self.backend.validate_cluster_spec(spec)
        except (ValueError, KeyError) as exc:
            raise invalid(str(exc)) from exc
