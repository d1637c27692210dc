"""What a write records on the project: an apply's ``pending_apply`` (`_record_apply`, `finish_apply`),
the ``Project.state`` keys that remember Trimtab's writes, and a write of Trimtab's own found on the
job adopted rather than taken for a user's edit (`adopt_own_write`, `_refuse_adopted`), as is an edit
outside Trimtab to exactly the pending recommendation (`adopt_owner_edit`)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from server.already_runs import edited_to
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
from server.errors import FailedPrecondition
from server.job_write import project_cloud
from server.onboard import RECOMMENDATION_TAG
from server.plan.apply_retry import APPLY_RETRY_KEY
from server.plan.candidates import REJECTED_KEPT, REJECTED_KEY, config_id_of, driver_of
from server.plan.driver import TURNED_DOWN_DRIVERS_KEPT, TURNED_DOWN_DRIVERS_KEY
from server.plan.policy import kept_values
from server.plan.storage import TURNED_DOWN_VOLUMES_KEPT, TURNED_DOWN_VOLUMES_KEY, volume_set
from server.spec import flatten, recommended_spec, spec_drift
from server.store import Store
from server.write_intent import unrecorded_why, without_intent

log = logging.getLogger("server.apply")  # split from it: its log lines keep their name


# Who applied a recommendation its owner put on the job by editing it outside Trimtab (`adopt_owner_edit`),
# as `Recommendation.applied_by` says it ("... by an edit outside Trimtab").
OUTSIDE_EDIT = "an edit outside Trimtab"


# Where an apply or revert record keeps the project's settings when it was written (`plan_settings`),
# so a hand apply can tell whether they changed since (`unconfirmed_refusal`).
SETTINGS_KEY = "settings"


def plan_settings(settings: ProjectSettings) -> dict[str, Any]:
    """The settings a plan is made under, as JSON: all but auto-apply (turning it on or off changes
    what is written when, not what the right cluster is)."""
    out = dataclasses.asdict(settings)
    out.pop("auto_apply", None)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


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
                  previous: dict[str, Any], after_run: int, *, by: str = "") -> Recommendation:
    """Record in the store that ``rec`` now holds on the job (``new_spec``, written over ``previous``),
    applied by ``by`` ("auto", an admin token; "" when unknown)."""
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
    # An apply that went through ends a kept auto-apply failure and its tries again (a planning one
    # stays: it is the plan's to clear). Its intent is settled by this record.
    state = {k: v for k, v in without_intent(project.state).items() if k != APPLY_RETRY_KEY}
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
                          recommendations=states, by=by)
    return store.recommendations.get(rec.id)


def adopt_own_write(store: Store, project: Project, live: dict[str, Any]) -> Recommendation | None:
    """Record an apply the job holds but the store never heard of; the recommendation, or None if
    ``live`` is no such apply (then it is a user's edit). Call under the project lock.

    Trimtab's own write (`_adopt_trimtab_write`), or the job edited outside Trimtab to exactly the
    pending recommendation (`adopt_owner_edit`): either was taken for a user's edit, the
    recommendation superseded and auto-apply held for the "edit".
    """
    return _adopt_trimtab_write(store, project, live) or adopt_owner_edit(store, project, live)


def _adopt_trimtab_write(store: Store, project: Project, live: dict[str, Any]) -> Recommendation | None:
    """Record an apply Trimtab wrote but never recorded; the recommendation, or None if ``live`` is not one.

    The process can end between `jobs/update` and the store write (SIGTERM past the grace while a
    Databricks re-read retried, a crash). The job then holds exactly what applying the pending
    recommendation to the recorded spec writes, tag included. Only that exact spec is adopted; any
    other difference is still the user's.

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
    base = _expected_base(project)
    if not base:
        return None
    expected = proposed_spec(base, rec, cloud=project_cloud(store, project))
    if spec_drift(live, expected):
        return None
    log.warning("project %s: the job holds recommendation %s, written by Trimtab but not recorded (the server "
                "stopped mid-apply?): recorded as applied now", project.name, rec.id)
    return _record_apply(store, project, rec, live, base, _adopted_after_run(project))


def adopt_owner_edit(store: Store, project: Project, live: dict[str, Any]) -> Recommendation | None:
    """Record the pending recommendation as applied when ``live`` is the job edited outside Trimtab to
    exactly it (`server.already_runs.edited_to`, over the spec Trimtab last knew); the
    recommendation, or None when ``live`` is another edit.

    Its owner applied it by hand in Databricks: the recommendation is ``applied`` (by `OUTSIDE_EDIT`),
    the edit is the apply's spec, and the first run on it confirms it and is attributed to it, so its
    prediction is checked as any applied one's. Taken for a user's edit, it was superseded, its run
    flagged ``user_edit`` and auto-apply paused for an "edit" that was Trimtab's own advice. An edit
    of anything else (another size, a Spark conf key beside the sizing) is still the user's. Call
    under the project lock."""
    rec = owner_edit_of(store, project, live)
    if rec is None:
        return None
    log.info("project %s: the job was edited outside Trimtab to exactly recommendation %s: recorded as applied "
             "by that edit", project.name, rec.id)
    return _record_apply(store, project, rec, live, _expected_base(project), _adopted_after_run(project),
                         by=OUTSIDE_EDIT)


def owner_edit_of(store: Store, project: Project, live: dict[str, Any]) -> Recommendation | None:
    """The pending recommendation when ``live`` is the job edited outside Trimtab to exactly it
    (`adopt_owner_edit`'s test, nothing recorded); None otherwise."""
    rec = store.recommendations.pending(int(project.id or 0))
    base = _expected_base(project)
    if rec is None or rec.id is None or not base:
        return None
    cloud = project_cloud(store, project)
    if not edited_to(live, base, rec.config, cloud=cloud, policy_values=kept_values(project.state, live)):
        return None
    return rec


def _expected_base(project: Project) -> dict[str, Any]:
    """The spec Trimtab last knew the job to hold: its last write's, else the recorded one."""
    return (project.pending_apply or {}).get("applied_spec") or project.current_spec


def _adopted_after_run(project: Project) -> int:
    """The run boundary of an apply found on the job rather than written now: the newest run
    collected (the runs after it are the ones that can have run it), and never before an apply no
    run has used yet, which the found one records itself over."""
    pending = project.pending_apply or {}
    after_run = int(project.last_seen_run_id or 0)
    if pending and not pending.get("confirmed", False):
        after_run = max(after_run, int(pending.get("applied_after_run_id") or 0))
    return after_run


def finish_apply(store: Store, project: Project, record: dict[str, Any], live: dict[str, Any]) -> None:
    """Record the apply ``record`` (`server.write_intent`) announced, which the job holds (``live``)
    but the store never heard of: as `apply_recommendation` would have, at the run boundary it read
    before writing. Call under the project lock."""
    rec = store.recommendations.get(int(record["recommendation_id"]))
    log.warning("project %s: the job holds recommendation %s, written by Trimtab but not recorded (%s): recorded "
                "as applied now", project.name, rec.id, unrecorded_why(record))
    _record_apply(store, project, rec, live, dict(record.get("before") or {}), int(record.get("after_run") or 0))


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


def _with_rejected(state: dict[str, Any], config: ClusterConfig, kept: ClusterConfig | None = None) -> dict[str, Any]:
    """``state`` remembering ``config`` as turned down while the job keeps (or goes back to) ``kept``:
    its workers' configuration (the newest `REJECTED_KEPT`) unless it is ``kept``'s, whose ban would
    move the job off its own cluster to a dearer one at the next plan; its driver for those workers
    when it is not ``kept``'s (`TURNED_DOWN_DRIVERS_KEY`), which the workers' id does not name; and,
    for ``kept``'s own workers, its volumes when they are not ``kept``'s (`TURNED_DOWN_VOLUMES_KEY`),
    which the id does not name either (a recommendation of the storage advice alone)."""
    config_id = config_id_of(config)
    if kept is None or config_id != config_id_of(kept):
        ids = [c for c in state.get(REJECTED_KEY) or [] if c != config_id]
        state = {**state, REJECTED_KEY: [*ids, config_id][-REJECTED_KEPT:]}
    if kept is not None and driver_of(config) != driver_of(kept):
        entry = {"workers": config_id, "driver": driver_of(config)}
        drivers = [e for e in state.get(TURNED_DOWN_DRIVERS_KEY) or [] if e != entry]
        state = {**state, TURNED_DOWN_DRIVERS_KEY: [*drivers, entry][-TURNED_DOWN_DRIVERS_KEPT:]}
    if kept is not None and config_id == config_id_of(kept) and volume_set(config) != volume_set(kept):
        # Other workers are banned by their id above: their volumes need no entry of their own.
        change = {"workers": config_id, "volumes": volume_set(config), "from": volume_set(kept)}
        volumes = [e for e in state.get(TURNED_DOWN_VOLUMES_KEY) or []
                   if not (isinstance(e, dict) and (e.get("workers"), e.get("from")) == (config_id, change["from"]))]
        state = {**state, TURNED_DOWN_VOLUMES_KEY: [*volumes, change][-TURNED_DOWN_VOLUMES_KEPT:]}
    return state


def _without_rejected(state: dict[str, Any], config: ClusterConfig) -> dict[str, Any]:
    """``state`` no longer refusing ``config`` (its workers' configuration, and its driver and volumes
    for them)."""
    config_id = config_id_of(config)
    kept = state.get(REJECTED_KEY) or []
    if config_id in kept:
        state = {**state, REJECTED_KEY: [c for c in kept if c != config_id]}
    entry = {"workers": config_id, "driver": driver_of(config)}
    drivers = state.get(TURNED_DOWN_DRIVERS_KEY) or []
    if entry in drivers:
        state = {**state, TURNED_DOWN_DRIVERS_KEY: [e for e in drivers if e != entry]}
    volumes = state.get(TURNED_DOWN_VOLUMES_KEY) or []
    lifted = [e for e in volumes if not (isinstance(e, dict) and e.get("workers") == config_id
                                         and e.get("volumes") == volume_set(config))]
    if len(lifted) != len(volumes):
        state = {**state, TURNED_DOWN_VOLUMES_KEY: lifted}
    return state


def _drift(project: Project, live: dict[str, Any]) -> list[str]:
    """The paths where ``live`` differs from Trimtab's last write (or the recorded spec)."""
    pending = project.pending_apply or {}
    expected = pending.get("applied_spec") or project.current_spec
    return spec_drift(live, expected) if expected else []


def _refuse_adopted(store: Store, project: Project, live: dict[str, Any], *, dry_run: bool) -> None:
    """`FailedPrecondition` when ``live`` is an apply never recorded (`adopt_own_write`: recorded now;
    a dry run only says so of an edit to exactly the pending recommendation, which it leaves pending)."""
    if dry_run:
        if (found := owner_edit_of(store, project, live)) is not None:
            # Not "edited outside Trimtab ... will recommend from it": the apply records it, writing nothing.
            raise FailedPrecondition(
                f"project {project.name}: recommendation {found.id} is already on the job (the job was edited to "
                "it outside Trimtab); the apply records it as applied and writes nothing")
        return
    if (adopted := adopt_own_write(store, project, live)) is None:
        return
    how = "the job was edited to it outside Trimtab" if adopted.applied_by == OUTSIDE_EDIT \
        else "Trimtab wrote it but stopped before recording it"
    raise FailedPrecondition(f"project {project.name}: recommendation {adopted.id} is already on the job ({how}); "
                             "recorded as applied now, nothing written")
