"""A job on the other cloud than its workspace's (review rev14g F2): imported, every run was stored
unpriced and planning sent the user to refresh prices. Import now leaves the cluster out, naming the
cloud it is on and the command that puts the workspace's cloud right; `workspace add` refuses a host
whose domain names the other cloud. The emulator through the real databricks-sdk, the real store."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION
from server.databricks import DatabricksGateway
from server.errors import InvalidArgument
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING


def _job(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


def _cluster(node: str, attributes: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"spark_version": SPARK_VERSION, "node_type_id": node, "num_workers": 3,
                            "cluster_log_conf": LOG_CONF}
    spec.update(attributes or {})
    return spec


AZURE_SPOT = {"azure_attributes": {"availability": "SPOT_WITH_FALLBACK_AZURE", "first_on_demand": 1}}


def test_an_azure_job_on_a_workspace_added_as_aws_is_left_out_until_the_cloud_is_put_right(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "wrong", emulator.host, emulator.token, "aws")
    job_id = gateway.create_job(_job("az-etl", _cluster("Standard_D8s_v5", AZURE_SPOT)))
    result = workspaces.import_jobs(store, secrets, "wrong", [job_id], wiring=WIRING)
    assert result.projects == ()
    (skipped,) = result.skipped
    assert "cluster 'main' is on Azure (azure_attributes)" in skipped.reason, skipped.reason
    assert "workspace 'wrong' was added with --cloud aws" in skipped.reason
    assert f"`trimtab workspace add wrong --host {emulator.host} --token-env VAR --cloud azure --replace`" \
        in skipped.reason
    # Nothing was written to the job: no Trimtab tag, no init script.
    assert "custom_tags" not in gateway.get_job(job_id)["settings"]["job_clusters"][0]["new_cluster"]

    # The command the note names puts it right (no project yet), and the job imports.
    workspaces.add_workspace(store, secrets, "wrong", emulator.host, emulator.token, "azure", replace=True)
    (imported,) = workspaces.import_jobs(store, secrets, "wrong", [job_id], wiring=WIRING).projects
    assert imported.project.cluster_key == "main"


@pytest.mark.parametrize(("attributes", "evidence"), [
    (None, "node type m5d.xlarge"),
    ({"aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}, "aws_attributes"),
])
def test_an_aws_job_on_an_azure_workspace_is_left_out(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        attributes: dict[str, Any] | None, evidence: str) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "az", emulator.host, emulator.token, "azure")
    job_id = gateway.create_job(_job("aws-etl", _cluster("m5d.xlarge", attributes)))
    result = workspaces.import_jobs(store, secrets, "az", [job_id], wiring=WIRING)
    (skipped,) = result.skipped
    assert f"cluster 'main' is on AWS ({evidence})" in skipped.reason, skipped.reason
    assert "--cloud aws --replace" in skipped.reason


def test_an_azure_job_without_attributes_on_an_azure_workspace_is_imported(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "az", emulator.host, emulator.token, "azure")
    job_id = gateway.create_job(_job("az-plain", _cluster("Standard_D4ds_v5", None)))
    assert len(workspaces.import_jobs(store, secrets, "az", [job_id], wiring=WIRING).projects) == 1


@pytest.mark.parametrize(("host", "cloud", "said"), [
    ("https://adb-1234567890123456.7.azuredatabricks.net", "aws", "an Azure Databricks workspace"),
    ("https://dbc-12345678-9abc.cloud.databricks.com", "azure", "an AWS Databricks workspace"),
])
def test_a_host_whose_domain_names_the_other_cloud_is_refused(store: Store, secrets: SecretBox, host: str,
                                                              cloud: str, said: str) -> None:
    # Refused before any call to the host (none is reachable from here).
    with pytest.raises(InvalidArgument, match=f"{said} .*not {cloud}: give --cloud"):
        workspaces.add_workspace(store, secrets, "prod", host, "dapi" + "0" * 32, cloud)
