"""The calibration benchmark's fitting, on runtimes the model itself produced (no datasets needed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchmarks.calibration import MAX_TASKS, Config, fit_workload, load, model_seconds, profile_for
from sandbox.sim.profiles import PROFILES


def test_profile_choice_by_job_name() -> None:
    assert profile_for("terasort") == "sort" and profile_for("spark_sort_huge") == "sort"
    assert profile_for("kmeans_16000mb") == "iterative_ml" and profile_for("pagerank") == "iterative_ml"
    assert profile_for("grep_large") == "io_bound" and profile_for("wordcount_small") == "memory_bound"
    assert profile_for("tpch") == "etl_join_aggregate"


def test_fit_recovers_a_workload_the_model_generated() -> None:
    truth = replace(PROFILES["sort"], max_tasks_per_stage=MAX_TASKS, input_local=True, oom_pressure=None).scaled(
        input_factor=0.4, cpu_factor=4.0, startup_s=30.0)
    shapes = [("c5.xlarge", 4, 8.0), ("m5.xlarge", 4, 16.0), ("r5.xlarge", 4, 32.0), ("m5.2xlarge", 8, 32.0)]
    configs = []
    for instance, vcpus, memory in shapes:
        for nodes in (2, 4, 8):
            shape = Config(instance, vcpus, memory, nodes, 1.0)
            configs.append(replace(shape, runtime_s=model_seconds(truth, shape)))
    fit = fit_workload("synthetic", "sort_generated", configs)
    assert fit.profile == "sort"
    assert fit.mdape < 0.05
    assert fit.rho > 0.95
    assert fit.naive_mdape > fit.mdape


def test_load_averages_successful_repetitions(tmp_path: Path) -> None:
    csv = tmp_path / "c3o.csv"
    csv.write_text(
        "dataset,workload,config_id,instance_type,vcpus,memory_gib,nodes,price_per_hour,runtime_s,ok,data_size_gb,rep\n"
        "c3o,sort_1mb,2xc4.2xlarge,c4.2xlarge,8.0,15.0,2,0.796,100.0,1,1,1\n"
        "c3o,sort_1mb,2xc4.2xlarge,c4.2xlarge,8.0,15.0,2,0.796,120.0,1,1,2\n"
        "c3o,sort_1mb,2xc4.2xlarge,c4.2xlarge,8.0,15.0,2,0.796,999.0,0,1,3\n")
    (config,) = load(csv, all_lumos=False)["sort_1mb"]
    assert config == Config("c4.2xlarge", 8, 15.0, 2, 110.0)
