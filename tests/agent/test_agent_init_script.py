"""The init script run for real in a temporary root with the Databricks variables set."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from sandbox.workspace import runtime_python
from tests.agent.conftest import REPO, TOKEN, IngestServer

SCRIPT = REPO / "init_scripts" / "trimtab-init.sh"


def _run(root: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    # A cluster's environment has none of these; the test process may (the CLI run in-process by
    # other tests sets GRPC_VERBOSITY, which the script must then keep, failing the default check;
    # a CI machine's PIP_DEFAULT_TIMEOUT would replace the script's --timeout for pip).
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRIMTAB_", "DB_", "GRPC_", "PIP_"))}
    base.update(TRIMTAB_FS_ROOT=str(root), DB_CLUSTER_ID="0101-abc", DB_CLUSTER_NAME="job-1-run-2",
                DB_DRIVER_IP="10.0.0.1", DB_IS_JOB_CLUSTER="TRUE", **env)
    started = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT)], env=base, capture_output=True, text=True, timeout=120)
    return proc, time.monotonic() - started


def _runtime_python(root: Path) -> Path:
    """The sandbox's runtime Python at the node's /databricks/python3 (what the demo's clusters
    use): its venvs see the installed packages, pip included, instead of running ensurepip, so
    making one takes a fraction of a second rather than seconds (ten and more on a loaded
    machine). For the install tests that only wait through venv creation to get to pip; the
    script's steps and pip are real either way. test_failed_install_still_exits_0_quickly keeps a
    real ``python -m venv``."""
    return runtime_python.write_shim(root, root / "runtime-cache")


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to end (pidfd: an event, not a poll loop)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _kill_all(home: Path, *pids: int | None) -> None:
    """Kill the supervisor first (so nothing is restarted after the test), then the agents."""
    known = [p for p in pids if p is not None]
    for name in ("supervisor.pid", "agent.pid"):
        with contextlib.suppress(OSError, ValueError):
            known.append(int((home / name).read_text()))
    for pid in known:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def test_worker_node_does_nothing(tmp_path: Path):
    proc, took = _run(tmp_path, DB_IS_DRIVER="FALSE", TRIMTAB_SERVER="127.0.0.1:1",
                      TRIMTAB_AGENT_BIN=shutil.which("trimtab-agent") or "")
    assert proc.returncode == 0 and took < 5
    assert not (tmp_path / "databricks").exists()


@pytest.mark.spark
def test_driver_starts_agent_that_follows_databricks_logs_and_stops_on_sigterm(
        spark_logs: Path, ingest: IngestServer, tmp_path: Path):
    binary = shutil.which("trimtab-agent")
    assert binary, "the trimtab-agent entry point is installed with the package"
    proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER=ingest.address, TRIMTAB_TOKEN=TOKEN,
                      TRIMTAB_AGENT_BIN=binary, TRIMTAB_AGENT_POLL_S="0.05", TRIMTAB_AGENT_BATCH_AGE_S="0.05")
    assert proc.returncode == 0, proc.stderr
    assert took < 10
    home = tmp_path / "databricks" / "trimtab"
    pid = int((home / "agent.pid").read_text())
    sup = int((home / "supervisor.pid").read_text())
    try:
        conf = (tmp_path / "databricks/driver/conf/00-trimtab-driver-defaults.conf").read_text()
        assert '"spark.eventLog.logStageExecutorMetrics" = "true"' in conf
        assert '"spark.executor.processTreeMetrics.enabled" = "true"' in conf  # the driver's Python memory
        assert "extraListeners" not in conf  # Databricks' DBCEventLoggingListener stays in place
        # Databricks writes its log after the script ran (the JVM starts later).
        plain = next(p for p in spark_logs.iterdir() if p.is_file() and "." not in p.name)
        ctx = tmp_path / "databricks/driver/eventlogs/7766554433"
        ctx.mkdir(parents=True, exist_ok=True)
        meta = b'{"Event":"DBCEventLoggingListenerMetadata","Spark Version":"4.3.0","Rollover Number":0,' \
               b'"SparkContext Id":7766554433}\n'
        (ctx / "eventlog").write_bytes(meta + plain.read_bytes())
        s = ingest.servicer
        assert s.wait_for(lambda: s.keys("application_end"), 30), (home / "agent.log").read_text()[-2000:]
        assert {a for a, _ in s.stored} == {"7766554433"}
        # A second run of the script (e.g. a retried init) does not start a second agent.
        again, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER=ingest.address, TRIMTAB_TOKEN=TOKEN,
                        TRIMTAB_AGENT_BIN=binary)
        assert again.returncode == 0 and int((home / "agent.pid").read_text()) == pid
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        assert _wait_exit(pid, 10), "agent must stop within 10 s of SIGTERM"
        assert time.monotonic() - t0 < 10
        assert "trimtab-agent stopped" in (home / "agent.log").read_text()
        # A clean stop (SIGTERM at cluster termination) ends the supervision too.
        assert _wait_exit(sup, 10)
        assert "agent exited cleanly" in (home / "init.log").read_text()
    finally:
        _kill_all(home, sup, pid)


def test_failed_install_still_exits_0_quickly(tmp_path: Path):
    # The one install test with a real `python -m venv` (ensurepip and all): the others use the
    # sandbox's runtime Python (_runtime_python).
    proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                      TRIMTAB_AGENT_WHEEL=str(tmp_path / "missing" / "trimtab-0.1.0-py3-none-any.whl"))
    assert proc.returncode == 0
    assert took < 60
    home = tmp_path / "databricks" / "trimtab"
    assert not (home / "agent.pid").exists()
    assert "failed" in (home / "init.log").read_text()


def test_hanging_wheel_download_is_time_bounded(tmp_path: Path):
    _runtime_python(tmp_path)  # venv creation fits in the 3 s even on a loaded machine
    with socket.socket() as sink:  # accepts connections and never answers
        sink.bind(("127.0.0.1", 0))
        sink.listen(8)
        url = f"http://127.0.0.1:{sink.getsockname()[1]}/trimtab-0.1.0-py3-none-any.whl"
        proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                          TRIMTAB_AGENT_WHEEL=url, TRIMTAB_INSTALL_TIMEOUT="3")
    assert proc.returncode == 0
    assert took < 15
    assert not (tmp_path / "databricks" / "trimtab" / "agent.pid").exists()


def test_no_server_configured_starts_nothing(tmp_path: Path):
    proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_AGENT_BIN=shutil.which("trimtab-agent") or "")
    assert proc.returncode == 0 and took < 5
    assert not (tmp_path / "databricks" / "trimtab" / "agent.pid").exists()


def test_missing_token_starts_nothing_and_says_so(tmp_path: Path):
    proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN="",
                      TRIMTAB_AGENT_BIN=shutil.which("trimtab-agent") or "")
    assert proc.returncode == 0 and took < 5
    home = tmp_path / "databricks" / "trimtab"
    assert not (home / "agent.pid").exists()
    assert "TRIMTAB_TOKEN is not set: agent not started" in (home / "init.log").read_text()


def test_unusable_agent_bin_is_named(tmp_path: Path):
    proc, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                   TRIMTAB_AGENT_BIN="/nope/trimtab-agent")
    assert proc.returncode == 0
    log = (tmp_path / "databricks" / "trimtab" / "init.log").read_text()
    assert "TRIMTAB_AGENT_BIN=/nope/trimtab-agent is not executable" in log


def test_python_older_than_310_is_reported_plainly(tmp_path: Path):
    # A stand-in interpreter that reports 3.9 (no real 3.9 on the test machines): the script must
    # name it and its version instead of leaving pip's message as the only clue.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text('#!/bin/sh\ncase "$2" in *">= (3, 10)"*) exit 1;; *) echo 3.9.18;; esac\n')
    (fake / "python3").chmod(0o755)
    wheel = tmp_path / "trimtab-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"never read")
    proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                      TRIMTAB_AGENT_WHEEL=str(wheel), PATH=f"{fake}:{os.environ['PATH']}")
    assert proc.returncode == 0 and took < 10
    log = (tmp_path / "databricks" / "trimtab" / "init.log").read_text()
    assert f"using {fake / 'python3'} (Python 3.9.18, from PATH" in log
    assert "Python 3.9.18" in log and "older than 3.10" in log
    assert not (tmp_path / "databricks" / "trimtab" / "agent.pid").exists()


def _fake_agent(tmp_path: Path, body: str) -> Path:
    """An executable standing in for trimtab-agent: ``body`` is its shell script."""
    fake = tmp_path / "fake-agent"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    return fake


def test_the_agent_gets_the_driver_env_file_and_a_quiet_grpc(tmp_path: Path):
    """A comment line inside the launch command's continuation once ended it: the variables before
    it (the driver-env.sh path, where the agent finds the Spark UI's port) never reached the agent."""
    seen = tmp_path / "seen-env"
    fake = _fake_agent(tmp_path, f'env > "{seen}"\nexec sleep 30\n')
    proc, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                   TRIMTAB_AGENT_BIN=str(fake))
    home = tmp_path / "databricks" / "trimtab"
    pid = int((home / "agent.pid").read_text())
    try:
        assert proc.returncode == 0
        env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
        assert env["TRIMTAB_DRIVER_ENV_FILE"] == f"{tmp_path}/tmp/driver-env.sh"
        assert env["GRPC_VERBOSITY"] == "ERROR" and env["TRIMTAB_TOKEN"] == TOKEN
        assert f"agent started (pid {pid}, supervisor pid " in (home / "init.log").read_text()
    finally:
        _kill_all(home, pid)


def test_an_agent_that_exits_at_once_is_reported_not_started(tmp_path: Path):
    fake = _fake_agent(tmp_path, 'echo "trimtab-agent: bad configuration: setting tls_ca: no such file" >&2\nexit 2\n')
    proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                      TRIMTAB_AGENT_BIN=str(fake))
    home = tmp_path / "databricks" / "trimtab"
    assert proc.returncode == 0 and took < 5
    log = (home / "init.log").read_text()
    assert "agent exited at once: trimtab-agent: bad configuration: setting tls_ca: no such file" in log
    assert "agent started" not in log and not (home / "agent.pid").exists()
    assert not (home / "supervisor.pid").exists()  # a start that cannot work is not retried
    assert "restarting the agent" not in log


def _fake_python(path: Path, version: str, new_enough: bool) -> Path:
    """A stand-in interpreter: prints ``version`` and answers the script's ">= (3, 10)" check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\ncase "$2" in *">= (3, 10)"*) exit {0 if new_enough else 1};; '
                    f'*) echo {version};; esac\n')
    path.chmod(0o755)
    return path


def test_the_runtimes_python_is_preferred_over_the_one_on_path(tmp_path: Path):
    # Databricks' /databricks/python3 is the runtime's Python; `python3` on PATH may be Ubuntu's.
    runtime = _fake_python(tmp_path / "databricks" / "python3" / "bin" / "python3", "3.11.9", True)
    on_path = _fake_python(tmp_path / "bin" / "python3", "3.10.12", True)
    wheel = tmp_path / "trimtab-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"never read")
    env = dict(DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
               TRIMTAB_AGENT_WHEEL=str(wheel), PATH=f"{on_path.parent}:{os.environ['PATH']}")
    proc, _ = _run(tmp_path, **env)
    log = (tmp_path / "databricks" / "trimtab" / "init.log").read_text()
    assert proc.returncode == 0
    assert f"using {runtime} (Python 3.11.9, the runtime's interpreter)" in log and str(on_path) not in log

    # A runtime Python older than 3.10 (or none) falls back to PATH, and says which was used.
    _fake_python(runtime, "3.9.5", False)
    (tmp_path / "databricks" / "trimtab" / "init.log").unlink()
    proc, _ = _run(tmp_path, **env)
    log = (tmp_path / "databricks" / "trimtab" / "init.log").read_text()
    assert f"using {on_path} (Python 3.10.12, from PATH; no usable {runtime})" in log


def test_exited_at_once_quotes_only_this_starts_output(tmp_path: Path):
    # agent.log is kept across starts: an agent killed before writing anything must not be
    # reported with an earlier run's last line as its reason.
    home = tmp_path / "databricks" / "trimtab"
    home.mkdir(parents=True)
    (home / "agent.log").write_text("2026-12-04 old run: trimtab-agent: bad configuration: stale reason\n")
    fake = _fake_agent(tmp_path, "kill -9 $$\n")
    proc, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                   TRIMTAB_AGENT_BIN=str(fake))
    log = (home / "init.log").read_text()
    assert proc.returncode == 0
    assert "agent exited at once: (it wrote nothing; exit status unknown)" in log and "stale reason" not in log

    # A second start that does write: only its own line is quoted.
    fake.write_text("#!/bin/sh\necho 'trimtab-agent: another trimtab-agent (pid 7) is running' >&2\nexit 1\n")
    _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
         TRIMTAB_AGENT_BIN=str(fake))
    last = (home / "init.log").read_text().splitlines()[-1]
    assert "agent exited at once: trimtab-agent: another trimtab-agent (pid 7) is running" in last


# -- supervision: a dead agent is started again ---------------------------------------------------

def _events(*events: dict) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _pid(home: Path, name: str) -> int | None:
    try:
        return int((home / name).read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_an_agent_killed_with_sigkill_is_restarted_and_resumes(ingest: IngestServer, tmp_path: Path):
    """kill -9 or the OOM killer once ended delivery for the rest of the cluster's life."""
    binary = shutil.which("trimtab-agent")
    assert binary
    env = dict(DB_IS_DRIVER="TRUE", TRIMTAB_SERVER=ingest.address, TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_BIN=binary,
               TRIMTAB_AGENT_POLL_S="0.05", TRIMTAB_AGENT_BATCH_AGE_S="0.05", TRIMTAB_AGENT_RESTART_DELAY_S="1")
    proc, took = _run(tmp_path, **env)
    assert proc.returncode == 0 and took < 10, proc.stderr
    home = tmp_path / "databricks" / "trimtab"
    first, sup = _pid(home, "agent.pid"), _pid(home, "supervisor.pid")
    try:
        assert _alive(first) and _alive(sup) and first != sup
        logs = tmp_path / "databricks" / "driver" / "eventlogs"
        running = logs / "app-sup.inprogress"
        running.write_text(_events(
            {"Event": "SparkListenerApplicationStart", "App ID": "app-sup", "App Name": "x", "Timestamp": 1},
            {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [], "Properties": {}}))
        s = ingest.servicer
        assert s.wait_for(lambda: ("app-sup", "app-start") in s.stored, 30), (home / "agent.log").read_text()[-2000:]

        os.kill(first, signal.SIGKILL)
        assert _wait_for(lambda: _alive(_pid(home, "agent.pid")) and _pid(home, "agent.pid") != first, 15), \
            (home / "init.log").read_text()
        second = _pid(home, "agent.pid")
        assert _pid(home, "supervisor.pid") == sup
        with running.open("a") as f:
            f.write(_events(
                {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 9, "Job Result": {"Result": "JobSucceeded"}},
                {"Event": "SparkListenerApplicationEnd", "Timestamp": 10}))
        running.rename(logs / "app-sup")
        assert s.wait_for(lambda: ("app-sup", "app-end") in s.stored, 30), (home / "agent.log").read_text()[-2000:]
        assert {k for _, k in s.stored} >= {"app-start", "job/0", "app-end"}
        log = (home / "init.log").read_text()
        assert "agent ended (killed by SIGKILL (kill -9, or the kernel's OOM killer))" in log
        assert "restarting it in 1 s (restart 1 of at most 10 in an hour)" in log

        # A re-run of the script while supervised starts nothing more.
        again, _ = _run(tmp_path, **env)
        assert again.returncode == 0 and _pid(home, "agent.pid") == second and _pid(home, "supervisor.pid") == sup
        assert f"agent already running (pid {second}, supervisor pid {sup})" in (home / "init.log").read_text()

        # SIGTERM (cluster termination, or a person stopping it): the agent exits 0 and nothing restarts it.
        os.kill(second, signal.SIGTERM)
        assert _wait_exit(second, 10) and _wait_exit(sup, 10)
        assert "agent exited cleanly" in (home / "init.log").read_text()
        assert not (home / "supervisor.pid").exists() and _pid(home, "agent.pid") == second
    finally:
        _kill_all(home, sup, first)


def test_restarts_back_off_and_are_capped_per_hour(tmp_path: Path):
    runs = tmp_path / "runs"
    # Crashes (exit 1: an unhandled exception): the first start after living past the script's
    # one-second check, the restarts at once (their pauses are what is checked, not their runs).
    fake = _fake_agent(tmp_path, f'[ -s "{runs}" ] && {{ echo run >> "{runs}"; exit 1; }}\n'
                                 f'echo run >> "{runs}"\nsleep 1.3\nexit 1\n')
    proc, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                   TRIMTAB_AGENT_BIN=str(fake), TRIMTAB_AGENT_RESTART_DELAY_S="1", TRIMTAB_AGENT_MAX_RESTARTS="2")
    home = tmp_path / "databricks" / "trimtab"
    sup = _pid(home, "supervisor.pid")
    try:
        assert proc.returncode == 0 and _alive(sup)
        assert _wait_for(lambda: "restarted 2 times in the last hour" in (home / "init.log").read_text(), 30)
        log = (home / "init.log").read_text()
        # (Whole seconds from `date +%s`: a 1.3 s run reads as 1 or 2.)
        assert re.search(r"agent ended \(exit status 1\) after [12] s; restarting it in 1 s "
                         r"\(restart 1 of at most 2 in an hour\)", log), log
        assert "restarting it in 2 s (restart 2 of at most 2 in an hour)" in log  # the pause doubles
        assert "(TRIMTAB_AGENT_MAX_RESTARTS): next restart in 35" in log  # about an hour after the first
        assert runs.read_text().count("run") == 3
        time.sleep(1.5)
        assert runs.read_text().count("run") == 3 and _alive(sup)  # waiting, not looping
        # The lines are in agent.log too, where people read what the agent did.
        assert "restarted 2 times in the last hour" in (home / "agent.log").read_text()
        os.kill(sup, signal.SIGTERM)  # a signalled supervisor stops at once, even while it waits
        assert _wait_exit(sup, 5)
        assert "supervisor signalled while waiting to restart the agent: not restarting" in (home / "init.log").read_text()
        assert not (home / "supervisor.pid").exists()
    finally:
        _kill_all(home, sup)


@pytest.mark.parametrize(("body", "then", "said"), [
    ("sleep 1.3\nexit 2\n", None, "agent refused its configuration (exit status 2"),
    ("exec sleep 30\n", "kill -9", "/databricks/driver is gone (the driver is shutting down): not restarting"),
])
def test_supervision_ends_when_a_restart_cannot_help(tmp_path: Path, body: str, then: str | None, said: str):
    fake = _fake_agent(tmp_path, body)
    proc, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                   TRIMTAB_AGENT_BIN=str(fake), TRIMTAB_AGENT_RESTART_DELAY_S="1")
    home = tmp_path / "databricks" / "trimtab"
    sup, pid = _pid(home, "supervisor.pid"), _pid(home, "agent.pid")
    try:
        assert proc.returncode == 0 and _alive(sup) and _alive(pid)
        if then == "kill -9":
            shutil.rmtree(tmp_path / "databricks" / "driver")  # the driver node is going away
            os.kill(pid, signal.SIGKILL)
        assert _wait_exit(sup, 10), (home / "init.log").read_text()
        log = (home / "init.log").read_text()
        assert said in log and "restarting the agent" not in log
    finally:
        _kill_all(home, sup, pid)


# -- installing without the package index ---------------------------------------------------------

def _wheel_needing(path: Path, requirement: str) -> Path:
    """A real (tiny) trimtab wheel that needs ``requirement`` from the package index, like the real one."""
    dist = "trimtab-0.1.0.dist-info"
    files = {
        "trimtab_stub/__init__.py": "",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: trimtab\nVersion: 0.1.0\nRequires-Dist: {requirement}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def test_an_unanswering_package_index_fails_the_install_quickly_and_says_what_to_do(tmp_path: Path):
    # No egress: the index accepts connections and never answers (a firewall that swallows them).
    # pip's defaults (5 retries, 15 s each) held cluster start for the whole install timeout.
    # The script's one retry is what runs here; its 10 s timeout is the cluster's PIP_TIMEOUT of
    # 2 s (two waits of 10 s were this file's slowest 20 s; the next test pins the 10).
    _runtime_python(tmp_path)
    wheel = _wheel_needing(tmp_path / "trimtab-0.1.0-py3-none-any.whl", "trimtab-test-dependency-x")
    with socket.socket() as sink:
        sink.bind(("127.0.0.1", 0))
        sink.listen(64)
        index = f"http://127.0.0.1:{sink.getsockname()[1]}/simple/"
        proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                          TRIMTAB_AGENT_WHEEL=str(wheel), PIP_INDEX_URL=index, PIP_CONFIG_FILE=os.devnull,
                          PIP_NO_CACHE_DIR="1", PIP_TIMEOUT="2")
    assert proc.returncode == 0
    assert took < 75, took  # was the full 120 s install timeout
    home = tmp_path / "databricks" / "trimtab"
    log = (home / "init.log").read_text()
    # pip waited for the index twice (--retries 1), each time for the cluster's PIP_TIMEOUT.
    assert log.count("WARNING: Retrying (Retry(") == 1 and "Read timed out. (read timeout=2.0)" in log, log
    assert f"install from {wheel} failed (rc=1; pip's reason is above): agent not installed" in log
    assert "wheelhouse" in log and "PIP_INDEX_URL" in log
    assert not (home / "agent.pid").exists() and not (home / "supervisor.pid").exists()


def test_pip_gets_one_retry_and_a_10_s_timeout_unless_the_cluster_sets_pips_own(tmp_path: Path):
    """What keeps an unanswering index from holding cluster start for minutes (pip's own defaults
    are 5 retries of 15 s); pip's variables in spark_env_vars (a slow private index) replace them,
    where a command-line option would override them without a word. Read from the arguments pip
    gets: a stand-in runtime Python whose venv's python records them."""
    said = tmp_path / "pip-args"
    recorder = tmp_path / "recorder"
    recorder.write_text(f'#!/bin/sh\necho "$*" >> "{said}"\nexit 1\n')
    recorder.chmod(0o755)
    runtime = tmp_path / "databricks" / "python3" / "bin" / "python3"
    runtime.parent.mkdir(parents=True)
    runtime.write_text('#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
                       f'  mkdir -p "$3/bin" && cp "{recorder}" "$3/bin/python"; exit $?\nfi\n'
                       'case "$2" in *">= (3, 10)"*) exit 0;; *) echo 3.11.9;; esac\n')
    runtime.chmod(0o755)
    wheel = str(tmp_path / "trimtab-0.1.0-py3-none-any.whl")
    env = dict(DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_WHEEL=wheel)
    cases = [({}, "--retries 1 --timeout 10"), ({"PIP_TIMEOUT": "60"}, "--retries 1"),
             ({"PIP_DEFAULT_TIMEOUT": "60"}, "--retries 1"), ({"PIP_RETRIES": "3"}, "--timeout 10"),
             ({"PIP_RETRIES": "3", "PIP_TIMEOUT": "60"}, "")]
    for pip_env, options in cases:
        said.unlink(missing_ok=True)
        proc, _ = _run(tmp_path, **env, **pip_env)
        assert proc.returncode == 0
        expected = f"-m pip install --disable-pip-version-check --quiet --no-compile {options} {wheel}".replace("  ", " ")
        assert said.read_text().splitlines() == [expected], pip_env
    assert f"install from {wheel} failed (rc=1; pip's reason is above)" in \
        (tmp_path / "databricks" / "trimtab" / "init.log").read_text()


def test_a_bad_pip_setting_is_pips_reason_for_the_failed_install(tmp_path: Path):
    _runtime_python(tmp_path)
    wheel = _wheel_needing(tmp_path / "trimtab-0.1.0-py3-none-any.whl", "trimtab-test-dependency-x")
    proc, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                   TRIMTAB_AGENT_WHEEL=str(wheel), PIP_TIMEOUT="ten")
    assert proc.returncode == 0
    log = (tmp_path / "databricks" / "trimtab" / "init.log").read_text()
    assert "option timeout: invalid floating-point value: 'ten'" in log, log
    assert f"install from {wheel} failed (rc=3; pip's reason is above)" in log


def test_an_install_timeout_is_named_as_one(tmp_path: Path):
    _runtime_python(tmp_path)  # venv creation fits in the 6 s (ensurepip's took 10 s on a loaded machine)
    with socket.socket() as sink:  # the wheel's URL accepts the connection and never answers
        sink.bind(("127.0.0.1", 0))
        sink.listen(8)
        url = f"http://127.0.0.1:{sink.getsockname()[1]}/trimtab-0.1.0-py3-none-any.whl"
        proc, took = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                          TRIMTAB_AGENT_WHEEL=url, TRIMTAB_INSTALL_TIMEOUT="6")  # before pip's own 10 s
    assert proc.returncode == 0 and took < 30
    log = (tmp_path / "databricks" / "trimtab" / "init.log").read_text()
    assert f"install from {url} timed out after 6 s (TRIMTAB_INSTALL_TIMEOUT)" in log
    assert "wheelhouse" in log and "rc=124" not in log


def test_a_wheel_the_script_cannot_read_is_named_as_such_not_blamed_on_the_index(tmp_path: Path):
    # A /Volumes wheel named for an init script outside a volume: Databricks gives the script no
    # credentials for it, so the node sees no file there (here: a path that does not exist).
    _runtime_python(tmp_path)
    wheel = tmp_path / "Volumes" / "main" / "ops" / "trimtab" / "trimtab-0.1.0-py3-none-any.whl"
    proc, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                   TRIMTAB_AGENT_WHEEL=str(wheel))
    assert proc.returncode == 0
    log = (tmp_path / "databricks" / "trimtab" / "init.log").read_text()
    assert "No such file or directory" in log  # pip's own reason, above the script's line
    said = next(line for line in log.splitlines() if f"install from {wheel} failed" in line)
    assert "agent not installed; file not readable from this init script" in said, said
    assert "readable only by an init script stored in a volume" in said
    assert "package index" not in said and "PIP_INDEX_URL" not in said
    assert not (tmp_path / "databricks" / "trimtab" / "agent.pid").exists()


def test_the_clusters_own_state_and_event_log_directories_are_not_overridden(tmp_path: Path):
    """TRIMTAB_AGENT_STATE_DIR / TRIMTAB_EVENTLOG_DIR in spark_env_vars reach the agent: the script
    passed --state-dir and --eventlog-dir always, and a flag wins over the environment."""
    fake = _fake_agent(tmp_path, 'echo "$*" > "$TRIMTAB_FS_ROOT/seen-args"\nenv > "$TRIMTAB_FS_ROOT/seen-env"\n'
                                 'exec sleep 30\n')
    base = dict(DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_BIN=str(fake))
    for case in ("set", "unset"):
        root = tmp_path / case  # a node of its own: a killed supervisor may linger unreaped
        home = root / "databricks" / "trimtab"
        env = {"TRIMTAB_AGENT_STATE_DIR": str(root / "local_disk0" / "trimtab-state"),
               "TRIMTAB_EVENTLOG_DIR": str(root / "custom-eventlogs")} if case == "set" else {}
        state = env.get("TRIMTAB_AGENT_STATE_DIR", f"{home}/state")
        logs = env.get("TRIMTAB_EVENTLOG_DIR", f"{root}/databricks/driver/eventlogs")
        proc, _ = _run(root, **base, **env)
        pid = int((home / "agent.pid").read_text())
        try:
            assert proc.returncode == 0
            args = (root / "seen-args").read_text().split()
            agent_env = dict(line.split("=", 1) for line in (root / "seen-env").read_text().splitlines() if "=" in line)
            if env:
                assert "--state-dir" not in args and "--eventlog-dir" not in args, args
                assert agent_env["TRIMTAB_AGENT_STATE_DIR"] == state and agent_env["TRIMTAB_EVENTLOG_DIR"] == logs
            else:
                assert args[args.index("--state-dir") + 1] == state and args[args.index("--eventlog-dir") + 1] == logs
            said = (home / "init.log").read_text()
            assert f"agent started (pid {pid}, supervisor pid " in said
            assert f"following {logs}, state in {state}, sending to 127.0.0.1:1" in said, said
            assert Path(logs).is_dir()  # made for the agent, as the default one is
        finally:
            _kill_all(home, pid)
