"""Optional poller of the Spark REST API: live executor gauges and Spark's dropped-event counters.

The event log stays the source of truth; this only adds what the log cannot say
while the application runs. Any failure (UI not up yet, "Spark is starting up"
page, timeouts) is treated as "no data this time".
"""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from agent.events import ExecutorGauges, PlainEvent

log = logging.getLogger("trimtab.agent.rest")
_DROPPED = re.compile(r"LiveListenerBus\.queue\.([^.]+)\.numDroppedEvents$")


class RestPoller:
    def __init__(self, base_url: str, timeout_s: float = 2.0) -> None:
        self.base = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.failures = 0
        # The Spark UI is the driver's own (driver-env.sh's address, or one given): reached directly.
        # urlopen honoured http_proxy/HTTPS_PROXY, which clusters set in spark_env_vars for their
        # egress, and an egress proxy cannot reach the driver's UI, so every poll failed.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _get(self, path: str) -> Any:
        with self._opener.open(self.base + path, timeout=self.timeout_s) as resp:
            return orjson.loads(resp.read())

    def poll(self, now_ms: int, app_id_for: Callable[[str], str | None]) -> tuple[list[PlainEvent], dict[str, int]]:
        """Gauges of every running application the agent follows, and dropped-event counts by queue."""
        events: list[PlainEvent] = []
        dropped: dict[str, int] = {}
        try:
            apps = self._get("/api/v1/applications?status=running")
            for app in apps if isinstance(apps, list) else []:
                spark_id = str(app.get("id", ""))
                application_id = app_id_for(spark_id)
                if not application_id:
                    continue
                for ex in self._get(f"/api/v1/applications/{spark_id}/executors") or []:
                    eid = str(ex.get("id", ""))
                    events.append(PlainEvent(f"gauges/{eid}/{now_ms}", application_id, ExecutorGauges(
                        now_ms, eid, int(ex.get("memoryUsed", 0)), int(ex.get("maxMemory", 0)),
                        int(ex.get("activeTasks", 0)), int(ex.get("totalGCTime", 0)),
                        int(ex.get("diskUsed", 0)))))
            metrics = self._get("/metrics/json")
            for name, body in (metrics.get("counters") or {}).items() if isinstance(metrics, dict) else ():
                m = _DROPPED.search(name)
                if m and isinstance(body, dict):
                    dropped[m.group(1)] = dropped.get(m.group(1), 0) + int(body.get("count", 0))
        except (OSError, urllib.error.URLError, orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
            self.failures += 1
            if self.failures == 1:
                log.info("Spark REST API not usable yet (%s); continuing from the event log alone", exc)
        return events, dropped
