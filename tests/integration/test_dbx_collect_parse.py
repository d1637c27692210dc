"""server.collect.run_parse and server.collect.usage: pure pieces of collection."""

from __future__ import annotations

from server.collect.run_parse import cluster_runs, is_finished
from server.collect.usage import cluster_timeline, ebs_volumes

RUN = {
    "run_id": 900, "job_id": 5, "start_time": 1000, "end_time": 9000,
    "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED"},
    "job_clusters": [{"job_cluster_key": "etl", "new_cluster": {"node_type_id": "m5.xlarge", "num_workers": 2}}],
    "tasks": [
        {"task_key": "a", "job_cluster_key": "etl", "start_time": 1000, "end_time": 4000,
         "cluster_instance": {"cluster_id": "c-1", "spark_context_id": "42"},
         "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}},
        {"task_key": "b", "job_cluster_key": "etl", "start_time": 4100, "end_time": 6000,
         "cluster_instance": {"cluster_id": "c-1", "spark_context_id": "42"},
         "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}},
        {"task_key": "solo", "new_cluster": {"node_type_id": "r5.large", "num_workers": 1},
         "start_time": 6100, "end_time": 9000, "cluster_instance": {"cluster_id": "c-2"},
         "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "boom"}},
        {"task_key": "shared", "existing_cluster_id": "allpurpose", "start_time": 1, "end_time": 2,
         "cluster_instance": {"cluster_id": "allpurpose"}},
        {"task_key": "never", "job_cluster_key": "other", "state": {"life_cycle_state": "SKIPPED"}},
    ],
}


def test_cluster_runs_one_piece_per_cluster_key_with_its_own_outcome() -> None:
    assert is_finished(RUN) and not is_finished({"state": {"life_cycle_state": "RUNNING"}})
    etl, solo = cluster_runs(RUN)
    assert (etl.cluster_key, etl.cluster_id, etl.spark_context_id) == ("etl", "c-1", "42")
    assert etl.task_keys == ("a", "b") and (etl.start_ms, etl.end_ms) == (1000, 6000)
    assert etl.outcome == "succeeded" and etl.runtime_s == 5.0
    assert etl.spec == {"node_type_id": "m5.xlarge", "num_workers": 2}
    assert (solo.cluster_key, solo.outcome, solo.state_message) == ("task:solo", "failed", "boom")
    assert solo.spec["node_type_id"] == "r5.large"


def test_a_cluster_key_refused_its_cluster_is_a_failed_piece_and_one_skipped_is_none() -> None:
    # Databricks validates a job cluster against its policy when the run creates it: refused, the
    # task fails with no cluster_instance. A task skipped for its dependencies has none either.
    refused = {"task_key": "load", "job_cluster_key": "etl", "start_time": 1000, "end_time": 1200,
               "state": {"life_cycle_state": "INTERNAL_ERROR", "result_state": "FAILED",
                         "state_message": "Cluster validation error: Validation failed for num_workers"}}
    skipped = [
        {"task_key": "after", "job_cluster_key": "late", "state": {"life_cycle_state": "TERMINATED",
                                                                    "result_state": "UPSTREAM_FAILED"}},
        {"task_key": "off", "job_cluster_key": "off", "state": {"life_cycle_state": "SKIPPED"}},
        {"task_key": "ex", "job_cluster_key": "ex", "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED"},
         "status": {"termination_details": {"code": "SKIPPED"}}},
    ]
    run = {**RUN, "job_clusters": [{"job_cluster_key": k, "new_cluster": {"node_type_id": "m5.xlarge", "num_workers": 4}}
                                   for k in ("etl", "late", "off", "ex")],
           "tasks": [refused, *skipped]}
    (piece,) = cluster_runs(run)
    assert (piece.cluster_key, piece.cluster_id, piece.spark_context_id, piece.outcome) == ("etl", "", "", "failed")
    assert piece.state_message.startswith("Cluster validation error") and piece.spec["num_workers"] == 4
    assert (piece.start_ms, piece.end_ms) == (1000, 1200)


SPOT_SPEC = {"node_type_id": "m5.xlarge", "driver_node_type_id": "m5.large", "num_workers": 3,
             "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 2,
                                "ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1,
                                "ebs_volume_size": 100}}


def test_timeline_prices_each_node_for_its_up_time_with_spot_loss_and_replacement() -> None:
    events = [
        {"timestamp": 0, "type": "CREATING", "details": {}},
        {"timestamp": 60_000, "type": "RUNNING", "details": {"current_num_workers": 3}},
        {"timestamp": 300_000, "type": "NODES_LOST", "details": {"instance_id": "i-9", "current_num_workers": 2}},
        {"timestamp": 360_000, "type": "UPSIZE_COMPLETED", "details": {"current_num_workers": 3}},
        {"timestamp": 600_000, "type": "TERMINATING", "details": {}},
    ]
    tl = cluster_timeline(SPOT_SPEC, events, fallback_start_ms=0, fallback_end_ms=0)
    assert (tl.start_ms, tl.end_ms, tl.nodes_lost, tl.max_workers_seen) == (0, 600_000, 1, 3)
    driver = [n for n in tl.nodes if n.is_driver]
    workers = [n for n in tl.nodes if not n.is_driver]
    assert len(driver) == 1 and driver[0].node_type_id == "m5.large" and not driver[0].spot
    assert len(workers) == 4  # three, one lost, one replacement
    # first_on_demand=2: driver and worker 1 on-demand, workers 2 and 3 spot, all up from creation;
    # a spot node is lost and its replacement falls back to on-demand.
    assert sorted((n.spot, n.start_ms, n.end_ms) for n in workers) == [
        (False, 0, 600_000), (False, 360_000, 600_000), (True, 0, 300_000), (True, 0, 600_000)]
    assert workers[0].ebs_volumes == [{"type": "gp2", "size_gb": 100, "count": 1}]  # GENERAL_PURPOSE_SSD: gp2


def test_timeline_autoscale_resizes_and_no_events_fallback() -> None:
    spec = {"node_type_id": "i3.xlarge", "autoscale": {"min_workers": 1, "max_workers": 4}}
    events = [{"timestamp": 10, "type": "CREATING"}, {"timestamp": 20, "type": "RUNNING"},
              {"timestamp": 30, "type": "RESIZING", "details": {"target_num_workers": 4}},
              {"timestamp": 40, "type": "UPSIZE_COMPLETED", "details": {"current_num_workers": 4}},
              {"timestamp": 70, "type": "RESIZING", "details": {"current_num_workers": 4, "target_num_workers": 3}},
              {"timestamp": 80, "type": "RESIZING", "details": {"current_num_workers": 3, "target_num_workers": 2}},
              {"timestamp": 100, "type": "TERMINATING"}]
    tl = cluster_timeline(spec, events, fallback_start_ms=0, fallback_end_ms=0)
    worker_ms = sum(n.end_ms - n.start_ms for n in tl.nodes if not n.is_driver)
    # 1 worker from creation, 4 from the RESIZING that asked for them (their instances are billed from
    # launch, not from UPSIZE_COMPLETED), released one at a time by autoscaling.
    assert worker_ms == 1 * 20 + 4 * 40 + 3 * 10 + 2 * 20 and tl.max_workers_seen == 4
    bare = cluster_timeline({"node_type_id": "x", "num_workers": 2}, [], fallback_start_ms=5, fallback_end_ms=15)
    assert [(n.is_driver, n.start_ms, n.end_ms) for n in bare.nodes] == [(True, 5, 15), (False, 5, 15), (False, 5, 15)]
    assert ebs_volumes({"num_workers": 1}) == []
