"""A run whose cluster the cloud would not launch, over real HTTP (emulator + collector + planner,
SQLite and PostgreSQL): the emulator creates the cluster and terminates it during launch with the
cloud's code (AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE, CLOUD_FAILURE), its task fails with the
Jobs service's CLOUD_FAILURE; the collector stores a failed run labelled "launch_failed", with
Databricks' message, and the planner does not hold it against the configuration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import server.plan.planner as planner_module
from models.changes import screen
from models.decide import Decision, Settings, decide
from models.observation import Observation
from models.space import Candidate
from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.backend import CloudLaunchFailure, SandboxSimBackend
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Run, Workspace
from server.plan.candidates import config_id_of
from server.plan.planner import Planner
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, run_and_collect

START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
CAPACITY = "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"


class RefusingLaunchBackend(SandboxSimBackend):
    """The real simulator, except that the next launches listed in ``refuse`` fail for the cloud."""

    def __init__(self) -> None:
        self.refuse: list[CloudLaunchFailure] = []

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, **kw: Any) -> Any:
        if self.refuse:
            raise self.refuse.pop(0)
        return super().simulate_run(new_cluster, profile, **kw)


@pytest.fixture
def backend() -> RefusingLaunchBackend:
    return RefusingLaunchBackend()


@pytest.fixture
def emulator(tmp_path: Path, backend: RefusingLaunchBackend) -> Iterator[RunningWorkspace]:
    # This module's emulator: the conftest's, on a backend that can refuse a launch.
    running = start_workspace(tmp_path / "workspace", speed=20000, backend=backend)
    try:
        yield running
    finally:
        running.stop()


def _run_and_collect(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                     job_id: int) -> tuple[dict[str, Any], list[Run]]:
    run_id, runs = run_and_collect(store, secrets, emulator, gateway, job_id)
    return dict(gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run_id})), runs

def test_a_cloud_launch_failure_is_stored_failed_labelled_launch_failed_and_not_held_against_the_configuration(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], backend: RefusingLaunchBackend,
        monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = job_ids[0]
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    seen: list[tuple[list[Candidate], list[Observation], Decision]] = []

    def recording(candidates: Sequence[Candidate], history: Sequence[Observation], settings: Settings,
                  *args: Any, **kwargs: Any) -> Decision:
        decision = decide(candidates, history, settings, *args, **kwargs)
        seen.append((list(candidates), list(history), decision))
        return decision

    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws),
                      clock=FakeClock(START_MS))
    with monkeypatch.context() as patch:
        patch.setattr(planner_module, "decide", recording)

        state, (first,) = _run_and_collect(store, secrets, emulator, gateway, job_id)
        assert state["state"]["result_state"] == "SUCCESS" and first.outcome == "succeeded"
        assert first.config is not None
        config = config_id_of(first.config)
        planner.after_run(first)

        # The cloud has no capacity for the next launch: the cluster is created, then terminated.
        backend.refuse.append(CloudLaunchFailure(CAPACITY, "We currently do not have sufficient m5d.xlarge "
                                                           "capacity in the Availability Zone you requested."))
        state, (failed,) = _run_and_collect(store, secrets, emulator, gateway, job_id)
        assert (state["state"]["life_cycle_state"], state["state"]["result_state"]) == ("INTERNAL_ERROR", "FAILED")
        details = state["status"]["termination_details"]
        assert (details["code"], details["type"]) == ("CLOUD_FAILURE", "CLOUD_FAILURE")
        (task,) = state["tasks"]
        assert task["status"]["termination_details"]["code"] == "CLOUD_FAILURE"
        cluster_id = task["cluster_instance"]["cluster_id"]  # created: it has an id, unlike a refused one
        cluster = gateway.get_cluster(cluster_id)
        assert cluster["state"] == "TERMINATED"
        assert (cluster["termination_reason"]["code"], cluster["termination_reason"]["type"]) == \
            (CAPACITY, "CLOUD_FAILURE")
        assert [e["type"] for e in gateway.cluster_events(cluster_id)] == ["CREATING", "TERMINATING"]

        # Stored as the failed run it is, with Databricks' message, labelled as the cloud's doing.
        assert failed.outcome == "failed" and failed.cluster_id == cluster_id
        assert failed.anomalies == ("failure", "launch_failed", "no_capacity")
        assert failed.message == state["state"]["state_message"] and CAPACITY in failed.message
        assert failed.config is not None and config_id_of(failed.config) == config
        assert failed.cost is not None and failed.cost.total == pytest.approx(0.0, abs=0.01)
        assert store.runs.get_by_databricks_run(pid, failed.databricks_run_id) is not None

        # The plan after it explains the run and does not avoid its configuration.
        planner.after_run(failed)
        candidates, history, decision = seen[-1]
        assert [(o.config_id, o.ok) for o in history] == [(config, True), (config, False)]
        assert "launch_failed" in history[-1].anomalies
        assert "not the configuration's fault" in decision.explained[f"1:{config}"]
        known = {c.config_id: c for c in candidates}
        assert config in known
        assert config not in screen(history, known, 0.1, 1.0).failed_configs
        assert store.projects.get(pid).problem is None

        # The next launch goes through on the same configuration (auto-apply is off) and is learned.
        state, (after,) = _run_and_collect(store, secrets, emulator, gateway, job_id)
        assert state["state"]["result_state"] == "SUCCESS"
        assert after.outcome == "succeeded" and after.anomalies == () and after.config is not None
        assert config_id_of(after.config) == config
