"""A job its owner moves to Graviton stays on Graviton, workers and driver (review flavours, defect 1),
through the workspace emulator, the collector, the planner and apply, on SQLite and PostgreSQL.

Imported on m5d.xlarge (x86), edited by its owner to m7gd.xlarge with an arm64 ``docker_image``: every
later plan recommended c5d.xlarge workers under the m7gd.xlarge driver (the imported family's siblings
under the live driver), x86 workers that cannot run the arm64 image."""

from __future__ import annotations

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.hardware import ARM64, kind_from_name
from server.plan.planner import plan_project
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import import_etl_job, run_and_collect


def test_a_job_moved_to_graviton_is_recommended_graviton_workers_and_driver(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4}
    project = import_etl_job(store, secrets, gateway, spec)
    pid = int(project.id or 0)
    for _ in range(2):
        run_and_collect(store, secrets, emulator, gateway, project.job_id)
    live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    edited = {**live, "node_type_id": "m7gd.xlarge", "driver_node_type_id": "m7gd.xlarge",
              "docker_image": {"url": "acme/etl:arm64"}}
    gateway.update_job(project.job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": edited}]})
    for _ in range(3):
        run_and_collect(store, secrets, emulator, gateway, project.job_id)
        rec = plan_project(store, pid, load_catalog())
        assert rec is not None
        workers, driver = rec.config.node_type_id, rec.config.driver_node_type_id or rec.config.node_type_id
        # Was: c5d.xlarge workers under the m7gd.xlarge driver at every plan.
        assert kind_from_name(workers).arch == kind_from_name(driver).arch == ARM64, (workers, driver)
    applied = apply_recommendation(store, gateway, pid)
    assert applied.applied
    written = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    assert kind_from_name(written["node_type_id"]).arch == ARM64
    assert kind_from_name(written.get("driver_node_type_id") or written["node_type_id"]).arch == ARM64
    assert written["docker_image"] == {"url": "acme/etl:arm64"}  # the owner's image is kept
    _, runs = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert [r.outcome for r in runs] == ["succeeded"]
