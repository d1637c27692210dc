"""A late agent flush finds its run after a backfill stored older runs under higher ids (review rev15i).

The collector stored run R before its agent data landed; a backfill then stored 20 older runs. When
R's application arrived, the collector looked for its run among the 10 most recently *stored* runs
(highest ids), all backfilled, so R never got its application, input or stages. Runs are read by
start now, and the data-growth history the same way: a backfilled run is not "the run before" R."""

from __future__ import annotations

from server.clock import SystemClock
from server.collect import Collector
from server.domain import AgentInfo, Application, IngestBatch, IngestEvent, Project, Run, Stage
from server.errors import FailedPrecondition
from server.store import Store

DAY_MS = 86_400_000
T0 = 1_760_000_000_000
GB = 10**9


def _run(project_id: int, n: int, input_bytes: int | None, cluster_id: str = "") -> Run:
    start = T0 + n * DAY_MS
    return Run(project_id=project_id, databricks_run_id=100 + n, cluster_id=cluster_id or f"old-{n}",
               start_ms=start, end_ms=start + 600_000, runtime_s=600.0, outcome="succeeded",
               input_bytes=input_bytes)


def _application(store: Store, app_id: str, cluster_id: str, input_bytes: int) -> None:
    store.ingest.write([IngestBatch("late-1", AgentInfo("agent-late"), (
        IngestEvent(app_id, "start", "application_start",
                    Application(application_id=app_id, cluster_id=cluster_id, start_time_ms=T0 + 30 * DAY_MS)),
        IngestEvent(app_id, "stage-0", "stage", Stage(
            application_id=app_id, stage_id=0, name="read", num_tasks=10, submission_time_ms=1, completion_time_ms=2,
            tasks_succeeded=10, metrics={"input_bytes": input_bytes})),
    ))])


def _unreachable(_workspace: object) -> object:
    raise FailedPrecondition("no workspace in this test: only the late applications are looked at")


def test_a_late_application_finds_its_run_after_a_backfill_of_older_runs(store: Store) -> None:
    project = store.projects.add(Project(workspace="w", job_id=7, cluster_key="main"))
    pid = int(project.id or 0)
    # Collected: five runs of 1 GB each, then R (collected before its agent's flush landed).
    for n in range(5):
        store.runs.add(_run(pid, 20 + n, GB))
    late = store.runs.add(_run(pid, 30, None, cluster_id="cluster-r"))
    # Then a backfill stores 20 months-older runs of 10 GB each, under higher ids.
    for n in range(20):
        store.runs.add(_run(pid, n - 200, 10 * GB))
    _application(store, "app-late", "cluster-r", GB)

    collector = Collector(store, _unreachable, clock=SystemClock())
    collector.notify_application_end("app-late")
    collector.poll_once()

    after = store.runs.get(int(late.id or 0))
    assert after.application_ids == ("app-late",) and after.input_bytes == GB
    # Its history is the runs that started before it (1 GB), not the backfilled (10 GB): no growth.
    assert "data_growth" not in after.anomalies


def test_data_growth_is_read_against_the_runs_that_started_before(store: Store) -> None:
    """The same, the other way: the runs that started last read 1 GB; 5 GB for R is growth, even
    though the runs stored last (backfilled, 10 GB) would hide it."""
    project = store.projects.add(Project(workspace="w", job_id=8, cluster_key="main"))
    pid = int(project.id or 0)
    for n in range(5):
        store.runs.add(_run(pid, 20 + n, GB))
    late = store.runs.add(_run(pid, 30, None, cluster_id="cluster-r"))
    for n in range(20):
        store.runs.add(_run(pid, n - 200, 10 * GB))
    _application(store, "app-grown", "cluster-r", 5 * GB)

    collector = Collector(store, _unreachable, clock=SystemClock())
    collector.notify_application_end("app-grown")
    collector.poll_once()

    after = store.runs.get(int(late.id or 0))
    assert after.input_bytes == 5 * GB and "data_growth" in after.anomalies
