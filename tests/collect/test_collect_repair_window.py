"""Failed runs are re-read for a repair by time, not among the newest 50 runs (review of 515c233,
repair_window.py): a job every 5 minutes pushed a failure of 5 hours ago out of the runs the
collector looked at, well inside the documented 7-day repair window. Real store (SQLite, then
PostgreSQL), and the collector against the real emulator."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from cryptography.fernet import Fernet

from models.observation import REPAIRED, REPAIRED_ELSEWHERE
from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect import Collector
from server.collect.collector import REPAIR_RECHECK_RUNS
from server.domain import Project, ProjectSettings, Run
from server.errors import InvalidArgument
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store

NOW_MS = 1_790_000_000_000
HOUR_MS = 3_600_000


def _runs(store: Store, project_id: int, outcomes: list[tuple[str, tuple[str, ...]]], *, first_ms: int,
          every_ms: int = 300_000, first_run_id: int = 1) -> list[Run]:
    stored = []
    for i, (outcome, anomalies) in enumerate(outcomes):
        start = first_ms + i * every_ms
        stored.append(store.runs.add(Run(project_id=project_id, databricks_run_id=first_run_id + i, start_ms=start,
                                         end_ms=start + 60_000, outcome=outcome, runtime_s=60.0,
                                         anomalies=anomalies, created_at_ms=start + 60_000)))
    return stored


def test_stored_since_selects_by_time_newest_first(store: Store) -> None:
    project = store.projects.add(Project(workspace="w", job_id=1, cluster_key="main", current_spec={"num_workers": 2},
                                         settings=ProjectSettings()))
    pid = int(project.id or 0)
    old = _runs(store, pid, [("failed", ())], first_ms=NOW_MS - 9 * 24 * HOUR_MS)  # before the window
    runs = _runs(store, pid, [("failed", ()), ("canceled", (REPAIRED,)), ("failed", (REPAIRED, REPAIRED_ELSEWHERE)),
                              *[("succeeded", ())] * 60, ("failed", ("spot_loss",))],
                 first_ms=NOW_MS - 5 * HOUR_MS, first_run_id=10)
    since = NOW_MS - 7 * 24 * HOUR_MS
    found = store.runs.stored_since(pid, {"failed", "canceled"}, since, 10, without_anomaly=REPAIRED_ELSEWHERE)
    # The one repaired elsewhere is done; "repaired" alone is not "repaired_elsewhere".
    assert [r.id for r in found] == [runs[-1].id, runs[1].id, runs[0].id]
    assert [r.id for r in store.runs.stored_since(pid, {"failed"}, since, 1)] == [runs[-1].id]
    assert old[0].id in [r.id for r in store.runs.stored_since(pid, {"failed"}, 0, 10)]
    assert store.runs.stored_since(pid, set(), since, 10) == []
    with pytest.raises(InvalidArgument, match="limit"):
        store.runs.stored_since(pid, {"failed"}, since, 0)


class _Counted:
    """A gateway whose runs/get calls are recorded (the run ids asked)."""

    def __init__(self, inner: Any, asked: Counter[int]) -> None:
        self._inner, self._asked = inner, asked

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != "get_run":
            return attr

        def get_run(run_id: int) -> Any:
            self._asked[run_id] += 1
            return attr(run_id)

        return get_run


def test_a_failure_behind_sixty_newer_runs_is_still_read_again_for_a_repair(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(NOW_MS)
    monkeypatch.setattr(workspaces._integration, "clock", clock)
    secrets = SecretBox(Fernet.generate_key())
    job_id = emulator.seed_jobs()[0]
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id]).projects
    pid = int(imported.project.id or 0)
    # A job every 5 minutes: it failed 5 hours ago, then succeeded 60 times (runs the workspace no
    # longer knows: each re-read is a runs/get that finds nothing, which is all this counts).
    (failed, *_) = _runs(store, pid, [("failed", ()), *[("succeeded", ())] * 60], first_ms=NOW_MS - 5 * HOUR_MS,
                         first_run_id=90_001)
    asked: Counter[int] = Counter()
    collector = Collector(store, lambda ws: _Counted(workspaces.gateway_for(store, secrets, ws), asked), clock=clock)
    assert collector.poll_once() == []
    assert asked == Counter({failed.databricks_run_id: 1})
    assert REPAIR_RECHECK_RUNS >= 1
