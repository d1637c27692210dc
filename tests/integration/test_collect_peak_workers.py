"""The collector keeps the most workers a run's cluster had up at once (`Run.peak_workers`), from the
cluster's events on the workspace emulator over real HTTP (SQLite and PostgreSQL): an autoscaling
cluster's peak above its min, and a fixed cluster's size though it lost spot nodes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.backend import SandboxSimBackend
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING, etl_job, run_and_collect


class LosesSpot(SandboxSimBackend):
    """The real simulator, every run losing spot nodes."""

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, **kw: Any) -> Any:
        from sandbox.sim.run import simulate_run

        return simulate_run(new_cluster, profile, **{**kw, "spot_loss_prob": 1.0})


@pytest.fixture
def lossy(tmp_path: Path) -> Iterator[RunningWorkspace]:
    with start_workspace(tmp_path / "lossy", speed=20000, backend=LosesSpot()) as running:
        yield running


def _counts(events: Sequence[Mapping[str, Any]]) -> list[int]:
    """Every worker count the events state outright, read apart from the collector's timeline."""
    return [int(e["details"]["current_num_workers"]) for e in events
            if (e.get("details") or {}).get("current_num_workers") is not None]


def _collected(store: Store, secrets: SecretBox, emulator: RunningWorkspace, spec: dict[str, Any]) \
        -> tuple[int | None, list[dict[str, Any]]]:
    gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    job_id = gateway.create_job(etl_job(spec))
    # The no-op init script put above: what is checked is the cluster's events, not the agent, which
    # otherwise installs into a venv on every node of the up-to-12 (seconds of wall time each run).
    workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    _, (run,) = run_and_collect(store, secrets, emulator, gateway, job_id)
    stored = store.runs.get(int(run.id or 0))
    return stored.peak_workers, list(gateway.cluster_events(run.cluster_id))


def test_an_autoscaling_run_keeps_its_peak(store: Store, secrets: SecretBox, emulator: RunningWorkspace) -> None:
    peak, events = _collected(store, secrets, emulator, aws_cluster("m5d.xlarge", autoscale=(2, 12),
                                                                    availability="ON_DEMAND"))
    counts = _counts(events)
    assert counts and max(counts) > 2, events  # the emulator's cluster grew past its min
    assert peak == max(counts)


def test_a_fixed_cluster_that_lost_nodes_keeps_its_size(store: Store, secrets: SecretBox,
                                                        lossy: RunningWorkspace) -> None:
    peak, events = _collected(store, secrets, lossy, aws_cluster("m5d.xlarge", 6))
    assert any(e.get("type") == "NODES_LOST" for e in events), events
    assert min(_counts(events)) < 6
    assert peak == 6
