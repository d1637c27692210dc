"""The init script asks a lock, not its pid files, whether Trimtab already runs on the node (review of
the agent). A restart of the same node keeps /databricks, and with it supervisor.pid and agent.pid,
whose pids may by then name any process (the new driver's JVM): the script logged "agent already
running" and started nothing, for the cluster's whole life. The script run for real with bash,
flock(1) and a real trimtab-agent."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.agent.conftest import TOKEN
from tests.agent.test_agent_init_script import _alive, _kill_all, _pid, _run, _wait_exit


def _env(binary: str) -> dict[str, str]:
    """The init script's environment on a driver node whose server is away (nothing is sent here)."""
    return dict(DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_BIN=binary)


def test_stale_pid_files_naming_a_live_unrelated_process_do_not_stop_the_start(
        tmp_path: Path, unrelated: subprocess.Popen) -> None:
    binary = shutil.which("trimtab-agent")
    assert binary
    home = tmp_path / "databricks" / "trimtab"
    home.mkdir(parents=True)
    (tmp_path / "databricks" / "driver" / "eventlogs").mkdir(parents=True)
    for name in ("supervisor.pid", "agent.pid"):
        (home / name).write_text(f"{unrelated.pid}\n")
    proc, _ = _run(tmp_path, **_env(binary))
    agent, sup = _pid(home, "agent.pid"), _pid(home, "supervisor.pid")
    try:
        assert proc.returncode == 0
        log = (home / "init.log").read_text()
        assert "already running" not in log and f"agent started (pid {agent}, supervisor pid {sup})" in log, log
        assert unrelated.pid not in (agent, sup) and _alive(agent) and _alive(sup)
        assert unrelated.poll() is None  # left alone
        cmdline = Path(f"/proc/{agent}/cmdline").read_bytes().split(b"\0")
        assert any(part.endswith(b"trimtab-agent") for part in cmdline) and b"run" in cmdline

        # Run again while it runs: the lock says so, and nothing more is started.
        again, _ = _run(tmp_path, **_env(binary))
        assert again.returncode == 0 and (_pid(home, "agent.pid"), _pid(home, "supervisor.pid")) == (agent, sup)
        assert f"agent already running (pid {agent}, supervisor pid {sup})" in (home / "init.log").read_text()
    finally:
        _kill_all(home, sup, agent)


def test_an_agent_started_by_hand_is_found_by_its_own_lock(tmp_path: Path) -> None:
    """No supervisor and no pid file (a person, or an older script, started it): its state directory's
    lock still says it runs, rather than a second agent refused at once."""
    binary = shutil.which("trimtab-agent")
    assert binary
    home = tmp_path / "databricks" / "trimtab"
    logs = tmp_path / "databricks" / "driver" / "eventlogs"
    logs.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIMTAB_", "GRPC_"))}
    by_hand = subprocess.Popen([binary, "run", "--eventlog-dir", str(logs), "--state-dir", str(home / "state"),
                                "--server", "127.0.0.1:1", "--token-env", "T"], env={**env, "T": TOKEN},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (home / "state" / "agent.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the lock is taken right after the file is made
        proc, _ = _run(tmp_path, **_env(binary))
        assert proc.returncode == 0 and by_hand.poll() is None
        log = (home / "init.log").read_text()
        assert "agent already running (pid unknown, supervisor pid none)" in log, log
        assert not (home / "supervisor.pid").exists() and not (home / "agent.pid").exists()
    finally:
        by_hand.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            by_hand.wait(20)
        by_hand.kill()
        by_hand.wait()


def test_the_lock_goes_with_a_supervisor_killed_with_sigkill(tmp_path: Path) -> None:
    """kill -9 of the supervisor and its agent leaves both pid files behind, naming dead processes
    (or, later, anyone's): the next start goes ahead."""
    binary = shutil.which("trimtab-agent")
    assert binary
    home = tmp_path / "databricks" / "trimtab"
    proc, _ = _run(tmp_path, **_env(binary))
    first, sup = _pid(home, "agent.pid"), _pid(home, "supervisor.pid")
    assert proc.returncode == 0 and _alive(first) and _alive(sup)
    _kill_all(home, sup, first)
    assert first is not None and sup is not None and _wait_exit(sup, 10) and _wait_exit(first, 10)
    assert (home / "supervisor.pid").exists()
    proc, _ = _run(tmp_path, **_env(binary))
    second, sup2 = _pid(home, "agent.pid"), _pid(home, "supervisor.pid")
    try:
        assert proc.returncode == 0 and second != first and _alive(second) and _alive(sup2)
        assert (home / "init.log").read_text().count("agent started") == 2
    finally:
        _kill_all(home, sup2, second)
