"""A garbage value in the workspace's agent-token secret (review: deliv): the agent on the sandbox's cluster
is refused, its log saying so is in the delivered cluster logs (driver/trimtab-agent.log), the collected run
says so with the fix (`GetRun.agent_refusal`), a plain `workspace import`
says the secret is not accepted by this server and how to fix it (it used to say nothing), and
`--take-over` says what it replaced (it used to replace it silently). The real agent on the sandbox's
cluster, a real server, SQLite."""

from __future__ import annotations

import time

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
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


def test_a_refused_secret_is_named_by_run_show_and_import(
        store: Store, secrets: SecretBox, server: RunningServer, slower: RunningWorkspace,
        caplog: pytest.LogCaptureFixture) -> None:
    job_ids = slower.seed_jobs()
    workspaces.add_workspace(store, secrets, "sbx", slower.host, slower.token, "aws")
    wiring = AgentWiring(server_address=server.address)
    first = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=wiring)
    assert not [w for w in first.warnings if "agent" in w and "secret" in w]
    gateway = DatabricksGateway(GatewayConfig(slower.host, slower.token), clock=SystemClock())
    gateway.put_secret(wiring.secret_scope, wiring.secret_key, "garbage")

    caplog.set_level("WARNING")
    gateway.run_now(job_ids[0])
    assert slower.wait_idle(120)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock())
    (run,) = collector.poll_once()
    assert not run.application_ids and run.cluster_id
    summary = [r.getMessage() for r in caplog.records if "call(s) to the agent service refused" in r.getMessage()]
    assert summary and f"from cluster {run.cluster_id} of job {job_ids[0]} (job-{job_ids[0]}-run-" in summary[0]

    # The agent's own words reach the delivered cluster logs (cluster_log_conf), where the operator looks:
    # they held only the init script's "agent started ... sending to ...".
    delivered = gateway.read_dbfs(f"/cluster-logs/{run.cluster_id}/driver/trimtab-agent.log").decode()
    assert f"server {server.address} refused the agent token (UNAUTHENTICATED" in delivered

    _, admin = store.tokens.create("admin", "admin")
    with grpc.insecure_channel(server.address) as channel:
        shown = admin_pb2_grpc.RunServiceStub(channel).GetRun(admin_pb2.GetRunRequest(run_id=str(run.id)),
                                                              metadata=(("authorization", f"Bearer {admin}"),))
    assert shown.HasField("agent_refusal") and shown.agent_refusal.calls >= 1
    assert shown.agent_refusal.reason.startswith("its token is missing or not a Trimtab token")
    assert "`trimtab workspace import sbx --take-over`" in shown.agent_refusal.fix
    assert abs(shown.agent_refusal.at_ms - time.time() * 1000) < 600_000  # the server's clock, not the sandbox's

    # A plain import leaves the secret (it may be another server's) and says it is not accepted, and the fix.
    tokens = [t.token_id for t in store.tokens.list() if t.scope == "agent"]
    plain = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=wiring)
    (said,) = [w for w in plain.warnings if "is not accepted by this server" in w]
    assert f"secret {wiring.secret_scope}/{wiring.secret_key}" in said
    assert "1 cluster(s) of this workspace's jobs were refused" in said and run.cluster_id in said
    assert "`trimtab workspace import sbx --take-over`" in said and "garbage" not in said
    assert [t.token_id for t in store.tokens.list() if t.scope == "agent"] == tokens  # nothing written

    # --take-over writes a token of this server there, and says what it replaced.
    taken = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=wiring, take_over=True)
    (new,) = [t for t in store.tokens.list() if t.scope == "agent" and t.token_id not in tokens]
    (what,) = [w for w in taken.warnings if "replacing the value last written" in w]
    assert f"wrote a new agent token 'agent-sbx' (id {new.token_id}) into secret " in what
    assert "(--take-over)" in what and "this server refused the agents of 1 cluster(s)" in what
    assert "garbage" not in what
