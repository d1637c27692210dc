"""The emulator's whole state as one JSON document, guarded by one lock, saved atomically.

Jobs, runs, clusters, cluster events, secrets, tokens and id counters live in a single dict
so a restart restores everything; the file is replaced with os.replace so a crash mid-write
leaves the previous version intact.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATE_FILE = "workspace.json"
SCHEMA_VERSION = 1


def _empty() -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "counters": {"job_id": 0, "run_id": 0, "task_run_id": 0},
        "jobs": {},          # str(job_id) -> Job dict (job_id, created_time, settings, ...)
        "job_days": {},      # str(job_id) -> runs started so far (input grows with it)
        "runs": {},          # str(run_id) -> Run dict as runs/get returns it
        "clusters": {},      # cluster_id -> ClusterDetails dict
        "events": {},        # cluster_id -> [ClusterEvent dict] in time order
        "secrets": {},       # scope -> {key: {"value", "last_updated_timestamp"}}
        "tokens": [],        # valid personal access tokens
        "revoked_tokens": [],
        "sim_now_ms": 0,     # simulated time at the last save, so time never runs backwards
        # str(job_id) -> {"key", "since_ms"}: the scheduled jobs' triggers and when each was
        # set, so a periodic trigger keeps its phase across restarts (job_scheduler.py).
        "trigger_state": {},
        # str(for-each task run id) -> {"run_id", "iteration_run_ids"} (for_each.py).
        "for_each": {},
        # This workspace's own salt for the cluster and Spark context ids it makes: they are
        # derived from (run id, cluster key) so a restart rebuilds them, and without it two
        # emulators gave their first runs the same ids, which Databricks' random ids never do
        # (the server then took one workspace's agent data for the other's). Old states get one
        # on their first load (setdefault below), kept from then on.
        "id_salt": secrets.token_hex(8),
    }


class StateStore:
    """Holds the state dict; callers mutate it only inside `with store.lock:` then `save()`."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        # Called under the lock just before each write (the workspace stamps its sim time).
        self.on_save: Callable[[dict[str, Any]], None] | None = None
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / STATE_FILE
        # Re-entrant: handlers call helpers that take the lock again.
        self.lock = threading.RLock()
        if self.path.exists():
            self.data: dict[str, Any] = json.loads(self.path.read_text())
            for key, value in _empty().items():
                self.data.setdefault(key, value)
        else:
            self.data = _empty()
        if not self.data["tokens"]:
            self.data["tokens"].append(new_token())
        self.save()

    def next_id(self, name: str) -> int:
        with self.lock:
            self.data["counters"][name] += 1
            return int(self.data["counters"][name])

    def save(self) -> None:
        with self.lock:
            if self.on_save is not None:
                self.on_save(self.data)
            text = json.dumps(self.data, separators=(",", ":"), sort_keys=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, self.path)


def new_token() -> str:
    return "dapi" + secrets.token_hex(16)
