"""`sandbox up`: serve a workspace in the foreground until Ctrl-C or SIGTERM.

Shared by `trimtab sandbox up` and `python -m sandbox`; prints the two lines a client
needs (`DATABRICKS_HOST=`, `DATABRICKS_TOKEN=`) so they can be pasted into a shell.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from sandbox.workspace.config import SandboxConfig


def describe(info: dict[str, Any]) -> list[str]:
    """The lines `sandbox up` prints for a person (the first two are shell assignments)."""
    lines = [f"DATABRICKS_HOST={info['host']}", f"DATABRICKS_TOKEN={info['token']}",
             f"# state in {info['state_dir']}, speed x{info['speed']:g}, "
             f"{len(info['jobs'])} jobs ({info['seeded']} just seeded), schedules "
             f"{'fire' if info.get('schedules', True) else 'off'}; Ctrl-C to stop"]
    lines += [f"#   job {j['job_id']}: {j['name']}" for j in info["jobs"]]
    return lines


def serve_until_stopped(config: SandboxConfig, *,
                        on_ready: Callable[[dict[str, Any]], None] | None = None,
                        stop: threading.Event | None = None) -> dict[str, Any]:
    """Start, seed (first start only), report, block until `stop`, Ctrl-C or SIGTERM."""
    from sandbox.workspace.api import start_workspace

    stop = stop or threading.Event()
    # Ctrl-C and SIGTERM only set `stop` (installed before anything is printed, so a signal
    # sent as soon as the credentials appear still shuts down cleanly).
    previous = _on_signals(stop)
    ws = start_workspace(config.state_dir, speed=config.speed, port=config.port,
                         rate_limit=config.rate_limit, schedules=config.schedules, backend=config.sim_backend())
    try:
        with ws.workspace.store.lock:
            fresh = not ws.workspace.store.data["jobs"]
        seeded = ws.seed_jobs() if config.seed and fresh else []
        with ws.workspace.store.lock:
            jobs = [{"job_id": j["job_id"], "name": j["settings"].get("name", "")}
                    for j in sorted(ws.workspace.store.data["jobs"].values(),
                                    key=lambda j: j["job_id"])]
        info = {"host": ws.host, "token": ws.token, "state_dir": str(config.state_dir),
                "speed": config.speed, "jobs": jobs, "seeded": len(seeded),
                "schedules": config.schedules}
        (on_ready or (lambda i: print("\n".join(describe(i)), flush=True)))(info)
        stop.wait()
        return info
    finally:
        ws.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _on_signals(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, lambda *_: stop.set())
            for signum in (signal.SIGINT, signal.SIGTERM)}
