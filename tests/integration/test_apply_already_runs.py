"""`recommendation apply` of a pending recommendation the job's cluster already runs (its owner
edited the job to exactly it by hand, or the plan keeps the cluster), on the emulator through the
real databricks-sdk gateway, a real server and the CLI (SQLite and PostgreSQL).

Before, the apply wrote the job (only Trimtab's tag changed), marked the recommendation applied and
recorded an unconfirmed apply that held the next one back for a run. Now nothing is written, the
recommendation stays pending, and the CLI says the job already runs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sandbox.workspace.seed import aws_cluster
from server.already_runs import ALREADY_RUNS
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.onboard import RECOMMENDATION_TAG
from server.services import recommendations
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import etl_job

Trimtab = Callable[..., tuple[int, str, str]]


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _pending(store: Store, project: Project, config: ClusterConfig) -> str:
    rec = store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test",
                                                   predicted_cost=0.5, predicted_runtime_s=600.0))
    return str(rec.id)


def test_apply_of_the_configuration_the_job_runs_writes_nothing(
        trimtab: Trimtab, store: Store, server_key: bytes, gateway: DatabricksGateway, cli_workspace: str) -> None:
    job_id = gateway.create_job(etl_job(aws_cluster("m5.xlarge", 2)))
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0 and "created" in out, err
    (project,) = store.projects.list("sbx")
    pid = int(project.id or 0)
    before = _live(gateway, project)
    # The very cluster the job has, as the planner names it (the spark_version it was planned on included).
    same = config_from_spec(before, cloud="aws")
    rec_id = _pending(store, project, ClusterConfig(
        node_type_id=same.node_type_id, num_workers=same.num_workers, availability=same.availability,
        first_on_demand=same.first_on_demand, spark_version=same.spark_version))

    code, out, err = trimtab("recommendation", "show", project.name)
    assert code == 0 and ALREADY_RUNS in out
    for dry in ([], ["--dry-run"]):
        code, out, err = trimtab("recommendation", "apply", project.name, *dry)
        assert code == 0, err
        assert out.strip() == f"nothing to apply: recommendation {rec_id}: {ALREADY_RUNS}; nothing was written"
    code, out, _ = trimtab("--json", "recommendation", "apply", project.name)
    reply = json.loads(out)
    assert code == 0 and reply["applied"] is False and reply["recommendation"]["already_on_job"] is True

    after = _live(gateway, project)
    assert after == before and RECOMMENDATION_TAG not in (after.get("custom_tags") or {})
    assert store.recommendations.get(int(rec_id)).state == "pending"
    stored = store.projects.get(pid)
    assert stored.pending_apply is None  # no apply record holding the next apply back for a run

    # Another recommendation is written as before.
    other = _pending(store, project, ClusterConfig(node_type_id="m5.xlarge", num_workers=3,
                                                   availability=same.availability, first_on_demand=1))
    outcome = recommendations.apply_recommendation(store, SecretBox(server_key), project.name)
    assert outcome.applied and not outcome.already_on_job
    live = _live(gateway, project)
    assert live["num_workers"] == 3 and live["custom_tags"][RECOMMENDATION_TAG] == other
