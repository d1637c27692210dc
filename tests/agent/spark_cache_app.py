"""A tiny real PySpark application that caches a DataFrame and an RDD and reads them again.

Usage: python -m tests.agent.spark_cache_app OUT_DIR (writes one plain event log into OUT_DIR).
Job order (one stage per job unless said): write a Parquet table; scan it and cache it
(materialises the cache, input from storage); two aggregations over the cached DataFrame (a
cache-reading map stage and a shuffle-reading result stage each); the same aggregation over
the Parquet table after the cache is dropped (input from storage again); an RDD persisted to disk only,
computed, then counted again.
"""

from __future__ import annotations

import sys
from pathlib import Path


def run(out: Path) -> None:
    from pyspark import StorageLevel
    from pyspark.sql import SparkSession

    (out / "logs").mkdir(parents=True, exist_ok=True)  # Spark wants the log directory to exist
    spark = (SparkSession.builder.master("local[2]").appName("trimtab-test-cache")
             .config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", str(out / "logs"))
             .config("spark.eventLog.compress", "false").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2").config("spark.sql.adaptive.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        table = str(out / "table")
        spark.range(40000, numPartitions=2).selectExpr("id % 7 as k", "id * 1.5 as v").write.parquet(table)
        spark.sparkContext.setJobDescription("cache")
        cached = spark.read.parquet(table).cache()
        cached.count()
        for i in range(2):
            spark.sparkContext.setJobDescription(f"iteration {i}")
            cached.groupBy("k").sum("v").collect()
        # Spark would answer the same plan from the cache (CacheManager): drop the cache first.
        cached.unpersist(blocking=True)
        spark.sparkContext.setJobDescription("uncached")
        spark.read.parquet(table).groupBy("k").sum("v").collect()
        spark.sparkContext.setJobDescription("disk-only")
        rdd = spark.sparkContext.parallelize(range(5000), 2).map(lambda x: x * 2).persist(StorageLevel.DISK_ONLY)
        rdd.count()
        rdd.count()
    finally:
        spark.stop()


if __name__ == "__main__":
    run(Path(sys.argv[1]))
