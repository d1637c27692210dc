"""The agent on Python 3.10 (Databricks Runtime 13.3 and 14.3 LTS): a fresh 3.10 virtualenv gets
the package installed from this repository without extras, its ``trimtab-agent run`` follows the
real PySpark event logs (every codec) and delivers to the real Trimtab server (started here, in the
3.11 interpreter) whose store then holds every application's stages. The same venv's ``trimtab``
says in one line that the server needs 3.11.

Everything (copy of the sources, venv, pip cache) lives under tmp_path. The test is skipped only
when the 3.10 interpreter is missing, which CI provides.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.agent.conftest import REPO
from tests.agent.expected import events_of, expected_summary
from tests.conftest import _require


def _python310() -> Path | None:
    """A Python 3.10: TRIMTAB_TEST_PYTHON310, else python3.10 on PATH, else one pyenv installed."""
    if named := os.environ.get("TRIMTAB_TEST_PYTHON310"):
        return Path(named)
    # pyenv's own copy before PATH: its shim fails unless 3.10 is the selected version.
    found = sorted(Path.home().glob(".pyenv/versions/3.10.*/bin/python3.10"))
    if found:
        return found[-1]
    on_path = shutil.which("python3.10")
    return Path(on_path) if on_path and ".pyenv/shims" not in on_path else None


PY310 = _python310()
PACKAGES = ("agent", "protos", "server", "models", "sandbox")

pytestmark = [
    pytest.mark.spark,
]


@pytest.fixture(autouse=True)
def _needs_python310() -> None:
    # In CI a missing interpreter fails (tests/conftest.py `_require`): never a silent skip there.
    if PY310 is None or not PY310.exists():
        _require("Python 3.10 (TRIMTAB_TEST_PYTHON310, python3.10 on PATH, or pyenv)")


def _install(tmp_path: Path) -> Path:
    """venv with 3.10 + ``pip install <copy of the repo>`` (a copy, so no build files land in the repo)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = tmp_path / "venv"
    subprocess.run([str(PY310), "-m", "venv", str(venv)], check=True, capture_output=True, timeout=60)
    env = dict(os.environ, PIP_CACHE_DIR=str(tmp_path / "pip-cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(src)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


def _stage_keys(store, app: str) -> set[str]:
    return {f"stage/{s.stage_id}/{s.attempt_id}" for s in store.applications.stages(app)}


def test_agent_runs_on_python_310(spark_logs: Path, sqlite_url: str, tmp_path: Path):
    from server.config import ServerConfig
    from server.serve import start_server

    venv = _install(tmp_path)
    version = subprocess.run([str(venv / "bin" / "python"), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    assert version == "(3, 10)"
    server_cli = subprocess.run([str(venv / "bin" / "trimtab"), "app", "list"], capture_output=True, text=True,
                                timeout=30)
    assert server_cli.returncode == 2
    assert "trimtab server needs Python 3.11 or newer (this is 3.10." in server_cli.stderr
    assert "Traceback" not in server_cli.stderr

    want: dict[str, set[str]] = {}
    for p in spark_logs.iterdir():
        evs = events_of(p)
        app = next(e["App ID"] for e in evs if e["Event"] == "SparkListenerApplicationStart")
        want[app] = {k for k in expected_summary(evs) if k.startswith("stage/")}
    assert want and all(want.values())

    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server", db_url=sqlite_url))
    agent_log = tmp_path / "agent.log"
    try:
        _, token = running.store.tokens.create("agent-py310", "agent")
        env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "TRIMTAB_TOKEN": token, "TRIMTAB_AGENT_POLL_S": "0.05",
               "TRIMTAB_AGENT_BATCH_AGE_S": "0.05", "HOME": str(tmp_path)}
        with agent_log.open("wb") as out:
            proc = subprocess.Popen([str(venv / "bin" / "trimtab-agent"), "run", "--eventlog-dir", str(spark_logs),
                                     "--server", running.address, "--state-dir", str(tmp_path / "state")],
                                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            got: dict[str, set[str]] = {}
            while time.monotonic() < deadline and proc.poll() is None:
                got = {app: _stage_keys(running.store, app) for app in want}
                if got == want:
                    break
                time.sleep(0.25)  # another process delivers: there is no event to wait on here
            assert got == want, agent_log.read_text()[-3000:]
            # The installed copy reports the build the server computes from its source: the same
            # code, so `trimtab agent list` does not call it another build.
            from agent.build import BUILD

            (seen,) = running.store.ingest.agents()
            assert seen.version == BUILD and "+" in BUILD
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        running.stop(grace=1)
    log = agent_log.read_text()
    assert "Traceback" not in log and "trimtab-agent stopped; 0 batch(es) left in the spool, 0 parked" in log
