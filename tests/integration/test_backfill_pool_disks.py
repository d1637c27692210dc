"""A backfilled pool-backed run costs what the collector makes of the same run (review revT).

The collector prices a pool's ``disk_spec`` (instance-pools/get, 25fa404); a backfill read the same
cluster through the same `run_timeline` without the pool, so its runs, the savings baseline of a
pool-backed job, had the default root volumes only ($1.37 a run cheaper in the review's example) and
the job read as costing more under Trimtab with nothing changed."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION
from server.backfill.service import _clusters
from server.backfill.usage import Pricing, run_cost, usage_of
from server.collect.run_parse import ClusterRun
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import admin_post, import_etl_job, run_and_collect

DISKS = {"disk_type": {"ebs_volume_type": "GENERAL_PURPOSE_SSD"}, "disk_count": 2, "disk_size": 500}


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store  # the engine plays no part in a run's price


def test_a_backfill_prices_the_pools_disks_as_the_collector_does(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str) -> None:
    pool_id = str(admin_post(emulator, "instance-pools/create", {
        "instance_pool_name": "warm", "node_type_id": "m5d.xlarge", "disk_spec": DISKS,
        "aws_attributes": {"availability": "ON_DEMAND"}})["instance_pool_id"])
    spec = {"spark_version": SPARK_VERSION, "instance_pool_id": pool_id, "num_workers": 3,
            "cluster_log_conf": LOG_CONF}
    project = import_etl_job(store, secrets, gateway, spec)
    _, (collected,) = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    assert collected.cost is not None

    said: list[str] = []
    lookup = _clusters(gateway, said.append)
    record = lookup(collected.cluster_id)
    assert record is not None and not said
    piece = ClusterRun(run_id=collected.databricks_run_id, job_id=project.job_id, cluster_key="main",
                       cluster_id=collected.cluster_id, spark_context_id="",
                       spec=dict(gateway.get_cluster(collected.cluster_id)["spec"]), task_keys=(),
                       start_ms=collected.start_ms, end_ms=collected.end_ms, outcome="succeeded", state_message="")
    backfilled = run_cost(Pricing(load_catalog(), "aws", "us-east-1", "premium"), piece, None,
                          usage_of(piece, record, (), cloud="aws"))
    assert backfilled is not None
    # Was the default 30 + 150 GB root volumes only: the pool's 2 x 500 GB on each of the 4 nodes left out.
    assert backfilled.storage_cost == pytest.approx(collected.cost.storage_cost, rel=1e-3)
    assert backfilled.total == pytest.approx(collected.cost.total, rel=1e-3)
    assert lookup(collected.cluster_id) is not None  # the pool is read once, not per run
