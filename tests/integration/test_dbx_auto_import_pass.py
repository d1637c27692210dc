"""One auto-import pass over many new jobs: what is the workspace's is done once, and the pass has a
time budget.

Review finding (scale): each new job was its own `import_jobs`, each listing the secret scope
(`prepare_agent`) and reading the run-as principal's secret ACL again: 100 new jobs made 704
Databricks calls, 200 of them the same two. And a workspace with thousands of new jobs held the
collector's only thread for as long as they took. Real parts: the sandbox workspace emulator over
HTTP, the real gateway and `import_jobs`, both store engines; the gateway methods counted are the
real ones, wrapped.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest

from sandbox.workspace.seed import aws_cluster
from server.clock import FakeClock
from server.collect.discovery import AutoImport
from server.databricks import DatabricksGateway
from server.domain import ImportLimits, ImportResult, Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store

INTERVAL_S = 900.0


def _job(name: str) -> dict[str, Any]:
    return {"name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": aws_cluster("m5d.xlarge", 2)}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


@pytest.fixture
def auto(store: Store, aws_workspace: str, integration_clock: FakeClock) -> Workspace:
    """Workspace "sbx" (no job yet) with auto-import on, the test wiring and a fake clock."""
    return workspaces.update_workspace(store, aws_workspace, auto_import=True)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often the pass called the gateway's per-workspace reads (the real calls, counted)."""
    counted: Counter[str] = Counter()
    for name in ("secret_written_ms", "secret_acl", "update_job"):
        real = getattr(DatabricksGateway, name)

        def wrapped(self: DatabricksGateway, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            counted[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(DatabricksGateway, name, wrapped)
    return counted


def _discovery(store: Store, secrets: SecretBox, clock: FakeClock, passes: list[list[int]],
               **kwargs: Any) -> AutoImport:
    def import_jobs(name: str, ids: list[int], *, limits: ImportLimits) -> ImportResult:
        passes.append(list(ids))
        return workspaces.import_jobs(store, secrets, name, ids, limits=limits)

    return AutoImport(store, import_jobs, clock=clock, interval_s=INTERVAL_S, **kwargs)


def test_one_pass_reads_the_secret_scope_and_the_run_as_acl_once_for_all_its_jobs(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, auto: Workspace,
        integration_clock: FakeClock, calls: Counter[str]) -> None:
    new = [gateway.create_job(_job(f"etl-{n}")) for n in range(4)]
    passes: list[list[int]] = []
    result = _discovery(store, secrets, integration_clock, passes).run(auto, workspaces.gateway_for(store, secrets, auto))
    assert sorted(p.project.job_id for p in result.projects) == sorted(new)
    # Once for the pass, not once a job (4 each before): one run-as principal for every job here.
    assert (calls["secret_written_ms"], calls["secret_acl"], calls["update_job"]) == (1, 1, 4)
    assert passes == [sorted(new)]  # one import for the pass


def test_a_pass_stops_starting_jobs_at_its_budget_and_the_next_pass_imports_the_rest(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, auto: Workspace,
        integration_clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    new = sorted(gateway.create_job(_job(f"etl-{n}")) for n in range(5))
    real_update = DatabricksGateway.update_job

    def slow_update(self: DatabricksGateway, job_id: int, new_settings: dict[str, Any]) -> None:
        integration_clock.advance(20.0)  # a slow workspace: each job's update takes 20 s
        real_update(self, job_id, new_settings)

    monkeypatch.setattr(DatabricksGateway, "update_job", slow_update)
    caplog.set_level(logging.INFO, logger="server.collect.discovery")
    passes: list[list[int]] = []
    discovery = _discovery(store, secrets, integration_clock, passes, budget_s=50.0)
    imported: list[int] = []
    for _ in range(2):
        result = discovery.run(auto, workspaces.gateway_for(store, secrets, auto))
        imported.append(len(result.projects))
        integration_clock.advance(INTERVAL_S)
    # Started at 0, 20 and 40 s; the fourth would start at 60 s, past the 50 s budget.
    assert imported == [3, 2]
    assert passes == [new, new[3:]]  # the next pass takes up the jobs not reached, nothing else
    assert sorted(p.job_id for p in store.projects.list("sbx")) == new
    said = [r.getMessage() for r in caplog.records if "left" in r.getMessage()]
    assert said == ["workspace sbx: auto-import stopped after 50 s with 2 new job(s) left; the next pass "
                    "(in 900 s) imports them"]


def test_one_jobs_failure_costs_the_pass_no_other_job_and_is_not_tried_every_pass(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, auto: Workspace,
        integration_clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    first, broken, last = sorted(gateway.create_job(_job(f"etl-{n}")) for n in range(3))
    real_latest = DatabricksGateway.latest_run_id

    def latest_run_id(self: DatabricksGateway, job_id: int) -> int | None:
        if job_id == broken:
            raise RuntimeError("a bug reading this job's runs")
        return real_latest(self, job_id)

    monkeypatch.setattr(DatabricksGateway, "latest_run_id", latest_run_id)
    passes: list[list[int]] = []
    discovery = _discovery(store, secrets, integration_clock, passes)
    with caplog.at_level(logging.WARNING, logger="server.collect.discovery"):
        result = discovery.run(auto, workspaces.gateway_for(store, secrets, auto))
    assert sorted(p.project.job_id for p in result.projects) == [first, last]
    assert result.skipped == ()  # a failure is logged, not reported as a skip
    assert any(f"auto-import of job {broken} failed" in r.getMessage() and "a bug" in r.getMessage()
               for r in caplog.records)
    integration_clock.advance(INTERVAL_S)
    discovery.run(auto, workspaces.gateway_for(store, secrets, auto))
    assert passes == [[first, broken, last]]  # unchanged since it failed: not judged again
