"""The collector: every finished Databricks run of every project, stored once.

Two ways in, so no run is missed: the agent's ApplicationEnd wakes it at once
(``notify_application_end``), and a regular poll lists each job's runs newer
than the project's cursor (``last_seen_run_id``), which catches runs without an
agent. Only the jobs that need it are read so (`server.collect.look_over`): each
poll lists the workspace's jobs and its recent runs once, and reads in full the jobs
with a finished run newer than their cursor, or due for another reason. For each finished run it reads ``runs/get``, ``clusters/get`` and every
page of ``clusters/events``, joins the agent's applications by cluster id and
Spark context id, and stores one `Run` per (project, Databricks run).

The cursor never moves past a run that is still going, and storing is
idempotent (one row per project and Databricks run), so polls may overlap
or repeat without duplicates.

Each stored run is planned after at once (``on_run_collected``). A server that ended between the
two (killed, or stopped past its grace: a poll leaves only between jobs once asked to stop) left
a run no poll lists again; each poll, the first after a start included, plans a project whose
newest run was stored after its latest recommendation was made (`Collector._plan_unplanned`).

A failed or canceled run can be repaired later (``runs/repair`` re-runs its unsuccessful tasks on
new job clusters, from the job's settings at the repair, as part of the same run, which keeps its
run_id): the cursor never lists it again, so each poll also reads again the runs collected as failed
or canceled in the last 7 days (a few per project) and updates one a repair re-ran: its time and cost
over every cluster, ``repaired`` (not learned from, and no excuse for a failure), and its outcome
when the repair ran on the run's configuration. A repair on another configuration (an apply between
the failure and the repair) leaves the run the failure of its own, and a repair on a spec edited by
hand is a user edit (`Collector._repaired`). A run repaired before its first collection is stored as
its first attempt left it (on the configuration that failed) and then updated the same way.

Workspaces are polled one after the other, and one workspace's trouble never
stops the others. A workspace that cannot be reached (no connection, or 503 or
429 past the gateway's retry deadline: `DatabricksUnavailable`) is left for the
rest of the poll at its first failed call, not retried job by job, and its status
becomes ``unreachable`` with the error; it then rests between tries
(`server.collect.health`). Each try starts with one cheap call on a short retry
budget (`DatabricksGateway.probe`), so a workspace still down costs the poll
seconds, not a whole call's budget.

A 5xx answer on one job's calls (`DatabricksServerError`: its ``jobs/get`` failing while the
workspace answers) is that job's trouble: its calls retry a 5xx for a short budget only, the
job is skipped, rests and is tried after the others, and the workspace's ``last_error`` names it
while its status stays ``ok`` (`server.collect.job_trouble`). It is the workspace's trouble when a
probe fails too, or when several jobs fail one after the other (`Collector._job_failed`).

A workspace with auto-import on also has its new jobs imported (`server.collect.discovery`),
in the same poll and after its runs are collected, so a resting workspace is not tried by
discovery either. A token refused or a workspace unreachable there is recorded as for
collection; any other failure of discovery is logged and costs no run.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from models.observation import REPAIRED, REPAIRED_ELSEWHERE
from server.apply import adopt_own_write, project_lock, rebase
from server.clock import Clock
from server.collect.build import (
    GROWTH_WINDOW,
    MESSAGE_CHARS,
    AgentData,
    Expected,
    build_run,
    expected_spec,
    matching_applications,
    sent_for,
    with_agent_data,
    with_pool_node_types,
)
from server.collect.discovery import AutoImport
from server.collect.health import WorkspaceHealth
from server.collect.job_trouble import JOB_5XX_BUDGET_S, JOB_NOTE_MARK, JobTrouble
from server.collect.look_over import (
    FULL_EVERY_S,
    READ_NOTE_MARK,
    Handovers,
    Listing,
    LookOver,
    listed_run_as,
    next_watermark,
    stagger,
)
from server.collect.run_parse import (
    REPAIRABLE_OUTCOMES,
    ClusterRun,
    cluster_runs,
    first_attempts,
    for_each_run_ids,
    is_finished,
    repair_count,
    with_iterations,
)
from server.collect.usage import ClusterTimeline, cluster_timeline, cluster_usage
from server.costing.billing import DEFAULT_RECOST_POLICY, BillSource, RecostPolicy, price_run
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.costing.recost import several_clusters_note
from server.costing.run_cost import ClusterUsage
from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksNotFound,
    DatabricksRejected,
    DatabricksServerError,
    DatabricksUnavailable,
    WorkspaceAuthError,
    call_or_none,
    retrying_5xx_for,
)
from server.domain import CostBreakdown, Project, Run, Workspace, started_before
from server.errors import AlreadyExists, FailedPrecondition, NotFound, Unavailable
from server.onboard import job_schedule, run_as_principal, taken_over
from server.render.fmt import cut
from server.services.agent_install import follow_run_as
from server.spec import config_from_spec, config_label, find_cluster_spec, spec_drift, with_pool_disks
from server.store import Store

log = logging.getLogger(__name__)

GatewayFor = Callable[[Workspace], DatabricksGateway]
# After an ApplicationEnd the run may still be terminating: look again this often, this long.
RECHECK_EVERY_S = 5.0
RECHECK_FOR_S = 600.0
# How far back a late application may find its run, per project: the runs that started last
# (`RunRepository.newest_first`), not the last stored; a backfill stores older runs after newer ones.
RECENT_RUNS = 10
# An application tied to a run before its end was stored is looked at each poll this long: its last
# stages (the agent's final flush) update the run once the end lands (`Collector._watch_unended`).
UNENDED_WATCH_S = 3600.0
# A failed or canceled run may be repaired later (``runs/repair`` re-runs its unsuccessful tasks as part
# of the same run, which keeps its run_id, so the cursor never lists it again). Each poll reads again,
# with ``runs/get``, the runs collected as failed or canceled this recently, at most this many per project (newest first): one call per
# such run per poll, bounded. A repair seen there updates the stored run (`Collector._repaired`).
REPAIR_WINDOW_MS = 7 * 24 * 3600 * 1000
REPAIR_RECHECK_RUNS = 5
REPAIR_EAGER_MS = 3600 * 1000          # re-read at every poll in a failed run's first hour
REPAIR_RECHECK_LATER_MS = 30 * 60 * 1000  # then at most every 30 minutes
# A run the catalog could not price (a node type or region it lacks) is stored without a cost and
# says why at the end of its message, naming the catalog version tried (`unpriced_note`). Each poll
# prices again the unpriced runs that ended within the re-cost window (`RecostPolicy.give_up_after_ms`)
# and were not tried with this server's catalog version, oldest first, at most this many per project
# (the rest in the next polls): a restart on a refreshed catalog (`trimtab prices update`) prices them.
# One try per run and catalog version. By time, not the newest N: a job every 5 minutes pushed a run
# out of its newest 20 in 100 minutes, well inside the 72 h window.
REPRICE_RUNS_PER_POLL = 200
# The cost note of a run stored before an availability its spec leaves unset was read as the cloud's
# default (`server.spec.default_availability`): its workers were priced on demand where they ran on
# spot (migration 0013 notes such costs with this, and must keep its own copy of the text). Each poll
# prices such runs again from their cluster's events while Databricks keeps them (`EVENTS_KEPT_MS`), at
# most `REPRICE_RUNS_PER_POLL` per project (`Collector._reprice_on_demand`); older ones keep their cost
# and the note. Priced again from the spec and bounds alone, a resized or lossy run would trade one
# error for another, so a run whose cluster is gone keeps its cost, and says so (`ON_DEMAND_KEPT_NOTE`,
# which is not looked for again).
PRICED_ON_DEMAND_NOTE = ("workers priced on demand: stored before Trimtab read an availability the spec leaves "
                         "unset as Databricks' default (SPOT_WITH_FALLBACK on AWS)")
ON_DEMAND_KEPT_NOTE = ("workers priced on demand where Databricks ran them on spot (the spec leaves the "
                       "availability unset): kept, {why}")
EVENTS_KEPT_MS = 30 * 24 * 3600 * 1000  # Databricks keeps a terminated cluster's events for 30 days
# This many jobs failing one after the other with a 5xx while the workspace answers its probe are the
# workspace's trouble, not each job's (`Collector._job_failed`).
JOBS_IN_A_ROW = 3

class Collector:
    def __init__(self, store: Store, gateway_for: GatewayFor, *, clock: Clock,
                 on_run_collected: Callable[[Run], None] | None = None,
                 catalog: PriceCatalog | None = None,
                 bill_source_for: Callable[[Workspace], BillSource | None] | None = None,
                 poll_interval_s: float = 60.0, discovery: AutoImport | None = None,
                 recost_policy: RecostPolicy = DEFAULT_RECOST_POLICY) -> None:
        self._store = store
        self._recost_policy = recost_policy  # when a bill is first asked for (`price_run`)
        self._discovery = discovery  # None: no auto-import (its passes run on this poll thread)
        self._gateway_for = gateway_for
        self._clock = clock
        self._on_run_collected = on_run_collected
        self._catalog = catalog  # None: runs are stored unpriced (costing may price them later)
        self._bill_source_for = bill_source_for
        self._poll_interval_s = poll_interval_s
        # (workspace, job id) -> its failed runs (Databricks run id) -> when to re-read each for a repair (ms)
        self._repair_next: dict[tuple[str, int], dict[int, int]] = {}
        self._look = LookOver()  # which jobs a poll reads in full (`server.collect.look_over`)
        self._handovers = Handovers()  # jobs handed over whose new run-as could not be given READ
        self._reprice_left: set[int] = set()  # projects with runs left to re-price after this poll's share
        self._going_starts: list[int] = []  # starts of the runs going met by this poll's full reads (ms)
        self._lock = threading.Lock()
        self._waiting_apps: dict[str, float] = {}  # application id -> give up at (monotonic s)
        # Applications tied to a run before their end was stored -> give up at (monotonic s).
        self._unended_apps: dict[str, float] = {}
        self._wake = threading.Event()
        self._health = WorkspaceHealth(store, clock, poll_interval_s)
        self._jobs = JobTrouble(clock, poll_interval_s)  # jobs whose own calls fail while their workspace answers
        # Project id -> its newest run (store id) known to have a plan after it: planned by this
        # collector, or looked at by `_plan_unplanned` (at most one try per run and process).
        self._planned_after: dict[int, int] = {}
        self._said_unusable: dict[str, str] = {}  # workspace name -> why its gateway could not be made, logged
        self._stop: threading.Event | None = None  # `run_forever`'s: a poll ends between jobs once set

    # ------------------------------------------------------------ triggers

    def notify_application_end(self, application_id: str) -> None:
        """Called by ingest when an agent reports ApplicationEnd: collect soon (thread-safe)."""
        with self._lock:
            self._waiting_apps[application_id] = self._clock.monotonic() + RECHECK_FOR_S
        self._wake.set()

    def wake(self) -> None:
        """Poll now (and notice a set ``stop`` at once)."""
        self._wake.set()

    def run_forever(self, stop: threading.Event, after_poll: Callable[[], None] | None = None) -> None:
        """Poll until ``stop`` is set (then call `wake`); wakes early on ApplicationEnd. Never raises.

        ``after_poll`` is called after every poll, good or bad (the server counts polls with it).
        """
        self._stop = stop
        while not stop.is_set():
            try:
                self.poll_once()
            except Unavailable as err:  # the database is down: expected, said in one line (no traceback)
                log.warning("collector poll skipped: %s; next try in %.0fs", err, self._poll_interval_s)
            except Exception:  # one bad poll must not end collection
                log.exception("collector poll failed")
            if after_poll is not None:
                after_poll()
            with self._lock:
                timeout = RECHECK_EVERY_S if self._waiting_apps else self._poll_interval_s
            self._wake.wait(timeout)
            self._wake.clear()

    # ------------------------------------------------------------ one poll

    def poll_once(self) -> list[Run]:
        """Collect every finished, not yet stored run of every active project; the new runs.

        Never stops at one workspace: each is polled on its own, an unreachable one rests
        (see the module doc), and anything unexpected is logged and the next one polled.
        """
        collected: list[Run] = []
        for workspace in self._store.workspaces.list():
            if self._stopping():
                break
            if self._health.resting_now(workspace):
                continue
            try:
                collected.extend(self._poll_workspace(workspace))
            except Unavailable as err:  # the database went away mid-poll: one line, as for the whole poll
                log.warning("workspace %s: poll stopped: %s", workspace.name, err)
            except Exception:  # one workspace's bug must not cost every later workspace its poll
                log.exception("workspace %s: poll failed", workspace.name)
        self._forget_collected_apps()
        return collected

    def _poll_workspace(self, workspace: Workspace) -> list[Run]:
        projects = [p for p in self._store.projects.list(workspace.name) if not (p.detached or p.orphaned)]
        discover = self._discovery is not None and self._discovery.due(workspace)
        if not projects and not discover:
            return []
        by_job: dict[int, list[Project]] = {}
        for project in projects:
            by_job.setdefault(project.job_id, []).append(project)
        collected: list[Run] = []
        try:
            gateway = self._gateway_for(workspace)
        except FailedPrecondition as err:  # e.g. a token this server's key cannot decrypt
            if (workspace.status, workspace.last_error) != ("error", str(err)):
                self._store.workspaces.set_status(workspace.name, "error", str(err))
            if self._said_unusable.get(workspace.name) != str(err):  # once per process and message, not every poll
                self._said_unusable[workspace.name] = str(err)
                log.error("workspace %s: %s", workspace.name, err)
            return collected
        self._said_unusable.pop(workspace.name, None)
        if self._health.was_unreachable(workspace) and not self._answers_again(workspace, gateway):
            return collected
        if projects and not self._collect_jobs(workspace, gateway, by_job, collected):
            return collected  # the workspace's trouble is recorded; discovery would only meet it again
        self._plan_unplanned(projects)
        if discover and not self._stopping():
            if projects:  # collection may have set its status: discovery's trouble is judged on the fresh one
                workspace = self._store.workspaces.get(workspace.name)
            self._discover(workspace, gateway, answered=bool(projects))
        return collected

    def _collect_jobs(self, workspace: Workspace, gateway: DatabricksGateway, by_job: dict[int, list[Project]],
                      collected: list[Run]) -> bool:
        """Collect every job's new runs into ``collected``; False when the workspace failed as a whole."""

        def every_job() -> None:
            # One listing of the workspace's jobs and recent runs says which jobs to read in full
            # (`server.collect.look_over`); None: every job (this process's first poll of it).
            started = self._clock.monotonic()
            self._going_starts = []
            listing = self._look_over(workspace, gateway, by_job)
            now_ms = self._clock.now_ms()
            # The failing jobs after the others, and only once their rest is over (`JobTrouble.order`).
            for job_id in self._jobs.order(workspace.name, by_job):
                if self._stopping():  # the server stops: leave between jobs (each job's runs are whole)
                    return
                group = by_job[job_id]
                if listing is not None and self._quiet(workspace, job_id, group, listing, now_ms):
                    listed = listing.settings[job_id]
                    active = self._follow_settings(group, listed.get("settings") or {})
                    self._follow_run_as(workspace, gateway, job_id, active, listed_run_as(listed))
                    row.clear()
                    continue
                try:
                    # Every call made for one job (its settings, its runs, their clusters) retries a 5xx
                    # for a short budget only: one job that keeps failing must not cost each poll a
                    # minute (`server.collect.job_trouble`). 429/503 and no connection keep the whole.
                    with retrying_5xx_for(JOB_5XX_BUDGET_S):
                        collected.extend(self._collect_job(workspace, gateway, job_id, group))
                except DatabricksServerError as err:  # a 5xx answer: maybe the job's own trouble
                    self._job_failed(workspace, gateway, job_id, group, err, row)
                    continue
                except (WorkspaceAuthError, DatabricksUnavailable):
                    raise  # the whole workspace's trouble: every other job would meet it too
                except DatabricksCallError as err:  # one job's trouble must not stop the others
                    log.warning("workspace %s job %s: %s", workspace.name, job_id, err)
                else:
                    self._jobs.answered(workspace.name, job_id)
                row.clear()
            if listing is None:  # every job read in full: from now on, the listings say which to read
                self._first_watermark(workspace, gateway, by_job, self._clock.monotonic() - started)

        row: list[int] = []  # jobs that were not failing before and failed in this poll, one after the other
        if not self._health.reached(workspace, every_job):
            self._jobs.forget(workspace.name, row)  # their failures were the workspace's
            return False
        self._health.answered(workspace)
        self._say_failing_jobs(workspace)
        return True

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
        finished: dict[int, int] = {}
        for run in runs:
            if is_finished(run) and run.get("job_id") is not None:
                job_id = int(run["job_id"])
                finished[job_id] = max(finished.get(job_id, 0), int(run["run_id"]))
        listing = Listing(settings, finished)
        # The jobs this listing shows a new finished run of are due a full read until one succeeds:
        # the watermark moves past their runs now, so a poll that ends before reading them (the
        # workspace failing part-way, a job's call refused, the server stopping) must not leave them
        # to the periodic full read hours later. Their own reads go by their cursors, not the watermark.
        self._look.make_due(name, host, [job_id for job_id, group in by_job.items()
                                         if listing.news(job_id, min(p.last_seen_run_id or 0 for p in group))])
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
        if self._look.due(workspace.name, workspace.host, job_id, now_ms):
            return False
        return not listing.news(job_id, min(p.last_seen_run_id or 0 for p in group))

    def _follow_settings(self, group: list[Project], settings: dict[str, Any]) -> list[Project]:
        """What a full read does with the job's settings, from the listing's: orphan the projects whose
        cluster is gone or taken over, and follow the schedule (a write only when it changed); the
        projects still active."""
        schedule = job_schedule(settings)
        active = self._active(group, settings)
        for project in active:
            if project.schedule == schedule:
                continue
            with project_lock(int(project.id or 0), self._store):
                fresh = self._store.projects.get(int(project.id or 0))
                if fresh.schedule != schedule:
                    self._store.projects.update(dataclasses.replace(fresh, schedule=schedule))
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

    def _active(self, group: list[Project], settings: dict[str, Any]) -> list[Project]:
        """The projects of ``group`` still on their cluster in the job's ``settings``; the others orphaned."""
        active = []
        for project in group:
            live = find_cluster_spec(settings, project.cluster_key)
            if live is None:
                self._orphan(project, f"cluster {project.cluster_key!r} is no longer in the job")
            elif (other := taken_over(project, live)) is not None:
                # Not a user's edit to rebase on: both servers would plan and apply for one job.
                self._orphan(project, other)
            else:
                active.append(project)
        return active

    def _job_failed(self, workspace: Workspace, gateway: DatabricksGateway, job_id: int, group: list[Project],
                    err: DatabricksServerError, row: list[int]) -> None:
        """A job's calls answered a 5xx past their retries: the job's own trouble (it is skipped,
        rests, and the poll goes on: `server.collect.job_trouble`) unless the workspace's.

        The workspace's trouble (raised, so the workspace is recorded unreachable and rests) when
        - a short probe of the workspace (`DatabricksGateway.probe`: ``jobs/list``) fails too: the
          workspace itself does not answer;
        - or `JOBS_IN_A_ROW` jobs that were being collected fail one after the other while the
          probe answers: a jobs or runs service failing for every job (``runs/list`` 500s while
          ``jobs/list`` works). Each such job would cost the poll its short budget in turn, a
          workspace with 1,500 jobs hours; a job that fails alone is rare enough that three in a
          row are not three jobs' troubles. Jobs already failing (tried last, see `JobTrouble.order`)
          neither count nor break a row: their failing again says nothing new."""
        failing_before = self._jobs.is_failing(workspace.name, job_id)
        if not failing_before:
            row.append(job_id)
        gateway.probe()  # WorkspaceAuthError / DatabricksUnavailable: the workspace's, raised as such
        if len(row) >= JOBS_IN_A_ROW:
            raise DatabricksServerError(
                f"jobs {', '.join(map(str, row))} failed one after the other while the workspace answers "
                f"(its jobs or runs service failing?); the last: {err}") from err
        self._jobs.failed(workspace.name, job_id, group[0].job_name, err)

    def _say_failing_jobs(self, workspace: Workspace) -> None:
        """Keep the workspace's ``last_error`` saying which of its jobs are not collected and why
        (`JobTrouble.note`; "" once none), its status ``ok``: `trimtab workspace show` shows it. Written
        only when it changes. ``workspace`` as read at the start of the poll; `WorkspaceHealth.answered`
        has just set a status other than ``ok`` to ``ok`` with no error."""
        note = "; ".join(n for n in (self._jobs.note(workspace.name), self._handovers.note(workspace.name)) if n)
        stored = workspace.last_error if workspace.status == "ok" else ""
        if note == stored or (not note and JOB_NOTE_MARK not in stored and READ_NOTE_MARK not in stored):
            return  # unchanged, or an error that is not this note's (not cleared here)
        self._store.workspaces.set_status(workspace.name, "ok", note, polled_host=workspace.host)

    def _discover(self, workspace: Workspace, gateway: DatabricksGateway, *, answered: bool) -> None:
        """Auto-import's pass (`server.collect.discovery`); ``answered``: collection already reached the workspace."""
        discovery = self._discovery
        assert discovery is not None
        try:
            # Its trouble rests the workspace as a failed collection does: one backoff for both.
            reached = self._health.reached(workspace, lambda: discovery.run(workspace, gateway))
        except Exception:  # discovery's bug must not stop collection: this poll's runs are stored already
            log.exception("workspace %s: auto-import failed; run collection goes on", workspace.name)
            return
        if reached and not answered:  # a workspace with no projects yet answered only here
            self._health.answered(workspace)

    def _stopping(self) -> bool:
        """The server asked `run_forever` to stop: the poll leaves at its next clean point."""
        return self._stop is not None and self._stop.is_set()

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
            with project_lock(project_id, self._store):  # a plan in progress elsewhere finishes first
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

    def _answers_again(self, workspace: Workspace, gateway: DatabricksGateway) -> bool:
        """A resting workspace's try: one cheap call on a short budget (`DatabricksGateway.probe`)
        before the real ones, so a workspace still down costs this poll seconds, not a call's full
        retry budget. False (its trouble recorded) when it still fails."""
        return self._health.reached(workspace, gateway.probe)

    def _collect_job(self, workspace: Workspace, gateway: DatabricksGateway, job_id: int,
                     group: list[Project]) -> list[Run]:
        try:
            job = gateway.get_job(job_id)
        except DatabricksNotFound:
            for project in group:
                self._orphan(project, "the job was deleted")
            return []
        settings = job.get("settings") or {}
        active = self._active(group, settings)
        if not active:
            return []
        self._follow_run_as(workspace, gateway, job_id, active, run_as_principal(job) or None)
        cursor = min(p.last_seen_run_id or 0 for p in active)
        runs = gateway.list_runs(job_id, newer_than_run_id=cursor or None)
        running = [int(r["run_id"]) for r in runs if not is_finished(r)]
        self._going_starts.extend(int(r.get("start_time") or 0) for r in runs if not is_finished(r))
        finished = sorted(int(r["run_id"]) for r in runs if is_finished(r))
        collected = []
        for run_id in finished:
            if all(self._has_run(p, run_id) for p in active):
                continue  # stored by an earlier poll (the cursor waits behind a run still going)
            detail = run_detail(gateway, run_id)
            before = first_attempts(detail)  # a run repaired before this first collection: its first attempt
            for piece in cluster_runs(detail):
                project = next((p for p in active if p.cluster_key == piece.cluster_key), None)
                if project is None or run_id <= (project.last_seen_run_id or 0):
                    continue  # not this project's cluster, or from before it was imported
                first = before.get(piece.cluster_key) if piece.repaired_attempts else None
                with project_lock(int(project.id or 0), self._store):
                    run = self._collect_piece(workspace, gateway, project, piece, first=first)
                if run is not None:
                    collected.append(run)
        repaired, repair_due_ms = self._collect_repairs(workspace, gateway, active, skip=set(finished))
        collected.extend(repaired)
        new_cursor = min(running) - 1 if running else max([cursor, *finished])
        # The job's schedule is followed on every poll (savings count its fire times), so a
        # schedule changed, paused or removed in the workspace shows without a re-import.
        schedule = job_schedule(settings)
        for project in active:
            with project_lock(int(project.id or 0), self._store):
                fresh = self._store.projects.get(int(project.id or 0))
                changes: dict[str, Any] = {}
                if (fresh.last_seen_run_id or 0) < new_cursor:
                    changes["last_seen_run_id"] = new_cursor
                if fresh.schedule != schedule:
                    changes["schedule"] = schedule
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
        self._look.read_in_full(workspace.name, workspace.host, job_id, again)
        return collected

    # ------------------------------------------------------------ repairs

    def _collect_repairs(self, workspace: Workspace, gateway: DatabricksGateway, active: list[Project],
                         skip: set[int]) -> tuple[list[Run], int | None]:
        """The stored failed or canceled runs of these projects (one job's) that a repair has re-run
        since, updated; and when the next of their re-reads is due (ms; None: no failed run kept)."""
        now = self._clock.now_ms()
        since = now - REPAIR_WINDOW_MS
        failed: dict[int, list[Run]] = {}
        for project in active:
            # Every outcome runs/repair accepts (a canceled run is repairable too); not a run whose
            # repair succeeded on another configuration: stored as a failure, it is done in Databricks.
            # Selected by time in the store, not among the newest runs: a job every 5 minutes pushed
            # a failure out of its newest 50 in about 4 hours. The runs this poll just listed are
            # asked for a few more, so they do not take the older ones' places.
            recent = [r for r in self._store.runs.stored_since(int(project.id or 0), REPAIRABLE_OUTCOMES, since,
                                                               REPAIR_RECHECK_RUNS + len(skip),
                                                               without_anomaly=REPAIRED_ELSEWHERE)
                      if r.databricks_run_id not in skip]
            for run in recent[:REPAIR_RECHECK_RUNS]:
                failed.setdefault(run.databricks_run_id, []).append(run)
        # Each re-read is a runs/get: every poll in a run's first hour (a repair usually follows
        # the failure at once), then at most every REPAIR_RECHECK_LATER_MS, so a job that keeps
        # failing does not cost five calls a poll for a week.
        # Kept per job: each job's pass forgets only its own runs no longer failed.
        nexts = self._repair_next.setdefault((workspace.name, active[0].job_id), {})
        due = {run_id: stored for run_id, stored in failed.items()
               if nexts.get(run_id, 0) <= now}
        for run_id, stored in due.items():
            young = now - min(r.created_at_ms for r in stored) < REPAIR_EAGER_MS
            nexts[run_id] = now + (0 if young else REPAIR_RECHECK_LATER_MS)
        for run_id in [k for k in nexts if k not in failed]:
            del nexts[run_id]  # no longer failed, or out of the window
        next_due = min(nexts.values(), default=None)
        updated: list[Run] = []
        for run_id, stored in sorted(due.items()):
            detail = _run_or_none(gateway, run_id)
            if detail is None or not repair_count(detail) or not is_finished(detail):
                continue  # deleted, never repaired, or a repair still going (seen at a later poll)
            pieces = {p.cluster_key: p for p in cluster_runs(detail)}
            for run in stored:
                project = next(p for p in active if p.id == run.project_id)
                piece = pieces.get(project.cluster_key)
                if piece is None or not piece.repaired_attempts or piece.end_ms <= run.end_ms:
                    continue  # the repairs re-ran other clusters' tasks, or are stored already
                # Planned under the lock too, as a new run is (`Planner.replan` relies on it).
                with project_lock(int(project.id or 0), self._store):
                    repaired = self._repaired(workspace, gateway, int(project.id or 0), int(run.id or 0), piece)
                    if repaired is None:
                        continue
                    updated.append(repaired)
                    if self._on_run_collected is not None:  # planned again, as after a new run
                        try:
                            self._on_run_collected(repaired)
                        except Exception:  # planning's trouble must not stop collection (the run is stored)
                            log.exception("on_run_collected failed for repaired run %s", repaired.id)
        return updated, next_due

    def _repaired(self, workspace: Workspace, gateway: DatabricksGateway, project_id: int, stored_id: int,
                  piece: ClusterRun, *, just_stored: bool = False) -> Run | None:
        """The stored run as its repairs left it: its time and cost over every cluster instance its
        tasks ran on (each repair starts new job clusters), and the outcome of its tasks' last attempts
        when the repair ran on the run's configuration.

        Its end is the watermark: a run is updated when its tasks on this cluster key ended later than
        the stored end (no column of its own is needed). Marked ``repaired``, which the models do not
        learn from (its time is several runs', not one: models/observation.py NOT_LEARNED) and which
        excuses no failure. runs/repair starts its clusters from the job's settings at the repair, so:
        - a repair on the run's configuration decides the run's outcome (a repaired success is one of
          the configuration; a repair that failed again stays its failure);
        - a repair on another configuration (an apply between the failure and the repair) says nothing
          of the run's: the run keeps the outcome and labels its first attempt got, and a repaired
          success is marked ``repaired_elsewhere``. It stays the failure of its configuration for every
          reader (the models, savings, the SLA), not only for `models.changes.screen`: the success
          was another configuration's, which has no run of its own here. The message says Databricks
          shows it succeeded.
        - a repair on a spec Trimtab did not write is a user edit, as on any run (`_repair_drift`):
          ``user_edit``, and the project rebases on it, which pauses auto-apply.
        ``just_stored``: the run was repaired before its first collection and its first attempt could not
        be told apart (no cluster of its own on this key): just stored from the last attempts."""
        fresh = self._store.runs.get(stored_id)
        if piece.end_ms <= fresh.end_ms and not just_stored:
            return None  # another poll updated it meanwhile
        project = self._store.projects.get(project_id)  # fresh: the first attempt's collection may have rebased it
        costs: list[CostBreakdown | None] = []
        unpriced = ""  # why a cluster of the run could not be priced (its note), "" when none
        apps = list(fresh.application_ids)
        last: tuple[Mapping[str, Any] | None, ClusterTimeline, AgentData] | None = None
        for instance in piece.instances:
            part = self._instance_priced(workspace, gateway, piece, instance)
            cluster_id = instance[0]
            context = piece.spark_context_id if cluster_id == piece.cluster_id else ""
            agent = self._agent_data(dataclasses.replace(piece, cluster_id=cluster_id, spark_context_id=context),
                                     workspace.name)
            apps.extend(a.application_id for a in agent.applications if a.application_id not in apps)
            costs.append(part.cost)
            unpriced = unpriced or part.why
            if cluster_id == piece.cluster_id:
                last = (part.cluster, part.timeline, agent)
        if last is None:  # the last attempts got no cluster (refused): judged without one
            last = (None, cluster_timeline(piece.spec, [], fallback_start_ms=piece.start_ms,
                                           fallback_end_ms=piece.end_ms, driver_is_spot=None,
                                           cloud=workspace.cloud), AgentData())
        judged, _ = build_run(project, piece, cluster=last[0], timeline=last[1], agent=last[2], history=[],
                              expected=Expected({}, None), cloud=workspace.cloud)
        # The repair's spec: its last cluster's own (the job's settings when it was repaired).
        repair_spec = dict((last[0] or {}).get("spec") or {}) or piece.spec
        repair_config = config_from_spec(with_pool_node_types(repair_spec, last[0]), cloud=workspace.cloud)
        elsewhere = fresh.config is not None and bool(repair_spec) and \
            dataclasses.replace(fresh.config, spec={}) != dataclasses.replace(repair_config, spec={})
        drift = _repair_drift(project, fresh.databricks_run_id, repair_spec)
        # Its runtime is the clusters' time, not the span from the first attempt to the repair's end
        # (the wait between them cost nothing): still not one run's time, hence not learned.
        runtime_s = sum(max(0, end - start) for _, start, end in piece.instances) / 1000.0 or piece.runtime_s
        edit = ["user_edit"] if drift else []
        if elsewhere:
            outcome = fresh.outcome if judged.outcome == "succeeded" else judged.outcome
            labels = [*fresh.anomalies, REPAIRED, *([REPAIRED_ELSEWHERE] if judged.outcome == "succeeded" else []),
                      *edit]
            first_words = without_unpriced_note(fresh.message) if judged.outcome == "succeeded" else judged.message
            failed_on = config_label(fresh.config) if fresh.config else "its configuration"
            note = (f"repaired: failed tasks ran again on new clusters of another configuration "
                    f"({config_label(repair_config)}) and {judged.outcome}; kept as a failure of "
                    f"{failed_on}, the configuration it failed on")
        else:
            # The original attempt's spot loss, growth and user edit stay (savings and the edit hold
            # read user_edit). A repair that failed again stays a failure (the configuration is avoided).
            outcome = judged.outcome
            kept = [a for a in fresh.anomalies if a in ("spot_loss", "data_growth", "user_edit")]
            labels = [*judged.anomalies, *kept, REPAIRED, *edit]
            first_words = judged.message
            note = "repaired: failed tasks ran again on new clusters"
        message = _with_retries(cut(_joined(first_words, note), MESSAGE_CHARS, on_word=True),
                                piece.retried_attempts)
        cost = _summed(costs, fresh.input_bytes, "repaired", [i[0] for i in piece.instances])
        if cost is None and fresh.cost is None:  # still unpriced: the note says why, as at collection
            message = with_unpriced_note(message, unpriced or unpriced_reason(fresh.message))
        setup_s = fresh.setup_s if fresh.setup_s is not None and fresh.setup_s <= runtime_s else None
        updated = dataclasses.replace(
            fresh, cluster_id=piece.cluster_id or fresh.cluster_id, start_ms=min(fresh.start_ms, piece.start_ms),
            end_ms=piece.end_ms, runtime_s=runtime_s, outcome=outcome, anomalies=tuple(dict.fromkeys(labels)),
            application_ids=tuple(apps), cost=cost if cost is not None else fresh.cost, setup_s=setup_s,
            message=message)
        log.info("run %s (Databricks run %s) repaired: now %s%s", fresh.id, piece.run_id, outcome,
                 " (its repair ran on another configuration)" if elsewhere else "")
        stored = self._store.runs.update(updated)
        if drift:
            log.warning("project %s: run %s was repaired on a cluster edited outside Trimtab (%s); rebasing on it",
                        project.name, piece.run_id, ", ".join(drift))
            rebase(self._store, project, repair_spec, drift, edit_run_id=fresh.databricks_run_id)
        return stored

    def _instance_priced(self, workspace: Workspace, gateway: DatabricksGateway, piece: ClusterRun,
                         instance: tuple[str, int, int], input_bytes: int | None = None, *,
                         read_bill: bool = True) -> _PricedInstance:
        """One cluster instance the piece's tasks ran on (a retry's or a repair's new job cluster),
        read and priced on its own: each cluster as it ran, on its own spec (the job's settings may
        have changed between a failure and its repair, which started its clusters from the new ones)."""
        cluster_id, start_ms, end_ms = instance
        cluster = _cluster_or_none(gateway, cluster_id)
        events = cluster_events_or_none(gateway, cluster_id) if cluster is not None else None
        own = dict((cluster or {}).get("spec") or {}) or piece.spec
        ran = with_pool_node_types(own, cluster, pools_of(gateway, own))
        timeline = cluster_timeline(ran, events or [], fallback_start_ms=start_ms, fallback_end_ms=end_ms,
                                    driver_is_spot=_driver_spot(cluster), cloud=workspace.cloud)
        cost, why = self._priced(workspace, cluster_id, timeline, ran, input_bytes, read_bill=read_bill)
        return _PricedInstance(cluster, timeline, cost, why)

    def _has_run(self, project: Project, run_id: int) -> bool:
        return run_id <= (project.last_seen_run_id or 0) or \
            self._store.runs.get_by_databricks_run(int(project.id or 0), run_id) is not None

    def _collect_piece(self, workspace: Workspace, gateway: DatabricksGateway, project: Project,
                       piece: ClusterRun, *, first: ClusterRun | None = None) -> Run | None:
        """Store one piece of a finished run. ``first``: the piece was repaired before this first
        collection, and this is its first attempt (`first_attempts`): the run is stored as that attempt
        left it, on its configuration (the one that failed), and then updated with its repairs as a
        run repaired after its collection is (`_repaired`)."""
        project = self._store.projects.get(int(project.id or 0))  # fresh: an earlier piece may have rebased it
        if self._store.runs.get_by_databricks_run(int(project.id or 0), piece.run_id) is not None:
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
                                     pools=pools_of(gateway, spec) if launched else None)
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
            parts = [self._instance_priced(workspace, gateway, piece, i) for i in earlier]
            cost = _summed([*(p.cost for p in parts), cost], run.input_bytes, "a task retried on a new cluster",
                           [*(i[0] for i in earlier), piece.cluster_id])
            unpriced = unpriced or next((p.why for p in parts if p.why), "")
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
        return stored

    def _plan_after(self, run: Run, what: str) -> None:
        """Plan the run's project after it (``on_run_collected``; its trouble logged, never raised: the
        run is stored) and remember it was, so `_plan_unplanned` need not look. ``what``: for the log."""
        if self._on_run_collected is None:
            return
        try:
            self._on_run_collected(run)
        except Exception:  # planning's trouble must not stop collection (the run is stored)
            log.exception("on_run_collected failed for %s %s", what, run.id)
        # Tried: a plan reads the whole history, and a failed one is kept on the project.
        self._planned_after[run.project_id] = max(int(run.id or 0), self._planned_after.get(run.project_id, 0))

    # ------------------------------------------------------------ runs not priced

    def _reprice(self, workspace: Workspace, gateway: DatabricksGateway, active: list[Project]) -> list[Run]:
        """Price again the recent runs stored without a cost that this catalog has not tried (see
        `REPRICE_RUNS_PER_POLL`); the ones priced now. A run still not priced keeps why, with this
        catalog's version, so it is not tried again until the catalog changes."""
        if self._catalog is None:
            return []
        since = self._clock.now_ms() - self._recost_policy.give_up_after_ms
        tried = unpriced_note(self._catalog.version, "")
        priced: list[Run] = []
        for project in active:
            unpriced = self._store.runs.unpriced_since(int(project.id or 0), since, tried, REPRICE_RUNS_PER_POLL)
            if len(unpriced) >= REPRICE_RUNS_PER_POLL:
                self._reprice_left.add(int(project.id or 0))  # the rest at the next poll
            for run in unpriced:
                if run.cost is not None or not run.cluster_id or run.end_ms < since or REPAIRED in run.anomalies \
                        or unpriced_reason(run.message).startswith(tried):
                    continue  # priced; never launched; past the window; several clusters'; tried with this catalog
                with project_lock(int(project.id or 0), self._store):
                    fresh = self._store.runs.get(int(run.id or 0))
                    if fresh.cost is not None or fresh.end_ms != run.end_ms:
                        continue  # priced or repaired meanwhile
                    cost, why = self._stored_run_priced(workspace, gateway, project, fresh)
                    if cost is None:
                        self._store.runs.update(dataclasses.replace(
                            fresh, message=with_unpriced_note(fresh.message, why)))
                        continue
                    stored = self._store.runs.update(dataclasses.replace(
                        fresh, cost=cost, message=without_unpriced_note(fresh.message)))
                    log.info("run %s priced with catalog %s: %.2f %s", stored.id, self._catalog.version,
                             cost.total, cost.currency)
                    priced.append(stored)
            # Planned again with the costs once per project, after its newest re-priced run: planning
            # reads the whole history, and once per run made up to 200 plans (and recommendations
            # superseding each other) in one poll after a catalog update.
            newest = max((r for r in priced if r.project_id == project.id), key=lambda r: r.id or 0, default=None)
            if newest is not None and self._on_run_collected is not None:
                with project_lock(int(project.id or 0), self._store):
                    self._plan_after(newest, "re-priced run")
        return priced

    def _reprice_on_demand(self, workspace: Workspace, gateway: DatabricksGateway, active: list[Project]) -> list[Run]:
        """Price again, from their cluster's events, the runs whose cost still says their workers were
        priced on demand (`PRICED_ON_DEMAND_NOTE`) and that ended while Databricks keeps the events; the
        ones priced now. One whose cluster is gone keeps its cost, noted so, and is not looked at again.
        The project is planned again after its newest, as `_reprice` does."""
        if self._catalog is None:
            return []
        since = self._clock.now_ms() - EVENTS_KEPT_MS
        priced: list[Run] = []
        for project in active:
            pid = int(project.id or 0)
            noted = self._store.runs.cost_noted_since(pid, since, PRICED_ON_DEMAND_NOTE, REPRICE_RUNS_PER_POLL)
            if len(noted) >= REPRICE_RUNS_PER_POLL:
                self._reprice_left.add(pid)  # the rest at the next poll
            for run in noted:
                if REPAIRED in run.anomalies:
                    continue  # several clusters' sum, which re-pricing one cannot replace (`_reprice`)
                with project_lock(pid, self._store):
                    fresh = self._store.runs.get(int(run.id or 0))
                    if fresh.cost is None or PRICED_ON_DEMAND_NOTE not in fresh.cost.note:
                        continue  # priced meanwhile
                    held = _cluster_or_none(gateway, fresh.cluster_id) is not None and \
                        cluster_events_or_none(gateway, fresh.cluster_id) is not None
                    # A bill already read is kept (`_keeping_bill`): only the estimate is priced again,
                    # and the cloud is not asked. Asked again, a bill it could not answer then (throttled,
                    # credentials removed) replaced the bill with the estimate for good: the run is past
                    # the re-cost window, which never looks again.
                    # A bill not final yet is asked for again (it may be final now), and kept if the
                    # answer is weaker.
                    billed = fresh.cost.source == "billed"
                    cost, why = self._stored_run_priced(workspace, gateway, project, fresh, read_bill=not billed) \
                        if held else (None, "")
                    if cost is not None and _strength(cost) < _strength(fresh.cost):
                        cost = _keeping_bill(fresh.cost, cost, fresh.input_bytes)
                    if cost is None:
                        kept = ON_DEMAND_KEPT_NOTE.format(
                            why=why or "Databricks no longer holds the cluster's events to price them again")
                        self._store.runs.set_cost(int(fresh.id or 0), dataclasses.replace(
                            fresh.cost, note=fresh.cost.note.replace(PRICED_ON_DEMAND_NOTE, kept)))
                        continue
                    stored = self._store.runs.set_cost(int(fresh.id or 0), cost)
                    log.info("run %s priced again with its workers' availability: %.2f -> %.2f %s", stored.id,
                             fresh.cost.total, cost.total, cost.currency)
                    priced.append(stored)
            newest = max((r for r in priced if r.project_id == pid), key=lambda r: r.id or 0, default=None)
            if newest is not None and self._on_run_collected is not None:
                with project_lock(pid, self._store):
                    self._plan_after(newest, "re-priced run")
        return priced

    def _stored_run_priced(self, workspace: Workspace, gateway: DatabricksGateway, project: Project,
                           run: Run, *, read_bill: bool = True) -> tuple[CostBreakdown | None, str]:
        """A stored run priced again (`_reprice`), over every cluster its tasks ran on when a task was
        retried on a new job cluster (the run stores the last cluster's id only: the others are read
        from runs/get, as at collection). ``read_bill`` False: from the catalog alone (`_priced`)."""
        piece = None
        if "retried" in run.anomalies:
            detail = _run_or_none(gateway, run.databricks_run_id)
            piece = next((p for p in cluster_runs(detail) if p.cluster_key == project.cluster_key), None) \
                if detail is not None else None
        if piece is None or len(piece.instances) < 2:
            timeline, spec = _stored_timeline(gateway, run, workspace.cloud)
            return self._priced(workspace, run.cluster_id, timeline, spec, run.input_bytes, read_bill=read_bill)
        parts = [self._instance_priced(workspace, gateway, piece, i,
                                       run.input_bytes if i[0] == run.cluster_id else None, read_bill=read_bill)
                 for i in piece.instances]
        return (_summed([p.cost for p in parts], run.input_bytes, "a task retried on a new cluster",
                        [i[0] for i in piece.instances]),
                next((p.why for p in parts if p.why), ""))

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

    def _orphan(self, project: Project, why: str) -> None:
        log.warning("project %s orphaned: %s", project.name, why)
        with project_lock(int(project.id or 0), self._store):
            fresh = self._store.projects.get(int(project.id or 0))
            state = {**fresh.state, "orphaned_reason": why}
            self._store.projects.update(dataclasses.replace(fresh, orphaned=True, state=state))

    # ------------------------------------------------------------ joins

    def _agent_data(self, piece: ClusterRun, workspace: str) -> AgentData:
        found = self._store.applications.list(limit=100, cluster_id=piece.cluster_id, sent_for=workspace)
        apps = matching_applications(found, piece, workspace)
        stages = [s for a in apps for s in self._store.applications.stages(a.application_id)]
        executors = [e for a in apps for e in self._store.applications.executors(a.application_id)]
        return AgentData(tuple(apps), tuple(stages), tuple(executors))

    def _cost(self, workspace: Workspace, cluster_id: str, timeline: ClusterTimeline, spec: dict[str, Any],
              input_bytes: int | None) -> CostBreakdown | None:
        return self._priced(workspace, cluster_id, timeline, spec, input_bytes)[0]

    def _priced(self, workspace: Workspace, cluster_id: str, timeline: ClusterTimeline, spec: dict[str, Any],
                input_bytes: int | None, *, read_bill: bool = True) -> tuple[CostBreakdown | None, str]:
        """The run's cost, or None and why it could not be priced (the run's note: `unpriced_note`;
        "" without a catalog, where nothing was tried). ``read_bill`` False: the catalog estimate
        alone, the cloud bill not asked for (a stored bill is kept: `_keeping_bill`)."""
        if self._catalog is None:
            return None, ""
        bills = self._bill_source_for(workspace) if self._bill_source_for is not None and read_bill else None
        try:
            usage = cluster_usage(timeline, spec, cloud=workspace.cloud,
                                  region=workspace.pricing_region,
                                  plan=workspace.plan, input_bytes=input_bytes)
            return price_run(usage, self._catalog, cluster_id=cluster_id, start_ms=timeline.start_ms,
                             end_ms=timeline.end_ms, bill_source=bills, now_ms=self._clock.now_ms(),
                             policy=self._recost_policy), ""
        except TrimtabCostError as err:  # e.g. a node type the catalog lacks: stored unpriced, said why
            log.warning("run on cluster %s not priced: %s", cluster_id, err)
            return None, unpriced_note(self._catalog.version, err.message)

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
        with project_lock(run.project_id, self._store):
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


# What a run whose cluster Databricks no longer holds is priced on: its spec over its run's bounds.
GONE_NOTE = ("the cluster no longer exists in the workspace (purged): priced from the run's spec over "
             "its start and end, without the cluster's events")
# A cluster gone from clusters/events: 400 INVALID_PARAMETER_VALUE "Cluster <id> does not exist"
# (databricks-sdk maps that message to ResourceDoesNotExist on clusters/get only, so here it comes
# as a rejected request rather than DatabricksNotFound).
_CLUSTER_MISSING = re.compile(r"Cluster \S+ does not exist")


def cluster_events_or_none(gateway: DatabricksGateway, cluster_id: str) -> list[dict[str, Any]] | None:
    """Every event of the cluster; None when the workspace no longer knows the cluster."""
    try:
        return gateway.cluster_events(cluster_id)
    except DatabricksNotFound:
        return None
    except DatabricksRejected as err:
        if _CLUSTER_MISSING.search(str(err)):
            return None
        raise


def run_timeline(spec: Mapping[str, Any], cluster: Mapping[str, Any] | None,
                 events: list[dict[str, Any]] | None, start_ms: int,
                 end_ms: int, *, cloud: str = "",
                 pools: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[dict[str, Any], ClusterTimeline]:
    """What a run's cluster ran (its spec with a pool's node types filled in from ``clusters/get``)
    and its node-by-node timeline from ``clusters/events``, with the run's bounds where the events
    lack them (no events: the cluster is gone, its spec's size throughout). One rule for a run's
    usage, the collector's and a backfill's (`server.backfill.runs`), so the same cluster run is
    the same price whichever stored it. ``pools``: the spec's pools (`pools_of`), whose disks its
    nodes carry."""
    ran = with_pool_node_types(spec, cluster, pools)
    return ran, cluster_timeline(ran, events or [], fallback_start_ms=start_ms, fallback_end_ms=end_ms,
                                 driver_is_spot=_driver_spot(cluster), cloud=cloud)


def pools_of(gateway: DatabricksGateway, spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The pool the spec's workers come from, by id (``instance-pools/get``), for its ``disk_spec``
    (`with_pool_node_types`); empty off a pool or when the workspace no longer answers for it (its
    disks are then not priced)."""
    pool_id = str(spec.get("instance_pool_id") or "")
    pool = call_or_none(lambda: gateway.get_instance_pool(pool_id)) if pool_id else None
    return {pool_id: pool} if pool else {}


def _repair_drift(project: Project, run_id: int, repair_spec: Mapping[str, Any]) -> list[str]:
    """The spec paths a repair's clusters ran with that Trimtab did not write (empty: none), as
    `build_run` judges any run against `expected_spec`. A repair uses the job's settings when it
    was repaired, which is after the run: the spec Trimtab holds now (``current_spec``), or, when
    Trimtab applied after the run had started, possibly still the spec before that apply (the
    repair may have come first); a hand edit differs from both."""
    if not repair_spec:
        return []
    pending = project.pending_apply or {}
    written = [dict(project.current_spec)]
    ran, _ = started_before(pending)
    if ran is not None and run_id <= int(pending.get("applied_after_run_id") or 0):
        written.append(ran)
    drifts = [spec_drift(repair_spec, spec) for spec in written if spec]
    return [] if not drifts or not all(drifts) else min(drifts, key=len)


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def _with_retries(message: str, retried: int) -> str:
    """The run's message, saying how many task attempts failed and were retried (the run's time
    includes them; the outcome is the last attempts')."""
    if not retried:
        return message
    note = f"{retried} task attempt{'s' if retried > 1 else ''} failed and {'were' if retried > 1 else 'was'} retried"
    return cut(_joined(message, note), MESSAGE_CHARS, on_word=True)


# Said at the end of the message of a run the catalog could not price (the dashboard and
# `trimtab run show` show the message beside "not priced"), with the catalog version tried.
UNPRICED_MARK = "not priced with catalog "


def unpriced_note(catalog_version: str, why: str) -> str:
    """What a run the catalog ``catalog_version`` could not price says of it."""
    return f"{UNPRICED_MARK}{catalog_version}: {why}"


def unpriced_reason(message: str) -> str:
    """The not-priced note at the end of a run's message (`unpriced_note`), "" when it has none."""
    at = message.rfind(UNPRICED_MARK)
    return message[at:] if at >= 0 else ""


def without_unpriced_note(message: str) -> str:
    """The run's message without its not-priced note (the run is priced now)."""
    at = message.rfind(UNPRICED_MARK)
    return message if at < 0 else message[:at].rstrip().removesuffix(";")


def with_unpriced_note(message: str, note: str) -> str:
    """The run's message ending with ``note`` (in place of an older one); unchanged for no note. The
    message before it is cut to leave the note whole: its catalog version decides when to try again."""
    if not note:
        return message
    room = MESSAGE_CHARS - len(note) - 2
    if room <= 0:
        return cut(note, MESSAGE_CHARS, on_word=True)
    return _joined(cut(without_unpriced_note(message), room, on_word=True), note)


def _stored_timeline(gateway: DatabricksGateway, run: Run, cloud: str) -> tuple[ClusterTimeline, dict[str, Any]]:
    """A stored run's cluster timeline and spec, read again from its cluster (`run_usage`): from the
    run's spec and bounds alone once Databricks no longer holds the cluster. ``cloud``: the workspace's
    (`server.spec.default_availability`)."""
    cluster = call_or_none(lambda: gateway.get_cluster(run.cluster_id)) if run.cluster_id else None
    events = (cluster_events_or_none(gateway, run.cluster_id) or []) if cluster else []
    spec = (run.config.spec if run.config and run.config.spec else dict((cluster or {}).get("spec") or {}))
    spec = with_pool_disks(spec, pools_of(gateway, spec))
    timeline = cluster_timeline(spec, events, fallback_start_ms=run.start_ms, fallback_end_ms=run.end_ms,
                                driver_is_spot=_driver_spot(cluster), cloud=cloud)
    return timeline, spec


def run_detail(gateway: DatabricksGateway, run_id: int) -> dict[str, Any]:
    """runs/get of a run, each for-each task in it replaced by its iterations (`with_iterations`).

    A for-each task's iterations are not in the job run's answer: only runs/get of the for-each
    task's own run lists them (``iterations``, paged by the gateway), so without this read a job whose
    cluster runs only for-each iterations would never show a run. A for-each task run Databricks no
    longer answers for is left as it is (its cluster unknown: no piece, as before)."""
    detail = gateway.get_run(run_id)
    found: dict[int, list[dict[str, Any]]] = {}
    for task_run_id in for_each_run_ids(detail):
        task_run = call_or_none(lambda t=task_run_id: gateway.get_run(t))
        if task_run is not None:
            found[task_run_id] = list(task_run.get("iterations") or [])
    return with_iterations(detail, found) if found else detail


def _run_or_none(gateway: DatabricksGateway, run_id: int) -> dict[str, Any] | None:
    return call_or_none(lambda: run_detail(gateway, run_id))


def _cluster_or_none(gateway: DatabricksGateway, cluster_id: str) -> dict[str, Any] | None:
    return call_or_none(lambda: gateway.get_cluster(cluster_id))


@dataclasses.dataclass(frozen=True)
class _PricedInstance:
    """One cluster instance of a run, read and priced (`Collector._instance_priced`)."""

    cluster: Mapping[str, Any] | None
    timeline: ClusterTimeline
    cost: CostBreakdown | None
    why: str  # why it could not be priced (`unpriced_note`), "" when priced or nothing was tried


def _summed(costs: list[CostBreakdown | None], input_bytes: int | None, why: str,
            clusters: list[str] | None = None) -> CostBreakdown | None:
    """One run's cost over its cluster instances (a repaired run's original and repair clusters, a
    retried task's clusters; ``why`` says which; ``clusters``: their ids, in the order of ``costs``);
    None when any of them could not be priced (no catalog, or a node type it lacks). Its note says it
    is summed, which keeps re-costing from replacing it with one cluster's bill
    (`server.costing.recost.over_several_clusters`).

    Billed only when every cluster's whole bill was read: DBUs plus the bills, each part's estimate
    beside. Otherwise the sum of every part's estimate (DBU + compute + storage), whatever bills some
    clusters had: a bill for one cluster added to another's estimate is neither, and its parts would
    not add up to its total. The note names the clusters whose bill was read, and its amount."""
    if not costs or any(c is None for c in costs):
        return None
    parts = [c for c in costs if c is not None]
    names = list(clusters or [])
    names += [f"#{i + 1}" for i in range(len(names), len(parts))]
    dbu = sum(c.dbu_cost for c in parts)
    compute = sum(c.compute_cost for c in parts)
    storage = sum(c.storage_cost for c in parts)
    billed_all = all(c.source == "billed" and c.billed_cloud_cost is not None for c in parts)
    if billed_all:
        billed_cloud: float | None = sum(float(c.billed_cloud_cost or 0.0) for c in parts)
        total = dbu + float(billed_cloud or 0.0)
        notes = [c.note for c in parts if c.note]
    else:
        billed_cloud = None
        total = dbu + compute + storage
        # A billed part's note says its compute and storage came from its bill: not so in this sum.
        notes = [c.note for c in parts if c.note and c.billed_cloud_cost is None]
        read = [f"{name} {c.billed_cloud_cost:.2f} {c.currency} ({'final' if c.source == 'billed' else 'not final'}, "
                f"its estimate {c.compute_cost + c.storage_cost:.2f})"
                for name, c in zip(names, parts, strict=True) if c.billed_cloud_cost is not None]
        if read:
            notes.append(f"the cloud bill of cluster {', '.join(read)} was read but not of every cluster: "
                         "compute and storage are the estimates of all")
    return CostBreakdown(
        dbu_cost=dbu, compute_cost=compute, storage_cost=storage, total=total, dbus=sum(c.dbus for c in parts),
        currency=parts[0].currency,
        source="billed" if billed_all else "estimate",
        billed_cloud_cost=billed_cloud,
        cost_per_input_gb=total / (input_bytes / 1e9) if input_bytes else None,
        used_by_models="billed" if billed_all else "estimate",
        note=_joined("; ".join(dict.fromkeys(notes)), several_clusters_note(len(parts), why, billed=billed_all)))


def _strength(cost: CostBreakdown) -> int:
    """How much of ``cost`` the cloud bill gave: 2 a final bill, 1 a bill beside the estimate, 0 none."""
    if cost.source == "billed":
        return 2
    return 1 if cost.billed_cloud_cost is not None else 0


def _keeping_bill(stored: CostBreakdown, estimate: CostBreakdown, input_bytes: int | None) -> CostBreakdown:
    """``estimate`` (a stored run priced again from the catalog alone) with ``stored``'s cloud bill kept:
    a cost is never replaced by one of a weaker source. A final bill stays the run's compute and
    storage (total = DBUs + bill, billed); a bill not final yet stays beside the new estimate. Only
    the estimate parts (DBU, compute, storage) are new; the note says what they were and are."""
    bill = float(stored.billed_cloud_cost or 0.0)
    final = stored.source == "billed"
    was, now = stored.compute_cost + stored.storage_cost, estimate.compute_cost + estimate.storage_cost
    total = estimate.dbu_cost + (bill if final else now)
    said = (f"compute+storage estimate priced again with the workers' availability: {was:.2f} -> {now:.2f} "
            f"{estimate.currency}; the cloud bill read before ({bill:.2f}) kept")
    note = stored.note.replace(PRICED_ON_DEMAND_NOTE, said) if PRICED_ON_DEMAND_NOTE in stored.note \
        else _joined(stored.note, said)
    return dataclasses.replace(
        estimate, total=total, source=stored.source, billed_cloud_cost=stored.billed_cloud_cost,
        used_by_models=stored.used_by_models, cost_per_input_gb=total / (input_bytes / 1e9) if input_bytes else None,
        note=note, window_start_ms=stored.window_start_ms or estimate.window_start_ms,
        window_end_ms=stored.window_end_ms or estimate.window_end_ms)


def _driver_spot(cluster: Mapping[str, Any] | None) -> bool | None:
    attrs = ((cluster or {}).get("driver") or {}).get("node_aws_attributes") or {}
    return bool(attrs["is_spot"]) if "is_spot" in attrs else None


def run_usage(gateway: DatabricksGateway, workspace: Workspace, run: Run) -> ClusterUsage:
    """A stored run's node-by-node usage, rebuilt from its cluster (for re-costing when a bill lands).

    Databricks keeps a terminated cluster's events for 30 days; after that the
    usage is rebuilt from the run's spec and bounds alone (the spec's size throughout).
    """
    timeline, spec = _stored_timeline(gateway, run, workspace.cloud)
    return cluster_usage(timeline, spec, cloud=workspace.cloud,
                         region=workspace.pricing_region,
                         plan=workspace.plan, input_bytes=run.input_bytes)
