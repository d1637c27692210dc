"""One job's collection in a poll: its settings (projects orphaned when their cluster is gone), its
finished runs newer than the cursor stored piece by piece (one `Run` per project and Databricks run,
priced, joined to the agent's data, a user's edit rebased on), the cursor and schedule moved, and
each stored run planned after; and the runs a stopped server left unplanned.

Split from `server.collect.collector`: `JobCollection` is one of `Collector`'s parts (its methods
read the collector's state and call its other parts').
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from server.apply import adopt_own_write, project_lock, rebase
from server.clock import Clock
from server.cluster_rename import follow_rename, job_projects
from server.collect.build import GROWTH_WINDOW, AgentData, build_run, expected_spec, policy_fallback
from server.collect.cluster_reads import cluster_events_or_none, pools_of, run_detail, run_timeline
from server.collect.listings import followed
from server.collect.locked_projects import PartlyLocked
from server.collect.look_over import FULL_EVERY_S, LookOver, Settled, stagger
from server.collect.outcome_log import UnrunLog, say_outcome
from server.collect.pricing import _summed
from server.collect.repairs import peak_over_attempts
from server.collect.run_notes import GONE_NOTE, _joined, _with_retries, with_unpriced_note
from server.collect.run_parse import ClusterRun, cluster_runs, first_attempts, is_finished
from server.databricks import DatabricksGateway, DatabricksNotFound, call_or_none
from server.databricks.call_stop import calls_run_through
from server.domain import CostBreakdown, Project, Run, Workspace
from server.errors import AlreadyExists
from server.log_context import log_context, project_fields
from server.onboard import run_as_principal
from server.orphan_cause import JOB_DELETED, REASON_KEY, cluster_gone, orphan_cause
from server.recover import reconcile
from server.spec import find_cluster_spec, spec_drift
from server.store import Store
from server.store.locks import LockedElsewhere
from server.write_intent import intent_of, withdraw

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name


class JobCollection:
    """`Collector`'s collection of one job's runs (mixed into `Collector`, whose state it reads)."""

    _store: Store
    _clock: Clock
    _look: LookOver
    _on_run_collected: Callable[[Run], None] | None
    # Project id -> its newest run (store id) known to have a plan after it (`_plan_unplanned`).
    _planned_after: dict[int, int]
    _reprice_left: set[int]
    _going_starts: list[int]
    _unrun: UnrunLog  # finished runs with no piece, said once (`server.collect.outcome_log`)

    def _active(self, group: list[Project], settings: dict[str, Any]) -> list[Project]:
        """The projects of ``group`` still on their cluster in the job's ``settings``, those whose cluster
        the owner renamed moved to its new key (`server.cluster_rename`); the others orphaned."""
        active = []
        for project in group:
            if find_cluster_spec(settings, project.cluster_key) is None:
                # Followed before its runs are read: a run made since the rename is this project's, and
                # orphaned, the project lost it (a later import made a second project of the new key).
                renamed = follow_rename(self._store, project, settings)
                if renamed is None:
                    self._orphan(project, cluster_gone(project, settings, job_projects(self._store, project)))
                    continue
                project = renamed
            # Taken over is not a user's edit to rebase on: both servers would plan and apply for one job.
            if (why := orphan_cause(project, settings)) is not None:
                self._orphan(project, why)
            else:
                active.append(project)
        return active

    def _plan_unplanned(self, projects: list[Project]) -> None:
        """Plan each project whose newest run was stored after its latest recommendation was made.

        A run is stored, then planned after (``on_run_collected``), one at a time under the project's
        lock; a server that died (or stopped past its grace) between the two left a run no poll
        collects again (it is stored, and the cursor moved past it), so the project would wait for
        its next run, a day for a daily job. A backfill (`trimtab project backfill`, its own process)
        stores runs and plans nothing: its runs are planned after here too. Recommendations do not name the run they followed:
        the store's own times tell, a run stored after the latest recommendation (any state) was
        made is one no plan has read. A plan that failed after it (its problem names the run) has
        had its try. One try per run and process: ``_planned_after`` also spares the
        projects whose newest run this collector planned itself the two reads."""
        if self._on_run_collected is None or not projects:
            return
        newest = self._store.runs.newest_ids([int(p.id or 0) for p in projects])
        for project in projects:
            project_id = int(project.id or 0)
            run_id = newest.get(project_id)
            if run_id is None or self._planned_after.get(project_id, 0) >= run_id:
                continue
            if self._stopping():
                return
            try:
                # A plan in progress elsewhere finishes first.
                with project_lock(project_id, self._store), log_context(**project_fields(project)):
                    run = self._store.runs.get(run_id)
                    latest = self._store.recommendations.latest(project_id)
                    problem = self._store.projects.get(project_id).problem
                    self._planned_after[project_id] = max(run_id, self._planned_after.get(project_id, 0))
                    if (latest is not None and latest.created_at_ms >= run.created_at_ms) or \
                            (problem is not None and problem.run_id >= run_id):
                        continue
                    # Nothing stored tells which of the two left it: both are named, not a server stop alone.
                    log.info("project %s: run %s was stored but not planned after (stored by a backfill, which "
                             "leaves planning to the server, or by a server that stopped before planning after "
                             "it); planning now", project.name, run.id)
                    self._plan_after(run, "unplanned run")
            except LockedElsewhere as err:  # another server or session holds it: planned at a later poll
                log.info("project %s: not planned after run %s this poll: %s", project.name, run_id, err)

    def _collect_job(self, workspace: Workspace, gateway: DatabricksGateway, job_id: int,
                     group: list[Project]) -> list[Run]:
        try:
            job = gateway.get_job(job_id)
        except DatabricksNotFound:
            for project in group:
                if project.detached or project.orphaned:  # read only for its intent: nothing left to settle
                    self._withdraw(project)
                else:
                    self._orphan(project, JOB_DELETED)
            return []
        settings = job.get("settings") or {}
        # Settled before the take-over check: a re-import after this server's address changed, killed
        # before its record, left the cluster wired to the new address, which read as another server's.
        settled, settings = self._settled(gateway, job_id, group, settings)
        active = self._active(settled, settings)
        if not active:
            return []
        self._follow_run_as(workspace, gateway, job_id, active, run_as_principal(job) or None)
        cursor = min(p.last_seen_run_id or 0 for p in active)
        runs = gateway.list_runs(job_id, newer_than_run_id=cursor or None)
        running = [int(r["run_id"]) for r in runs if not is_finished(r)]
        self._going_starts.extend(int(r.get("start_time") or 0) for r in runs if not is_finished(r))
        finished = sorted(int(r["run_id"]) for r in runs if is_finished(r))
        collected: list[Run] = []
        # A project whose lock another session holds waits, the job's others go on (`PartlyLocked`): each
        # project's piece of a run is a whole `Run` of its own, and its cursor alone stays behind.
        locked: dict[int, LockedElsewhere] = {}
        for run_id in finished:
            if all(self._has_run(p, run_id) for p in active if p.id not in locked):
                continue  # stored by an earlier poll (the cursor waits behind a run still going)
            detail = run_detail(gateway, run_id)
            before = first_attempts(detail)  # a run repaired before this first collection: its first attempt
            for piece in cluster_runs(detail) or self._unrun.say(workspace.name, job_id, detail):  # none: logged
                project = next((p for p in active if p.cluster_key == piece.cluster_key), None)
                if project is None or run_id <= (project.last_seen_run_id or 0) or project.id in locked:
                    continue  # not this project's cluster, from before it was imported, or locked
                first = before.get(piece.cluster_key) if piece.repaired_attempts else None
                try:
                    with project_lock(int(project.id or 0), self._store), \
                            log_context(**project_fields(project), run_id=run_id):
                        run = self._collect_piece(workspace, gateway, project, piece, first=first)
                except LockedElsewhere as err:
                    locked[int(project.id or 0)] = err
                    continue
                if run is not None:
                    collected.append(run)
        if locked and len(locked) == len(active):
            raise next(iter(locked.values()))  # the whole job is locked: skipped whole, as it always was
        active = [p for p in active if p.id not in locked]
        repaired, repair_due_ms = self._collect_repairs(workspace, gateway, active, skip=set(finished))
        collected.extend(repaired)
        new_cursor = min(running) - 1 if running else max([cursor, *finished])
        # The job's schedule and name are followed on every poll (`followed`), so a schedule changed,
        # paused or removed, or a job renamed, in the workspace shows without a re-import.
        for project in active:
            with project_lock(int(project.id or 0), self._store):
                fresh = self._store.projects.get(int(project.id or 0))
                changes = followed(fresh, settings)
                if (fresh.last_seen_run_id or 0) < new_cursor:
                    changes["last_seen_run_id"] = new_cursor
                if changes:
                    self._store.projects.update(dataclasses.replace(fresh, **changes))
        # After the cursor moved: a workspace failing here costs no collected run its bookkeeping.
        self._reprice(workspace, gateway, active)
        self._reprice_on_demand(workspace, gateway, active)
        # Read in full again at the next poll after a run collected (its failure is re-read for a repair)
        # or with runs left to re-price; else when a failed run's re-read is due, and at the latest
        # after about FULL_EVERY_S (`server.collect.look_over`).
        now = self._clock.now_ms()
        left = {int(p.id or 0) for p in active} & self._reprice_left
        self._reprice_left -= left
        again = now if collected or left else now + int(FULL_EVERY_S * 1000 * stagger(job_id))
        if repair_due_ms is not None:
            again = min(again, repair_due_ms)
        # Every run it listed is stored or still going: the listings' later finished runs up to the
        # newest are no news (`Settled`), though the cursor waits behind the ones going.
        if locked:
            # Read in full at the next poll, and nothing settled: the locked projects' runs are not stored.
            self._look.read_in_full(workspace.name, workspace.host, job_id, now)
            raise PartlyLocked(list(locked.values()), collected)
        self._look.read_in_full(workspace.name, workspace.host, job_id, again,
                                Settled(max([cursor, *finished, *running]), frozenset(running)))
        return collected

    def _settled(self, gateway: DatabricksGateway, job_id: int, active: list[Project],
                 settings: dict[str, Any]) -> tuple[list[Project], dict[str, Any]]:
        """``active`` with each project's announced, unrecorded write settled first
        (`server.recover.reconcile`), so no run on Trimtab's own write is read as a person's edit nor
        planned after as if the write had not happened; a project whose import never reached the job
        is removed (and left out). ``active`` may hold detached and orphaned projects with an intent
        (a re-attach or a take-back, killed before its record): kept only when it re-attached them.
        With them, the job's settings as last read (``settings``, or a read made for an intent).

        An intent is settled from the job read under the project's lock, never from ``settings``: that
        read came before the lock, which a write in progress holds. A failed apply's write was on the
        job when the poll read it and had been written back by the time the lock was free, and settled
        from that read it was recorded as applied, the next run then taken for the owner's edit."""
        out = []
        for project in active:
            if intent_of(project) is None:
                out.append(project)
                continue
            with project_lock(int(project.id or 0), self._store):
                fresh = self._store.projects.get(int(project.id or 0))
                live = None
                if intent_of(fresh) is not None:
                    try:
                        settings = gateway.get_job(job_id).get("settings") or {}
                        live = find_cluster_spec(settings, fresh.cluster_key)
                    except DatabricksNotFound:  # deleted since: the next poll finds it so
                        pass
                if intent_of(fresh) is None:  # recorded, or withdrawn, while the lock was waited for
                    settled = fresh
                elif live is not None:
                    settled = reconcile(self._store, fresh, live)[0]
                elif fresh.detached or fresh.orphaned:
                    # Read only for its intent, and its cluster is gone: nothing left to settle.
                    settled = withdraw(self._store, int(fresh.id or 0))
                else:
                    settled = fresh  # orphaned by `_active`, the intent kept
            # A detach it recorded, or a detached (orphaned) project's re-import that never landed:
            # not collected. A re-attach it recorded is.
            if settled is not None and not (settled.detached or settled.orphaned):
                out.append(settled)
        return out, settings

    def _has_run(self, project: Project, run_id: int) -> bool:
        return run_id <= (project.last_seen_run_id or 0) or (
            self._store.runs.get_by_databricks_run(int(project.id or 0), run_id) is not None
            and not _confirms(project, run_id))

    def _collect_piece(self, workspace: Workspace, gateway: DatabricksGateway, project: Project,
                       piece: ClusterRun, *, first: ClusterRun | None = None) -> Run | None:
        """Store one piece of a finished run. ``first``: the piece was repaired before this first
        collection, and this is its first attempt (`first_attempts`): the run is stored as that attempt
        left it, on its configuration (the one that failed), and then updated with its repairs as a
        run repaired after its collection is (`_repaired`)."""
        project = self._store.projects.get(int(project.id or 0))  # fresh: an earlier piece may have rebased it
        if self._store.runs.get_by_databricks_run(int(project.id or 0), piece.run_id) is not None:
            self._after_stored(project, first or piece)
            return None
        repaired: ClusterRun | None = None
        if first is not None:
            repaired, piece = piece, first
        # A piece with no cluster (refused at creation, `never_launched`): nothing to read or bill,
        # but stored as the failed run it is, so the project is planned after it.
        launched = bool(piece.cluster_id)
        cluster = call_or_none(lambda: gateway.get_cluster(piece.cluster_id)) if launched else None
        # A cluster Databricks no longer knows (purged 30 days after it ended) has no events either:
        # the run is still stored, priced from its spec and bounds alone, and said so.
        events = cluster_events_or_none(gateway, piece.cluster_id) if cluster is not None else None
        gone = launched and events is None
        if repaired is not None and not piece.spec:
            # The first attempt's spec is its cluster's own. A cluster Databricks no longer holds (or
            # none at all) leaves only the run's job_clusters, which show the repair's settings.
            piece = dataclasses.replace(piece, spec=dict((cluster or {}).get("spec") or {}) or repaired.spec)
        spec = piece.spec or dict((cluster or {}).get("spec") or {})
        ran, timeline = run_timeline(spec, cluster, events, piece.start_ms, piece.end_ms, cloud=workspace.cloud,
                                     pools=pools_of(gateway, spec) if launched else None,
                                     policy_values=policy_fallback(project, spec, cluster))
        agent = self._agent_data(piece, workspace.name) if launched else AgentData((), (), ())
        # The runs that started before this one, oldest first: by start, not by id, since a backfill stores
        # months-old runs after the newest (by id they would be "the runs before" every later run).
        history = list(reversed(self._store.runs.newest_first(int(project.id or 0), limit=GROWTH_WINDOW,
                                                              after=(piece.start_ms, 0))))
        expected = expected_spec(project, piece)
        if spec and expected.spec and spec_drift(spec, expected.spec) \
                and adopt_own_write(self._store, project, spec) is not None:
            # Trimtab's own apply, written but not recorded (the server stopped mid-apply): recorded
            # now, so this run confirms it instead of being taken for a user's edit.
            project = self._store.projects.get(int(project.id or 0))
            expected = expected_spec(project, piece)
        run, drift = build_run(project, piece, cluster=cluster, timeline=timeline, agent=agent,
                               history=history, expected=expected, cloud=workspace.cloud)
        cost, unpriced = self._priced(workspace, piece.cluster_id, timeline, ran, run.input_bytes) if launched \
            else (CostBreakdown(note="no cluster was created: nothing billed"), "")
        if gone and cost is not None:
            cost = dataclasses.replace(cost, note=_joined(cost.note, GONE_NOTE))
        earlier = [i for i in piece.instances if i[0] != piece.cluster_id] if launched else []
        if earlier:
            # A task retried on a new job cluster: the earlier clusters ran, and were billed, too (the
            # run's time holds their attempts). Each is priced as a repair's clusters are, and summed.
            parts = [self._instance_priced(workspace, gateway, piece, i, project=project) for i in earlier]
            cost = _summed([*(p.cost for p in parts), cost], run.input_bytes, "a task retried on a new cluster",
                           [*(i[0] for i in earlier), piece.cluster_id])
            unpriced = unpriced or next((p.why for p in parts if p.why), "")
            # Its peak as its cost: over every cluster it ran on (as re-pricing reads it).
            run = dataclasses.replace(run, peak_workers=peak_over_attempts(
                run.peak_workers, (p.timeline.peak_workers for p in parts)))
        if gone:
            log.info("run %s: cluster %s no longer exists; stored without its usage", piece.run_id, piece.cluster_id)
        run = dataclasses.replace(run, cost=cost, message=with_unpriced_note(
            _with_retries(run.message, piece.retried_attempts), unpriced))
        try:
            stored = self._store.runs.add(run)
        except AlreadyExists:  # another poll stored it meanwhile
            return None
        self._watch_unended(stored)
        # The project follows the first attempt first (its user edit, its apply confirmed); the
        # repair, judged after, may rebase it on a spec edited since.
        self._after_run(project, piece, spec, drift, expected.confirms_apply)
        if repaired is not None:
            stored = self._repaired(workspace, gateway, int(project.id or 0), int(stored.id or 0), repaired) or stored
        elif piece.repaired_attempts:  # no first attempt of its own on this key: judged on the repair
            stored = self._repaired(workspace, gateway, int(project.id or 0), int(stored.id or 0), piece,
                                    just_stored=True) or stored
        self._plan_after(stored, "run")
        say_outcome(self._store, stored, piece.job_id)
        return stored

    def _plan_after(self, run: Run, what: str) -> None:
        """Plan the run's project after it (``on_run_collected``; its trouble logged, never raised: the
        run is stored) and remember it was, so `_plan_unplanned` need not look. ``what``: for the log."""
        if self._on_run_collected is None:
            return
        try:
            with calls_run_through():  # a plan's auto-apply is never cut by the server's stop
                self._on_run_collected(run)
        except Exception:  # planning's trouble must not stop collection (the run is stored)
            log.exception("on_run_collected failed for %s %s", what, run.id)
        # Tried: a plan reads the whole history, and a failed one is kept on the project.
        self._planned_after[run.project_id] = max(int(run.id or 0), self._planned_after.get(run.project_id, 0))

    # ------------------------------------------------------------ project state

    def _after_run(self, project: Project, piece: ClusterRun, spec: dict[str, Any], drift: list[str],
                   confirms_apply: bool) -> None:
        if drift:
            # A user edit wins: the project rebases on the spec the user set (`rebase` says what
            # of Trimtab's apply record and pending recommendation survives it).
            log.warning("project %s: cluster edited outside Trimtab (%s); rebasing on it",
                        project.name, ", ".join(drift))
            project = rebase(self._store, project, spec, drift, edit_run_id=piece.run_id)
            if not project.pending_apply:
                return
            # The apply's record survived (the edit is of fields Trimtab does not own): this run ran
            # the sizing it wrote, so it confirms it as any run on it does, from the spec adopted.
        if confirms_apply and project.pending_apply:
            # The first run on the applied spec: the apply is confirmed, the next one may follow.
            confirmed = {**project.pending_apply, "confirmed": True, "confirmed_by_run": piece.run_id}
            project = dataclasses.replace(project, current_spec=dict(project.pending_apply["applied_spec"]),
                                          pending_apply=confirmed)
        else:
            return
        self._store.projects.update(project)

    def _after_stored(self, project: Project, piece: ClusterRun) -> None:
        """The project's update after a run stored by a server that stopped before making it (the run
        and the project are two writes): a run that would have confirmed the project's apply confirms
        it now (or shows the edit it ran on), instead of the apply waiting for the next run."""
        if not _confirms(project, piece.run_id):
            return
        expected = expected_spec(project, piece)
        drift = spec_drift(piece.spec, expected.spec) if piece.spec and expected.spec else []
        log.info("project %s: run %s was stored but the project was not updated after it (the server stopped "
                 "between the two); updated now", project.name, piece.run_id)
        self._after_run(project, piece, piece.spec, drift, expected.confirms_apply)

    def _withdraw(self, project: Project) -> None:
        """Drop the intent of a detached or orphaned project whose job is gone: no write to settle."""
        with project_lock(int(project.id or 0), self._store):
            withdraw(self._store, int(project.id or 0))

    def _orphan(self, project: Project, why: str) -> None:
        log.warning("project %s orphaned: %s", project.name, why)
        with project_lock(int(project.id or 0), self._store):
            fresh = self._store.projects.get(int(project.id or 0))
            state = {**fresh.state, REASON_KEY: why}
            self._store.projects.update(dataclasses.replace(fresh, orphaned=True, state=state))


def _confirms(project: Project, run_id: int) -> bool:
    """Whether run ``run_id`` is one the project's unconfirmed apply (or revert) waits for: it started
    after the write (`server.apply`'s ``applied_after_run_id``)."""
    pending = project.pending_apply or {}
    return bool(pending) and not pending.get("confirmed", False) \
        and run_id > int(pending.get("applied_after_run_id") or 0)
