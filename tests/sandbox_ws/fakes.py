"""Test doubles for the workspace emulator's tests: a stepping clock and a small simulator.

The fake simulator keeps the agreed SimulatedRun shape but a fixed, hand-checkable timeline,
so the tests can say exactly when each state must be visible. Validation and profiles come
from the real simulator (`sandbox.sim`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.workspace.backend import SandboxSimBackend

# Fake timeline, in simulated seconds after the run starts.
INIT_AT, INIT_DONE_AT, RUNNING_AT = 60, 70, 90
WORK_S = 600  # on day 1; each day adds 10 %
CLEANUP_S = 15


class StepClock:
    """Time moves only when the test calls advance(); waiters block until their deadline."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._blocked: list[float] = []

    def time(self) -> float:
        with self._cond:
            return self._now

    def wait(self, event: threading.Event, timeout: float) -> bool:
        with self._cond:
            deadline = self._now + timeout
            self._blocked.append(deadline)
            self._cond.notify_all()
            try:
                while self._now < deadline and not event.is_set():
                    # Short real timeouts so a set() of the event is noticed without advance().
                    self._cond.wait(0.01)
            finally:
                self._blocked.remove(deadline)
                self._cond.notify_all()
            return event.is_set()

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds
            self._cond.notify_all()

    def settle(self, waiters: int = 1, timeout: float = 10.0) -> None:
        """Return once `waiters` threads are blocked on a deadline still in the future."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for d in self._blocked if d > self._now) >= waiters, timeout)
        assert ok, "the player never went back to waiting"


@dataclass
class FakeNode:
    instance_id: str
    node_type_id: str
    is_driver: bool
    spot: bool
    private_ip: str
    start_ms: int
    end_ms: int
    lost: bool = False
    ebs_volumes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeEvent:
    timestamp_ms: int
    type: str
    details: dict[str, Any]


@dataclass
class FakeRun:
    start_time_ms: int
    running_ms: int
    end_time_ms: int
    result_state: str
    state_message: str
    driver_ip: str
    spark_context_id: str
    spark_app_id: str
    nodes: list[FakeNode]
    cluster_events: list[FakeEvent]
    eventlog: list[tuple[int, str]]
    summary: dict[str, Any]


def _workers(spec: dict[str, Any]) -> tuple[int, int]:
    if "autoscale" in spec:
        return spec["autoscale"]["min_workers"], spec["autoscale"]["max_workers"]
    return spec.get("num_workers", 0), spec.get("num_workers", 0)


def fake_simulate(spec: dict[str, Any], profile: str, *, seed: int, day: int, cluster_id: str,
                  spark_context_id: str, start_time_ms: int, job_id: int, run_id: int,
                  app_name: str) -> FakeRun:
    s = start_time_ms
    running = s + RUNNING_AT * 1000
    end_work = running + int(WORK_S * 1000 * (1 + 0.1 * (day - 1)))
    end = end_work + CLEANUP_S * 1000
    lo, hi = _workers(spec)
    octet = seed % 200 + 1
    driver_ip = f"10.{octet}.0.1"
    nodes = [FakeNode(f"i-{cluster_id[-8:]}d", spec.get("driver_node_type_id")
                      or spec["node_type_id"], True, False, driver_ip, s + 30_000, end)]
    for w in range(hi):
        late = w >= lo  # autoscaled-up workers join after the resize
        nodes.append(FakeNode(f"i-{cluster_id[-8:]}w{w}", spec["node_type_id"], False, True,
                              f"10.{octet}.1.{w + 1}", running + (120_000 if late else -30_000),
                              end))
    events = [FakeEvent(s, "CREATING", {"user": "sandbox"}),
              FakeEvent(s + INIT_AT * 1000, "INIT_SCRIPTS_STARTED", {}),
              FakeEvent(s + INIT_DONE_AT * 1000, "INIT_SCRIPTS_FINISHED", {}),
              FakeEvent(running, "RUNNING", {"current_num_workers": lo})]
    if hi > lo:
        events += [FakeEvent(running + 100_000, "RESIZING", {"target_num_workers": hi,
                                                            "cause": "AUTOSCALE"}),
                   FakeEvent(running + 120_000, "UPSIZE_COMPLETED", {"current_num_workers": hi})]
    events.append(FakeEvent(end_work, "TERMINATING", {"reason": {"code": "JOB_FINISHED"}}))
    app = f"app-{run_id:04d}"
    lines = [
        (running, json.dumps({"Event": "DBCEventLoggingListenerMetadata", "Rollover Number": 0,
                              "SparkContext Id": int(spark_context_id)})),
        (running + 1000, json.dumps({"Event": "SparkListenerApplicationStart",
                                     "App Name": app_name, "App ID": app,
                                     "Timestamp": running + 1000})),
        (running + 300_000, json.dumps({"Event": "SparkListenerJobStart", "Job ID": 0,
                                        "Submission Time": running + 300_000})),
        (end_work - 1000, json.dumps({"Event": "SparkListenerApplicationEnd",
                                      "Timestamp": end_work - 1000})),
    ]
    ok = profile != "always_fails"
    return FakeRun(s, running, end, "SUCCESS" if ok else "FAILED", "" if ok else "Task failed",
                   driver_ip, spark_context_id, app, nodes, events, lines,
                   {"profile": profile, "day": day, "seed": seed})


class FakeWriter:
    def __init__(self, eventlogs_dir: Path, spark_context_id: str) -> None:
        self.dir = eventlogs_dir / spark_context_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.closed = False

    def append(self, t_ms: int, lines: list[str]) -> None:
        assert not self.closed, "append after close"
        with (self.dir / "eventlog").open("a") as fh:
            fh.write("".join(line + "\n" for line in lines))

    def close(self) -> None:
        self.closed = True


class FakeSimBackend(SandboxSimBackend):
    """Real validation and profiles, fake timeline and event-log writer."""

    def __init__(self) -> None:
        self.simulated: list[dict[str, Any]] = []

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, **kw: Any) -> Any:
        self.simulated.append({"spec": new_cluster, "profile": profile, **kw})
        return fake_simulate(new_cluster, profile, **kw)

    def eventlog_writer(self, eventlogs_dir: Path, spark_context_id: str) -> Any:
        return FakeWriter(eventlogs_dir, spark_context_id)

    def profiles(self) -> list[str]:
        return super().profiles() + ["always_fails"]
