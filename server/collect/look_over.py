"""Which jobs a poll reads in full, and which it only looks over: a poll's cost grows with what
changed, not with how many jobs are imported.

Reading every job in full each poll (``jobs/get`` and its own ``runs/list``, and the store's repair
and re-price queries for each project) cost a workspace with 1,500 imported jobs 3,000 calls and
6,000 queries a poll: over a minute on loopback, longer than the poll interval, and some 300 s
against a real workspace. Instead, each poll of a workspace reads once
- its jobs' settings, ``jobs/list`` with their tasks and clusters (100 jobs a page), which is all
  ``jobs/get`` gave the collector: a job deleted or whose cluster is gone (orphaned), one another
  server took over, a changed schedule, are still seen at every poll;
- its runs that started since a watermark, ``runs/list`` across jobs (25 a page), which tells the
  jobs with a finished run no full read has stored: newer than their cursor and not settled by their
  last full read (`Settled`: with a run going, the cursor waits behind it while the runs after it are
  stored).
and reads in full (`Collector._collect_job`) only the jobs that need it: a new finished run; a
job missing from the list or whose arrays it cut (``has_more``); a job failing, or not read in full
yet by this process; a stored failed run whose re-read for a repair is due; runs left to re-price;
a run just collected (its failure is re-read for a repair at the next poll). And every job at least
every `FULL_EVERY_S` (staggered by job, so not all at once): whatever the listings could miss (a run
whose start the watermark passed by a clock gone wrong, runs another process stored for a repair or
a re-price: ``trimtab project backfill``) is met within that.

The watermark is on Databricks' clock alone (the server's may differ, and a test's is fake): no
later than the start of any run still going, and `MARGIN_MS` before the newest start seen, so that
a run that started just before a listing and showed only after it is listed next time. A run still
going keeps the watermark at its start (up to `HOLD_BACK_MS`), so it is listed again until it has
finished. Its first value
comes from the runs going (``active_only``) and the newest run when the process first reads the
workspace (that poll reads every job in full, as after a restart). Kept in memory, per workspace
and host (a re-pointed workspace starts again). Only the collector's poll thread uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from server.collect.run_parse import is_finished
from server.render.fmt import cut

FULL_EVERY_S = 3 * 3600.0  # every job is read in full at least about this often (staggered)
MARGIN_MS = 10 * 60 * 1000  # the watermark stays this far behind the newest start seen (Databricks' clock)
# A run still going holds the watermark back at most this far: each poll lists every run since, and a
# run going for days (a continuous job) would make that the workspace's whole history. A run longer
# than this is collected at its job's next full read instead (`FULL_EVERY_S`), not at its end.
HOLD_BACK_MS = 6 * 3600 * 1000


@dataclasses.dataclass(frozen=True)
class Settled:
    """What a job's last full read (`Collector._collect_job`) left behind it: every run it listed up to
    ``through`` (its newest run id) was finished and stored, or was going (``going``).

    Kept apart from the projects' resume cursor (``last_seen_run_id``), which waits behind the
    oldest run still going so that run is collected when it ends: told against that cursor, the
    finished runs after it read as new at every poll, and a job with one run going for hours was
    read in full (jobs/get, its runs, the store) at every idle poll for as long as it lasted."""

    through: int
    going: frozenset[int] = frozenset()

    def settles(self, run_id: int) -> bool:
        return run_id <= self.through and run_id not in self.going


@dataclasses.dataclass(frozen=True)
class Listing:
    """What one poll's two listings said of a workspace's jobs."""

    settings: dict[int, dict[str, Any]]  # job id -> its job as jobs/list gave it whole (not cut)
    finished: dict[int, frozenset[int]]  # job id -> the ids of its finished runs listed

    def news(self, job_id: int, cursor: int, settled: Settled | None = None) -> bool:
        """A finished run of the job was listed that is newer than ``cursor`` and that its last full
        read did not settle (``settled``: neither listed finished then, nor older than its newest)."""
        return any(run_id > cursor and (settled is None or not settled.settles(run_id))
                   for run_id in self.finished.get(job_id, ()))


def stagger(job_id: int) -> float:
    """A fraction in [0.75, 1.25) of `FULL_EVERY_S` (so every 2¼ to 3¾ hours), fixed per job: jobs read in full together (after
    a start) drift apart, so later polls each read a few, not all of them at once."""
    return 0.75 + 0.5 * ((job_id * 2654435761) % 1000) / 1000


def next_watermark(current: int | None, runs: Iterable[Mapping[str, Any]], jobs: Collection[int]) -> int | None:
    """The watermark after a listing of ``runs`` (all those that started since ``current``): at the
    start of the oldest run of ``jobs`` (the collected ones) still going, else `MARGIN_MS` before the
    newest start; never back, and never more than `HOLD_BACK_MS` behind the newest start."""
    runs = list(runs)
    starts = [int(r.get("start_time") or 0) for r in runs]
    if not starts:
        return current
    newest = max(starts)
    going = [int(r.get("start_time") or 0) for r in runs
             if not is_finished(r) and int(r.get("job_id") or 0) in jobs]
    candidate = newest - MARGIN_MS if current is None else max(current, newest - MARGIN_MS)
    if going:
        candidate = min(candidate, max(min(going), newest - HOLD_BACK_MS))
    return candidate


class LookOver:
    """Per workspace: the runs watermark and when each job is next read in full."""

    def __init__(self) -> None:
        self._watermark: dict[tuple[str, str], int | None] = {}  # (workspace, host) -> start_time_from
        self._full_at: dict[tuple[str, str], dict[int, int]] = {}  # -> job id -> due (ms, the collector's clock)
        self._settled: dict[tuple[str, str], dict[int, Settled]] = {}  # -> job id -> its last full read's

    def started(self, workspace: str, host: str) -> bool:
        """A watermark is kept: this process has listed the workspace's runs before."""
        return (workspace, host) in self._watermark

    def watermark(self, workspace: str, host: str) -> int | None:
        return self._watermark.get((workspace, host))

    def set_watermark(self, workspace: str, host: str, value: int | None) -> None:
        self._watermark[(workspace, host)] = value

    def due(self, workspace: str, host: str, job_id: int, now_ms: int) -> bool:
        """The job is due a full read (never read in full by this process counts)."""
        at = self._full_at.get((workspace, host), {}).get(job_id)
        return at is None or at <= now_ms

    def read_in_full(self, workspace: str, host: str, job_id: int, next_ms: int,
                     settled: Settled | None = None) -> None:
        """The job was read in full; next due at ``next_ms``. ``settled``: the runs that read left behind."""
        self._full_at.setdefault((workspace, host), {})[job_id] = next_ms
        if settled is not None:
            self._settled.setdefault((workspace, host), {})[job_id] = settled

    def settled(self, workspace: str, host: str, job_id: int) -> Settled | None:
        """What the job's last full read by this process settled (None: none yet)."""
        return self._settled.get((workspace, host), {}).get(job_id)

    def make_due(self, workspace: str, host: str, job_ids: Iterable[int]) -> None:
        """The jobs are due a full read now (until `read_in_full` says otherwise)."""
        full_at = self._full_at.setdefault((workspace, host), {})
        for job_id in job_ids:
            full_at[job_id] = 0

    def keep_only(self, workspace: str, host: str, job_ids: Iterable[int]) -> None:
        """Forget the jobs no longer collected (detached, orphaned)."""
        kept = set(job_ids)
        for per_job in (self._full_at.get((workspace, host), {}), self._settled.get((workspace, host), {})):
            for job_id in [j for j in per_job if j not in kept]:
                del per_job[job_id]


def listed_run_as(job: Mapping[str, Any]) -> str | None:
    """Whom a job listed by ``jobs/list`` runs as, when the listing says: its ``settings.run_as`` (a user,
    a service principal's application id, or a group), else ``run_as_user_name`` where an answer carries
    it (jobs/list's ``BaseJob`` does not declare it; jobs/get's ``Job`` does). None when it says neither:
    not the creator then, as a listing may leave ``run_as`` out; the job's full read (jobs/get, which names
    ``run_as_user_name``) tells."""
    run_as = (job.get("settings") or {}).get("run_as")
    if isinstance(run_as, Mapping):
        for field_name in ("user_name", "service_principal_name", "group_name"):
            if run_as.get(field_name):
                return str(run_as[field_name])
    return str(job["run_as_user_name"]) if job.get("run_as_user_name") else None


# The workspace's ``last_error`` part of a job whose new run-as could not be given READ starts
# "job N (name) " then this (`Handovers.note`).
READ_NOTE_MARK = "cannot start: "


class Handovers:
    """Per workspace: the jobs handed over since their import whose new run-as Trimtab could not give
    READ on the agent token's scope (their clusters cannot start), and why. Only the collector's poll
    thread uses it."""

    def __init__(self) -> None:
        self._refused: dict[str, dict[int, tuple[str, str, str]]] = {}  # workspace -> job -> (name, principal, why)

    def refused(self, workspace: str, job_id: int, name: str, principal: str, why: str) -> bool:
        """Record a refused grant; True when it is new (the job, the principal) and so to be logged as a warning."""
        jobs = self._refused.setdefault(workspace, {})
        before = jobs.get(job_id)
        jobs[job_id] = (name, principal, why)
        return before is None or before[1] != principal

    def settled(self, workspace: str, job_id: int) -> bool:
        """The job's run-as can read the token (granted, or handed back); True when it was refused before."""
        return self._refused.get(workspace, {}).pop(job_id, None) is not None

    def keep_only(self, workspace: str, job_ids: Iterable[int]) -> None:
        """Forget the jobs no longer collected (detached, orphaned)."""
        kept = set(job_ids)
        jobs = self._refused.get(workspace, {})
        for job_id in [j for j in jobs if j not in kept]:
            del jobs[job_id]

    def note(self, workspace: str) -> str:
        """What the workspace's ``last_error`` says of them ("" when none), e.g. ``job 12 (etl) cannot
        start: its run-as carol@... has no READ on secret scope trimtab, ... `databricks secrets put-acl ...```."""
        jobs = self._refused.get(workspace, {})
        return "; ".join(f"job {job_id}{f' ({name})' if name else ''} {READ_NOTE_MARK}{cut(why, 600)}"
                         for job_id, (name, _, why) in sorted(jobs.items()))
