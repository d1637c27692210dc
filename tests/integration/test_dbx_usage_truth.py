"""The node timeline rebuilt from cluster events (over HTTP) matches the simulator's own nodes.

The sandbox knows every node it simulated (type, spot or not, up from when to
when); Trimtab only sees ``clusters/events``. Both must agree on node-time, spot
node-time and lost nodes, for fixed-size and autoscaling clusters with spot losses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.backend import SandboxSimBackend
from server.clock import SystemClock
from server.collect.usage import cluster_timeline
from server.databricks import DatabricksGateway, GatewayConfig


class LossyRecordingBackend(SandboxSimBackend):
    """The real simulator with frequent spot losses, keeping each cluster's simulation."""

    def __init__(self) -> None:
        self.sims: dict[str, Any] = {}

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, *, seed: int, day: int,
                     cluster_id: str, **kw: Any) -> Any:
        from sandbox.sim.run import simulate_run

        sim = simulate_run(new_cluster, profile, seed=seed, day=day, cluster_id=cluster_id,
                           spot_loss_prob=0.5, **kw)
        self.sims[cluster_id] = sim
        return sim


@pytest.fixture
def lossy(tmp_path: Path) -> Iterator[tuple[RunningWorkspace, LossyRecordingBackend, list[int]]]:
    backend = LossyRecordingBackend()
    running = start_workspace(tmp_path / "lossy", speed=20000, backend=backend)
    try:
        yield running, backend, running.seed_jobs()
    finally:
        running.stop()


def _self_consistent(sim: Any, events: list[dict[str, Any]]) -> bool:
    """Whether every worker count the emulator reported equals its own simulated nodes alive then.

    Trimtab reads ``current_num_workers`` as Databricks documents it (the count now). When spot
    losses overlap a pending replacement the simulator reports counts that include the node still
    on its way, so its events and its nodes disagree; those clusters cannot be compared.
    """
    for event in events:
        current = (event.get("details") or {}).get("current_num_workers")
        if current is None or event["type"] == "RESIZING":
            continue
        t = event["timestamp"]
        if current != sum(1 for n in sim.nodes if not n.is_driver and n.start_ms <= t < n.end_ms):
            return False
    return True


def _node_ms(nodes: Any, *, spot: bool | None = None) -> int:
    return sum(n.end_ms - n.start_ms for n in nodes if not n.is_driver and (spot is None or n.spot == spot))


def test_timeline_from_events_matches_the_simulated_nodes(
        lossy: tuple[RunningWorkspace, LossyRecordingBackend, list[int]]) -> None:
    running, backend, job_ids = lossy
    gateway = DatabricksGateway(GatewayConfig(running.host, running.token), clock=SystemClock())
    fixed, autoscaling = job_ids[0], job_ids[4]
    assert "autoscale" in gateway.get_job(autoscaling)["settings"]["job_clusters"][0]["new_cluster"]
    for _ in range(3):
        for job_id in (fixed, autoscaling):
            gateway.run_now(job_id)
            assert running.wait_idle(60)
    losses = resizes = compared = 0
    for cluster_id, sim in backend.sims.items():
        cluster = gateway.get_cluster(cluster_id)
        events = gateway.cluster_events(cluster_id)
        if not _self_consistent(sim, events):
            continue
        compared += 1
        timeline = cluster_timeline(cluster["spec"], events, fallback_start_ms=0, fallback_end_ms=0)
        truth = [n for n in sim.nodes]
        # An upsize's nodes: both from the RESIZING that asked for them (the simulator's instances
        # launch then), once a count shows them; one the cluster ended before in neither (revC F4/F7).
        assert _node_ms(timeline.nodes) == _node_ms(truth), cluster_id
        assert _node_ms(timeline.nodes, spot=True) == _node_ms(truth, spot=True), cluster_id
        assert timeline.nodes_lost == sum(1 for n in truth if n.lost)
        assert [n.end_ms - n.start_ms for n in timeline.nodes if n.is_driver] == \
            [n.end_ms - n.start_ms for n in truth if n.is_driver]
        losses += timeline.nodes_lost
        resizes += sum(1 for e in events if e["type"] in ("RESIZING", "UPSIZE_COMPLETED"))
    # The cases above really happened: most clusters compared, with spot losses and resizes among them.
    assert len(backend.sims) == 6 and compared >= 4 and losses > 0 and resizes > 0
