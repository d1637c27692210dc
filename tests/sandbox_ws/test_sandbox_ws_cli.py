"""`trimtab sandbox up` as a newcomer runs it: a real process, stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from tests.sandbox_ws.conftest import client


def start(state_dir: Path, *extra: str, up_args: tuple[str, ...] = (), **env_extra: str,
          ) -> tuple[subprocess.Popen[str], list[str]]:
    """Start `trimtab sandbox up` and return its first output lines (up to the job list)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env.update(env_extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", *extra, "sandbox", "up", "--state-dir",
         str(state_dir), "--speed", "1000", *up_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            out.put(line.rstrip("\n"))
        out.put(None)

    threading.Thread(target=pump, daemon=True).start()
    lines: list[str] = []
    while True:
        line = out.get(timeout=60)
        if line is None:
            break
        lines.append(line)
        if line.startswith("{"):
            break
        if line.startswith("# state in"):
            expected = int(line.split(", ")[2].split()[0])  # "N jobs (...)"
            lines += [out.get(timeout=10) or "" for _ in range(expected)]
            break
    return proc, lines


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def test_sandbox_up_prints_credentials_seeds_jobs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    state = tmp_path / "sandbox"
    proc, lines = start(state)
    try:
        assert lines[0].startswith("DATABRICKS_HOST=http://127.0.0.1:"), lines
        assert lines[1].startswith("DATABRICKS_TOKEN=dapi")
        host, token = lines[0].split("=", 1)[1], lines[1].split("=", 1)[1]
        w = client(SimpleNamespace(host=host, token=token))  # type: ignore[arg-type]
        jobs = list(w.jobs.list(expand_tasks=True))
        names = {j.settings.name for j in jobs}
        # One job per profile at least, and every way of naming compute.
        for profile in ("etl_join_aggregate", "sort", "iterative_ml", "skewed_join",
                        "memory_bound", "io_bound"):
            assert any(profile in n for n in names), (profile, names)
        tasks = [t for j in jobs for t in j.settings.tasks]
        assert any(t.existing_cluster_id for t in tasks)
        assert any(t.new_cluster for t in tasks)
        assert any(len(j.settings.job_clusters) == 2 for j in jobs)
        assert any(jc.new_cluster.autoscale for j in jobs for jc in j.settings.job_clusters)
        assert sum(1 for line in lines if line.startswith("#   job")) == len(jobs)
    finally:
        code, err = interrupt(proc)
    assert code == 0, err
    assert "sandbox stopped" in err

    # A second start keeps the same token and does not seed again.
    proc, lines = start(state, "--json")
    try:
        info = json.loads(lines[0])
        assert info["token"] == token and info["seeded"] == 0
        assert len(info["jobs"]) == len(jobs)
    finally:
        code, err = interrupt(proc)
    assert code == 0, err


def test_python_m_sandbox_help_and_usage_errors() -> None:
    out = subprocess.run([sys.executable, "-m", "sandbox", "--help"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert "--state-dir" in out and "TRIMTAB_SANDBOX_SPEED" in out
    bad = subprocess.run([sys.executable, "-m", "sandbox", "--speed", "-1"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2 and "speed must be > 0" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "server.cli.main", "sandbox", "up", "--speed",
                          "0"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_sandbox_up_fires_schedules_unless_turned_off(tmp_path: Path) -> None:
    from databricks.sdk.service.jobs import CronSchedule, TriggerType

    proc, lines = start(tmp_path / "sandbox")
    try:
        assert "schedules fire" in lines[2], lines
        host, token = lines[0].split("=", 1)[1], lines[1].split("=", 1)[1]
        w = client(SimpleNamespace(host=host, token=token))  # type: ignore[arg-type]
        seeded = next(j for j in w.jobs.list(expand_tasks=True) if j.settings.job_clusters)
        job_id = w.jobs.create(name="every-minute", tasks=seeded.settings.tasks,
                               job_clusters=seeded.settings.job_clusters,
                               schedule=CronSchedule(quartz_cron_expression="0 * * * * ?",
                                                     timezone_id="UTC")).job_id
        deadline = time.monotonic() + 30  # a simulated minute is 0.06 s at x1000
        found: list = []
        while not found and time.monotonic() < deadline:
            found = [r for r in w.jobs.list_runs(job_id=job_id)
                     if r.trigger == TriggerType.PERIODIC]
            time.sleep(0.1)
        # Only that it fires: how late a fire may be is tested on a slower clock
        # (test_sandbox_ws_fire), since a simulated minute here is 60 ms of wall time.
        assert found
    finally:
        code, err = interrupt(proc)
    assert code == 0, err

    proc, lines = start(tmp_path / "sandbox", up_args=("--no-schedules",))
    try:
        assert "schedules off" in lines[2], lines
    finally:
        code, err = interrupt(proc)
    assert code == 0, err
