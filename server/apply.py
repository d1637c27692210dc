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
The reverted recommendation is rejected, and its configuration is remembered on the project
(`server.plan.candidates.REJECTED_KEY`) so no later plan, automatic or not, brings it back.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.costing.catalog import PriceCatalog, last_active_catalog, load_catalog
from server.databricks import (
    DatabricksCallError,
    DatabricksGateway,
    DatabricksNotFound,
    DatabricksRejected,
    WorkspaceAuthError,
)
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import (
    BACK_TO_USER_EDIT,
    OVER_USER_EDIT,
    OWNER_SIZING_KEY,
    PROBLEM_KEY,
    STARTED_BEFORE_RECOMMENDATION,
    STARTED_BEFORE_SPEC,
    ClusterConfig,
    Project,
    ProjectSettings,
    Recommendation,
    started_before,
)
from server.errors import FailedPrecondition, NotFound, TrimtabError
from server.onboard import (
    DEFAULT_INIT_SCRIPT,
    RECOMMENDATION_TAG,
    TRIMTAB_TAGS,
    custom_tags_over_limit,
    spec_diff,
    taken_over,
)
from server.plan.candidates import REJECTED_KEPT, REJECTED_KEY, PoolBacking, config_id_of, outside_bounds
from server.plan.policy import kept_values
from server.spec import (
    GP3_FIELDS,
    POOL_ID_FIELDS,
    SIZING_FIELDS,
    SPOT_CAP_FIELD,
    cluster_entry_update,
    config_from_spec,
    config_label,
    find_cluster_spec,
    flatten,
    pool_fields,
    readback_mismatch,
    recommendation_overlay,
    recommended_spec,
    spec_drift,
    spot_cap_node_types,
    without_stale_spot_cap,
    written_paths,
)
from server.store import Store, locks
from server.write_intent import announce, intent, intent_of, without_intent

log = logging.getLogger(__name__)


# How long a project's lock held by another server is waited for (`server.store.locks`).
PROJECT_LOCK_WAIT_S = locks.DEFAULT_WAIT_S


class _ProjectLock:
    """A project's lock: an in-process re-entrant lock (all one process needs, SQLite included)
    and, on PostgreSQL, the project's advisory lock, so a second server on the same database
    waits too (`server.store.locks`). The advisory lock is taken by the outermost holder that
    names the store, and released when that holder leaves."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self._rlock = threading.RLock()
        self._db_held = False  # read and written only by the thread holding _rlock

    @contextmanager
    def held(self, store: Store | None) -> Iterator[None]:
        with self._rlock:
            if store is None or self._db_held:
                yield
                return
            with locks.advisory_lock(store.engine, locks.PROJECT_NAMESPACE, self.project_id,
                                     what=f"project {self.project_id}", clock=store.clock,
                                     wait_s=PROJECT_LOCK_WAIT_S):
                self._db_held = True
                try:
                    yield
                finally:
                    self._db_held = False


_locks: dict[int, _ProjectLock] = {}
_locks_guard = threading.Lock()


def project_lock(project_id: int, store: Store | None = None) -> AbstractContextManager[None]:
    """Hold the project's lock for a read-modify-write of its row (apply, revert, the collector).

    Project rows are written whole, so two writers interleaving (an apply and the collector's
    confirmation or cursor move) would lose one's change: every read-modify-write of a project
    row happens under this lock, the row read inside it. Re-entrant. With ``store``, other
    servers on the same PostgreSQL database are locked out too (waited for up to
    `PROJECT_LOCK_WAIT_S`, then `Unavailable`); without it, only this process's threads are.
    """
    with _locks_guard:
        lock = _locks.setdefault(project_id, _ProjectLock(project_id))
    return lock.held(store)


def _locked(fn: Callable[..., ApplyResult]) -> Callable[..., ApplyResult]:
    @functools.wraps(fn)
    def wrapper(store: Store, gateway: DatabricksGateway, project_id: int, **kw: Any) -> ApplyResult:
        with project_lock(project_id, store):
            return fn(store, gateway, project_id, **kw)

    return wrapper


class TagsFull(TrimtabError):
    """The cluster's own custom tags leave no room for Trimtab's (`custom_tags_over_limit`): Databricks
    would refuse the update. Not a `FailedPrecondition`, which auto-apply takes for a normal wait
    (an apply no run has used yet): this needs the owner, so auto-apply keeps it as the project's
    problem, as it would Databricks' own refusal."""

    code = "FAILED_PRECONDITION"


@dataclass(frozen=True)
class ApplyResult:
    recommendation: Recommendation | None
    diff: str
    applied: bool
    message: str = ""
    # What the person should know beyond the diff: the unconfirmed apply this one writes (or, dry,
    # would write) over, and why.
    note: str = ""


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
    changed since it (`unconfirmed_refusal`), as auto-apply does after a settings change."""
    _settle_announced(store, gateway, project_id, dry_run=dry_run)
    project = _active(store, project_id)
    rec = store.recommendations.pending(project_id)
    if rec is None or rec.id is None:
        raise no_pending(store, project)
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
    # a person's edit. Left in place when the write fails: the job is read to tell what holds.
    project = announce(store, project, intent("apply", expected=new_spec, before=live, at_ms=store.clock.now_ms(),
                                              recommendation_id=rec.id, after_run=after_run))
    new_spec = _write_verified(gateway, project, settings, live, new_spec, owned)
    applied = _record_apply(store, project, rec, new_spec, live, after_run)
    if note:
        log.info("project %s: recommendation %s applied; it %s", project.name, rec.id, note)
    else:
        log.info("project %s: applied recommendation %s", project.name, rec.id)
    return ApplyResult(applied, diff, applied=True, message=f"applied recommendation {rec.id}", note=note)


# Where an apply or revert record keeps the project's settings when it was written (`plan_settings`),
# so a hand apply can tell whether they changed since (`unconfirmed_refusal`).
SETTINGS_KEY = "settings"


def plan_settings(settings: ProjectSettings) -> dict[str, Any]:
    """The settings a plan is made under, as JSON: all but auto-apply (turning it on or off changes
    what is written when, not what the right cluster is)."""
    out = dataclasses.asdict(settings)
    out.pop("auto_apply", None)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


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


def proposed_spec(base: dict[str, Any], rec: Recommendation, *, cloud: str) -> dict[str, Any]:
    """The spec applying ``rec`` over ``base`` writes: the recommendation merged in
    (`server.spec.recommended_spec`) and the cluster tagged ``trimtab:recommendation-id`` (so the next
    run is attributed exactly). What apply sends, and what the dashboard's diff shows."""
    out = recommended_spec(base, rec.config, cloud=cloud)
    out["custom_tags"] = {**(out.get("custom_tags") or {}), RECOMMENDATION_TAG: str(rec.id)}
    return out


def _started_since(pending: dict[str, Any], after_run: int) -> bool:
    """Whether a run started between the write ``pending`` records and one made after run ``after_run``
    (the job's newest then). When none did, the runs up to ``after_run`` (in flight at both writes)
    started before the recorded one too, and ran what its record says they ran
    (`server.domain.started_before`), not the spec the new write replaced. A record a run
    confirmed had one start since, whatever its boundary (a re-attach's is confirmed as made)."""
    return not pending or bool(pending.get("confirmed", False)) \
        or int(pending.get("applied_after_run_id") or 0) != after_run


def _record_apply(store: Store, project: Project, rec: Recommendation, new_spec: dict[str, Any],
                  previous: dict[str, Any], after_run: int) -> Recommendation:
    """Record in the store that ``rec`` now holds on the job (``new_spec``, written over ``previous``)."""
    assert rec.id is not None
    pending = project.pending_apply or {}
    previous_rec = pending.get("recommendation_id")
    states: dict[int, str] = {}
    ran: dict[str, Any] | None = None
    if not _started_since(pending, after_run):
        ran, ran_rec = started_before(pending)
    if ran is None:
        ran, ran_rec = previous, previous_rec
    # Whether ``previous`` (what a revert of this apply goes back to) is the owner's own sizing: the
    # live spec after a rebase on their edit, or after the revert of an apply made over it.
    owners = bool(project.state.get(OWNER_SIZING_KEY)) or bool(pending.get("reverted") and pending.get(BACK_TO_USER_EDIT))
    if not _started_since(pending, after_run) and not pending.get("reverted"):
        # Over an apply no run has used nor started on (`over_unconfirmed`): the runs up to
        # ``after_run`` ran what that apply replaced, so its predecessor stays theirs, and the
        # replaced recommendation never held a run. Not over a revert: its record names the
        # rejected recommendation as "previous" (for attribution only), which must never become
        # a later revert's target, and the one it went back to did hold runs; what the runs in
        # flight ran is kept apart then (``ran``).
        previous, previous_rec = pending.get("previous_spec") or previous, pending.get("previous_recommendation_id")
        owners = bool(pending.get(OVER_USER_EDIT))
        if pending.get("recommendation_id") is not None:
            states[int(pending["recommendation_id"])] = "superseded"
    states[rec.id] = "applied"
    # An apply that went through ends a kept auto-apply failure (a planning one stays: it is the
    # plan's to clear). Its intent is settled by this record.
    state = without_intent(project.state)
    if project.problem is not None and project.problem.step == "apply":
        state = {k: v for k, v in state.items() if k != PROBLEM_KEY}
    # Applied on purpose: a configuration turned down before is no longer refused.
    state = {k: v for k, v in _without_rejected(state, rec.config).items()
             if k not in (LAST_WRITE_KEY, OWNER_SIZING_KEY)}  # now pending_apply's
    if trimtab_wrote(project) is None:
        # Trimtab's first write since the (re-)import: what detach puts back (`detached_spec`).
        state[BEFORE_WRITES_KEY] = previous
    record = {"recommendation_id": rec.id, "applied_spec": new_spec, "previous_spec": previous,
              "previous_recommendation_id": previous_rec,
              "applied_after_run_id": after_run, "applied_at_ms": store.clock.now_ms(), "confirmed": False,
              SETTINGS_KEY: plan_settings(project.settings)}
    if (ran, ran_rec) != (previous, previous_rec):
        record |= {STARTED_BEFORE_SPEC: ran, STARTED_BEFORE_RECOMMENDATION: ran_rec}
    if owners:
        record[OVER_USER_EDIT] = True
    # One transaction with the recommendations' states (`ProjectRepository.update`).
    store.projects.update(dataclasses.replace(project, current_spec=new_spec, state=state, pending_apply=record),
                          recommendations=states)
    return store.recommendations.get(rec.id)


def adopt_own_write(store: Store, project: Project, live: dict[str, Any]) -> Recommendation | None:
    """Record an apply Trimtab wrote but never recorded; the recommendation, or None if ``live`` is not one.

    The process can end between `jobs/update` and the store write (SIGTERM past the grace while a
    Databricks re-read retried, a crash). The job then holds exactly what applying the pending
    recommendation to the recorded spec writes, tag included, and was taken for a user's edit: the
    recommendation superseded, auto-apply held for the "edit". Only that exact spec is adopted; any
    other difference is still the user's. Call under the project lock.

    Over an apply no run has used yet, only the auto-apply after a settings change writes
    (`server.plan.planner.Planner.replan`, ``over_unconfirmed``), built on that apply's spec: adopted
    as it records itself over the unconfirmed one, at the unconfirmed one's run boundary, so the
    runs that started before that apply keep its predecessor. A run that started between the two
    applies (on the first) is still judged against the second: when the lost write happened is not
    known.
    """
    tag = flatten(live).get(f"custom_tags.{RECOMMENDATION_TAG}")
    rec = store.recommendations.pending(int(project.id or 0))
    if tag is None or rec is None or rec.id is None or str(tag) != str(rec.id):
        return None
    pending = project.pending_apply or {}
    base = pending.get("applied_spec") or project.current_spec
    if not base:
        return None
    expected = proposed_spec(base, rec, cloud=project_cloud(store, project))
    if spec_drift(live, expected):
        return None
    after_run = int(project.last_seen_run_id or 0)
    if pending and not pending.get("confirmed", False):
        after_run = max(after_run, int(pending.get("applied_after_run_id") or 0))
    log.warning("project %s: the job holds recommendation %s, written by Trimtab but not recorded (the server "
                "stopped mid-apply?): recorded as applied now", project.name, rec.id)
    return _record_apply(store, project, rec, live, base, after_run)


def finish_apply(store: Store, project: Project, record: dict[str, Any], live: dict[str, Any]) -> None:
    """Record the apply ``record`` (`server.write_intent`) announced, which the job holds (``live``)
    but the store never heard of: as `apply_recommendation` would have, at the run boundary it read
    before writing. Call under the project lock."""
    rec = store.recommendations.get(int(record["recommendation_id"]))
    log.warning("project %s: the job holds recommendation %s, written by Trimtab but not recorded (the server "
                "stopped mid-apply): recorded as applied now", project.name, rec.id)
    _record_apply(store, project, rec, live, dict(record.get("before") or {}), int(record.get("after_run") or 0))


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
                                 "reverted (the next apply can be)")
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
        previous = _write_verified(gateway, project, settings, live, previous)
    _record_revert(store, project, previous, live, after_run, written=written)
    if rec is not None and rec.id is not None:
        rec = store.recommendations.get(rec.id)
    return ApplyResult(rec, diff, applied=True, message="reverted to the configuration before the last apply")


def finish_revert(store: Store, project: Project, record: dict[str, Any], live: dict[str, Any]) -> None:
    """Record the revert ``record`` (`server.write_intent`) announced, which the job holds (``live``)
    but the store never heard of. Call under the project lock."""
    log.warning("project %s: the job holds the revert of recommendation %s, written by Trimtab but not recorded "
                "(the server stopped mid-revert): recorded as reverted now", project.name,
                (project.pending_apply or {}).get("recommendation_id"))
    _record_revert(store, project, live, dict(record.get("before") or {}), int(record.get("after_run") or 0),
                   written=False)


def _record_revert(store: Store, project: Project, previous: dict[str, Any], live: dict[str, Any],
                   after_run: int, *, written: bool) -> None:
    """Record that the job holds the revert of the last apply (``previous``, written over ``live``):
    the reverted recommendation rejected and remembered, the record of the revert. ``written``: the
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
        states[rec.id] = "rejected"
        # Turned down, unless it is the very cluster the revert goes back to (an apply that changed
        # only the tag): banning it moved the job off its own cluster to a dearer one at the next plan.
        if config_id_of(rec.config) != config_id_of(config_from_spec(
                previous, cloud=cloud, policy_values=kept_values(project.state, previous))):
            state = _with_rejected(state, rec.config)
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
        **({BACK_TO_USER_EDIT: True} if pending.get(OVER_USER_EDIT) else {})}), recommendations=states)


@_locked
def restore_original(store: Store, gateway: DatabricksGateway, project_id: int, *,
                     dry_run: bool = False) -> ApplyResult:
    """Detach: take Trimtab off the job's cluster, stop managing (`detached_spec`: Trimtab's agent,
    tags and log delivery removed, the sizing, node types and availability it wrote put back as
    imported where they still hold what it wrote; the user's own edits since stay)."""
    project = store.projects.get(project_id)
    try:
        # First, a detached project's too: a re-attach written and never recorded left Trimtab's init
        # script on the job of a project that still reads detached.
        settled_project = _settle_announced(store, gateway, project_id, dry_run=dry_run)
    except WriteSettled as settled:
        if settled.kind == "detach":
            return ApplyResult(None, "", applied=False, message=f"project {project.name} detached")
        settled_project = store.projects.get(project_id)  # recorded: detached from what it holds now
    if settled_project is None:  # an import that never reached the job: its project removed
        return ApplyResult(None, "", applied=False, message=f"project {project.name} detached")
    project = settled_project
    if project.detached:
        return ApplyResult(None, "", applied=False, message=f"project {project.name} is already detached")
    if not project.original_spec:
        raise FailedPrecondition(f"project {project.name}: no original spec recorded")
    diff = ""
    current = dict(project.original_spec)
    if not project.orphaned:
        try:
            job = gateway.get_job(project.job_id)
        except DatabricksNotFound:
            job = None
        settings = (job or {}).get("settings") or {}
        live = find_cluster_spec(settings, project.cluster_key)
        # Taken over by another server: its wiring is not Trimtab's to take off (that server's agents
        # would stop); the project is only let go here.
        if live is not None and taken_over(project, live) is None:
            restored = detached_spec(store, project, live)
            diff = spec_diff(live, restored, f"job {project.job_id} / {project.cluster_key}")
            current = live
            if not dry_run and diff:
                project = announce(store, project, intent("detach", expected=restored, before=live,
                                                          at_ms=store.clock.now_ms()))
                current = _write_verified(gateway, project, settings, live, restored)
    if dry_run:
        return ApplyResult(None, diff, applied=False, message="dry run: nothing changed")
    finish_detach(store, project, current)
    return ApplyResult(None, diff, applied=bool(diff), message=f"project {project.name} detached")


def finish_detach(store: Store, project: Project, current: dict[str, Any]) -> None:
    """Record the project detached, its cluster now ``current``: the pending recommendation
    superseded, the records of Trimtab's writes (and any announced write) gone. Call under the lock."""
    pending = store.recommendations.pending(int(project.id or 0))
    states = {pending.id: "superseded"} if pending is not None and pending.id is not None else {}
    # Detached, Trimtab has written nothing the next import should take for its own.
    state = {k: v for k, v in without_intent(project.state).items()
             if k not in (LAST_WRITE_KEY, BEFORE_WRITES_KEY, OWNER_SIZING_KEY)}
    store.projects.update(dataclasses.replace(project, detached=True, pending_apply=None, current_spec=current,
                                              state=state), recommendations=states)


# Where `Project.state` keeps what importing added to the cluster (`server.onboard.onboard_spec`)
# beyond the spec found: ``{"init_scripts": [entry...], "cluster_log_conf": {...} | None}``, so
# detach removes exactly those (`detached_spec`), never an init script the user added since.
ONBOARDED_KEY = "onboarded"
# The variables onboarding sets for the agent (`server.onboard`: TRIMTAB_SERVER, TRIMTAB_TOKEN, ...).
AGENT_ENV_PREFIX = "TRIMTAB_"
# Where `Project.state` keeps the spec of Trimtab's last write (its apply's or revert's
# ``applied_spec``) once a rebase on a user's edit has cleared ``pending_apply``, so detach still
# knows which of the fields Trimtab owns hold what it wrote (`trimtab_wrote`).
LAST_WRITE_KEY = "last_write"
# Where it keeps the spec its first write since the (re-)import was made over (`_record_apply`): the
# sizing detach puts back, the user's at a re-attach (``original_spec`` is the first import's).
BEFORE_WRITES_KEY = "before_writes"


def trimtab_wrote(project: Project) -> dict[str, Any] | None:
    """The cluster spec as Trimtab's last apply or revert wrote it, or None when it wrote none since
    the project was (re-)imported. A re-attach's record (``reattached``) holds the spec the import
    found, the user's sizing, not a write of Trimtab's."""
    pending = project.pending_apply or {}
    if pending:
        return None if pending.get("reattached") else pending.get("applied_spec")
    kept = project.state.get(LAST_WRITE_KEY)
    return kept if isinstance(kept, dict) else None


def onboard_record(original: dict[str, Any], found: dict[str, Any], onboarded: dict[str, Any],
                   init_script: dict[str, Any], recorded: dict[str, Any] | None) -> dict[str, Any]:
    """The `ONBOARDED_KEY` record after an import onboarded ``found`` as ``onboarded`` with
    ``init_script``: the scripts of earlier imports kept (the wiring may have changed since, and their
    entries stay on the job), none the spec had at first import (``original``)."""
    recorded = recorded or {}
    kept = list(original.get("init_scripts") or [])
    scripts = [s for s in recorded.get("init_scripts") or [] if s not in kept]
    if init_script not in kept and init_script not in scripts:
        scripts.append(copy.deepcopy(init_script))
    log_conf = recorded.get("cluster_log_conf")
    if not original.get("cluster_log_conf") and not found.get("cluster_log_conf"):
        log_conf = copy.deepcopy(onboarded.get("cluster_log_conf"))
    return {"init_scripts": scripts, "cluster_log_conf": log_conf}


def detached_spec(store: Store, project: Project, live: dict[str, Any]) -> dict[str, Any]:
    """The cluster ``live`` with Trimtab taken off: what detach writes.

    Started from the live spec, so the user's edits since the import (a newer spark_version, Spark
    conf, an instance profile...) stay. Removed: Trimtab's init script, its TRIMTAB_* variables and
    tags, and the log delivery the import added (`ONBOARDED_KEY`). Put back as imported: each field
    a recommendation owns (`owned_from`) that still holds what Trimtab last wrote (`trimtab_wrote`),
    as it was before Trimtab's first write (`BEFORE_WRITES_KEY`); one the user changed since (a resize
    after the apply, or before a re-attach) stays theirs. An Azure spot cap goes back only with the
    node types it was set for (`_unless_edited`)."""
    original = project.original_spec
    out = copy.deepcopy(live)
    pending = project.pending_apply or {}
    written = trimtab_wrote(project)
    if written:
        cloud = project_cloud(store, project)
        before = project.state.get(BEFORE_WRITES_KEY)
        before = before if isinstance(before, dict) else original  # applied before the key was kept
        out = owned_from(out, _unless_edited(before, live, written, cloud=cloud), cloud=cloud)
    added = project.state.get(ONBOARDED_KEY)
    recorded = pending.get("applied_spec") or project.current_spec
    if added is None:
        # Imported before the record was kept, or by an import stopped before recording it: the
        # scripts and log delivery Trimtab recorded beyond the original spec are taken as its own,
        # and so is any script on the cluster it knows for its own (`_known_scripts`): left on, it
        # runs as root at every start after Trimtab said it was gone.
        known = _known_scripts(store, project)
        added = {"init_scripts": [s for s in [*(recorded.get("init_scripts") or []), *(live.get("init_scripts") or [])]
                                  if s not in (original.get("init_scripts") or [])
                                  and (s in (recorded.get("init_scripts") or []) or s in known
                                       or (isinstance(s, dict) and _default_named(s)))],
                 "cluster_log_conf": None if original.get("cluster_log_conf") else recorded.get("cluster_log_conf")}
    theirs = original.get("init_scripts") or []
    ours = [s for s in added.get("init_scripts") or [] if s not in theirs]
    scripts = [s for s in out.get("init_scripts") or [] if s not in ours]
    _put_or_drop(out, "init_scripts", scripts, original)
    env = {k: v for k, v in (out.get("spark_env_vars") or {}).items() if not k.startswith(AGENT_ENV_PREFIX)}
    env.update({k: v for k, v in (original.get("spark_env_vars") or {}).items() if k.startswith(AGENT_ENV_PREFIX)})
    _put_or_drop(out, "spark_env_vars", env, original)
    tags = dict(out.get("custom_tags") or {})
    for tag in TRIMTAB_TAGS:
        tags = _with_tag(tags, original, tag)
    _put_or_drop(out, "custom_tags", tags, original)
    if not original.get("cluster_log_conf") and added.get("cluster_log_conf") and \
            out.get("cluster_log_conf") == added["cluster_log_conf"]:
        out.pop("cluster_log_conf", None)
    return out


def _known_scripts(store: Store, project: Project) -> list[dict[str, Any]]:
    """The init scripts Trimtab knows for its own in the project's workspace: those the other
    projects' import records name (`ONBOARDED_KEY`: the configured script, as imports wrote it)."""
    out: list[dict[str, Any]] = []
    for other in store.projects.list(project.workspace):
        record = other.state.get(ONBOARDED_KEY)
        for script in (record or {}).get("init_scripts") or [] if isinstance(record, dict) else []:
            if script not in out:
                out.append(script)
    return out


def _default_named(script: dict[str, Any]) -> bool:
    """Whether an InitScriptInfo names a file called as Trimtab's default init script."""
    name = DEFAULT_INIT_SCRIPT.rsplit("/", 1)[-1]
    return any(isinstance(v, dict) and str(v.get("destination", "")).rsplit("/", 1)[-1] == name
               for v in script.values())


def _unless_edited(before: dict[str, Any], live: dict[str, Any], written: dict[str, Any], *,
                   cloud: str) -> dict[str, Any]:
    """``before`` (the spec before Trimtab wrote) with each field Trimtab owns that ``live`` no longer
    has as Trimtab ``written`` it (the user's edit since) taken from ``live``: what detach puts back
    (`owned_from`) changes only the fields still Trimtab's. The sizing is one field (num_workers or
    autoscale)."""
    target = copy.deepcopy(before)

    def take(spec: dict[str, Any], key: str) -> None:
        if key in live:
            spec[key] = copy.deepcopy(live[key])
        else:
            spec.pop(key, None)

    if {k: live.get(k) for k in SIZING_FIELDS} != {k: written.get(k) for k in SIZING_FIELDS}:
        for key in SIZING_FIELDS:
            take(target, key)
    for key in OWNED_NODE_FIELDS:
        if live.get(key) != written.get(key):
            take(target, key)
    block = "azure_attributes" if cloud == "azure" else "aws_attributes"
    theirs, ours = live.get(block) or {}, written.get(block) or {}
    attrs = dict(target.get(block) or {})
    # An Azure spot cap is a price of the node types it was set for (`server.spec.without_stale_spot_cap`):
    # ``before``'s goes back only with ``before``'s node types. Under the types the owner chose since,
    # the cap stays as the job has it (Trimtab's -1, or the owner's own cap), as theirs.
    cap_from_live = spot_cap_node_types(target) != spot_cap_node_types(before)
    for key in OWNED_ATTRIBUTES:
        if theirs.get(key) != ours.get(key) or (key == SPOT_CAP_FIELD and cap_from_live):
            if key in theirs:
                attrs[key] = copy.deepcopy(theirs[key])
            else:
                attrs.pop(key, None)
    _put_or_drop(target, block, attrs, before)
    if cloud != "azure":
        return target
    # A cap taken from the job is a price of the job's node types: onto others (the owner edited the
    # cap, not the types Trimtab wrote, which go back to ``before``'s), -1 rather than a stale price.
    cap_from_live = cap_from_live or theirs.get(SPOT_CAP_FIELD) != ours.get(SPOT_CAP_FIELD)
    return without_stale_spot_cap(live if cap_from_live else before, target)


def _put_or_drop(spec: dict[str, Any], key: str, value: Any, original: dict[str, Any]) -> None:
    """``spec[key] = value``, or the key left out when ``value`` is empty and ``original`` had none."""
    if value or key in original:
        spec[key] = value
    else:
        spec.pop(key, None)


def _with_tag(tags: dict[str, Any] | None, source: dict[str, Any], tag: str) -> dict[str, Any]:
    """``tags`` with ``tag`` as ``source``'s custom_tags have it (removed when they lack it)."""
    out = dict(tags or {})
    value = (source.get("custom_tags") or {}).get(tag)
    if value is None:
        out.pop(tag, None)
    else:
        out[tag] = value
    return out


# What a recommendation sets (`server.spec.recommendation_overlay`) and so what revert and detach
# put back: the sizing, the node types, and the availability and disks of the cloud's attributes,
# and Azure's spot price cap, which an apply that changes the node types sets to -1
# (`server.spec.SPOT_CAP_FIELD`): the user's cap comes back with the node type it was set for.
# Not spark_version: a recommendation carries the job's own (the planner never changes it), so a
# different one on the job is the user's.
OWNED_NODE_FIELDS = ("node_type_id", "driver_node_type_id")
OWNED_ATTRIBUTES = ("availability", "first_on_demand", "ebs_volume_type", "ebs_volume_count", "ebs_volume_size",
                    *GP3_FIELDS, SPOT_CAP_FIELD)


def owned_from(base: dict[str, Any], target: dict[str, Any], *, cloud: str) -> dict[str, Any]:
    """``base`` (the live spec) with the fields Trimtab owns as ``target`` has them (removed where it
    lacks them); every other field of ``base``, the user's edits included, stays. As an apply merges
    a recommendation (`server.spec.merge_recommendation`): over an instance pool, or back to one,
    only the sizing (the pool owns the node types and availability)."""
    out = copy.deepcopy(base)
    if any(k in target for k in SIZING_FIELDS):
        for key in SIZING_FIELDS:
            out.pop(key, None)
        out.update({k: copy.deepcopy(target[k]) for k in SIZING_FIELDS if k in target})
    if pool_fields(base) or pool_fields(target):
        return out
    for key in OWNED_NODE_FIELDS:
        if key in target:
            out[key] = target[key]
        else:
            out.pop(key, None)
    block = "azure_attributes" if cloud == "azure" else "aws_attributes"
    attrs = dict(out.get(block) or {})
    wanted = target.get(block) or {}
    for key in OWNED_ATTRIBUTES:
        if key in wanted:
            attrs[key] = copy.deepcopy(wanted[key])
        else:
            attrs.pop(key, None)
    _put_or_drop(out, block, attrs, target)
    return out


def reject(store: Store, project_id: int) -> Recommendation:
    """Reject the project's pending recommendation (the job is not changed) and remember its
    configuration, so later plans do not offer it again."""
    with project_lock(project_id, store):  # the project's state is written whole
        project = store.projects.get(project_id)
        rec = store.recommendations.pending(project_id)
        if rec is None or rec.id is None:
            raise no_pending(store, project)
        store.projects.update(dataclasses.replace(project, state=_with_rejected(project.state, rec.config)),
                              recommendations={rec.id: "rejected"})
    return store.recommendations.get(rec.id)


def no_recommendation_yet(project: Project) -> NotFound:
    """A project never recommended anything: when one will come, in one wording for every command
    (`recommendation show` and `apply`/`reject` said it two ways, one promising a plan after the next
    run to a project whose planning had failed or that Trimtab no longer steers)."""
    if project.detached or project.orphaned:
        why = "it is detached: Trimtab plans nothing for it" if project.detached \
            else "its job or cluster is gone from the workspace"
    elif (problem := project.problem) is not None and problem.step == "plan":
        why = f"planning failed after run {problem.run_id}: {problem.message}"
    else:
        why = "one is planned after its next run"
    return NotFound(f"project {project.name} has no recommendation yet ({why})")


def no_pending(store: Store, project: Project) -> TrimtabError:
    """Why the project has no pending recommendation, in what is true of its newest one."""
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
                                  f"`trimtab recommendation revert {project.name}` goes back")
    if latest.state == "applied":
        return FailedPrecondition(f"project {project.name} has no pending recommendation: recommendation "
                                  f"{latest.id} was applied, and the cluster has changed since; "
                                  "a new one is planned after the next run")
    return FailedPrecondition(f"project {project.name} has no pending recommendation: recommendation "
                              f"{latest.id} was {latest.state}; a new one is planned after the next run")


# ------------------------------------------------------------------ helpers


def project_cloud(store: Store, project: Project) -> str:
    """The cloud (aws | azure) the project's cluster runs on: its workspace's, as the planner prices
    it. Not read from the spec's keys, which may name neither cloud: only for a project whose
    workspace the store does not hold (read-only pages over partial data) is the spec's
    ``azure_attributes`` taken as the sign of Azure."""
    try:
        return store.workspaces.get(project.workspace).cloud
    except NotFound:
        return "azure" if (project.current_spec or project.original_spec).get("azure_attributes") else "aws"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _with_rejected(state: dict[str, Any], config: ClusterConfig) -> dict[str, Any]:
    """``state`` remembering ``config`` as turned down (the newest `REJECTED_KEPT`)."""
    config_id = config_id_of(config)
    kept = [c for c in state.get(REJECTED_KEY) or [] if c != config_id]
    return {**state, REJECTED_KEY: [*kept, config_id][-REJECTED_KEPT:]}


def _without_rejected(state: dict[str, Any], config: ClusterConfig) -> dict[str, Any]:
    kept = state.get(REJECTED_KEY) or []
    config_id = config_id_of(config)
    if config_id not in kept:
        return state
    return {**state, REJECTED_KEY: [c for c in kept if c != config_id]}


def _active(store: Store, project_id: int) -> Project:
    project = store.projects.get(project_id)
    if project.detached:
        raise FailedPrecondition(f"project {project.name} is detached")
    if project.orphaned:
        why = project.state.get("orphaned_reason") or "its job or cluster is gone"
        raise FailedPrecondition(f"project {project.name} is orphaned ({why})")
    return project


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


def _job_cluster(store: Store, gateway: DatabricksGateway, project: Project, *,
                 dry_run: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job's settings and the cluster's live spec; orphans the project when either is gone."""
    try:
        job = gateway.get_job(project.job_id)
    except DatabricksNotFound as err:
        if not dry_run:
            store.projects.update(dataclasses.replace(project, orphaned=True))
        raise FailedPrecondition(f"project {project.name}: the job no longer exists; project orphaned") from err
    settings = job.get("settings") or {}
    live = find_cluster_spec(settings, project.cluster_key)
    if live is None:
        if not dry_run:
            store.projects.update(dataclasses.replace(project, orphaned=True))
        raise FailedPrecondition(f"project {project.name}: cluster {project.cluster_key!r} is gone from the job")
    if (other := taken_over(project, live)) is not None:
        # Another server's now: writing it would have both servers size one job, and a rebase would
        # adopt that server's wiring as a person's edit (the collector would then never see it).
        if not dry_run:
            store.projects.update(dataclasses.replace(project, orphaned=True,
                                                      state={**project.state, "orphaned_reason": other}))
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


def _drift(project: Project, live: dict[str, Any]) -> list[str]:
    """The paths where ``live`` differs from Trimtab's last write (or the recorded spec)."""
    pending = project.pending_apply or {}
    expected = pending.get("applied_spec") or project.current_spec
    return spec_drift(live, expected) if expected else []


def _refuse_adopted(store: Store, project: Project, live: dict[str, Any], *, dry_run: bool) -> None:
    """`FailedPrecondition` when ``live`` is an apply Trimtab wrote but never recorded (recorded now)."""
    if not dry_run and (adopted := adopt_own_write(store, project, live)) is not None:
        raise FailedPrecondition(
            f"project {project.name}: recommendation {adopted.id} is already on the job (Trimtab wrote it "
            "but stopped before recording it); recorded as applied now, nothing written")


def _owned_label(spec: dict[str, Any], cloud: str) -> str:
    """The fields Trimtab owns of ``spec`` in a few words (a refusal names what to put back)."""
    block = "azure_attributes" if cloud == "azure" else "aws_attributes"
    parts = [f"{key} {json.dumps(spec[key], sort_keys=True)}" for key in (*SIZING_FIELDS, *POOL_ID_FIELDS,
                                                                         *OWNED_NODE_FIELDS) if key in spec]
    attrs = spec.get(block) or {}
    parts += [f"{block}.{key} {json.dumps(attrs[key])}" for key in OWNED_ATTRIBUTES if key in attrs]
    return ", ".join(parts) or "none recorded"


def owned_drift(drift: list[str], live: dict[str, Any], written: dict[str, Any], *, cloud: str) -> list[str]:
    """The paths of ``drift`` (`server.spec.spec_drift`) that are fields Trimtab owns (`owned_from`:
    sizing, node types, availability and disks, and which instance pools back the cluster): a
    user's edit of one of them is a choice a revert must not write over."""
    block = "azure_attributes" if cloud == "azure" else "aws_attributes"
    attrs = {f"{block}.{key}" for key in OWNED_ATTRIBUTES}
    pooled = bool(pool_fields(live) or pool_fields(written))
    out = []
    for path in drift:
        top = path.split(".")[0]
        if top in SIZING_FIELDS or top in POOL_ID_FIELDS:
            out.append(path)
        elif not pooled and (top in OWNED_NODE_FIELDS or any(path == a or path.startswith(f"{a}.") for a in attrs)):
            # Over an instance pool the pool owns the node types and availability (`owned_from`).
            out.append(path)
    return out


def rebase(store: Store, project: Project, live: dict[str, Any], drift: list[str], *,
           edit_run_id: int | None = None) -> Project:
    """Adopt a user's edit (``live``, found at ``drift``) as the project's spec.

    An edit of a field Trimtab owns (`owned_drift`: a resize, other node types or availability, the
    pools) means the person took over the sizing: the record of the last apply (``pending_apply``)
    goes, so no revert writes over their choice, and the pending recommendation, planned for the
    old sizing, is superseded. An edit of only other fields (a Spark conf key, tags, libraries) keeps
    the record (`_kept_record`), so `revert` can still put the owned fields back under the edit, and
    the pending recommendation unless its apply would write a drifted field back (`_writes_over`).
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
    kept = None if owned else _kept_record(project, live, edit_run_id, cloud=cloud)
    if owned:
        state[OWNER_SIZING_KEY] = True  # the next apply's record says it goes over the owner's sizing
    if project.pending_apply and kept is None:
        # The record of Trimtab's last write goes with pending_apply: kept for detach (`trimtab_wrote`).
        state.pop(LAST_WRITE_KEY, None)
        if (written_last := trimtab_wrote(project)) is not None:
            state[LAST_WRITE_KEY] = written_last
    return store.projects.update(dataclasses.replace(project, current_spec=live, pending_apply=kept, state=state),
                                 recommendations=states)


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


def _write_verified(gateway: DatabricksGateway, project: Project, settings: dict[str, Any],
                    before: dict[str, Any], new_spec: dict[str, Any], owned: set[str] | None = None) -> dict[str, Any]:
    """``jobs/update`` with the complete entry, then re-read: what we wrote is what the job holds.
    The spec as the job holds it is returned (what runs will report, so later drift checks agree).

    Only the paths Trimtab wrote are checked: those ``new_spec`` sets over ``before``
    (`server.spec.written_paths`) and the ``owned`` ones (a recommendation's, even where equal to
    the live spec). A field Databricks fills in or normalises elsewhere is not a failed write. If a
    written path does not hold its value (or the update failed half-way), the previous spec is
    written back before the error is raised, so nothing stays half-applied; the error names the paths.
    """
    written = written_paths(before, new_spec) | (owned or set())
    try:
        gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, new_spec))
    except REFUSED:
        raise  # refused outright: nothing was written, so there is nothing to restore (it would be refused too)
    except DatabricksCallError:
        _restore(gateway, project, settings, before)  # it may have been written before the call failed
        raise
    try:
        reread = find_cluster_spec((gateway.get_job(project.job_id).get("settings") or {}), project.cluster_key)
        mismatch = readback_mismatch(reread or {}, new_spec, written)
    except DatabricksCallError:
        _restore(gateway, project, settings, before)
        raise
    if mismatch or reread is None:
        _restore(gateway, project, settings, before)
        what = f"{', '.join(mismatch)} differ" if reread is not None else f"{project.cluster_key!r} is gone"
        raise FailedPrecondition(f"project {project.name}: the job did not take the new spec "
                                 f"({what}); the previous spec was restored")
    return reread


# What `jobs/update` answers when it wrote nothing: the request refused (400), the job gone, no
# permission on the job (`DatabricksPermissionDenied`: CAN_MANAGE) or the token refused.
REFUSED = (DatabricksRejected, DatabricksNotFound, DatabricksPermissionDenied, WorkspaceAuthError)


def _restore(gateway: DatabricksGateway, project: Project, settings: dict[str, Any],
             before: dict[str, Any]) -> None:
    try:
        gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, before))
    except DatabricksCallError as err:  # report the first failure, not this one
        log.error("project %s: could not restore the previous spec: %s", project.name, err)
