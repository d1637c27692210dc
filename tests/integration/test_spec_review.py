"""server.spec as reviewed against the real Clusters API: single-node clusters in the newer form
(``kind: CLASSIC_PREVIEW`` with ``is_single_node``)."""

from __future__ import annotations

from typing import Any

from server.onboard import qualify
from server.spec import single_node

NEW_FORM = {"kind": "CLASSIC_PREVIEW", "is_single_node": True, "spark_version": "15.4.x-scala2.12",
            "node_type_id": "m5d.xlarge"}


def test_is_single_node_marks_a_single_node_cluster() -> None:
    # Databricks sets the profile, the tag and num_workers itself from is_single_node: the spec
    # may carry none of them, or a num_workers the user left.
    assert single_node(NEW_FORM)
    assert single_node({**NEW_FORM, "num_workers": 2})
    assert single_node({**NEW_FORM, "is_single_node": "true"})
    assert not single_node({**NEW_FORM, "is_single_node": False, "num_workers": 2})


def test_import_skips_a_new_form_single_node_cluster() -> None:
    job: dict[str, Any] = {"job_id": 7, "settings": {
        "name": "local", "job_clusters": [{"job_cluster_key": "main", "new_cluster": {**NEW_FORM, "num_workers": 2}}],
        "tasks": [{"task_key": "t", "job_cluster_key": "main", "spark_python_task": {"python_file": "x.py"}}]}}
    result = qualify(job)
    assert result.clusters == [] and any("single-node" in n for n in result.notes), result.notes
