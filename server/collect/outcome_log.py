"""One INFO line for each finished Databricks run that taught the models nothing: stored runs that did
not succeed (or were not learned), and runs with no piece on a tuned cluster at all (skipped at the job's
concurrency limit, cancelled while queued, or cancelled before a cluster came up), which the store cannot
hold as runs of a project (a `Run` is one cluster's part of a run): without this line they showed nowhere.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from server.collect.run_parse import ClusterRun
from server.domain import Run
from server.render.fmt import cut, outcome_text
from server.store import Store

log = logging.getLogger(__name__)

# A Databricks message can be a stack trace: the line keeps its first words.
MESSAGE_CHARS = 200


def say_outcome(store: Store, run: Run, job_id: int) -> None:
    """Log ``run`` (stored, and planned after when a planner is wired) when it did not succeed or was not
    learned: the job, the Databricks run, the outcome and the planner's reason for not learning it."""
    fresh = store.runs.get(int(run.id or 0)) if run.id is not None else run
    if fresh.outcome == "succeeded" and not fresh.not_learned:
        return
    said = f" ({cut(fresh.message, MESSAGE_CHARS)})" if fresh.message else ""
    why = fresh.not_learned or "no plan has read it yet"
    log.info("job %s run %s: %s%s; stored as run %s; not learned: %s", job_id, fresh.databricks_run_id,
             outcome_text(fresh.outcome), said, fresh.id, why)


class UnrunLog:
    """Says each finished run with no piece on a tuned cluster once per process (`say`). The job's cursor
    waits behind a run still going, so each poll reads such a run again until the cursor passes it: one
    line, not one a poll. The memory is bounded: a run forgotten is at worst said once more."""

    REMEMBERED = 10_000

    def __init__(self) -> None:
        self._said: OrderedDict[tuple[str, int, int], None] = OrderedDict()

    def say(self, workspace: str, job_id: int, detail: Mapping[str, Any]) -> list[ClusterRun]:
        """Log ``detail`` (a finished run none of whose tasks got a cluster Trimtab tunes) the first time,
        and return no piece, so a caller's loop over `cluster_runs` reads ``cluster_runs(detail) or
        log.say(...)``."""
        key = (workspace, job_id, int(detail.get("run_id") or 0))
        if key in self._said:
            return []
        self._said[key] = None
        if len(self._said) > self.REMEMBERED:
            self._said.popitem(last=False)
        state = detail.get("state") or {}
        result = state.get("result_state") or state.get("life_cycle_state") or "?"
        code = ((detail.get("status") or {}).get("termination_details") or {}).get("code")
        message = cut(str(state.get("state_message") or ""), MESSAGE_CHARS)
        log.info("job %s run %s: %s%s%s; no task of it ran on a cluster Trimtab tunes, so not learned and not "
                 "stored as a run", job_id, key[2], result, f" ({code})" if code and code != result else "",
                 f": {message}" if message else "")
        return []
