"""Which stages read their input from a cached RDD: the rule on a real PySpark 4 log, and its edges.

Spark counts cached-block reads as input bytes, like storage reads; the parser tells them apart by
the RDD Info (a cached RDD listed again by a later stage) and sends ``input_from_cache``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import encode
from agent.events import StageCompleted
from agent.parse import AppParser
from tests.agent.conftest import run_spark_app


def rdd(rdd_id: int, *, memory: bool = False, disk: bool = False, parents: tuple[int, ...] = ()) -> dict:
    return {"RDD ID": rdd_id, "Name": "MapPartitionsRDD", "Parent IDs": list(parents),
            "Storage Level": {"Use Disk": disk, "Use Memory": memory, "Use Off Heap": False,
                              "Deserialized": memory, "Replication": 1},
            "Number of Partitions": 4, "Number of Cached Partitions": 0, "Memory Size": 0, "Disk Size": 0}


def completed(stage: int, rdds: list[dict], attempt: int = 0) -> dict:
    return {"Event": "SparkListenerStageCompleted",
            "Stage Info": {"Stage ID": stage, "Stage Attempt ID": attempt, "Stage Name": f"s{stage}",
                           "Number of Tasks": 4, "RDD Info": rdds}}


APP_START = {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "n", "Timestamp": 5}


def flags(parser: AppParser, lines: list[dict], start: int = 0) -> dict[str, bool]:
    out = {}
    for i, line in enumerate(lines):
        for e in parser.feed(line, (0, start + i)):
            if isinstance(e.body, StageCompleted):
                out[e.key] = e.body.input_from_cache
    return out


def test_a_cached_rdd_listed_again_by_a_later_stage_is_a_cache_read():
    lines = [
        APP_START,
        completed(0, [rdd(2, memory=True, disk=True, parents=(1,)), rdd(1), rdd(0)]),  # computes and caches 2
        completed(1, [rdd(3, parents=(2,)), rdd(2, memory=True, disk=True, parents=(1,)), rdd(1)]),
        completed(2, [rdd(5, parents=(4,)), rdd(4)]),  # shuffle read: no cached RDD
        completed(3, [rdd(7, disk=True, parents=(6,)), rdd(6)]),  # computes a DISK_ONLY RDD
        completed(4, [rdd(8, parents=(7,)), rdd(7, disk=True, parents=(6,))]),
        completed(5, [rdd(9, parents=(2,)), rdd(2, memory=True, disk=True)]),
    ]
    got = flags(AppParser(), lines)
    assert got == {"stage/0/0": False, "stage/1/0": True, "stage/2/0": False, "stage/3/0": False,
                   "stage/4/0": True, "stage/5/0": True}


def test_a_retry_of_the_caching_stage_is_not_a_cache_read():
    cache = rdd(2, memory=True, parents=(1,))
    got = flags(AppParser(), [APP_START, completed(0, [cache, rdd(1)]), completed(0, [cache, rdd(1)], attempt=1),
                              completed(1, [rdd(3, parents=(2,)), cache])])
    assert got == {"stage/0/0": False, "stage/0/1": False, "stage/1/0": True}


def test_cached_rdds_survive_a_restart_and_missing_fields_are_tolerated():
    first = AppParser()
    flags(first, [APP_START, completed(0, [rdd(2, memory=True), rdd(1)])])
    second = AppParser()
    second.restore(json.loads(json.dumps(first.snapshot())))  # as the checkpoint stores it
    broken = completed(2, [{"RDD ID": 2}, "junk", {"RDD ID": "x", "Storage Level": None}])
    got = flags(second, [completed(1, [rdd(3, parents=(2,)), rdd(2, memory=True)]), broken,
                         completed(3, "not a list")], start=10)
    assert got == {"stage/1/0": True, "stage/2/0": False, "stage/3/0": False}


def test_the_flag_is_encoded():
    parser = AppParser()
    events = [ev for line in (APP_START, completed(0, [rdd(2, memory=True)]), completed(1, [rdd(2, memory=True)]))
              for ev in parser.feed(line, 0)]
    msgs = {e.key: encode.encode_event(e).stage_completed.input_from_cache for e in events if e.key.startswith("stage")}
    assert msgs == {"stage/0/0": False, "stage/1/0": True}


@pytest.fixture(scope="module")
def cache_log(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = run_spark_app(pytestconfig, tmp_path_factory, "cache_log")
    [log] = [f for f in (out / "logs").rglob("*") if f.is_file() and f.name.startswith(("events_", "local-"))]
    return log


def test_real_spark_cache_reads(cache_log: Path):
    """PySpark 4: a cached DataFrame (MEMORY_AND_DISK) and a DISK_ONLY RDD, read again; an uncached re-read."""
    parser = AppParser(fallback_id="x")
    stages = []
    with cache_log.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            stages += [e.body for e in parser.feed(json.loads(line), i) if isinstance(e.body, StageCompleted)]
    stages += [e.body for e in parser.finish() if isinstance(e.body, StageCompleted)]
    reading = [(s.input_from_cache, s.metrics[7]) for s in stages if s.metrics[7] > 0]  # input_bytes
    # Stages with input, in order: the scan that fills the cache, two aggregations over the cache,
    # the scan after unpersist, the second count of the DISK_ONLY RDD (its first count computed it).
    assert [flag for flag, _ in reading] == [False, True, True, False, True]
    parquet, cached_a, cached_b, parquet_again, disk_only = (n for _, n in reading)
    # Spark counts the cached blocks as input: the same size for both reads, not the Parquet file's.
    assert cached_a == cached_b != parquet == parquet_again
    assert disk_only > 0
    # Stages that read only shuffle output or compute without input are never cache reads.
    assert not any(s.input_from_cache for s in stages if s.metrics[7] == 0)
