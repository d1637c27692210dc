"""Onboarding one job's clusters at import: one ``jobs/update`` for the whole job, read back, and
each project recorded (or the clusters written back as found, and nothing recorded).

Split from `server.services.workspaces` (the import that calls it: `server.services.job_import`).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any

from server.apply import AGENT_ENV_PREFIX, ONBOARDED_KEY, adopt_own_write, onboard_record, rebase
from server.apply_lock import verify_project_lock
from server.databricks import DatabricksCallError, DatabricksGateway
from server.domain import ImportedProject, Project, Workspace
from server.errors import FailedPrecondition
from server.job_write import project_cloud
from server.onboard import TRIMTAB_TAGS, AgentWiring, ClusterTarget, job_schedule, onboard_spec, spec_diff
from server.plan.owner_on_demand import with_owner_spec
from server.services.agent_install import SECRET_READER_KEY, reader_record
from server.services.job_owner import NOTE_CLONED, NOTE_RENAMED, as_found, cloned_from
from server.spec import cluster_entry_update, find_cluster_spec, readback_mismatch, spec_drift, written_paths
from server.store import Store, storable_text
from server.write_intent import announce, intent, without_intent

log = logging.getLogger("server.services.workspaces")  # split from it: its log lines keep their name

# What the import of a cluster its owner runs wholly on demand says (`server.services.job_import_one`
# leaves spot off for it): the owner learns that spot is theirs to allow, and how.
NOTE_SPOT_OFF = ("note: cluster {cluster!r} runs every node on demand: spot is not allowed for project {project} "
                 "(`trimtab project set {project} --spot on` lets Trimtab recommend spot)")


def _found_spec(store: Store, ws: Workspace, target: ClusterTarget, *,
                quiet: bool = False, own: int | None = None) -> tuple[dict[str, Any], str]:
    """(the cluster's spec as found, a note to show): a copy of another project's cluster (Clone job)
    carries that project's wiring and tags, so the spec as found is the copy without them. Kept, the
    copy's "original" would be Trimtab's wiring (detach left the agent running there) and its runs
    were credited to the other project's recommendation, so it never had a run as found. ``own``: the
    project's id, whose own tag (a renamed cluster's) is no copy's."""
    source = cloned_from(store, ws, target, own=own)
    if source is None:
        return target.spec, ""
    note = NOTE_CLONED.format(cluster=target.cluster_key, owner=source.name) + "\n"
    if not quiet:
        log.warning("job %s: %s", target.job_id, note.strip())
    return as_found(store, source, target.spec), note



def _remove_unonboarded(store: Store, projects: list[tuple[Project, bool]]) -> None:
    """Remove the projects this import created that nobody onboarded (call under their locks): they
    would stand for clusters Trimtab never reaches. One another importer onboarded meanwhile (its
    record is in the state) stays: the job carries its id."""
    for project, created in projects:
        if created and project.id is not None and ONBOARDED_KEY not in store.projects.get(project.id).state:
            store.projects.remove_unused(project.id)


def _onboard_job(store: Store, gateway: DatabricksGateway, ws: Workspace, job: dict[str, Any],
                 live: dict[str, dict[str, Any]], projects: list[tuple[Project, bool]], wiring: AgentWiring,
                 *, dry_run: bool, reader: dict[str, Any] | None = None,
                 written: set[int] | None = None, renamed: dict[int, Project] | None = None) -> list[ImportedProject]:
    """Onboard the clusters of ``job`` whose specs are ``live`` (by cluster key) with one jobs/update,
    and record each project. Unless ``dry_run``, called holding the locks of all ``projects``, with
    ``job`` read under them. ``reader``: who the clusters run as and whether this import gave them
    READ on the token's scope (`server.services.agent_install.reader_record`), kept on each project.
    ``written`` gets the job's id once the update is written and not written back as found: the
    job's clusters then reference the token's secret, so their owner's READ must stay. ``renamed``:
    the projects (by id) that follow their cluster's new key, each as it was before, said first."""
    settings = job.get("settings") or {}
    # As the store keeps it (NUL made U+FFFD): read against the stored name, the raw one wrote the row at
    # every import of a job named with NUL.
    job_name = storable_text(str(settings.get("name") or ""))
    # (project, the spec onboarded, the diff and notes, created, the live spec, the spec as found)
    out: list[tuple[Project, dict[str, Any], str, bool, dict[str, Any], dict[str, Any]]] = []
    update: dict[str, list[Any]] = {}
    for project, created in projects:
        spec = live[project.cluster_key]
        label = f"job {project.job_id} / {project.cluster_key}"
        found, note = _found_spec(store, ws, ClusterTarget(project.job_id, job_name, project.cluster_key, spec),
                                  own=project.id)
        if (old := (renamed or {}).get(int(project.id or 0))) is not None:
            note = NOTE_RENAMED.format(old=old.name, new=project.name, old_key=old.cluster_key,
                                       new_key=project.cluster_key) + "\n" + note
        if created and not project.settings.spot_allowed:
            note += NOTE_SPOT_OFF.format(cluster=project.cluster_key, project=project.name) + "\n"
        new_spec = onboard_spec(found, project_id=str(project.id or "<new>"), wiring=wiring)
        diff = spec_diff(spec, new_spec, label)
        if diff:
            # Only when the job lacks the wiring: one another importer already sent is not sent again.
            for key, entries in cluster_entry_update(settings, project.cluster_key, new_spec).items():
                update.setdefault(key, []).extend(entries)
        out.append((project, new_spec, note + diff, created, dict(spec), found))
    held: dict[str, dict[str, Any]] = {}
    if update and not dry_run:
        _announce(store, gateway, job, out, wiring, reader)
        # One update for the whole job: all its clusters are onboarded together or not at all.
        try:
            # The projects' locks (`_import_job`) may have been lost with their database session: another
            # server could be writing the job too, so nothing is sent (as apply and revert do).
            for project, *_ in out:
                verify_project_lock(int(project.id or 0), "onboarding the job")
            gateway.update_job(int(job["job_id"]), update)
            if written is not None:
                written.add(int(job["job_id"]))
        except Exception:
            # Not onboarded (e.g. a 403: the token may view the job, not edit it).
            _remove_unonboarded(store, [(p, c) for p, _, _, c, _, _ in out])
            raise
        try:
            held = _verify(gateway, int(job["job_id"]), [(p.cluster_key, live, s) for p, s, _, _, live, _ in out])
        except OnboardNotTaken:
            # Written but not as sent: the clusters go back as they were, and nothing is recorded,
            # so no project stands for a cluster Trimtab did not onboard.
            if _restore_clusters(gateway, int(job["job_id"]), settings,
                                 [(p.cluster_key, live) for p, _, _, _, live, _ in out]) and written is not None:
                written.discard(int(job["job_id"]))
            _remove_unonboarded(store, [(p, c) for p, _, _, c, _, _ in out])
            raise
    result = []
    schedule = job_schedule(settings)  # as the job has it now: changed, paused or removed since
    newest: int | None = None
    for project, new_spec, diff, created, spec, found in out:
        # As the job holds it when written (what runs report, so later drift checks agree: a field
        # the service fills in on read is no user's edit); as sent when nothing was written.
        new_spec = held.get(project.cluster_key, new_spec)
        if not dry_run:
            # Rows are written whole: re-read under the lock (held by the caller: this process's
            # and other servers'), so a collector or an apply writing since the read above keeps its change.
            fresh = store.projects.get(int(project.id or 0))
            # Only reached for a detached project when the import named its job (`_split_detached`).
            reattached = fresh.detached
            changes: dict[str, Any] = {}
            if reattached:
                # The job is back on its cluster as found (detach restored it), onboarded again: recorded
                # as a revert to it, so savings read "as found" until a recommendation is applied (they
                # read the last recommendation before the detach as applied), and a run already going
                # on the detached spec is judged against that spec, not as a user edit.
                if newest is None:
                    newest = gateway.latest_run_id(fresh.job_id) or 0
                changes["pending_apply"] = {
                    "recommendation_id": None, "applied_spec": new_spec, "previous_spec": spec,
                    "applied_after_run_id": newest, "applied_at_ms": store.clock.now_ms(), "confirmed": True,
                    "reverted": True, "reattached": True}
            elif not created:
                fresh = _edited_outside(store, fresh, spec, new_spec, wiring)
                if fresh.pending_apply and not reattached:
                    # The apply's record takes the wiring this import wrote (a server that moved: a new
                    # TRIMTAB_SERVER; a new TRIMTAB_AGENT_SECRET): compared with the old one, the next
                    # run read as another server's take-over, or as a user's edit of TRIMTAB_TOKEN that
                    # paused auto-apply. `_edited_outside` has ruled out any other difference.
                    changes["pending_apply"] = {**fresh.pending_apply, "applied_spec": new_spec}
            # What this import added, so detach takes off exactly that (`server.apply.detached_spec`).
            changes["state"] = {**without_intent(fresh.state), ONBOARDED_KEY: onboard_record(
                fresh.original_spec, found, new_spec, dict(wiring.init_script), fresh.state.get(ONBOARDED_KEY))}
            if reader is not None:
                changes["state"][SECRET_READER_KEY] = reader_record(
                    fresh.state.get(SECRET_READER_KEY), reader["scope"], reader["principal"], reader["granted"])
            if created or reattached:
                # The owner's cluster as found: their first_on_demand, the spot floor.
                changes["state"] = with_owner_spec(changes["state"], found, cloud=ws.cloud)
            recorded = dataclasses.replace(fresh, current_spec=new_spec, job_name=job_name or fresh.job_name,
                                           detached=False, orphaned=False, schedule=schedule, **changes)
            # A re-import of a job nobody changed writes nothing: an auto-import pass or a person
            # importing every job again wrote each project's row every time, for no change.
            project = fresh if recorded == fresh else store.projects.update(recorded)
            if reattached:
                log.info("project %s re-attached by an import naming job %s", project.name, job["job_id"])
        else:
            reattached = project.detached
        result.append(ImportedProject(project, diff, created, reattached=reattached))
    return result


def _announce(store: Store, gateway: DatabricksGateway, job: dict[str, Any],
              out: list[tuple[Project, dict[str, Any], str, bool, dict[str, Any], dict[str, Any]]],
              wiring: AgentWiring, reader: dict[str, Any] | None) -> None:
    """Announce the onboarding write on each project before it is sent (`server.write_intent`): a
    stop before it is recorded left a project with no record of its wiring (its first run taken for
    a user's edit, a detach leaving the init script on the job). Under the projects' locks."""
    settings = job.get("settings") or {}
    newest: int | None = None
    for project, new_spec, _, created, live, found in out:
        fresh = store.projects.get(int(project.id or 0))
        if fresh.detached and newest is None:
            newest = gateway.latest_run_id(fresh.job_id) or 0  # a re-attach's run boundary
        announce(store, fresh, intent(
            "onboard", expected=new_spec, before=live, at_ms=store.clock.now_ms(), created=created,
            found=found, init_script=dict(wiring.init_script), log_destination=wiring.log_destination, reader=reader,
            job_name=str(settings.get("name") or ""), after_run=newest if fresh.detached else None))


def finish_onboard(store: Store, project: Project, record: dict[str, Any], live: dict[str, Any]) -> Project:
    """Record the onboarding ``record`` announced (`_announce`), which the job holds (``live``) but the
    store never heard of, as `_onboard_job` would have: what it added (`ONBOARDED_KEY`), who the
    cluster runs as (`SECRET_READER_KEY`), the onboarded spec as the project's, and a person's edit
    the re-import found (`_edited_outside`) as theirs. Call under the lock."""
    log.warning("project %s: its cluster holds Trimtab's onboarding, written but not recorded (the server "
                "stopped mid-import): recorded now", project.name)
    if not project.detached and not record.get("created"):
        # Judged as the import would have judged the spec it found (``before``): adopted as Trimtab's
        # own, a resize made before the re-import was put back by the next detach.
        logs = record.get("log_destination")
        wiring = AgentWiring(server_address="", init_script=record.get("init_script") or {},
                             **({"log_destination": str(logs)} if logs else {}))
        project = _edited_outside(store, project, record.get("before") or {}, live, wiring)
    state = {**without_intent(project.state), ONBOARDED_KEY: onboard_record(
        project.original_spec, record.get("found") or {}, live, record.get("init_script") or {},
        project.state.get(ONBOARDED_KEY))}
    reader = record.get("reader")
    if isinstance(reader, dict):
        state[SECRET_READER_KEY] = reader_record(project.state.get(SECRET_READER_KEY), reader["scope"],
                                                 reader["principal"], reader["granted"])
    if project.detached or record.get("created"):
        state = with_owner_spec(state, record.get("found") or {}, cloud=project_cloud(store, project))
    changes: dict[str, Any] = {}
    if project.detached:
        changes["pending_apply"] = {
            "recommendation_id": None, "applied_spec": live, "previous_spec": record.get("before") or {},
            "applied_after_run_id": int(record.get("after_run") or 0), "applied_at_ms": store.clock.now_ms(),
            "confirmed": True, "reverted": True, "reattached": True}
    elif project.pending_apply:
        changes["pending_apply"] = {**project.pending_apply, "applied_spec": live}
    return store.projects.update(dataclasses.replace(
        project, current_spec=live, job_name=str(record.get("job_name") or project.job_name), detached=False,
        orphaned=False, state=state, **changes))


def _edited_outside(store: Store, project: Project, found: dict[str, Any], onboarded: dict[str, Any],
                    wiring: AgentWiring) -> Project:
    """``project`` after an import found its cluster as ``found``: rebased on it when that is a user's
    edit, as an apply or the collector finding the edit does (`server.apply.rebase`: the pending
    recommendation superseded, auto-apply held); unchanged otherwise. Call under the project lock.

    The import is about to record the job's spec as the project's: without this, an edit made since
    Trimtab's last write became the spec Trimtab expects, and the next apply wrote the recommendation
    planned before the edit over it, with no "edited outside Trimtab" refusal. ``onboarded`` is the
    spec the import leaves on the job (the edit, with Trimtab wired in again), the one adopted.

    Trimtab's own wiring (its init script, TRIMTAB_* variables, tags and log delivery) is never a
    user's edit: the import puts it back anyway, and a cluster read before another importer wired it
    would otherwise pause auto-apply for good."""
    pending = project.pending_apply or {}
    expected = pending.get("applied_spec") or project.current_spec
    drift = spec_drift(_without_own_wiring(found, project, wiring),
                       _without_own_wiring(expected, project, wiring)) if expected else []
    if not drift:
        return project
    if adopt_own_write(store, project, found) is not None:
        # Trimtab's own apply, written but never recorded: recorded now, no user edit.
        return store.projects.get(int(project.id or 0))
    log.warning("project %s: the import found its cluster edited outside Trimtab (%s); rebasing on it",
                project.name, ", ".join(drift))
    return rebase(store, project, onboarded, drift)


def _without_own_wiring(spec: dict[str, Any], project: Project, wiring: AgentWiring) -> dict[str, Any]:
    """``spec`` without what onboarding puts on a cluster (`server.onboard.onboard_spec`): Trimtab's
    init scripts (this wiring's and those earlier imports recorded, never one the cluster had when
    first imported), the TRIMTAB_* variables, Trimtab's tags, and the log delivery it added."""
    out = copy.deepcopy(spec)
    original = project.original_spec
    recorded = project.state.get(ONBOARDED_KEY)
    recorded = recorded if isinstance(recorded, dict) else {}
    theirs = original.get("init_scripts") or []
    ours = [s for s in [*(recorded.get("init_scripts") or []), dict(wiring.init_script)] if s not in theirs]
    scripts = [s for s in out.get("init_scripts") or [] if s not in ours]
    env = {k: v for k, v in (out.get("spark_env_vars") or {}).items() if not k.startswith(AGENT_ENV_PREFIX)}
    tags = {k: v for k, v in (out.get("custom_tags") or {}).items() if k not in TRIMTAB_TAGS}
    for key, value in (("init_scripts", scripts), ("spark_env_vars", env), ("custom_tags", tags)):
        if value:
            out[key] = value
        else:
            out.pop(key, None)  # emptied: the same as absent ([] and a missing list read apart)
    own_logs = [recorded.get("cluster_log_conf"), {"dbfs": {"destination": wiring.log_destination}}]
    if not original.get("cluster_log_conf") and out.get("cluster_log_conf") in own_logs:
        out.pop("cluster_log_conf", None)
    return out


def _restore_clusters(gateway: DatabricksGateway, job_id: int, settings: dict[str, Any],
                      specs: list[tuple[str, dict[str, Any]]]) -> bool:
    """Write ``specs`` (cluster key, spec as found) back into the job; whether it was. A failure is
    logged (the caller reports the first one)."""
    update: dict[str, list[Any]] = {}
    for key, spec in specs:
        for field, entries in cluster_entry_update(settings, key, spec).items():
            update.setdefault(field, []).extend(entries)
    try:
        gateway.update_job(job_id, update)
    except DatabricksCallError as err:
        log.error("job %d: could not write the clusters back as found after a failed onboarding: %s", job_id, err)
        return False
    return True


class OnboardNotTaken(FailedPrecondition):
    """The job read back after onboarding does not hold what was written (the previous clusters were
    written back): that job's failure alone, reported as skipped by an import of several."""


def _verify(gateway: DatabricksGateway, job_id: int,
            written: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each cluster's spec read back after onboarding (by key), given ``written`` as (key, the spec
    before, the spec sent). Only the paths the import wrote are judged (`server.spec.written_paths`),
    as an apply's read-back does: a field Databricks fills in or normalises on its side
    (``runtime_engine``, ``enable_local_disk_encryption``) is no failed write. `OnboardNotTaken` names
    the paths that do not hold what was sent."""
    settings = gateway.get_job(job_id).get("settings") or {}
    held: dict[str, dict[str, Any]] = {}
    for key, before, sent in written:
        live = find_cluster_spec(settings, key)
        if live is None:
            raise OnboardNotTaken(f"job {job_id}: cluster {key!r} is gone from the job after onboarding")
        mismatch = readback_mismatch(live, sent, written_paths(before, sent))
        if mismatch:
            raise OnboardNotTaken(f"job {job_id}: cluster {key!r} did not take the onboarded spec "
                                  f"({', '.join(mismatch)} differ)")
        held[key] = live
    return held
