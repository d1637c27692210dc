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
probe fails too, or when several jobs fail one after the other (`Collector._job_failed`). A 403 on
one job's calls while the token works (`DatabricksPermissionDenied`: its permissions changed after
the import) is that job's trouble the same way, named with the permission it needs.

After its runs are collected, a workspace that answered has the auto-applies that failed for a
passing reason (a 5xx on ``jobs/update``) and are due tried again (`RetriesApplies`, the planner's:
`server.plan.apply_retry`), so a blip does not leave the job's next run on the old cluster.

A workspace with auto-import on also has its new jobs imported (`server.collect.discovery`),
in the same poll and after its runs are collected, so a resting workspace is not tried by
discovery either. A token refused or a workspace unreachable there is recorded as for
collection; any other failure of discovery is logged and costs no run.

The collector's parts, each a module of its own (this one polls; every name callers and tests
import from `server.collect.collector` still imports from here; each constant is read in the module
that defines it, so a test that patches one patches it there):
- `server.collect.listings`: a poll's listings of a workspace and what they do for a quiet job.
- `server.collect.job_collect`: one job's collection, run by run, and the runs left unplanned.
- `server.collect.repairs`: the runs a repair re-ran after their collection.
- `server.collect.pricing` and `server.collect.reprice`: a run priced, and priced again later.
- `server.collect.late_data`: the agent's data joined to runs, at collection and after.
- `server.collect.cluster_reads` and `server.collect.run_notes`: reads of a run's clusters, and
  the notes a run's message and cost carry (shared with a backfill).
- `server.collect.poll_record`: a poll that worked, stored for a restart; its failed write fails no poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from server.clock import Clock
from server.collect.cluster_reads import cluster_events_or_none as cluster_events_or_none
from server.collect.cluster_reads import pools_of as pools_of
from server.collect.cluster_reads import run_detail as run_detail
from server.collect.cluster_reads import run_timeline as run_timeline
from server.collect.cluster_reads import run_usage as run_usage
from server.collect.discovery import AutoImport
from server.collect.health import WorkspaceHealth
from server.collect.job_collect import JobCollection
from server.collect.job_trouble import JOB_5XX_BUDGET_S, JOB_NOTE_MARK, JobTrouble
from server.collect.late_data import RECENT_RUNS as RECENT_RUNS
from server.collect.late_data import UNENDED_WATCH_S as UNENDED_WATCH_S
from server.collect.late_data import LateAgentData
from server.collect.listings import Listings
from server.collect.locked_projects import COLLECT_LOCK_WAIT_S, LOCK_NOTE_MARK, LockedProjects, PartlyLocked
from server.collect.look_over import READ_NOTE_MARK, Handovers, Listing, LookOver, listed_run_as
from server.collect.outcome_log import UnrunLog
from server.collect.own_script_note import OwnScriptFailures
from server.collect.poll_record import POLL_RECORD_EVERY_S as POLL_RECORD_EVERY_S
from server.collect.poll_record import PollRecords
from server.collect.pricing import Pricing
from server.collect.pricing import _summed as _summed  # re-exported: tests import it from here
from server.collect.repairs import REPAIR_EAGER_MS as REPAIR_EAGER_MS
from server.collect.repairs import REPAIR_RECHECK_LATER_MS as REPAIR_RECHECK_LATER_MS
from server.collect.repairs import REPAIR_RECHECK_RUNS as REPAIR_RECHECK_RUNS
from server.collect.repairs import REPAIR_WINDOW_MS as REPAIR_WINDOW_MS
from server.collect.repairs import Repairs
from server.collect.reprice import EVENTS_KEPT_MS as EVENTS_KEPT_MS
from server.collect.reprice import ON_DEMAND_KEPT_NOTE as ON_DEMAND_KEPT_NOTE
from server.collect.reprice import PRICED_ON_DEMAND_NOTE as PRICED_ON_DEMAND_NOTE
from server.collect.reprice import REPRICE_RUNS_PER_POLL as REPRICE_RUNS_PER_POLL
from server.collect.reprice import Repricing
from server.collect.run_notes import GONE_NOTE as GONE_NOTE
from server.collect.run_notes import UNPRICED_MARK as UNPRICED_MARK
from server.collect.run_notes import unpriced_note as unpriced_note
from server.collect.run_notes import unpriced_reason as unpriced_reason
from server.collect.run_notes import with_unpriced_note as with_unpriced_note
from server.collect.run_notes import without_unpriced_note as without_unpriced_note
from server.costing.billing import DEFAULT_RECOST_POLICY, BillSource, RecostPolicy
from server.costing.catalog import PriceCatalog
from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksServerError,
    DatabricksUnavailable,
    WorkspaceAuthError,
    retrying_5xx_for,
)
from server.databricks.call_stop import CallStopped, calls_end_on, calls_run_through
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import Project, Run, Workspace
from server.errors import FailedPrecondition, Unavailable
from server.log_context import log_context
from server.render.workspace_text import OWN_SCRIPT_NOTE_MARK
from server.store import Store, locks, storable_text
from server.store.locks import LockedElsewhere
from server.write_intent import intent_of

log = logging.getLogger(__name__)

GatewayFor = Callable[[Workspace], DatabricksGateway]


@runtime_checkable
class RetriesApplies(Protocol):
    """An ``on_run_collected`` that also tries failed auto-applies again at each poll
    (`server.plan.planner.Planner`, `server.plan.apply_retry`)."""

    def retry_applies(self, projects: Sequence[Project]) -> None: ...


# After an ApplicationEnd the run may still be terminating: look again this often, this long.
RECHECK_EVERY_S = 5.0
RECHECK_FOR_S = 600.0
# This many jobs failing one after the other with a 5xx while the workspace answers its probe are the
# workspace's trouble, not each job's (`Collector._job_failed`).
JOBS_IN_A_ROW = 3


class Collector(Listings, JobCollection, Repairs, Pricing, Repricing, LateAgentData):
    def __init__(self, store: Store, gateway_for: GatewayFor, *, clock: Clock,
                 on_run_collected: Callable[[Run], None] | None = None,
                 catalog: PriceCatalog | None = None,
                 bill_source_for: Callable[[Workspace], BillSource | None] | None = None,
                 poll_interval_s: float = 60.0, discovery: AutoImport | None = None,
                 recost_policy: RecostPolicy = DEFAULT_RECOST_POLICY,
                 on_workspace_polled: Callable[[str, bool], None] | None = None) -> None:
        self._store = store
        self._on_workspace_polled = on_workspace_polled  # each workspace tried, and whether it worked (metrics)
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
        self._unrun = UnrunLog()  # finished runs with no piece on a tuned cluster, logged once each
        self._lock = threading.Lock()
        self._waiting_apps: dict[str, float] = {}  # application id -> give up at (monotonic s)
        # Applications tied to a run before their end was stored -> give up at (monotonic s).
        self._unended_apps: dict[str, float] = {}
        self._wake = threading.Event()
        self._health = WorkspaceHealth(store, clock, poll_interval_s)
        self._jobs = JobTrouble(store, clock, poll_interval_s)  # jobs whose own calls fail while their workspace answers
        self._locked = LockedProjects(clock)  # projects another server or session keeps locked
        self._own_script = OwnScriptFailures(store)  # projects whose newest run failed on Trimtab's init script
        # Project id -> its newest run (store id) known to have a plan after it: planned by this
        # collector, or looked at by `_plan_unplanned` (at most one try per run and process).
        self._planned_after: dict[int, int] = {}
        self._said_unusable: dict[str, str] = {}  # workspace name -> why its gateway could not be made, logged
        self._stop: threading.Event | None = None  # `run_forever`'s: a poll ends between jobs once set
        self._on_poll: Callable[[bool | None, str], None] | None = None  # see `on_poll`
        self._last_poll: tuple[bool | None, str] | None = None  # the latest poll's outcome, for a late `on_poll`
        self._workspace_trouble = ""  # why the workspace being polled failed as a whole ("" it did not)
        self._poll_records = PollRecords(store, clock)  # a poll that worked, stored; its failure fails no poll

    @property
    def on_poll(self) -> Callable[[bool | None, str], None] | None:
        """Told each poll's outcome (`server.readiness.CollectorWatch.polled`): True some workspace
        was collected or none needed it, False every workspace tried failed (with the last reason),
        None none was tried (all resting)."""
        return self._on_poll

    @on_poll.setter
    def on_poll(self, hook: Callable[[bool | None, str], None] | None) -> None:
        # Set by the server once the collector runs: the first poll, which starts at once, may be
        # over already, and its failure must count from then, not from the second poll.
        with self._lock:
            self._on_poll, last = hook, self._last_poll
        if hook is not None and last is not None:
            hook(*last)

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
                # A Databricks call in flight when the server stops ends at once, and the poll with it
                # (`call_stop`): what it stored is whole, and what it had not is collected next time.
                with calls_end_on(stop):
                    self.poll_once()
            except CallStopped:
                log.info("collector: poll ended by the stop")
                return
            except Unavailable as err:  # the database is down: expected, said in one line (no traceback)
                log.warning("collector poll skipped: %s; next try in %.0fs", err, self._poll_interval_s)
                self._report(False, f"database: {err}")
            except Exception as exc:  # one bad poll must not end collection
                log.exception("collector poll failed")
                self._report(False, f"poll failed: {exc}")
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
        tried = worked = 0
        why = ""
        workspaces = self._store.workspaces.list()
        listed = len(workspaces)
        for workspace in workspaces:
            if self._stopping():
                break
            if self._health.resting_now(workspace):
                continue
            tried += 1
            self._workspace_trouble = ""
            with log_context(workspace=workspace.name):
                try:
                    collected.extend(self._poll_workspace(workspace))
                    if not self._workspace_trouble:
                        self._poll_records.worked(workspace)
                except Unavailable as err:  # the database went away mid-poll: one line, as for the whole poll
                    log.warning("workspace %s: poll stopped: %s", workspace.name, err)
                    self._workspace_trouble = f"database: {err}"
                except Exception as exc:  # one workspace's bug must not cost every later workspace its poll
                    log.exception("workspace %s: poll failed", workspace.name)
                    self._workspace_trouble = f"poll failed: {exc}"
            if self._workspace_trouble:
                why = f"workspace {workspace.name}: {self._workspace_trouble}"
            else:
                worked += 1
            if self._on_workspace_polled is not None:
                self._on_workspace_polled(workspace.name, not self._workspace_trouble)
        try:
            with locks.waiting_at_most(COLLECT_LOCK_WAIT_S):
                self._forget_collected_apps()
        except LockedElsewhere as err:  # the agent's late data is joined at a later poll (it is kept)
            log.info("late agent data not joined this poll: %s", err)
        # No workspace at all is a poll that worked; only resting ones, a poll that says nothing new.
        self._report(True if worked or not listed else (False if tried else None), why)
        return collected

    def _report(self, worked: bool | None, why: str) -> None:
        with self._lock:
            self._last_poll, hook = (worked, why), self._on_poll
        if hook is not None:
            hook(worked, why)

    def _poll_workspace(self, workspace: Workspace) -> list[Run]:
        # A detached or orphaned project with an announced write is read too, to settle it
        # (`JobCollection._settled`): a re-attach or a take-back killed before its record.
        projects = [p for p in self._store.projects.list(workspace.name)
                    if not (p.detached or p.orphaned) or intent_of(p) is not None]
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
            self._workspace_trouble = str(err)
            if self._said_unusable.get(workspace.name) != str(err):  # once per process and message, not every poll
                self._said_unusable[workspace.name] = str(err)
                log.error("workspace %s: %s", workspace.name, err)
            return collected
        self._said_unusable.pop(workspace.name, None)
        if self._health.was_unreachable(workspace) and not self._answers_again(workspace, gateway):
            self._workspace_trouble = "Databricks does not answer or refuses the token"
            return collected
        if projects and not self._collect_jobs(workspace, gateway, by_job, collected):
            self._workspace_trouble = "Databricks does not answer or refuses the token"
            return collected  # the workspace's trouble is recorded; discovery would only meet it again
        attached = [p for p in projects if not (p.detached or p.orphaned)]
        with locks.waiting_at_most(COLLECT_LOCK_WAIT_S):  # a locked project is planned at a later poll
            self._plan_unplanned(attached)
        self._retry_applies(workspace, attached)
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
            self._locked.forget(workspace.name, by_job)
            for job_id in self._jobs.order(workspace.name, by_job):
                if self._stopping():  # the server stops: leave between jobs (each job's runs are whole)
                    return
                group = by_job[job_id]
                try:
                    # A project's lock another server or session holds is waited for briefly, then its
                    # job is skipped until a later poll (`server.collect.locked_projects`): the
                    # `Unavailable` it raised stopped the whole workspace's poll, every poll.
                    with locks.waiting_at_most(COLLECT_LOCK_WAIT_S), log_context(job_id=job_id):
                        self._one_job(workspace, gateway, job_id, group, listing, now_ms, collected, row)
                except PartlyLocked as partly:
                    self._locked.partly(workspace.name, job_id, group, partly)
                except LockedElsewhere as err:
                    self._locked.found(workspace.name, job_id, group, err)
                else:
                    self._locked.collected(workspace.name, job_id)
            if listing is None:  # every job read in full: from now on, the listings say which to read
                self._first_watermark(workspace, gateway, by_job, self._clock.monotonic() - started)

        row: list[int] = []  # jobs that were not failing before and failed in this poll, one after the other
        if not self._health.reached(workspace, every_job):
            self._jobs.forget(workspace.name, row)  # their failures were the workspace's
            return False
        self._health.answered(workspace)
        self._say_failing_jobs(workspace, [p for group in by_job.values() for p in group], collected)
        return True

    def _one_job(self, workspace: Workspace, gateway: DatabricksGateway, job_id: int, group: list[Project],
                 listing: Listing | None, now_ms: int, collected: list[Run], row: list[int]) -> None:
        """One job's part of a poll (`_collect_jobs`): its settings followed from the listing when it is
        quiet, else read in full and its new runs collected into ``collected``. ``row``: the jobs failing
        one after the other (`_job_failed`)."""
        if listing is not None and self._quiet(workspace, job_id, group, listing, now_ms):
            listed = listing.settings[job_id]
            active = self._follow_settings(group, listed.get("settings") or {})
            self._follow_run_as(workspace, gateway, job_id, active, listed_run_as(listed))
            row.clear()
            return
        try:
            # Every call made for one job (its settings, its runs, their clusters) retries a 5xx
            # for a short budget only: one job that keeps failing must not cost each poll a
            # minute (`server.collect.job_trouble`). 429/503 and no connection keep the whole.
            with retrying_5xx_for(JOB_5XX_BUDGET_S):
                collected.extend(self._collect_job(workspace, gateway, job_id, group))
        except PartlyLocked as partly:  # the job answered: its runs not locked are collected
            collected.extend(partly.runs)
            self._jobs.answered(workspace.name, job_id)
            row.clear()
            raise
        except DatabricksServerError as err:  # a 5xx answer: maybe the job's own trouble
            self._job_failed(workspace, gateway, job_id, group, err, row)
            return
        except (WorkspaceAuthError, DatabricksUnavailable):
            raise  # the whole workspace's trouble: every other job would meet it too
        except DatabricksPermissionDenied as err:
            # The token works (the gateway checked) but may not read this job, its runs or their
            # clusters (its permissions changed after the import): the job's own trouble, named
            # in `workspace show` as a 5xx job's is. Only logged, it went uncollected unseen.
            self._jobs.failed(workspace.name, job_id, group[0].job_name, err)
            return
        except DatabricksCallError as err:  # one job's trouble must not stop the others
            log.warning("workspace %s job %s: %s", workspace.name, job_id, err)
        else:
            self._jobs.answered(workspace.name, job_id)
        row.clear()

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

    def _say_failing_jobs(self, workspace: Workspace, projects: Sequence[Project], collected: Sequence[Run]) -> None:
        """Keep the workspace's ``last_error`` saying which of its jobs are not collected and why
        (`JobTrouble.note`; "" once none), or whose clusters Trimtab's init script fails (`own_script_note`,
        of ``projects``, after this poll's ``collected`` runs), its status ``ok``: `trimtab workspace show` shows it. Written
        only when it changes. ``workspace`` as read at the start of the poll; `WorkspaceHealth.answered`
        has just set a status other than ``ok`` to ``ok`` with no error."""
        # As stored (NUL made U+FFFD, `storable_text`): a job's error with NUL was written again at every poll.
        note = storable_text("; ".join(n for n in (self._jobs.note(workspace.name),
                                                   self._locked.note(workspace.name),
                                                   self._handovers.note(workspace.name),
                                                   self._own_script.note(workspace.name, projects, collected)) if n))
        stored = workspace.last_error if workspace.status == "ok" else ""
        if note == stored or (not note and not any(mark in stored for mark in (JOB_NOTE_MARK, LOCK_NOTE_MARK,
                                                                                 READ_NOTE_MARK,
                                                                                 OWN_SCRIPT_NOTE_MARK))):
            return  # unchanged, or an error that is not this note's (not cleared here)
        self._store.workspaces.set_status(workspace.name, "ok", note, polled_host=workspace.host)

    def _discover(self, workspace: Workspace, gateway: DatabricksGateway, *, answered: bool) -> None:
        """Auto-import's pass (`server.collect.discovery`); ``answered``: collection already reached the workspace."""
        discovery = self._discovery
        assert discovery is not None
        try:
            # Its trouble rests the workspace as a failed collection does: one backoff for both.
            # A lock another session holds is waited for briefly: the job is tried again at the next poll.
            with locks.waiting_at_most(COLLECT_LOCK_WAIT_S):
                reached = self._health.reached(workspace, lambda: discovery.run(workspace, gateway))
        except Exception:  # discovery's bug must not stop collection: this poll's runs are stored already
            log.exception("workspace %s: auto-import failed; run collection goes on", workspace.name)
            return
        if reached and not answered:  # a workspace with no projects yet answered only here
            self._health.answered(workspace)

    def _retry_applies(self, workspace: Workspace, projects: list[Project]) -> None:
        """The auto-applies of ``projects`` that failed for a passing reason and are due, tried again
        (``on_run_collected``'s `RetriesApplies.retry_applies`, the planner's) now that the workspace
        answered this poll, after its runs were collected: a run that ended meanwhile has been planned
        and applied after already. A 5xx costs a try the short budget of a job's calls."""
        retries = self._on_run_collected
        if not isinstance(retries, RetriesApplies) or not projects:
            return
        try:
            with retrying_5xx_for(JOB_5XX_BUDGET_S), locks.waiting_at_most(COLLECT_LOCK_WAIT_S), \
                    calls_run_through():  # an apply is never cut by the server's stop
                retries.retry_applies(projects)
        except Exception:  # its own trouble is kept on each project; this is a bug, and costs no run
            log.exception("workspace %s: trying failed auto-applies again failed", workspace.name)

    def _stopping(self) -> bool:
        """The server asked `run_forever` to stop: the poll leaves at its next clean point."""
        return self._stop is not None and self._stop.is_set()

    def _answers_again(self, workspace: Workspace, gateway: DatabricksGateway) -> bool:
        """A resting workspace's try: one cheap call on a short budget (`DatabricksGateway.probe`)
        before the real ones, so a workspace still down costs this poll seconds, not a call's full
        retry budget. False (its trouble recorded) when it still fails."""
        return self._health.reached(workspace, gateway.probe)
