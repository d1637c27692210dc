"""What `trimtab project show` says of a project Trimtab no longer steers or no longer hears from:
why it is orphaned, and why its runs are not being collected (no heavy server imports: the CLI stays light)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.orphan_cause import UNKNOWN


def orphan_cause(project: Any) -> str:
    """Why ``project`` (a `Project` message) is orphaned: a server from before `Project.orphaned_reason`
    does not say why."""
    return project.orphaned_reason or UNKNOWN


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def collection_line(problem: Any, workspace: str) -> str:
    """The project's `CollectionProblem` message as one line: whose trouble, since when, the error, and
    where the rest is said. Its figures are as of the last run collected, which this dates."""
    if problem.scope == "job":
        since = f" since {_utc(problem.since_ms)}" if problem.since_ms else ""
        tries = f" ({problem.failures} tr{'y' if problem.failures == 1 else 'ies'} in a row)" if problem.failures else ""
        return (f"failing{since}{tries}: this job's calls fail while the workspace answers: {problem.message}; "
                "its runs are not collected until it answers, so the figures here may be stale "
                f"(`trimtab workspace show {workspace}`)")
    last = f" (its last poll that worked: {_utc(problem.since_ms)})" if problem.since_ms else ""
    return (f"failing: workspace {workspace} has status {problem.status}{last}: {problem.message}; no run of it is "
            f"collected meanwhile, so the figures here may be stale (`trimtab workspace show {workspace}` "
            "says what to do)")
