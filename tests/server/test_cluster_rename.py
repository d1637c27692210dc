"""`server.cluster_rename.renamed_key` (pure): when a cluster of the job is the project's under a new key."""

from __future__ import annotations

from typing import Any

from server.cluster_rename import renamed_key
from server.domain import Project
from server.onboard import PROJECT_TAG

TASK = {"spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}


def _spec(tag: str | None) -> dict[str, Any]:
    return {"node_type_id": "m5.xlarge", "num_workers": 2, **({"custom_tags": {PROJECT_TAG: tag}} if tag else {})}


def _job(clusters: dict[str, str | None]) -> dict[str, Any]:
    return {"job_clusters": [{"job_cluster_key": k, "new_cluster": _spec(t)} for k, t in clusters.items()],
            "tasks": [{**TASK, "task_key": f"t-{k}", "job_cluster_key": k} for k in clusters]}


PROJECT = Project(id=5, workspace="wsa", job_id=11, cluster_key="main")


def test_the_one_cluster_carrying_the_tag_with_the_key_gone_is_the_rename() -> None:
    assert renamed_key(PROJECT, _job({"etl_main": "5", "other": None}), taken=()) == "etl_main"


def test_no_rename_while_the_key_is_there_for_a_copy_for_two_or_for_a_taken_key() -> None:
    assert renamed_key(PROJECT, _job({"main": "5", "copy": "5"}), taken=()) is None  # a copy beside it
    assert renamed_key(PROJECT, _job({"a": "5", "b": "5"}), taken=()) is None  # which one, nothing says
    assert renamed_key(PROJECT, _job({"etl_main": "5"}), taken={"etl_main"}) is None
    assert renamed_key(PROJECT, _job({"etl_main": "6"}), taken=()) is None  # another project's tag
    assert renamed_key(PROJECT, _job({"etl_main": None}), taken=()) is None


def test_a_task_clusters_key_follows_its_task() -> None:
    task = Project(id=5, workspace="wsa", job_id=11, cluster_key="task:t1")
    settings = {"tasks": [{**TASK, "task_key": "t2", "new_cluster": _spec("5")}]}
    assert renamed_key(task, settings, taken=()) == "task:t2"
