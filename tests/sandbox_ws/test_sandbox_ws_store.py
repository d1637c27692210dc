"""Secrets and DBFS endpoints, and state surviving a restart."""

from __future__ import annotations

import base64
import io
import json
import os

import pytest
import requests
from databricks.sdk.errors import NotFound, ResourceAlreadyExists, ResourceDoesNotExist
from databricks.sdk.service.jobs import RunLifeCycleState

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import StepClock
from tests.sandbox_ws.test_sandbox_ws_runs import finish, single_job


def test_secret_scopes_and_secrets(ws: RunningWorkspace) -> None:
    w = client(ws)
    w.secrets.create_scope("trimtab")
    with pytest.raises(ResourceAlreadyExists):
        w.secrets.create_scope("trimtab")
    w.secrets.put_secret("trimtab", "agent-token", string_value="v1")
    w.secrets.put_secret("trimtab", "agent-token", string_value="v2")  # overwrite is allowed
    assert [s.name for s in w.secrets.list_scopes()] == ["trimtab"]
    assert [s.key for s in w.secrets.list_secrets("trimtab")] == ["agent-token"]
    with pytest.raises(ResourceDoesNotExist):
        w.secrets.put_secret("nope", "k", string_value="v")
    with pytest.raises(ResourceDoesNotExist):
        list(w.secrets.list_secrets("nope"))
    # The value never comes back through the API; the emulator resolves it at cluster start.
    raw = w.api_client.do("GET", "/api/2.0/secrets/list", query={"scope": "trimtab"})
    assert "v2" not in json.dumps(raw)
    w.secrets.delete_secret("trimtab", "agent-token")
    assert list(w.secrets.list_secrets("trimtab")) == []
    w.secrets.delete_scope("trimtab")
    assert list(w.secrets.list_scopes()) == []


def test_dbfs_status_list_and_ranged_read(ws: RunningWorkspace) -> None:
    w = client(ws)
    payload = bytes(range(256)) * 20
    w.api_client.do("POST", "/api/2.0/dbfs/put", body={
        "path": "/logs/a/blob.bin", "contents": base64.b64encode(payload).decode(),
        "overwrite": True})
    status = w.dbfs.get_status("/logs/a/blob.bin")
    assert status.file_size == len(payload) and not status.is_dir
    assert [(f.path, f.is_dir) for f in w.dbfs.list("/logs")] == [("/logs/a", True)]
    chunk = w.dbfs.read("/logs/a/blob.bin", offset=100, length=50)
    assert chunk.bytes_read == 50 and base64.b64decode(chunk.data) == payload[100:150]
    assert w.dbfs.download("dbfs:/logs/a/blob.bin").read() == payload
    with pytest.raises(NotFound):
        w.dbfs.get_status("/logs/missing")
    big = os.urandom(3 * 1024 * 1024 + 17)  # several add-block calls of 1 MiB
    w.dbfs.upload("/logs/big.bin", io.BytesIO(big), overwrite=True)
    assert w.dbfs.get_status("/logs/big.bin").file_size == len(big)
    assert w.dbfs.download("/logs/big.bin").read() == big
    reply = requests.get(ws.host + "/api/2.0/dbfs/get-status", params={"path": "/../etc"},
                         headers={"Authorization": f"Bearer {ws.token}"}, timeout=5)
    assert reply.status_code == 400  # no escaping the DBFS root


def test_state_survives_a_restart(sandbox: Sandbox) -> None:
    first = sandbox.start()
    w = client(first)
    job_id = single_job(w, "sort")
    run = finish(first, w, job_id)
    cid = run.tasks[0].cluster_instance.cluster_id
    w.secrets.create_scope("s")
    extra = first.add_token()
    first.revoke_token(extra)
    token, events = first.token, [e.type for e in w.clusters.events(cid)]
    first.stop()

    second = sandbox.start()
    assert second.token == token
    w = client(second)
    assert w.jobs.get(job_id).settings.name == "job-sort"
    again = w.jobs.get_run(run.run_id)
    assert again.state.result_state == run.state.result_state
    assert again.end_time == run.end_time
    assert [e.type for e in w.clusters.events(cid)] == events
    assert [s.name for s in w.secrets.list_scopes()] == ["s"]
    reply = requests.get(second.host + "/api/2.2/jobs/list", timeout=5,
                         headers={"Authorization": f"Bearer {extra}"})
    assert reply.status_code == 403  # revoked stays revoked
    # Counters continue: no id is handed out twice, and time does not go backwards.
    assert single_job(w, "io_bound") == job_id + 1
    later = finish(second, w, job_id)
    assert later.run_id > run.run_id and later.number_in_job == 2
    assert later.start_time >= run.end_time
    assert sandbox.backend.simulated[-1]["day"] == 2


def test_run_interrupted_by_a_stop_fails_after_restart(sandbox: Sandbox,
                                                       step_clock: StepClock) -> None:
    first = sandbox.start(clock=step_clock)
    w = client(first)
    run_id = w.jobs.run_now(single_job(w)).run_id
    step_clock.advance(fakes.RUNNING_AT + 5)
    step_clock.settle()
    assert w.jobs.get_run(run_id).state.life_cycle_state == RunLifeCycleState.RUNNING
    first.stop()
    w = client(sandbox.start())
    run = w.jobs.get_run(run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert "stopped" in run.state.state_message
    assert w.clusters.get(run.tasks[0].cluster_instance.cluster_id).state.value == "TERMINATED"


def test_state_file_is_json_written_atomically(sandbox: Sandbox) -> None:
    ws = sandbox.start()
    single_job(client(ws))
    files = sorted(p.name for p in sandbox.state_dir.iterdir() if p.is_file())
    assert files == ["workspace.json", "workspace.json.lock"]  # no temporary file left behind (the lock stays)
    data = json.loads((sandbox.state_dir / "workspace.json").read_text())
    assert list(data["jobs"]) == ["1"] and data["counters"]["job_id"] == 1
