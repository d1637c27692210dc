"""Jobs the collector cannot collect while their workspace answers: one job's own failure.

A job whose own calls keep failing with a 5xx (its ``jobs/get`` 500s for hours while every other
call works: `DatabricksServerError`) is that job's trouble, not the workspace's. Before, it was
taken for the workspace being unreachable: the poll stopped at it, every job after it in id order
went uncollected, the workspace was marked ``unreachable`` (it answers) and rested, and each later
poll met the same job first again.

Now such a job is skipped and the poll goes on to the next job. It rests between tries as an
unreachable workspace does (one poll interval, then 2, 4, ... up to `JOB_BACKOFF_CAP_S`), and when
its rest is over it is tried after the jobs that are not failing, so it never holds them up. Its
runs are not lost meanwhile: its cursor stays where it was, and the first poll it answers collects
them. The failure is logged when it starts, again at most every `SAY_AGAIN_S` while it lasts, and
when the job answers again; while it lasts the workspace's ``last_error`` says which jobs are not
collected and why (``trimtab workspace show``), its status staying ``ok``.

What is remembered of each failing job (its tries in a row, since when, its next try on the wall
clock) is kept on its workspace in the store too (`WorkspaceRepository.set_failing_jobs`), written
when a job starts failing, fails again or answers, and read at a collector's first poll of the
workspace: remembered in the process only, each failing job cost every restart's first poll its
short retry budget (`JOB_5XX_BUDGET_S`) again and started its rest over. Only the collector's poll
thread uses them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Collection

from server.clock import Clock
from server.domain import FailingJob
from server.render.fmt import cut
from server.store import Store

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name

# How long one job's own calls retry a 5xx before the job is given up for this poll: a blip passes
# in a few seconds (0.5 + 1 + 2 + 4 + 8 s of backoff), and a job that keeps failing costs a poll this
# much rather than the gateway's whole budget (60 s), per try.
JOB_5XX_BUDGET_S = 15
JOB_BACKOFF_CAP_S = 900.0  # the longest a failing job rests between tries
SAY_AGAIN_S = 3600.0  # a job still failing is logged again (as a warning) at most this often
# The workspace's ``last_error`` names at most this much of its failing jobs.
NOTE_CHARS = 1000
JOB_NOTE_MARK = "not collected: "  # every job's part of the note starts "job N (name) " then this


@dataclasses.dataclass
class _Failing:
    """A job whose own calls failed: since when, how many tries in a row, its next try."""

    failures: int
    since_ms: int  # wall clock, for people
    retry_at: float  # monotonic s on the collector's clock
    said_at: float  # monotonic s when last logged as a warning
    error: str
    name: str
    retry_at_ms: int  # ``retry_at`` on the wall clock: what a restarted server reads (its monotonic differs)

    def stored(self, job_id: int) -> FailingJob:
        return FailingJob(job_id, self.failures, self.since_ms, self.retry_at_ms, self.error, self.name)


class JobTrouble:
    """The failing jobs of every workspace, and when each is tried next."""

    def __init__(self, store: Store, clock: Clock, poll_interval_s: float) -> None:
        self._store = store
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._failing: dict[str, dict[int, _Failing]] = {}  # workspace -> job id -> its trouble

    def _of(self, workspace: str) -> dict[int, _Failing]:
        """The workspace's failing jobs: the stored ones at the first use (a restart's first poll)."""
        failing = self._failing.get(workspace)
        if failing is None:
            now, now_ms = self._clock.monotonic(), self._clock.now_ms()
            # Logged again at its next failure: the operator hears of it once after a restart.
            failing = self._failing[workspace] = {
                j.job_id: _Failing(j.failures, j.since_ms, now + max(0, j.retry_at_ms - now_ms) / 1000.0,
                                   now - SAY_AGAIN_S, j.error, j.name, j.retry_at_ms)
                for j in self._store.workspaces.failing_jobs(workspace).values()}
        return failing

    def _save(self, workspace: str) -> None:
        self._store.workspaces.set_failing_jobs(
            workspace, {job_id: f.stored(job_id) for job_id, f in self._of(workspace).items()})

    def order(self, workspace: str, job_ids: Collection[int]) -> list[int]:
        """The jobs to try in this poll: those not failing by id, then the failing ones whose rest is
        over (the longest failing first). Forgets the jobs no longer collected (detached, orphaned)."""
        failing = self._of(workspace)
        gone = [j for j in failing if j not in job_ids]
        for job_id in gone:
            del failing[job_id]
        if gone:
            self._save(workspace)
        now = self._clock.monotonic()
        healthy = sorted(j for j in job_ids if j not in failing)
        due = sorted((j for j in failing if failing[j].retry_at <= now), key=lambda j: (failing[j].since_ms, j))
        return healthy + due

    def is_failing(self, workspace: str, job_id: int) -> bool:
        return job_id in self._of(workspace)

    def failed(self, workspace: str, job_id: int, name: str, err: Exception) -> None:
        """Record a try of the job that failed; rest it 1, 2, 4, ... poll intervals (capped)."""
        now = self._clock.monotonic()
        failing = self._of(workspace)
        before = failing.get(job_id)
        failures = before.failures + 1 if before is not None else 1
        rest_s = min(JOB_BACKOFF_CAP_S, self._poll_interval_s * 2 ** min(failures - 1, 32))
        say = before is None or now - before.said_at >= SAY_AGAIN_S
        now_ms = self._clock.now_ms()
        failing[job_id] = _Failing(failures, before.since_ms if before else now_ms, now + rest_s,
                                   now if say else before.said_at if before else now, str(err), name,
                                   now_ms + round(rest_s * 1000))
        self._save(workspace)
        if say:
            log.warning("workspace %s job %s: its runs are not collected (%d tr%s in a row failed; the other jobs "
                        "are collected), tried again in %.0fs (then less often, up to every %.0fs): %s",
                        workspace, job_id, failures, "y" if failures == 1 else "ies", rest_s,
                        JOB_BACKOFF_CAP_S, err)
        else:
            log.debug("workspace %s job %s still failing (%d tries in a row); next try in %.0fs: %s",
                      workspace, job_id, failures, rest_s, err)

    def answered(self, workspace: str, job_id: int) -> None:
        """The job was collected: its trouble, if any, is over."""
        before = self._of(workspace).pop(job_id, None)
        if before is not None:
            self._save(workspace)
            log.info("workspace %s job %s answers again after %d failed tr%s; its runs are collected",
                     workspace, job_id, before.failures, "y" if before.failures == 1 else "ies")

    def forget(self, workspace: str, job_ids: Collection[int]) -> None:
        """Drop what was recorded of these jobs (their failures were the workspace's after all)."""
        failing = self._of(workspace)
        dropped = [job_id for job_id in job_ids if failing.pop(job_id, None) is not None]
        if dropped:
            self._save(workspace)

    def note(self, workspace: str) -> str:
        """What the workspace's ``last_error`` says of its failing jobs ("" when none), e.g. ``job 12
        (etl) not collected: failing since 2026-12-06 20:40 UTC (3 tries): GET /api/2.2/jobs/get: ...``."""
        failing = self._of(workspace)
        parts = []
        for job_id, f in sorted(failing.items(), key=lambda item: (item[1].since_ms, item[0])):
            since = dt.datetime.fromtimestamp(f.since_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
            named = f" ({f.name})" if f.name else ""
            parts.append(f"job {job_id}{named} {JOB_NOTE_MARK}failing since {since} UTC "
                         f"({f.failures} tr{'y' if f.failures == 1 else 'ies'}): {cut(f.error, 300)}")
        return cut("; ".join(parts), NOTE_CHARS, on_word=True) if parts else ""
