"""Durable read positions and application state (``state.json`` in the state directory).

The follower thread saves a checkpoint only right after every event it has
produced is in the spool (``Agent._persist``), so a position never runs ahead of
the data: after ``kill -9`` the agent resumes at the last saved position and
re-reads at most what was read since, which idempotency keys make harmless.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from agent.durable import read_json, write_atomic

log = logging.getLogger("trimtab.agent")


class CheckpointStore:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "state.json"
        self._unsaved: set[str] = set()  # applications already named as not saveable (once each)

    def load(self) -> dict[str, Any]:
        state = read_json(self.path)
        state.setdefault("apps", {})
        state.setdefault("read", {})
        return state

    def save(self, apps: dict[str, Any], read: dict[str, int]) -> None:
        """Write every application's state; one that JSON cannot hold is left out, never all of them.

        A name with bytes that are not UTF-8 once made orjson refuse the whole file, so no
        application's position was saved again and every restart re-read everything.
        """
        try:
            data = orjson.dumps({"version": 1, "apps": apps, "read": read})
        except orjson.JSONEncodeError:
            data = orjson.dumps({"version": 1, "apps": self._saveable(apps), "read": read})
        write_atomic(self.path, data)

    def _saveable(self, apps: dict[str, Any]) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for key, state in apps.items():
            try:
                orjson.dumps({key: state})
            except orjson.JSONEncodeError as exc:
                if key not in self._unsaved:
                    self._unsaved.add(key)
                    shown = key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    log.warning("cannot save the read position of '%s' (%s): it is re-read from its start "
                                "after a restart; the other applications are saved", shown, exc)
                continue
            kept[key] = state
        return kept
