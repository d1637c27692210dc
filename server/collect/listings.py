"""A poll's listings of a workspace (``jobs/list`` and ``runs/list`` across jobs, after this process's
first full read of it) and what they do for a job not read in full: say which jobs to read, follow
the job's settings, schedule and run-as (`server.collect.look_over` keeps what they decide).

Split from `server.collect.collector`: `Listings` is one of `Collector`'s parts (its methods read
the collector's state).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from server.apply import project_lock
from server.clock import Clock
from server.collect.job_trouble import JOB_5XX_BUDGET_S, JobTrouble
from server.collect.look_over import Handovers, Listing, LookOver, next_watermark
from server.collect.run_parse import is_finished
from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksServerError,
    DatabricksUnavailable,
    WorkspaceAuthError,
    retrying_5xx_for,
)
from server.domain import Project, Workspace
from server.onboard import job_schedule
from server.services.agent_install import follow_run_as
from server.store import Store, storable_text
from server.write_intent import intent_of

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name


def followed(project: Project, settings: dict[str, Any]) -> dict[str, Any]:
    """What of the job's settings in the workspace ``project`` does not say yet, as `Project` fields:
    its schedule (savings count its fire times) and its name (`project show`, `workspace show` and the
    dashboard name the job by it), so that a job rescheduled or renamed in the workspace shows without
    a re-import. A name the settings lack (a listing that leaves it out) is not taken for a rename."""
    changes: dict[str, Any] = {}
    schedule = job_schedule(settings)
    if project.schedule != schedule:
        changes["schedule"] = schedule
    name = settings.get("name")
    # Compared as stored (NUL made U+FFFD, `storable_text`): a name with NUL read otherwise at every poll.
    if isinstance(name, str) and name and storable_text(name) != project.job_name:
        changes["job_name"] = name
    return changes


class Listings:
    """`Collector`'s listings of a workspace in a poll (mixed into `Collector`, whose state it reads)."""

    _store: Store
    _clock: Clock
    _look: LookOver
    _handovers: Handovers
    _jobs: JobTrouble
    _going_starts: list[int]

    def _look_over(self, workspace: Workspace, gateway: DatabricksGateway,
                   by_job: dict[int, list[Project]]) -> Listing | None:
        """This poll's listings of the workspace (`server.collect.look_over`): its jobs' settings
        (``jobs/list``) and its runs started since the watermark (``runs/list`` across jobs); None
        until this process has read every job in full once (`_first_watermark`)."""
        name, host = workspace.name, workspace.host
        self._look.keep_only(name, host, by_job)
        self._handovers.keep_only(name, by_job)
        if not self._look.started(name, host):
            return None
        since = self._look.watermark(name, host)
        try:
            # A 5xx on a listing gets the short budget a job's calls get: the listings are an economy,
            # and a workspace whose runs/list across jobs fails still answers every job's own calls.
            with retrying_5xx_for(JOB_5XX_BUDGET_S):
                runs = gateway.list_workspace_runs(started_from_ms=since)
                listed = gateway.list_job_settings()
        except DatabricksServerError as err:  # before DatabricksUnavailable, its base: not the workspace's
            log.warning("workspace %s: listing its jobs and runs failed, every job read in full: %s", name, err)
            return None
        except (WorkspaceAuthError, DatabricksUnavailable):
            raise  # the workspace's trouble, as any call's
        except DatabricksCallError as err:  # a listing refused (a bad page): every job read in full instead
            log.warning("workspace %s: listing its jobs and runs failed, every job read in full: %s", name, err)
            return None
        # A job whose arrays the list cut (over 100 tasks or clusters) is read whole with jobs/get.
        settings = {int(job["job_id"]): job for job in listed if not job.get("has_more")}
        finished: dict[int, set[int]] = {}
        for run in runs:
            if is_finished(run) and run.get("job_id") is not None:
                finished.setdefault(int(run["job_id"]), set()).add(int(run["run_id"]))
        listing = Listing(settings, {job_id: frozenset(ids) for job_id, ids in finished.items()})
        # The jobs this listing shows a new finished run of are due a full read until one succeeds:
        # the watermark moves past their runs now, so a poll that ends before reading them (the
        # workspace failing part-way, a job's call refused, the server stopping) must not leave them
        # to the periodic full read hours later. Their own reads go by their cursors, not the watermark.
        self._look.make_due(name, host, [job_id for job_id, group in by_job.items()
                                         if self._news(workspace, job_id, group, listing)])
        self._look.set_watermark(name, host, next_watermark(since, runs, by_job))
        return listing

    def _first_watermark(self, workspace: Workspace, gateway: DatabricksGateway,
                         by_job: dict[int, list[Project]], took_s: float) -> None:
        """After this process's first full read of the workspace: the runs watermark, from the runs
        going now, those its full reads met going (one may have ended since), and the newest start
        less the margin and the time the reads took (a run that started and ended during them, after
        its job was read, started after they began: on Databricks' clock, ``took_s`` before now at
        the latest). Only the durations come from the server's clock, never its time of day."""
        try:
            with retrying_5xx_for(JOB_5XX_BUDGET_S):  # as `_look_over`'s listings
                going = gateway.list_workspace_runs(active_only=True)
                newest = gateway.newest_run()
        except DatabricksServerError as err:  # a 5xx: the jobs answered their own calls just now
            log.warning("workspace %s: listing its runs failed, every job read in full again next poll: %s",
                        workspace.name, err)
            return
        except (WorkspaceAuthError, DatabricksUnavailable):
            raise
        except DatabricksCallError as err:  # no watermark yet: the next poll reads every job in full again
            log.warning("workspace %s: listing its runs failed, every job read in full again next poll: %s",
                        workspace.name, err)
            return
        mark = next_watermark(None, [*going, *([newest] if newest else [])], by_job)
        if mark is not None:
            mark = min([mark - int(took_s * 1000), *self._going_starts])
        elif self._going_starts:
            mark = min(self._going_starts)
        self._look.set_watermark(workspace.name, workspace.host, mark)

    def _quiet(self, workspace: Workspace, job_id: int, group: list[Project], listing: Listing, now_ms: int) -> bool:
        """The job need not be read in full this poll: listed whole, not failing, not due a full read
        (`LookOver.due`), and no finished run newer than its cursor listed."""
        if job_id not in listing.settings or self._jobs.is_failing(workspace.name, job_id):
            return False
        if any(intent_of(p) is not None for p in group):
            return False  # an announced write is settled from the job read under its lock (`_settled`)
        if self._look.due(workspace.name, workspace.host, job_id, now_ms):
            return False
        return not self._news(workspace, job_id, group, listing)

    def _news(self, workspace: Workspace, job_id: int, group: list[Project], listing: Listing) -> bool:
        """The listing shows a finished run of the job that no full read has stored: newer than its
        cursor and not settled by its last full read (`Settled`: the cursor waits behind a run still
        going, and the runs finished after it are stored already)."""
        return listing.news(job_id, min(p.last_seen_run_id or 0 for p in group),
                            self._look.settled(workspace.name, workspace.host, job_id))

    def _follow_settings(self, group: list[Project], settings: dict[str, Any]) -> list[Project]:
        """What a full read does with the job's settings, from the listing's: orphan the projects whose
        cluster is gone or taken over, and follow the schedule and the name (a write only when one
        changed); the projects still active."""
        # No announced write to settle here (`_quiet`): a job with one is read in full.
        active = self._active(group, settings)  # as `_collect_job` does
        for project in active:
            if not followed(project, settings):
                continue
            with project_lock(int(project.id or 0), self._store):
                fresh = self._store.projects.get(int(project.id or 0))
                if changes := followed(fresh, settings):
                    self._store.projects.update(dataclasses.replace(fresh, **changes))
        return active

    def _follow_run_as(self, workspace: Workspace, gateway: DatabricksGateway, job_id: int,
                       active: list[Project], principal: str | None) -> None:
        """A job handed over since its import (its run-as changed in the workspace: bob -> carol) must
        keep starting: its clusters read the agent token as their owner, the run-as, who needs READ on
        the scope. Granted and recorded as import does (`follow_run_as`), before its next run; said
        once. A refused grant is logged as a warning with the command a scope manager can run, and
        the workspace's ``last_error`` says it (`Handovers`) until the grant is made or the job handed
        back. ``principal`` None: the listing does not say (the job's full read does)."""
        if principal is None or not active:
            return
        scope = next((str(r["scope"]) for p in active if isinstance(r := p.state.get("secret_reader"), dict)
                      and r.get("scope") and r.get("principal") not in (None, principal)), None)
        if scope is None:  # every record names it already (or none is kept): nothing to grant
            if self._handovers.settled(workspace.name, job_id):
                log.info("workspace %s job %s runs as %s again: its clusters can read the agent token",
                         workspace.name, job_id, principal)
            return
        name = active[0].job_name
        why = follow_run_as(self._store, gateway, active, principal)
        if why is None:
            self._handovers.settled(workspace.name, job_id)
            log.info("workspace %s: job %s (%s) now runs as %s: READ on scope %s granted so its clusters can "
                     "read the agent token", workspace.name, job_id, name, principal, scope)
        elif self._handovers.refused(workspace.name, job_id, name, principal, why):
            log.warning("workspace %s: job %s (%s) now runs as %s: %s", workspace.name, job_id, name, principal, why)
        else:
            log.debug("workspace %s job %s: READ for %s still refused: %s", workspace.name, job_id, principal, why)
