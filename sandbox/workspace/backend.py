"""The seam to the simulator (`sandbox.sim`, `sandbox.nodes`), injectable for tests.

The emulator only needs three things from the simulator: validate a cluster spec,
simulate one cluster's run, and write event-log lines in the Databricks layout.
The default backend imports `sandbox.sim` lazily so the HTTP side starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class CloudLaunchFailure(Exception):
    """What a backend's `simulate_run` raises for a cluster the cloud does not give: the cluster is
    created, then terminated during launch with ``code`` (a ``compute.TerminationReasonCode`` such as
    ``AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE``, ``CLOUD_PROVIDER_LAUNCH_FAILURE``) and ``type_``
    (``CLOUD_FAILURE``, or ``SERVICE_FAULT`` for Databricks' own). Tests inject it, as they inject
    spot losses, by wrapping the real simulator's backend."""

    def __init__(self, code: str, message: str, type_: str = "CLOUD_FAILURE") -> None:
        super().__init__(message)
        self.code = code
        self.type_ = type_
        self.message = message


class EventLogWriter(Protocol):
    def append(self, t_ms: int, lines: list[str]) -> None: ...

    def close(self) -> None: ...


class SimBackend(Protocol):
    def validate_cluster_spec(self, new_cluster: dict[str, Any]) -> None:
        """Raise ValueError (the simulator's SpecError) naming the bad field."""

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, *, seed: int, day: int,
                     cluster_id: str, spark_context_id: str, start_time_ms: int, job_id: int,
                     run_id: int, app_name: str) -> Any:
        """A SimulatedRun (see sandbox/sim/run.py); raises CloudLaunchFailure for a launch the
        cloud refuses."""

    def eventlog_writer(self, eventlogs_dir: Path, spark_context_id: str) -> EventLogWriter: ...

    def profiles(self) -> list[str]: ...


class SandboxSimBackend:
    """The real simulator. ``spot_loss_rate``: spot reclaims per spot node-hour (None: the
    simulator's default, `sandbox.sim.spot_market`)."""

    # A class default too: a subclass with an __init__ of its own that does not call this one (tests'
    # backends) still runs at the simulator's default.
    spot_loss_rate: float | None = None

    def __init__(self, spot_loss_rate: float | None = None) -> None:
        self.spot_loss_rate = spot_loss_rate

    def validate_cluster_spec(self, new_cluster: dict[str, Any]) -> None:
        from sandbox.sim.cluster import validate_cluster_spec

        validate_cluster_spec(new_cluster)

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, *, seed: int, day: int,
                     cluster_id: str, spark_context_id: str, start_time_ms: int, job_id: int,
                     run_id: int, app_name: str) -> Any:
        from sandbox.sim.run import simulate_run

        return simulate_run(new_cluster, profile, seed=seed, day=day, cluster_id=cluster_id,
                            spark_context_id=spark_context_id, start_time_ms=start_time_ms,
                            job_id=job_id, run_id=run_id, app_name=app_name, spot_loss_rate=self.spot_loss_rate)

    def eventlog_writer(self, eventlogs_dir: Path, spark_context_id: str) -> EventLogWriter:
        from sandbox.sim.eventlog_writer import DatabricksEventLogWriter

        # Databricks rolls the driver's event log about hourly of cluster time.
        return DatabricksEventLogWriter(eventlogs_dir, spark_context_id,
                                        rotate_every_ms=3_600_000, gzip_rotated=True)

    def profiles(self) -> list[str]:
        from sandbox.sim.profiles import PROFILES

        return sorted(PROFILES)
