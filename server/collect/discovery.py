"""Auto-import: a workspace's new jobs become projects without `trimtab workspace import`.

For each workspace with ``auto_import`` on, at most every ``interval_s`` (on the injected
clock), the collector's poll of that workspace (after its runs are collected, so a failing
pass never costs them) lists the workspace's jobs and imports the ones that are not projects
yet through ``import_jobs`` (`server.services.workspaces.import_jobs`): the same
qualification, onboarding and default settings (auto-apply off) as a manual import, in one
import per pass, so what is the workspace's (the token secret, the READ of each run-as principal)
is done once. The pass stops starting jobs after ``budget_s`` (the collector's thread waits for
it); the jobs it did not reach are still not projects, and the next pass imports them.

A job imported in part (a cluster left out over its policy or the allowlist while another became a
project, or a cluster added since) is judged again as a new job is, by the same rules and with the
same memory below, but only its clusters without a project are onboarded
(`ImportLimits.new_clusters_only`): the imported ones, their projects and runs stay as they are. Its
memory is kept on the settings without those clusters' specs, which Trimtab's own applies rewrite. A
job whose every project is detached or orphaned is left alone: a person detached it (auto-import
must not undo that), or another server has it.

A job that does not qualify (single node, an all-purpose cluster, ...) is remembered with a
fingerprint of its settings and not judged again while they stay the same: judging reads the
job again (``jobs/get``), for every such job on every pass otherwise. Once edited it is judged
at the next pass. A job whose import failed is remembered the same way (a refusal that does
not pass by itself must not rewrite the job every pass); one cut off by the workspace going
away is imported again at the next pass, which import's idempotence makes safe. A job whose lock
another session held past the wait (another server importing it, or applying to one of its
projects: `ImportResult.locked`) is neither: one WARNING line names who holds the lock (no stack
trace), and the next poll makes a pass for it without waiting the interval.

Two answers change while the job stays as it is, and neither costs a ``jobs/get`` a job every pass.
A cluster policy that a left-out cluster names: granting Trimtab's token CAN_USE on one it could not
read (`server.onboard.REASON_POLICY_UNREAD`), or an admin editing one that made the cluster standard
access or single node. Each pass reads again each policy such jobs name, once however many jobs name
it, and judges again only the jobs one of whose policies reads otherwise than when they were judged
(`server.services.job_policies.policy_state`: its rules, or that it could not be read). Allowlisting
Trimtab's init script on the metastore's INIT_SCRIPT allowlist, for a job skipped over it alone
(`SkippedJob.allowlist_bound`): a pass with such jobs reads the allowlist once, and judges them
again once it covers the script (`server.standard_access.allowlist_covers`). One unreadable policy is
often a workspace-wide one that every job names; judging them all each pass would be a ``jobs/get``
a job every pass, and would spend the pass's budget before the new jobs are reached. Whether a job
is unchanged is known only from its settings as listed: ``jobs/list`` (BaseJob) carries no modified
time, and lists at most 100 tasks and job clusters of a job (``has_more``), so an edit past those is
not seen until a restart. These memories live in the process: after a restart every job that is not
a project, or is one in part, is judged once more.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from server.clock import Clock
from server.databricks import DatabricksGateway, DatabricksUnavailable, WorkspaceAuthError
from server.domain import ImportedProject, ImportLimits, ImportResult, LeftOut, Project, SkippedJob, Workspace
from server.onboard import cluster_keys
from server.services.job_import import read_init_script_allowlist
from server.services.job_policies import policy_state, read_policy
from server.services.workspace_access import agent_wiring
from server.spec import task_cluster_key
from server.standard_access import StandardAccess, allowlist_covers
from server.store import Store

log = logging.getLogger(__name__)



class ImportJobs(Protocol):
    """`server.services.workspaces.import_jobs` for one workspace's jobs: raises what import raises
    (with ``limits``, only the workspace's trouble)."""

    def __call__(self, workspace: str, job_ids: list[int], *, limits: ImportLimits) -> ImportResult: ...


DEFAULT_INTERVAL_S = 900.0
# How long one pass may import for: the collector's one thread collects every workspace's runs, and
# waits meanwhile. A job takes a few Databricks calls (about a second on a real workspace): a minute
# imports dozens of new jobs, the rest at the next pass.
DEFAULT_BUDGET_S = 60.0


@dataclass(frozen=True)
class _Judged:
    """A job judged and skipped (or whose import failed): not judged again while its settings are
    ``fingerprint``, unless a policy in ``policies`` (`SkippedJob.policy_states`) reads otherwise, or,
    ``allowlist_bound``, the INIT_SCRIPT allowlist covers Trimtab's script."""

    fingerprint: str
    policies: tuple[tuple[str, str], ...] = ()
    allowlist_bound: bool = False


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """A digest of a job's settings as listed: equal while nobody edits the job."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def without_clusters(settings: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
    """``settings`` without the specs of the clusters ``keys`` names (job cluster keys, ``task:<key>``):
    those of a partly imported job's projects, which Trimtab's own onboarding and applies rewrite,
    and which do not decide whether its other clusters qualify (each is judged on its own)."""
    out = dict(settings)
    if "job_clusters" in settings:
        out["job_clusters"] = [e for e in settings.get("job_clusters") or []
                               if not (isinstance(e, Mapping) and e.get("job_cluster_key") in keys)]
    if "tasks" in settings:
        out["tasks"] = [{k: v for k, v in t.items() if k != "new_cluster"}
                        if isinstance(t, Mapping) and task_cluster_key(str(t.get("task_key"))) in keys else t
                        for t in settings.get("tasks") or []]
    return out


def left_out_clusters(job: Mapping[str, Any], projects: list[Project]) -> list[str]:
    """The clusters of a listed job with ``projects`` that have none: what auto-import judges again (none
    when every project of the job is detached or orphaned: a person let the job go, or another server
    has it)."""
    if all(p.detached or p.orphaned for p in projects):
        return []
    imported = {p.cluster_key for p in projects}
    return [key for key in cluster_keys(job) if key not in imported]


def _imported_in_part(job: Mapping[str, Any] | None, projects: list[Project],
                      left_out: tuple[LeftOut, ...]) -> _Judged | None:
    """How a job this pass imported is remembered when some of its clusters were left out (None when
    none were): as the next pass lists it, once Trimtab's onboarding is written (`without_clusters`)."""
    if job is None or not left_out_clusters(job, projects):
        return None
    why = [item for item in left_out if item.job_id == int(job["job_id"])]
    return _Judged(settings_fingerprint(without_clusters(job.get("settings") or {}, {p.cluster_key for p in projects})),
                   tuple(dict.fromkeys(p for item in why for p in item.policy_states)),
                   any(item.allowlist_bound for item in why))


class AutoImport:
    """The discovery passes of every workspace. Only the collector's poll thread calls it."""

    def __init__(self, store: Store, import_jobs: ImportJobs, *, clock: Clock,
                 interval_s: float = DEFAULT_INTERVAL_S, budget_s: float = DEFAULT_BUDGET_S) -> None:
        self._store = store
        self._import_jobs = import_jobs
        self._clock = clock
        self._interval_s = interval_s
        self._budget_s = budget_s
        self._last_pass: dict[str, float] = {}  # workspace -> monotonic s its last pass started
        self._not_qualified: dict[str, dict[int, _Judged]] = {}  # workspace -> job id -> as it was judged
        self._failed: dict[str, set[int]] = {}  # workspace -> jobs whose import raised: tried again
        self._locked: dict[str, set[int]] = {}  # workspace -> jobs the last pass left at a lock held elsewhere

    def due(self, workspace: Workspace) -> bool:
        """True when the workspace has auto-import on and its last pass is an interval ago (or none yet)."""
        if not workspace.auto_import:
            return False
        last = self._last_pass.get(workspace.name)
        return last is None or self._clock.monotonic() - last >= self._interval_s

    def run(self, workspace: Workspace, gateway: DatabricksGateway) -> ImportResult:
        """One pass over the workspace's jobs: what was imported, and what was judged and skipped.

        `WorkspaceAuthError` and `DatabricksUnavailable` are the workspace's trouble and end the
        pass (the collector records them); any other failure to import one job is logged and the
        next job imported (`ImportLimits`).
        """
        # Started counts, not finished: a pass that fails waits its interval too, never every poll.
        self._last_pass[workspace.name] = self._clock.monotonic()
        listed = gateway.list_jobs()
        known: dict[int, list[Project]] = {}
        for project in self._store.projects.list(workspace.name):
            known.setdefault(project.job_id, []).append(project)
        failed = self._failed.get(workspace.name, set())
        remembered = self._not_qualified.get(workspace.name, {})
        kept: dict[int, _Judged] = {}
        candidates: dict[int, str] = {}
        partly: set[int] = set()  # imported in part: only their clusters without a project are onboarded
        for job in listed:
            job_id = int(job["job_id"])
            settings = job.get("settings") or {}
            if job_id in known and job_id not in failed:
                if not left_out_clusters(job, known[job_id]):
                    continue
                partly.add(job_id)
                settings = without_clusters(settings, {p.cluster_key for p in known[job_id]})
            fingerprint = settings_fingerprint(settings)
            judged = remembered.get(job_id)
            if judged is not None and judged.fingerprint == fingerprint:
                kept[job_id] = judged
            else:
                candidates[job_id] = fingerprint
        # Before the memories change: a workspace failing here ends the pass with them as they were.
        for job_id in {*self._policy_changed(gateway, kept), *self._allowlist_now_covers(gateway, kept)}:
            candidates[job_id] = kept.pop(job_id).fingerprint
        # Rebuilt from this listing, so a deleted job's entry does not stay forever.
        self._not_qualified[workspace.name] = kept
        self._failed[workspace.name] = set()
        if not candidates:
            self._locked.pop(workspace.name, None)
            return ImportResult()
        ids = sorted(candidates)
        try:
            # One import for the pass's new jobs: what is the workspace's (the token secret, the init
            # script, the run-as principals' READ) is done once, not once a job (a pass over 100 new jobs
            # made 704 Databricks calls, 200 of them the same secrets/list and acls/get). The deadline
            # keeps a workspace with thousands of new jobs from holding the collector's thread.
            result = self._import_jobs(workspace.name, ids, limits=ImportLimits(
                self._clock.monotonic, self._clock.monotonic() + self._budget_s,
                new_clusters_only=frozenset(partly & candidates.keys()),
                new_jobs=frozenset(j for j in candidates if j not in known)))
        except (WorkspaceAuthError, DatabricksUnavailable):
            # The workspace's trouble (a 403 on one job the token may only view comes back as a skipped
            # job instead: `import_jobs`). Which job it cut is not known: all are tried again, which
            # import's idempotence makes safe. Not the jobs imported in part: judged again anyway (they
            # are not remembered), and again only for their clusters without a project.
            self._failed[workspace.name].update(set(ids) - partly)
            raise
        imported: list[ImportedProject] = []
        skipped: list[SkippedJob] = []
        for item in result.skipped:
            if item.failed:
                # Not every pass: a refusal that does not pass by itself would rewrite the job each time.
                kept[item.job_id] = _Judged(candidates[item.job_id])
                log.warning("workspace %s: auto-import of job %d failed (tried again when the job changes, or "
                            "after a restart): %s", workspace.name, item.job_id, item.reason)
                continue
            kept[item.job_id] = _Judged(candidates[item.job_id], item.policy_states, item.allowlist_bound)
            log.debug("workspace %s: %s %d (%s) not auto-imported: %s", workspace.name,
                      "the clusters left out of job" if item.job_id in partly else "job", item.job_id,
                      item.job_name, item.reason)
            skipped.append(item)
        by_job: dict[int, list[ImportedProject]] = {}
        for done in result.projects:
            by_job.setdefault(done.project.job_id, []).append(done)
        listed_by_id = {int(job["job_id"]): job for job in listed}
        for job_id, done_projects in by_job.items():
            names = ", ".join(f"{p.project.name} (project {p.project.id})" for p in done_projects)
            log.info("workspace %s: auto-imported job %d (%s) as %s", workspace.name, job_id,
                     done_projects[0].project.job_name, names)
            imported.extend(done_projects)
            remembered_now = _imported_in_part(listed_by_id.get(job_id), [
                *known.get(job_id, []), *(p.project for p in done_projects)], result.left_out)
            if remembered_now is not None:
                # Its clusters left out were judged just now: not again at the next pass, unless as above.
                kept[job_id] = remembered_now
        self._left_locked(workspace, result.locked)
        if result.deferred:
            # Neither remembered nor failed: still no project, so the next pass takes them up first.
            log.info("workspace %s: auto-import stopped after %.0f s with %d new job(s) left; the next pass "
                     "(in %.0f s) imports them", workspace.name, self._budget_s, len(result.deferred),
                     self._interval_s)
        return ImportResult(tuple(imported), tuple(skipped), result.left_out, result.warnings, result.deferred,
                            result.locked)

    def _left_locked(self, workspace: Workspace, locked: tuple[SkippedJob, ...]) -> None:
        """The jobs this pass left at a lock another session held (`ImportResult.locked`): neither remembered
        nor failed, so still candidates, and the next poll makes a pass for them rather than waiting the
        interval. Said once, in one line, when a job is first found so; at debug level while it stays so."""
        before = self._locked.get(workspace.name, set())
        for item in locked:
            say = log.debug if item.job_id in before else log.warning
            say("workspace %s: auto-import of job %d waits: %s; tried again at the next poll", workspace.name,
                item.job_id, item.reason)
        self._locked[workspace.name] = {item.job_id for item in locked}
        if locked:
            self._last_pass.pop(workspace.name, None)  # due at the next poll (`due`)

    @staticmethod
    def _policy_changed(gateway: DatabricksGateway, kept: Mapping[int, _Judged]) -> list[int]:
        """The remembered jobs one of whose left-out clusters' policies reads otherwise now (CAN_USE granted
        on it, its rules edited): each policy they name is read once (`read_policy`), however many jobs
        name it. Raises what the workspace's trouble raises, as any call of the pass."""
        waiting = sorted({policy_id for judged in kept.values() for policy_id, _ in judged.policies})
        if not waiting:
            return []
        now = {policy_id: policy_state(read_policy(gateway, policy_id)) for policy_id in waiting}
        return sorted(job_id for job_id, judged in kept.items()
                      if any(now[policy_id] != state for policy_id, state in judged.policies))

    @staticmethod
    def _allowlist_now_covers(gateway: DatabricksGateway, kept: Mapping[int, _Judged]) -> list[int]:
        """The remembered jobs skipped over the INIT_SCRIPT allowlist alone, once it covers Trimtab's init
        script: the allowlist read once a pass, and only while such jobs wait (none: no call). Raises what
        the workspace's trouble raises, as any call of the pass."""
        waiting = sorted(job_id for job_id, judged in kept.items() if judged.allowlist_bound)
        if not waiting:
            return []
        # The wiring the pass's import judges with (`import_jobs` is given none): the script it would onboard.
        access = read_init_script_allowlist(gateway, StandardAccess(init_script=agent_wiring().init_script))
        return waiting if allowlist_covers(access) else []
