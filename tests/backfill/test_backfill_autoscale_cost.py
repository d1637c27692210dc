"""A backfilled autoscaling run whose cluster the workspace no longer holds (no cluster events in a log) is
sized by its executors, not min_workers, and its cost note says so."""

from __future__ import annotations

import pytest

from server.backfill.usage import EXECUTORS_NOTE, Pricing, executor_events, run_cost, usage_of
from server.collect.run_parse import ClusterRun
from server.collect.usage import cluster_timeline
from server.costing.catalog import load_catalog
from server.domain import Executor
from tests.costing.catalog_entries import dbus, price, rate, root_per_hour

S = 1_000
T0 = 1_790_000_000_000
SPEC = {"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 2, "max_workers": 8},
        "aws_attributes": {"availability": "ON_DEMAND"}}


def executors() -> list[Executor]:
    first = [Executor("app", str(i), f"10.0.0.{i}", 4, T0 + 30 * S) for i in range(2)]
    # Six more while the job is busy, released at 1500 s; the driver's own executor is not a worker.
    more = [Executor("app", str(i), f"10.0.0.{i}", 4, T0 + 600 * S, T0 + 1500 * S, "killed_by_driver")
            for i in range(2, 8)]
    return [Executor("app", "driver", "10.0.0.100", 0, T0), *first, *more]


def piece(spec: dict) -> ClusterRun:
    return ClusterRun(run_id=1, job_id=7, cluster_key="main", cluster_id="c", spark_context_id="1", spec=spec,
                      task_keys=(), start_ms=T0, end_ms=T0 + 1800 * S, outcome="succeeded", state_message="")


def test_the_executors_size_an_autoscaling_cluster() -> None:
    events = executor_events(SPEC, executors(), T0, T0 + 1800 * S)
    tl = cluster_timeline(SPEC, events, fallback_start_ms=T0, fallback_end_ms=T0 + 1800 * S)
    worker_s = sum(n.end_ms - n.start_ms for n in tl.nodes if not n.is_driver) / S
    assert worker_s == pytest.approx(2 * 1800 + 6 * 900) and tl.max_workers_seen == 8


def test_a_backfilled_autoscaling_run_is_priced_with_its_upsized_workers() -> None:
    pricing = Pricing(load_catalog(), "aws", "us-east-1", "premium")
    # No cluster record: the workspace no longer holds the cluster, only the log's executors are left.
    cost = run_cost(pricing, piece(SPEC), None, usage_of(piece(SPEC), None, executors()))
    assert cost is not None and EXECUTORS_NOTE in cost.note
    one_hour = price("aws", "us-east-1", "m5.xlarge") + dbus("aws", "m5.xlarge") * rate("aws", "premium", "jobs")
    one_hour += root_per_hour("us-east-1", T0)  # each node's default 30 + 150 GB (gp2), over the month's hours
    assert cost.total == pytest.approx(one_hour * (3 * 1800 + 6 * 900) / 3600)


def test_a_fixed_cluster_or_no_executors_keeps_the_spec_size() -> None:
    fixed = {"node_type_id": "m5.xlarge", "num_workers": 2}
    assert executor_events(fixed, executors(), T0, T0 + 1800 * S) == []
    assert executor_events(SPEC, [], T0, T0 + 1800 * S) == []
