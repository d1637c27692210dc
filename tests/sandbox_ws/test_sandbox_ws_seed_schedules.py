"""The seeded example jobs carry nightly Quartz schedules, so a sandbox started with schedules on
runs them by itself in accelerated time (README: "a nightly job runs every 2.4 minutes"), seen
through the real databricks-sdk."""

from __future__ import annotations

from databricks.sdk.service.jobs import PauseStatus

from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.test_sandbox_ws_fire import advance_to, ms, start, starts

PROFILES = ["etl_join_aggregate", "io_bound", "iterative_ml", "memory_bound", "skewed_join", "sort"]


def test_seeded_jobs_have_nightly_schedules_that_fire(sandbox: Sandbox) -> None:
    ws, clock = start(sandbox, "2026-12-04T00:00:00+00:00")
    ids = ws.seed_jobs(PROFILES)
    w = client(ws)
    by_name = {w.jobs.get(i).settings.name: i for i in ids}
    schedules = {name: w.jobs.get(i).settings.schedule for name, i in by_name.items()}
    assert schedules["adhoc-memory_bound"] is None  # started by hand, as its name says
    daily = schedules["daily-etl_join_aggregate"]
    assert daily is not None
    assert (daily.quartz_cron_expression, daily.timezone_id, daily.pause_status) == (
        "0 0 2 * * ?", "UTC", PauseStatus.UNPAUSED)
    assert all(s is not None and s.pause_status == PauseStatus.UNPAUSED and s.timezone_id
               for name, s in schedules.items() if name != "adhoc-memory_bound")
    # The scheduler knows every scheduled job; nothing fired before the first night.
    assert ws.scheduler is not None
    assert len(ws.scheduler.next_fires()) == len(ids) - 1
    assert all(not starts(w, i) for i in ids)

    # 01:15 in London is 01:15 UTC in December; 02:00 UTC the daily job.
    advance_to(ws, clock, "2026-12-04T01:15:00+00:00")
    assert starts(w, by_name["shared-cluster-skewed_join"]) == ["2026-12-04 01:15:00"]
    advance_to(ws, clock, "2026-12-04T02:00:00+00:00")
    assert starts(w, by_name["daily-etl_join_aggregate"]) == ["2026-12-04 02:00:00"]
    # The next night, without anyone asking: one run per night.
    advance_to(ws, clock, "2026-12-05T02:00:00+00:00")
    assert starts(w, by_name["daily-etl_join_aggregate"]) == ["2026-12-04 02:00:00",
                                                             "2026-12-05 02:00:00"]
    assert not starts(w, by_name["adhoc-memory_bound"])
    assert ms("2026-12-05T02:00:00+00:00") <= ws.workspace.now_ms()
