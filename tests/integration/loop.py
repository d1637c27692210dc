"""One imported job on the workspace emulator, collected and planned as the server does, run by run:
the loop the apply, revert and user-edit integration tests drive."""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Recommendation, Run
from server.onboard import AgentWiring
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING


class _Loop:
    """One imported job on the emulator (SLA 15 minutes), collected and planned as the server does,
    run by run."""

    def __init__(self, store: Store, secrets: SecretBox, job_id: int, emulator: RunningWorkspace,
                 gateway: DatabricksGateway, *, auto_apply: bool, wiring: AgentWiring = WIRING) -> None:
        # No spot reclaims: these tests drive applies and need the first plan to move the cluster, and a
        # first run that lost spot nodes yet met the SLA keeps it as it is, spot being the cheaper in
        # expectation (`models.choose._lost_yet_met`).
        emulator.workspace.backend.spot_loss_rate = 0.0  # type: ignore[attr-defined]
        (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=wiring).projects
        self.project = imported.project
        self.pid = int(self.project.id or 0)
        catalog = load_catalog()
        self._collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws),
                                    clock=SystemClock(), catalog=catalog)
        update_settings(store, str(self.pid), {"auto_apply": auto_apply, "sla_seconds": 900})
        self._planner = Planner(store, catalog, lambda ws: workspaces.gateway_for(store, secrets, ws))
        self._store, self._emulator, self._gateway = store, emulator, gateway

    def live(self) -> dict[str, Any]:
        settings = self._gateway.get_job(self.project.job_id)["settings"]
        return find_cluster_spec(settings, self.project.cluster_key) or {}

    def edit(self, spec: dict[str, Any]) -> None:
        """The job cluster set to ``spec`` through jobs/update, as a person in Databricks would."""
        settings = self._gateway.get_job(self.project.job_id)["settings"]
        self._gateway.update_job(self.project.job_id, cluster_entry_update(settings, self.project.cluster_key, spec))

    def applied_id(self) -> int | None:
        """The recommendation the job was last written with and no run has used yet."""
        record = self._store.projects.get(self.pid).pending_apply or {}
        return record.get("recommendation_id")

    def cycle(self) -> tuple[Run, Recommendation | None]:
        self._gateway.run_now(self.project.job_id)
        assert self._emulator.wait_idle(120)
        (run,) = self._collector.poll_once()
        return run, self._planner.after_run(run)
