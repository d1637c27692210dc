"""A run's input size counts a stage Spark ran again once (its largest attempt): summed over attempts,
a FetchFailed after a lost spot node read as data growth (found beside the stage-signature fix)."""

from __future__ import annotations

from server.collect.build import AgentData
from server.domain import Application, Stage


def _stage(app: str, stage_id: int, attempt: int, gb: float, *, cached: bool = False) -> Stage:
    return Stage(application_id=app, stage_id=stage_id, attempt_id=attempt,
                 metrics={"input_bytes": int(gb * 1e9)}, input_from_cache=cached)


def test_a_stage_run_again_counts_once_and_other_applications_still_add_up() -> None:
    apps = (Application(application_id="app-1"), Application(application_id="app-2"))
    normal = AgentData(apps, (_stage("app-1", 0, 0, 40), _stage("app-1", 1, 0, 10), _stage("app-2", 0, 0, 5)))
    # Stage 0 lost some output with a node: attempt 1 re-read 8 GB of its 40.
    retried = AgentData(apps, (*normal.stages, _stage("app-1", 0, 1, 8)))
    assert normal.input_bytes == retried.input_bytes == int(55e9)
    # Reads of a cached dataset are still left out, whatever the attempt.
    cached = AgentData(apps, (*normal.stages, _stage("app-1", 2, 0, 30, cached=True)))
    assert cached.input_bytes == int(55e9)
    assert AgentData().input_bytes is None
