"""Fires scheduled jobs the way the Jobs service does, on the workspace's simulated clock.

A job with an unpaused `schedule` (Quartz cron in its `timezone_id`) gets a run at each
fire time; so does one with an unpaused `trigger.periodic` (every `interval` `unit`s, counted
from when the trigger was set). A fire goes through the same path as run-now, with run
`trigger` PERIODIC, so `max_concurrent_runs` applies as it does there: beyond the limit the
run is QUEUED, or SKIPPED (result MAXIMUM_CONCURRENT_RUNS_REACHED) when `queue.enabled` is
false. Like the service, runs a schedule triggers are at least 10 s apart, and fires missed
while the scheduler was late or the workspace was down are not replayed: a late scheduler
starts one run as soon as it can, and a restarted one resumes from "now".

Editing, pausing or deleting a job reaches the scheduler at once (`jobs_changed`, called by
the HTTP layer after jobs/create|update|reset|delete), so the next fire follows the new
settings. The one thread waits only through the workspace's injected clock.

The same thread also ends queued runs at the service's queue deadline (48 hours,
runs.MAX_QUEUE_MS): it is the workspace's one thread that waits on the clock for a moment in
simulated time, and a schedule faster than its runs is what fills a job's queue. A newly
queued run wakes it (`wake`), since its deadline may come before the next fire.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.workspace.cron import QuartzCron, next_fire_ms, parse_cron
from sandbox.workspace.errors import ApiError

if TYPE_CHECKING:
    from sandbox.workspace.workspace import Workspace

log = logging.getLogger(__name__)

MIN_GAP_MS = 10_000   # the service keeps runs triggered by a job's schedule >= 10 s apart
IDLE_WAIT_S = 3600.0  # wall seconds to sleep with nothing scheduled (a change wakes it)
UNIT_MS = {"MINUTES": 60_000, "HOURS": 3_600_000, "DAYS": 86_400_000, "WEEKS": 604_800_000}
STATE_KEY = "trigger_state"  # in the state file: job_id -> {"key", "since_ms"}


@dataclass(frozen=True)
class Trigger:
    """What makes a job fire: a Quartz schedule or a periodic trigger (unpaused)."""

    key: str                         # equal keys: the same fire times (JSON of the settings)
    cron: QuartzCron | None = None
    timezone_id: str = "UTC"
    every_ms: int = 0

    def next_after(self, after_ms: int, since_ms: int) -> int | None:
        """The first fire time strictly after `after_ms`; a periodic trigger counts its
        intervals from `since_ms` (when it was set), the service's "starting when you
        configure the schedule"."""
        if self.cron is not None:
            return next_fire_ms(self.cron, self.timezone_id, after_ms)
        intervals = max(1, (after_ms - since_ms) // self.every_ms + 1)
        return since_ms + intervals * self.every_ms


def active_trigger(settings: dict[str, Any]) -> Trigger | None:
    """The job's unpaused schedule, else its unpaused periodic trigger, else None.

    A stored schedule was checked on the way in (cron.check_schedule); a periodic trigger
    is stored as sent, so one without a positive interval or a known unit never fires.
    """
    schedule = settings.get("schedule")
    if isinstance(schedule, dict):
        if schedule.get("pause_status", "UNPAUSED") == "PAUSED":
            return None
        expression, zone = schedule["quartz_cron_expression"], schedule["timezone_id"]
        key = json.dumps(["cron", expression, zone])
        return Trigger(key=key, cron=parse_cron(expression), timezone_id=zone)
    trigger = settings.get("trigger")
    if not isinstance(trigger, dict) or trigger.get("pause_status", "UNPAUSED") == "PAUSED":
        return None
    periodic = trigger.get("periodic")
    if not isinstance(periodic, dict):
        return None  # file arrival, table update...: not emulated
    interval, unit = periodic.get("interval"), periodic.get("unit")
    if not isinstance(interval, int) or interval < 1 or unit not in UNIT_MS:
        return None
    return Trigger(key=json.dumps(["periodic", interval, unit]),
                   every_ms=interval * UNIT_MS[unit])


@dataclass
class _Entry:
    trigger: Trigger
    since_ms: int
    next_ms: int | None


def _iso(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


class JobScheduler:
    """One thread that starts a run of each scheduled job at its fire times."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        # Lock order: this lock, then the store's. The HTTP layer calls jobs_changed only
        # after releasing the store lock.
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._ticks = threading.Condition()
        self._started = self._finished = 0
        self.thread = threading.Thread(target=self._loop, name="sandbox-job-scheduler",
                                       daemon=True)

    # -- control ---------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped.set()
        self._wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def wake(self) -> None:
        """Recompute the next wake-up (a run was queued). Takes no lock: callable from a fire."""
        self._wake.set()

    def jobs_changed(self) -> None:
        """Settings changed: next fire times follow them from now on."""
        with self._lock:
            self._refresh(self.ws.now_ms())
        self._wake.set()

    def sync(self, timeout: float = 10.0) -> bool:
        """Block until a pass that began after this call has finished (True), so a test
        that moved the clock knows every fire due by then has started. Real seconds."""
        with self._ticks:
            wanted = self._started + 1
        self._wake.set()
        with self._ticks:
            return self._ticks.wait_for(lambda: self._finished >= wanted, timeout)

    def next_fires(self) -> dict[int, int | None]:
        """job_id -> next fire time (sim ms), for the jobs that have one."""
        with self._lock:
            return {job_id: e.next_ms for job_id, e in self._entries.items()}

    # -- one pass ---------------------------------------------------------------------------
    def tick(self) -> int | None:
        """Start every run that is due and end the queued runs past their deadline; return
        the next moment to act on (a fire or a queue deadline, sim ms) or None."""
        with self._lock:
            now = self.ws.now_ms()
            self._refresh(now)
            due = sorted((e.next_ms, job_id) for job_id, e in self._entries.items()
                         if e.next_ms is not None and e.next_ms <= now)
            for fire_ms, job_id in due:
                entry = self._entries[job_id]
                self._fire(job_id, entry.trigger, fire_ms, now)
                # Fires passed while late are not replayed, and the next run starts at least
                # 10 s after this one (which starts now).
                entry.next_ms = entry.trigger.next_after(now + MIN_GAP_MS - 1, entry.since_ms)
            pending = [e.next_ms for e in self._entries.values() if e.next_ms is not None]
        # (A fire has already dropped the expired runs from its job's queue: start_run
        # expires before it counts the queue.)
        queue_deadline = self.ws.expire_queued_runs(now)
        if queue_deadline is not None:
            pending.append(queue_deadline)
        return min(pending, default=None)

    def _refresh(self, now: int) -> None:
        """Entries for the jobs' current triggers; a new or changed one counts from `now`."""
        with self.ws.store.lock:
            data = self.ws.store.data
            memo: dict[str, Any] = data.setdefault(STATE_KEY, {})
            changed = False
            current: dict[int, Trigger] = {}
            for job in data["jobs"].values():
                try:
                    trigger = active_trigger(job.get("settings") or {})
                except (ApiError, KeyError, ValueError) as exc:
                    # Checked on the way in, so only a hand-edited or older state file gets
                    # here: that job does not fire, the others still do.
                    log.warning("job %s: schedule not usable, not fired: %s", job.get("job_id"),
                                exc)
                    continue
                if trigger is not None:
                    current[int(job["job_id"])] = trigger
            for job_id, trigger in current.items():
                entry = self._entries.get(job_id)
                if entry is not None and entry.trigger.key == trigger.key:
                    continue
                # A restart keeps a periodic trigger's phase (since_ms) but replays nothing.
                kept = memo.get(str(job_id))
                if kept is None or kept.get("key") != trigger.key:
                    kept = {"key": trigger.key, "since_ms": now}
                    memo[str(job_id)] = kept
                    changed = True
                since = int(kept["since_ms"])
                self._entries[job_id] = _Entry(trigger, since, trigger.next_after(now, since))
                log.info("job %s: %s, next run at %s", job_id, trigger.key,
                         _iso(self._entries[job_id].next_ms))
            for job_id in [j for j in self._entries if j not in current]:
                del self._entries[job_id]
                log.info("job %s: no unpaused schedule any more", job_id)
            for key in [k for k in memo if int(k) not in current]:
                del memo[key]
                changed = True
            if changed:
                self.ws.store.save()

    def _fire(self, job_id: int, trigger: Trigger, fire_ms: int, now: int) -> None:
        def still_scheduled(data: dict[str, Any]) -> bool:
            # Checked under the store lock with the run's creation: a pause or edit that
            # lands between this pass's look and the run cannot be overtaken by it.
            job = data["jobs"].get(str(job_id))
            current = active_trigger(job.get("settings") or {}) if job else None
            return current is not None and current.key == trigger.key

        try:
            started = self.ws.start_run({"job_id": job_id}, trigger="PERIODIC",
                                        still_wanted=still_scheduled)
        except ApiError as exc:
            log.warning("job %s: the run due at %s did not start: %s", job_id, _iso(fire_ms),
                        exc.message)
            return
        if started is None:
            return
        reply, admission = started
        late = f", {(now - fire_ms) / 1000:g} s late" if now > fire_ms else ""
        verb = {"run": "started", "queue": "queued", "skip": "skipped"}.get(admission, admission)
        log.info("job %s: scheduled run %s %s (due %s%s)", job_id, reply["run_id"], verb,
                 _iso(fire_ms), late)

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()  # before the pass: a change during it wakes the next wait
            with self._ticks:
                self._started += 1
                number = self._started
            try:
                next_ms = self.tick()
            except Exception:  # a bug must not end the schedules; log it and carry on
                log.exception("sandbox job scheduler pass failed")
                next_ms = None
            with self._ticks:
                self._finished = number
                self._ticks.notify_all()
            wait = IDLE_WAIT_S if next_ms is None else min(
                IDLE_WAIT_S, max(0.0, self.ws.simclock.wall_seconds_until(next_ms)))
            self.ws.clock.wait(self._wake, wait)
