"""One workspace emulator per state directory (review 14).

A second `trimtab sandbox up` on the same state directory started silently on another port: it
failed the first one's live runs as interrupted, both fired the same schedules, and the one stopped
last saved its stale workspace.json (a job created on the first was lost). Now the second is
refused, naming the process that serves the directory, and the first keeps its state.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.workspace.api import start_workspace
from sandbox.workspace.state_lock import WorkspaceInUse
from tests.sandbox_ws.conftest import client
from tests.sandbox_ws.test_sandbox_ws_cli import interrupt, start

JOB = {"name": "kept", "tasks": [{"task_key": "t", "spark_python_task": {"python_file": "dbfs:/x.py"},
                                  "new_cluster": {"spark_version": "15.4.x-scala2.12",
                                                  "node_type_id": "i3.xlarge", "num_workers": 1}}]}


def _create_job(ws: Any) -> int:
    from databricks.sdk.service.jobs import Task

    return int(client(ws).jobs.create(name=JOB["name"], tasks=[Task.from_dict(t) for t in JOB["tasks"]]).job_id)


def test_a_second_emulator_on_one_state_dir_is_refused_until_the_first_stops(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_workspace(state, speed=1000)
    try:
        job_id = _create_job(first)
        with pytest.raises(WorkspaceInUse) as refused:
            start_workspace(state, speed=1000)
        assert f"(process {os.getpid()}) is serving the state directory {state}" in str(refused.value)
        # Another directory is not held.
        start_workspace(tmp_path / "other", speed=1000).stop()
    finally:
        first.stop()
    again = start_workspace(state, speed=1000)
    try:
        assert [j.job_id for j in client(again).jobs.list()] == [job_id]
    finally:
        again.stop()


def test_a_failed_start_releases_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            start_workspace(state, port=taken.getsockname()[1])
    start_workspace(state).stop()  # not refused as in use by the failed start


def test_sandbox_up_twice_on_one_state_dir_is_refused_and_the_first_keeps_its_job(tmp_path: Path) -> None:
    state = tmp_path / "sandbox"
    proc, lines = start(state, up_args=("--no-schedules", "--no-seed"))
    try:
        values = dict(line.split("=", 1) for line in lines[:2])
        job_id = _create_job(SimpleNamespace(host=values["DATABRICKS_HOST"], token=values["DATABRICKS_TOKEN"]))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "TRIMTAB_SANDBOX_"))}
        # A subprocess with a deadline: before the lock, the second one served (forever) on another port.
        second = subprocess.run([sys.executable, "-m", "server.cli.main", "sandbox", "up", "--state-dir", str(state),
                                 "--no-schedules", "--no-seed"], capture_output=True, text=True, env=env, timeout=30)
        assert (second.returncode, second.stdout) == (1, "")
        assert second.stderr.startswith(f"error: another workspace emulator (process {proc.pid}) is serving the "
                                        f"state directory {state}"), second.stderr
        assert "--state-dir" in second.stderr
    finally:
        code, _ = interrupt(proc)
    assert code == 0
    # The refused one saved nothing over the first: its job is there on the next start.
    again = start_workspace(state)
    try:
        assert [j.job_id for j in client(again).jobs.list()] == [job_id]
    finally:
        again.stop()


def test_python_m_sandbox_on_a_held_state_dir_exits_without_serving(tmp_path: Path) -> None:
    """`python -m sandbox` shares the lock (start_workspace): it stops at once, not serving."""
    state = tmp_path / "state"
    held = start_workspace(state)
    try:
        done = subprocess.run([sys.executable, "-m", "sandbox", "--state-dir", str(state)],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 1 and "DATABRICKS_HOST" not in done.stdout
        # One line naming the holder, not a traceback.
        assert done.stderr.startswith("python -m sandbox: ") and "another workspace emulator" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    finally:
        held.stop()
