"""Cached data in simulated event logs: RDD Info and input bytes as real Spark writes them.

``tests/agent/test_agent_cache_reads.py`` shows on a real PySpark 4 log what these mirror: the
stage that caches a dataset lists its RDD with a storage level, every later stage that reads the
cached blocks lists the same RDD ID again, and Spark counts the cached blocks read, from memory or
from disk, as the stage's input bytes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.events import StageCompleted
from agent.parse import AppParser, cached_level
from sandbox.sim.model import CACHE_FOOTPRINT
from sandbox.sim.run import SimulatedRun, simulate_run

T0 = 1_790_000_000_000
SMALL = {"node_type_id": "c5d.xlarge", "num_workers": 2}  # the cached table spills to local disk
LARGE = {"node_type_id": "r5d.4xlarge", "num_workers": 4}  # the cached table fits in storage memory


def run(spec: dict[str, Any], profile: str = "iterative_ml") -> SimulatedRun:
    return simulate_run({"spark_version": "15.4.x-scala2.12", **spec}, profile, seed=1, day=0,
                        cluster_id="1124-000001-cache", spark_context_id="5150", start_time_ms=T0, job_id=7,
                        run_id=71, app_name="Databricks Shell", spot_loss_prob=0.0)


def completed_stages(r: SimulatedRun) -> list[dict[str, Any]]:
    return [e["Stage Info"] for e in map(json.loads, (line for _, line in r.eventlog))
            if e["Event"] == "SparkListenerStageCompleted"]


def agent_stages(r: SimulatedRun) -> list[StageCompleted]:
    parser = AppParser(fallback_id="5150")
    out = []
    for i, (_, line) in enumerate(r.eventlog):
        out += [e.body for e in parser.feed(json.loads(line), i) if isinstance(e.body, StageCompleted)]
    return out


@pytest.mark.parametrize("spec", [SMALL, LARGE])
def test_iteration_stages_list_the_cached_rdd_of_the_stage_that_cached_it(spec: dict[str, Any]) -> None:
    stages = completed_stages(run(spec))
    cached = {s["Stage ID"]: {r["RDD ID"] for r in s["RDD Info"] if cached_level(r["Storage Level"])} for s in stages}
    [cache_rdd] = cached[0]  # "cache at train_model.py:33" computes and caches one RDD
    readers = [s["Stage ID"] for s in stages if s["Parent IDs"] == [] and s["Stage ID"] > 0]
    assert len(readers) == 10  # one gradient pass per iteration
    assert all(cached[sid] == {cache_rdd} for sid in readers)
    assert all(not ids for sid, ids in cached.items() if sid not in readers and sid != 0)
    # Spark leaves the cached partition counts and sizes at 0 in the event log.
    assert {(r["Number of Cached Partitions"], r["Memory Size"], r["Disk Size"])
            for s in stages for r in s["RDD Info"]} == {(0, 0, 0)}


def test_the_agent_flags_exactly_the_cache_reads_and_their_input_is_the_cached_table() -> None:
    small, large = agent_stages(run(SMALL)), agent_stages(run(LARGE))
    for stages in (small, large):
        assert [s.stage_id for s in stages if s.input_from_cache] == list(range(1, 21, 2))
    # Spark counts cached blocks read from memory (large) and from disk (small) alike as input, at
    # their stored size: the table's in-memory size where it fits, less where most is read from disk.
    table = small[0].metrics[7]
    assert large[0].metrics[7] == table  # the caching scan reads the table from storage
    in_memory = [s.metrics[7] for s in large if s.input_from_cache]
    assert in_memory == [pytest.approx(table * CACHE_FOOTPRINT, rel=1e-6)] * 10
    assert all(table < s.metrics[7] < table * 1.1 for s in small if s.input_from_cache)
    for stages in (small, large):
        assert all(s.metrics[7] == 0 for s in stages if s.stage_id and not s.input_from_cache)


def test_other_profiles_have_no_cache_reads() -> None:
    stages = agent_stages(run({"node_type_id": "m5d.xlarge", "num_workers": 2}, "etl_join_aggregate"))
    assert stages and not any(s.input_from_cache for s in stages)


@pytest.mark.parametrize(("spec", "app_ms"), [(SMALL, 500989), (LARGE, 73397)])
def test_cache_reporting_leaves_the_simulated_time_alone(spec: dict[str, Any], app_ms: int) -> None:
    """Application times measured before the RDD Info and cached input bytes were added (8310a1a)."""
    events = [json.loads(line) for _, line in run(spec).eventlog]
    start = next(e["Timestamp"] for e in events if e["Event"] == "SparkListenerApplicationStart")
    end = next(e["Timestamp"] for e in events if e["Event"] == "SparkListenerApplicationEnd")
    assert end - start == app_ms
