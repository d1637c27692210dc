"""A job with one run still going (hours, next to the job's other runs: max_concurrent_runs > 1) is not
read in full at every idle poll: its resume cursor waits behind that run, but the runs finished
after it are stored already, so the listings show no news until the long run ends."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.collect import Collector, look_over
from server.services import workspaces
from server.store import Store
from tests.collect.conftest import CountedGateway, imported_jobs_run_once


class StillGoing:
    """The real gateway, the runs in ``going`` shown as RUNNING wherever runs are listed (the emulator
    ends its runs within seconds; a real one may go on for hours)."""

    def __init__(self, inner: Any, going: set[int]) -> None:
        self._inner, self._going = inner, going

    def _shown(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "state": {"life_cycle_state": "RUNNING"}, "status": {"state": "RUNNING"}, "end_time": 0}
                if int(r["run_id"]) in self._going else r for r in runs]

    def list_runs(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return self._shown(self._inner.list_runs(*args, **kwargs))

    def list_workspace_runs(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return self._shown(self._inner.list_workspace_runs(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_idle_polls_beside_a_run_still_going_read_only_the_listings_and_its_end_is_collected(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    # A run going holds the listings' watermark back at most HOLD_BACK_MS (then it is collected at the
    # job's periodic full read, not at its end); the emulator's clock runs fast, so a few runs after the
    # long one could pass that. Held for the test: the long run is listed until it ends.
    monkeypatch.setattr(look_over, "HOLD_BACK_MS", 30 * 86_400_000)
    clock, secrets, admin, ids = imported_jobs_run_once(store, emulator, monkeypatch, 2)
    job = ids[0]
    going: set[int] = set()
    calls: Counter[str] = Counter()
    collector = Collector(store, lambda ws: CountedGateway(StillGoing(workspaces.gateway_for(store, secrets, ws), going),
                                                           calls, per_job=True), clock=clock, poll_interval_s=60)
    collector.poll_once()
    collector.poll_once()
    long_run = int(admin.run_now(job))
    assert emulator.wait_idle(120)
    going.add(long_run)  # still going, as a run of hours would be
    for _ in range(3):
        admin.run_now(job)
        assert emulator.wait_idle(120)
    collected = [r for _ in range(3) for r in collector.poll_once()]
    assert len(collected) == 3 and long_run not in {r.databricks_run_id for r in collected}
    project = next(p for p in store.projects.list() if p.job_id == job)
    assert project.last_seen_run_id == long_run - 1  # the cursor waits behind the run going

    calls.clear()
    lookups = Counter[int]()
    by_run = store.runs.get_by_databricks_run
    monkeypatch.setattr(store.runs, "get_by_databricks_run",
                        lambda project_id, run_id: (lookups.update([run_id]), by_run(project_id, run_id))[1])
    for _ in range(5):
        clock.advance(60)
        assert collector.poll_once() == []  # nothing new
    # Before: every idle poll read the job in full (jobs/get, its runs/list, a store look-up per run
    # finished after the long one): 5 get_job, 5 list_runs, 15 look-ups here.
    assert calls[f"get_job {job}"] == 0 and calls["list_runs"] == 0, dict(calls)
    assert set(calls) == {"list_workspace_runs", "list_job_settings"}, dict(calls)
    assert not lookups

    going.discard(long_run)  # the long run ends: the next poll collects it and the cursor moves on
    clock.advance(60)
    ended = collector.poll_once()
    assert [r.databricks_run_id for r in ended] == [long_run]
    assert store.projects.get(int(project.id or 0)).last_seen_run_id > long_run
