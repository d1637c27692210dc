"""`trimtab sandbox up --clouds` (review finding 11): the cloud stand-ins start with the workspace,
bill its runs, and the printed credentials reconcile a run's cost through a real Trimtab server.

Everything is real: the sandbox in its own process as a user starts it, a Trimtab server on
127.0.0.1:0 over SQLite, the CLI over gRPC, boto3 against moto, the Azure client over HTTPS.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from server.cli.main import main
from server.clock import SystemClock
from server.clouds.factory import bill_source
from server.config import ServerConfig
from server.databricks.gateway import DatabricksGateway, GatewayConfig
from server.serve import RunningServer, start_server
from server.store import Store

REPO = Path(__file__).resolve().parents[2]


class Sandbox:
    """`trimtab [--json] sandbox up --clouds` in a child process; its output lines as they come."""

    def __init__(self, state_dir: Path, *, as_json: bool) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "TRIMTAB_"))}
        env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli.main", *(["--json"] if as_json else []), "sandbox", "up",
             "--clouds", "--no-schedules", "--state-dir", str(state_dir), "--speed", "2000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def read_until(self, prefix: str) -> list[str]:
        lines: list[str] = []
        while True:
            line = self._lines.get(timeout=90)
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"sandbox up ended: {lines} {err}")
            lines.append(line)
            if line.startswith(prefix):
                return lines

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, err


@pytest.fixture
def sandbox_up(tmp_path: Path) -> Iterator[Any]:
    started: list[Sandbox] = []

    def start(as_json: bool = False) -> Sandbox:
        s = Sandbox(tmp_path / "sandbox", as_json=as_json)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.interrupt()


@pytest.fixture
def server(sqlite_store: Store, tmp_path: Path) -> Iterator[RunningServer]:
    # Hour-long intervals: the one collection that matters is the one the test asks for. The
    # stand-ins bill at once, so no wait before the bill is asked for (as the sandbox says).
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server",
                          secret_key=Fernet.generate_key().decode(), collect=1,
                          collect_interval_seconds=3600.0, recost_interval_seconds=3600.0, bill_wait_hours=0)
    running = start_server(config, store=sqlite_store)
    try:
        yield running
    finally:
        running.stop(grace=1)


def _assignments(lines: list[str]) -> dict[str, str]:
    """The shell assignments among the printed lines, as a shell would read them."""
    out: dict[str, str] = {}
    for line in lines:
        if not line.startswith("#") and "=" in line:
            (word,) = shlex.split(line)
            name, value = word.split("=", 1)
            out[name] = value
    return out


def test_printed_credentials_get_a_run_billed_through_the_server(
        sandbox_up: Any, server: RunningServer, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sandbox = sandbox_up()
    lines = sandbox.read_until("# the stand-ins bill at once")
    assert "TRIMTAB_BILL_WAIT_HOURS=0" in lines[-1]
    lines = lines[:-1]
    env = _assignments(lines)
    assert set(env) == {"DATABRICKS_HOST", "DATABRICKS_TOKEN", "TRIMTAB_SANDBOX_AWS_CREDENTIALS",
                        "TRIMTAB_SANDBOX_AZURE_CREDENTIALS"}, lines
    aws = json.loads(env["TRIMTAB_SANDBOX_AWS_CREDENTIALS"])
    assert aws["region"] == "us-east-1" and aws["endpoint_url"].startswith("http://127.0.0.1:")
    advice = lines[-1]
    assert "--cloud-credentials-env TRIMTAB_SANDBOX_AWS_CREDENTIALS" in advice
    assert "--region us-east-1" in advice

    # As the README says: export them, then `workspace add ... --cloud-credentials-env`.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _, admin = sqlite_store.tokens.create("cli", "admin")
    cli = ["--server", server.address, "--token", admin]
    assert main([*cli, "workspace", "add", "sandbox", "--host", env["DATABRICKS_HOST"], "--token-env",
                 "DATABRICKS_TOKEN", "--cloud", "aws", "--region", "us-east-1",
                 "--cloud-credentials-env", "TRIMTAB_SANDBOX_AWS_CREDENTIALS"]) == 0
    gateway = DatabricksGateway(GatewayConfig(env["DATABRICKS_HOST"], env["DATABRICKS_TOKEN"]),
                                clock=SystemClock())
    job = next(j for j in gateway.list_jobs() if j["settings"]["name"].startswith("daily-etl"))
    assert main([*cli, "workspace", "import", "sandbox", "--job", str(job["job_id"])]) == 0
    (project,) = sqlite_store.projects.list()

    run_id = gateway.run_now(int(job["job_id"]))
    deadline = time.monotonic() + 120
    ended = ("TERMINATED", "INTERNAL_ERROR", "SKIPPED")
    while gateway.get_run(run_id)["state"].get("life_cycle_state") not in ended:
        assert time.monotonic() < deadline, gateway.get_run(run_id)["state"]
        time.sleep(0.2)

    collector = server.collector
    assert collector is not None
    polls = collector.polls
    collector.wake()
    assert collector.wait_for_poll(polls + 1, 60)
    (run,) = sqlite_store.runs.history(int(project.id or 0))
    assert run.cost is not None and run.cost.source == "billed", run.cost
    assert run.cost.billed_cloud_cost is not None and run.cost.billed_cloud_cost > 0

    capsys.readouterr()
    assert main([*cli, "run", "show", str(run.id)]) == 0
    assert "billed" in capsys.readouterr().out

    code, err = sandbox.interrupt()
    assert code == 0 and "# sandbox stopped" in err


def test_json_line_names_both_clouds_and_the_azure_stand_in_answers_over_tls(sandbox_up: Any) -> None:
    sandbox = sandbox_up(as_json=True)
    (line,) = sandbox.read_until("{")
    info = json.loads(line)
    assert info["host"].startswith("http://127.0.0.1:") and info["jobs"]
    clouds = info["clouds"]
    assert clouds["aws"]["credentials_env"] == "TRIMTAB_SANDBOX_AWS_CREDENTIALS"
    azure = json.loads(clouds["azure"]["credentials_json"])
    assert azure["base_url"] == clouds["azure"]["base_url"] and Path(azure["ca_bundle"]).is_file()
    # Trimtab's own bill clients accept both and reach the stand-ins (nothing billed for this cluster).
    for cloud in ("aws", "azure"):
        source = bill_source(cloud, clouds[cloud]["credentials_json"])
        assert source is not None and source.cluster_bill("no-such-cluster", 0, 86_400_000) == []
    code, _ = sandbox.interrupt()
    assert code == 0
    assert not Path(azure["ca_bundle"]).exists()  # the stand-in's certificate goes with it
