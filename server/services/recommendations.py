"""Recommendations: show and list, reject, apply and revert through the Jobs API; detach a project.

Thin wrappers over `server.apply` that find the project and its workspace's
gateway, and record a refused token on the workspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from server import apply
from server.databricks import DatabricksGateway, retrying_5xx_for
from server.domain import RECOMMENDATION_STATES, ApplyOutcome, Project, Recommendation
from server.errors import (
    ALREADY_APPLIED,
    ALREADY_REJECTED,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    shown,
)
from server.ids import parse_id
from server.services.agent_install import release_detached_reader
from server.services.pending import ShownRecommendation, by_storing, on_job, planned_from
from server.services.projects import required
from server.services.runs import DEFAULT_PAGE, MAX_PAGE
from server.services.secrets import SecretBox
from server.services.workspaces import check_answers, gateway_for, recording_status
from server.store import Store


def get_recommendation(store: Store, project_ref: str) -> Recommendation:
    """The pending recommendation of a project, else its newest one."""
    return _shown_one(store, store.projects.find(required(project_ref, "project")))


def _shown_one(store: Store, project: Project) -> Recommendation:
    assert project.id is not None
    rec = store.recommendations.pending(project.id) or store.recommendations.latest(project.id)
    if rec is None:
        raise apply.no_recommendation_yet(project)
    return rec


def show_recommendation(store: Store, project_ref: str) -> ShownRecommendation:
    """`get_recommendation`, and whether the job's cluster already runs it (`pending.on_job`)."""
    project = store.projects.find(required(project_ref, "project"))
    rec = _shown_one(store, project)
    return ShownRecommendation(rec, already_on_job=on_job(store, project, rec))


def list_recommendations(store: Store, project_ref: str, state: str = "", page_size: int = 0,
                         page_token: str = "") -> tuple[list[ShownRecommendation], str]:
    """A page of a project's recommendations, newest first (in ``state`` when given), each with the
    cluster the job ran when it was made, and the token of the next page ("" at the end). The token
    is the id of the page's last recommendation (with the state after a dot when the listing has one:
    `_token`); the next page starts below it, so a token names a recommendation of this project or it
    was never issued."""
    project = store.projects.find(required(project_ref, "project"))
    assert project.id is not None
    if state and state not in RECOMMENDATION_STATES:
        raise InvalidArgument(f"state: {shown(state)} is not one of {', '.join(RECOMMENDATION_STATES)}")
    if page_size < 0:
        raise InvalidArgument("page_size: must not be negative")
    size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
    before = _position(store, project.id, _token_id(page_token, state)) if page_token else None
    recs = store.recommendations.newest_first(project.id, limit=size + 1, before_id=before, state=state or None)
    token = ""
    if len(recs) > size:
        recs = recs[:size]
        token = _token(int(recs[-1].id or 0), state)
    runs, stored = by_storing(store.runs.history(project.id)) if recs else ([], [])
    return [ShownRecommendation(r, already_on_job=on_job(store, project, r), planned_from=planned_from(runs, stored, r))
            for r in recs], token


def _token(rec_id: int, state: str) -> str:
    """The next page's token: the last id, and the listing's state after a dot, so a token of one
    state's listing (or of every state's) cannot continue another's, which would skip or repeat
    recommendations without a word. Every state's stays the bare id, as servers before it sent."""
    return f"{rec_id}.{state}" if state else str(rec_id)


def _token_id(page_token: str, state: str) -> str:
    """The id in ``page_token``, refused unless it came from a listing of ``state`` (`_token`)."""
    position, dot, token_state = page_token.partition(".")
    if token_state != state or bool(dot) != bool(state):
        raise InvalidArgument("page_token: not a token of this listing (a token continues the listing of the "
                              "same project and state it came from; start again without page_token)")
    return position.strip()


def _position(store: Store, project_id: int, page_token: str) -> int:
    """The id the page after ``page_token`` starts below. A token that is no recommendation of this
    project (another project's page, a made-up number) is refused rather than answered with a page
    from nowhere in particular, as ListRuns refuses one."""
    never = InvalidArgument("page_token: not a token this server issued")
    rec_id = parse_id(page_token, minimum=1)
    if rec_id is None:
        raise never
    try:
        rec = store.recommendations.get(rec_id)
    except NotFound:
        raise never from None
    if rec.project_id != project_id or rec.id is None:
        raise never
    return rec.id


def reject_recommendation(store: Store, project_ref: str, recommendation_id: str = "") -> Recommendation:
    """Reject the pending recommendation; its configuration is not recommended again (`apply.reject`).
    With `recommendation_id`, only if that one is still the pending one (`check_pinned`)."""
    project = store.projects.find(required(project_ref, "project"))
    assert project.id is not None
    with apply.project_lock(project.id, store):  # re-entrant: `apply.reject` takes it too
        check_pinned(store, project, recommendation_id, "rejected")
        return apply.reject(store, project.id)


def apply_recommendation(store: Store, secrets: SecretBox, project_ref: str,
                         dry_run: bool = False, recommendation_id: str = "",
                         replace_unconfirmed: bool = False) -> ApplyOutcome:
    """Apply the pending recommendation (or show its diff); with `recommendation_id`, only if that
    one is still the pending one (`check_pinned`). An apply no run has used yet is written over when
    the project's settings changed since it (`apply.unconfirmed_refusal`), or with
    `replace_unconfirmed`; otherwise the apply waits for that run (FailedPrecondition)."""
    project = store.projects.find(required(project_ref, "project"))
    project_id = int(project.id or 0)
    check_pinned(store, project, recommendation_id, "applied")  # said before the workspace is asked anything
    # Checked again under the lock the apply holds (re-entrant, taken after the workspace is
    # probed): a run's plan may have replaced the pending one meanwhile.
    with _gateway(store, secrets, project, dry_run) as gateway, apply.project_lock(project_id, store):
        check_pinned(store, project, recommendation_id, "applied")
        result = apply.apply_recommendation(store, gateway, project_id, dry_run=dry_run,
                                            over_unconfirmed=replace_unconfirmed, by_hand=True)
    return ApplyOutcome(result.recommendation, result.diff, result.applied, note=result.note,
                        already_on_job=result.already_on_job)


def check_pinned(store: Store, project: Project, recommendation_id: str, asked: str) -> None:
    """Refuse (`FailedPrecondition`) when a script pinned `recommendation_id` (what its dry run
    showed) and the project's pending recommendation is another one by now: planned again after a
    run or a settings change, it may be a different cluster. A pinned one already ``asked``
    ("applied", "rejected": what the call does) is refused with the reason that says so
    (`already_done`), also when another is pending by now. Without a pending one the apply or
    reject says why itself (`apply.no_pending`); "" pins nothing."""
    wanted = _pin(recommendation_id)
    if wanted is None:
        return
    pending = store.recommendations.pending(int(project.id or 0))
    if pending is not None and wanted == str(pending.id):
        return
    pinned = _check_of_project(store, project, wanted)
    # The project read again: the caller's copy predates the lock this may run under, and the apply
    # record that says which recommendation is on the job is what a concurrent call just wrote.
    if (done := already_done(store.projects.get(int(project.id or 0)), pinned, asked)) is not None:
        raise done
    if pending is not None:
        raise FailedPrecondition(f"recommendation {wanted} is no longer pending "
                                 f"(recommendation {pending.id} is; review it, e.g. with a dry run)")


def already_done(project: Project, rec: Recommendation, asked: str) -> FailedPrecondition | None:
    """The refusal of a repeated apply or reject whose first call went through (its reply lost): ``rec``
    is ``asked`` already, the job's applied one by the project's record for "applied". None when not."""
    record = project.pending_apply or {}
    if asked == "applied" and rec.state == "applied" and record.get("recommendation_id") == rec.id \
            and not record.get("reverted"):
        return FailedPrecondition(f"recommendation {rec.id} is already applied; "
                                  f"`trimtab recommendation revert {project.name}` goes back",
                                  reason=ALREADY_APPLIED, recommendation_id=rec.id)
    if asked == "rejected" and rec.state == "rejected":
        return FailedPrecondition(f"recommendation {rec.id} is already rejected",
                                  reason=ALREADY_REJECTED, recommendation_id=rec.id)
    return None


def check_pinned_applied(store: Store, project_id: int, recommendation_id: str) -> None:
    """Refuse (`FailedPrecondition`) a revert pinned to `recommendation_id` when the apply a revert
    would undo now is another recommendation's: an auto-apply after a run may have applied a newer
    one since the script looked, and reverting that one is not what it asked. Without an apply on
    record the revert says why itself; "" pins nothing."""
    wanted = _pin(recommendation_id)
    if wanted is None:
        return
    project = store.projects.get(project_id)
    record = project.pending_apply or {}
    if str(record.get("recommendation_id")) != wanted:
        _check_of_project(store, project, wanted)
    applied = record.get("recommendation_id")
    if record.get("previous_spec") and not record.get("reverted") and applied is not None \
            and wanted != str(applied):
        raise FailedPrecondition(f"recommendation {wanted} is not the last applied (recommendation {applied} is; "
                                 "review it, e.g. with a dry run of the revert)")


def _check_of_project(store: Store, project: Project, wanted: str) -> Recommendation:
    """`NotFound` when the pinned id ``wanted`` (canonical, `_pin`) names no recommendation of ``project``:
    one that never existed, or another project's, was called "no longer pending", as if it had been
    this project's and a plan had replaced it."""
    found = None
    rec_id = parse_id(wanted)
    if rec_id is not None:
        try:
            found = store.recommendations.get(rec_id)
        except NotFound:
            found = None
    if found is None or found.project_id != project.id:
        raise NotFound(f"recommendation {wanted} is not a recommendation of project {project.name}")
    return found


def _pin(recommendation_id: str) -> str | None:
    """A pinned recommendation id in its canonical form (None: nothing pinned)."""
    if not recommendation_id:
        return None
    wanted = recommendation_id.strip()
    if not wanted.isascii() or not wanted.isdigit():
        raise InvalidArgument(f"recommendation_id: {recommendation_id!r} is not a recommendation id")
    # Compared as text, leading zeros aside: no int() of a number thousands of digits long.
    return wanted.lstrip("0") or "0"


def revert_recommendation(store: Store, secrets: SecretBox, project_ref: str,
                          dry_run: bool = False, recommendation_id: str = "") -> ApplyOutcome:
    """Revert the last apply (or show its diff); with `recommendation_id`, only if that one is the
    last applied (`check_pinned_applied`)."""
    project = store.projects.find(required(project_ref, "project"))
    project_id = int(project.id or 0)
    check_pinned_applied(store, project_id, recommendation_id)
    with _gateway(store, secrets, project, dry_run) as gateway, apply.project_lock(project_id, store):
        check_pinned_applied(store, project_id, recommendation_id)  # again under the lock, as apply's pin
        result = apply.revert(store, gateway, project_id, dry_run=dry_run)
    return ApplyOutcome(result.recommendation, result.diff, result.applied)


def detach_project(store: Store, secrets: SecretBox, project_ref: str, dry_run: bool = False) -> ApplyOutcome:
    """Put the job's original cluster spec back and stop managing the project; then take back each READ
    on the agent token's scope Trimtab gave (this project's owner, or the earlier owner of a job handed
    over since) that no attached project of the workspace needs, by its record or by whom its job runs
    as now (`release_detached_reader`: a failure there is logged, the detach stands)."""
    project = store.projects.find(required(project_ref, "project"))
    with _gateway(store, secrets, project, dry_run) as gateway:
        result = apply.restore_original(store, gateway, int(project.id or 0), dry_run=dry_run)
        if not dry_run:
            # Also when it was detached already: a detach whose release failed is retried so.
            release_detached_reader(store, gateway, store.projects.get(int(project.id or 0)))
    return ApplyOutcome(result.recommendation, result.diff, result.applied)


# A dry run only reads the job, and `server.apply` holds the project's lock while it does: a person
# is waiting, and the collector and other calls on the project wait too, so it retries for at most
# this long rather than a collector call's budget (`GatewayConfig.retry_timeout_s`).
DRY_RUN_RETRY_S = 10

# A write's 5xx answers (the job's own trouble: 500, 502, 504) are retried this long, not the gateway's
# whole budget: a person waits on it, and a failed write then reads the job and may write it back, each
# with its own budget (review: a jobs/update answering 500 held `recommendation apply` for 121 s, silent).
# A 429/503 or a lost connection keeps the whole budget (`retrying_5xx_for`); asking again is cheap.
WRITE_5XX_RETRY_S = 20


@contextmanager
def _gateway(store: Store, secrets: SecretBox, project: Project, dry_run: bool) -> Iterator[DatabricksGateway]:
    """The project's workspace gateway, recording a refused token on the workspace; a workspace
    known to be unreachable is probed once before the project is locked (`check_answers`)."""
    workspace = store.workspaces.get(project.workspace)
    with recording_status(store, workspace):
        gateway = gateway_for(store, secrets, workspace, DRY_RUN_RETRY_S if dry_run else None)
        check_answers(workspace, gateway)
        with retrying_5xx_for(WRITE_5XX_RETRY_S):
            yield gateway
