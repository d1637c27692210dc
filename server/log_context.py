"""What the work being done is for (workspace, project, Databricks job and run), on every log record
made meanwhile, so JSON lines can be filtered and faceted on it (``jq 'select(.workspace=="prod")'``).

Set where work is scoped (a workspace's poll, a job's collection, a project's plan or apply, an
agent's batch) with `log_context`; `ContextFilter`, installed on the server's handler by
`server.logs.configure_logging`, copies it onto each record, whichever logger made it (a library's
too), and the JSON format writes the fields set as top-level keys. The text format shows none: a
terminal line already names what it is about.

A `contextvars.ContextVar`, not a thread-local: nested blocks add to the outer one's fields and give
them back on exit, and a thread pool's worker (gRPC's handlers) starts each call with what it had
before, not the last call's. A new thread, and a task handed to another thread, start empty: hand
them the caller's fields with ``contextvars.copy_context().run``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Protocol, TypedDict

# Every field `log_context` sets, in the order a JSON line gives them. ``job_id`` and ``run_id`` are
# Databricks' ids (what the workspace's UI and API show); ``project_id`` is Trimtab's.
FIELDS = ("workspace", "project_id", "project", "job_id", "run_id")

_EMPTY: Mapping[str, object] = MappingProxyType({})
_fields: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar("trimtab_log_context",
                                                                              default=_EMPTY)


class LogFields(TypedDict, total=False):
    """Some of `log_context`'s arguments, to pass on as ``**fields``."""

    workspace: str
    project_id: int
    project: str
    job_id: int
    run_id: int


class ProjectLike(Protocol):
    """What `project_fields` reads of a project (`server.domain.Project`)."""

    @property
    def workspace(self) -> str: ...

    @property
    def job_id(self) -> int: ...

    @property
    def id(self) -> int | None: ...

    @property
    def name(self) -> str: ...


def current() -> Mapping[str, object]:
    """The fields set for the work under way in this context (empty outside any `log_context`)."""
    return _fields.get()


@contextmanager
def log_context(*, workspace: str | None = None, project_id: int | None = None, project: str | None = None,
                job_id: int | None = None, run_id: int | None = None) -> Iterator[None]:
    """Within the block, log records carry the given fields besides the outer blocks' (a field given
    again replaces the outer one's; None leaves it as it was)."""
    given = {"workspace": workspace, "project_id": project_id, "project": project, "job_id": job_id,
             "run_id": run_id}
    merged = {**_fields.get(), **{k: v for k, v in given.items() if v is not None}}
    token = _fields.set(MappingProxyType({k: merged[k] for k in FIELDS if k in merged}))
    try:
        yield
    finally:
        _fields.reset(token)


def project_fields(project: ProjectLike) -> LogFields:
    """`log_context`'s arguments for work on ``project``: ``with log_context(**project_fields(p))``."""
    fields = LogFields(workspace=project.workspace, project=project.name, job_id=project.job_id)
    if project.id is not None:
        fields["project_id"] = project.id
    return fields


class ContextFilter(logging.Filter):
    """Copies the fields of the record's context onto it (on a handler: every logger's records).

    A field the call gave itself (``extra={"job_id": ...}``) is kept: it says more than the scope."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _fields.get().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True
