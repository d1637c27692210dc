"""What an event log holds, computed independently of the agent's code (whole-file decoding
with the codec libraries directly, plain ``json``, ``numpy`` quantiles), and the same summary
computed from what the test server stored."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import cramjam
import lz4.block
import numpy as np
import zstandard

from protos.trimtab.v1 import ingest_pb2


def decode_file(path: Path) -> bytes:
    data = path.read_bytes()
    name = path.name.removesuffix(".inprogress")
    if name.endswith(".zstd"):
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".lz4"):  # lz4-java LZ4BlockOutputStream
        out, pos = bytearray(), 0
        while pos + 21 <= len(data):
            token, clen, olen, _ = struct.unpack_from("<Biii", data, pos + 8)
            body = data[pos + 21 : pos + 21 + clen]
            if olen:
                out += body if token & 0xF0 == 0x10 else lz4.block.decompress(body, uncompressed_size=olen)
            pos += 21 + clen
        return bytes(out)
    if name.endswith(".snappy"):  # xerial SnappyOutputStream
        out, pos = bytearray(), 16
        while pos + 4 <= len(data):
            (clen,) = struct.unpack_from(">i", data, pos)
            out += bytes(cramjam.snappy.decompress_raw(data[pos + 4 : pos + 4 + clen]))
            pos += 4 + clen
        return bytes(out)
    if name.endswith(".lzf"):  # decoded by the JVM's compress-lzf when the log was written (spark_apps)
        return (path.parent.parent / f"{path.parent.name}.oracle" / path.name).read_bytes()
    return data


def log_files(app_path: Path) -> list[Path]:
    if app_path.is_dir():
        return sorted((p for p in app_path.iterdir() if p.name.startswith("events_")),
                      key=lambda p: int(p.name.split("_")[1]))
    return [app_path]


def events_of(app_path: Path) -> list[dict]:
    out = []
    for f in log_files(app_path):
        out += [json.loads(line) for line in decode_file(f).split(b"\n") if line.strip()]
    return out


def expected_summary(events: list[dict]) -> dict[str, tuple]:
    """key → comparable summary, for stages, executors, jobs, SQL executions and the driver's peaks
    (largest used heap, final GC time and largest Python RSS over its heartbeats, under the key "driver")."""
    driver: dict[str, int] = {}
    tasks: dict[tuple[int, int], list[dict]] = {}
    peaks: dict[tuple[int, int], int] = {}
    out: dict[str, tuple] = {}
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerTaskEnd":
            tasks.setdefault((e["Stage ID"], e["Stage Attempt ID"]), []).append(e)
        elif kind == "SparkListenerStageExecutorMetrics":
            k = (e["Stage ID"], e["Stage Attempt ID"])
            peaks[k] = peaks.get(k, 0) + 1
        elif kind == "SparkListenerExecutorMetricsUpdate" and e["Executor ID"] == "driver":
            for update in e["Executor Metrics Updated"]:
                for name in ("JVMHeapMemory", "TotalGCTime", "ProcessTreePythonRSSMemory"):
                    driver[name] = max(driver.get(name, 0), update["Executor Metrics"][name])
        elif kind == "SparkListenerStageCompleted":
            si = e["Stage Info"]
            k = (si["Stage ID"], si["Stage Attempt ID"])
            ts = tasks.get(k, [])
            durations = [t["Task Info"]["Finish Time"] - t["Task Info"]["Launch Time"] for t in ts]
            run_time = sum(t.get("Task Metrics", {}).get("Executor Run Time", 0) for t in ts)
            shuffle_w = sum(t.get("Task Metrics", {}).get("Shuffle Write Metrics", {})
                            .get("Shuffle Bytes Written", 0) for t in ts)
            ok = sum(t["Task End Reason"]["Reason"] == "Success" for t in ts)
            out[f"stage/{k[0]}/{k[1]}"] = (
                si["Number of Tasks"], ok, len(ts) - ok, run_time, shuffle_w, len(durations),
                float(np.percentile(durations, 50)) if durations else 0.0,
                float(max(durations)) if durations else 0.0, peaks.get(k, 0))
        elif kind == "SparkListenerExecutorAdded":
            out[f"executor-added/{e['Executor ID']}"] = (e["Executor Info"]["Total Cores"],)
        elif kind == "SparkListenerJobEnd":
            out[f"job/{e['Job ID']}"] = (e["Job Result"]["Result"] == "JobSucceeded",)
        elif kind.endswith("SparkListenerSQLExecutionEnd"):
            out[f"sql/{e['executionId']}"] = (e["time"],)
    if driver:
        out["driver"] = (driver["JVMHeapMemory"], driver["TotalGCTime"], driver["ProcessTreePythonRSSMemory"])
    return out


def stored_summary(stored: list[ingest_pb2.Event], app: str | None = None) -> dict:
    """key → summary (or (application, key) → summary when ``app`` is None and ids differ)."""
    out: dict = {}
    for e in stored:
        if app is not None and e.application_id != app:
            continue
        body = e.WhichOneof("body")
        if body == "stage_completed":
            s = e.stage_completed
            failed = s.tasks_failed + s.tasks_killed
            out[_k(e, app)] = (s.num_tasks, s.tasks_succeeded, failed, s.metrics.executor_run_time_ms,
                          s.metrics.shuffle_bytes_written, s.task_duration_ms.count, s.task_duration_ms.p50,
                          s.task_duration_ms.max, len(s.executor_peaks))
        elif body == "executor_added":
            out[_k(e, app)] = (e.executor_added.total_cores,)
        elif body == "job_completed":
            out[_k(e, app)] = (e.job_completed.succeeded,)
        elif body == "sql_execution":
            out[_k(e, app)] = (e.sql_execution.end_time_ms,)
        elif body == "driver_peaks":
            key = "driver" if app is not None else (e.application_id, "driver")
            m = e.driver_peaks.metrics
            heap, gc, python = out.get(key, (0, 0, 0))
            out[key] = (max(heap, m["JVMHeapMemory"]), max(gc, m["TotalGCTime"]),
                        max(python, m.get("ProcessTreePythonRSSMemory", 0)))
    return out


def _k(e: ingest_pb2.Event, app: str | None) -> object:
    return e.key if app is not None else (e.application_id, e.key)
