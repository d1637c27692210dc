"""Instance pools over real HTTP: the emulator serves them and enforces what Databricks refuses beside
one (node_type_id, driver_node_type_id, a driver pool alone), plays a pool-backed cluster on the pool's
node type; the gateway fetches a pool; a pool-backed job is imported, run, collected and planned on
the pool's node type, and auto-apply writes the worker count alone, which the emulator accepts.
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect.cluster_reads import run_usage
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run
from server.databricks import DatabricksGateway
from server.databricks.errors import DatabricksNotFound, DatabricksRejected
from server.domain import Project, Run, Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import summarize, update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, config_label, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, CountingGateway, admin_post, run_and_collect

START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
POOL_TYPE = "m5d.2xlarge"  # not the seeded job's m5d.xlarge: the run shows whose type it got
CAPACITY = 7


def _create_pool(emulator: RunningWorkspace, name: str = "warm-etl", node_type: str = POOL_TYPE,
                 **extra: Any) -> str:
    return str(admin_post(emulator, "instance-pools/create",
                     {"instance_pool_name": name, "node_type_id": node_type, **extra})["instance_pool_id"])


def _on_pool(spec: dict[str, Any], pool_id: str) -> dict[str, Any]:
    """The seeded spec moved onto a pool: the node types go (the pool supplies them)."""
    out = {k: v for k, v in spec.items() if k not in ("node_type_id", "driver_node_type_id")}
    return {**out, "instance_pool_id": pool_id}


# ------------------------------------------------------------------ the emulator and the gateway


def test_the_gateway_fetches_a_pool_and_an_unknown_one_is_not_found(emulator: RunningWorkspace,
                                                                    gateway: DatabricksGateway) -> None:
    pool_id = _create_pool(emulator, max_capacity=CAPACITY, min_idle_instances=1,
                           aws_attributes={"availability": "SPOT"})
    got = gateway.get_instance_pool(pool_id)
    assert (got["instance_pool_id"], got["instance_pool_name"], got["node_type_id"]) == (pool_id, "warm-etl", POOL_TYPE)
    assert (got["max_capacity"], got["min_idle_instances"], got["state"]) == (CAPACITY, 1, "ACTIVE")
    with pytest.raises(DatabricksNotFound, match="Can't find an instance pool with id: nope"):
        gateway.get_instance_pool("nope")
    with pytest.raises(DatabricksRejected, match="instance_pool_id"):
        gateway.get_instance_pool("")
    with pytest.raises(urllib.error.HTTPError) as refused:
        admin_post(emulator, "instance-pools/create", {"instance_pool_name": "typeless"})
    assert refused.value.code == 400


def test_jobs_refuse_a_node_type_beside_a_pool_as_databricks_does(
        emulator: RunningWorkspace, gateway: DatabricksGateway, job_ids: list[int]) -> None:
    pool_id = _create_pool(emulator)
    other = _create_pool(emulator, "drivers", "r5d.xlarge")
    seeded = find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main")
    assert seeded is not None
    pooled = _on_pool(seeded, pool_id)

    def update(spec: dict[str, Any]) -> None:
        gateway.update_job(job_ids[0], {"job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}]})

    with pytest.raises(DatabricksRejected, match="The field 'node_type_id' cannot be supplied when an instance "
                                                 "pool ID is provided"):
        update({**pooled, "node_type_id": "m5d.xlarge"})
    with pytest.raises(DatabricksRejected, match="The field 'driver_node_type_id' cannot be supplied"):
        update({**pooled, "driver_node_type_id": "m5d.xlarge"})
    with pytest.raises(DatabricksRejected, match="'driver_instance_pool_id' cannot be supplied without"):
        update({**seeded, "driver_instance_pool_id": other})
    with pytest.raises(DatabricksRejected, match="Can't find an instance pool with id: gone"):
        update({**pooled, "instance_pool_id": "gone"})
    with pytest.raises(DatabricksRejected, match="node_type_id"):  # create and reset check the same
        gateway.create_job({"name": "x", "tasks": [{"task_key": "t", "job_cluster_key": "main"}],
                            "job_clusters": [{"job_cluster_key": "main",
                                              "new_cluster": {**pooled, "node_type_id": "m5d.xlarge"}}]})
    update({**pooled, "driver_instance_pool_id": other})
    assert find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main") == \
        {**pooled, "driver_instance_pool_id": other}


def test_a_pool_backed_cluster_runs_on_the_pools_types_and_starts_faster(
        emulator: RunningWorkspace, gateway: DatabricksGateway, job_ids: list[int]) -> None:
    pool_id = _create_pool(emulator)
    drivers = _create_pool(emulator, "drivers", "r5d.xlarge")
    seeded = find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main")
    assert seeded is not None
    plain_run = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    gateway.update_job(job_ids[0], {"job_clusters": [{"job_cluster_key": "main", "new_cluster": {
        **_on_pool(seeded, pool_id), "driver_instance_pool_id": drivers}}]})
    pool_run = gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)

    def cluster_of(run_id: int) -> dict[str, Any]:
        run = gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run_id})
        assert run["state"]["result_state"] == "SUCCESS", run["state"]
        return gateway.get_cluster(run["tasks"][0]["cluster_instance"]["cluster_id"]) | {
            "setup": run["setup_duration"]}

    plain, pooled = cluster_of(plain_run), cluster_of(pool_run)
    # Databricks' cluster record names the types the pools supplied, beside the pools.
    assert (pooled["node_type_id"], pooled["driver_node_type_id"]) == (POOL_TYPE, "r5d.xlarge")
    assert (pooled["instance_pool_id"], pooled["driver_instance_pool_id"]) == (pool_id, drivers)
    assert "node_type_id" not in pooled["spec"] and pooled["spec"]["instance_pool_id"] == pool_id  # as sent
    assert plain["node_type_id"] == "m5d.xlarge"
    # A pool's instances are up already: provisioning takes 20-60 s instead of 150-300 s.
    assert pooled["setup"] < plain["setup"] and pooled["setup"] < 150_000


# ------------------------------------------------------------------ import, collect, plan, apply


@dataclasses.dataclass
class _Imported:
    pid: int
    job_id: int
    pool_id: str
    planner: Planner
    fetched: list[str]


def _import_on_a_pool(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                      gateway: DatabricksGateway, job_id: int) -> _Imported:
    pool_id = _create_pool(emulator, max_capacity=CAPACITY)
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert seeded is not None
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": _on_pool(seeded, pool_id)}]})
    result = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    (imported,) = result.projects
    pid = int(imported.project.id or 0)
    update_settings(store, str(pid), {"auto_apply": True, "spot_allowed": True, "max_workers": 12})
    fetched: list[str] = []
    planner = Planner(store, load_catalog(),
                      lambda ws: CountingGateway(  # type: ignore[arg-type,return-value]
                          workspaces.gateway_for(store, secrets, ws), "get_instance_pool", fetched),
                      clock=FakeClock(START_MS))
    return _Imported(pid, job_id, pool_id, planner, fetched)


def _collect_one(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                 job_id: int) -> Run:
    (run,) = run_and_collect(store, secrets, emulator, gateway, job_id)[1]
    return run

def _synthetic(store: Store, project: Project, n: int) -> Run:
    """A later run on the project's live spec (the planner's input; what the collector stores)."""
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1000 + n,
                              start_ms=START_MS + n * 86_400_000, end_ms=START_MS + n * 86_400_000 + 1_500_000,
                              runtime_s=1500.0, outcome="succeeded", config=config_from_spec(project.current_spec)))


def test_a_pool_backed_job_is_planned_on_the_pool_and_auto_apply_writes_the_worker_count_alone(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    it = _import_on_a_pool(store, secrets, emulator, gateway, job_ids[0])
    project = store.projects.get(it.pid)
    assert project.current_spec["instance_pool_id"] == it.pool_id and "node_type_id" not in project.current_spec

    run = _collect_one(store, secrets, emulator, gateway, it.job_id)
    assert run.outcome == "succeeded" and run.config is not None
    assert run.config.spec.get("instance_pool_id") == it.pool_id

    applied = 0
    for n in range(4):
        rec = it.planner.after_run(run if n == 0 else _synthetic(store, store.projects.get(it.pid), n))
        got = store.projects.get(it.pid)
        assert got.problem is None, got.problem
        assert rec is not None
        # The pool's node type and driver; at most the pool's capacity less the driver.
        assert (rec.config.node_type_id, rec.config.driver_node_type_id) == (POOL_TYPE, POOL_TYPE)
        assert 1 <= (rec.config.autoscale_max or rec.config.num_workers) <= CAPACITY - 1
        live = find_cluster_spec(gateway.get_job(it.job_id)["settings"], "main")
        assert live is not None and live["instance_pool_id"] == it.pool_id
        assert "node_type_id" not in live and "driver_node_type_id" not in live
        assert live["aws_attributes"] == project.current_spec["aws_attributes"]  # availability untouched
        if rec.state == "applied":  # accepted by the emulator's enforcement
            applied += 1
            assert live["num_workers"] == rec.config.num_workers
            store.projects.update(dataclasses.replace(got, current_spec=live, pending_apply=None))
    assert applied >= 1
    assert it.fetched == [it.pool_id]  # fetched once: the planner's clock did not move past the TTL


def test_a_pool_backed_run_is_costed_with_the_pools_node_type(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    it = _import_on_a_pool(store, secrets, emulator, gateway, job_ids[0])
    run = _collect_one(store, secrets, emulator, gateway, it.job_id)
    assert gateway.get_cluster(run.cluster_id)["node_type_id"] == POOL_TYPE  # the record has it
    # Costed and recorded on the pool's node type (the run's own spec names only the pool) ...
    assert run.cost is not None and run.cost.total > 0
    assert run.config is not None and run.config.node_type_id == POOL_TYPE
    # ... and a pool-backed spec is not mistaken for a user edit.
    assert "user_edit" not in run.anomalies
    # The project page names the pool's node type (from the run), not an empty one.
    current = summarize(store, store.projects.get(run.project_id)).current_config
    assert current is not None and current.node_type_id == POOL_TYPE


def test_a_run_on_one_spot_pool_has_its_driver_priced_spot(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    """No driver pool: Databricks takes the driver from the worker pool, so on a spot pool the driver
    is a spot instance too, whatever first_on_demand the spec carries (it does not apply to pool nodes)."""
    pool_id = _create_pool(emulator, "spot-etl", aws_attributes={"availability": "SPOT"})
    seeded = find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main")
    assert seeded is not None and seeded["aws_attributes"]["first_on_demand"] == 1
    gateway.update_job(job_ids[0], {"job_clusters": [{"job_cluster_key": "main",
                                                      "new_cluster": _on_pool(seeded, pool_id)}]})
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    run = _collect_one(store, secrets, emulator, gateway, job_ids[0])
    cluster = gateway.get_cluster(run.cluster_id)
    assert cluster["driver"]["node_aws_attributes"]["is_spot"] is True  # the emulator plays it from the pool
    assert run.config is not None and run.config.availability == "SPOT" and run.config.first_on_demand == 0
    assert "first" not in config_label(run.config)
    usage = run_usage(gateway, connected, run)
    assert usage.nodes and all(node.spot for node in usage.nodes)
    # The stored estimate (final: a pool-backed run's bill is never read) is the all-spot one.
    assert run.cost is not None
    assert run.cost.compute_cost == pytest.approx(cost_run(usage, load_catalog()).compute_cost, rel=1e-6)
    # The planner prices the configuration the same way.
    project = store.projects.get(run.project_id)
    live = config_from_spec(project.current_spec, {pool_id: gateway.get_instance_pool(pool_id)}, cloud="aws")
    assert (live.availability, live.first_on_demand) == ("SPOT", 0)
