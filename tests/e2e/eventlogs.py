"""What the simulator wrote, read back from the event log files on the simulated drivers' disks."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Written:
    stages: int  # distinct (stage id, attempt) completed
    executors: int  # distinct executors added


def written_by_cluster(workspace_state: Path) -> dict[str, Written]:
    """Every simulated cluster's Spark event log (rotated parts included), counted."""
    found: dict[str, Written] = {}
    for cluster_dir in sorted((workspace_state / "clusters").iterdir()):
        logs = cluster_dir / "driver" / "databricks" / "driver" / "eventlogs"
        if not logs.is_dir():
            continue
        stages: set[tuple[int, int]] = set()
        executors: set[str] = set()
        for part in sorted(p for p in logs.rglob("eventlog*") if p.is_file()):
            raw = part.read_bytes()
            text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            for line in text.decode("utf-8").splitlines():
                if '"SparkListenerStageCompleted"' in line:
                    info = json.loads(line)["Stage Info"]
                    stages.add((info["Stage ID"], info.get("Stage Attempt ID", 0)))
                elif '"SparkListenerExecutorAdded"' in line:
                    executors.add(str(json.loads(line)["Executor ID"]))
        found[cluster_dir.name] = Written(len(stages), len(executors))
    return found
