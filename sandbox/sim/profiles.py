"""Workload profiles: what a Spark job does, independent of the cluster it runs on.

A profile is a sequence of stages grouped into Spark jobs. Each stage says how much of the day's
input it reads from storage, which earlier stages' shuffle output it reads, how much CPU work
each processed byte costs, how much it writes to shuffle and to storage, and how much execution
memory a task needs per processed byte (hash tables, sort buffers). The performance model in
``model.py`` turns that into task durations on a given node type; ``scheduler.py`` places the
tasks onto executor slots. The driver's memory need (``driver_gb``, brought in by the stages with a
``driver_share``) is played out by ``driver.py``: a driver too small for it fails the run.

Numbers are chosen so that typical runs take minutes to an hour on a few workers, and were
checked against the measured runs in ``../shared/datasets/tuning`` with
``python -m benchmarks.calibration``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class StageTemplate:
    name: str  # Spark call site, shown as the stage name
    job: int  # index of the Spark job the stage belongs to (jobs run in order)
    input_share: float = 0.0  # fraction of the day's input this stage reads from storage
    parents: tuple[int, ...] = ()  # stages whose shuffle output this stage reads
    cpu_s_per_gb: float = 20.0  # CPU seconds per GB processed on one vCPU with core_speed 1.0
    shuffle_write_ratio: float = 0.0  # shuffle bytes written per byte processed
    output_ratio: float = 0.0  # bytes written to storage per byte processed
    mem_ratio: float = 0.5  # execution memory needed per processed byte of a task
    partitions: int | None = None  # fixed task count; None = one task per input split
    skew_share: float = 0.0  # share of the stage's bytes that lands on the hottest 1% of tasks
    cached: bool = False  # reads the dataset cached by an earlier job (memory if it fits)
    persists: bool = False  # caches the dataset it reads (DataFrame.cache()) for the ``cached`` stages
    # Share of the profile's ``driver_gb`` this stage brings to the driver as its tasks finish
    # (collected results, a broadcast relation being built, commit metadata); held until its job ends.
    driver_share: float = 0.0
    # Python worker memory per processed byte, outside the JVM heap (``model.TaskWork.python_mem_ratio``).
    python_mem_ratio: float = 0.0


@dataclass(frozen=True)
class WorkloadProfile:
    name: str
    description: str
    input_gb: float  # input size on day 0
    stages: tuple[StageTemplate, ...]
    growth_per_day: float = 0.003  # compound daily growth of the input (about x3 a year)
    split_mb: int = 128  # spark.sql.files.maxPartitionBytes
    max_tasks_per_stage: int = 800  # keeps a single event log small enough to simulate quickly
    driver_s_per_job: float = 0.6  # planning and scheduling on the driver before each job
    startup_s: float = 3.0  # session start-up and first planning on the driver before any job
    noise_cv: float = 0.04  # run-to-run variation of the whole run (lognormal sigma)
    task_noise_cv: float = 0.12  # variation between tasks of a stage
    input_local: bool = False  # input read from the workers' disks (HDFS) instead of cloud storage
    oom_pressure: float | None = 8.0  # memory need/available that kills a task (None: never)
    # Live data the driver holds at its peak on day 0 (GB), above its base use; scales with the
    # day's input and varies run to run (``driver.DRIVER_NOISE_CV``). See ``sandbox/sim/driver.py``.
    driver_gb: float = 0.3
    driver_keeps: bool = False  # the driver keeps what its jobs built until the end (a model it trains)

    def input_gb_on(self, day: int) -> float:
        """The input size on ``day`` (day 0 = ``input_gb``), growing by ``growth_per_day``."""
        return self.input_gb * (1.0 + self.growth_per_day) ** max(day, 0)

    def scaled(self, *, input_factor: float = 1.0, cpu_factor: float = 1.0,
               startup_s: float | None = None) -> WorkloadProfile:
        """A copy with more or less data, CPU work per byte and start-up time (used by calibration)."""
        return replace(
            self,
            input_gb=self.input_gb * input_factor,
            startup_s=self.startup_s if startup_s is None else startup_s,
            stages=tuple(replace(s, cpu_s_per_gb=s.cpu_s_per_gb * cpu_factor) for s in self.stages),
        )


def _etl(name: str, description: str, *, skew: float, driver_gb: float, broadcast: bool) -> WorkloadProfile:
    """Two scans, a join, a write. ``broadcast``: the driver builds a broadcast relation for the join."""
    return WorkloadProfile(
        name=name,
        description=description,
        input_gb=60.0,
        stages=(
            StageTemplate("parquet at ingest_orders.py:42", 0, input_share=0.8, cpu_s_per_gb=14.0,
                          shuffle_write_ratio=0.45, mem_ratio=0.3),
            StageTemplate("parquet at ingest_orders.py:43", 0, input_share=0.2, cpu_s_per_gb=10.0,
                          shuffle_write_ratio=0.9, mem_ratio=0.3),
            StageTemplate("join at ingest_orders.py:51", 0, parents=(0, 1), cpu_s_per_gb=22.0,
                          shuffle_write_ratio=0.35, mem_ratio=1.4, partitions=200, skew_share=skew,
                          driver_share=1.0 if broadcast else 0.0),
            # The driver gathers the write tasks' commit messages and file statuses for the commit.
            StageTemplate("save at ingest_orders.py:60", 0, parents=(2,), cpu_s_per_gb=18.0,
                          output_ratio=0.4, mem_ratio=0.8, partitions=200, driver_share=1.0),
        ),
        growth_per_day=0.003,
        driver_gb=driver_gb,
    )


PROFILES: dict[str, WorkloadProfile] = {
    "etl_join_aggregate": _etl(
        "etl_join_aggregate",
        "Scan two tables, shuffle-hash join them, aggregate and write the result.",
        skew=0.0, driver_gb=0.5, broadcast=False,
    ),
    "skewed_join": _etl(
        "skewed_join",
        "The same join with a hot key: 1% of the join tasks get 25% of the data. The hot keys' rows are "
        "broadcast: the driver builds that relation, more than an 8 GiB node's driver heap holds.",
        skew=0.25, driver_gb=4.5, broadcast=True,
    ),
    "sort": WorkloadProfile(
        name="sort",
        description="Global sort of the whole input (TeraSort-like): everything goes through shuffle.",
        input_gb=80.0,
        stages=(
            # The range partitioner's key sample comes back to the driver.
            StageTemplate("sortByKey at terasort.py:20", 0, input_share=0.02, cpu_s_per_gb=6.0,
                          mem_ratio=0.1, driver_share=0.6),
            StageTemplate("parquet at terasort.py:24", 1, input_share=1.0, cpu_s_per_gb=9.0,
                          shuffle_write_ratio=1.0, mem_ratio=0.6),
            StageTemplate("save at terasort.py:30", 1, parents=(1,), cpu_s_per_gb=12.0,
                          output_ratio=1.0, mem_ratio=1.6, partitions=400, driver_share=0.4),
        ),
        growth_per_day=0.003,
        driver_gb=0.6,
    ),
    "iterative_ml": WorkloadProfile(
        name="iterative_ml",
        description="Cache a feature table, then ten gradient iterations over it (k-means/SGD-like).",
        input_gb=24.0,
        stages=(
            StageTemplate("cache at train_model.py:33", 0, input_share=1.0, cpu_s_per_gb=16.0,
                          mem_ratio=0.4, persists=True),
            *(
                stage
                for i in range(10)
                for stage in (
                    StageTemplate(f"treeAggregate at train_model.py:{50 + i}", 1 + i, cached=True,
                                  cpu_s_per_gb=9.0, shuffle_write_ratio=0.0005, mem_ratio=0.2),
                    # The last level of the tree sends its partial gradients (hashed features,
                    # 2^26 dimensions) to the driver, which combines them into the model it keeps.
                    StageTemplate(f"treeAggregate at train_model.py:{50 + i}", 1 + i,
                                  parents=(1 + 2 * i,), cpu_s_per_gb=5.0, mem_ratio=0.2,
                                  partitions=8, driver_share=1.0),
                )
            ),
        ),
        growth_per_day=0.002,
        max_tasks_per_stage=160,  # 20 stages read the cached table: keep the log to a few thousand tasks
        driver_s_per_job=0.9,
        noise_cv=0.05,
        driver_gb=2.0,
        driver_keeps=True,  # the model and its aggregation buffers live for the whole training
    ),
    "memory_bound": WorkloadProfile(
        name="memory_bound",
        description="Wide aggregation with large per-key state: spills and GCs unless memory per core is high.",
        input_gb=40.0,
        stages=(
            StageTemplate("parquet at sessionize.py:18", 0, input_share=1.0, cpu_s_per_gb=12.0,
                          shuffle_write_ratio=0.8, mem_ratio=0.5),
            StageTemplate("groupBy at sessionize.py:27", 0, parents=(0,), cpu_s_per_gb=28.0,
                          shuffle_write_ratio=0.2, mem_ratio=7.0, partitions=160),
            StageTemplate("save at sessionize.py:40", 0, parents=(1,), cpu_s_per_gb=10.0,
                          output_ratio=0.5, mem_ratio=1.0, partitions=160, driver_share=1.0),
        ),
        growth_per_day=0.003,
        driver_gb=0.4,
    ),
    "io_bound": WorkloadProfile(
        name="io_bound",
        description="Scan a large table, filter and copy (grep-like): storage and network throughput bound.",
        input_gb=150.0,
        stages=(
            # Listing a large table and committing the copy's many files: metadata on the driver.
            StageTemplate("parquet at copy_events.py:12", 0, input_share=1.0, cpu_s_per_gb=2.5,
                          output_ratio=0.35, mem_ratio=0.1, driver_share=1.0),
        ),
        growth_per_day=0.004,
        driver_gb=1.0,
        split_mb=256,
    ),
}


# Profiles a job names by its tag (``sandbox:profile``) but seeding leaves out (`PROFILES` is what
# ``seed_jobs`` makes a job of each): kept apart so the seeded workspaces stay as they were.
NAMED_ONLY: dict[str, WorkloadProfile] = {
    "pandas_udf": WorkloadProfile(
        name="pandas_udf",
        description="Group by customer and score each group with a pandas UDF (applyInPandas): each group's "
                    "rows sit in a Python worker, outside the JVM heap. On a node with less than ~0.9 GiB "
                    "outside the heap per core (c5.xlarge) the OS kills the executors (exit code 137).",
        input_gb=30.0,
        stages=(
            StageTemplate("parquet at score_customers.py:14", 0, input_share=1.0, cpu_s_per_gb=10.0,
                          shuffle_write_ratio=1.0, mem_ratio=0.3),
            StageTemplate("applyInPandas at score_customers.py:31", 0, parents=(0,), cpu_s_per_gb=40.0,
                          output_ratio=0.1, mem_ratio=0.3, partitions=200, python_mem_ratio=6.0,
                          driver_share=1.0),
        ),
        growth_per_day=0.001,
        driver_gb=0.3,
    ),
}


def profile_named(name: str) -> WorkloadProfile:
    """The profile ``name`` (seeded or named only); ValueError for an unknown one."""
    found = PROFILES.get(name) or NAMED_ONLY.get(name)
    if found is None:
        raise ValueError(f"unknown workload profile {name!r}; known: {sorted(PROFILES) + sorted(NAMED_ONLY)}")
    return found
