"""Apply against the emulator, as reviewed against the real Jobs API: the cloud is the workspace's,
EBS advice is written as priced, and the read-back judges only what Trimtab wrote."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION, aws_cluster
from server.apply import apply_recommendation, revert
from server.dashboard.views import project_page
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.errors import FailedPrecondition
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING


def _job(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


def _import(store: Store, secrets: SecretBox, gateway: DatabricksGateway, workspace: str,
            spec: dict[str, Any]) -> Project:
    job_id = gateway.create_job(_job(f"{workspace}-etl", spec))
    (imported,) = workspaces.import_jobs(store, secrets, workspace, [job_id], wiring=WIRING).projects
    return imported.project


def _recommend(store: Store, project: Project, config: ClusterConfig) -> Recommendation:
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


@pytest.fixture
def azure(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> str:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "az", emulator.host, emulator.token, "azure")
    return "az"


@pytest.fixture
def aws(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway) -> str:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    return "sbx"


def test_an_azure_spec_without_azure_attributes_gets_azure_attributes(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, azure: str) -> None:
    # A spec on Azure with no attributes block at all: Databricks' defaults apply.
    spec = {"spark_version": SPARK_VERSION, "node_type_id": "Standard_D4ds_v5", "num_workers": 3,
            "cluster_log_conf": LOG_CONF}
    project = _import(store, secrets, gateway, azure, spec)
    # Databricks runs it on demand, so import left spot off: its owner allows it.
    project = store.projects.update_settings(int(project.id or 0), dataclasses.replace(project.settings,
                                                                                       spot_allowed=True))
    rec = _recommend(store, project, ClusterConfig(node_type_id="Standard_D8ds_v5", num_workers=2,
                                                   availability="SPOT_WITH_FALLBACK", first_on_demand=1))
    # The dashboard shows what apply will write.
    page = project_page(store, int(project.id or 0))
    assert '"azure_attributes"' in page.diff and "aws_attributes" not in page.diff
    result = apply_recommendation(store, gateway, int(project.id or 0))
    assert result.applied
    live = _live(gateway, project)
    assert "aws_attributes" not in live
    assert live["azure_attributes"] == {"availability": "SPOT_WITH_FALLBACK_AZURE", "first_on_demand": 1}
    assert (live["node_type_id"], live["num_workers"]) == ("Standard_D8ds_v5", 2)
    assert rec.id is not None and store.recommendations.get(rec.id).state == "applied"


def test_gp3_advice_is_written_with_its_iops_and_throughput(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, aws: str) -> None:
    spec = aws_cluster("m5.xlarge", 2)
    spec["aws_attributes"].update(ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1, ebs_volume_size=100)
    project = _import(store, secrets, gateway, aws, spec)
    advised = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1, "ebs_volume_size": 200,
               "ebs_volume_iops": 3000, "ebs_volume_throughput": 125}
    # As `server.plan.storage.advise` leaves the advice on the recommended configuration.
    _recommend(store, project, ClusterConfig(
        node_type_id="m5.xlarge", num_workers=2, ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1,
        ebs_volume_size_gb=200, spec={"aws_attributes": advised}))
    apply_recommendation(store, gateway, int(project.id or 0))
    attrs = _live(gateway, project)["aws_attributes"]
    # Unset IOPS/throughput would give gp2-equivalent volumes, not the gp3 the advice priced.
    assert {k: attrs.get(k) for k in advised} == advised


def test_advice_to_drop_ebs_writes_count_zero(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, aws: str) -> None:
    spec = aws_cluster("m5d.xlarge", 2)  # local NVMe: EBS volumes are optional
    spec["aws_attributes"].update(ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=2, ebs_volume_size=500)
    project = _import(store, secrets, gateway, aws, spec)
    _recommend(store, project, ClusterConfig(node_type_id="m5d.xlarge", num_workers=2,
                                             spec={"aws_attributes": {"ebs_volume_count": 0}}))
    apply_recommendation(store, gateway, int(project.id or 0))
    assert _live(gateway, project)["aws_attributes"]["ebs_volume_count"] == 0


def test_a_count_without_a_size_never_writes_size_zero(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, aws: str) -> None:
    spec = aws_cluster("m5.xlarge", 2)
    spec["aws_attributes"].update(ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1)  # no size
    project = _import(store, secrets, gateway, aws, spec)
    current = store.projects.get(int(project.id or 0)).current_spec
    from server.spec import config_from_spec

    config = config_from_spec(current)
    assert config.ebs_volume_size_gb == 0  # read as unknown
    _recommend(store, project, ClusterConfig(**{**config.__dict__, "num_workers": 3, "spec": {}}))
    apply_recommendation(store, gateway, int(project.id or 0))
    attrs = _live(gateway, project)["aws_attributes"]
    assert "ebs_volume_size" not in attrs and attrs["ebs_volume_count"] == 1


class NormalisingGateway:
    """The real gateway, with jobs/get answering as a service that fills in and normalises fields
    on its side once a spec is written: what real Databricks may do and the emulator does not
    (``extra`` is merged under every job cluster's spec read back, ``override`` over it)."""

    def __init__(self, inner: DatabricksGateway, extra: dict[str, Any], override: dict[str, Any]) -> None:
        self._inner = inner
        self.extra = extra
        self.override = override
        self.written = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def update_job(self, job_id: int, new_settings: dict[str, Any]) -> None:
        self._inner.update_job(job_id, new_settings)
        self.written = True

    def get_job(self, job_id: int) -> dict[str, Any]:
        from server.spec import deep_merge

        job = self._inner.get_job(job_id)
        if self.written:
            for entry in (job.get("settings") or {}).get("job_clusters") or []:
                entry["new_cluster"] = deep_merge(deep_merge(self.extra, entry["new_cluster"]), self.override)
        return job


def test_a_field_the_service_fills_in_does_not_fail_the_apply(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, aws: str) -> None:
    project = _import(store, secrets, gateway, aws, aws_cluster("m5d.xlarge", 4))
    _recommend(store, project, ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2))
    # Once written, the service reports defaults Trimtab never wrote.
    normalising = NormalisingGateway(gateway, {"runtime_engine": "STANDARD", "enable_local_disk_encryption": False,
                                               "aws_attributes": {"ebs_volume_count": 0}}, {})
    result = apply_recommendation(store, normalising, int(project.id or 0))  # type: ignore[arg-type]
    assert result.applied
    live = _live(gateway, project)
    assert (live["node_type_id"], live["num_workers"]) == ("m5d.2xlarge", 2)
    # The spec kept is the one the job holds, so the next check does not take the defaults for a user edit.
    stored = store.projects.get(int(project.id or 0))
    assert stored.current_spec["runtime_engine"] == "STANDARD"
    assert stored.pending_apply is not None and stored.pending_apply["applied_spec"] == stored.current_spec
    revert(store, normalising, int(project.id or 0))  # type: ignore[arg-type]
    assert _live(gateway, project)["node_type_id"] == "m5d.xlarge"


def test_a_written_field_read_back_different_fails_and_names_it(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, aws: str) -> None:
    project = _import(store, secrets, gateway, aws, aws_cluster("m5d.xlarge", 4))
    _recommend(store, project, ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2))
    normalising = NormalisingGateway(gateway, {"runtime_engine": "STANDARD"}, {"num_workers": 5})
    with pytest.raises(FailedPrecondition, match=r"\(num_workers differ\)") as err:
        apply_recommendation(store, normalising, int(project.id or 0))  # type: ignore[arg-type]
    assert "runtime_engine" not in str(err.value)
    live = _live(gateway, project)
    assert (live["node_type_id"], live["num_workers"]) == ("m5d.xlarge", 4)  # restored
