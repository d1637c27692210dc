"""`trimtab project set`'s note on the pending recommendation says "the cluster is unchanged" by the
server's one rule (`already_on_job`, `server.already_runs`), as `project show` and `recommendation
apply` do; over real gRPC against a real server.

Before, the note compared the two configurations as the planner's candidates do (no gp3 IOPS or
throughput, spot with or without fallback alike): "the cluster is unchanged (nothing to apply)"
beside a `project show` that offered the same recommendation to apply, and an apply that wrote it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.domain import ClusterConfig, Project, Recommendation, Workspace
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import Trimtab

GP3 = {"ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1, "ebs_volume_size": 200}
SPEC: dict[str, Any] = {
    "node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
    "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1, **GP3,
                       "ebs_volume_iops": 6000, "ebs_volume_throughput": 500}}
UNCHANGED = "note: the cluster is unchanged"


@pytest.fixture
def project(cli_store: Store, cli_server: RunningServer) -> Project:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


def _pending(store: Store, project: Project, *, availability: str = "SPOT_WITH_FALLBACK",
             iops: int = 6000, throughput: int = 500) -> Recommendation:
    return store.recommendations.add(Recommendation(
        project_id=int(project.id or 0), reason="planned before", predicted_cost=0.5, predicted_runtime_s=600.0,
        config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, availability=availability, first_on_demand=1,
                             ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1, ebs_volume_size_gb=200,
                             spark_version="15.4.x-scala2.12",
                             spec={"aws_attributes": {**GP3, "ebs_volume_iops": iops,
                                                      "ebs_volume_throughput": throughput}})))


def _set_again(trimtab: Trimtab, project: Project) -> str:
    """`project set` with a setting as it is: nothing is planned again, the pending one stays."""
    code, _, err = trimtab("project", "set", str(project.id), "--keep-autoscaling", "off")
    assert code == 0, err
    return err


def _show(trimtab: Trimtab, project: Project) -> str:
    code, out, err = trimtab("project", "show", str(project.id))
    assert code == 0, err
    return out


def test_the_running_cluster_is_unchanged_in_every_command(trimtab: Trimtab, project: Project,
                                                         cli_store: Store) -> None:
    rec = _pending(cli_store, project)
    err = _set_again(trimtab, project)
    assert (f"{UNCHANGED}: recommendation {rec.id} keeps the configuration the job runs on (nothing to apply)"
            in err), err
    assert "already runs this configuration (nothing to apply)" in _show(trimtab, project)


@pytest.mark.parametrize("change", [{"iops": 3000, "throughput": 125}, {"availability": "SPOT"}],
                         ids=["gp3-performance", "spot-without-fallback"])
def test_a_recommendation_the_job_does_not_run_is_one_to_apply_in_every_command(
        trimtab: Trimtab, project: Project, cli_store: Store, change: dict[str, Any]) -> None:
    rec = _pending(cli_store, project, **change)
    err = _set_again(trimtab, project)
    assert UNCHANGED not in err, err
    assert f"`trimtab recommendation apply {project.id}` applies recommendation {rec.id} now" in err, err
    shown = _show(trimtab, project)
    assert "already runs" not in shown and f"trimtab recommendation apply {project.id} --id {rec.id}" in shown
    assert cli_store.projects.get(int(project.id or 0)).current_spec == copy.deepcopy(SPEC)
