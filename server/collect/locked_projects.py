"""Projects the collector found locked by another Trimtab server or database session.

Every write of a project's row happens under its lock (`server.apply.project_lock`), which on
PostgreSQL is also an advisory lock that other servers on the database see (`server.store.locks`).
Another server collecting or applying the same project holds it for seconds; a session that took
it by hand (``select pg_advisory_lock(1414819946, <project id>)``) or a hung server holds it until it
ends. Before, the poll waited the lock's 30 s and then stopped the whole workspace's collection at
it: no other job of the workspace was collected, poll after poll, and only the server log said why.

Now a poll waits at most `COLLECT_LOCK_WAIT_S` for a project's lock (`server.store.locks.waiting_at_most`),
then skips that project's job for this poll and goes on with the others. Nothing is lost: the job's
cursor stays where it was, and the first poll after the lock is released collects its runs. A job
with several projects (clusters) collects the runs of those not locked, and only the locked ones wait
(`PartlyLocked`): each project's piece of a Databricks run is a whole run of its own, stored under
that project's lock with its cursor, so nothing is stored half. The whole job waits only when every
project is locked, or when the lock is met before its runs are read (settling a project's write).

One poll locked is a collision with another server's apply and says nothing; a project found
locked `NOTE_AFTER_POLLS` polls in a row is named in the workspace's ``last_error`` (``trimtab
workspace show``; ``workspace list`` points to it), its status staying ``ok``, with the lock's keys
for ``pg_locks``, until the job is collected again. Logged when it is first met (INFO), when it is
named (WARNING), and when it is collected again (INFO). In memory only: after a restart the polls
are counted again. SQLite has no lock across processes: there a project is never found locked.
Only the collector's poll thread uses it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Collection

from server.clock import Clock
from server.domain import Project, Run
from server.render.fmt import cut
from server.store.locks import PROJECT_NAMESPACE, LockedElsewhere

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name

# How long a poll waits for a project's lock another session holds before skipping its job: an
# apply on another server holds it for a few Databricks calls (seconds), and the next poll comes
# back to it anyway, so the 30 s a person's apply waits would only hold up the poll's other jobs.
COLLECT_LOCK_WAIT_S = 10.0
# A project found locked this many polls in a row is named in the workspace's ``last_error``.
NOTE_AFTER_POLLS = 3
# Every locked project's part of the note starts "project NAME (job N) " then this.
LOCK_NOTE_MARK = "not collected: locked by another Trimtab server or database session"
NOTE_CHARS = 1000


class PartlyLocked(Exception):
    """Some projects of a job were locked elsewhere (``locked``, one error each); the others' runs were
    collected (``runs``) and their cursors moved."""

    def __init__(self, locked: list[LockedElsewhere], runs: list[Run]) -> None:
        super().__init__("; ".join(str(err) for err in locked))
        self.locked = locked
        self.runs = runs


@dataclasses.dataclass
class _Locked:
    job_id: int
    name: str
    polls: int  # polls in a row that found it locked
    since_ms: int  # wall clock, for people
    namespace: int
    key: int


class LockedProjects:
    """The projects of each workspace found locked, by the polls that found them so."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # workspace -> the lock's keys (a project's: PROJECT_NAMESPACE and its id) -> what was found
        self._locked: dict[str, dict[tuple[int, int], _Locked]] = {}

    def found(self, workspace: str, job_id: int, group: Collection[Project], err: LockedElsewhere) -> None:
        """This poll skipped job ``job_id`` (its projects ``group``) at a lock held elsewhere."""
        project = next((p for p in group if err.namespace == PROJECT_NAMESPACE and p.id == err.key), None)
        name = project.name if project is not None else err.what
        locked = self._locked.setdefault(workspace, {})
        before = locked.get((err.namespace, err.key))
        polls = before.polls + 1 if before is not None else 1
        since = before.since_ms if before is not None else self._clock.now_ms()
        locked[(err.namespace, err.key)] = _Locked(job_id, name, polls, since, err.namespace, err.key)
        if polls == 1:
            log.info("workspace %s: project %s (job %s) is locked by another Trimtab server or database session; "
                     "its runs are collected once the lock is released (the other projects and jobs are "
                     "collected): %s", workspace, name, job_id, err)
        elif polls == NOTE_AFTER_POLLS:
            log.warning("workspace %s: project %s (job %s) still locked after %d polls (since %s UTC); its runs wait "
                        "until the lock is released. Who holds it: select pid, application_name, client_addr, "
                        "state, query from pg_stat_activity where pid in (select pid from pg_locks where "
                        "locktype = 'advisory' and classid = %d and objid = %d)", workspace, name, job_id, polls,
                        _utc(since), err.namespace, err.key)
        else:
            log.debug("workspace %s: project %s still locked (%d polls in a row)", workspace, name, polls)

    def partly(self, workspace: str, job_id: int, group: Collection[Project], partly: PartlyLocked) -> None:
        """This poll collected job ``job_id``'s projects but those ``partly`` names locked."""
        for err in partly.locked:
            self.found(workspace, job_id, group, err)
        self.collected(workspace, job_id, still={(err.namespace, err.key) for err in partly.locked})

    def collected(self, workspace: str, job_id: int, still: Collection[tuple[int, int]] = ()) -> None:
        """Job ``job_id`` went through a poll with no lock in its way (but the locks ``still`` held): its
        other projects are not locked."""
        locked = self._locked.get(workspace, {})
        for keys in [keys for keys, lk in locked.items() if lk.job_id == job_id and keys not in still]:
            lk = locked.pop(keys)
            if lk.polls >= 2:  # one poll locked was not said as trouble: its end is no news either
                log.info("workspace %s: project %s is no longer locked after %d polls; its runs are collected",
                         workspace, lk.name, lk.polls)

    def forget(self, workspace: str, job_ids: Collection[int]) -> None:
        """Drop the jobs no longer collected (detached, orphaned, removed)."""
        locked = self._locked.get(workspace, {})
        for keys in [keys for keys, lk in locked.items() if lk.job_id not in job_ids]:
            del locked[keys]

    def note(self, workspace: str) -> str:
        """What the workspace's ``last_error`` says of its projects locked `NOTE_AFTER_POLLS` polls or
        more ("" when none), e.g. ``project sbx/7/main (job 7) not collected: locked by another Trimtab
        server or database session since 2026-12-07 08:15 UTC (3 polls): pg_advisory_lock(1414819946, 1)``."""
        parts = [f"project {lk.name} (job {lk.job_id}) {LOCK_NOTE_MARK} since {_utc(lk.since_ms)} UTC "
                 f"({lk.polls} polls): pg_advisory_lock({lk.namespace}, {lk.key}); its runs are collected once "
                 "it is released"
                 for lk in sorted(self._locked.get(workspace, {}).values(), key=lambda lk: (lk.since_ms, lk.name))
                 if lk.polls >= NOTE_AFTER_POLLS]
        return cut("; ".join(parts), NOTE_CHARS, on_word=True) if parts else ""


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
