"""Where the parsing runs: a local process pool, or Spark.

Both engines run the same function (`parse.parse_application_bytes`) on one
application at a time and hand back serialized ``trimtab.v1.Event`` messages
per application with what its log had to skip (`parse.ParsedApplication`); the
driver (this process) stores them. So the two engines
cannot differ in what they parse, only in where.

Spark: one task per application directory. With ``local[*]`` (the default) the
paths are this machine's; on a cluster (``--spark-master``) every executor must
see the same paths (a shared mount such as ``/dbfs/...``) and have Trimtab's
agent installed (it needs nothing of the server).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from server.backfill.parse import ParsedApplication, parse_application_bytes
from server.errors import InvalidArgument

ENGINES = ("local", "spark")
DEFAULT_SPARK_MASTER = "local[*]"


@dataclass(frozen=True)
class ParseTask:
    """One application to parse: where it is on disk, and where it really lives."""

    path: str
    event_log_path: str = ""


def _parse(task: ParseTask) -> ParsedApplication:
    return parse_application_bytes(task.path, task.event_log_path)


def parse_local(tasks: Sequence[ParseTask], workers: int | None = None) -> list[ParsedApplication]:
    """Parse in a process pool (in this process for one application); results in task order."""
    if not tasks:
        return []
    workers = max(1, min(len(tasks), workers or os.cpu_count() or 1))
    if workers == 1:
        return [_parse(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_parse, tasks))


def parse_spark(tasks: Sequence[ParseTask], master: str | None = None) -> list[ParsedApplication]:
    """Parse with one Spark task per application; results in task order.

    An active SparkSession is used as it is (and left running); otherwise one is
    started on ``master`` and stopped afterwards.
    """
    if not tasks:
        return []
    from pyspark.sql import SparkSession  # heavy: only when this engine is chosen

    session = SparkSession.getActiveSession()
    owned = session is None
    if session is None:
        session = (SparkSession.builder.master(master or DEFAULT_SPARK_MASTER).appName("trimtab-backfill")
                   .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .getOrCreate())
    try:
        indexed = list(enumerate(tasks))
        rdd = session.sparkContext.parallelize(indexed, numSlices=len(indexed))
        results = dict(rdd.map(lambda item: (item[0], _parse(item[1]))).collect())
    finally:
        if owned:
            session.stop()
    return [results[i] for i in range(len(tasks))]


def parse_all(tasks: Sequence[ParseTask], engine: str = "local", *, spark_master: str | None = None,
              workers: int | None = None) -> list[ParsedApplication]:
    if engine == "local":
        return parse_local(tasks, workers)
    if engine == "spark":
        return parse_spark(tasks, spark_master)
    raise InvalidArgument(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
