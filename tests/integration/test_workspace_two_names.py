"""One Databricks workspace under two names (review creds, item 1). Its clusters read one agent token
secret (`trimtab/agent-token`): an import under the second name wrote a token bound to that name into
it, and every run of the first name's jobs was then stored with no applications and no input size,
both workspaces `ok`. At the same host the second name is now refused at `workspace add` (any
spelling); at another spelling the identity check cannot see (``localhost`` and ``127.0.0.1``), or
added before this check, the import refuses to write the secret while the other name has attached
projects, naming it, with `--take-over` too.

Real parts: the sandbox workspace emulator over HTTP (its clusters run the init script and a real
agent sending to a real Trimtab server on 127.0.0.1:0), the real databricks-sdk, SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import Run, Workspace
from server.errors import AlreadyExists, FailedPrecondition
from server.onboard import AgentWiring
from server.serve import RunningServer
from server.services import workspaces
from server.services.secrets import SecretBox, mask
from server.store import Store

Trimtab = Callable[..., tuple[int, str, str]]


def _spelled(host: str) -> str:
    """``host`` (``http://127.0.0.1:PORT``) as another name of the same machine: one the check cannot see."""
    return host.replace("127.0.0.1", "localhost")


def test_workspace_add_refuses_a_host_another_name_has_in_any_spelling(
        trimtab: Trimtab, store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT", emulator.token)
    shouted = _spelled(emulator.host).replace("localhost", "LOCALHOST.") + "/"
    code, _, err = trimtab("workspace", "add", "prod", "--host", shouted, "--token-env", "TT", "--cloud", "aws")
    assert code == 0, err
    stored = _spelled(emulator.host)
    assert store.workspaces.get("prod").host == stored  # lower case, no trailing dot or '/'

    # The same host as typed another way: refused before any call, naming the workspace that has it.
    code, _, err = trimtab("workspace", "add", "prod2", "--host", stored, "--token-env", "TT", "--cloud", "aws")
    assert code == 1
    assert f"host: {stored} is workspace 'prod' already (added as {stored})" in err
    assert "`trimtab workspace add prod --host URL --token-env VAR --replace` rotates its token" in err
    assert [w.name for w in store.workspaces.list()] == ["prod"]
    # Rotating prod's token at another spelling of its host is the same host.
    code, _, err = trimtab("workspace", "add", "prod", "--host", shouted, "--token-env", "TT", "--cloud", "aws",
                           "--replace")
    assert code == 0, err

    # Re-pointing another name at it is refused the same way, nothing changed.
    code, _, err = trimtab("workspace", "add", "other", "--host", emulator.host, "--token-env", "TT", "--cloud", "aws")
    assert code == 0, err
    code, _, err = trimtab("workspace", "set", "other", "--host", shouted, "--token-env", "TT")
    assert code == 1 and f"is workspace 'prod' already (added as {stored})" in err
    assert store.workspaces.get("other").host == emulator.host


def test_an_import_under_a_second_name_leaves_the_first_its_agents(
        store: Store, secrets: SecretBox, server: RunningServer, slower: RunningWorkspace) -> None:
    job_ids = slower.seed_jobs()
    workspaces.add_workspace(store, secrets, "prod", slower.host, slower.token, "aws")
    wiring = AgentWiring(server_address=server.address)
    (prod,) = workspaces.import_jobs(store, secrets, "prod", [job_ids[0]], wiring=wiring).projects
    gateway = DatabricksGateway(GatewayConfig(slower.host, slower.token), clock=SystemClock())
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock())

    def prod_run() -> Run:
        gateway.run_now(job_ids[0])
        assert slower.wait_idle(120)
        (run,) = [r for r in collector.poll_once() if r.project_id == prod.project.id]
        return run

    assert prod_run().application_ids

    # Another spelling of the host: the same workspace, which only its jobs' tags tell.
    workspaces.add_workspace(store, secrets, "prod-2", _spelled(slower.host), slower.token, "aws")
    tokens = [t.token_id for t in store.tokens.list()]
    for take_over in (False, True):
        with pytest.raises(FailedPrecondition) as refused:
            workspaces.import_jobs(store, secrets, "prod-2", [job_ids[1]], wiring=wiring, take_over=take_over)
        assert (f"workspace 'prod-2' is the same Databricks workspace as 'prod' (its job {job_ids[0]} there "
                f"carries trimtab:project-id={prod.project.id} of {prod.project.name})") in refused.value.message
        assert f"agents of prod's 1 attached project(s) ({prod.project.name})" in refused.value.message
        assert "Nothing written (--take-over too)" in refused.value.message
        # What a dry run says too.
        with pytest.raises(FailedPrecondition, match="same Databricks workspace as 'prod'"):
            workspaces.import_jobs(store, secrets, "prod-2", [job_ids[1]], dry_run=True, wiring=wiring,
                                   take_over=take_over)
    # A second name at the very host, stored before `workspace add` refused it: refused at import too.
    with pytest.raises(AlreadyExists):
        workspaces.add_workspace(store, secrets, "prod-3", slower.host + "/", slower.token, "aws")
    store.workspaces.add(Workspace(name="prod-3", host=slower.host.upper() + "/", cloud="aws", plan="premium",
                                   region="", token_masked=mask(slower.token)), secrets.encrypt(slower.token))
    with pytest.raises(FailedPrecondition, match=r"same Databricks workspace as 'prod' \(the same host"):
        workspaces.import_jobs(store, secrets, "prod-3", [job_ids[1]], wiring=wiring, take_over=True)
    assert [t.token_id for t in store.tokens.list()] == tokens  # no token made, none written into the secret

    run = prod_run()
    assert run.application_ids and run.input_bytes, "prod's run lost its agent data"


def test_a_store_an_older_trimtab_let_in_under_two_spellings_is_refused_at_import_and_warned_at_start(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, job_ids: list[int],
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """An older Trimtab accepted one host under two names (``HTTP://LocalHost:P/`` and
    ``http://localhost:P``). After the upgrade a new import into the name whose live token the store
    holds went through, since the secret was taken to hold it; it held the other name's (its last import
    wrote it), so the new clusters' agents sent as that name (review upgrade2). The host check is now
    made anyway, and the server names the pair at start."""
    from server.domain import Project
    from server.services.agent_secret import names_sharing_a_host

    workspaces.add_workspace(store, secrets, "sb1", emulator.host, emulator.token, "aws")
    wiring = AgentWiring(server_address="127.0.0.1:1")
    workspaces.import_jobs(store, secrets, "sb1", [job_ids[0]], wiring=wiring)
    # What the older Trimtab left: sb3, the same host spelled another way, with a project of its own.
    workspaces.add_workspace(store, secrets, "sb3", _spelled(emulator.host), emulator.token, "aws")
    sb3 = store.workspaces.get("sb3")
    store.workspaces.set_host("sb3", emulator.host.upper() + "/", secrets.encrypt(emulator.token), sb3.token_masked)
    store.projects.add(Project(workspace="sb3", job_id=job_ids[2], cluster_key="main", job_name="other"))
    assert names_sharing_a_host(store.workspaces.list()) == [("sb1", "sb3")]

    with pytest.raises(FailedPrecondition) as refused:
        workspaces.import_jobs(store, secrets, "sb1", [job_ids[1]], wiring=wiring)
    assert "is the same Databricks workspace as 'sb3'" in str(refused.value)
    assert [p.job_id for p in store.projects.list("sb1")] == [job_ids[0]]  # nothing onboarded

    from server.config import ServerConfig
    from server.serve import start_server

    caplog.set_level(logging.WARNING, logger="server.serve")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", collect=0), store)
    try:
        said = [r.getMessage() for r in caplog.records if r.name == "server.serve"]
        assert any("workspaces 'sb1' and 'sb3' are one Databricks workspace" in m for m in said), said
    finally:
        running.stop(0)
        workspaces.configure(wiring=AgentWiring(server_address="127.0.0.1:50051"))
