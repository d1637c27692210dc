"""The agent's data joined to runs: a run's applications found at collection, and the data that
lands after it (an ApplicationEnd reported, an application tied to a run before its end, a slow
agent flush tied late), applied to the stored run under its project's lock.

Split from `server.collect.collector`: `LateAgentData` is one of `Collector`'s parts (its methods
read the collector's state), and `server.collect.collector` re-exports the constants.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from server.apply import project_lock
from server.clock import Clock
from server.collect.build import GROWTH_WINDOW, AgentData, matching_applications, sent_for, with_agent_data
from server.collect.run_parse import ClusterRun
from server.databricks.call_stop import calls_run_through
from server.domain import Run
from server.errors import NotFound
from server.log_context import log_context
from server.store import Store

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name

# How far back a late application may find its run, per project: the runs that started last
# (`RunRepository.newest_first`), not the last stored; a backfill stores older runs after newer ones.
RECENT_RUNS = 10
# An application tied to a run before its end was stored is looked at each poll this long: its last
# stages (the agent's final flush) update the run once the end lands (`Collector._watch_unended`).
UNENDED_WATCH_S = 3600.0


class LateAgentData:
    """`Collector`'s joins of the agent's data to runs (mixed into `Collector`, whose state it reads)."""

    _store: Store
    _clock: Clock
    _lock: threading.Lock
    _waiting_apps: dict[str, float]  # application id -> give up at (monotonic s)
    _unended_apps: dict[str, float]  # tied to a run before their end was stored -> give up at (monotonic s)
    _on_run_collected: Callable[[Run], None] | None

    # ------------------------------------------------------------ joins

    def _agent_data(self, piece: ClusterRun, workspace: str) -> AgentData:
        found = self._store.applications.list(limit=100, cluster_id=piece.cluster_id, sent_for=workspace)
        apps = matching_applications(found, piece, workspace)
        stages = [s for a in apps for s in self._store.applications.stages(a.application_id)]
        executors = [e for a in apps for e in self._store.applications.executors(a.application_id)]
        return AgentData(tuple(apps), tuple(stages), tuple(executors))

    def _forget_collected_apps(self) -> None:
        """Settle the applications whose end was reported (`notify_application_end`), and the ones
        tied to a run before their end arrived (`_watch_unended`).

        An application tied to a run already has that run brought up to date with its data: the
        agent's last flush (the stages and executors of its end) may land after the run was
        collected. One that is not tied yet is tied late (`_attach_late`)."""
        now = self._clock.monotonic()
        with self._lock:
            waiting = dict(self._waiting_apps)
            watched = dict(self._unended_apps)
        done, settled = [], []
        for app_id, give_up in waiting.items():
            try:
                run = self._store.runs.for_application(app_id)
                tied = self._refresh_agent_data(run) is not None if run is not None else self._attach_late(app_id)
            except NotFound:
                tied = False
            if tied or now >= give_up:
                done.append(app_id)
        for app_id, give_up in watched.items():
            if app_id in waiting:
                settled.append(app_id)  # its end was reported: refreshed above
                continue
            try:
                ended = self._store.applications.get(app_id).ended
                run = self._store.runs.for_application(app_id)
            except NotFound:
                settled.append(app_id)
                continue
            if run is None:
                settled.append(app_id)
            elif ended or now >= give_up:  # its end stored without a report (or never): one last look
                self._refresh_agent_data(run)
                settled.append(app_id)
        with self._lock:
            for app_id in done:
                self._waiting_apps.pop(app_id, None)
            for app_id in settled:
                self._unended_apps.pop(app_id, None)

    def _watch_unended(self, run: Run) -> None:
        """Remember the run's applications that had not ended when it was collected: their last
        stages may still come, and the run is refreshed once their end is stored (each poll reads
        one application row per watched one, for at most `UNENDED_WATCH_S`)."""
        give_up = self._clock.monotonic() + UNENDED_WATCH_S
        for app_id in run.application_ids:
            try:
                if self._store.applications.get(app_id).ended:
                    continue
            except NotFound:
                continue
            with self._lock:
                self._unended_apps.setdefault(app_id, give_up)

    def _refresh_agent_data(self, run: Run, add: str | None = None) -> Run | None:
        """The run as its applications' stored data says now (``add``: one more application tied to
        it), written when that changed; None when the run is gone.

        Only what the agent's data decides changes (`with_agent_data`): the run is read again under
        the project lock, so an update the collector or re-costing wrote meanwhile is kept."""
        with project_lock(run.project_id, self._store), \
                log_context(project_id=run.project_id, run_id=run.databricks_run_id):
            try:
                fresh = self._store.runs.get(int(run.id or 0))
            except NotFound:
                return None
            ids = fresh.application_ids if add is None or add in fresh.application_ids \
                else (*fresh.application_ids, add)
            agent = self._agent_data_of(ids)
            # The runs that started before it (by start: a backfill stores older runs after newer ones).
            history = list(reversed(self._store.runs.newest_first(fresh.project_id, limit=GROWTH_WINDOW,
                                                                  after=(fresh.start_ms, int(fresh.id or 0)))))
            updated = with_agent_data(dataclasses.replace(fresh, application_ids=ids), agent, history)
            if updated == fresh:
                return fresh
            log.info("run %s: agent data that landed after collection applied (input %s bytes, %s)",
                     fresh.id, updated.input_bytes, ", ".join(updated.anomalies) or "no anomalies")
            stored = self._store.runs.update(updated)
            if self._on_run_collected is not None:  # planned again on what the run really read, under the lock
                try:
                    with calls_run_through():  # its auto-apply is never cut by the stop
                        self._on_run_collected(stored)
                except Exception:  # planning's trouble must not stop collection (the run is stored)
                    log.exception("on_run_collected failed for refreshed run %s", stored.id)
            return stored

    def _agent_data_of(self, application_ids: tuple[str, ...]) -> AgentData:
        apps = []
        for app_id in application_ids:
            try:
                apps.append(self._store.applications.get(app_id))
            except NotFound:  # pruned: the run keeps what it had from the others
                continue
        return AgentData(tuple(apps), tuple(s for a in apps for s in self._store.applications.stages(a.application_id)),
                         tuple(e for a in apps for e in self._store.applications.executors(a.application_id)))

    def _attach_late(self, app_id: str) -> bool:
        """Tie an application whose data landed after its run was collected (a slow agent flush).

        A job cluster serves one run, so the cluster id finds the run among the projects of the
        workspace the application was sent for (`sent_for`); its agent-derived fields are
        recomputed with the application included (`_refresh_agent_data`).
        """
        app = self._store.applications.get(app_id)
        if not app.cluster_id:
            return False
        for project in self._store.projects.list():
            if not sent_for(app, project.workspace):
                continue
            # The runs that started last: the run a late flush belongs to ended moments ago, whereas a
            # backfill since may have stored many older runs under higher ids.
            for run in self._store.runs.newest_first(int(project.id or 0), limit=RECENT_RUNS):
                if run.cluster_id != app.cluster_id or app_id in run.application_ids:
                    continue
                if self._refresh_agent_data(run, add=app_id) is None:
                    continue
                log.info("application %s tied to run %s after collection", app_id, run.id)
                return True
        return False
