"""`trimtab sandbox up --state-dir sbx`: a relative state directory works like an absolute one."""

from __future__ import annotations

from pathlib import Path

import pytest
from databricks.sdk.service.jobs import RunResultState
from databricks.sdk.service.workspace import ImportFormat

from sandbox.workspace import start_workspace
from sandbox.workspace.config import load
from tests.sandbox_ws.conftest import client


def test_a_relative_state_dir_runs_workspace_init_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Review: with a relative state dir every simulated init script failed (exit 127: the clusters run
    # them from their own working directories), so every run of the sandbox was 'failed'.
    monkeypatch.chdir(tmp_path)
    assert load({"state_dir": Path("sbx")}, {}).state_dir == tmp_path / "sbx"
    marker = tmp_path / "marker"
    with start_workspace(Path("sbx"), speed=2000.0) as ws:
        w = client(ws)
        w.workspace.mkdirs("/Shared/trimtab")
        w.workspace.upload("/Shared/trimtab/init.sh", f'echo "$DB_IS_DRIVER" >> {marker}\n'.encode(),
                           format=ImportFormat.AUTO, overwrite=True)
        job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": "ws-init", "tasks": [{"task_key": "t", "new_cluster": {
                "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 1,
                "init_scripts": [{"workspace": {"destination": "/Shared/trimtab/init.sh"}}]}}]},
        )["job_id"]
        run_id = w.jobs.run_now(job_id).run_id
        assert ws.wait_idle(60)
        run = w.jobs.get_run(run_id)
        assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    assert marker.read_text().split() == ["TRUE", "FALSE"]
