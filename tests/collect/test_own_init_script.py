"""Trimtab's own init script failing a cluster is told apart from the job's own (pure:
`server.collect.own_script`, `server.collect.failure.classify_failure`)."""

from __future__ import annotations

from typing import Any

import pytest

from server.collect.failure import FailureCause, classify_failure
from server.collect.own_script import failed_own_script, own_script_message, trimtab_scripts
from server.detach import ONBOARDED_KEY
from server.domain import Project
from server.onboard import init_script_info

OURS = init_script_info("/Shared/trimtab/trimtab-init.sh")
THEIRS = init_script_info("/Shared/etl/setup.sh")
TASK = {"code": "CLUSTER_ERROR", "type": "CLIENT_ERROR", "message": "Cluster failed to start"}


def _reason(message: str, code: str = "INIT_SCRIPT_FAILURE") -> dict[str, Any]:
    # As Databricks reports it (clusters/get termination_reason; terraform-provider-databricks#2976).
    return {"code": code, "type": "CLIENT_ERROR",
            "parameters": {"instance_id": "71e7ade1", "databricks_error_message": message}}


@pytest.mark.parametrize("message", [
    "Cluster scoped init script /Shared/trimtab/trimtab-init.sh failed: Script exit status is non-zero",
    "Cluster scoped init script /Workspace/Shared/trimtab/trimtab-init.sh failed: Script exit status is non-zero",
    "Init script /Shared/trimtab/trimtab-init.sh is not on the metastore's INIT_SCRIPT allowlist",
])
def test_trimtabs_script_named_by_the_cluster_is_trimtabs_failure(message: str) -> None:
    cause = classify_failure([TASK], _reason(message), [THEIRS, OURS])
    assert cause == FailureCause(True, "INIT_SCRIPT_FAILURE (CLIENT_ERROR)",
                                 own_init_script="/Shared/trimtab/trimtab-init.sh")


def test_without_the_cluster_record_the_tasks_words_name_it() -> None:
    dbfs = init_script_info("dbfs:/trimtab/test-init.sh")
    task = {**TASK, "message": "Init script failure: Cluster scoped init script /dbfs/trimtab/test-init.sh failed: "
                               "Script exit status is non-zero"}
    assert classify_failure([task], None, [dbfs]).own_init_script == "dbfs:/trimtab/test-init.sh"


@pytest.mark.parametrize(("tasks", "reason"), [
    # The job's own script: the configuration's, as before.
    ([TASK], _reason("Cluster scoped init script /Shared/etl/setup.sh failed: Script exit status is non-zero")),
    # Another file whose name begins as Trimtab's.
    ([TASK], _reason("Cluster scoped init script /Shared/trimtab/trimtab-init.sh.bak failed: Script exit status")),
    # The cluster died of something else; a message that happens to name the script says nothing.
    ([{**TASK, "message": "init script /Shared/trimtab/trimtab-init.sh"}],
     _reason("no capacity", code="DRIVER_UNRESPONSIVE")),
])
def test_anything_else_is_not_trimtabs(tasks: list[dict[str, Any]], reason: dict[str, Any]) -> None:
    cause = classify_failure(tasks, reason, [OURS])
    assert not cause.own_init_script
    assert failed_own_script(tasks, reason, [OURS]) == ""


def test_the_jobs_script_failing_stays_the_configurations() -> None:
    reason = _reason("Cluster scoped init script /Shared/etl/setup.sh failed: Script exit status is non-zero")
    assert classify_failure([TASK], reason, [OURS]) == FailureCause(False, "INIT_SCRIPT_FAILURE (CLIENT_ERROR)")


def test_a_policy_refusal_still_wins() -> None:
    task = {**TASK, "message": "Cluster validation error: Validation failed for num_workers"}
    reason = _reason("Cluster scoped init script /Shared/trimtab/trimtab-init.sh failed")
    assert classify_failure([task], reason, [OURS]).transient is False


def test_trimtabs_scripts_are_those_imports_recorded_never_the_jobs_own() -> None:
    spec = {"init_scripts": [THEIRS, OURS]}
    recorded = Project(workspace="sbx", job_id=1, cluster_key="main", job_name="etl", current_spec=spec,
                       original_spec={"init_scripts": [THEIRS]},
                       state={ONBOARDED_KEY: {"init_scripts": [OURS, THEIRS], "cluster_log_conf": None}})
    assert trimtab_scripts(recorded, spec) == [OURS]
    # Imported before the record was kept: a script named as Trimtab's default one.
    older = Project(workspace="sbx", job_id=1, cluster_key="main", job_name="etl", current_spec=spec,
                    original_spec={})
    assert trimtab_scripts(older, spec) == [OURS]


def test_the_message_says_what_to_do_where_the_logs_are_and_keeps_databricks_words() -> None:
    spec = {"cluster_log_conf": {"dbfs": {"destination": "dbfs:/cluster-logs"}}}
    said = "Init script failure: Cluster scoped init script /Shared/trimtab/trimtab-init.sh failed"
    message = own_script_message("/Shared/trimtab/trimtab-init.sh", "prod", spec, "1207-x", said)
    assert message == ("Trimtab's init script /Shared/trimtab/trimtab-init.sh failed the cluster at start (not this "
                       "configuration's fault: not learned, not avoided); `trimtab workspace import prod` uploads it "
                       "again, and the cluster's init script logs (in dbfs:/cluster-logs/1207-x/init_scripts/) say "
                       f"why. Databricks: {said}")
    # Trimtab does not upload to cloud storage: the operator puts it back.
    in_s3 = own_script_message("s3://ops/trimtab/init.sh", "prod", {}, "1207-x", "")
    assert "put it back at s3://ops/trimtab/init.sh" in in_s3 and "workspace import" not in in_s3
    assert "logs say why" in in_s3 and "Databricks:" not in in_s3
