"""The record of a write to a job that Trimtab is about to make, kept on the project until the
outcome is recorded.

Every write to a job's cluster (apply, revert, the import's onboarding, detach) is a ``jobs/update``
followed by a store write. A process that ends between the two (killed, the host gone) leaves the
job holding a write the database never heard of; the next run then read as a person's edit (the
project rebased on it, auto-apply paused, the recommendation written superseded). So the write is
announced first: ``Project.state[INTENT_KEY]`` names its kind, the spec it sends (``expected``) and
the spec it replaces (``before``), and is cleared in the transaction that records the outcome, or
with the write-back of a failed write (`server.job_write`). A project found with one
(`server.recover.reconcile`, from the job read under the project's lock) is settled before anything
else reads its runs: the job holding ``expected`` finishes the record, the job still holding
``before`` means the write never landed (or was written back: `WRITTEN_BACK_KEY`), anything else is
a genuine edit and is judged as one.

Kept in the project's JSON state (as ``secret_reader`` and ``onboarded`` are): no migration.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Literal

from server.domain import Project
from server.spec import readback_mismatch, written_paths
from server.store import Store

INTENT_KEY = "write_intent"
KINDS = ("apply", "revert", "onboard", "detach")

Landed = Literal["written", "not_written", "other"]


def intent_of(project: Project) -> dict[str, Any] | None:
    """The project's announced, unrecorded write, or None."""
    intent = project.state.get(INTENT_KEY)
    return intent if isinstance(intent, dict) and intent.get("kind") in KINDS else None


def without_intent(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with no announced write: what every record of an outcome stores."""
    return {k: v for k, v in state.items() if k != INTENT_KEY}


def intent(kind: str, *, expected: dict[str, Any], before: dict[str, Any], at_ms: int,
           **extra: Any) -> dict[str, Any]:
    """An intent record (JSON): ``expected`` the spec sent, ``before`` the spec it replaces; ``extra``
    what recording the outcome needs later (the recommendation, the run boundary...)."""
    return {"kind": kind, "expected": copy.deepcopy(expected), "before": copy.deepcopy(before),
            "at_ms": at_ms, **copy.deepcopy(extra)}


def announce(store: Store, project: Project, record: dict[str, Any]) -> Project:
    """Store ``record`` on the project before its write is sent (call under the project's lock, with
    the row read under it). The project as stored is returned; record the outcome over it."""
    return store.projects.update(dataclasses.replace(project, state={**project.state, INTENT_KEY: record}))


def withdraw(store: Store, project_id: int, record: dict[str, Any] | None = None) -> Project:
    """Clear the project's intent (the write was refused or written back): under the project's lock.
    With ``record``, only that announcement: one made since by another writer is left alone."""
    fresh = store.projects.get(project_id)
    if INTENT_KEY not in fresh.state or (record is not None and not _same(intent_of(fresh), record)):
        return fresh
    return store.projects.update(dataclasses.replace(fresh, state=without_intent(fresh.state)))


# Set on an intent when its write failed and the spec it replaced is being written back: a job found
# holding that spec then had the write and lost it to the write-back, not "never reached".
WRITTEN_BACK_KEY = "written_back_at_ms"


def mark_written_back(store: Store, project_id: int, record: dict[str, Any], at_ms: int) -> None:
    """Note on the announcement ``record`` that its write is being undone, before the write-back is sent
    (`server.recover` then tells the job's previous spec for what it is). Under the project's lock."""
    fresh = store.projects.get(project_id)
    stored = intent_of(fresh)
    if stored is None or not _same(stored, record):
        return
    store.projects.update(dataclasses.replace(fresh, state={**fresh.state,
                                                            INTENT_KEY: {**stored, WRITTEN_BACK_KEY: at_ms}}))


def unrecorded_why(record: dict[str, Any]) -> str:
    """Why the job holds the announced write with no record of it, for the log that records it now."""
    if record.get(WRITTEN_BACK_KEY) is not None:
        return f"its jobs/update failed and writing the previous spec back did not take: the {record['kind']} stands"
    return f"the server stopped mid-{record['kind']}"


def _same(stored: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """Whether ``stored`` is the announcement ``record`` (its kind and time; the specs went through JSON)."""
    return stored is not None and (stored.get("kind"), stored.get("at_ms")) == (record.get("kind"), record.get("at_ms"))


def landed(record: dict[str, Any], live: dict[str, Any]) -> Landed:
    """Whether the job's cluster ``live`` holds the announced write, still holds what it replaced, or
    neither. Judged on the paths the write sets (`server.spec.written_paths`), as a write's read-back
    is: Databricks fills in and normalises other fields, and an edit of another field is the
    person's, found by the usual drift check once the write is recorded."""
    expected, before = record.get("expected") or {}, record.get("before") or {}
    paths = written_paths(before, expected) | written_paths(expected, before)
    if not readback_mismatch(live, expected, paths):
        return "written"
    if not readback_mismatch(live, before, paths):
        return "not_written"
    return "other"
