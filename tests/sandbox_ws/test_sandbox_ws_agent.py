"""The repository's init script and the real `trimtab-agent` on a simulated cluster.

Nothing is faked: the real simulator writes the event log, the emulator runs
`init_scripts/trimtab-init.sh` with the Databricks environment, the script starts the
installed agent, and TERMINATING stops it with SIGTERM. The Trimtab server is not running
(port 9 refuses), so the agent spools what it read.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from databricks.sdk.service.jobs import RunResultState

from sandbox.workspace import start_workspace
from tests.sandbox_ws.conftest import client

INIT_SCRIPT = Path(__file__).resolve().parents[2] / "init_scripts" / "trimtab-init.sh"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_init_script_starts_the_agent_and_termination_stops_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sandbox.workspace.player")
    # Speed 100: a few wall seconds between the init scripts and TERMINATING, so the agent
    # is up and following before it is stopped, even on a busy machine.
    with start_workspace(tmp_path / "ws", speed=100.0) as ws:
        w = client(ws)
        w.secrets.create_scope("trimtab")
        w.secrets.put_secret("trimtab", "agent-token", string_value="tok-123")
        job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": "with-agent", "tags": {"sandbox:profile": "sort"},
            "tasks": [{"task_key": "t", "new_cluster": {
                "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge",
                "num_workers": 2,
                "spark_env_vars": {"TRIMTAB_SERVER": "127.0.0.1:9",
                                   "TRIMTAB_TOKEN": "{{secrets/trimtab/agent-token}}",
                                   "TRIMTAB_AGENT_SHUTDOWN_FLUSH_S": "1"},
                "init_scripts": [{"file": {"destination": str(INIT_SCRIPT)}}]}}]})["job_id"]
        run_id = w.jobs.run_now(job_id).run_id
        assert ws.wait_idle(120)
        run = w.jobs.get_run(run_id)
        assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
        cid = run.tasks[0].cluster_instance.cluster_id
        home = ws.workspace.driver_root(cid) / "databricks" / "trimtab"

        assert "agent started" in (home / "init.log").read_text()
        pid = int((home / "agent.pid").read_text())
        assert not _running(pid)
        stops = [r.getMessage() for r in caplog.records if cid in r.getMessage()]
        assert stops == [f"cluster {cid}: agent terminated"]  # SIGTERM was enough
        eventlogs = ws.workspace.driver_root(cid) / "databricks" / "driver" / "eventlogs"
        assert str(eventlogs) in (home / "agent.log").read_text()
        assert os.listdir(eventlogs) == [run.tasks[0].cluster_instance.spark_context_id]
