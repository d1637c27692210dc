"""Two Trimtab servers importing one Databricks workspace (review 13): a staging server beside
production, each with its own database. Before, the second server's import took the first one's
job in silence: it rewrote the job's TRIMTAB_SERVER and the workspace's agent-token secret, both
servers then recorded the job's runs, and every agent still pointed at the first server was refused
(its token was no longer the secret's). Now a job wired to another server is skipped naming it, a
token secret this database never wrote is not overwritten, and `--take-over` (``take_over``) does
both on purpose. The emulator through the real databricks-sdk gateway, real stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Recommendation, Run
from server.errors import FailedPrecondition, InvalidArgument
from server.onboard import SERVER_ENV
from server.plan.planner import edit_hold
from server.services import workspaces
from server.services.projects import update_settings
from server.services.recommendations import detach_project
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store, open_store
from tests.conftest import migrated_sqlite_file
from tests.integration.conftest import WIRING

STAGING = dataclasses.replace(WIRING, server_address="127.0.0.1:50998")


@pytest.fixture
def staging(tmp_path: Path, sqlite_template: Path, emulator: RunningWorkspace) -> Iterator[tuple[Store, SecretBox]]:
    """The second server's own database, with the same workspace added under another name."""
    store = open_store(migrated_sqlite_file(sqlite_template, tmp_path / "staging.db"))
    secrets = SecretBox(Fernet.generate_key())
    workspaces.add_workspace(store, secrets, "stg", emulator.host, emulator.token, "aws")
    try:
        yield store, secrets
    finally:
        store.close()


def _env(gateway: DatabricksGateway, job_id: int) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert spec is not None
    return dict(spec.get("spark_env_vars") or {})


def test_a_job_wired_to_another_server_is_skipped_naming_it(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int], gateway: DatabricksGateway,
        staging: tuple[Store, SecretBox], emulator: RunningWorkspace) -> None:
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    assert _env(gateway, job_ids[0])[SERVER_ENV] == WIRING.server_address
    other, other_secrets = staging

    result = workspaces.import_jobs(other, other_secrets, "stg", [job_ids[0]], wiring=STAGING)
    assert result.projects == ()
    (skipped,) = result.skipped
    assert skipped.job_id == job_ids[0]
    assert WIRING.server_address in skipped.reason and "--take-over" in skipped.reason, skipped.reason
    assert _env(gateway, job_ids[0])[SERVER_ENV] == WIRING.server_address  # not rewired
    assert other.projects.list() == []

    # Taken over on purpose: the job now streams to the second server.
    taken = workspaces.import_jobs(other, other_secrets, "stg", [job_ids[0]], wiring=STAGING, take_over=True)
    assert [p.project.job_id for p in taken.projects] == [job_ids[0]]
    assert _env(gateway, job_ids[0])[SERVER_ENV] == STAGING.server_address

    # The first server sees it at its next poll: the project stops (orphaned, saying how to take it
    # back) instead of rebasing on "an edit" and planning and applying beside the other server.
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    gateway.run_now(job_ids[0])
    assert emulator.wait_idle(120)
    assert collector.poll_once() == []
    (mine,) = store.projects.list("sbx")
    assert mine.orphaned and mine.pending_apply is None
    why = mine.state["orphaned_reason"]
    assert f"another Trimtab server at {STAGING.server_address}" in why and "--take-over" in why, why

    # Taken back the same way: the project is attached again and a new token of this database goes
    # into the secret (the one there is the other server's, though this database's own is live).
    tokens = len(store.tokens.list())
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING, take_over=True)
    (mine,) = store.projects.list("sbx")
    assert not mine.orphaned and _env(gateway, job_ids[0])[SERVER_ENV] == WIRING.server_address
    assert len(store.tokens.list()) == tokens + 1


def test_a_token_secret_this_database_never_wrote_is_not_overwritten(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int], gateway: DatabricksGateway,
        staging: tuple[Store, SecretBox]) -> None:
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    other, other_secrets = staging
    before = gateway.get_job(job_ids[1])["settings"]

    # A job no server manages yet: importing it would write this server's token into the secret
    # every agent of the workspace reads, and the first server's agents would be refused.
    with pytest.raises(FailedPrecondition, match=r"secret trimtab/agent-token .*never made.*--take-over"):
        workspaces.import_jobs(other, other_secrets, "stg", [job_ids[1]], wiring=STAGING)
    assert gateway.get_job(job_ids[1])["settings"] == before
    assert other.projects.list() == [] and not [t for t in other.tokens.list() if t.scope == "agent"]

    workspaces.import_jobs(other, other_secrets, "stg", [job_ids[1]], wiring=STAGING, take_over=True)
    assert [t.name for t in other.tokens.list() if t.scope == "agent"] == ["agent-stg"]


def test_a_second_server_with_a_secret_of_its_own_runs_beside_the_first(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int], gateway: DatabricksGateway,
        staging: tuple[Store, SecretBox]) -> None:
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    other, other_secrets = staging
    own = dataclasses.replace(STAGING, secret_scope="trimtab-staging")
    imported = workspaces.import_jobs(other, other_secrets, "stg", [job_ids[1]], wiring=own).projects
    assert imported and {p.project.job_id for p in imported} == {job_ids[1]}
    assert gateway.has_secret("trimtab-staging", "agent-token") and gateway.has_secret("trimtab", "agent-token")
    # The first server's job is still its own.
    assert _env(gateway, job_ids[0])[SERVER_ENV] == WIRING.server_address


def test_the_agent_secret_setting_names_a_databricks_secret(tmp_path: Path) -> None:
    from server.config import ServerConfig

    with pytest.raises(InvalidArgument, match="agent_secret.*not SCOPE/KEY"):
        ServerConfig(state_dir=tmp_path, agent_secret="trimtab")
    with pytest.raises(InvalidArgument, match="agent_secret"):
        ServerConfig(state_dir=tmp_path, agent_secret="trim tab/agent-token")
    config = ServerConfig(state_dir=tmp_path, agent_secret="trimtab-staging/agent.token")
    assert config.agent_secret == "trimtab-staging/agent.token"


def test_this_server_at_a_new_address_rewires_its_own_jobs(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int], gateway: DatabricksGateway) -> None:
    # The same database behind a server that moved (a new --advertise): its projects are its own.
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    moved = dataclasses.replace(WIRING, server_address="127.0.0.1:50997")
    result = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=moved)
    assert result.skipped == ()
    assert _env(gateway, job_ids[0])[SERVER_ENV] == moved.server_address


def test_the_cli_names_the_other_server_and_takes_over_only_when_told(
        trimtab: Callable[..., tuple[int, str, str]], cli_workspace: str, emulator: RunningWorkspace,
        gateway: DatabricksGateway, tmp_path: Path, sqlite_template: Path) -> None:
    # Production imported the job first, from its own database; the CLI talks to the second server.
    job_id = emulator.seed_jobs()[0]
    production = open_store(migrated_sqlite_file(sqlite_template, tmp_path / "production.db"))
    try:
        prod_secrets = SecretBox(Fernet.generate_key())
        workspaces.add_workspace(production, prod_secrets, "prod", emulator.host, emulator.token, "aws")
        elsewhere = dataclasses.replace(WIRING, server_address="127.0.0.1:50990")
        workspaces.import_jobs(production, prod_secrets, "prod", [job_id], wiring=elsewhere)
    finally:
        production.close()

    code, out, err = trimtab("workspace", "import", cli_workspace, "--job", str(job_id))
    assert code == 0, err
    assert "127.0.0.1:50990" in out + err and "--take-over" in out + err, out + err
    assert _env(gateway, job_id)[SERVER_ENV] == "127.0.0.1:50990"

    code, out, err = trimtab("workspace", "import", cli_workspace, "--job", str(job_id), "--take-over")
    assert code == 0, err
    assert "created" in out, out
    assert _env(gateway, job_id)[SERVER_ENV] == WIRING.server_address


# Its review (rev13e): a server that moved read its own re-wiring as a take-over or a user's edit; a
# plain import took a job back in silence and left the other server's token in the secret; apply and
# detach wrote a job the other server had taken; a dry run promised what the import then refused; a
# workspace added again under a new name was told its secret was another database's.


def _applied(store: Store, secrets: SecretBox, gateway: DatabricksGateway, emulator: RunningWorkspace,
             job_id: int) -> tuple[int, Collector]:
    """The job imported, a recommendation applied and confirmed by a run: an apply on record."""
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(
        node_type_id="r5.2xlarge", driver_node_type_id="m5.xlarge", num_workers=6,
        availability="SPOT_WITH_FALLBACK", first_on_demand=1), reason="test"))
    assert apply_recommendation(store, gateway, pid).applied
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    _run(gateway, emulator, collector, job_id)
    return pid, collector


def _run(gateway: DatabricksGateway, emulator: RunningWorkspace, collector: Collector, job_id: int) -> list[Run]:
    gateway.run_now(job_id)
    assert emulator.wait_idle(120)
    return collector.poll_once()


@pytest.mark.parametrize("rewire", ["address", "secret"])
def test_a_servers_own_rewiring_is_neither_a_take_over_nor_an_edit(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int], gateway: DatabricksGateway,
        emulator: RunningWorkspace, rewire: str) -> None:
    pid, collector = _applied(store, secrets, gateway, emulator, job_ids[0])
    update_settings(store, str(pid), {"auto_apply": True})
    # A new --advertise, or a secret of its own (TRIMTAB_AGENT_SECRET), then the job imported again.
    again = (dataclasses.replace(WIRING, server_address="127.0.0.1:50997") if rewire == "address"
             else dataclasses.replace(WIRING, secret_scope="trimtab-prod"))
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=again)
    (run,) = _run(gateway, emulator, collector, job_ids[0])
    project = store.projects.get(pid)
    # Before: orphaned as "taken over by another Trimtab server at <its own address>", or the run
    # flagged as a user's edit of TRIMTAB_TOKEN and auto-apply paused.
    assert not project.orphaned, project.state.get("orphaned_reason")
    assert "user_edit" not in run.anomalies and not edit_hold(project, store.runs.history(pid))
    assert project.pending_apply is not None  # revert still has its record


def test_a_job_taken_over_is_taken_back_only_on_purpose_and_with_a_new_token(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int], gateway: DatabricksGateway,
        emulator: RunningWorkspace, staging: tuple[Store, SecretBox]) -> None:
    pid, collector = _applied(store, secrets, gateway, emulator, job_ids[0])
    other, other_secrets = staging
    (theirs,) = workspaces.import_jobs(other, other_secrets, "stg", [job_ids[0]], wiring=STAGING,
                                       take_over=True).projects
    # Apply and detach before this server's next poll: neither writes the other server's job.
    store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(
        node_type_id="m5.2xlarge", driver_node_type_id="m5.xlarge", num_workers=3), reason="test"))
    with pytest.raises(FailedPrecondition, match="taken over by another Trimtab server"):
        apply_recommendation(store, gateway, pid)
    with pytest.raises(FailedPrecondition, match="orphaned \\(taken over by another Trimtab server"):
        apply_recommendation(store, gateway, pid)  # it said the job or cluster was gone
    assert _env(gateway, job_ids[0])[SERVER_ENV] == STAGING.server_address

    # A plain import does not take it back (it did, and this server's agents were then refused: the
    # secret held the other server's token while this database's own was live).
    result = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    assert result.projects == () and "--take-over" in result.skipped[0].reason
    assert _env(gateway, job_ids[0])[SERVER_ENV] == STAGING.server_address

    # The other server hands it back (detach): a plain import takes it, and writes a new token.
    detach_project(other, other_secrets, str(theirs.project.id))
    tokens = len(store.tokens.list())
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    assert not store.projects.get(pid).orphaned and _env(gateway, job_ids[0])[SERVER_ENV] == WIRING.server_address
    assert len(store.tokens.list()) == tokens + 1


def test_detaching_a_project_another_server_took_leaves_its_wiring(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int], gateway: DatabricksGateway,
        staging: tuple[Store, SecretBox]) -> None:
    (mine,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    other, other_secrets = staging
    workspaces.import_jobs(other, other_secrets, "stg", [job_ids[0]], wiring=STAGING, take_over=True)
    detach_project(store, secrets, str(mine.project.id))
    assert store.projects.get(int(mine.project.id or 0)).detached
    assert _env(gateway, job_ids[0])[SERVER_ENV] == STAGING.server_address  # it stripped the other's wiring


def test_a_dry_run_refuses_what_the_import_would(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int],
        staging: tuple[Store, SecretBox]) -> None:
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    other, other_secrets = staging
    with pytest.raises(FailedPrecondition, match="never made"):
        workspaces.import_jobs(other, other_secrets, "stg", [job_ids[1]], wiring=STAGING, dry_run=True)


def test_a_workspace_added_again_under_a_new_name_keeps_its_secret(
        store: Store, secrets: SecretBox, connected: object, job_ids: list[int], emulator: RunningWorkspace) -> None:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    detach_project(store, secrets, str(imported.project.id))
    assert store.workspaces.remove("sbx").attached == []
    workspaces.add_workspace(store, secrets, "prod", emulator.host, emulator.token, "aws")
    assert workspaces.import_jobs(store, secrets, "prod", [job_ids[0]], wiring=WIRING).projects
