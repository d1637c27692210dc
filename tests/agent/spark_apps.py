"""Runs tiny real PySpark applications that write event logs (used by the agent tests and benchmarks).

Usage: python -m tests.agent.spark_apps OUT_DIR [codec:rolling ...]
   or: python -m tests.agent.spark_apps --serve (runs applications on request, see ``serve``)
Each application: several jobs and stages, a shuffle, a skewed stage and one failed
(then retried) task, on ``local[2,2]`` (2 threads, a task may fail once).
All applications share one JVM: only the first start-up is slow.

For lzf logs the JVM's own decoder (compress-lzf, what Spark reads them with) writes the
decoded text to ``OUT_DIR.oracle/<file>``, so tests check the agent's decoder against an
independent one (no Python package decodes this format).
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

PROCESS_TREE_METRICS = "spark.executor.processTreeMetrics.enabled"
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
             .config(PROCESS_TREE_METRICS, "true")  # as the init script sets
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


SERVE = "--serve"
REPLY = "trimtab-spark-apps:"  # marks our answers: the JVM shares this process's stdout


def serve() -> None:
    """Run applications on request, all in this process's one JVM (its start-up is most of a run's time).

    Each stdin line is a JSON list ``["module:function", "OUT_DIR"]``; the function is called with
    ``Path(OUT_DIR)`` and each application it runs writes its own event log as before. Each request
    gets one stdout line: ``REPLY`` followed by ``"ok"`` or the traceback, as JSON. Ends at end of input.
    """
    from pyspark import SparkConf, SparkContext

    # Start the JVM before any application, with none of its settings: spark-submit turns the
    # launching application's settings into JVM system properties, which every later SparkConf
    # reads (the first application's codec or layout would leak into the next one's log). The one
    # setting passed is JVM-wide anyway: Spark decides once per JVM, with the first application's
    # value, whether it measures process trees (ProcfsMetricsGetter). On, as the init script sets it
    # and as the agent's logs need it, for every application here whatever order they run in.
    SparkContext._ensure_initialized(conf=SparkConf(loadDefaults=False).set(PROCESS_TREE_METRICS, "true"))
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            target, out = json.loads(line)
            module, _, function = target.partition(":")
            getattr(importlib.import_module(module), function)(Path(out))
            answer = "ok"
        except Exception:  # reported to the test that asked; the next request still runs
            answer = traceback.format_exc()
        print(REPLY + json.dumps(answer), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == [SERVE]:
        serve()
    else:
        run(Path(sys.argv[1]), tuple(sys.argv[2:]) or DEFAULT_VARIANTS)
