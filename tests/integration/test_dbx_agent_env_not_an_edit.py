"""The agent's own settings in a job cluster's ``spark_env_vars`` are no user edit, over real HTTP
(emulator, collector, planner, auto-apply; SQLite and PostgreSQL).

docs/operations.md tells operators to add ``TRIMTAB_TLS_CA`` (a private CA) and docs/agent.md
``TRIMTAB_AGENT_SPOOL_BYTES`` or pip's ``PIP_INDEX_URL`` to the job cluster's ``spark_env_vars``.
Done through ``jobs/update``, the next run was flagged ``user_edit`` and auto-apply paused ("you edited
the cluster (spark_env_vars.TRIMTAB_TLS_CA) before run ..."), though none of them changes the
cluster's size or cost. Now the runs go on being learned, auto-apply goes on writing, and every apply
keeps the operator's values. A variable the job itself reads is still the owner's edit."""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.loop import _Loop

# What the docs tell an operator to add (a private CA, a bigger spool, a private package index).
AGENT_SETTINGS = {"TRIMTAB_TLS_CA": "/Workspace/Shared/trimtab/ca.pem",
                  "TRIMTAB_AGENT_SPOOL_BYTES": "1073741824",
                  "PIP_INDEX_URL": "https://pypi.internal.example/simple"}


def _sizing(spec: dict[str, Any]) -> tuple[Any, ...]:
    return spec.get("node_type_id"), spec.get("driver_node_type_id"), spec.get("num_workers"), spec.get("autoscale")


def test_the_agents_settings_in_spark_env_vars_do_not_pause_auto_apply_and_applies_keep_them(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=True)
    run, rec = loop.cycle()
    assert rec is not None

    live = loop.live()
    loop.edit({**live, "spark_env_vars": {**(live.get("spark_env_vars") or {}), **AGENT_SETTINGS}})

    sizes = {_sizing(loop.live())}
    applies = set()
    for _ in range(3):
        run, rec = loop.cycle()
        assert "user_edit" not in run.anomalies, run.anomalies
        assert rec is not None and "you edited" not in rec.reason, rec.reason
        project = store.projects.get(loop.pid)
        assert "user_edit_paths" not in project.state or not any(
            "spark_env_vars" in p for p in project.state["user_edit_paths"]), project.state
        # Whatever auto-apply wrote, the operator's settings are still on the cluster.
        env = loop.live().get("spark_env_vars") or {}
        assert {k: env.get(k) for k in AGENT_SETTINGS} == AGENT_SETTINGS, env
        sizes.add(_sizing(loop.live()))
        applies.add(loop.applied_id())
    # Auto-apply went on: it wrote at least one recommendation after the operator's edit.
    assert len(sizes) > 1 and applies - {None}, (sizes, applies)


def test_a_variable_the_job_reads_is_still_the_owners_edit(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    loop = _Loop(store, secrets, job_ids[0], emulator, gateway, auto_apply=True)
    loop.cycle()
    live = loop.live()
    loop.edit({**live, "spark_env_vars": {**(live.get("spark_env_vars") or {}), "ETL_PARTITIONS": "400",
                                          "TRIMTAB_TLS_CA": "/Workspace/Shared/trimtab/ca.pem"}})

    run, rec = loop.cycle()
    assert "user_edit" in run.anomalies
    assert rec is not None and rec.reason.startswith("you edited the cluster (spark_env_vars.ETL_PARTITIONS)"), \
        rec.reason
