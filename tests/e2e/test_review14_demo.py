"""Newcomer review 14: `trimtab demo` in a server's state directory, beside a dashboard server on its
own database, interrupted with Ctrl-C mid-round, and resumed with its gRPC port taken. The real
`trimtab demo` / `run_demo`, the real server and the emulator, on temporary directories."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.cli.main import main
from server.config import ServerConfig
from server.demo import DEMO_JOBS, STATE_FILE, DemoConfig, run_demo
from server.onboard import SERVER_ENV
from server.serve import start_server
from server.store import Store, open_store
from tests.e2e.terminal import as_a_terminal_starts_it

SPEED = "200"  # as tests/e2e/test_e2e_demo.py: every agent reads its whole log at this speed


@contextlib.contextmanager
def _store(state_dir: Path, *, create: bool = False) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{state_dir / 'trimtab.db'}", upgrade=create)
    try:
        yield opened
    finally:
        opened.close()


def _demo(*args: str) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["demo", "--speed", SPEED, *args])
    return code, printed.getvalue()


def test_the_demo_does_not_take_the_servers_state_dir_from_its_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It read TRIMTAB_STATE_DIR, which README/operations.md have users export for their server: it
    then wrote demo.json, workspace/ and timelines/ there and added a `sandbox` workspace with
    auto-applied projects to the live server's database."""
    server_dir = tmp_path / "server"
    with _store(server_dir, create=True) as opened:  # a server's (as `trimtab token create` leaves it)
        assert opened.workspaces.list() == []
    before = sorted(p.name for p in server_dir.iterdir())
    monkeypatch.setenv("TRIMTAB_STATE_DIR", str(server_dir))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, printed = _demo("--runs", "1")
    assert code == 0
    assert sorted(p.name for p in server_dir.iterdir()) == before
    with _store(server_dir) as opened:
        assert opened.workspaces.list() == [] and opened.projects.list() == []
    demo_dir = tmp_path / "data" / "trimtab" / "demo"
    assert (demo_dir / STATE_FILE).is_file()
    # Its closing hints: the dashboard server must be stopped before the demo runs more.
    assert "stop that dashboard server first" in printed


def test_a_directory_with_a_database_but_no_demo_is_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    server_dir = tmp_path / "server"
    with _store(server_dir, create=True):
        pass
    before = sorted(p.name for p in server_dir.iterdir())
    code, _ = _demo("--runs", "1", "--state-dir", str(server_dir))
    assert code == 1
    err = capsys.readouterr().err
    assert f"{server_dir} holds a Trimtab database (trimtab.db) but no demo.json: it is not a demo's directory" in err
    assert sorted(p.name for p in server_dir.iterdir()) == before  # not even demo.log


def test_a_server_on_the_demos_database_refuses_the_demo_and_the_demo_refuses_a_server(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's closing hints said: browse it with `trimtab server start --state-dir`, then run more.
    Both then planned, collected and applied on one SQLite file (no server lock for the demo)."""
    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    rounds = json.loads((tmp_path / STATE_FILE).read_text())["rounds"]
    dashboard = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path, collect=0))
    try:
        code, _ = _demo("--runs", "1", "--state-dir", str(tmp_path))
    finally:
        dashboard.stop(grace=1)
    assert code == 1
    assert f"a Trimtab server (pid {os.getpid()}) serves this demo's database: stop it first" in capsys.readouterr().err
    assert json.loads((tmp_path / STATE_FILE).read_text())["rounds"] == rounds

    # And the other way round: while the demo runs, a server on its database is refused.
    refused: list[str] = []

    def start_a_dashboard(*_: object) -> None:
        if not refused:
            try:
                start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path, collect=0)).stop(grace=0)
                refused.append("started")
            except Exception as exc:  # noqa: BLE001 - the message is what is checked
                refused.append(str(exc))

    run_demo(DemoConfig(state_dir=tmp_path, runs=1, speed=float(SPEED)), start_a_dashboard)
    assert refused and "another Trimtab server" in refused[0], refused


def _started_init_script(state_dir: Path) -> bool:
    return any((state_dir / "workspace").rglob("*.stdout.log"))


def test_ctrl_c_mid_round_leaves_no_failed_run_and_counts_no_round(tmp_path: Path) -> None:
    """Ctrl-C reached the simulated init scripts (one process group with the terminal): runs failed
    with "init script exited with -2", or came back as "The sandbox workspace stopped while this
    run was in progress", and counted in SLA met and the savings for good; rounds fell behind."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from server.cli.main import main; sys.exit(main(sys.argv[1:]))",
         "demo", "--runs", "2", "--speed", "100", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True, cwd=Path(__file__).resolve().parents[2], preexec_fn=as_a_terminal_starts_it)
    try:
        deadline = time.monotonic() + 120
        while not _started_init_script(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[0]
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, out
    assert "cancelled and removed" in out, out
    assert json.loads((tmp_path / STATE_FILE).read_text())["rounds"] == 0

    result = run_demo(DemoConfig(state_dir=tmp_path, runs=1, speed=float(SPEED)))
    assert result.rounds_total == 1
    with _store(tmp_path) as opened:
        runs = [r for p in opened.projects.list() for r in opened.runs.history(int(p.id or 0))]
    assert [(r.outcome, r.message) for r in runs] == [("succeeded", r.message) for r in runs]
    assert len(runs) == len(DEMO_JOBS)
    assert all(job.runs == 1 for job in result.jobs)
    sla_job = next(job for job in result.jobs if job.sla_seconds)
    assert sla_job.sla_met_fraction == 1.0


def test_a_demo_whose_ports_were_taken_resumes_on_others_and_rewires_its_jobs(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A rerun whose remembered gRPC port was taken failed with gRPC's raw "add_port.cc" line and
    advice to "pick another --listen port", a flag the demo does not have."""
    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    remembered = json.loads((tmp_path / STATE_FILE).read_text())
    holders = []
    for port in (remembered["grpc_port"], remembered["workspace_port"]):
        holder = socket.socket()
        holder.bind(("127.0.0.1", port))
        holder.listen()
        holders.append(holder)
    capfd.readouterr()
    try:
        result = run_demo(DemoConfig(state_dir=tmp_path, runs=1, speed=float(SPEED)))
    finally:
        for holder in holders:
            holder.close()
    err = capfd.readouterr().err
    assert "add_port.cc" not in err and "--listen" not in err
    assert f"the demo's gRPC port {remembered['grpc_port']} is taken" in err
    now = json.loads((tmp_path / STATE_FILE).read_text())
    assert now["grpc_port"] not in (0, remembered["grpc_port"])
    assert now["workspace_port"] not in (0, remembered["workspace_port"])
    # The agents reached the server where it listens now: every run's data came in whole.
    assert result.runs_simulated == len(DEMO_JOBS) and result.runs_ingested_completely == len(DEMO_JOBS)
    with _store(tmp_path) as opened:
        for project in opened.projects.list():
            assert project.current_spec["spark_env_vars"][SERVER_ENV] == f"127.0.0.1:{now['grpc_port']}"
