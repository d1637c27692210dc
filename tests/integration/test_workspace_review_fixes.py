"""A workspace's plan and region can be put right: `workspace add NAME ... --replace` applies the
--plan/--region (and, while the workspace has no project, --cloud) given, and `workspace set NAME
--plan P --region R` changes them; both validated as `workspace add` validates them, and the CLI
says they price future runs only.

Real parts: the `trimtab` entry point against a real server (gRPC on 127.0.0.1:0) on SQLite and
PostgreSQL, and the sandbox workspace emulator over HTTP (the token is checked with a real call).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.serve import RunningServer
from server.store import Store
from tests.integration.conftest import NOOP_INIT

Trimtab = Callable[..., tuple[int, str, str]]
FUTURE_ONLY = ("runs collected from now on are priced with this; the stored costs of runs already collected "
               "(`run list`, the timeline) stay as they are")
# After a change of plan (review rev15a F4): savings re-price DBUs, and the note says so.
SAVINGS_REPRICE = "; `trimtab savings` compares every run's DBUs at the new plan, so both sides use one price list"


@pytest.fixture
def trimtab(trimtab: Trimtab, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> Trimtab:
    """tests/integration/conftest.py's CLI over its server, with the emulator's token in TT_DBX_TOKEN."""
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    return trimtab


def _add(emulator: RunningWorkspace, *extra: str) -> tuple[str, ...]:
    return ("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN", *extra)


def _pricing(store: Store) -> tuple[str, str, str]:
    ws = store.workspaces.get("sbx")
    return ws.cloud, ws.plan, ws.region


def test_replace_applies_the_plan_and_region_given_and_keeps_those_not_given(
        trimtab: Trimtab, any_store: Store, emulator: RunningWorkspace) -> None:
    code, out, err = trimtab(*_add(emulator, "--cloud", "aws"))
    assert code == 0, err
    assert _pricing(any_store) == ("aws", "premium", "")  # the defaults of a new workspace

    # The review's command: it used to answer "replaced the token" and drop both.
    code, out, err = trimtab(*_add(emulator, "--cloud", "aws", "--plan", "enterprise", "--region", "us-west-2",
                                   "--replace"))
    assert code == 0, err
    assert _pricing(any_store) == ("aws", "enterprise", "us-west-2")
    # The same token given again: said so (the call still re-checked it and applied the plan and region).
    assert "workspace sbx: token unchanged (the one given is the one stored)" in err
    assert f"plan premium -> enterprise, region - -> us-west-2: {FUTURE_ONLY}{SAVINGS_REPRICE}" in err
    assert "plan:        enterprise" in out.splitlines() and "region:      us-west-2" in out.splitlines()

    # Rotating the token alone keeps them (the --plan default no longer stands in for "given").
    code, out, err = trimtab(*_add(emulator, "--cloud", "aws", "--replace"))
    assert code == 0 and _pricing(any_store) == ("aws", "enterprise", "us-west-2")
    assert "token unchanged" in err and "->" not in err
    code, _, err = trimtab(*_add(emulator, "--cloud", "aws", "--plan", "standard", "--replace"))
    assert code == 0 and _pricing(any_store) == ("aws", "standard", "us-west-2")
    assert f"plan enterprise -> standard: {FUTURE_ONLY}{SAVINGS_REPRICE}" in err

    # Validated as `workspace add` validates them; a refused call changes nothing.
    code, _, err = trimtab(*_add(emulator, "--cloud", "aws", "--plan", "gold", "--replace"))
    assert code == 2 and "'gold' is not one of 'standard', 'premium', 'enterprise'" in err
    code, _, err = trimtab(*_add(emulator, "--cloud", "aws", "--region", "", "--replace"))
    assert code == 2 and "'--region'" in err and "must not be empty" in err
    assert _pricing(any_store) == ("aws", "standard", "us-west-2")


def test_set_changes_plan_and_region_for_future_runs(trimtab: Trimtab, any_store: Store,
                                                     emulator: RunningWorkspace) -> None:
    assert trimtab(*_add(emulator, "--cloud", "aws", "--region", "us-east-1"))[0] == 0

    code, out, err = trimtab("workspace", "set", "sbx", "--plan", "enterprise", "--region", "eu-west-1")
    assert code == 0, err
    assert _pricing(any_store) == ("aws", "enterprise", "eu-west-1")
    assert f"plan premium -> enterprise, region us-east-1 -> eu-west-1: {FUTURE_ONLY}{SAVINGS_REPRICE}" in err
    assert "plan:        enterprise" in out.splitlines() and "region:      eu-west-1" in out.splitlines()
    code, out, err = trimtab("--json", "workspace", "set", "sbx", "--region", "us-west-2")
    assert code == 0 and json.loads(out)["region"] == "us-west-2" and err == ""
    # The same value again: nothing changes, nothing is said about pricing.
    code, _, err = trimtab("workspace", "set", "sbx", "--plan", "enterprise")
    assert code == 0 and "->" not in err

    code, _, err = trimtab("workspace", "set", "sbx", "--plan", "platinum")
    assert code == 2 and "'platinum' is not one of" in err
    code, _, err = trimtab("workspace", "set", "sbx", "--region", " ")
    assert code == 2 and "'--region'" in err and "must not be empty" in err
    code, _, err = trimtab("workspace", "set", "sbx")
    assert code == 2 and "nothing to change: give --auto-import on|off, --plan, --region, --cloud-credentials-env or --host" in err
    code, out, err = trimtab("workspace", "set", "nope", "--plan", "standard")
    assert code == 1 and out == "" and "workspace 'nope' not found" in err
    assert _pricing(any_store) == ("aws", "enterprise", "us-west-2")


def test_the_server_validates_plan_and_region_too(trimtab: Trimtab, any_store: Store, server: RunningServer,
                                                  emulator: RunningWorkspace) -> None:
    """A script calling the RPC directly gets the same refusals as the CLI, and nothing is saved."""
    import grpc

    from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc

    assert trimtab(*_add(emulator, "--cloud", "aws"))[0] == 0
    _, token = any_store.tokens.create("script", "admin")
    metadata = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(server.address) as channel:
        stub = admin_pb2_grpc.WorkspaceServiceStub(channel)
        for request, words in ((admin_pb2.UpdateWorkspaceRequest(name="sbx", plan="gold", region="us-west-2"),
                                "plan: must be one of standard, premium, enterprise, not 'gold'"),
                               (admin_pb2.UpdateWorkspaceRequest(name="sbx", region=""),
                                "region: must not be empty (the aws default is us-east-1)")):
            with pytest.raises(grpc.RpcError) as refused:
                stub.UpdateWorkspace(request, metadata=metadata, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in refused.value.details()
        with pytest.raises(grpc.RpcError) as refused:
            stub.AddWorkspace(admin_pb2.AddWorkspaceRequest(name="other", host=emulator.host, token=emulator.token,
                                                            cloud="aws", plan="gold"), metadata=metadata, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _pricing(any_store) == ("aws", "premium", "") and [w.name for w in any_store.workspaces.list()] == ["sbx"]


def test_replace_changes_the_cloud_only_while_the_workspace_has_no_project(
        trimtab: Trimtab, any_store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    # Added on the wrong cloud, nothing imported yet: put right in place, the old region dropped.
    assert trimtab(*_add(emulator, "--cloud", "azure", "--region", "westeurope"))[0] == 0
    code, out, err = trimtab(*_add(emulator, "--cloud", "aws", "--replace"))
    assert code == 0, err
    assert _pricing(any_store) == ("aws", "premium", "")
    assert f"cloud azure -> aws, region westeurope -> -: {FUTURE_ONLY}" in err and "savings" not in err

    # With billing credentials for the old cloud, new ones must come with the move.
    monkeypatch.setenv("TT_CREDS", '{"access_key_id": "A", "secret_access_key": "S"}')
    assert trimtab(*_add(emulator, "--cloud", "aws", "--cloud-credentials-env", "TT_CREDS", "--replace",
                         "--skip-billing-check"))[0] == 0  # made-up keys: stored untried
    code, _, err = trimtab(*_add(emulator, "--cloud", "azure", "--replace"))
    assert code == 1 and "its cloud billing credentials are for aws" in err and "--cloud-credentials-env" in err
    assert _pricing(any_store) == ("aws", "premium", "")

    # Once a project exists its sizes, settings and run costs belong to the cloud: refused.
    gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token), clock=SystemClock())
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    (job,) = emulator.seed_jobs()[:1]
    assert trimtab("workspace", "import", "sbx", "--job", str(job))[0] == 0
    code, _, err = trimtab(*_add(emulator, "--cloud", "azure", "--cloud-credentials-env", "TT_CREDS",
                                 "--region", "eastus", "--replace"))
    assert code == 1 and "is on aws, not azure: its 1 project(s) were sized and priced on aws" in err
    assert "add the workspace under a new name" in err
    assert _pricing(any_store) == ("aws", "premium", "")
