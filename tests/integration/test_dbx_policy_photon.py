"""A cluster policy fixing ``runtime_engine: PHOTON`` on a job whose spec leaves the engine out, over
real HTTP against the emulator: Databricks runs the cluster with Photon (its record says so) and bills
the Jobs Compute Photon SKU, 2.9x the DBUs on AWS. The run was priced as standard (its total 45% low),
and the emulator judged a ``dbus_per_hour`` cap at standard DBUs. SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from sandbox.workspace import RunningWorkspace
from server.costing.run_cost import sku_of
from server.databricks import DatabricksGateway
from server.databricks.errors import DatabricksRejected
from server.domain import Project, Run, Workspace
from server.plan.policy import POLICY_FILLS_KEY
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, admin_post, priced_on, run_and_collect
from tests.integration.test_dbx_policy_fills_collected import run_purged

PHOTON = {"runtime_engine": {"type": "fixed", "value": "PHOTON", "hidden": True}}


def _under_photon(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                  job_id: int) -> Project:
    """The job's cluster put under a policy fixing Photon, its spec naming no engine; imported."""
    policy_id = str(admin_post(emulator, "policies/clusters/create",
                               {"name": "photon-only", "definition": json.dumps(PHOTON)})["policy_id"])
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    spec = {k: v for k, v in seeded.items() if k != "runtime_engine"}
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main",
                                                  "new_cluster": {**spec, "policy_id": policy_id}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _priced(gateway: DatabricksGateway, store: Store, run: Run, engine: str) -> float:
    """The run's own cluster (its record's spec, the user's settings) priced with ``engine``."""
    return priced_on(gateway, store, run, {**gateway.get_cluster(run.cluster_id)["spec"], "runtime_engine": engine})


def test_a_run_under_a_policy_fixing_photon_is_priced_as_photon(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    project = _under_photon(store, secrets, emulator, gateway, job_ids[0])
    _, runs = run_and_collect(store, secrets, emulator, gateway, job_ids[0])
    (run,) = [r for r in runs if r.project_id == project.id]
    record = gateway.get_cluster(run.cluster_id)
    assert record["runtime_engine"] == "PHOTON" and "runtime_engine" not in record["spec"]
    assert run.config is not None and run.config.spec["runtime_engine"] == "PHOTON"
    assert sku_of(run.config.spec) == "jobs_photon"
    assert run.cost is not None
    assert run.cost.total == pytest.approx(_priced(gateway, store, run, "PHOTON"))
    assert run.cost.total > 1.5 * _priced(gateway, store, run, "STANDARD")
    # The policy's engine is no edit of the user's: drift is judged on the spec as written.
    assert "user_edit" not in run.anomalies


def test_a_run_whose_cluster_is_gone_is_priced_as_photon_from_the_fills_its_project_keeps(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    project = _under_photon(store, secrets, emulator, gateway, job_ids[0])
    assert project.state[POLICY_FILLS_KEY]["fixed"] == {"runtime_engine": "PHOTON"}
    run_id = run_purged(emulator, gateway, project.job_id)
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    run = store.runs.get_by_databricks_run(int(project.id or 0), run_id)
    assert run is not None and run.config is not None and run.cost is not None
    assert run.config.spec["runtime_engine"] == "PHOTON" and sku_of(run.config.spec) == "jobs_photon"


def test_the_emulator_judges_a_dbus_cap_at_the_photon_rates_the_policy_fixes(
        emulator: RunningWorkspace, gateway: DatabricksGateway, job_ids: list[int]) -> None:
    job_id = job_ids[0]
    seeded = {k: v for k, v in find_cluster_spec(gateway.get_job(job_id)["settings"], "main").items()
              if k != "runtime_engine"}
    spec = {**seeded, "node_type_id": "m5d.xlarge", "driver_node_type_id": "m5d.xlarge", "num_workers": 4}
    # 5 m5d.xlarge nodes: 3.45 DBU/h on the standard engine, 10.005 on Photon.
    cap = {"dbus_per_hour": {"type": "range", "maxValue": 6}}
    policy_id = str(admin_post(emulator, "policies/clusters/create",
                               {"name": "photon-capped", "definition": json.dumps({**PHOTON, **cap})})["policy_id"])
    with pytest.raises(DatabricksRejected, match=r'Validation failed for dbus_per_hour, the value must be at most 6 '
                                                 r'\(is "10.005"\)'):
        gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main",
                                                      "new_cluster": {**spec, "policy_id": policy_id}}]})
    # One worker: 2.0 DBU/h a node on Photon, 4.0 in all, under the cap.
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main",
                                                  "new_cluster": {**spec, "num_workers": 1, "policy_id": policy_id}}]})
