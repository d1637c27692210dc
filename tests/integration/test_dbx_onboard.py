"""server.onboard: which clusters qualify, and the onboarded spec (pure)."""

from __future__ import annotations

from server.onboard import (
    PROJECT_TAG,
    REASON_EXISTING,
    REASON_SERVERLESS,
    AgentWiring,
    is_onboarded,
    onboard_spec,
    qualify,
    spec_diff,
)

WIRING = AgentWiring(server_address="10.0.0.5:50051", secret_scope="tt", secret_key="agent",
                     init_script={"dbfs": {"destination": "dbfs:/trimtab/init.sh"}},
                     log_destination="dbfs:/logs")


def _job(job_id: int, tasks: list[dict], job_clusters: list[dict] | None = None) -> dict:
    return {"job_id": job_id, "settings": {"name": f"j{job_id}", "tasks": tasks,
                                           "job_clusters": job_clusters or []}}


def test_qualify_multi_task_job_maps_each_cluster_once() -> None:
    job = _job(7, [
        {"task_key": "a", "job_cluster_key": "big"},
        {"task_key": "b", "job_cluster_key": "big"},
        {"task_key": "c", "job_cluster_key": "small"},
        {"task_key": "d", "new_cluster": {"num_workers": 1}},
        {"task_key": "e", "existing_cluster_id": "0101-abc"},
    ], [{"job_cluster_key": "big", "new_cluster": {"num_workers": 8}},
        {"job_cluster_key": "small", "new_cluster": {"num_workers": 2}}])
    q = qualify(job)
    assert [c.cluster_key for c in q.clusters] == ["big", "small", "task:d"]
    assert q.clusters[0].spec == {"num_workers": 8}
    assert q.skipped_reason is None
    assert q.notes == [REASON_EXISTING]


def test_qualify_skips_existing_cluster_and_serverless_jobs_with_reasons() -> None:
    existing = qualify(_job(1, [{"task_key": "t", "existing_cluster_id": "0101-abc"}]))
    assert existing.clusters == [] and existing.skipped_reason == REASON_EXISTING
    serverless = qualify(_job(2, [{"task_key": "t", "environment_key": "default",
                                   "spark_python_task": {"python_file": "x.py"}}]))
    assert serverless.skipped_reason == REASON_SERVERLESS
    assert "no tasks" in (qualify(_job(3, [])).skipped_reason or "")
    warehouse = qualify(_job(4, [{"task_key": "q", "sql_task": {"warehouse_id": "w1"}},
                                 {"task_key": "next", "run_job_task": {"job_id": 9}}]))
    assert warehouse.skipped_reason == "runs on a SQL warehouse; triggers another job (import that job instead)"
    notebook_only = qualify(_job(5, [{"task_key": "n", "notebook_task": {"notebook_path": "/x"}}]))
    assert notebook_only.skipped_reason == REASON_SERVERLESS  # no cluster named: serverless compute


def test_qualify_onboards_pool_backed_clusters_and_skips_a_driver_pool_alone() -> None:
    """A pool-backed cluster is sized (its worker count; the pool fixes the node types), so it is
    onboarded; a driver pool without a worker pool is a spec Databricks refuses: skipped, saying why."""
    job = _job(8, [
        {"task_key": "a", "job_cluster_key": "pooled"},
        {"task_key": "b", "job_cluster_key": "plain"},
        {"task_key": "c", "new_cluster": {"driver_instance_pool_id": "p2", "node_type_id": "m5.xlarge",
                                          "num_workers": 2}},
        {"task_key": "d", "new_cluster": {"instance_pool_id": "p1", "driver_instance_pool_id": "p2",
                                          "num_workers": 2}},
    ], [{"job_cluster_key": "pooled", "new_cluster": {"instance_pool_id": "p1", "num_workers": 4}},
        {"job_cluster_key": "plain", "new_cluster": {"node_type_id": "m5.xlarge", "num_workers": 2}}])
    q = qualify(job)
    assert [c.cluster_key for c in q.clusters] == ["pooled", "plain", "task:d"]
    assert q.notes == [
        "cluster 'task:c' names a driver instance pool (driver_instance_pool_id) without a worker pool "
        "(instance_pool_id), which Databricks refuses"]


def test_onboard_adds_agent_wiring_and_keeps_user_settings() -> None:
    spec = {"node_type_id": "i3.xlarge", "num_workers": 2,
            "init_scripts": [{"workspace": {"destination": "/mine.sh"}}],
            "spark_env_vars": {"MINE": "1"}, "custom_tags": {"team": "data"}}
    out = onboard_spec(spec, project_id="12", wiring=WIRING)
    assert out["init_scripts"] == [{"workspace": {"destination": "/mine.sh"}},
                                   {"dbfs": {"destination": "dbfs:/trimtab/init.sh"}}]
    assert out["spark_env_vars"] == {"MINE": "1", "TRIMTAB_SERVER": "10.0.0.5:50051",
                                     "TRIMTAB_TOKEN": "{{secrets/tt/agent}}"}
    assert out["custom_tags"] == {"team": "data", PROJECT_TAG: "12"}
    assert out["cluster_log_conf"] == {"dbfs": {"destination": "dbfs:/logs"}}
    assert spec["spark_env_vars"] == {"MINE": "1"}  # input untouched
    assert onboard_spec(out, project_id="12", wiring=WIRING) == out  # idempotent
    assert is_onboarded(out, project_id="12", wiring=WIRING)
    assert not is_onboarded(spec, project_id="12", wiring=WIRING)


def test_onboard_keeps_an_existing_log_destination() -> None:
    spec = {"num_workers": 1, "cluster_log_conf": {"s3": {"destination": "s3://b/logs", "region": "us-east-1"}}}
    assert onboard_spec(spec, project_id="1", wiring=WIRING)["cluster_log_conf"] == spec["cluster_log_conf"]


def test_diff_shows_added_lines_and_is_empty_when_equal() -> None:
    spec = {"num_workers": 1}
    diff = spec_diff(spec, onboard_spec(spec, project_id="3", wiring=WIRING), "job 1 / main")
    assert diff.startswith("--- job 1 / main (current)")
    assert '+    "trimtab:project-id": "3"' in diff
    assert spec_diff(spec, dict(spec), "x") == ""
