"""Runs tiny real PySpark applications that write event logs (used by the agent tests and benchmarks).

Usage: python -m tests.agent.spark_apps OUT_DIR [codec:rolling ...]
Each application: several jobs and stages, a shuffle, a skewed stage and one failed
(then retried) task, on ``local[2,2]`` (2 threads, a task may fail once).
All applications share one JVM: only the first start-up is slow.

For lzf logs the JVM's own decoder (compress-lzf, what Spark reads them with) writes the
decoded text to ``OUT_DIR.oracle/<file>``, so tests check the agent's decoder against an
independent one (no Python package decodes this format).
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_VARIANTS = ("zstd:rolling", "lz4:single", "snappy:single", "lzf:single", "none:single")


def _fail_first_attempt(index: int, it):  # runs in the Python worker
    from pyspark import TaskContext

    if index == 1 and TaskContext.get().attemptNumber() == 0:
        raise RuntimeError("trimtab test: planned task failure")
    return it


def workload(spark) -> None:
    sc = spark.sparkContext
    # A shuffle with a skewed key: one reduce task gets most of the rows.
    pairs = sc.parallelize(range(4000), 4).map(lambda x: (0 if x % 10 else x % 7, x))
    pairs.groupByKey(4).mapValues(len).collect()
    # SQL: an aggregation with an exchange (a SQL execution with two jobs/stages).
    spark.range(2000).selectExpr("id % 5 as k", "id").groupBy("k").count().collect()
    # A failed task, retried once (local[2,2] allows two attempts).
    sc.parallelize(range(10), 2).mapPartitionsWithIndex(_fail_first_attempt).count()


def run(out: Path, variants: tuple[str, ...] = DEFAULT_VARIANTS) -> None:
    from pyspark.sql import SparkSession

    out.mkdir(parents=True, exist_ok=True)
    for v in variants:
        codec, layout = v.split(":")
        b = (SparkSession.builder.master("local[2,2]").appName(f"trimtab-test-{codec}-{layout}")
             .config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", str(out))
             .config("spark.eventLog.logStageExecutorMetrics", "true")
             .config("spark.executor.processTreeMetrics.enabled", "true")  # as the init script sets
             .config("spark.eventLog.rolling.enabled", "true" if layout == "rolling" else "false")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
             .config("spark.sql.adaptive.enabled", "false"))
        if codec == "none":
            b = b.config("spark.eventLog.compress", "false")
        else:
            b = b.config("spark.eventLog.compress", "true").config("spark.eventLog.compression.codec", codec)
        spark = b.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        try:
            workload(spark)
        finally:
            spark.stop()
        if codec == "lzf":
            _write_lzf_oracle(out)


def _write_lzf_oracle(out: Path) -> None:
    from pyspark import SparkContext

    oracle = out.parent / f"{out.name}.oracle"
    oracle.mkdir(exist_ok=True)
    jvm = SparkContext._jvm  # the gateway outlives the stopped context
    for f in out.glob("*.lzf"):
        (oracle / f.name).write_bytes(bytes(jvm.com.ning.compress.lzf.LZFDecoder.decode(bytearray(f.read_bytes()))))


if __name__ == "__main__":
    run(Path(sys.argv[1]), tuple(sys.argv[2:]) or DEFAULT_VARIANTS)
