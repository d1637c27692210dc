"""Onboarding reads for_each_task's nested task, leaves room for Trimtab's tags, and says DBFS
init scripts are end of life (pure, but the last through import against the emulator)."""

from __future__ import annotations

import logging

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.onboard import MAX_CUSTOM_TAGS, PROJECT_TAG, REASON_SERVERLESS, RECOMMENDATION_TAG, qualify
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2}


def _job(tasks: list[dict], job_clusters: list[dict] | None = None) -> dict:
    return {"job_id": 7, "settings": {"name": "fan-out", "tasks": tasks, "job_clusters": job_clusters or []}}


def test_a_for_each_task_is_tuned_on_its_nested_tasks_job_cluster() -> None:
    job = _job([{"task_key": "loop", "for_each_task": {"inputs": "[1,2,3]", "task": {
        "task_key": "loop_iteration", "job_cluster_key": "workers", "notebook_task": {"notebook_path": "/x"}}}}],
        [{"job_cluster_key": "workers", "new_cluster": SPEC}])
    found = qualify(job)
    assert [c.cluster_key for c in found.clusters] == ["workers"] and REASON_SERVERLESS not in found.notes


def test_a_for_each_task_with_its_own_new_cluster_is_left_out_saying_why() -> None:
    job = _job([{"task_key": "loop", "for_each_task": {"inputs": "[1]", "task": {
        "task_key": "it", "new_cluster": SPEC, "notebook_task": {"notebook_path": "/x"}}}}])
    found = qualify(job)
    assert not found.clusters and "for_each_task" in (found.skipped_reason or "")
    assert "serverless" not in (found.skipped_reason or "")


def test_a_cluster_without_room_for_trimtabs_two_tags_is_refused_clearly() -> None:
    full = {f"team-{i}": "x" for i in range(MAX_CUSTOM_TAGS - 1)}  # 44: +2 would be 46
    found = qualify(_job([{"task_key": "t", "job_cluster_key": "c"}],
                         [{"job_cluster_key": "c", "new_cluster": {**SPEC, "custom_tags": full}}]))
    assert not found.clusters
    assert "44 custom_tags" in (found.skipped_reason or "") and "at most 43" in (found.skipped_reason or "")
    # 43 of its own (and Trimtab's own, already there) fit.
    fits = {f"team-{i}": "x" for i in range(MAX_CUSTOM_TAGS - 2)}
    fits.update({PROJECT_TAG: "1", RECOMMENDATION_TAG: "2"})
    assert qualify(_job([{"task_key": "t", "job_cluster_key": "c"}],
                        [{"job_cluster_key": "c", "new_cluster": {**SPEC, "custom_tags": fits}}])).clusters


def test_import_with_a_dbfs_init_script_warns_that_dbfs_scripts_are_end_of_life(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="server.services.workspaces"):
        workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], dry_run=True, wiring=WIRING)
    (warning,) = [r.getMessage() for r in caplog.records if "DBFS" in r.getMessage()]
    assert "dbfs:/trimtab/test-init.sh" in warning and "end of life" in warning and "/Volumes" in warning
