"""Re-pricing picks the unpriced runs by time: every one in the re-cost window not tried with this
catalog, not the newest 20 (a job every 5 minutes pushed a run out of those in 100 minutes)."""

from __future__ import annotations

import pytest

from server.collect.collector import unpriced_note, with_unpriced_note
from server.domain import CostBreakdown, Project, Run
from server.errors import InvalidArgument
from server.store import Store

MINUTE = 60_000
NOW = 1_800_000_000_000


def test_unpriced_runs_are_selected_by_time_oldest_first(store: Store) -> None:
    project = store.projects.add(Project(workspace="w", job_id=1, cluster_key="k"))
    pid = int(project.id or 0)
    tried_now, tried_before = unpriced_note("v2", ""), unpriced_note("v1", "unknown node type 'm7i.2xlarge'")
    since = NOW - 72 * 60 * MINUTE
    expected = []
    for n in range(60):  # one run every 5 minutes over the last 5 hours
        end = NOW - (60 - n) * 5 * MINUTE
        message = ""
        if n % 10 == 3:
            message = with_unpriced_note("", unpriced_note("v2", "unknown node type 'm7i.2xlarge'"))
        elif n % 10 == 4:
            message = with_unpriced_note("spot lost", tried_before)  # tried with an older catalog: again
        cost = CostBreakdown(total=1.0) if n % 10 == 5 else None
        run = store.runs.add(Run(project_id=pid, databricks_run_id=n + 1, cluster_id=f"c{n}",
                                 start_ms=end - MINUTE, end_ms=end, cost=cost, message=message))
        if n % 10 not in (3, 5):
            expected.append(run.id)
    store.runs.add(Run(project_id=pid, databricks_run_id=999, cluster_id="old", start_ms=since - 2 * MINUTE,
                       end_ms=since - MINUTE))  # past the window
    store.runs.add(Run(project_id=pid, databricks_run_id=998, cluster_id="", start_ms=NOW - MINUTE,
                       end_ms=NOW))  # never launched: nothing to price
    found = store.runs.unpriced_since(pid, since, tried_now, limit=1000)
    assert [r.id for r in found] == expected  # 40: all that were pushed out of the newest 20 too
    assert [r.id for r in store.runs.unpriced_since(pid, since, tried_now, limit=5)] == expected[:5]
    with pytest.raises(InvalidArgument):
        store.runs.unpriced_since(pid, since, tried_now, limit=0)
