"""A workspace whose agent token was revoked (or whose secret another database wrote) gets a new
one at the next import (API review, ninth session): before, import saw the secret present and left
it, so every agent was refused and every run was collected without its data. The real agent on
the sandbox's cluster, a real server, SQLite."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway, GatewayConfig
from server.onboard import AgentWiring
from server.serve import RunningServer
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


def test_import_again_replaces_a_revoked_agent_token_and_agent_data_flows(
        store: Store, secrets: SecretBox, server: RunningServer, slower: RunningWorkspace,
        caplog: pytest.LogCaptureFixture) -> None:
    job_ids = slower.seed_jobs()
    workspaces.add_workspace(store, secrets, "sbx", slower.host, slower.token, "aws")
    wiring = AgentWiring(server_address=server.address)
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=wiring)
    (first,) = [t for t in store.tokens.list() if t.scope == "agent"]
    assert first.name == "agent-sbx"
    store.tokens.revoke(first.token_id)

    caplog.set_level("WARNING")
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=wiring)
    assert any("no live agent token 'agent-sbx'" in r.getMessage() for r in caplog.records)
    live = [t for t in store.tokens.list() if t.scope == "agent" and not t.revoked]
    assert [t.name for t in live] == ["agent-sbx"] and live[0].token_id != first.token_id
    # A third import with a live token leaves the secret (and the tokens) as they are.
    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=wiring)
    assert [t.token_id for t in store.tokens.list() if t.scope == "agent" and not t.revoked] == [live[0].token_id]

    gateway = DatabricksGateway(GatewayConfig(slower.host, slower.token), clock=SystemClock())
    gateway.run_now(job_ids[0])
    assert slower.wait_idle(120)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock())
    (run,) = collector.poll_once()
    # The agent on the cluster read the new secret: its application reached the run.
    (app_id,) = run.application_ids
    assert store.applications.get(app_id).stage_count > 0
    assert not any("was refused on" in r.getMessage() for r in caplog.records)
