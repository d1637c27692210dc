"""The emulator driving the real simulator (`sandbox.sim`): what the run shows matches the
SimulatedRun, the event log reaches DBFS whole, and run observers get the run."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from databricks.sdk.service.compute import GetEventsOrder
from databricks.sdk.service.jobs import RunResultState

from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.clock import FakeClock
from tests.sandbox_ws.conftest import client


def start(state_dir: Path) -> RunningWorkspace:
    return start_workspace(state_dir, speed=600.0, clock=FakeClock())


def make_job(w: Any) -> int:
    return w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "etl", "tags": {"sandbox:profile": "etl_join_aggregate"},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": {
            "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge",
            "num_workers": 3, "aws_attributes": {"availability": "ON_DEMAND"},
            "cluster_log_conf": {"dbfs": {"destination": "dbfs:/logs"}}}}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main"}]})["job_id"]


def delivered_lines(w: Any, folder: str) -> list[str]:
    lines: list[str] = []
    # Rotated files first (their names sort by time), the live `eventlog` last.
    files = sorted((f.path for f in w.dbfs.list(folder)), key=lambda p: (p.endswith("/eventlog"), p))
    for path in files:
        data = w.dbfs.download(path).read()
        if path.endswith(".gz"):
            data = gzip.decompress(data)
        lines += data.decode().splitlines()
    return lines


def test_real_simulation_is_played_faithfully(tmp_path: Path) -> None:
    seen: list[tuple[Any, ...]] = []
    with start(tmp_path / "a") as ws:
        ws.add_run_observer(lambda job, run, sim, spec: seen.append((job, run, sim, spec)))
        w = client(ws)
        job_id = make_job(w)
        run_id = w.jobs.run_now(job_id).run_id
        assert ws.wait_idle(60)
        run = w.jobs.get_run(run_id)
        assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message

        (job, observed_run, sim, spec), = seen
        assert job["job_id"] == job_id and observed_run["run_id"] == run_id
        assert spec["node_type_id"] == "m5d.xlarge"
        cid = run.tasks[0].cluster_instance.cluster_id
        assert sim.summary and run.tasks[0].cluster_instance.spark_context_id == sim.spark_context_id
        events = list(w.clusters.events(cid, order=GetEventsOrder.ASC))
        assert [e.type.value for e in events] == [e.type for e in sim.cluster_events]
        assert [e.timestamp for e in events] == [e.timestamp_ms for e in sim.cluster_events]
        cluster = w.clusters.get(cid)
        assert cluster.terminated_time == sim.end_time_ms == run.end_time
        assert run.start_time + run.setup_duration == sim.running_ms
        assert cluster.driver.private_ip == sim.driver_ip
        assert not any(e.node_aws_attributes.is_spot for e in cluster.executors)  # ON_DEMAND

        ip = sim.driver_ip.replace(".", "_")
        lines = delivered_lines(w, f"/logs/{cid}/eventlog/{cid}_{ip}/{sim.spark_context_id}")
        written = [line for _, line in sim.eventlog]
        # Every segment starts with its own metadata line; the Spark events match exactly.
        spark = [line for line in lines
                 if json.loads(line)["Event"] != "DBCEventLoggingListenerMetadata"]
        assert spark == [line for line in written
                         if json.loads(line)["Event"] != "DBCEventLoggingListenerMetadata"]
        assert json.loads(lines[0])["Event"] == "DBCEventLoggingListenerMetadata"
        first = (run.execution_duration, [e.timestamp - run.start_time for e in events])

    # Same ids, same seed: a fresh workspace replays the very same run.
    with start(tmp_path / "b") as ws:
        w = client(ws)
        run_id = w.jobs.run_now(make_job(w)).run_id
        assert ws.wait_idle(60)
        run = w.jobs.get_run(run_id)
        events = list(w.clusters.events(run.tasks[0].cluster_instance.cluster_id,
                                        order=GetEventsOrder.ASC))
        assert (run.execution_duration, [e.timestamp - run.start_time for e in events]) == first
