"""One job's import once `import_jobs` has judged it: its projects found or created, then onboarded
under their locks from the job as it is now (`_import_job`); the detached projects an import leaves
alone (`_split_detached`); and the reasons a job is skipped with.

Split from `server.services.job_import`, which re-exports the reasons.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import ExitStack
from typing import Any

from server.apply import project_lock
from server.cluster_rename import follow_rename
from server.databricks import DatabricksCallError, DatabricksGateway
from server.domain import ImportedProject, Project, ProjectSettings, Workspace
from server.errors import AlreadyExists
from server.onboard import AgentWiring, ClusterTarget
from server.plan.owner_on_demand import SPOT_OFF_BY_IMPORT_KEY, runs_on_demand
from server.plan.policy import POLICY_FILLS_KEY, ClusterPolicy, kept_fills
from server.services.job_onboard import _found_spec, _onboard_job, _remove_unonboarded
from server.services.job_owner import renamed_from
from server.services.projects import unplanned_phase
from server.spec import find_cluster_spec
from server.store import Store

log = logging.getLogger("server.services.workspaces")  # split from it: its log lines keep their name

# Why a job Databricks would not let the token update is skipped (the import goes on with the others).
REASON_NOT_EDITABLE = ("Databricks refused to update the job ({error}): the token can see it but needs "
                       "CAN_MANAGE on it to onboard it")
# Why a job Databricks refused to onboard is skipped: its message says which field (the import goes on).
REASON_REFUSED = "Databricks refused the onboarded cluster spec, nothing was changed: {error}"
# Why a job that did not read back as onboarded is skipped (its clusters were written back as found).
REASON_NOT_KEPT = "the job did not keep the onboarded cluster spec, so it was put back as found: {error}"
# Why auto-import leaves a job it found new: another import made it a project since (`ImportLimits.new_jobs`).
REASON_IMPORTED_ELSEWHERE = "already imported by another server (or import) since this pass found it new"
# Why a detached project's cluster is left as it is by an import of every job.
REASON_DETACHED = ("project {projects} is detached: left as it is (`trimtab workspace import {workspace} "
                   "--job {job_id}` re-attaches it)")


def _split_detached(store: Store, ws: Workspace, targets: list[ClusterTarget],
                    reattach: bool) -> tuple[list[ClusterTarget], list[Project]]:
    """(the clusters to import, the detached projects left alone): all of them with ``reattach``.

    Per cluster, not per job: a cluster added to the job later is imported beside a detached one,
    whose entry the job update then does not touch (`cluster_entry_update` sends changed keys only).
    """
    if reattach:
        return list(targets), []
    kept: list[ClusterTarget] = []
    detached: list[Project] = []
    for target in targets:
        project = store.projects.get_by_key(ws.name, target.job_id, target.cluster_key)
        if project is not None and project.detached:
            detached.append(project)
        else:
            kept.append(target)
    return kept, detached


def _import_job(store: Store, gateway: DatabricksGateway, ws: Workspace, job: dict[str, Any],
                targets: list[ClusterTarget], wiring: AgentWiring, dry_run: bool, *,
                reader: dict[str, Any] | None = None, written: set[int] | None = None) -> list[ImportedProject]:
    """Onboard ``targets`` (the qualified clusters of ``job``, as read by `import_jobs`).

    Each cluster's project is found or created first (its id goes into the onboarded spec's tag).
    Then, under the locks of all the job's projects, the job is read again and judged as it is now:
    another importer (a second server's discovery pass, or a manual import during an auto-import)
    may have onboarded it since the read above. Judged on that read, this import sent a second
    jobs/update from the stale spec and, comparing the stale spec with the onboarded one the other
    importer stored, took Trimtab's own wiring for a user's edit (auto-apply paused for good)."""
    projects: list[tuple[Project, bool]] = []
    renamed: dict[int, Project] = {}  # project id -> the project before it followed its cluster's new key
    latest_run: int | None = None
    for target in targets:
        project = store.projects.get_by_key(ws.name, target.job_id, target.cluster_key)
        if project is None and (source := renamed_from(store, ws, target, job.get("settings") or {})) is not None:
            # The owner renamed the project's cluster: the project goes with it, not a new one (a clone's).
            project = dataclasses.replace(source, cluster_key=target.cluster_key) if dry_run \
                else follow_rename(store, source, job.get("settings") or {})
            if project is not None:
                renamed[int(project.id or 0)] = source
        created = project is None
        if project is None:
            found, _ = _found_spec(store, ws, target, quiet=True)  # said when onboarded, below
            state = {} if dry_run else _policy_fills(gateway, found, target.job_id)
            # A cluster its owner runs wholly on demand is theirs to move to spot: recommending spot by
            # default moved such a job onto spot with no word of it (`--spot on` allows it; the
            # import's output says so: `server.services.job_onboard`).
            on_demand = runs_on_demand(found, state, cloud=ws.cloud)
            settings = ProjectSettings(spot_allowed=not on_demand)
            if on_demand:
                state = {**state, SPOT_OFF_BY_IMPORT_KEY: True}
            project = Project(workspace=ws.name, job_id=target.job_id, cluster_key=target.cluster_key,
                              job_name=target.job_name, original_spec=found, current_spec=found,
                              settings=settings, phase=unplanned_phase(settings), state=state)
            if not dry_run:
                # The cursor starts at the newest run: history is backfill's job, not the collector's.
                if latest_run is None:
                    latest_run = gateway.latest_run_id(target.job_id) or 0
                project, created = _add_project(store, dataclasses.replace(project, last_seen_run_id=latest_run or None))
        projects.append((project, created))
    if dry_run:
        return _onboard_job(store, gateway, ws, job, {t.cluster_key: t.spec for t in targets}, projects,
                            wiring, dry_run=True, renamed=renamed)
    with ExitStack() as held:
        # In id order, so two importers of one job never hold one lock each, waiting for the other's.
        for project_id in sorted({int(p.id or 0) for p, _ in projects}):
            held.enter_context(project_lock(project_id, store))
        try:
            job = gateway.get_job(int(job["job_id"]))  # as it is now, no longer as first read
        except Exception:
            _remove_unonboarded(store, projects)
            raise
        settings = job.get("settings") or {}
        live: dict[str, dict[str, Any]] = {}
        kept: list[tuple[Project, bool]] = []
        for project, created in projects:
            spec = find_cluster_spec(settings, project.cluster_key)
            if spec is None:
                # Taken off the job since the first read: nothing to onboard for it any more.
                log.warning("job %s: cluster %r left the job during its import; not imported",
                            project.job_id, project.cluster_key)
                _remove_unonboarded(store, [(project, created)])
                continue
            live[project.cluster_key] = spec
            kept.append((project, created))
        return _onboard_job(store, gateway, ws, job, live, kept, wiring, dry_run=False, reader=reader,
                            written=written, renamed=renamed)


def _policy_fills(gateway: DatabricksGateway, spec: dict[str, Any], job_id: int) -> dict[str, Any]:
    """A new project's state with what its cluster policy fills into an availability the spec leaves
    unset (`server.plan.policy.POLICY_FILLS_KEY`). The planner keeps it after every plan, but until the
    first one (after the first collected run) the project page and the savings baseline read such a
    spec with the cloud's default: a job under a policy fixing ON_DEMAND showed spot workers, and its
    backfilled runs, recorded on demand, were another cluster than as found (no baseline). One policy
    read per new project; one that fails leaves it to the planner."""
    policy_id = spec.get("policy_id")
    if not policy_id:
        return {}
    try:
        fills = kept_fills(ClusterPolicy.from_api(gateway.get_cluster_policy(str(policy_id))))
    except (DatabricksCallError, ValueError) as err:
        log.info("job %s: cluster policy %s not read at import (%s); the first plan reads it", job_id, policy_id, err)
        return {}
    return {POLICY_FILLS_KEY: fills} if fills["fixed"] or fills["defaults"] else {}


def _add_project(store: Store, project: Project) -> tuple[Project, bool]:
    """(the project stored, whether this call created it): another importer may have created it
    since `get_by_key` said there was none (the key is unique), and then this import goes on with
    that one, as if it had found it."""
    try:
        return store.projects.add(project), True
    except AlreadyExists:
        existing = store.projects.get_by_key(project.workspace, project.job_id, project.cluster_key)
        if existing is None:
            raise  # created and removed again meanwhile (its import failed there): the next import retries
        return existing, False
