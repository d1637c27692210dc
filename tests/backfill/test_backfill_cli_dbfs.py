"""`trimtab project backfill` end to end: local paths and dbfs:/ through the workspace emulator."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace, start_workspace
from server.backfill import backfill
from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store, open_store
from tests.agent.conftest import FAST_JVM_OPTS
from tests.backfill.conftest import Delivered, add_project, delivered_records, put_runs
from tests.inprocess_cli import run_cli as _run


@pytest.fixture
def db(sqlite_url: str) -> str:
    store = open_store(sqlite_url)
    try:
        add_project(store)
    finally:
        store.close()
    return sqlite_url


def test_cli_local_table_then_json(tagged: Delivered, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    delivered = tagged  # no workspace in the database: the project's tag in the logs places them
    code, out, err = _run(capsys, "project", "backfill", "sbx/7/main", "--eventlogs", str(delivered.root),
                          "--db", db)
    assert code == 0, err
    header, _, row = out.strip().splitlines()
    assert header.split() == ["PROJECT", "APPLICATIONS", "FOUND", "IMPORTED", "ALREADY", "PRESENT", "RUNS",
                              "CREATED"]
    assert row.split() == ["sbx/7/main", "3", "3", "0", "3"]
    code, out, _ = _run(capsys, "--json", "project", "backfill", "1", "--eventlogs", str(delivered.root),
                        "--db", db)
    report = json.loads(out)
    assert code == 0 and (report["imported"], report["already_present"], report["runs_created"]) == (0, 3, 0)
    assert sorted(report["application_ids"]) == sorted(d.name for d in delivered.app_dirs)


def test_cli_errors_are_one_line(delivered: Delivered, db: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    cases = [
        (("sbx/7/main", "--eventlogs", str(tmp_path / "nope")), 1, "no such file or directory"),
        (("sbx/7/main", "--eventlogs", str(tmp_path / "empty")), 1, "no event logs found"),
        (("sbx/8/main", "--eventlogs", str(delivered.root)), 1, "project 'sbx/8/main' not found"),
        (("1", "--eventlogs", str(delivered.root), "--engine", "dask"), 2, "dask"),
        (("1", "--eventlogs", str(delivered.root), "--spark-master", "local[1]"), 2, "--engine spark"),
    ]
    for args, want_code, text in cases:
        code, out, err = _run(capsys, "project", "backfill", *args, "--db", db)
        # The error is one line; beside it only the line naming the database opened (see `token`).
        lines = [line for line in err.strip().splitlines() if not line.startswith("database: ")]
        assert code == want_code and text in err and len(lines) == 1, (args, err)
        assert out == ""


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningWorkspace]:
    for name in [n for n in os.environ if n.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)  # the SDK would read them
    running = start_workspace(tmp_path / "workspace", speed=20000)
    try:
        yield running
    finally:
        running.stop()


def test_dbfs_backfill_through_the_gateway(delivered: Delivered, emulator: RunningWorkspace, db: str,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # Databricks delivered the logs to dbfs:/cluster-logs (the emulator keeps DBFS on its disk).
    shutil.copytree(delivered.root, emulator.workspace.dbfs_root / "cluster-logs")
    put_runs(emulator, *delivered_records(delivered))  # the workspace still holds the runs (runs/get)
    (emulator.workspace.dbfs_root / "cluster-logs" / delivered.cluster_ids[0] / "driver").mkdir()
    (emulator.workspace.dbfs_root / "cluster-logs" / delivered.cluster_ids[0] / "driver" / "stdout").write_text("x")
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("TRIMTAB_SECRET_KEY", key)
    store = open_store(db)
    try:
        workspaces.add_workspace(store, SecretBox(key), "sbx", emulator.host, emulator.token, "aws")
    finally:
        store.close()

    code, out, err = _run(capsys, "--json", "project", "backfill", "1", "--eventlogs", "dbfs:/cluster-logs/",
                          "--db", db, "--state-dir", str(tmp_path / "state"))
    assert code == 0, err
    report = json.loads(out)
    assert (report["applications_found"], report["imported"], report["runs_created"]) == (3, 3, 3)
    assert report["runs_unpriced"] == 0
    store = open_store(db)
    try:
        for app_dir in delivered.app_dirs:
            app = store.applications.get(app_dir.name)
            # Where the log really is, not the temporary copy it was read from.
            assert app.event_log_path == "dbfs:/cluster-logs/" + app_dir.relative_to(delivered.root).as_posix()
            run = store.runs.for_application(app_dir.name)
            # Priced with the catalog for the workspace's cloud, over the application's span.
            assert run is not None and run.cost is not None and run.cost.total > 0 and run.cost.dbus > 0
            assert run.cost.source == "estimate"
    finally:
        store.close()
    code, _, err = _run(capsys, "project", "backfill", "1", "--eventlogs", "dbfs:/elsewhere", "--db", db,
                        "--state-dir", str(tmp_path / "state"))
    assert code == 1 and "dbfs:/elsewhere: no such DBFS path" in err


@pytest.mark.postgres
def test_a_dbfs_application_directory_or_file_keeps_its_name(delivered: Delivered, emulator: RunningWorkspace,
                                                             store: Store) -> None:
    """Pointed at one application's ``<spark-context-id>/`` (or its eventlog file), the application
    keeps its id and its cluster: it was named after the temporary copy, a new one each backfill."""
    shutil.copytree(delivered.root, emulator.workspace.dbfs_root / "cluster-logs")
    put_runs(emulator, *delivered_records(delivered))
    gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    project = add_project(store)
    app_dir = delivered.app_dirs[0]
    where = "dbfs:/cluster-logs/" + app_dir.relative_to(delivered.root).as_posix()
    for source in (where, where + "/", where + "/eventlog"):
        report = backfill(store, project.name, source, gateway_for=lambda _ws: gateway)
        assert report.application_ids == (app_dir.name,), source
        app = store.applications.get(app_dir.name)
        assert (app.event_log_path, app.cluster_id) == (where, delivered.cluster_ids[0])
    assert [a.application_id for a in store.applications.list()] == [app_dir.name]
    (run,) = store.runs.history(int(project.id or 0))
    assert run.application_ids == (app_dir.name,)


def test_gateway_reads_dbfs_in_chunks(emulator: RunningWorkspace) -> None:
    gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20),
                                clock=SystemClock())
    data = bytes(range(256)) * 20
    gateway.put_dbfs_file("/x/blob.bin", data)
    assert gateway.read_dbfs("/x/blob.bin", chunk_bytes=1000) == data
    assert [(f["path"], f["is_dir"]) for f in gateway.list_dbfs("/x")] == [("/x/blob.bin", False)]


@pytest.mark.spark
def test_cli_spark_engine_starts_and_stops_its_own_session(tagged: Delivered, db: str,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from pyspark.sql import SparkSession

    delivered = tagged  # no workspace in the database: the project's tag in the logs places them
    # If this starts the JVM: start-up flags only (C1 compiler, serial GC), a third faster on 2 cores;
    # Python workers run this interpreter, not a ``python3`` found on PATH (a pyenv shim costs ~0.5 s).
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", FAST_JVM_OPTS)
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)

    assert SparkSession.getActiveSession() is None
    code, out, err = _run(capsys, "--json", "project", "backfill", "1", "--eventlogs", str(delivered.root),
                          "--engine", "spark", "--spark-master", "local[1]", "--db", db)
    assert code == 0, err
    report = json.loads(out)
    assert (report["engine"], report["imported"], report["runs_created"]) == ("spark", 3, 3)
    assert "parsing 3 application(s) on the spark engine" in err
    assert SparkSession.getActiveSession() is None  # the session it started is stopped
