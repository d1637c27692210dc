"""The init script on a node whose /databricks refuses flock(2) (an NFS mount without lockd, a FUSE
mount without locks: ENOLCK). flock(1) then exits with an error status, which the script took for
"held": it logged "agent already running (pid unknown, supervisor pid none)" and started nothing,
for the cluster's whole life. A lock error is not a held lock: the script says the file system
refuses locks and falls back to the pid files, trusting a pid only when /proc names Trimtab's
process. The node is made lock-less for real: a preloaded flock(2) that fails with ENOLCK, in
flock(1) and in the agent alike (which then runs without its own lock, as it does on such a mount).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.agent.test_agent_init_running_check import _env as driver_env
from tests.agent.test_agent_init_script import _alive, _kill_all, _pid, _run

_NO_FLOCK_C = """\
#include <errno.h>
int flock(int fd, int op) { (void)fd; (void)op; errno = ENOLCK; return -1; }
"""


@pytest.fixture(scope="module")
def no_flock(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A shared object whose flock(2) fails with ENOLCK, for LD_PRELOAD."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the ENOLCK flock(2) shim")
    where = tmp_path_factory.mktemp("noflock")
    (where / "noflock.c").write_text(_NO_FLOCK_C)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(where / "noflock.so"), str(where / "noflock.c")],
                   check=True, capture_output=True, timeout=60)
    return str(where / "noflock.so")


def _env(binary: str, preload: str) -> dict[str, str]:
    return {**driver_env(binary), "LD_PRELOAD": preload}


def _node(tmp_path: Path) -> Path:
    home = tmp_path / "databricks" / "trimtab"
    home.mkdir(parents=True)
    (tmp_path / "databricks" / "driver" / "eventlogs").mkdir(parents=True)
    return home


def test_a_file_system_refusing_locks_is_named_and_the_agent_starts(tmp_path: Path, no_flock: str) -> None:
    binary = shutil.which("trimtab-agent")
    assert binary
    home = _node(tmp_path)
    proc, _ = _run(tmp_path, **_env(binary, no_flock))
    agent, sup = _pid(home, "agent.pid"), _pid(home, "supervisor.pid")
    try:
        assert proc.returncode == 0
        log = (home / "init.log").read_text()
        assert "already running" not in log, log
        assert f"{home}/supervisor.lock: this file system refuses locks (No locks available" in log, log
        assert f"agent started (pid {agent}, supervisor pid {sup})" in log, log
        assert _alive(agent) and _alive(sup)

        # Run again while it runs: without locks the pid files say so, and nothing more is started.
        again, _ = _run(tmp_path, **_env(binary, no_flock))
        assert again.returncode == 0 and (_pid(home, "agent.pid"), _pid(home, "supervisor.pid")) == (agent, sup)
        log = (home / "init.log").read_text()
        assert log.count("agent started") == 1
        assert log.rstrip().endswith(f"agent already running (pid {agent}, supervisor pid {sup})"), log
    finally:
        _kill_all(home, sup, agent)


def test_without_locks_pid_files_naming_an_unrelated_process_do_not_stop_the_start(
        tmp_path: Path, no_flock: str, unrelated: subprocess.Popen) -> None:
    """The fallback is the old pid-file check, but a pid counts only when it is Trimtab's: the pid files
    outlive a node's restart, and their pid may name the new driver's JVM by then."""
    binary = shutil.which("trimtab-agent")
    assert binary
    home = _node(tmp_path)
    for name in ("supervisor.pid", "agent.pid"):
        (home / name).write_text(f"{unrelated.pid}\n")
    proc, _ = _run(tmp_path, **_env(binary, no_flock))
    agent, sup = _pid(home, "agent.pid"), _pid(home, "supervisor.pid")
    try:
        assert proc.returncode == 0
        log = (home / "init.log").read_text()
        assert "already running" not in log and f"agent started (pid {agent}, supervisor pid {sup})" in log, log
        assert unrelated.pid not in (agent, sup) and _alive(agent) and _alive(sup)
        assert unrelated.poll() is None  # left alone
    finally:
        _kill_all(home, sup, agent)
