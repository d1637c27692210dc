"""What happens on a simulated node's disk: init scripts, the agent's pid file, log delivery.

Init scripts run for real with bash, with the environment Databricks gives them. The Trimtab
init script starts the real agent, which then follows the event log the player writes under the
driver's filesystem root. A cluster whose env names the agent's wheel (TRIMTAB_AGENT_WHEEL, as
import writes it) installs it as on Databricks: the wheel's /Workspace, /Volumes or /dbfs path
read from the emulator's files, into a venv of the node's runtime Python (runtime_python.py).
Any other cluster is handed the emulator's own agent (TRIMTAB_AGENT_BIN) and installs nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.workspace import runtime_python
from sandbox.workspace.clock import Clock

INIT_SCRIPT_TIMEOUT_S = 300.0
AGENT_STOP_GRACE_S = 10.0
# What the init script keeps from the emulator's own environment: enough to find programs.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")


class InitScriptFailure(RuntimeError):
    pass


@dataclass(frozen=True)
class NodeIdentity:
    cluster_id: str
    cluster_name: str
    driver_ip: str
    node_ip: str
    instance_type: str
    is_driver: bool


def script_destination(info: dict[str, Any]) -> str:
    """An InitScriptInfo's destination as the spec names it ("" for a kind the sandbox does not serve)."""
    for kind in ("workspace", "volumes", "dbfs", "file"):
        if kind in info:
            return str(info[kind].get("destination") or "")
    return ""


def script_path(info: dict[str, Any], state_dir: Path) -> Path:
    """Where an InitScriptInfo's destination lives in the emulator state (``volumes``: where the
    Files API keeps ``/Volumes/...`` files, ``<state>/volumes/Volumes/...``; files_api.py)."""
    for kind in ("workspace", "volumes", "dbfs", "file"):
        if kind in info:
            dest = str(info[kind].get("destination") or "")
            break
    else:
        raise InitScriptFailure(f"unsupported init script location {sorted(info)} "
                                "(the sandbox serves workspace, volumes, dbfs and file)")
    if kind == "file":
        path = Path(dest[5:] if dest.startswith("file:") else dest)
        if not path.is_absolute():
            raise InitScriptFailure(f"file init script must be an absolute path: {dest}")
        return path
    if kind == "dbfs" and dest.startswith("dbfs:"):
        dest = dest[5:]
    rel = [p for p in dest.split("/") if p not in ("", ".")]
    if ".." in rel:
        raise InitScriptFailure(f"init script path must not contain '..': {dest}")
    return state_dir.joinpath(kind, *rel)


def agent_bin() -> str | None:
    candidate = Path(sys.executable).parent / "trimtab-agent"
    return str(candidate) if candidate.exists() else None


WHEEL_ENV = "TRIMTAB_AGENT_WHEEL"
# The FUSE mounts a node reads Databricks files at, and where the emulator keeps each kind.
_MOUNTS = (("/Workspace/", "workspace"), ("/Volumes/", "volumes/Volumes"), ("/dbfs/", "dbfs"))


def node_path(location: str, state_dir: Path) -> str:
    """Where a node path of a workspace file, volume file or DBFS file is in the emulator's state
    (an https URL, or any other path, as it is)."""
    for prefix, kind in _MOUNTS:
        if location.startswith(prefix):
            rel = [p for p in location[len(prefix):].split("/") if p not in ("", ".", "..")]
            return str(state_dir.joinpath(*kind.split("/"), *rel))
    return location


def node_env(node: NodeIdentity, fs_root: Path, spark_env: dict[str, str],
             state_dir: Path | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    env.update(spark_env)
    # Databricks' own variables win over spark_env_vars (they cannot be overridden).
    env.update({
        "DB_CLUSTER_ID": node.cluster_id,
        "DB_CLUSTER_NAME": node.cluster_name,
        "DB_DRIVER_IP": node.driver_ip,
        "DB_CONTAINER_IP": node.node_ip,
        "DB_INSTANCE_TYPE": node.instance_type,
        "DB_IS_DRIVER": "TRUE" if node.is_driver else "FALSE",
        "DB_IS_JOB_CLUSTER": "TRUE",
        "TRIMTAB_FS_ROOT": str(fs_root),
    })
    if spark_env.get(WHEEL_ENV) and state_dir is not None:
        # Installed from the wheel, as on a cluster: no emulator agent handed over.
        env[WHEEL_ENV] = node_path(spark_env[WHEEL_ENV], state_dir)
        runtime_python.write_shim(fs_root, state_dir / "runtime")
        return env
    binary = agent_bin()
    if binary:
        env["TRIMTAB_AGENT_BIN"] = binary
    return env


def run_init_scripts(scripts: list[dict[str, Any]], *, state_dir: Path, node: NodeIdentity,
                     fs_root: Path, spark_env: dict[str, str], log_dir: Path,
                     stamp_ms: int) -> list[dict[str, Any]]:
    """Run each script in order; the first failure raises (it fails the cluster launch)."""
    fs_root.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = node_env(node, fs_root, spark_env, state_dir)
    results = []
    for index, info in enumerate(scripts):
        path = script_path(info, state_dir)
        # Databricks names the failing script by its destination as the spec gives it ("Cluster
        # scoped init script /Shared/x.sh failed: Script exit status is non-zero", in the cluster's
        # termination_reason.parameters.databricks_error_message): that is how whose script failed is
        # told apart. The exit status and node are the emulator's own addition.
        destination = script_destination(info)
        if not path.is_file():
            raise InitScriptFailure(f"Cluster scoped init script {destination} failed: the file does not exist "
                                    f"(init script {path.name} not found)")
        base = log_dir / f"{stamp_ms}_{index:02d}_{path.name}"
        with open(f"{base}.stdout.log", "wb") as out, open(f"{base}.stderr.log", "wb") as err:
            # Files, not pipes: a detached child (the agent) may keep them open after exit.
            # A session of its own, as on a cluster node: Ctrl-C in the terminal of the process
            # hosting the emulator (`trimtab demo`) reached the script, and the run failed with
            # "init script exited with -2", counted as the cluster's own failure.
            proc = subprocess.run(["bash", str(path)], env=env, cwd=fs_root, stdout=out,
                                  stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                                  timeout=INIT_SCRIPT_TIMEOUT_S, check=False)
        results.append({"path": str(path), "exit_code": proc.returncode})
        if proc.returncode != 0:
            raise InitScriptFailure(f"Cluster scoped init script {destination} failed: Script exit status is "
                                    f"non-zero (init script {path.name} exited with {proc.returncode} "
                                    f"on {'driver' if node.is_driver else 'worker'})")
    return results


def agent_pid_file(fs_root: Path, spark_env: dict[str, str]) -> Path:
    home = spark_env.get("TRIMTAB_AGENT_HOME")
    base = Path(home) if home else fs_root / "databricks" / "trimtab"
    return base / "agent.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        # A zombie nobody reaps still answers kill(0); it has exited all the same.
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stop_agent(pid_file: Path, clock: Clock, grace_s: float = AGENT_STOP_GRACE_S) -> str:
    """SIGTERM the agent, wait up to `grace_s` for it to exit, then SIGKILL. Returns what happened."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return "no-agent"
    if not _alive(pid):
        return "not-running"
    os.kill(pid, signal.SIGTERM)
    never = threading.Event()
    deadline = clock.time() + grace_s
    while clock.time() < deadline:
        if not _alive(pid):
            return "terminated"
        clock.wait(never, 0.05)
    if _alive(pid):
        # The init script's supervisor (`supervisor.pid` beside it) restarts an agent that dies
        # other than by a clean exit: it goes first, or it would restart the agent killed here.
        try:
            supervisor = int(pid_file.with_name("supervisor.pid").read_text().strip())
        except (OSError, ValueError):
            supervisor = 0
        if supervisor and _alive(supervisor):
            os.kill(supervisor, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        return "killed"
    return "terminated"


def deliver_logs(dest_root: Path, *, cluster_id: str, driver_ip: str, spark_context_id: str,
                 driver_root: Path, init_logs: Path, stamp_ms: int) -> list[str]:
    """Copy what Databricks delivers at termination into `<dest>/<cluster-id>/...`."""
    ip = driver_ip.replace(".", "_")
    base = dest_root / cluster_id
    copied: list[str] = []
    src = driver_root / "databricks" / "driver" / "eventlogs" / spark_context_id
    if src.is_dir():
        target = base / "eventlog" / f"{cluster_id}_{ip}" / spark_context_id
        target.mkdir(parents=True, exist_ok=True)
        for f in sorted(src.iterdir()):
            if f.is_file():
                _link_or_copy(f, target / f.name)
                copied.append(str(target / f.name))
    if init_logs.is_dir():
        for node_dir in sorted(init_logs.iterdir()):
            target = base / "init_scripts" / node_dir.name
            shutil.copytree(node_dir, target, dirs_exist_ok=True)
            copied.extend(str(p) for p in target.iterdir())
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp_ms / 1000))
    (base / "driver").mkdir(parents=True, exist_ok=True)
    # The driver's log directory goes to driver/ (Databricks: stdout, stderr, log4j and what else is there;
    # Trimtab's init script puts the agent's log there). Copied, links followed: the node goes away.
    logs = driver_root / "databricks" / "driver" / "logs"
    if logs.is_dir():
        for f in sorted(logs.iterdir()):
            if f.is_file():
                shutil.copyfile(f, base / "driver" / f.name)
                copied.append(str(base / "driver" / f.name))
    (base / "driver" / "stdout").write_text(f"{stamp} simulated driver of {cluster_id}\n")
    return copied


def _link_or_copy(src: Path, dst: Path) -> None:
    """Event logs are final once Spark stopped: a hard link saves the disk a copy would take."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)
