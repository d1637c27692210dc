"""Put a recommendation into the job through the Jobs API; revert it; detach.

Apply: get the job, check the cluster was not edited outside Trimtab since
the last write (if it was, rebase on the user's spec and stop), deep-merge the
recommendation into the live spec, tag the cluster with
``trimtab:recommendation-id`` (so the next run is attributed exactly), send the
complete entry for the key with ``jobs/update``, and re-read the job to verify
nothing was half-applied.

An apply is *unconfirmed* until a run used it (the collector confirms it);
no new apply happens before that, so every configuration gets a run.
``pending_apply`` on the project records the apply:
``{recommendation_id, applied_spec, previous_spec, previous_recommendation_id,
applied_after_run_id, applied_at_ms, confirmed}``; runs with an id up to
``applied_after_run_id`` had started before it and used ``previous_spec``, or what
``started_before_spec`` names when the record has it (`server.domain.started_before`).
When no run started between two writes (the same ``applied_after_run_id``: an apply reverted,
or replaced after a settings change, while its first run is still in flight), the runs in flight
ran what the earlier record says they ran, not the spec the later write replaced: the later
record keeps it (`_started_since`). The recommendation's state and the project's record are
written in one transaction (`ProjectRepository.update`).

Revert puts back what ``previous_spec`` has of the fields a recommendation owns (sizing, node
types, availability and disks: `owned_from`), over the live spec as an apply merges, and records it
the same way with ``reverted`` set. Its ``previous_spec`` is then what the runs that started before
the revert ran (the reverted recommendation's spec, or the one before it when no run started
between the apply and the revert), kept only so they are attributed to it; it is never a revert
target: a second revert is refused until the next apply, and an apply over the revert keeps it
apart (``started_before_spec``) from its own ``previous_spec``, the spec the revert went back to.
The reverted recommendation is ``reverted`` (apart from ``rejected``: turned down before any apply), and
its configuration is remembered on the project
(`server.plan.candidates.REJECTED_KEY`; its driver for those workers, `server.plan.driver.TURNED_DOWN_DRIVERS_KEY`,
when only the driver changed; its volumes for them, `server.plan.storage.TURNED_DOWN_VOLUMES_KEY`, when
the disks changed) so no later plan, automatic or not, brings it back.

This module applies (`apply_recommendation`), rebases on a user's edit (`rebase`) and rejects; the
rest lives in one module per job, and every name callers import from here is re-exported:
`server.apply_lock` (the project lock), `server.job_write` (reading the job's cluster and writing it
back, verified), `server.owned_fields` (the fields a recommendation owns), `server.apply_record`
(what a write records on the project), `server.revert` and `server.detach`.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

from server.actor import AUTO, actor
from server.already_runs import ALREADY_RUNS, already_runs
from server.apply_lock import PROJECT_LOCK_WAIT_S as PROJECT_LOCK_WAIT_S
from server.apply_lock import _locked, project_lock
from server.apply_record import BEFORE_WRITES_KEY as BEFORE_WRITES_KEY
from server.apply_record import (
    LAST_WRITE_KEY,
    SETTINGS_KEY,
    _drift,
    _record_apply,
    _refuse_adopted,
    _with_rejected,
    plan_settings,
    proposed_spec,
    trimtab_wrote,
)
from server.apply_record import adopt_own_write as adopt_own_write
from server.apply_record import finish_apply as finish_apply
from server.costing.catalog import PriceCatalog, last_active_catalog, load_catalog
from server.databricks import DatabricksGateway
from server.detach import AGENT_ENV_PREFIX as AGENT_ENV_PREFIX
from server.detach import ONBOARDED_KEY as ONBOARDED_KEY
from server.detach import detached_spec as detached_spec
from server.detach import finish_detach as finish_detach
from server.detach import onboard_record as onboard_record
from server.detach import restore_original as restore_original
from server.domain import OWNER_SIZING_KEY, Project, Recommendation
from server.errors import ALREADY_APPLIED, ALREADY_REJECTED, FailedPrecondition, NotFound, TrimtabError
from server.job_write import REFUSED as REFUSED
from server.job_write import (
    ApplyResult,
    _active,
    _job_cluster,
    _settle_announced,
    _write_verified,
    project_cloud,
)
from server.job_write import WriteSettled as WriteSettled
from server.onboard import RECOMMENDATION_TAG, custom_tags_over_limit, spec_diff
from server.orphan_cause import recorded_cause
from server.owned_fields import OWNED_ATTRIBUTES as OWNED_ATTRIBUTES
from server.owned_fields import OWNED_NODE_FIELDS as OWNED_NODE_FIELDS
from server.owned_fields import owned_drift, owned_from
from server.plan.candidates import REJECTED_KEY as REJECTED_KEY  # re-exported: callers import it from here
from server.plan.candidates import PoolBacking, outside_bounds
from server.plan.owner_on_demand import SPOT_OFF_BY_IMPORT_KEY, after_edit, spot_back_by_owner
from server.plan.policy import kept_policy, kept_values
from server.plan.project_cluster import owner_availability, owner_first_on_demand
from server.revert import finish_revert as finish_revert
from server.revert import revert as revert
from server.spec import (
    config_from_spec,
    config_label,
    flatten,
    pool_fields,
    recommendation_overlay,
    spec_drift,
)
from server.store import Store
from server.write_intent import announce, intent, without_intent

log = logging.getLogger(__name__)


class TagsFull(TrimtabError):
    """The cluster's own custom tags leave no room for Trimtab's (`custom_tags_over_limit`): Databricks
    would refuse the update. Not a `FailedPrecondition`, which auto-apply takes for a normal wait
    (an apply no run has used yet): this needs the owner, so auto-apply keeps it as the project's
    problem, as it would Databricks' own refusal."""

    code = "FAILED_PRECONDITION"


@_locked
def apply_recommendation(store: Store, gateway: DatabricksGateway, project_id: int, *,
                         dry_run: bool = False, catalog: PriceCatalog | None = None,
                         over_unconfirmed: bool = False, by_hand: bool = False) -> ApplyResult:
    """Apply the project's pending recommendation (or only show its diff with ``dry_run``).

    A recommendation outside the project's bounds, families or spot setting (planned before they
    changed) is refused (`_check_bounds`). ``catalog`` names the families of node types: the one the
    server plans with (`last_active_catalog`) when not given. ``over_unconfirmed``: write even though
    the last apply has had no run yet (the job's cluster breaks settings the owner has just changed:
    waiting for that run would run it on what they ruled out; or the person asked for it).
    ``by_hand``: a person's apply, which writes over an unconfirmed apply when the project's settings
    changed since it (`unconfirmed_refusal`), as auto-apply does after a settings change, and writes
    nothing when the job's cluster already runs the recommendation (`server.already_runs`)."""
    _settle_announced(store, gateway, project_id, dry_run=dry_run)
    project = _active(store, project_id)
    rec = store.recommendations.pending(project_id)
    if rec is None or rec.id is None:
        raise no_pending(store, project, "applied")
    pending = project.pending_apply or {}
    unconfirmed = bool(pending) and not pending.get("confirmed", False)
    if unconfirmed and not over_unconfirmed:
        why = unconfirmed_refusal(project) if by_hand else "the next apply waits for that run"
        if why:
            raise FailedPrecondition(f"project {project.name}: the last apply is not confirmed yet (no run has "
                                     f"used {_named(pending)}); {why}")
    note = ""
    if unconfirmed:
        note = (f"{'would replace' if dry_run else 'replaces'} {_named(pending)}, which no run has used: "
                f"{_replaced_why(project, over_unconfirmed)}")
    cloud = project_cloud(store, project)
    _check_bounds(project, rec, catalog or last_active_catalog() or load_catalog(), cloud)
    settings, live = _live_spec(store, gateway, project, dry_run=dry_run)
    if by_hand and already_runs(live, rec.config, cloud=cloud, policy_values=kept_values(project.state, live)):
        # Writing it would change only the tag: no write, and no apply record, whose wait for a run
        # would hold the next apply back for a configuration the job has run all along. It stays
        # pending, as auto-apply leaves it (the planner does not call this for the cluster the job
        # runs: `server.plan.planner`), until the next run plans again.
        return ApplyResult(rec, "", applied=False, message=f"recommendation {rec.id}: {ALREADY_RUNS}",
                           already_on_job=True)
    new_spec = proposed_spec(live, rec, cloud=cloud)
    if (over := custom_tags_over_limit(new_spec)) is not None:
        # Databricks refuses the whole update beyond its limit: said before anything is sent (the
        # owner added tags after the import, which checked them).
        raise TagsFull(f"project {project.name}: recommendation {rec.id} not applied: the cluster {over}")
    diff = spec_diff(live, new_spec, f"job {project.job_id} / {project.cluster_key}")
    if dry_run:
        return ApplyResult(rec, diff, applied=False, message="dry run: nothing changed", note=note)
    after_run = gateway.latest_run_id(project.job_id) or 0
    # What the recommendation sets (even where it equals the live spec) and the attribution tag.
    owned = {*flatten(recommendation_overlay(rec.config, azure=cloud == "azure")),
             f"custom_tags.{RECOMMENDATION_TAG}"}
    # Announced first: a stop between the write and its record leaves the intent, which the next
    # poll settles before reading runs (`server.recover.reconcile`), instead of the write reading as
    # a person's edit. A failed write's write-back takes it away (`server.job_write._restore`); it stays
    # only when what the job holds is not known, for the next poll to read.
    project = announce(store, project, intent("apply", expected=new_spec, before=live, at_ms=store.clock.now_ms(),
                                              recommendation_id=rec.id, after_run=after_run))
    new_spec = _write_verified(store, gateway, project, settings, live, new_spec, owned)
    # A person's apply is theirs (the admin token of the call); any other is auto-apply's.
    by = actor() if by_hand else AUTO
    applied = _record_apply(store, project, rec, new_spec, live, after_run, by=by)
    # One line per change to a job: which project, what it was and is now, and who did it.
    log.info("project %s: applied recommendation %s (%s -> %s) by %s%s", project.name, rec.id,
             config_label(config_from_spec(live, cloud=cloud)), config_label(config_from_spec(new_spec, cloud=cloud)),
             by or "an unknown caller", f"; it {note}" if note else "")
    return ApplyResult(applied, diff, applied=True, message=f"applied recommendation {rec.id}", note=note)


def unconfirmed_refusal(project: Project) -> str:
    """Why a hand apply may not write over the project's unconfirmed apply, "" when it may.

    It may when the project's settings changed since that apply (`SETTINGS_KEY`): the
    recommendation pending now was planned under the new ones, and the job's cluster was chosen
    under the old, perhaps breaking a bound just set, so waiting for a run would run the job on what
    the owner ruled out (auto-apply writes over it then too: `server.plan.planner.Planner.replan`).
    Otherwise the refusal stays: a second apply before any run used the first (a plan from a run
    that was already going when it was applied) would leave the first configuration never run, and
    two people applying at once would each write over the other. A record written before the
    settings were kept in it cannot tell: refused, with the way to write anyway."""
    record = project.pending_apply or {}
    kept = record.get(SETTINGS_KEY)
    if isinstance(kept, dict) and kept != plan_settings(project.settings):
        return ""
    return ("the project's settings have not changed since, so the next apply waits for that run (every "
            "configuration gets a run). To write over it now: `trimtab recommendation apply "
            f"{project.name} --replace-unconfirmed` (ApplyRecommendationRequest.replace_unconfirmed)")


def _named(record: dict[str, Any]) -> str:
    """What an apply or revert record wrote, in a few words."""
    rec_id = record.get("recommendation_id")
    if record.get("reverted"):
        return "the last revert"
    return f"recommendation {rec_id}" if rec_id is not None else "the last apply"


def _replaced_why(project: Project, asked: bool) -> str:
    """Why an apply writes over an unconfirmed one (the apply's note)."""
    if not unconfirmed_refusal(project):
        return "the project's settings changed since it was written"
    return "asked for (replace_unconfirmed)" if asked else "the project's settings changed"


def reject(store: Store, project_id: int) -> Recommendation:
    """Reject the project's pending recommendation (the job is not changed) and remember its
    configuration, so later plans do not offer it again."""
    with project_lock(project_id, store):  # the project's state is written whole
        project = store.projects.get(project_id)
        rec = store.recommendations.pending(project_id)
        if rec is None or rec.id is None:
            raise no_pending(store, project, "rejected")
        # As a revert remembers it (`server.revert`): not the job's own cluster when only the driver, the
        # disks (or nothing Trimtab decides) differ, the driver or the volumes for those workers then.
        cloud = project_cloud(store, project)
        kept = config_from_spec(project.current_spec, cloud=cloud,
                                policy_values=kept_values(project.state, project.current_spec)) \
            if project.current_spec else None
        store.projects.update(dataclasses.replace(project, state=_with_rejected(project.state, rec.config, kept)),
                              recommendations={rec.id: "rejected"})
    return store.recommendations.get(rec.id)


def no_recommendation_yet(project: Project) -> NotFound:
    """A project never recommended anything: when one will come, in one wording for every command
    (`recommendation show` and `apply`/`reject` said it two ways, one promising a plan after the next
    run to a project whose planning had failed or that Trimtab no longer steers)."""
    if project.detached:
        why = "it is detached: Trimtab plans nothing for it"
    elif project.orphaned:
        # The cause recorded when it was orphaned: a job another server took over is still there.
        why = recorded_cause(project)
    elif (problem := project.problem) is not None and problem.step == "plan":
        why = f"planning failed after run {problem.run_id}: {problem.message}"
    else:
        why = "one is planned after its next run"
    return NotFound(f"project {project.name} has no recommendation yet ({why})")


def no_pending(store: Store, project: Project, asked: str = "") -> TrimtabError:
    """Why the project has no pending recommendation, in what is true of its newest one. ``asked``:
    the state the call would put the pending one in ("applied", "rejected"); a newest one already in
    it carries the reason that says so (`server.errors.ALREADY_APPLIED`...): the call's own repeat."""
    latest = store.recommendations.latest(int(project.id or 0))
    if latest is None:
        return no_recommendation_yet(project)
    pending = project.pending_apply or {}
    if latest.state == "applied" and pending.get("recommendation_id") == latest.id:
        when = pending.get("applied_at_ms")
        at = f"applied at {_utc(int(when))}" if when else "applied"
        if not pending.get("confirmed", False):
            at += ", no run has used it yet"
        return FailedPrecondition(f"recommendation {latest.id} is already applied ({at}); "
                                  f"`trimtab recommendation revert {project.name}` goes back",
                                  reason=ALREADY_APPLIED if asked == "applied" else "", recommendation_id=latest.id)
    if latest.state == "applied":
        return FailedPrecondition(f"project {project.name} has no pending recommendation: recommendation "
                                  f"{latest.id} was applied, and the cluster has changed since; "
                                  "a new one is planned after the next run")
    return FailedPrecondition(f"project {project.name} has no pending recommendation: recommendation "
                              f"{latest.id} was {latest.state}; a new one is planned after the next run",
                              reason=ALREADY_REJECTED if asked == latest.state == "rejected" else "",
                              recommendation_id=latest.id)


# ------------------------------------------------------------------ helpers


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _check_bounds(project: Project, rec: Recommendation, catalog: PriceCatalog, cloud: str) -> None:
    """`FailedPrecondition` when ``rec`` is outside the project's current settings (workers, families,
    spot): it was planned under older ones (`trimtab project set` supersedes it, but one kept from an
    older server, or left when no replan followed, is still pending). Writing it would put on the job
    exactly what the owner has just ruled out."""
    # Over an instance pool only the workers are written (`server.spec.merge_recommendation`): the
    # pool's node types and availability are no recommendation's, so only the workers are judged.
    pool = PoolBacking(node_type="", driver="", max_workers=None) if pool_fields(project.current_spec) else None
    why = outside_bounds(rec.config, project.settings, catalog, cloud, pool=pool)
    if why:
        raise FailedPrecondition(
            f"project {project.name}: recommendation {rec.id} ({config_label(rec.config)}) was planned under "
            f"older settings and is outside the project's current ones ({why}); not applied. A new one is "
            f"planned after the next run; `trimtab recommendation reject {project.name}` turns this one down now")


def _live_spec(store: Store, gateway: DatabricksGateway, project: Project, *,
               dry_run: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job's settings and the cluster's live spec; orphans or rebases the project when needed."""
    settings, live = _job_cluster(store, gateway, project, dry_run=dry_run)
    drift = _drift(project, live)
    if drift:
        _refuse_adopted(store, project, live, dry_run=dry_run)
        superseded = store.recommendations.pending(int(project.id or 0))
        if not dry_run:
            rebase(store, project, live, drift)
            if store.recommendations.pending(int(project.id or 0)) is not None:
                superseded = None  # kept (`rebase`: the edit is of no field it writes)
        what = f"; recommendation {superseded.id}, planned for the old spec, is superseded" \
            if superseded is not None and not dry_run else ""
        raise FailedPrecondition(
            f"project {project.name}: the cluster was edited outside Trimtab ({', '.join(drift)}); "
            f"Trimtab keeps the edit and will recommend from it{what}")
    return settings, live


def rebase(store: Store, project: Project, live: dict[str, Any], drift: list[str], *,
           edit_run_id: int | None = None) -> Project:
    """Adopt a user's edit (``live``, found at ``drift``) as the project's spec.

    An edit of a field Trimtab owns (`owned_drift`: a resize, other node types or availability, the
    pools) means the person took over the sizing: the record of the last apply (``pending_apply``)
    goes, so no revert writes over their choice, and the pending recommendation, planned for the
    old sizing, is superseded. An edit of only other fields (a Spark conf key, tags, libraries) keeps
    the record (`_kept_record`), so `revert` can still put the owned fields back under the edit, and
    the pending recommendation unless its apply would write a drifted field back (`_writes_over`).
    An edit of which nodes are spot records the owner's first_on_demand (the spot floor) and
    availability (the spot kind, `server.plan.owner_on_demand.after_edit`); any other keeps those recorded.
    ``edit_run_id``: the Databricks run that showed the edit (the collector's), None when an apply or
    an import found it before any run."""
    cloud = project_cloud(store, project)
    record = project.pending_apply or {}
    written = record.get("applied_spec") or project.current_spec
    # Judged against Trimtab's last write, as `revert` judges it: ``drift`` may be a repaired run's
    # against the spec before the apply, or an import's with Trimtab's wiring left out.
    edited = spec_drift(live, written) if written else list(drift)
    owned = owned_drift(edited, live, written or {}, cloud=cloud)
    waiting = store.recommendations.pending(int(project.id or 0))
    states: dict[int, str] = {}
    if waiting is not None and waiting.id is not None and (owned or _writes_over(waiting, edited, cloud)):
        states[waiting.id] = "superseded"
    # Where the edit falls in the job's runs, for the planner's auto-apply hold
    # (`server.plan.planner.edit_hold`): found here (at an apply), the runs that follow match the
    # adopted spec, so none of them is flagged as the collector flags the first run after an edit.
    # An announced write is moot once the person's spec is adopted (`server.write_intent`).
    state = {**without_intent(project.state), "user_edit_paths": drift,
             "user_edit_after_run_id": int(project.last_seen_run_id or 0)}
    # The owner's first_on_demand (the spot floor) is theirs only where the edit set which nodes are
    # spot; else it stays what it was, though the job may hold a value of Trimtab's.
    policy = kept_policy(project.state)
    state = after_edit(state, live, written or {}, cloud=cloud,
                       before=owner_first_on_demand(project, cloud=cloud, policy=policy),
                       before_availability=owner_availability(project, cloud=cloud, policy=policy))
    kept = None if owned else _kept_record(project, live, edit_run_id, cloud=cloud)
    if owned:
        state[OWNER_SIZING_KEY] = True  # the next apply's record says it goes over the owner's sizing
    if project.pending_apply and kept is None:
        # The record of Trimtab's last write goes with pending_apply: kept for detach (`trimtab_wrote`).
        state.pop(LAST_WRITE_KEY, None)
        if (written_last := trimtab_wrote(project)) is not None:
            state[LAST_WRITE_KEY] = written_last
    spot_back = spot_back_by_owner(project.settings.spot_allowed, state, live, cloud=cloud)
    if spot_back:
        state.pop(SPOT_OFF_BY_IMPORT_KEY, None)
    updated = store.projects.update(dataclasses.replace(project, current_spec=live, pending_apply=kept, state=state),
                                    recommendations=states)
    if spot_back:
        log.info("project %s: spot allowed again: its owner put the job on spot (the import had left spot off "
                 "because it ran on demand)", project.name)
        updated = store.projects.update_settings(int(project.id or 0),
                                                 dataclasses.replace(project.settings, spot_allowed=True))
    return updated


def _kept_record(project: Project, live: dict[str, Any], edit_run_id: int | None, *,
                 cloud: str) -> dict[str, Any] | None:
    """The project's apply record after an edit of only fields Trimtab does not own, None when it
    has none to keep. Its ``applied_spec`` is brought up to ``live`` but for the owned fields (as
    Trimtab wrote them, which the edit left alone): the spec a run's drift is judged against and the
    one the collector's confirmation records (`_after_run`), so later runs match the edit instead of
    finding it again at every run. ``previous_spec``, the revert's target, stays as it was; `revert`
    takes only its owned fields, over the live spec, so the edit survives the revert too.

    Not kept for an edit no run after the apply has shown (an import or an apply found it before the
    next run, or a repaired run that started before the apply): the auto-apply hold
    (`server.plan.planner.edit_hold`) ends at an apply recorded at or after the edit's run (the
    owner's answer to it), and the kept record would read as one, ending the hold that a dropped
    record keeps; savings' user-configured runs (`server.services.savings.user_configured`) would
    end there too. Kept only where neither changes."""
    record = project.pending_apply or {}
    if not record.get("applied_spec"):
        return None
    edit_at = edit_run_id if edit_run_id is not None else int(project.last_seen_run_id or 0)
    if edit_at <= int(record.get("applied_after_run_id") or 0):
        return None
    return {**record, "applied_spec": owned_from(live, record["applied_spec"], cloud=cloud)}


def _writes_over(rec: Recommendation, edited: list[str], cloud: str) -> bool:
    """Whether applying ``rec`` writes a path of ``edited`` back (then it is superseded by the edit).

    An apply merges the recommendation's overlay over the live spec (`proposed_spec`,
    `server.spec.recommended_spec`): every field it does not set, the edited ones among them, keeps
    the live value, so a recommendation planned before an edit of a Spark conf key still writes
    only its sizing and keeps the edit, and stays pending (the next plan replaces it anyway, from the
    adopted spec). The overlay carries the spark_version the recommendation was planned on: an edit
    of it would be written back, so that recommendation is superseded, as every one was before."""
    overlay = set(flatten(recommendation_overlay(rec.config, azure=cloud == "azure")))
    return any(path == w or path.startswith(f"{w}.") or w.startswith(f"{path}.") for path in edited for w in overlay)
