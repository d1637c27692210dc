"""Settling a write to a job that Trimtab announced and never recorded (`server.write_intent`).

Run before anything reads the project's new runs (the collector, first thing for each job it reads)
and before an apply, revert or detach reads the job: a run on Trimtab's own write must not be taken
for a person's edit, nor a plan made as if the write had not happened.
"""

from __future__ import annotations

import logging
from typing import Any

from server.apply import ONBOARDED_KEY, finish_apply, finish_detach, finish_revert
from server.domain import Project
from server.services.job_onboard import finish_onboard
from server.store import Store
from server.write_intent import WRITTEN_BACK_KEY, intent_of, landed, unrecorded_why, withdraw

log = logging.getLogger(__name__)


def reconcile(store: Store, project: Project, live: dict[str, Any]) -> tuple[Project | None, str | None]:
    """Settle ``project``'s announced write against its cluster's live spec ``live``: (the project as
    stored now, None when it was removed; the kind of write recorded, None when none was).

    The job holding the write: recorded as the write's own code would have (applied, reverted and
    rejected, onboarded, detached). Still holding the spec before it: the write never landed, the
    intent is dropped (and a project an import created for it, never onboarded, removed, as a failed
    import removes it). Anything else: someone changed the cluster since, the intent is dropped and
    the usual drift check judges the edit. Call under the project's lock."""
    record = intent_of(project)
    if record is None:
        return project, None
    project_id = int(project.id or 0)
    kind = str(record["kind"])
    outcome = landed(record, live)
    if outcome != "written":
        # Not written is the usual end of a write refused or written back (logged where it failed).
        log.log(logging.INFO if outcome == "not_written" else logging.WARNING,
                "project %s: Trimtab's %s %s; nothing recorded", project.name, kind, _not_held(record, outcome))
        if kind == "onboard" and record.get("created") and ONBOARDED_KEY not in project.state:
            store.projects.remove_unused(project_id)
            return None, None
        return withdraw(store, project_id), None
    if kind == "apply":
        finish_apply(store, project, record, live)
    elif kind == "revert":
        finish_revert(store, project, record, live)
    elif kind == "detach":
        log.warning("project %s: its cluster holds Trimtab's detach, written but not recorded (%s): recorded as "
                    "detached now", project.name, unrecorded_why(record))
        finish_detach(store, project, live)
    else:
        finish_onboard(store, project, record, live)
    return store.projects.get(project_id), kind


def _not_held(record: dict[str, Any], outcome: str) -> str:
    """What became of an announced write the job does not hold, as the log says it."""
    if outcome != "not_written":
        return "was announced but the job holds neither it nor what it replaced (edited since): judged as an edit"
    if record.get(WRITTEN_BACK_KEY) is not None:
        # Its jobs/update failed and the previous spec was sent back, unanswered: that is what the job holds.
        return "reached the job and was written back after its jobs/update failed (the job holds what it replaced)"
    return "was announced but never reached the job"
