"""Auto-import: a workspace's new jobs become projects without `trimtab workspace import`.

For each workspace with ``auto_import`` on, at most every ``interval_s`` (on the injected
clock), the collector's poll of that workspace (after its runs are collected, so a failing
pass never costs them) lists the workspace's jobs and imports the ones that are not projects
yet through ``import_jobs`` (`server.services.workspaces.import_jobs`): the same
qualification, onboarding and default settings (auto-apply off) as a manual import. A job
with any project counts as imported, detached or orphaned ones included: a person detached
it, and auto-import must not undo that.

A job that does not qualify (single node, an all-purpose cluster, ...) is remembered with a
fingerprint of its settings and not judged again while they stay the same: judging reads the
job again (``jobs/get``), for every such job on every pass otherwise. Once edited it is judged
at the next pass. A job whose import failed is remembered the same way (a refusal that does
not pass by itself must not rewrite the job every pass); one cut off by the workspace going
away is imported again at the next pass, which import's idempotence makes safe. A job skipped
only over the metastore's INIT_SCRIPT allowlist is judged every pass: allowlisting changes
nothing in the job. These memories live in the process: after a restart every job that is not a
project is judged once more.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from server.clock import Clock
from server.databricks import DatabricksGateway, DatabricksUnavailable, WorkspaceAuthError
from server.domain import ImportedProject, ImportResult, SkippedJob, Workspace
from server.store import Store

log = logging.getLogger(__name__)

# (workspace name, job ids) -> what importing them did; raises what import raises.
ImportJobs = Callable[[str, list[int]], ImportResult]
DEFAULT_INTERVAL_S = 900.0


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """A digest of a job's settings as listed: equal while nobody edits the job."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class AutoImport:
    """The discovery passes of every workspace. Only the collector's poll thread calls it."""

    def __init__(self, store: Store, import_jobs: ImportJobs, *, clock: Clock,
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._store = store
        self._import_jobs = import_jobs
        self._clock = clock
        self._interval_s = interval_s
        self._last_pass: dict[str, float] = {}  # workspace -> monotonic s its last pass started
        self._not_qualified: dict[str, dict[int, str]] = {}  # workspace -> job id -> settings fingerprint
        self._failed: dict[str, set[int]] = {}  # workspace -> jobs whose import raised: tried again

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
        next job imported.
        """
        # Started counts, not finished: a pass that fails waits its interval too, never every poll.
        self._last_pass[workspace.name] = self._clock.monotonic()
        listed = gateway.list_jobs()
        known = {p.job_id for p in self._store.projects.list(workspace.name)}
        failed = self._failed.get(workspace.name, set())
        remembered = self._not_qualified.get(workspace.name, {})
        kept: dict[int, str] = {}
        candidates: dict[int, str] = {}
        for job in listed:
            job_id = int(job["job_id"])
            if job_id in known and job_id not in failed:
                continue
            fingerprint = settings_fingerprint(job.get("settings") or {})
            if remembered.get(job_id) == fingerprint:
                kept[job_id] = fingerprint
            else:
                candidates[job_id] = fingerprint
        # Rebuilt from this listing, so a deleted job's entry does not stay forever.
        self._not_qualified[workspace.name] = kept
        self._failed[workspace.name] = set()
        imported: list[ImportedProject] = []
        skipped: list[SkippedJob] = []
        for job_id, fingerprint in sorted(candidates.items()):
            try:
                # One job per import: a job Databricks refuses to update must not hold up the next one.
                result = self._import_jobs(workspace.name, [job_id])
            except (WorkspaceAuthError, DatabricksUnavailable):
                # The workspace's trouble (a 403 on one job the token may only view comes back as a
                # skipped job instead: `import_jobs`).
                self._failed[workspace.name].add(job_id)
                raise
            except Exception as err:  # any one job's failure: logged, and that job tried again once it changes
                # Not every pass: a refusal that does not pass by itself would rewrite the job each time.
                kept[job_id] = fingerprint
                log.warning("workspace %s: auto-import of job %d failed (tried again when the job changes, or "
                            "after a restart): %s", workspace.name, job_id, err)
                continue
            for item in result.skipped:
                # A standard-access cluster skipped over the metastore's INIT_SCRIPT allowlist is
                # judged again each pass: an admin allowlisting the script changes nothing in the job.
                if not item.allowlist_bound:
                    kept[item.job_id] = fingerprint
                log.debug("workspace %s: job %d (%s) not auto-imported: %s", workspace.name, item.job_id,
                          item.job_name, item.reason)
            if result.projects:
                names = ", ".join(f"{p.project.name} (project {p.project.id})" for p in result.projects)
                log.info("workspace %s: auto-imported job %d (%s) as %s", workspace.name, job_id,
                         result.projects[0].project.job_name, names)
            imported.extend(result.projects)
            skipped.extend(result.skipped)
        return ImportResult(tuple(imported), tuple(skipped))
