"""A run whose cluster's agent the server refused says so in `run show` and `run list`, with the reason and
the fix, and the server's refusal line names the cluster and its job. Before, `run show` guessed "its agent
did not run, or its cluster ended while the server was away" (both false), NOTES was blank, and the log
line named no cluster. The real agent's sender (its cluster id and name from Databricks' variables) against
a real server; the CLI as a user runs it."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from pathlib import Path

import pytest

from agent.clock import FakeClock
from agent.config import load_config
from agent.send import Sender, SenderSettings, caller_metadata
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2
from server.agent_refusals import AgentRefusals, Caller
from server.domain import ClusterConfig, CostBreakdown, Project, Run
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


def _send_refused(tmp_path: Path, address: str, token: str, cluster_id: str, cluster_name: str) -> Sender:
    """An agent's sender, configured from the variables Databricks sets on the node, sending one batch with
    ``token`` until the server has refused it at least once."""
    cfg = load_config({"eventlog_dir": tmp_path, "state_dir": tmp_path / cluster_id, "server": address},
                      env={"TRIMTAB_TOKEN": token, "DB_CLUSTER_ID": cluster_id, "DB_CLUSTER_NAME": cluster_name})
    spool = Spool(tmp_path / cluster_id / "spool", 1 << 20)
    spool.put(ingest_pb2.EventBatch(batch_id="b", events=[ingest_pb2.Event(key="job/1", application_id="app")])
              .SerializeToString(), 1)
    sender = Sender(spool, SenderSettings(address, cfg.token, rpc_timeout_s=5, backoff_base_s=1.0, backoff_max_s=1.0,
                                          caller=caller_metadata(cfg.cluster_id, cfg.cluster_name)),
                    FakeClock(), prepare=lambda b: None, rng=random.Random(1))
    sender.start()
    deadline = time.monotonic() + 30
    while sender.failed_attempts < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sender.stop(0.0)
    assert sender.failed_attempts >= 2
    return sender


@pytest.fixture
def project(cli_store: Store) -> Project:
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


def _run(store: Store, project: Project, n: int, cluster_id: str) -> Run:
    return store.runs.add(Run(project_id=project.id, databricks_run_id=700 + n, start_ms=1_700_000_000_000 + n,
                              runtime_s=600.0, cluster_id=cluster_id, cost=CostBreakdown(total=1.0),
                              config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)))


def test_run_show_and_list_name_the_refusal_of_the_clusters_agent(
        trimtab: Trimtab, cli_server: RunningServer, cli_store: Store, project: Project, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="server.api.auth")
    garbage = _run(cli_store, project, 1, "0101-garbage")
    revoked = _run(cli_store, project, 2, "0101-revoked")
    silent = _run(cli_store, project, 3, "0101-silent")
    delivered = cli_store.runs.add(dataclasses.replace(_run(cli_store, project, 4, "0101-fine"), id=None,
                                                       databricks_run_id=799, application_ids=("app-4",)))

    # The review's repro: a garbage value in the workspace's agent-token secret.
    _send_refused(tmp_path, cli_server.address, "garbage", "0101-garbage", "job-42-run-701")
    code, out, _ = trimtab("run", "show", str(garbage.id))
    assert code == 0
    (line,) = [x for x in out.splitlines() if x.startswith("agent data:")]
    assert line.startswith("agent data: none: the agent on this cluster was refused: its token is missing or not "
                           "a Trimtab token")
    assert " UTC, " in line and "call(s)" in line
    assert "(fix: `trimtab workspace import prod --take-over` writes a token of this server" in line
    assert "did not run" not in line
    (summary,) = [r.getMessage() for r in caplog.records if "call(s) to the agent service refused" in r.getMessage()]
    assert "from cluster 0101-garbage of job 42 (job-42-run-701)" in summary

    # A token this database made, revoked since: named by id, fixed by a plain import.
    token, plaintext = cli_store.tokens.create("agent-prod", "agent")
    cli_store.tokens.revoke(token.token_id)
    _send_refused(tmp_path, cli_server.address, plaintext, "0101-revoked", "job-42-run-702")
    code, out, _ = trimtab("run", "show", str(revoked.id))
    assert f"refused: its token {token.token_id} is revoked, or its secret part is wrong at " in out
    assert "(fix: `trimtab workspace import prod` writes a new agent token" in out
    (named,) = [r.getMessage() for r in caplog.records if "was refused on" in r.getMessage()]
    assert f"token {token.token_id} was refused on SendBatch" in named
    assert "from cluster 0101-revoked of job 42 (job-42-run-702)" in named

    # A run whose cluster's agent was never refused keeps the general line, which now names the other causes.
    code, out, _ = trimtab("run", "show", str(silent.id))
    assert "agent data: none: no Spark application of this run reached the server" in out
    assert "refused before this server's last start" in out

    code, out, _ = trimtab("run", "list", str(project.id))
    rows = {row.split()[0]: row for row in out.splitlines()[1:]}
    assert rows[str(garbage.id)].rstrip().endswith("agent refused (run show)")
    assert rows[str(revoked.id)].rstrip().endswith("agent refused (run show)")
    assert "agent refused" not in rows[str(silent.id)]
    # The list is where an operator looks for runs to backfill after an outage: a run no agent data
    # reached says so there too (NOTES was blank), one with its applications says nothing of it.
    assert rows[str(silent.id)].rstrip().endswith("no agent data (run show)")
    assert "agent data" not in rows[str(delivered.id)]
    code, out, _ = trimtab("--json", "run", "show", str(garbage.id))
    assert '"agent_refusal"' in out


def test_the_refusal_record_is_bounded_and_cleared_by_an_accepted_call() -> None:
    refusals = AgentRefusals(limit=2)
    for n in range(3):
        refusals.note(Caller(f"c{n}"), "unknown", n)
    assert refusals.get("c0") is None and refusals.get("c2") is not None  # the least recently refused went
    refusals.note(Caller("c2"), "stored", 9, "abc")
    refused = refusals.get("c2")
    assert refused is not None and refused.calls == 2 and refused.kind == "stored" and "abc" in refused.reason
    refusals.note(Caller(""), "unknown", 1)  # a caller naming no cluster is counted in the log only
    assert refusals.get("") is None
    refusals.accepted(Caller("c2"))
    assert refusals.get("c2") is None
