"""Agent overhead on a real PySpark workload: with and without the agent following it.

    python -m benchmarks.agent_overhead [--quick] [--pairs 5] [--rows 4000000]

Each run is a fresh ``local[2]`` Spark application (its own JVM) with event
logging on; the timed part is the workload only (not JVM start-up). Runs
alternate without/with the agent, ``--pairs`` times. With the agent: the real
Trimtab server runs in this process (SQLite), the agent runs as its own
process (``python -m agent.cli run``) from before Spark starts until it has
delivered the application; its CPU seconds and peak RSS come from /proc.
Targets: median wall-time ratio ≤ 1.02, agent peak RSS ≤ 100 MiB.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]


def workload(out: Path, rows: int) -> None:
    """Runs in a child process: prints the workload's wall seconds as JSON."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (SparkSession.builder.master("local[2]").appName("trimtab-overhead")
             .config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", str(out))
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "16").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t0 = time.perf_counter()
    df = spark.range(rows).withColumn("k", F.col("id") % 1000).withColumn("v", F.rand(7))
    for i in range(4):
        df.groupBy("k").agg(F.sum("v"), F.count("*")).collect()
        df.join(df.groupBy("k").agg(F.max("v").alias("m")), "k").filter(F.col("v") > F.col("m") - 0.01 * i).count()
    spark.sparkContext.parallelize(range(20000), 64).map(lambda x: (x % 50, x)).reduceByKey(lambda a, b: a + b).count()
    elapsed = time.perf_counter() - t0
    spark.stop()
    print(orjson.dumps({"seconds": elapsed}).decode())


def _proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    return cpu, hwm * 1024


def _spark_run(logdir: Path, rows: int) -> float:
    out = subprocess.run([sys.executable, "-m", "benchmarks.agent_overhead", "--workload", str(logdir),
                          "--rows", str(rows)], cwd=REPO, capture_output=True, text=True, check=True)
    return orjson.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def _delivered(state: Path) -> bool:
    try:
        st = orjson.loads((state / "state.json").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return False
    apps = st.get("apps", {})
    spool_empty = not any(state.joinpath("spool").glob("*.batch"))
    return bool(apps) and all(a.get("finished") for a in apps.values()) and spool_empty


def run_with_agent(work: Path, rows: int, address: str, token: str) -> tuple[float, float, int]:
    logdir, state = work / "logs", work / "state"
    logdir.mkdir(parents=True)
    env = dict(os.environ, TRIMTAB_TOKEN=token, PYTHONPATH=str(REPO))
    agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(logdir),
                              "--server", address, "--token-env", "TRIMTAB_TOKEN", "--state-dir", str(state)],
                             cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    try:
        seconds = _spark_run(logdir, rows)
        deadline = time.monotonic() + 60
        while not _delivered(state) and time.monotonic() < deadline:
            time.sleep(0.1)  # a benchmark watching another process: polling is fine here
        cpu, rss = _proc_stats(agent.pid)
        agent.send_signal(signal.SIGTERM)
        agent.wait(15)
    finally:
        if agent.poll() is None:
            agent.kill()
    return seconds, cpu, rss


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 pairs, a smaller workload")
    p.add_argument("--pairs", type=int)
    p.add_argument("--rows", type=int)
    p.add_argument("--workload", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    rows = args.rows or (300_000 if args.quick else 1_000_000)
    if args.workload:
        workload(args.workload, rows)
        return 0
    pairs = args.pairs or (2 if args.quick else 5)
    from server.config import ServerConfig
    from server.serve import start_server

    with tempfile.TemporaryDirectory(prefix="trimtab-overhead-") as tmp:
        tmpdir = Path(tmp)
        running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmpdir / "server"))
        try:
            _, token = running.store.tokens.create("bench", "agent")
            rows_out = []
            for i in range(pairs):
                order = ("without", "with") if i % 2 == 0 else ("with", "without")
                result: dict[str, tuple[float, float, int]] = {}
                for mode in order:
                    work = tmpdir / f"{i}-{mode}"
                    if mode == "with":
                        result[mode] = run_with_agent(work, rows, running.address, token)
                    else:
                        (work / "logs").mkdir(parents=True)
                        result[mode] = (_spark_run(work / "logs", rows), 0.0, 0)
                rows_out.append((result["without"][0], *result["with"]))
        finally:
            running.stop(grace=1)
    print(f"{'pair':>4} {'without s':>10} {'with s':>8} {'ratio':>7} {'agent CPU s':>12} {'agent peak RSS MiB':>19}")
    for i, (wo, w, cpu, rss) in enumerate(rows_out, start=1):
        print(f"{i:>4} {wo:>10.2f} {w:>8.2f} {w / wo:>7.3f} {cpu:>12.2f} {rss / 2**20:>19.1f}")
    ratio = statistics.median(w / wo for wo, w, _, _ in rows_out)
    peak = max(r for *_, r in rows_out) / 2**20
    print(f"median ratio {ratio:.3f} (target <= 1.02: {'ok' if ratio <= 1.02 else 'MISS'}); "
          f"max agent CPU {max(c for _, _, c, _ in rows_out):.2f} s; "
          f"peak agent RSS {peak:.1f} MiB (target <= 100: {'ok' if peak <= 100 else 'MISS'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
