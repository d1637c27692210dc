"""Fixtures for the simulator tests: a real PySpark event log and Spark's own History Server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import FAST_JVM_OPTS, run_spark_app


def write_reference_log(out: Path) -> None:
    """The reference application (local[2], one tiny aggregation); run by ``tests.agent.spark_apps.serve``."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("trimtab-reference")
             .config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", out.as_uri())
             .config("spark.eventLog.compress", "false").config("spark.eventLog.rolling.enabled", "false")
             .config("spark.eventLog.logStageExecutorMetrics", "true").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "3").getOrCreate())
    try:
        df = spark.range(0, 2000, 1, 4).selectExpr("id % 7 as k", "id as v")
        df.groupBy("k").sum("v").collect()
    finally:
        spark.stop()


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@pytest.fixture(scope="session")
def real_spark_events(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Events of a log written just now by real PySpark (in the JVM the agent tests' applications use)."""
    out = run_spark_app(pytestconfig, tmp_path_factory, "real_spark_events")
    (log,) = [p for p in out.iterdir() if p.is_file()]
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


class HistoryServer:
    """Spark's History Server (shipped with PySpark) reading one log directory, on a free port."""

    def __init__(self, log_dir: Path, work_dir: Path) -> None:
        conf = work_dir / "history.conf"
        conf.write_text(
            f"spark.history.fs.logDirectory {log_dir.as_uri()}\n"
            "spark.history.ui.port 0\n"  # Jetty picks a free port; we read it from the log
            "spark.history.fs.update.interval 1s\n"
        )
        self.log_path = work_dir / "history-server.log"
        env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
               "SPARK_NO_DAEMONIZE": "1", "SPARK_HISTORY_OPTS": FAST_JVM_OPTS}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.history.HistoryServer",
                 "--properties-file", str(conf)], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.base = self._wait_for_port()

    def _wait_for_port(self, timeout_s: float = 90.0) -> str:
        deadline = time.monotonic() + timeout_s
        pattern = re.compile(rb"started at http://[^:/\s]+:(\d+)")
        while time.monotonic() < deadline:
            match = pattern.search(self.log_path.read_bytes())
            if match:
                return f"http://127.0.0.1:{int(match.group(1))}/api/v1"
            if self.proc.poll() is not None:
                raise RuntimeError(f"history server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)  # polling an external JVM's log: there is no event to wait on
        raise TimeoutError("history server did not start")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=30) as resp:
            return json.loads(resp.read())

    def wait_for_apps(self, app_ids: set[str], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                listed = {a["id"] for a in self.get("/applications")}
            except (urllib.error.URLError, ValueError):
                listed = set()
            if app_ids <= listed:
                return
            time.sleep(0.1)  # the server rescans its log directory on its own schedule
        raise TimeoutError(f"history server never listed {sorted(app_ids)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def history_server_factory(tmp_path: Path) -> Iterator[Any]:
    servers: list[HistoryServer] = []

    def start(log_dir: Path) -> HistoryServer:
        server = HistoryServer(log_dir, tmp_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
