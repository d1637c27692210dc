"""server.spec: finding, merging, replacing and comparing cluster specs (pure)."""

from __future__ import annotations

from server.spec import cluster_entry_update, deep_merge, find_cluster_spec, merge_recommendation, spec_drift

SETTINGS = {
    "name": "etl",
    "job_clusters": [
        {"job_cluster_key": "main", "new_cluster": {"node_type_id": "i3.xlarge", "num_workers": 4}},
        {"job_cluster_key": "small", "new_cluster": {"node_type_id": "m5.large", "num_workers": 1}},
    ],
    "tasks": [
        {"task_key": "ingest", "job_cluster_key": "main", "notebook_task": {"notebook_path": "/a"}},
        {"task_key": "report", "depends_on": [{"task_key": "ingest"}],
         "new_cluster": {"node_type_id": "r5.large", "autoscale": {"min_workers": 1, "max_workers": 8}},
         "spark_python_task": {"python_file": "dbfs:/r.py"}},
    ],
}


def test_find_cluster_spec_by_job_cluster_key_and_task_key() -> None:
    assert find_cluster_spec(SETTINGS, "main") == {"node_type_id": "i3.xlarge", "num_workers": 4}
    assert find_cluster_spec(SETTINGS, "task:report")["node_type_id"] == "r5.large"
    assert find_cluster_spec(SETTINGS, "task:ingest") is None  # runs on a job cluster, not its own
    assert find_cluster_spec(SETTINGS, "gone") is None


def test_update_for_task_cluster_sends_the_whole_task_entry() -> None:
    update = cluster_entry_update(SETTINGS, "task:report", {"node_type_id": "r5.xlarge", "num_workers": 3})
    (task,) = update["tasks"]
    # jobs/update replaces a task entry whole: everything else of the task must be sent back.
    assert task["depends_on"] == [{"task_key": "ingest"}]
    assert task["spark_python_task"] == {"python_file": "dbfs:/r.py"}
    assert task["new_cluster"] == {"node_type_id": "r5.xlarge", "num_workers": 3}
    assert "job_clusters" not in update


def test_update_for_job_cluster_names_only_that_key() -> None:
    update = cluster_entry_update(SETTINGS, "main", {"node_type_id": "c5.xlarge", "num_workers": 2})
    assert update == {"job_clusters": [{"job_cluster_key": "main",
                                        "new_cluster": {"node_type_id": "c5.xlarge", "num_workers": 2}}]}


def test_merge_drops_sizing_first_and_keeps_what_the_user_set() -> None:
    base = {
        "spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge",
        "autoscale": {"min_workers": 2, "max_workers": 10},
        "spark_conf": {"spark.sql.shuffle.partitions": "400", "spark.user.flag": "x"},
        "aws_attributes": {"availability": "ON_DEMAND", "instance_profile_arn": "arn:aws:iam::1:ip/x"},
        "init_scripts": [{"workspace": {"destination": "/u.sh"}}],
    }
    rec = {"node_type_id": "m5.2xlarge", "num_workers": 6,
           "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
           "spark_conf": {"spark.sql.shuffle.partitions": "96"}}
    merged = merge_recommendation(base, rec)
    assert "autoscale" not in merged and merged["num_workers"] == 6
    assert merged["aws_attributes"] == {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1,
                                        "instance_profile_arn": "arn:aws:iam::1:ip/x"}
    assert merged["spark_conf"] == {"spark.sql.shuffle.partitions": "96", "spark.user.flag": "x"}
    assert merged["init_scripts"] == base["init_scripts"]
    assert base["autoscale"] == {"min_workers": 2, "max_workers": 10}  # input untouched


def test_merge_without_sizing_keeps_current_sizing_and_switch_to_autoscale() -> None:
    base = {"node_type_id": "a", "num_workers": 3}
    assert merge_recommendation(base, {"node_type_id": "b"}) == {"node_type_id": "b", "num_workers": 3}
    switched = merge_recommendation(base, {"autoscale": {"min_workers": 1, "max_workers": 4}})
    assert "num_workers" not in switched and switched["autoscale"]["max_workers"] == 4


def test_deep_merge_replaces_lists_whole() -> None:
    assert deep_merge({"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"d": 2}}) == {"a": [3], "b": {"c": 1, "d": 2}}


def test_drift_names_the_paths_the_user_changed() -> None:
    applied = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_conf": {"a": "1"}, "custom_tags": {}}
    assert spec_drift(applied, applied) == []
    live = {"node_type_id": "m5.xlarge", "num_workers": 8, "spark_conf": {"a": "1", "b": "2"},
            "enable_elastic_disk": True}
    assert spec_drift(live, applied) == ["num_workers", "spark_conf.b"]


def test_config_round_trip_and_overlay_for_aws_and_azure() -> None:
    from server.domain import ClusterConfig
    from server.spec import config_from_spec, recommendation_overlay

    azure = {"node_type_id": "Standard_D8ds_v5", "autoscale": {"min_workers": 2, "max_workers": 6},
             "azure_attributes": {"availability": "SPOT_WITH_FALLBACK_AZURE", "first_on_demand": 1}}
    cfg = config_from_spec(azure)
    assert (cfg.autoscale_min, cfg.autoscale_max, cfg.num_workers) == (2, 6, 0)
    assert cfg.availability == "SPOT_WITH_FALLBACK" and cfg.spec == azure
    overlay = recommendation_overlay(ClusterConfig(node_type_id="Standard_E8ds_v5", num_workers=3,
                                                   availability="ON_DEMAND", ebs_volume_type="GENERAL_PURPOSE_SSD",
                                                   ebs_volume_count=1, ebs_volume_size_gb=100), azure=True)
    assert overlay == {"node_type_id": "Standard_E8ds_v5", "num_workers": 3,
                       "azure_attributes": {"availability": "ON_DEMAND_AZURE", "first_on_demand": 0}}
    merged = merge_recommendation(azure, overlay)
    assert "autoscale" not in merged and merged["azure_attributes"]["availability"] == "ON_DEMAND_AZURE"
    aws = recommendation_overlay(ClusterConfig(node_type_id="m5.xlarge", autoscale_min=1, autoscale_max=4,
                                               availability="SPOT", first_on_demand=1,
                                               ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=2,
                                               ebs_volume_size_gb=150), azure=False)
    assert aws == {"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 1, "max_workers": 4},
                   "aws_attributes": {"availability": "SPOT", "first_on_demand": 1,
                                      "ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 2,
                                      "ebs_volume_size": 150}}
