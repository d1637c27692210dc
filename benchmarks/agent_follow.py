"""Agent follow throughput on a large event log, against a bare ``orjson.loads`` loop.

    python -m benchmarks.agent_follow [--quick] [--mb 500] [--source LOG] [--workdir DIR]

Builds a synthetic application from a real PySpark log (made on the spot with
``tests.agent.spark_apps`` unless ``--source`` names a plain log): its header
lines, then its TaskStart/TaskEnd lines replicated and renumbered into many
stages with many tasks, until the log holds at least ``--mb`` MB uncompressed.
It is written plain and as zstd (one frame per stage, like Spark's flushes).

For each codec, in the same run: the *ceiling* streams the same bytes
(decompressing when needed), splits lines and calls ``orjson.loads`` on every
one; the *agent* follows the file with ``AppFollower`` (decode, split, skip,
parse, aggregate stages). Reported as MB/s of uncompressed log; target: the
agent reaches at least 50% of the ceiling.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import zstandard

from agent.follow.app import AppFollower, ReadCounters
from agent.follow.discover import SegmentLister, discover

REPO = Path(__file__).resolve().parents[1]


def real_log(workdir: Path) -> Path:
    out = workdir / "spark"
    if not out.exists():
        subprocess.run([sys.executable, "-m", "tests.agent.spark_apps", str(out), "none:single"], cwd=REPO,
                       check=True, capture_output=True)
    return next(p for p in out.iterdir() if p.is_file())


def synthesize(source: Path, target_mb: int, out_dir: Path, tasks_per_stage: int = 2000) -> tuple[Path, Path, int]:
    """Plain and zstd logs of one synthetic application; returns (plain, zstd, tasks)."""
    lines = [orjson.loads(x) for x in source.read_bytes().splitlines() if x.strip()]
    header = [x for x in lines if x["Event"] in ("SparkListenerLogStart", "SparkListenerResourceProfileAdded",
                                                 "SparkListenerExecutorAdded", "SparkListenerEnvironmentUpdate",
                                                 "SparkListenerApplicationStart")]
    start = next(x for x in lines if x["Event"] == "SparkListenerTaskStart")
    end = next(x for x in lines if x["Event"] == "SparkListenerTaskEnd" and "Task Metrics" in x)
    submitted = next(x for x in lines if x["Event"] == "SparkListenerStageSubmitted")
    completed = next(x for x in lines if x["Event"] == "SparkListenerStageCompleted")
    app_id = next(x for x in header if x["Event"] == "SparkListenerApplicationStart")["App ID"]
    plain, zst = out_dir / f"{app_id}-bench", out_dir / f"{app_id}-bench.zstd"
    cctx = zstandard.ZstdCompressor(level=3)
    rng = random.Random(42)
    target = target_mb * 1_000_000
    size = tasks = stage = 0
    with plain.open("wb") as fp, zst.open("wb") as fz:
        def emit(objs: list[dict]) -> None:
            nonlocal size
            data = b"".join(orjson.dumps(o) + b"\n" for o in objs)
            fp.write(data)
            fz.write(cctx.compress(data))
            size += len(data)
        emit(header)
        while size < target:
            sub = {**submitted, "Stage Info": {**submitted["Stage Info"], "Stage ID": stage}}
            chunk: list[dict] = [sub]
            for i in range(tasks_per_stage):
                tid = tasks + i
                info = {**start["Task Info"], "Task ID": tid, "Index": i, "Launch Time": 1_000_000 + tid}
                chunk.append({**start, "Stage ID": stage, "Task Info": info})
                fin = {**end["Task Info"], "Task ID": tid, "Index": i, "Launch Time": 1_000_000 + tid,
                       "Finish Time": 1_000_000 + tid + (i % 50) * 3}
                # Vary the metrics like real tasks do, so the log compresses like a real one.
                metrics = {k: (rng.randrange(1, 1 << 30) if isinstance(v, int) else v)
                           for k, v in end["Task Metrics"].items()}
                accums = [{**a, "Update": rng.randrange(1 << 20), "Value": rng.randrange(1 << 30)}
                          for a in end["Task Info"].get("Accumulables", [])]
                fin["Accumulables"] = accums
                chunk.append({**end, "Stage ID": stage, "Task Info": fin, "Task Metrics": metrics})
            chunk.append({**completed, "Stage Info": {**completed["Stage Info"], "Stage ID": stage}})
            emit(chunk)
            tasks += tasks_per_stage
            stage += 1
        emit([{"Event": "SparkListenerApplicationEnd", "Timestamp": 2_000_000_000}])
    return plain, zst, tasks


def ceiling(path: Path) -> tuple[float, int]:
    """Seconds to stream, split and orjson.loads every line; and the uncompressed bytes."""
    t0 = time.perf_counter()
    total = 0
    with path.open("rb") as raw:
        stream = (zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
                  if path.suffix == ".zstd" else raw)
        rest = b""
        while chunk := stream.read(4 * 1024 * 1024):
            total += len(chunk)
            buf = rest + chunk
            cut = buf.rfind(b"\n") + 1
            for line in buf[:cut].split(b"\n"):
                if line:
                    orjson.loads(line)
            rest = buf[cut:]
    return time.perf_counter() - t0, total


def agent_follow(path: Path) -> tuple[float, int, int]:
    """Seconds for the agent's follower to read the whole file; events and stages it produced."""
    src = next(s for s in discover(path.parent) if s.fallback_id == path.name.removesuffix(".zstd"))
    f = AppFollower(src, SegmentLister(), ReadCounters(), 16 * 1024 * 1024)
    t0 = time.perf_counter()
    events = stages = 0
    while not f.finished:
        got = f.poll(8 * 1024 * 1024)
        events += len(got)
        stages += sum(e.key.startswith("stage/") for e in got)
    return time.perf_counter() - t0, events, stages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="50 MB instead of 500 MB")
    p.add_argument("--mb", type=int, default=None)
    p.add_argument("--source", type=Path, help="a plain (uncompressed) Spark event log to replicate")
    p.add_argument("--workdir", type=Path)
    args = p.parse_args(argv)
    mb = args.mb or (50 if args.quick else 500)
    with tempfile.TemporaryDirectory(prefix="trimtab-follow-") as tmp:
        work = args.workdir or Path(tmp)
        source = args.source or real_log(work)
        logs = work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        plain, zst, tasks = synthesize(source, mb, logs)
        print(f"synthetic application: {tasks} tasks, {plain.stat().st_size / 1e6:.0f} MB plain, "
              f"{zst.stat().st_size / 1e6:.0f} MB zstd")
        print(f"{'codec':<6} {'ceiling MB/s':>13} {'agent MB/s':>11} {'ratio':>7} {'stages':>7} {'target':>7}")
        for path in (plain, zst):
            other = zst if path is plain else plain
            hidden = other.rename(other.with_name("." + other.name))  # one application in the dir at a time
            try:
                c_s, total = ceiling(path)
                a_s, _events, stages = agent_follow(path)
            finally:
                hidden.rename(other)
            c_mbs, a_mbs = total / 1e6 / c_s, total / 1e6 / a_s
            ratio = a_mbs / c_mbs
            print(f"{'zstd' if path is zst else 'none':<6} {c_mbs:>13.0f} {a_mbs:>11.0f} {ratio:>6.0%} "
                  f"{stages:>7} {'ok' if ratio >= 0.5 else 'MISS':>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
