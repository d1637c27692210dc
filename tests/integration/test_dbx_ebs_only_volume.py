"""A job moved to a node type with no instance store is written with one EBS volume, never
``ebs_volume_count`` 0 (review flavours, defect 2), through the workspace emulator (which refuses
count 0 on such a type, as Databricks does), the collector, the planner and apply, on SQLite and
PostgreSQL.

An m5d.xlarge job with ``ebs_volume_count`` 0 (its local NVMe is its disk) whose allowed families
let it move to m5: the planner recommended m5.xlarge with the live count 0 kept at every plan."""

from __future__ import annotations

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.plan.candidates import REQUIRED_VOLUME_GB
from server.plan.planner import plan_project
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import import_etl_job, run_and_collect


def test_a_move_to_an_ebs_only_type_writes_one_volume_the_workspace_accepts(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4,
            "aws_attributes": {"availability": "ON_DEMAND", "ebs_volume_count": 0}}
    project = import_etl_job(store, secrets, gateway, spec)
    pid = int(project.id or 0)
    # Only m5 (no instance store) is allowed now: the plan must leave m5d for it.
    update_settings(store, project.name, {"allowed_families": ("m5",)})
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    rec = plan_project(store, pid, load_catalog())
    assert rec is not None and rec.config.node_type_id.startswith("m5.")
    assert (rec.config.ebs_volume_type, rec.config.ebs_volume_count, rec.config.ebs_volume_size_gb) == \
        ("GENERAL_PURPOSE_SSD", 1, REQUIRED_VOLUME_GB)
    # Was: jobs/update refused (INVALID_PARAMETER_VALUE on aws_attributes.ebs_volume_count 0).
    assert apply_recommendation(store, gateway, pid).applied
    written = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    attrs = written["aws_attributes"]
    assert written["node_type_id"].startswith("m5.")
    assert (attrs["ebs_volume_count"], attrs["ebs_volume_type"], attrs["ebs_volume_size"]) == \
        (1, "GENERAL_PURPOSE_SSD", REQUIRED_VOLUME_GB)
    _, runs = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert [r.outcome for r in runs] == ["succeeded"]
    # The run on it is priced with its volume, as the candidate was.
    assert runs[0].config is not None and runs[0].config.ebs_volume_count == 1
