"""Revert: put back the fields a recommendation owns as they were before its apply, and record it."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from server.actor import actor
from server.apply_lock import _locked
from server.apply_record import (
    SETTINGS_KEY,
    _drift,
    _refuse_adopted,
    _started_since,
    _with_rejected,
    plan_settings,
)
from server.databricks import DatabricksGateway
from server.domain import BACK_TO_USER_EDIT, OVER_USER_EDIT, Project, started_before
from server.errors import ALREADY_REVERTED, FailedPrecondition
from server.job_write import (
    ApplyResult,
    WriteSettled,
    _active,
    _job_cluster,
    _settle_announced,
    _write_verified,
    project_cloud,
)
from server.onboard import RECOMMENDATION_TAG, spec_diff
from server.owned_fields import _owned_label, _with_tag, owned_drift, owned_from
from server.plan.policy import kept_values
from server.spec import config_from_spec, config_label, spec_drift
from server.store import Store
from server.write_intent import announce, intent, unrecorded_why, without_intent

log = logging.getLogger("server.apply")  # split from it: its log lines keep their name


@_locked
def revert(store: Store, gateway: DatabricksGateway, project_id: int, *, dry_run: bool = False) -> ApplyResult:
    """Go back to the configuration before the last apply, once: a second revert is refused."""
    reverting = store.projects.get(project_id).pending_apply or {}
    try:
        # Before the checks below: a first apply written and never recorded is "no apply recorded"
        # until it is settled.
        _settle_announced(store, gateway, project_id, dry_run=dry_run)
    except WriteSettled as settled:
        if settled.kind == "revert":
            # This very revert, written by a server that stopped before recording it: done now.
            rec_id = reverting.get("recommendation_id")
            return ApplyResult(store.recommendations.get(int(rec_id)) if rec_id is not None else None, "", applied=True,
                               message="reverted to the configuration before the last apply (written before, "
                                       "recorded now)")
        if settled.kind != "apply":
            raise
        # An apply a stopped server wrote and never recorded, recorded now: the person asked to go back
        # from what the job holds, which is that apply, so the revert goes on from it.
    project = _active(store, project_id)
    pending = project.pending_apply or {}
    if pending.get("reverted"):
        # Its previous_spec is the reverted recommendation's (for attributing runs in flight);
        # writing it back would put the rejected recommendation on the job again.
        raise FailedPrecondition(f"project {project.name}: nothing to revert: the last apply was already "
                                 "reverted (the next apply can be)", reason=ALREADY_REVERTED,
                                 recommendation_id=_last_reverted(store, project_id))
    if not pending.get("previous_spec"):
        raise FailedPrecondition(f"project {project.name}: nothing to revert (no apply recorded)")
    settings, live = _job_cluster(store, gateway, project, dry_run=dry_run)
    cloud = project_cloud(store, project)
    drift = _drift(project, live)
    # Only what Trimtab owns goes back, over the live spec, as an apply merges: the user's edits of
    # other fields since the apply (Spark conf, tags, libraries...) and fields Databricks fills in
    # (aws_attributes.zone_id) keep the live value.
    previous = owned_from(live, pending["previous_spec"], cloud=cloud)
    # The tag of the recommendation gone back to, none when it is none of Trimtab's (the cluster as
    # found, or the owner's own): the previous spec may carry a stale one (an owner's resize keeps the
    # tag of the recommendation it replaced), which attributed the runs after the revert to it.
    back = pending.get("previous_recommendation_id")
    previous["custom_tags"] = _with_tag(previous.get("custom_tags"),
                                        {"custom_tags": {RECOMMENDATION_TAG: str(back)}} if back is not None else {},
                                        RECOMMENDATION_TAG)
    # The job already holds the revert, tag included: an earlier revert wrote it and its record
    # failed (the database, a stop mid-revert). Refused as "edited outside Trimtab", the retry
    # could never record it, and the next run was taken for a user's edit.
    written = bool(drift) and not spec_drift(live, previous)
    if not written and (edited := owned_drift(drift, live, pending.get("applied_spec") or {}, cloud=cloud)):
        _refuse_adopted(store, project, live, dry_run=dry_run)
        # Not rebased: the record of the apply stays, so the revert can follow once the owner has
        # settled the fields (a rebase, at the next apply or run, ends it as before).
        raise FailedPrecondition(
            f"project {project.name}: not reverted: the cluster's {', '.join(edited)} "
            f"{'was' if len(edited) == 1 else 'were'} edited outside Trimtab after the last apply, and a "
            "revert would write over that edit. To keep your edit, there is nothing to revert; to go back to "
            f"the configuration before the apply ({_owned_label(pending['previous_spec'], cloud)}), put "
            f"{'that field' if len(edited) == 1 else 'those fields'} back as Trimtab wrote them "
            f"({_owned_label(pending.get('applied_spec') or {}, cloud)}) and run the revert again, or set the "
            "earlier values in Databricks yourself")
    rec_id = pending.get("recommendation_id")
    rec = store.recommendations.get(int(rec_id)) if rec_id is not None else None
    diff = spec_diff(live, previous, f"job {project.job_id} / {project.cluster_key}")
    if dry_run:
        return ApplyResult(rec, diff, applied=False, message="dry run: nothing changed")
    after_run = gateway.latest_run_id(project.job_id) or 0
    if written:
        log.warning("project %s: the job already holds the revert of recommendation %s, written by Trimtab but "
                    "not recorded: recorded as reverted now", project.name, rec_id)
    else:
        project = announce(store, project, intent("revert", expected=previous, before=live,
                                                  at_ms=store.clock.now_ms(), after_run=after_run))
        previous = _write_verified(store, gateway, project, settings, live, previous)
    _record_revert(store, project, previous, live, after_run, written=written, by=actor())
    if rec is not None and rec.id is not None:
        rec = store.recommendations.get(rec.id)
    return ApplyResult(rec, diff, applied=True, message="reverted to the configuration before the last apply")


def _last_reverted(store: Store, project_id: int) -> int | None:
    """The recommendation the last revert took off the job: its record names the one it went back to,
    not this one, so it is the latest reverted (a refused repeat's `trimtab-recommendation-id`)."""
    reverted = [r for r in store.recommendations.newest_first(project_id, limit=20, state="reverted")
                if r.reverted_at_ms is not None]
    return max(reverted, key=lambda r: (r.reverted_at_ms or 0, r.id or 0)).id if reverted else None


def finish_revert(store: Store, project: Project, record: dict[str, Any], live: dict[str, Any]) -> None:
    """Record the revert ``record`` (`server.write_intent`) announced, which the job holds (``live``)
    but the store never heard of. Call under the project lock."""
    log.warning("project %s: the job holds the revert of recommendation %s, written by Trimtab but not recorded "
                "(%s): recorded as reverted now", project.name,
                (project.pending_apply or {}).get("recommendation_id"), unrecorded_why(record))
    _record_revert(store, project, live, dict(record.get("before") or {}), int(record.get("after_run") or 0),
                   written=False)


def _record_revert(store: Store, project: Project, previous: dict[str, Any], live: dict[str, Any],
                   after_run: int, *, written: bool, by: str = "") -> None:
    """Record that the job holds the revert of the last apply (``previous``, written over ``live``):
    the reverted recommendation ``reverted`` (by ``by``: the admin token of the call, "" when unknown) and
    its configuration remembered, the record of the revert, and one log line saying so. ``written``: the
    job held the revert before this revert read it (an earlier one's write, unrecorded)."""
    project_id = int(project.id or 0)
    pending = project.pending_apply or {}
    cloud = project_cloud(store, project)
    rec_id = pending.get("recommendation_id")
    back = pending.get("previous_recommendation_id")
    rec = store.recommendations.get(int(rec_id)) if rec_id is not None else None
    state = without_intent(project.state)
    states: dict[int, str] = {}
    if rec is not None and rec.id is not None:
        # Not "rejected" (turned down before any apply): this one held the job, and its runs say so.
        states[rec.id] = "reverted"
        # Turned down, but not the very cluster the revert goes back to (an apply that changed only the
        # tag, or only the driver or disks): banning it moved the job off its own cluster to a dearer one
        # at the next plan. A driver or disk change is remembered as that driver, or those volumes, for
        # these workers.
        state = _with_rejected(state, rec.config, config_from_spec(
            previous, cloud=cloud, policy_values=kept_values(project.state, previous)))
    # A recommendation planned on top of the reverted spec no longer fits the job (and may be
    # the configuration just turned down): the next run brings a new one.
    waiting = store.recommendations.pending(project_id)
    if waiting is not None and waiting.id is not None:
        states[waiting.id] = "superseded"
    # What the runs that started before the revert ran: the reverted apply's spec, or, when none
    # started since that apply (reverted while its first run was still in flight), what they ran
    # before it; the reverted spec would take a run on the very spec put back for a user's edit.
    ran, ran_rec = started_before(pending) if not _started_since(pending, after_run) else (None, None)
    if ran is None:
        # What the job held until the revert: live, or, when the job already holds the revert (an
        # earlier one's write, unrecorded), the applied spec the record kept; live then is the
        # reverted spec, and a run in flight on the recommendation read as a user's edit, rebased
        # the project onto the rejected recommendation and paused auto-apply (review rev15f).
        ran, ran_rec = (pending.get("applied_spec") or live) if written else live, rec_id
    store.projects.update(dataclasses.replace(project, current_spec=previous, state=state, pending_apply={
        "recommendation_id": back, "applied_spec": previous, "previous_spec": ran,
        "previous_recommendation_id": ran_rec, "applied_after_run_id": after_run,
        "applied_at_ms": store.clock.now_ms(), "confirmed": False, "reverted": True,
        SETTINGS_KEY: plan_settings(project.settings),
        **({BACK_TO_USER_EDIT: True} if pending.get(OVER_USER_EDIT) else {})}), recommendations=states, by=by)
    log.info("project %s: reverted recommendation %s (%s -> %s) by %s", project.name, rec_id,
             config_label(config_from_spec(live, cloud=cloud)), config_label(config_from_spec(previous, cloud=cloud)),
             by or "an unknown caller")
