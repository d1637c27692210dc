"""Durable read positions and application state (``state.json`` in the state directory).

The follower thread saves a checkpoint only right after every event it has
produced is in the spool (``Agent._persist``), so a position never runs ahead of
the data: after ``kill -9`` the agent resumes at the last saved position and
re-reads at most what was read since, which idempotency keys make harmless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from agent.durable import read_json, write_atomic


class CheckpointStore:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "state.json"

    def load(self) -> dict[str, Any]:
        state = read_json(self.path)
        state.setdefault("apps", {})
        state.setdefault("read", {})
        return state

    def save(self, apps: dict[str, Any], read: dict[str, int]) -> None:
        write_atomic(self.path, orjson.dumps({"version": 1, "apps": apps, "read": read}))
