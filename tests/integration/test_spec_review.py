"""server.spec as reviewed against the real Clusters API: single-node clusters in the newer form
(``kind: CLASSIC_PREVIEW`` with ``is_single_node``), and the read-back judging what was written."""

from __future__ import annotations

from typing import Any

from server.onboard import qualify
from server.spec import (
    config_from_spec,
    readback_mismatch,
    recommendation_overlay,
    single_node,
    written_paths,
)

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


def test_written_paths_are_what_the_new_spec_sets_and_the_sizing_it_drops() -> None:
    before = {"node_type_id": "a", "autoscale": {"min_workers": 1, "max_workers": 4}, "runtime_engine": "STANDARD",
              "custom_tags": {"team": "x"}}
    after = {"node_type_id": "b", "num_workers": 3, "custom_tags": {"team": "x", "trimtab": "1"}}
    assert written_paths(before, after) == {"node_type_id", "num_workers", "custom_tags.trimtab",
                                            "autoscale.min_workers", "autoscale.max_workers"}
    # A default the service fills back in is not judged; a written value read back different is.
    reread = {**after, "runtime_engine": "STANDARD", "enable_elastic_disk": True}
    assert readback_mismatch(reread, after, written_paths(before, after)) == []
    assert readback_mismatch({**reread, "num_workers": 5}, after, written_paths(before, after)) == ["num_workers"]
    assert readback_mismatch({**reread, "autoscale": {"min_workers": 1, "max_workers": 4}}, after,
                             written_paths(before, after)) == ["autoscale.max_workers", "autoscale.min_workers"]


def test_an_unset_first_on_demand_is_read_and_written_as_databricks_default() -> None:
    # Unset means 1 (the driver on demand); read as 0, a recommendation built from the config (a
    # pool-backed candidate keeps the live value) wrote first_on_demand 0: the driver on spot.
    spot = {"node_type_id": "m5.xlarge", "num_workers": 4, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}}
    config = config_from_spec(spot)
    assert config.first_on_demand == 1
    assert recommendation_overlay(config, azure=False)["aws_attributes"]["first_on_demand"] == 1
    # An explicit 0 stays 0 (the whole cluster on spot, as the user asked).
    explicit = {**spot, "aws_attributes": {"availability": "SPOT", "first_on_demand": 0}}
    assert config_from_spec(explicit).first_on_demand == 0
    # No availability at all: nothing to write, nothing read.
    assert config_from_spec({"node_type_id": "m5.xlarge", "num_workers": 4}).first_on_demand == 0
