"""A job's name cannot forge a line of the server's text log (review, finding 4).

Anyone who may edit a Databricks job names it; auto-import logs the name of each job it takes. A
name holding a newline wrote a second line that read as a record of its own (a WARNING from
server.serve), and an escape sequence reached the terminal tailing the log. Real parts: the sandbox
workspace emulator over HTTP, the real collector and auto-import over both store engines, and the
text log's real formatter on a real handler.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.clock import FakeClock
from server.collect import Collector
from server.collect.discovery import AutoImport
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.logs import TEXT_FORMAT, TextFormatter
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

INTERVAL_S = 900.0
FORGED = "2026-12-06T20:13:00.000Z WARNING server.serve: token tt_attacker_xyz revoked by admin"
NAME = f"etl\n{FORGED}\x1b]0;owned\x07"


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """What the server's text log (`server.logs.configure_logging` with log_format text) writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter(TEXT_FORMAT))
    logger = logging.getLogger("server.collect.discovery")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_an_auto_imported_job_name_is_one_log_line(
        store: Store, secrets: SecretBox, integration_clock: FakeClock, emulator: RunningWorkspace,
        gateway: DatabricksGateway, job_ids: list[int], text_log: io.StringIO) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    ws: Workspace = workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws",
                                             auto_import=True)
    workspaces.import_jobs(store, secrets, ws.name, [], wiring=WIRING)
    discovery = AutoImport(store, lambda name, ids, *, limits: workspaces.import_jobs(store, secrets, name, ids,
                                                                                       limits=limits),
                           clock=integration_clock, interval_s=INTERVAL_S)
    collector = Collector(store, lambda w: workspaces.gateway_for(store, secrets, w), clock=integration_clock,
                          poll_interval_s=60.0, discovery=discovery)
    collector.poll_once()
    job_id = gateway.create_job({
        "name": NAME, "job_clusters": [{"job_cluster_key": "main", "new_cluster": aws_cluster("m5d.xlarge", 3)}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]})
    integration_clock.advance(INTERVAL_S)
    collector.poll_once()

    lines = text_log.getvalue().splitlines()
    (imported,) = [line for line in lines if "auto-imported" in line]
    assert f"auto-imported job {job_id} (etl\\n{FORGED}\\x1b]0;owned\\x07) as sbx/{job_id}/main" in imported
    # No line of the log starts with the forged record, and no escape reached it.
    assert not [line for line in lines if line.startswith(FORGED[:24])], lines
    assert "\x1b" not in text_log.getvalue() and "\x07" not in text_log.getvalue()
