"""One job run through the workspace emulator (the real databricks-sdk) with the AWS stand-in billing it,
then priced as collection prices it (Trimtab's estimate from the cluster's spec and events, the bill
from the stand-in): what the cost review's tests compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.billing import CloudBilling
from sandbox.workspace import start_workspace
from sandbox.workspace.clock import FakeClock
from server.clouds.aws import AwsCredentials, AwsGateway
from server.collect.usage import ClusterTimeline, cluster_timeline, cluster_usage
from server.costing.billing import AwsBill, price_run
from server.costing.catalog import PriceCatalog
from server.domain import CostBreakdown


@dataclass(frozen=True)
class BilledRun:
    events: list[dict[str, Any]]
    timeline: ClusterTimeline
    cost: CostBreakdown


def run_and_price(tmp_path: Path, aws_stand_in: AwsStandIn, billing: CloudBilling, catalog: PriceCatalog, *,
                  job: dict[str, Any], start: float) -> BilledRun:
    """Run ``job`` (a jobs/create body) once on an emulator of its own starting at ``start`` (epoch s: its
    own cluster id in the shared stand-in, and the month its storage is prorated over), then price it."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    seen: list[dict[str, Any]] = []
    with start_workspace(tmp_path / "ws", speed=600.0, clock=FakeClock(start=start)) as ws:
        ws.add_run_observer(billing.observe)
        ws.add_run_observer(lambda job_, run, sim, spec: seen.append(run))
        w = WorkspaceClient(config=Config(host=ws.host, token=ws.token, auth_type="pat",
                                          retry_timeout_seconds=10, http_timeout_seconds=10))
        job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body=job)["job_id"]
        w.jobs.run_now(job_id)
        assert ws.wait_idle(60)
        (run,) = seen
        cid = run["tasks"][0]["cluster_instance"]["cluster_id"]
        events = [e.as_dict() for e in w.clusters.events(cid)]
        spec = w.clusters.get(cid).as_dict()["spec"]
    first, last = min(e["timestamp"] for e in events), max(e["timestamp"] for e in events)
    timeline = cluster_timeline(spec, events, fallback_start_ms=first, fallback_end_ms=last, cloud="aws")
    usage = cluster_usage(timeline, spec, cloud="aws", region="us-east-1", plan="premium", input_bytes=None)
    gateway = AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url))
    cost = price_run(usage, catalog, cluster_id=cid, start_ms=timeline.start_ms, end_ms=timeline.end_ms,
                     bill_source=AwsBill(gateway))
    return BilledRun(events, timeline, cost)
