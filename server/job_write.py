"""The Jobs API side every write to a job shares (apply, revert, detach): the project it writes
(`_active`, `project_cloud`), its cluster read from the job (`_job_cluster`), a write a crash left
announced settled first (`_settle_announced`), the write verified or undone (`_write_verified`), and
what it answers (`ApplyResult`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from server.apply_lock import verify_project_lock
from server.cluster_rename import follow_rename, job_projects, rename_target
from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksNotFound,
    DatabricksRejected,
    DatabricksUnavailable,
    WorkspaceAuthError,
)
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import Project, Recommendation
from server.errors import FailedPrecondition, NotFound, TrimtabError
from server.onboard import taken_over
from server.orphan_cause import JOB_DELETED, REASON_KEY, cluster_gone, recorded_cause
from server.spec import cluster_entry_update, find_cluster_spec, readback_mismatch, written_paths
from server.store import Store
from server.write_intent import intent_of, mark_written_back, withdraw

log = logging.getLogger("server.apply")  # split from it: its log lines keep their name


@dataclass(frozen=True)
class ApplyResult:
    recommendation: Recommendation | None
    diff: str
    applied: bool
    message: str = ""
    # What the person should know beyond the diff: the unconfirmed apply this one writes (or, dry,
    # would write) over, and why.
    note: str = ""
    # Nothing written: the job's cluster already runs the recommendation (`server.already_runs`).
    already_on_job: bool = False


def project_cloud(store: Store, project: Project) -> str:
    """The cloud (aws | azure) the project's cluster runs on: its workspace's, as the planner prices
    it. Not read from the spec's keys, which may name neither cloud: only for a project whose
    workspace the store does not hold (read-only pages over partial data) is the spec's
    ``azure_attributes`` taken as the sign of Azure."""
    try:
        return store.workspaces.get(project.workspace).cloud
    except NotFound:
        return "azure" if (project.current_spec or project.original_spec).get("azure_attributes") else "aws"


def _active(store: Store, project_id: int) -> Project:
    project = store.projects.get(project_id)
    if project.detached:
        raise FailedPrecondition(f"project {project.name} is detached")
    if project.orphaned:
        raise FailedPrecondition(f"project {project.name} is orphaned ({recorded_cause(project)})")
    return project


def _job_cluster(store: Store, gateway: DatabricksGateway, project: Project, *,
                 dry_run: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job's settings and the cluster's live spec; orphans the project when either is gone."""
    try:
        job = gateway.get_job(project.job_id)
    except DatabricksNotFound as err:
        if not dry_run:
            store.projects.update(dataclasses.replace(project, orphaned=True,
                                                      state={**project.state, REASON_KEY: JOB_DELETED}))
        raise FailedPrecondition(f"project {project.name}: the job no longer exists; project orphaned") from err
    settings = job.get("settings") or {}
    live = find_cluster_spec(settings, project.cluster_key)
    if live is None and (new := rename_target(store, project, settings)) is not None:
        # The owner renamed the cluster: not gone, so not orphaned. The project follows it as the
        # collector's poll would (`server.cluster_rename`); the write is asked for again under the new
        # key, which the caller's record of the project does not have.
        moved = project.name.removesuffix(project.cluster_key) + new
        if not dry_run:
            moved = (follow_rename(store, project, settings) or project).name
        raise FailedPrecondition(f"project {project.name}: the job's cluster {project.cluster_key!r} is {new!r} "
                                 f"now (renamed in the job): the project {'would follow' if dry_run else 'follows'} "
                                 f"it as {moved}; nothing was written: run the command again")
    if live is None:
        # As the collector records it, with what the job runs on now.
        why = cluster_gone(project, settings, job_projects(store, project))
        if not dry_run:
            store.projects.update(dataclasses.replace(project, orphaned=True,
                                                      state={**project.state, REASON_KEY: why}))
        raise FailedPrecondition(f"project {project.name}: {why}; project orphaned")
    if (other := taken_over(project, live)) is not None:
        # Another server's now: writing it would have both servers size one job, and a rebase would
        # adopt that server's wiring as a person's edit (the collector would then never see it).
        if not dry_run:
            store.projects.update(dataclasses.replace(project, orphaned=True,
                                                      state={**project.state, REASON_KEY: other}))
        raise FailedPrecondition(f"project {project.name}: {other}; project orphaned")
    return settings, live


def _settle_announced(store: Store, gateway: DatabricksGateway, project_id: int, *,
                      dry_run: bool) -> Project | None:
    """The project (None when it was removed: an import that never reached the job) with a write announced and never recorded settled
    first (`server.recover.reconcile`), before an apply or revert checks anything against its records:
    its first apply, written and not recorded, was "no apply recorded"; a re-import's new address,
    another server's take-over. `WriteSettled` when the job held the write (recorded now, nothing
    else done). A job or cluster gone is left to the usual checks (they orphan the project). Call
    under the project's lock."""
    project = store.projects.get(project_id)
    record = intent_of(project)
    if dry_run or record is None:
        return project
    try:
        job = gateway.get_job(project.job_id)
    except DatabricksNotFound:
        return project
    live = find_cluster_spec(job.get("settings") or {}, project.cluster_key)
    if live is None:
        return project
    from server.recover import reconcile  # it records through this module's functions

    settled, recorded = reconcile(store, project, live)
    if recorded == "apply":
        raise WriteSettled(recorded, f"project {project.name}: recommendation {record.get('recommendation_id')} "
                           "is already on the job (Trimtab wrote it but stopped before recording it); recorded "
                           "as applied now, nothing written")
    if recorded is not None:
        raise WriteSettled(recorded, f"project {project.name}: Trimtab's last {recorded} was written to the job "
                           "but not recorded (the server stopped between the two); recorded now, nothing written")
    return settled


class WriteSettled(FailedPrecondition):
    """The job already held a write Trimtab announced and never recorded (`server.recover`): recorded
    now, and nothing else done. ``kind``: the write's (apply, revert, onboard, detach)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _write_verified(store: Store, gateway: DatabricksGateway, project: Project, settings: dict[str, Any],
                    before: dict[str, Any], new_spec: dict[str, Any], owned: set[str] | None = None) -> dict[str, Any]:
    """``jobs/update`` with the complete entry, then re-read: what we wrote is what the job holds.
    The spec as the job holds it is returned (what runs will report, so later drift checks agree).

    Only the paths Trimtab wrote are checked: those ``new_spec`` sets over ``before``
    (`server.spec.written_paths`) and the ``owned`` ones (a recommendation's, even where equal to
    the live spec). A field Databricks fills in or normalises elsewhere is not a failed write. If a
    written path does not hold its value (or the update failed half-way), the previous spec is
    written back before the error is raised, so nothing stays half-applied. The error names the job
    and what it holds now (`UNDO_SAID`); ``project`` is the one its write was announced on, and the
    announcement goes with a write-back that took (`_restore`), so no poll settles it later from a
    read made while the write was on the job.
    """
    written = written_paths(before, new_spec) | (owned or set())
    # Last thing before the write: the project's lock across servers still held. Its session may have
    # ended since it was taken (terminated, idle_session_timeout, a failover), and another server may
    # be writing this job now; refused here, nothing is written (the announced intent is settled by
    # reading the job, as after any failed write).
    verify_project_lock(int(project.id or 0), "writing to the job")
    try:
        gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, new_spec))
    except REFUSED:
        raise  # refused outright: nothing was written, so there is nothing to restore (it would be refused too)
    except DatabricksCallError as err:
        # It may have landed. Told from ``before`` on the paths it changes either way, as the poll tells
        # it (`server.write_intent.landed`): a detach mostly removes (the init script, the tags), which
        # ``written`` leaves out, so the job read as "nothing was written" with the detach on it.
        changed = written | written_paths(new_spec, before)
        undo = _undo_if_written(store, gateway, project, settings, before, changed, err)
        raise _told(err, project, undo) from err
    try:
        reread = find_cluster_spec((gateway.get_job(project.job_id).get("settings") or {}), project.cluster_key)
        mismatch = readback_mismatch(reread or {}, new_spec, written)
    except DatabricksCallError as err:
        raise _told(err, project, _restore(store, gateway, project, settings, before)) from err
    if mismatch or reread is None:
        undo = _restore(store, gateway, project, settings, before)
        what = f"{', '.join(mismatch)} differ" if reread is not None else f"{project.cluster_key!r} is gone"
        raise FailedPrecondition(f"project {project.name}: the job did not take the new spec "
                                 f"({what}); {UNDO_SAID[undo]}")
    return reread


# What `jobs/update` answers when it wrote nothing: the request refused (400), the job gone, no
# permission on the job (`DatabricksPermissionDenied`: CAN_MANAGE) or the token refused.
REFUSED = (DatabricksRejected, DatabricksNotFound, DatabricksPermissionDenied, WorkspaceAuthError)


# What a failed write left on the job, as its error says it: written back (the write-back answered),
# never written (the job read back holds the previous spec), not known (no answer to the read or the
# write-back: the job is read again by the next poll, which settles the announced write), the cluster
# gone from the job.
Undo = Literal["written_back", "not_written", "unknown", "gone"]
UNDO_SAID: dict[Undo, str] = {
    "written_back": "the previous cluster was written back",
    "not_written": "nothing was written",
    "unknown": "state unknown: the next poll settles it",
    "gone": "the cluster is no longer in the job: nothing to write back",
}


def _told(err: DatabricksCallError, project: Project, undo: Undo) -> DatabricksCallError:
    """``err`` saying which job it failed on and what that job holds now. Of ``err``'s own class, so its
    code (UNAVAILABLE...) and whether auto-apply tries again (`server.plan.apply_retry.transient`) stay."""
    job = f"job {project.job_id}" + (f" ({project.job_name})" if project.job_name else "")
    # What the job holds before the transport's words: an auto-apply's problem keeps ~130 characters of it.
    return type(err)(f"jobs/update of {job} failed ({UNDO_SAID[undo]}): {err.message}",
                     retry_after_ms=err.retry_after_ms)


def _undo_if_written(store: Store, gateway: DatabricksGateway, project: Project, settings: dict[str, Any],
                     before: dict[str, Any], written: set[str], err: DatabricksCallError) -> Undo:
    """After ``jobs/update`` failed with no answer that says nothing was written (a 5xx, a timeout, a
    connection lost: the write may have landed before the answer was lost), read the job: when it
    still holds ``before`` on every path the write sets, nothing was written and that is said (a
    WARNING); otherwise ``before`` is written back (`_restore`). A workspace that does not answer
    the read either is left to the next poll, which settles the announced write from the job.

    Writing back blindly cost a second failing call (another retry budget, a minute for a 503) and
    logged ERROR "could not restore the previous spec" after a write that never happened, which read
    as if Trimtab had broken the job."""
    try:
        held = find_cluster_spec(gateway.get_job(project.job_id).get("settings") or {}, project.cluster_key)
    except DatabricksUnavailable as read_err:
        # The workspace does not answer now: a write-back would only cost another retry budget and fail.
        # The write was announced, so the next poll that reads the job records it if it landed
        # (`server.recover.reconcile`), as Trimtab's apply, never as a person's edit.
        log.warning("project %s: jobs/update failed (%s) and the job could not be read to tell whether it was "
                    "written (%s); nothing written back: the next collection poll reads the job and records the "
                    "write if it landed", project.name, err, read_err)
        return "unknown"
    except DatabricksCallError as read_err:
        log.warning("project %s: jobs/update failed (%s) and the job could not be read to tell whether it was "
                    "written (%s); writing the previous spec back", project.name, err, read_err)
        return _restore(store, gateway, project, settings, before)
    if held is None:  # gone from the job by someone else's edit: writing the entry back would re-add it
        log.warning("project %s: jobs/update failed (%s) and cluster %r is no longer in the job: nothing to "
                    "restore", project.name, err, project.cluster_key)
        return "gone"
    if not readback_mismatch(held, before, written):
        log.warning("project %s: jobs/update failed and the job still holds its previous spec: nothing was "
                    "written (%s)", project.name, err)
        _settle_intent(store, project, lambda record: withdraw(store, int(project.id or 0), record))
        return "not_written"
    log.warning("project %s: jobs/update failed (%s), yet the job holds part of the new spec; writing the "
                "previous spec back", project.name, err)
    return _restore(store, gateway, project, settings, before)


def _restore(store: Store, gateway: DatabricksGateway, project: Project, settings: dict[str, Any],
             before: dict[str, Any]) -> Undo:
    """Write ``before`` back after a failed write; "written_back" when the write-back answered, and the
    write's announcement then goes with it. A poll that read the job while the write was on it waits
    for the project's lock, and found the announcement still there it recorded the undone write as
    made (review: "recorded as applied now" 54 ms after the write-back, the owner blamed for the
    "edit" at the next run)."""
    # Marked first: a write-back that lands unanswered, or a stop before the announcement goes, leaves a
    # job holding ``before`` that `server.recover` then says was written and written back.
    _settle_intent(store, project, lambda record: mark_written_back(store, int(project.id or 0), record,
                                                                    store.clock.now_ms()))
    try:
        gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, before))
    except DatabricksCallError as err:  # report the first failure, not this one
        # What the job holds is not known here: the announced write is settled from the job itself
        # by the next poll (`server.recover.reconcile`), which records it if it landed.
        log.error("project %s: could not restore the previous spec (the job may hold the new one; the next "
                  "collection poll reads the job and records what it holds): %s", project.name, err)
        return "unknown"
    _settle_intent(store, project, lambda record: withdraw(store, int(project.id or 0), record))
    return "written_back"


def _settle_intent(store: Store, project: Project, change: Callable[[dict[str, Any]], object]) -> None:
    """``change`` the write's announcement (on ``project``, as announced), while the project's lock is
    still this server's. Not done when the lock is lost, nor when the database fails: the announcement
    stays, and the next poll settles it from the job, read under the lock."""
    record = intent_of(project)
    if record is None:
        return
    try:
        verify_project_lock(int(project.id or 0), "recording what the failed write left on the job")
        change(record)
    except TrimtabError as err:
        log.warning("project %s: what the failed write left on the job is not recorded (%s); the next collection "
                    "poll reads the job and settles it", project.name, err)
