"""`trimtab demo` takes where its clusters install the agent from as `trimtab server start` does.

Import's error where it has no wheel to upload (an installed server without its source tree, before
it re-packed its own) says: set TRIMTAB_AGENT_WHEEL_LOCATION. The demo made its own server settings
and never read it, so following the advice changed nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.workspace import start_workspace
from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.demo import DEMO_JOBS, STATE_FILE, DemoConfig, run_demo
from server.onboard import AGENT_WHEEL_ENV
from server.spec import find_cluster_spec

WHEEL = "/Workspace/Shared/trimtab/trimtab-0.1.0-py3-none-any.whl"


def test_the_demo_onboards_its_jobs_with_the_agent_wheel_location_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRIMTAB_AGENT_WHEEL_LOCATION", WHEEL)
    run_demo(DemoConfig(state_dir=tmp_path, runs=0, jobs=DEMO_JOBS[:1]))
    assert f"install the agent from {WHEEL} (TRIMTAB_AGENT_WHEEL_LOCATION)" in capsys.readouterr().err
    job_id = json.loads((tmp_path / STATE_FILE).read_text())["job_ids"][DEMO_JOBS[0].name]
    emulator = start_workspace(tmp_path / "workspace")
    try:
        gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token), clock=SystemClock())
        spec = find_cluster_spec(gateway.get_job(job_id)["settings"], "main") or {}
    finally:
        emulator.stop()
    assert spec["spark_env_vars"][AGENT_WHEEL_ENV] == WHEEL  # not the wheel import uploads beside the script
    assert spec["init_scripts"][-1] == {"workspace": {"destination": "/Shared/trimtab/trimtab-init.sh"}}
