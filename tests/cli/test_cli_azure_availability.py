"""`run show` and `recommendation show` name an Azure configuration's availability as Azure does
(SPOT_WITH_FALLBACK_AZURE, as the applied spec says), not with AWS's names ``ClusterConfig`` stores;
--json keeps ``config.availability`` as it was and adds ``config.availability_name``. A pool-backed
configuration is not shown with a first_on_demand, which does not apply to pool nodes. Over the real
gRPC API."""

from __future__ import annotations

import json

from server.domain import ClusterConfig, Project, Recommendation, Run
from server.store import Store
from tests.cli.conftest import Trimtab

AZURE_SPEC = {"node_type_id": "Standard_DS3_v2", "num_workers": 3, "spark_version": "15.4.x-scala2.12",
              "azure_attributes": {"availability": "SPOT_WITH_FALLBACK_AZURE", "first_on_demand": 1}}
AZURE = ClusterConfig(node_type_id="Standard_DS3_v2", num_workers=3, availability="SPOT_WITH_FALLBACK",
                      first_on_demand=1, spec=AZURE_SPEC)


def _project(store: Store, job_id: int) -> Project:
    return store.projects.add(Project(workspace="prod", job_id=job_id, cluster_key="main", job_name="nightly",
                                      current_spec=AZURE_SPEC, original_spec=AZURE_SPEC))


def test_run_show_names_an_azure_runs_availability_as_azure_does(trimtab: Trimtab, cli_store: Store) -> None:
    project = _project(cli_store, 51)
    run = cli_store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1, start_ms=1_700_000_000_000,
                                 runtime_s=370.0, config=AZURE))
    code, out, _ = trimtab("run", "show", str(run.id))
    assert code == 0 and "Standard_DS3_v2), 3 workers, SPOT_WITH_FALLBACK_AZURE" in out, out
    code, out, _ = trimtab("--json", "run", "show", str(run.id))
    config = json.loads(out)["config"]
    assert (config["availability"], config["availability_name"]) == ("SPOT_WITH_FALLBACK", "SPOT_WITH_FALLBACK_AZURE")
    code, out, _ = trimtab("--json", "run", "list", str(project.id))
    assert code == 0 and json.loads(out)["runs"][0]["config"]["availability_name"] == "SPOT_WITH_FALLBACK_AZURE"


def test_recommendation_show_names_the_azure_availability_and_no_first_on_demand_on_a_pool(
        trimtab: Trimtab, cli_store: Store) -> None:
    project = _project(cli_store, 52)
    pid = int(project.id or 0)
    cli_store.recommendations.add(Recommendation(project_id=pid, config=AZURE))
    code, out, _ = trimtab("recommendation", "show", str(pid))
    assert code == 0 and "Standard_DS3_v2 x 3 workers, SPOT_WITH_FALLBACK_AZURE (first 1 on-demand)" in out, out
    code, out, _ = trimtab("--json", "recommendation", "show", str(pid))
    config = json.loads(out)["config"]
    assert (config["availability"], config["availability_name"]) == ("SPOT_WITH_FALLBACK", "SPOT_WITH_FALLBACK_AZURE")
    # AWS names stay AWS's.
    cli_store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(
        node_type_id="m5.xlarge", num_workers=2, availability="SPOT", first_on_demand=1)))
    code, out, _ = trimtab("recommendation", "show", str(pid))
    assert code == 0 and "m5.xlarge x 2 workers, SPOT (first 1 on-demand)" in out, out
    # On a spot pool every node is the pool's: no first_on_demand is shown.
    pool_spec = {"instance_pool_id": "p1", "num_workers": 3, "azure_attributes": {"availability": "SPOT_AZURE"}}
    cli_store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(
        node_type_id="Standard_DS3_v2", num_workers=3, availability="SPOT", first_on_demand=0, spec=pool_spec)))
    code, out, _ = trimtab("recommendation", "show", str(pid))
    assert code == 0 and "Standard_DS3_v2 x 3 workers, SPOT_AZURE (the instance pool's)" in out, out
    # As the planner stores it: a recommendation keeps no spec, the spot pool's driver on spot.
    cli_store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(
        node_type_id="Standard_DS3_v2", num_workers=3, availability="SPOT", first_on_demand=0)))
    code, out, _ = trimtab("recommendation", "show", str(pid))
    assert code == 0 and "Standard_DS3_v2 x 3 workers, SPOT_AZURE (every node, the driver too)" in out, out
