"""A project's daily runs stored as the collector and the agents leave them, with every kind of
per-executor detail (for the retention tests)."""

from __future__ import annotations

from server.clock import FakeClock
from server.domain import (
    AgentInfo,
    CostBreakdown,
    DriverPeaks,
    Executor,
    ExecutorGauges,
    ExecutorStagePeak,
    IngestBatch,
    IngestEvent,
    Job,
    Project,
    Run,
    SqlExecution,
    Stage,
)
from server.store import Store

DAY_MS = 86_400_000
# Day 0 of the histories: FakeClock's start.
BASE_MS = 1_700_000_000_000
# Per run: 2 stages x 2 executors' peaks, 2 executors, 1 gauge, 1 driver peak, 1 job, 1 SQL execution.
DETAIL_PER_RUN = {"stage_executor_peaks": 4, "executors": 2, "executor_gauges": 1, "driver_peaks": 1,
                  "jobs": 1, "sql_executions": 1}


def _ev(app: str, key: str, body: object) -> IngestEvent:
    return IngestEvent(application_id=app, key=key, kind=type(body).__name__, body=body, payload=key.encode())


def detail_events(app: str, n: int) -> tuple[IngestEvent, ...]:
    peaks = tuple(ExecutorStagePeak(e, {"JVMHeapMemory": (n + 1) * 2**30}) for e in ("1", "2"))
    stages = [Stage(application_id=app, stage_id=i, name=f"stage{i}", num_tasks=8, parent_ids=(i - 1,) if i else (),
                    submission_time_ms=1000, completion_time_ms=2000, metrics={"input_bytes": 10**9},
                    tasks_succeeded=8, executor_peaks=peaks) for i in range(2)]
    return (*(_ev(app, f"stage/{s.stage_id}/0", s) for s in stages),
            *(_ev(app, f"exec-added/{e}", Executor(app, e, host=f"10.0.0.{e}", total_cores=4)) for e in ("1", "2")),
            _ev(app, "gauge/1/5", ExecutorGauges(app, "1", time_ms=5, memory_used_bytes=2**30)),
            _ev(app, "driver/0", DriverPeaks(app, {"JVMHeapMemory": 2**31, "TotalGCTime": 10})),
            _ev(app, "job/0", Job(app, 0, stage_ids=(0, 1))),
            _ev(app, "sql/0", SqlExecution(app, 0, description="insert overwrite")))


def store_daily_runs(store: Store, clock: FakeClock, project: Project, runs: int, *, first_day: int = 0,
                     prefix: str = "") -> list[Run]:
    """``runs`` daily runs of ``project`` from day ``first_day`` (`BASE_MS` is day 0), each with its
    application ``<prefix>app-<n>`` sent by its own agent that day (the clock moves on to each run's day)."""
    stored = []
    for n in range(first_day, first_day + runs):
        app = f"{prefix}app-{n}"
        at = BASE_MS + n * DAY_MS
        clock.advance(max(0, at - clock.now_ms()) / 1000)  # the clock only moves forward
        store.ingest.write([IngestBatch(batch_id=f"b-{app}", agent=AgentInfo(agent_id=f"agent-{app}", cluster_id=app),
                                        events=detail_events(app, n))])
        run = store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=at,
                                 end_ms=at + 600_000, runtime_s=600.0 + n, outcome="succeeded",
                                 input_bytes=10**9, anomalies=("spot_loss",) if n % 5 == 0 else (),
                                 application_ids=(app,), sla_s=900.0))
        stored.append(store.runs.set_cost(int(run.id or 0), CostBreakdown(dbu_cost=1.0, compute_cost=2.0, total=3.0)))
    return stored
