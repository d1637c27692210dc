"""What a simulated cluster does on disk: init scripts with the Databricks environment,
secret references resolved, the agent stopped with SIGTERM, logs delivered to DBFS.

These run in real time (RealClock) at a high speed factor: the init script and the
stand-in agent are real processes, so their waits are real too.
"""

from __future__ import annotations

import base64
import signal
import subprocess
import textwrap
from pathlib import Path

from databricks.sdk.service.jobs import RunLifeCycleState, RunResultState

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.clock import FakeClock, RealClock
from sandbox.workspace.node import stop_agent
from tests.sandbox_ws.conftest import Sandbox, client

INIT = textwrap.dedent("""\
    #!/bin/bash
    set -e
    env | sort > "$OUT_DIR/env-$DB_IS_DRIVER.txt"
    if [ "$DB_IS_DRIVER" = "TRUE" ]; then
      home="$TRIMTAB_FS_ROOT/databricks/trimtab"
      mkdir -p "$home"
      # A stand-in agent: detached, records SIGTERM, exits 0.
      nohup bash -c 'trap "echo term > \\"$OUT_DIR/agent-terminated\\"; exit 0" TERM
                     while true; do sleep 0.05; done' >/dev/null 2>&1 &
      echo $! > "$home/agent.pid"
    fi
    echo "init done on $DB_CONTAINER_IP"
    """)


def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def put_secret(w: object, scope: str, key: str, value: str) -> None:
    w.secrets.create_scope(scope)  # type: ignore[attr-defined]
    w.secrets.put_secret(scope, key, string_value=value)  # type: ignore[attr-defined]


def fast(sandbox: Sandbox) -> RunningWorkspace:
    # 705 simulated seconds of fake run in about 0.07 s of wall time.
    return sandbox.start(clock=RealClock(), speed=10_000.0)


def test_init_scripts_run_with_databricks_env_and_agent_is_stopped(
        sandbox: Sandbox, tmp_path: Path) -> None:
    ws = fast(sandbox)
    w = client(ws)
    out = tmp_path / "out"
    out.mkdir()
    local_script = tmp_path / "local-init.sh"
    local_script.write_text('#!/bin/bash\necho local > "$OUT_DIR/local-$DB_IS_DRIVER.txt"\n')
    w.dbfs.put("/init/trimtab.sh", contents=base64.b64encode(INIT.encode()).decode(),
               overwrite=True)
    put_secret(w, "trimtab", "agent-token", "s3cret-token")
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
            "spark_env_vars": {"OUT_DIR": str(out), "TRIMTAB_SERVER": "127.0.0.1:1",
                               "TRIMTAB_TOKEN": "{{secrets/trimtab/agent-token}}",
                               "DB_IS_DRIVER": "spoofed"},
            "init_scripts": [{"dbfs": {"destination": "dbfs:/init/trimtab.sh"}},
                             {"file": {"destination": f"file:{local_script}"}}],
            "cluster_log_conf": {"dbfs": {"destination": "dbfs:/cluster-logs"}}}
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "with-init", "tasks": [{"task_key": "t", "new_cluster": spec}]})["job_id"]
    run_id = w.jobs.run_now(job_id).run_id
    assert ws.wait_idle(30)
    run = w.jobs.get_run(run_id)
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    cid = run.tasks[0].cluster_instance.cluster_id
    ctx = run.tasks[0].cluster_instance.spark_context_id

    driver, worker = env_file(out / "env-TRUE.txt"), env_file(out / "env-FALSE.txt")
    details = w.clusters.get(cid)
    assert driver["DB_CLUSTER_ID"] == worker["DB_CLUSTER_ID"] == cid
    assert driver["DB_IS_JOB_CLUSTER"] == "TRUE" and driver["DB_CLUSTER_NAME"]
    assert driver["DB_DRIVER_IP"] == worker["DB_DRIVER_IP"] == details.driver.private_ip
    assert driver["DB_CONTAINER_IP"] == details.driver.private_ip
    assert worker["DB_CONTAINER_IP"] != driver["DB_CONTAINER_IP"]
    assert driver["DB_INSTANCE_TYPE"] == "m5d.xlarge"
    assert driver["TRIMTAB_TOKEN"] == "s3cret-token"  # secret reference resolved
    assert driver["TRIMTAB_SERVER"] == "127.0.0.1:1"
    driver_root = ws.workspace.driver_root(cid)
    assert driver["TRIMTAB_FS_ROOT"] == str(driver_root)
    assert worker["TRIMTAB_FS_ROOT"] != str(driver_root)
    assert driver["TRIMTAB_AGENT_BIN"].endswith("trimtab-agent")
    assert (out / "local-TRUE.txt").read_text() == "local\n"
    assert (out / "local-FALSE.txt").exists()
    # SIGTERM reached the agent through its pid file at TERMINATING.
    assert (out / "agent-terminated").read_text() == "term\n"

    # Event log on the driver's disk, delivered to DBFS under cluster_log_conf.
    local_log = driver_root / "databricks" / "driver" / "eventlogs" / ctx / "eventlog"
    assert local_log.read_text().splitlines()[0].startswith(
        '{"Event": "DBCEventLoggingListenerMetadata"')
    assert details.cluster_log_status.last_attempted == details.terminated_time
    assert details.cluster_log_status.last_exception is None
    ip = details.driver.private_ip.replace(".", "_")
    folder = f"/cluster-logs/{cid}/eventlog/{cid}_{ip}/{ctx}"
    listed = [f.path for f in w.dbfs.list(folder)]
    assert listed == [f"{folder}/eventlog"]
    delivered = w.dbfs.download(f"{folder}/eventlog").read()
    assert delivered == local_log.read_bytes()
    init_logs = [f.path for f in w.dbfs.list(f"/cluster-logs/{cid}/init_scripts")]
    assert len(init_logs) == 2  # one folder per node
    node_logs = sorted(f.path for f in w.dbfs.list(init_logs[0]))
    assert any(p.endswith("trimtab.sh.stdout.log") for p in node_logs)


def test_failing_init_script_fails_the_cluster_launch(sandbox: Sandbox, tmp_path: Path) -> None:
    ws = fast(sandbox)
    w = client(ws)
    script = tmp_path / "bad.sh"
    script.write_text("#!/bin/bash\necho broken >&2\nexit 3\n")
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "bad-init", "tasks": [{"task_key": "t", "new_cluster": {
            "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 1,
            "init_scripts": [{"file": {"destination": str(script)}}]}}]})["job_id"]
    run_id = w.jobs.run_now(job_id).run_id
    assert ws.wait_idle(30)
    run = w.jobs.get_run(run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert run.state.result_state == RunResultState.FAILED
    assert "exited with 3" in run.state.state_message
    cluster = w.clusters.get(run.tasks[0].cluster_instance.cluster_id)
    assert cluster.state.value == "TERMINATED"
    assert cluster.termination_reason.code.value == "INIT_SCRIPT_FAILURE"
    assert "exited with 3" in cluster.termination_reason.parameters["databricks_error_message"]


def test_missing_secret_fails_the_cluster(sandbox: Sandbox) -> None:
    ws = fast(sandbox)
    w = client(ws)
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "no-secret", "tasks": [{"task_key": "t", "new_cluster": {
            "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 1,
            "spark_env_vars": {"X": "{{secrets/none/here}}"}}}]})["job_id"]
    run_id = w.jobs.run_now(job_id).run_id
    assert ws.wait_idle(30)
    run = w.jobs.get_run(run_id)
    assert run.state.result_state == RunResultState.FAILED
    assert "none/here" in run.state.state_message


def test_workspace_file_init_script_uploaded_with_the_sdk(sandbox: Sandbox, tmp_path: Path) -> None:
    from databricks.sdk.service.workspace import ImportFormat, ObjectType

    ws = fast(sandbox)
    w = client(ws)
    marker = tmp_path / "marker"
    w.workspace.mkdirs("/Shared/trimtab")
    w.workspace.upload("/Shared/trimtab/init.sh", f'echo "$DB_IS_DRIVER" >> {marker}\n'.encode(),
                       format=ImportFormat.AUTO, overwrite=True)
    assert w.workspace.get_status("/Shared/trimtab/init.sh").object_type == ObjectType.FILE
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "ws-init", "tasks": [{"task_key": "t", "new_cluster": {
            "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 1,
            "init_scripts": [{"workspace": {"destination": "/Shared/trimtab/init.sh"}}]}}]},
    )["job_id"]
    run_id = w.jobs.run_now(job_id).run_id
    assert ws.wait_idle(30)
    assert w.jobs.get_run(run_id).state.result_state == RunResultState.SUCCESS
    assert marker.read_text().split() == ["TRUE", "FALSE"]  # driver, then one worker


def _spawn(tmp_path: Path, trap: str) -> tuple[subprocess.Popen[bytes], Path]:
    proc = subprocess.Popen(["bash", "-c", f"trap '{trap}' TERM; echo ready; "
                             "while true; do sleep 0.05; done"], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"  # trap installed
    pid_file = tmp_path / "agent.pid"
    pid_file.write_text(f"{proc.pid}\n")
    return proc, pid_file


def test_stop_agent_terms_then_kills_a_stubborn_agent(tmp_path: Path) -> None:
    polite, pid_file = _spawn(tmp_path, "exit 0")
    assert stop_agent(pid_file, RealClock()) == "terminated"
    assert polite.wait(5) == 0

    stubborn, pid_file = _spawn(tmp_path, "")  # ignores SIGTERM
    # The init script's supervisor would restart a killed agent: it is killed first.
    supervisor = subprocess.Popen(["bash", "-c", "trap '' TERM; while true; do sleep 0.05; done"])
    (tmp_path / "supervisor.pid").write_text(f"{supervisor.pid}\n")
    # A FakeClock lets the 10 s grace pass at once; SIGKILL follows.
    assert stop_agent(pid_file, FakeClock()) == "killed"
    assert stubborn.wait(5) == -signal.SIGKILL
    assert supervisor.wait(5) == -signal.SIGKILL
    assert stop_agent(pid_file, FakeClock()) == "not-running"
    assert stop_agent(tmp_path / "missing.pid", FakeClock()) == "no-agent"
