"""Trimtab's own init script failing its clusters shows in the workspace's health (`trimtab workspace
list`/``show``, over the real gRPC server), with the script's path and the fix, and clears once a run
gets past it again (emulator + databricks-sdk; SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

FAILING_INIT = b"#!/bin/bash\necho 'no such package' >&2\nexit 1\n"


def test_trimtabs_failing_init_script_is_in_the_workspace_health_until_a_run_gets_past_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], trimtab: Callable[..., tuple[int, str, str]]) -> None:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=WIRING).projects
    project = imported.project
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    gateway.put_dbfs_file("/trimtab/test-init.sh", FAILING_INIT)
    gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    (failed,) = collector.poll_once()
    assert "launch_failed" in failed.anomalies

    ws = store.workspaces.get("sbx")
    assert ws.status == "ok"
    assert ws.last_error == (f"Trimtab's init script dbfs:/trimtab/test-init.sh fails clusters at start: the newest "
                             f"run of {project.name} (job {project.job_id}) failed on it; `trimtab workspace import "
                             "sbx` uploads it again")
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert code == 0
    assert f"error:       {ws.last_error}" in out.splitlines()
    code, _, err = trimtab("workspace", "list")
    assert code == 0 and "workspace(s) sbx: some jobs are not collected or cannot start" in err
    # A restarted server's first poll (nothing new to collect) still says it.
    restarted = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    assert restarted.poll_once() == []
    assert store.workspaces.get("sbx").last_error == ws.last_error

    # Put back (what `workspace import` does): the next run gets past it, and the note goes.
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    gateway.run_now(job_ids[0])
    assert emulator.wait_idle(60)
    (ok,) = collector.poll_once()
    assert ok.outcome == "succeeded"
    assert store.workspaces.get("sbx").last_error == ""
    code, _, err = trimtab("workspace", "list")
    assert code == 0 and "some jobs are not collected" not in err
