"""A job handed over after its import (bob -> carol) keeps running: the collector grants its new run-as READ.

Finding: import gives a job's run-as principal READ on the agent token's scope, but nothing looked at
the run-as again. A job handed over later (its ``run_as`` changed in the workspace) failed every run
at cluster start ("the cluster's owner carol has no READ permission on secret scope trimtab") until
someone imported it again. Now each poll compares every attached job's run-as (the jobs/list it reads
anyway, or jobs/get at a full read) with the project's record and, on a difference, grants READ and
records it as import does, so detach takes it back. A refused grant is logged with the command a
scope manager can run, and `workspace show`'s last error says it. Through the real SDK against the
emulator, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Project, Workspace
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, priced_collector
from tests.integration.test_dbx_secret_read_release import _acls, _detach, _import, _run_as

BOB = "bob@corp.example"
CAROL = "carol@corp.example"
SP = "6f1d2c3b-0a9e-4f7d-8b21-5c4e3d2a1f00"  # a service principal's application id


def _run(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> str | None:
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return gateway.get_run(run_id)["state"].get("result_state")


def _imported_as_bob(store: Store, secrets: SecretBox, gateway: DatabricksGateway, job_id: int) -> list[Project]:
    _run_as(gateway, job_id, BOB)
    return _import(store, secrets, job_id)


@pytest.mark.parametrize("first_poll", [False, True], ids=["listing", "full-read"])
def test_a_job_handed_over_after_its_import_runs_after_one_poll(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], caplog: pytest.LogCaptureFixture, first_poll: bool) -> None:
    projects = _imported_as_bob(store, secrets, gateway, job_ids[0])
    collector = priced_collector(store, secrets)
    if not first_poll:
        collector.poll_once()  # read in full once: later polls look the job over in jobs/list
    _run_as(gateway, job_ids[0], CAROL)               # bob leaves: the job is handed to carol
    # Looked over, the job is not read with jobs/get: the hand-over is seen in jobs/list alone.
    fault = None if first_poll else emulator.inject_fault("GET", "jobs/get", job_id=job_ids[0])
    with caplog.at_level(logging.INFO, logger="server.collect.collector"):
        collector.poll_once()
        collector.poll_once()                         # said once, granted once
    assert not emulator.fault_hits
    if fault is not None:
        emulator.clear_fault(fault)
    assert _acls(emulator).get(CAROL) == "READ"
    assert _run(emulator, gateway, job_ids[0]) == "SUCCESS"
    said = [r.getMessage() for r in caplog.records if CAROL in r.getMessage()]
    assert len(said) == 1 and f"job {job_ids[0]}" in said[0] and "now runs as" in said[0]
    record = store.projects.get(int(projects[0].id or 0)).state["secret_reader"]
    assert record["principal"] == CAROL and record["granted"] and record["earlier"] == [BOB]
    # Detach takes back both READs Trimtab gave: carol's (the collector's) and bob's (the import's).
    for project in projects:
        _detach(store, secrets, project)
    assert CAROL not in _acls(emulator) and BOB not in _acls(emulator)


def test_a_job_handed_to_a_service_principal_runs_after_one_poll(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    projects = _imported_as_bob(store, secrets, gateway, job_ids[0])
    collector = priced_collector(store, secrets)
    collector.poll_once()
    gateway.update_job(job_ids[0], {"run_as": {"service_principal_name": SP}})
    collector.poll_once()
    assert _acls(emulator).get(SP) == "READ"
    assert _run(emulator, gateway, job_ids[0]) == "SUCCESS"
    for project in projects:
        _detach(store, secrets, project)
    assert SP not in _acls(emulator) and BOB not in _acls(emulator)


def test_a_read_someone_else_gave_the_new_owner_is_never_taken(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    projects = _imported_as_bob(store, secrets, gateway, job_ids[0])
    collector = priced_collector(store, secrets)
    collector.poll_once()
    gateway.put_secret_acl(WIRING.secret_scope, CAROL, "READ")  # an admin's, before the hand-over
    _run_as(gateway, job_ids[0], CAROL)
    collector.poll_once()
    assert _run(emulator, gateway, job_ids[0]) == "SUCCESS"
    for project in projects:
        _detach(store, secrets, project)
    assert _acls(emulator).get(CAROL) == "READ" and BOB not in _acls(emulator)


def test_a_refused_grant_is_said_with_the_command_and_shown_on_the_workspace(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], caplog: pytest.LogCaptureFixture) -> None:
    _imported_as_bob(store, secrets, gateway, job_ids[0])
    collector = priced_collector(store, secrets)
    collector.poll_once()
    _run_as(gateway, job_ids[0], CAROL)
    fault = emulator.inject_fault("POST", "secrets/acls/put", status=403, error_code="PERMISSION_DENIED")
    with caplog.at_level(logging.WARNING, logger="server.collect.collector"):
        collector.poll_once()
    command = f"databricks secrets put-acl {WIRING.secret_scope} {CAROL} READ"
    assert any(command in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    shown = store.workspaces.get("sbx")
    assert shown.status == "ok" and command in shown.last_error and f"job {job_ids[0]}" in shown.last_error
    # Granted at a later poll once Trimtab may: the note goes, and the job runs.
    emulator.clear_fault(fault)
    collector.poll_once()
    assert _acls(emulator).get(CAROL) == "READ"
    assert command not in store.workspaces.get("sbx").last_error
    assert _run(emulator, gateway, job_ids[0]) == "SUCCESS"
