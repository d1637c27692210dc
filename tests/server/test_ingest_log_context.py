"""An agent's batch's log lines carry the workspace its token is bound to, and the Databricks job and
run its application starts for (`server.log_context`), in JSON. Its rows are made on the ingest
writer's thread (`server.ingest.IngestWriter.submit`), so the line saying which of its events were
left out is written there: it carries the call's fields only because the rows are made in a copy of
the call's context. A real server on 127.0.0.1:0 over SQLite and PostgreSQL, real gRPC calls."""

from __future__ import annotations

import logging

from protos.trimtab.v1 import ingest_pb2
from server.api.ingest_servicer import started_run
from server.domain import Workspace
from tests.json_logs import server_logging
from tests.server.conftest import StartHarness

APP = "app-ctx"
FIELDS = ("workspace", "project_id", "project", "job_id", "run_id")


class _Threads(logging.Handler):
    """Which thread wrote each message (the JSON lines do not say)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_message: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.by_message[record.getMessage()] = record.threadName or ""


def _ev(key: str, **body: object) -> ingest_pb2.Event:
    return ingest_pb2.Event(key=key, application_id=APP, **body)  # type: ignore[arg-type]


def _batch(batch_id: str, *, start: bool) -> ingest_pb2.EventBatch:
    """One valid stage and one invalid (a negative stage id), after the application's start when ``start``."""
    events = [_ev("stage/1/0", stage_completed=ingest_pb2.StageCompleted(stage_id=1, num_tasks=2)),
              _ev("stage/-1/0", stage_completed=ingest_pb2.StageCompleted(stage_id=-1, num_tasks=2))]
    if start:
        events.insert(0, _ev("start", application_start=ingest_pb2.ApplicationStart(
            application_id=APP, start_time_ms=1000, job_id="734", run_id="91822")))
    return ingest_pb2.EventBatch(batch_id=batch_id, agent=ingest_pb2.AgentInfo(agent_id="agent-ctx"), events=events)


def test_a_batchs_lines_carry_its_workspace_job_and_run_from_the_writer_thread(
        migrated_db_url: str, start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    h.store.workspaces.add(Workspace(name="prod", host="http://prod", cloud="aws"), "tok", "creds")
    _, token = h.store.tokens.create("prod agents", "agent", workspace="prod")
    agent = (("authorization", f"Bearer {token}"),)
    threads = _Threads()
    with server_logging("json", "warning") as captured:
        logging.getLogger().addHandler(threads)
        try:
            first = h.ingest.SendBatch(_batch("b-1", start=True), metadata=agent, timeout=30)
            later = h.ingest.SendBatch(_batch("b-2", start=False), metadata=agent, timeout=30)
            unbound = h.ingest.SendBatch(_batch("b-3", start=False), metadata=h.agent, timeout=30)
        finally:
            logging.getLogger().removeHandler(threads)
    assert [a.dropped_events for a in (first, later, unbound)] == [1, 1, 1]
    dropped = {r["message"].split()[1]: r for r in captured.records() if "invalid event(s) dropped" in r["message"]}
    assert {threads.by_message[r["message"]] for r in dropped.values()} == {"trimtab-ingest-writer"}
    # The batch that starts the application names its job and run; a later one only the workspace (its
    # run is not known without a read of the store); an agent token bound to no workspace, nothing.
    assert {k: dropped["b-1"].get(k) for k in FIELDS} == {"workspace": "prod", "project_id": None, "project": None,
                                                           "job_id": 734, "run_id": 91822}
    assert {k: dropped["b-2"].get(k) for k in FIELDS} == {"workspace": "prod", "project_id": None, "project": None,
                                                           "job_id": None, "run_id": None}
    assert all(k not in dropped["b-3"] for k in FIELDS)


def test_only_ids_are_taken_from_the_start() -> None:
    def fields(job_id: str, run_id: str) -> object:
        return started_run(ingest_pb2.EventBatch(events=[_ev("start", application_start=(
            ingest_pb2.ApplicationStart(application_id=APP, job_id=job_id, run_id=run_id)))]))

    assert fields("12", "34") == {"job_id": 12, "run_id": 34}
    assert fields("", "not-a-run") == {}
    assert fields("١٢", "9" * 40) == {}  # Arabic-Indic digits, and a number no Databricks id is
    assert started_run(_batch("b", start=False)) == {}
