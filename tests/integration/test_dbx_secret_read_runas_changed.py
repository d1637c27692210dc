"""Detach keeps the READ a still-attached job needs when that job's run-as changed after its import.

Review finding: `release_secret_reads` judged who still needs READ on the agent token's scope from
the principal each project's record named at its import. A job handed over since (bob -> eve) still
read "bob" there, so detaching another project that runs as eve took eve's READ, and the handed-over
job, still attached, failed at cluster start (its owner eve could not read the token). Now the
current run-as of every attached job is read too (added to the records' principals), and a job that
cannot be read keeps every grant. Through the real SDK against the emulator, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING
from tests.integration.test_dbx_secret_read_release import EVE, _acls, _detach, _import, _run_as

BOB = "bob@corp.example"


def _run(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> str | None:
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return gateway.get_run(run_id)["state"].get("result_state")


def test_detach_keeps_the_read_of_a_job_handed_over_since_its_import(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], EVE)
    (first,) = _import(store, secrets, job_ids[0])       # eve: READ granted by Trimtab
    _run_as(gateway, job_ids[1], BOB)
    second = _import(store, secrets, job_ids[1])         # bob: READ granted by Trimtab
    _run_as(gateway, job_ids[1], EVE)                    # bob leaves: his job is handed to eve
    assert _run(emulator, gateway, job_ids[1]) == "SUCCESS"
    _detach(store, secrets, first)
    # The second project is still attached and its job runs as eve: her READ stays, and so does bob's
    # (the record's: a run started before the hand-over may still be going).
    assert all(not store.projects.get(int(p.id or 0)).detached for p in second)
    assert _acls(emulator).get(EVE) == "READ" and _acls(emulator).get(BOB) == "READ"
    assert _run(emulator, gateway, job_ids[1]) == "SUCCESS"


def test_detach_keeps_every_read_while_an_attached_job_cannot_be_read(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], caplog: pytest.LogCaptureFixture) -> None:
    _run_as(gateway, job_ids[0], EVE)
    (first,) = _import(store, secrets, job_ids[0])
    _run_as(gateway, job_ids[1], BOB)
    _import(store, secrets, job_ids[1])
    # The token may no longer view the second job: whom it runs as now is unknown (eve, for all we know).
    fault = emulator.inject_fault("GET", "jobs/get", status=403, error_code="PERMISSION_DENIED", job_id=job_ids[1])
    with caplog.at_level(logging.WARNING, logger="server.services.agent_install"):
        _detach(store, secrets, first)
    assert emulator.fault_hits
    assert _acls(emulator).get(EVE) == "READ"
    assert store.projects.get(int(first.id or 0)).detached  # the detach stands
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert f"job {job_ids[1]}" in warned and f"databricks secrets delete-acl {WIRING.secret_scope}" in warned
    # Readable again: detaching once more (as after a failed release) takes eve's READ, bob's stays.
    emulator.clear_fault(fault)
    _detach(store, secrets, first)
    assert EVE not in _acls(emulator) and _acls(emulator).get(BOB) == "READ"
    assert _run(emulator, gateway, job_ids[1]) == "SUCCESS"


def test_detaching_the_last_project_takes_the_read_of_a_job_handed_over(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], EVE)
    (first,) = _import(store, secrets, job_ids[0])
    _run_as(gateway, job_ids[1], BOB)
    second = _import(store, secrets, job_ids[1])
    _run_as(gateway, job_ids[1], EVE)
    _detach(store, secrets, first)                       # eve's READ kept: the second job runs as her
    for project in second:
        _detach(store, secrets, project)                 # nothing attached any more: both READs go
    assert EVE not in _acls(emulator) and BOB not in _acls(emulator)


def test_a_reimport_after_a_hand_over_grants_the_new_owner_and_detach_takes_both(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    _run_as(gateway, job_ids[0], BOB)
    _import(store, secrets, job_ids[0])
    _run_as(gateway, job_ids[0], EVE)                    # eve holds no READ: the job's runs fail...
    assert _run(emulator, gateway, job_ids[0]) == "FAILED"
    (project,) = _import(store, secrets, job_ids[0])     # ...until an import grants it
    assert _acls(emulator).get(EVE) == "READ"
    assert _run(emulator, gateway, job_ids[0]) == "SUCCESS"
    # The record now names eve; the READ Trimtab gave bob is still Trimtab's to take back.
    _detach(store, secrets, project)
    assert EVE not in _acls(emulator) and BOB not in _acls(emulator)
