"""`trimtab project show` says when its project's runs are not being collected (review: s1_token.py,
s2_poll.py): with the workspace's token revoked (the workspace in ``error``) or one job's own calls
answering 500 ("job 1 (nightly-orders) not collected", said only by `workspace show`), project show
printed its figures as if they were current. Now a "collection" line says whose trouble it is, since
when, and the error; --json and the gRPC Project message carry it (`collection_problem`). A real
server, the workspace emulator over HTTP (its fault injection), the real collector on a fake clock.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect import Collector
from server.databricks import DatabricksGateway
from server.domain import Project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import etl_job
from tests.integration.test_orphan_cause_shown import SPEC, fields

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: what is checked is what the CLI says of the collector's records."""
    return sqlite_store


@pytest.fixture
def nightly(trimtab: Cli, store: Store, gateway: DatabricksGateway, cli_workspace: str) -> Project:
    job_id = gateway.create_job(etl_job(copy.deepcopy(SPEC), name="nightly-orders"))
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0, err
    (project,) = store.projects.list()
    return project


@pytest.fixture
def collector(store: Store, server_key: bytes, integration_clock: FakeClock) -> Collector:
    """The collector on the fake clock the gateways' retries wait on: a 500's retries cost no real time."""
    secrets = SecretBox(server_key)
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=integration_clock,
                     poll_interval_s=60.0)


def test_a_job_failing_on_its_own_is_said_by_project_show(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, nightly: Project, collector: Collector,
        integration_clock: FakeClock) -> None:
    code, out, _ = trimtab("project", "show", str(nightly.id))
    assert code == 0 and "collection" not in fields(out)
    emulator.inject_fault("GET", "jobs/get", job_id=nightly.job_id)
    collector.poll_once()
    (failing,) = store.workspaces.failing_jobs("sbx").values()  # the collector's own record of it
    code, out, err = trimtab("project", "show", str(nightly.id))
    line = fields(out)["collection"]
    assert code == 0, err
    assert line.startswith("failing since 20") and "(1 try in a row): this job's calls fail while the workspace " \
        "answers: " in line and failing.error in line and "`trimtab workspace show sbx`" in line
    code, out, _ = trimtab("--json", "project", "show", str(nightly.id))
    problem = json.loads(out)["collection_problem"]
    assert problem == {"scope": "job", "status": "failing", "message": failing.error,
                       "since_ms": failing.since_ms, "failures": 1}

    emulator.clear_fault()
    integration_clock.advance(3600)
    collector.poll_once()  # it answers again: the line goes
    code, out, _ = trimtab("project", "show", str(nightly.id))
    assert code == 0 and "collection" not in fields(out)


def test_a_workspace_whose_token_is_refused_is_said_by_project_show(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, nightly: Project, collector: Collector) -> None:
    collector.poll_once()  # a poll that worked: what "since" is
    emulator.revoke_token(emulator.token)
    collector.poll_once()
    assert store.workspaces.get("sbx").status == "error"
    code, out, err = trimtab("project", "show", str(nightly.id))
    line = fields(out)["collection"]
    assert code == 0, err
    assert line.startswith("failing: workspace sbx has status error (its last poll that worked: 20")
    assert "refused the token" in line and "`trimtab workspace show sbx` says what to do" in line
    code, out, _ = trimtab("--json", "project", "show", str(nightly.id))
    problem = json.loads(out)["collection_problem"]
    polled = store.workspaces.polled_ok_at("sbx")
    assert polled is not None
    assert (problem["scope"], problem["status"], problem["since_ms"]) == ("workspace", "error", polled)
    assert "refused the token" in problem["message"]
