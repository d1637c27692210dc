"""Now/run counts the runs of the configuration applied now, not only those tagged with its id (review:
coherence). A recommendation of the cluster the job already runs changes only the tag: applying one
(`trimtab recommendation apply` after a `project set` that planned the same cluster again) made savings
fall back to "last 3" with "the recommendation applied now has no succeeded run within the SLA yet"
beside twenty such runs of that cluster."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from server.api import messages
from server.cli.savings import now_from
from server.domain import ClusterConfig, Recommendation, Run
from server.onboard import RECOMMENDATION_TAG
from server.services.savings import get_savings, savings_from_history
from server.spec import config_from_spec
from server.store import Store
from tests.timeline.runs import START_MS
from tests.timeline.test_savings_store import DAY_MS, Job, _estimate


def _spec(node_type: str, workers: int, driver: str = "", rec: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": node_type, "num_workers": workers,
                            "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
    if driver:
        spec["driver_node_type_id"] = driver
    if rec is not None:
        spec["custom_tags"] = {RECOMMENDATION_TAG: str(rec)}
    return spec


class _Job(Job):
    """`Job` whose runs record their cluster, as the collector does, and whose applies their spec."""

    def recommend(self, spec: dict[str, Any]) -> int:
        rec = self.store.recommendations.add(Recommendation(project_id=self.pid, config=config_from_spec(spec)))
        return int(rec.id or 0)

    def apply(self, rec_id: int, spec: dict[str, Any]) -> None:
        project = self.store.projects.get(self.pid)
        self.store.projects.update(dataclasses.replace(project, current_spec=spec, pending_apply={
            "recommendation_id": rec_id, "applied_spec": spec, "confirmed": True,
            "applied_after_run_id": 1000 + self.day}))

    def ran(self, spec: dict[str, Any], cost: float, *, rec: int | None = None, runtime_s: float = 900.0) -> None:
        self.day += 1
        start = START_MS + self.day * DAY_MS
        self.store.runs.add(Run(project_id=self.pid, databricks_run_id=1000 + self.day, start_ms=start,
                                end_ms=start + int(runtime_s * 1000), runtime_s=runtime_s, outcome="succeeded",
                                cost=_estimate(cost), recommendation_id=rec, config=config_from_spec(spec)))


def test_a_tag_only_apply_keeps_the_runs_of_its_cluster_as_the_cost_now(any_store: Store) -> None:
    job = _Job(any_store, sla_seconds=1000.0)
    found = _spec("m5.2xlarge", 8)
    any_store.projects.update(dataclasses.replace(job.project, original_spec=found, current_spec=found))
    for _ in range(3):
        job.ran(found, 1.00, runtime_s=800)  # the cluster as found
    trial = job.recommend(_spec("c5.xlarge", 4))
    job.apply(trial, _spec("c5.xlarge", 4, rec=trial))
    job.ran(_spec("c5.xlarge", 4, rec=trial), 0.30, rec=trial, runtime_s=1500)  # a trial over the SLA
    # The same workers with a bigger driver: another cluster, not counted with the one applied now.
    bigger = job.recommend(_spec("m5.xlarge", 4, driver="m5.4xlarge"))
    job.apply(bigger, _spec("m5.xlarge", 4, driver="m5.4xlarge", rec=bigger))
    for _ in range(2):
        job.ran(_spec("m5.xlarge", 4, driver="m5.4xlarge", rec=bigger), 0.70, rec=bigger)
    kept = job.recommend(_spec("m5.xlarge", 4))
    job.apply(kept, _spec("m5.xlarge", 4, rec=kept))
    for _ in range(4):
        job.ran(_spec("m5.xlarge", 4, rec=kept), 0.50, rec=kept)
    s = job.savings()
    assert (s.current_source, s.current_recommendation_id, s.current_runs) == ("applied", kept, 4)
    # Planned again after a settings change: the same cluster, applied by hand (only the tag changes).
    again = job.recommend(_spec("m5.xlarge", 4))
    job.apply(again, _spec("m5.xlarge", 4, rec=again))
    for read in (get_savings, savings_from_history):
        [s] = read(any_store, str(job.pid)).projects
        assert (s.current_source, s.current_recommendation_id, s.current_runs) == ("applied", again, 4), s
        assert s.current_cost_per_run == pytest.approx(0.50)
    [sent] = messages.savings(get_savings(any_store, str(job.pid))).projects
    assert now_from(sent) == f"rec {again} (4)"
    # Its first run joins them.
    job.ran(_spec("m5.xlarge", 4, rec=again), 0.50, rec=again)
    assert job.savings().current_runs == 5


def test_runs_without_a_recorded_configuration_count_by_their_recommendation_alone(any_store: Store) -> None:
    job = _Job(any_store, sla_seconds=1000.0)
    job.run(_estimate(1.00), runtime_s=800)
    rec = job.recommendation()
    job.applied(rec)
    job.run(_estimate(0.50), rec=rec)
    other = int(any_store.recommendations.add(Recommendation(
        project_id=job.pid, config=ClusterConfig(node_type_id="m5.xlarge", num_workers=2))).id or 0)
    job.applied(other)
    s = job.savings()
    assert (s.current_source, s.current_runs) == ("recent", 1)  # nothing says the runs were its cluster
