"""`trimtab agent list` against a real server: the table, --json (every field, zeros too), --workspace
(before and after the workspace's token claims an agent), the notes on stderr for agents that lost
data, the empty list, and a non-admin token refused."""

from __future__ import annotations

import dataclasses
import json

from agent.build import BUILD
from server.cli.run import when
from server.domain import AgentCounters, AgentInfo, IngestBatch, IngestEvent, Stage, Workspace
from server.store import Store
from server.store.repos.ingest_rows import prepare
from tests.cli.conftest import Trimtab

LOSSY = AgentCounters(events_read=5000, events_sent=3800, events_dropped_spool_full=1200,
                      batches_dropped_spool_full=3, lines_corrupt=2, lines_oversized=1,
                      spark_dropped_events={"eventLog": 40, "appStatus": 2})


def _report(store: Store, agent: str, workspace: str | None, counters: AgentCounters, cluster: str,
            stage: int = 0, version: str = BUILD) -> None:
    batch = IngestBatch(batch_id=f"b-{agent}-{stage}", agent=AgentInfo(agent_id=agent, version=version,
                                                                        hostname="driver", cluster_id=cluster),
                        events=(IngestEvent(f"app-{agent}", f"stage/{stage}/0", "stage",
                                            Stage(application_id=f"app-{agent}", stage_id=stage)),),
                        counters=counters)
    (result,) = store.ingest.write([dataclasses.replace(prepare(batch), workspace=workspace)])
    assert result.stored_events == 1


def test_agent_list_table_notes_and_json(trimtab: Trimtab, cli_store: Store) -> None:
    code, out, err = trimtab("agent", "list")
    assert (code, err) == (0, "") and out.startswith("no agent has reported yet")

    _report(cli_store, "lossy", "prod", LOSSY, "0101-abc")
    _report(cli_store, "fine", None, AgentCounters(events_read=10, events_sent=10), "0101-def")
    code, out, err = trimtab("agent", "list")
    assert code == 0, err
    header, _, *rows = out.splitlines()
    assert header.split() == ["AGENT", "VERSION", "CLUSTER", "WORKSPACE", "LAST", "SEEN", "(UTC)", "BATCHES",
                              "SENT", "DROPPED", "CORRUPT/OVERSIZED", "SPARK", "DROPPED"]
    lossy = next(r for r in rows if r.startswith("lossy"))
    fine = next(r for r in rows if r.startswith("fine"))
    (seen,) = cli_store.ingest.agents(workspace="prod")
    assert BUILD in lossy and "0101-abc" in lossy and "prod" in lossy and when(seen.last_seen_ms) in lossy
    # SENT: 3,800 before its batch and the batch's own event (the agent counts a batch at its ack).
    assert "ago)" in lossy and "3,801" in lossy and "1,200 (3 batches)" in lossy and "2/1" in lossy
    assert lossy.rstrip().endswith("42")
    assert fine.split()[3] == "-" and fine.split()[-5:] == ["1", "11", "0", "0/0", "0"]
    # Only the agent that lost data is flagged, on stderr, with what it means and what to do.
    assert "agent lossy (cluster 0101-abc): 1,200 event(s) in 3 batch(es) dropped (spool full)" in err
    assert "2 corrupt and 1 oversized line(s)" in err and "Spark dropped 42 event(s) (appStatus 2, eventLog 40)" in err
    assert "fine" not in err
    assert "TRIMTAB_AGENT_SPOOL_BYTES" in err and "TRIMTAB_AGENT_MAX_LINE" in err
    assert "spark.scheduler.listenerbus.eventqueue.capacity" in err and "parked" not in err

    code, out, err = trimtab("agent", "list", "--workspace", "prod")
    assert code == 0 and "lossy" in out and "fine" not in out
    code, out, err = trimtab("--json", "agent", "list", "--cluster", "0101-abc")
    assert code == 0 and err == ""
    (data,) = json.loads(out)
    assert (data["agent_id"], data["workspace"], data["cluster_id"]) == ("lossy", "prod", "0101-abc")
    assert data["counters"]["events_dropped_spool_full"] == 1200  # int64 as a JSON number (message_dict)
    assert data["counters"]["spark_dropped_events"] == {"eventLog": 40, "appStatus": 2}
    code, out, _ = trimtab("agent", "list", "--json", "--workspace", "prod", "--cluster", "0101-def")
    assert code == 0 and json.loads(out) == []


def test_agent_list_json_has_every_field_zeros_too(trimtab: Trimtab, cli_store: Store) -> None:
    _report(cli_store, "fine", None, AgentCounters(events_read=1), "")
    code, out, err = trimtab("--json", "agent", "list")
    assert (code, err) == (0, "")
    (data,) = json.loads(out)
    assert data["workspace"] == "" and data["cluster_id"] == "" and data["batches_received"] == 1
    assert data["counters"] == {"events_read": 1, "events_sent": 1, "events_dropped_spool_full": 0,
                                "batches_dropped_spool_full": 0, "lines_corrupt": 0, "lines_oversized": 0,
                                "batches_rejected": 0, "spark_dropped_events": {}, "file_bytes_unread_at_stop": 0}


def test_agent_list_of_a_workspace_before_and_after_its_token_claims_an_agent(trimtab: Trimtab,
                                                                              cli_store: Store) -> None:
    cli_store.workspaces.add(Workspace(name="prod", host="https://prod.example", cloud="aws"), token_encrypted="x")
    # Reported by an unbound token (or stored before the upgrade): no workspace, and the empty list
    # says so instead of "no agent of prod has reported".
    _report(cli_store, "old", None, AgentCounters(), "0101-old")
    code, out, err = trimtab("agent", "list", "--workspace", "prod")
    assert (code, err) == (0, "")
    assert out.startswith("no agent is listed under workspace prod yet: an agent is listed under the workspace "
                          "of the first workspace-bound token that reports it")
    assert "WORKSPACE - by 'trimtab agent list' were reported only by unbound tokens" in out
    code, out, _ = trimtab("agent", "list", "--workspace", "prod", "--cluster", "0101-x")
    assert code == 0 and out.startswith("no agent on cluster 0101-x is listed under workspace prod yet")
    code, out, _ = trimtab("agent", "list", "--cluster", "0101-x")
    assert code == 0 and out.startswith("no agent on cluster 0101-x has reported yet")
    # prod's token reports it: it is prod's from now on.
    _report(cli_store, "old", "prod", AgentCounters(events_sent=1), "0101-old", stage=1)
    code, out, _ = trimtab("agent", "list", "--workspace", "prod")
    (row,) = out.splitlines()[2:]
    assert code == 0 and row.split()[:4] == ["old", BUILD, "0101-old", "prod"]


def test_agent_list_errors(trimtab: Trimtab, cli_store: Store) -> None:
    code, out, err = trimtab("agent", "list", "--workspace", "nope")
    assert code == 1 and out == "" and err.strip() == "error: workspace 'nope' not found (NOT_FOUND)"
    code, _, err = trimtab("agent", "list", "--limit", "0")
    assert code == 2 and "'--limit'" in err
    _, agent_token = cli_store.tokens.create("agent", "agent")
    code, out, err = trimtab("agent", "list", token_arg=agent_token)
    assert code == 1 and out == "" and "PERMISSION_DENIED" in err and "needs 'admin'" in err
    assert len(err.strip().splitlines()) == 1


def test_agent_list_names_workspaces_whose_latest_agent_runs_another_build(trimtab: Trimtab, cli_store: Store) -> None:
    # Before this server's wheel was uploaded: prod's clusters run what an older server uploaded
    # (0.1.0, before builds carried a digest); staging's latest agent is this server's, its older one
    # is history (job clusters are new every run).
    _report(cli_store, "prod-old", "prod", AgentCounters(events_read=1), "0101-a", version="0.1.0")
    _report(cli_store, "staging-old", "staging team", AgentCounters(events_read=1), "0101-b", version="0.1.0")
    _report(cli_store, "staging-new", "staging team", AgentCounters(events_read=1), "0101-c")
    code, out, err = trimtab("agent", "list")
    assert code == 0 and "prod-old" in out
    (line,) = err.splitlines()
    assert line.startswith(f"workspace prod: its latest agent (prod-old, cluster 0101-a) runs agent 0.1.0, not this "
                           f"server's {BUILD}: its clusters install the wheel an earlier import put there. "
                           "`trimtab workspace import prod` uploads this server's"), line
    assert "each cluster installs it at its next start" in line and "staging" not in err

    # Prod's next cluster runs the wheel the import uploaded: nothing more to say.
    _report(cli_store, "prod-new", "prod", AgentCounters(events_read=1), "0101-d")
    code, _, err = trimtab("agent", "list")
    assert (code, err) == (0, "")
    # Agents no workspace-bound token reported are said as such, and a name needing quotes is quoted.
    _report(cli_store, "unbound", None, AgentCounters(events_read=1), "0101-e", version="0.1.0")
    _report(cli_store, "staging-newest", "staging team", AgentCounters(events_read=1), "0101-f", version="0.2.0+x")
    code, _, err = trimtab("agent", "list")
    assert code == 0 and "agents without a workspace: its latest agent (unbound" in err
    assert "`trimtab workspace import 'staging team'`" in err and len(err.splitlines()) == 2
