"""`sandbox up --clouds`: the emulated workspace, with the cloud stand-ins billing its runs.

Each run's cluster, when it ends, is billed by the stand-ins (`CloudStack`): AWS nodes in moto's Cost
Explorer, Azure nodes (``Standard_*``) in the Cost Management stand-in, at the rates the caller passes
(the sandbox reads no price catalog). The lines printed name a credentials JSON per cloud for
`trimtab workspace add ... --cloud-credentials-env`, so bill reconciliation can be tried by hand.

The stand-ins keep their bills in memory: a restarted sandbox starts with empty bills (and new ports,
so a workspace added with the old credentials needs `workspace add ... --replace`).
"""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Callable
from typing import Any

from sandbox.clouds.billing import InstanceRate, StorageRate
from sandbox.clouds.stack import CloudStack
from sandbox.workspace.config import SandboxConfig

# The regions the stand-ins bill in; `workspace add --region` must name the same one for AWS,
# because the Cost Explorer usage types carry the region's prefix.
AWS_REGION = "us-east-1"
AZURE_REGION = "eastus"
# Environment variable names printed for `--cloud-credentials-env` (any name works).
CREDENTIALS_ENV = {"aws": "TRIMTAB_SANDBOX_AWS_CREDENTIALS", "azure": "TRIMTAB_SANDBOX_AZURE_CREDENTIALS"}


def clouds_info(stack: CloudStack) -> dict[str, Any]:
    """What `sandbox up --clouds` reports about the stand-ins (also its `--json` line's ``clouds``)."""
    return {
        "aws": {"endpoint_url": stack.aws.endpoint_url, "region": AWS_REGION,
                "credentials_env": CREDENTIALS_ENV["aws"], "credentials_json": stack.credentials_json("aws")},
        "azure": {"base_url": stack.azure.base_url, "region": AZURE_REGION,
                  "credentials_env": CREDENTIALS_ENV["azure"],
                  "credentials_json": stack.credentials_json("azure")},
    }


def describe_clouds(info: dict[str, Any]) -> list[str]:
    """The lines for a person: two shell assignments, then how to use them (comments)."""
    aws, azure = info["clouds"]["aws"], info["clouds"]["azure"]
    return [
        f"{aws['credentials_env']}={shlex.quote(aws['credentials_json'])}",
        f"{azure['credentials_env']}={shlex.quote(azure['credentials_json'])}",
        f"# cloud stand-ins: AWS (moto) at {aws['endpoint_url']} ({aws['region']}), Azure Cost Management at "
        f"{azure['base_url']}; each run's cluster is billed at list prices when it ends "
        "(kept in memory only)",
        # The Azure stand-in bills only clusters on Azure node types (Standard_*): no seeded job is one.
        f"# the seeded jobs run on AWS node types; {azure['credentials_env']} bills only jobs you create on "
        "Azure node types (Standard_*), reconciled through a workspace added with --cloud azure",
        "# to reconcile runs with the bill, export those and the token, then:",
        f"#   trimtab workspace add sandbox --host \"$DATABRICKS_HOST\" --token-env DATABRICKS_TOKEN "
        f"--cloud aws --region {aws['region']} --cloud-credentials-env {aws['credentials_env']}",
        "# the stand-ins bill at once: start the server with TRIMTAB_BILL_WAIT_HOURS=0 (a real bill lags by hours, "
        "so the server waits 6 h by default before asking)",
    ]


def serve_with_clouds(config: SandboxConfig, instance_rate: InstanceRate, storage_rate: StorageRate, *,
                      on_ready: Callable[[dict[str, Any]], None],
                      stop: threading.Event | None = None) -> dict[str, Any]:
    """Like `sandbox.workspace.serve.serve_until_stopped`, with the stand-ins attached before any run
    can end: the scheduler starts only once the billing observer is registered, so no scheduled
    run goes unbilled."""
    from sandbox.workspace.api import start_workspace
    from sandbox.workspace.job_scheduler import JobScheduler
    from sandbox.workspace.serve import _on_signals

    stop = stop or threading.Event()
    previous = _on_signals(stop)
    try:
        stack = CloudStack.start(instance_rate, storage_rate, region=AWS_REGION)
        try:
            ws = start_workspace(config.state_dir, speed=config.speed, port=config.port,
                                 rate_limit=config.rate_limit, schedules=False, backend=config.sim_backend())
            try:
                stack.attach(ws)
                if config.schedules:
                    ws.workspace.scheduler = JobScheduler(ws.workspace)
                    ws.workspace.scheduler.start()
                info = _workspace_info(ws, config)
                info["clouds"] = clouds_info(stack)
                on_ready(info)
                stop.wait()
                return info
            finally:
                ws.stop()
        finally:
            stack.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _workspace_info(ws: Any, config: SandboxConfig) -> dict[str, Any]:
    # As serve_until_stopped: seed the example jobs on a first start only, then list them.
    with ws.workspace.store.lock:
        fresh = not ws.workspace.store.data["jobs"]
    seeded = ws.seed_jobs() if config.seed and fresh else []
    with ws.workspace.store.lock:
        jobs = [{"job_id": j["job_id"], "name": j["settings"].get("name", "")}
                for j in sorted(ws.workspace.store.data["jobs"].values(), key=lambda j: j["job_id"])]
    return {"host": ws.host, "token": ws.token, "state_dir": str(config.state_dir), "speed": config.speed,
            "jobs": jobs, "seeded": len(seeded), "schedules": config.schedules}
