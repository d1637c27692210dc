"""`sandbox up --spot-loss-rate` (TRIMTAB_SANDBOX_SPOT_LOSS_RATE): the emulator's spot reclaims per spot
node-hour, flag > environment > the simulator's default, refused when negative or not finite, and
reaching the simulated clusters of the workspace it serves."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient

from sandbox.workspace.config import load
from sandbox.workspace.seed import aws_cluster
from sandbox.workspace.serve import serve_until_stopped
from server.cli.main import main


def test_the_rate_is_read_from_flag_then_environment(tmp_path: Path) -> None:
    env = {"TRIMTAB_SANDBOX_STATE_DIR": str(tmp_path), "TRIMTAB_SANDBOX_SPOT_LOSS_RATE": "2.5"}
    assert load({}, env).sim_backend().spot_loss_rate == 2.5
    assert load({"spot_loss_rate": 0.0}, env).sim_backend().spot_loss_rate == 0.0
    assert load({}, {"TRIMTAB_SANDBOX_STATE_DIR": str(tmp_path)}).sim_backend().spot_loss_rate is None


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "often"])
def test_a_bad_rate_in_the_environment_is_named(value: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="^TRIMTAB_SANDBOX_SPOT_LOSS_RATE: "):
        load({}, {"TRIMTAB_SANDBOX_SPOT_LOSS_RATE": value, "TRIMTAB_SANDBOX_STATE_DIR": str(tmp_path)})


@pytest.mark.parametrize("value, words", [("-1", "--spot-loss-rate"), ("nan", "spot loss rate must be")])
def test_sandbox_up_refuses_a_bad_rate(value: str, words: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "up", "--state-dir", str(tmp_path / "sb"), "--spot-loss-rate", value, "--no-seed"])
    assert code == 2
    assert words in capsys.readouterr().err


def test_the_served_workspace_reclaims_at_the_rate_given(tmp_path: Path) -> None:
    # A rate so high every spot node goes at once: a spot driver (first_on_demand 0) takes the cluster down.
    config = load({"state_dir": tmp_path / "sb", "speed": 20000.0, "seed": False, "schedules": False,
                   "spot_loss_rate": 1e5}, {})
    ready: dict[str, Any] = {}
    up, stop = threading.Event(), threading.Event()
    server = threading.Thread(target=serve_until_stopped, args=(config,),
                              kwargs={"on_ready": lambda info: (ready.update(info), up.set()), "stop": stop})
    server.start()
    try:
        assert up.wait(60)
        w = WorkspaceClient(host=ready["host"], token=ready["token"])
        spec = aws_cluster("m5d.xlarge", 2, availability="SPOT")
        spec["aws_attributes"]["first_on_demand"] = 0
        job = w.api_client.do("POST", "/api/2.1/jobs/create", body={
            "name": "stormy", "tasks": [{"task_key": "main", "new_cluster": spec, "spark_python_task": {
                "python_file": "dbfs:/jobs/etl_join_aggregate.py",
                "parameters": ["--sandbox-profile=etl_join_aggregate"]}}]})
        run = w.jobs.run_now(job_id=job["job_id"]).result()
        assert run.state.result_state.value == "FAILED"
        cluster = w.clusters.get(run.tasks[0].cluster_instance.cluster_id)
        assert cluster.termination_reason.code.value == "SPOT_INSTANCE_TERMINATION"
    finally:
        stop.set()
        server.join(60)


def test_the_demo_gives_its_emulator_the_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from server.demo import _start_emulator

    with _start_emulator(tmp_path / "workspace", 100.0, 0, 3.0) as running:
        assert running.workspace.backend.spot_loss_rate == 3.0
    assert main(["demo", "--state-dir", str(tmp_path / "demo"), "--spot-loss-rate", "inf"]) == 2
    assert "--spot-loss-rate" in capsys.readouterr().err


def test_python_m_sandbox_takes_the_rate() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "sandbox", "--help"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    assert "--spot-loss-rate" in out and "TRIMTAB_SANDBOX_SPOT_LOSS_RATE" in out
    bad = subprocess.run([sys.executable, "-m", "sandbox", "--spot-loss-rate", "-1"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2 and "spot loss rate must be" in bad.stderr
