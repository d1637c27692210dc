"""Example jobs so a newcomer's sandbox has something to tune: one or more per profile,
covering every way a job can name its compute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.workspace import jobs
from sandbox.workspace.runs import PROFILE_TAG

if TYPE_CHECKING:
    from sandbox.workspace.workspace import Workspace

SPARK_VERSION = "15.4.x-scala2.12"
LOG_CONF = {"dbfs": {"destination": "dbfs:/cluster-logs"}}


def aws_cluster(node_type: str, workers: int | None = None, *, autoscale: tuple[int, int] | None
                = None, availability: str = "SPOT_WITH_FALLBACK") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "spark_version": SPARK_VERSION, "node_type_id": node_type,
        "aws_attributes": {"availability": availability, "first_on_demand": 1,
                           "zone_id": "auto", "spot_bid_price_percent": 100},
        "cluster_log_conf": LOG_CONF, "custom_tags": {"team": "data-eng"},
    }
    if autoscale:
        spec["autoscale"] = {"min_workers": autoscale[0], "max_workers": autoscale[1]}
    else:
        spec["num_workers"] = workers if workers is not None else 2
    return spec


def nightly(hour: int, minute: int = 0, timezone_id: str = "UTC") -> dict[str, Any]:
    """A job schedule as data teams set one: once a day in the small hours of their zone. At the
    sandbox's default speed (600x) a day is 2.4 minutes, so each such job runs about that often
    when schedules fire (`sandbox up`; `start_workspace(schedules=False)` keeps them still)."""
    return {"quartz_cron_expression": f"0 {minute} {hour} * * ?", "timezone_id": timezone_id,
            "pause_status": "UNPAUSED"}


def _task(key: str, profile: str, **compute: Any) -> dict[str, Any]:
    return {"task_key": key, **compute, "spark_python_task": {
        "python_file": f"dbfs:/jobs/{profile}.py", "parameters": [f"--sandbox-profile={profile}"]}}


def seed_settings(profiles: list[str], existing_cluster_id: str) -> list[dict[str, Any]]:
    """Job settings: the shapes first (cycling through profiles), then one job per profile left.

    Every job but the ad hoc one runs on an unpaused nightly schedule, spread over the night and
    over time zones so their runs do not all start at once; the ad hoc job is started by hand, as
    its name says. (`trimtab demo` does not use these jobs: it creates its own and starts every
    run itself, with schedules off.)"""
    p = [profiles[i % len(profiles)] for i in range(6)]
    shaped: list[dict[str, Any]] = [
        {"name": f"daily-{p[0]}", "tags": {PROFILE_TAG: p[0]}, "schedule": nightly(2),
         "job_clusters": [{"job_cluster_key": "main", "new_cluster": aws_cluster("m5d.xlarge", 4)}],
         "tasks": [_task("main", p[0], job_cluster_key="main")]},
        {"name": f"pipeline-{p[1]}-{p[2]}", "tags": {PROFILE_TAG: p[1]},
         "schedule": nightly(3, 30, "America/New_York"),
         "job_clusters": [
             {"job_cluster_key": "ingest", "new_cluster": aws_cluster("r5d.xlarge", 2)},
             {"job_cluster_key": "report", "new_cluster": aws_cluster("c5d.2xlarge", 3)}],
         "tasks": [_task("ingest", p[1], job_cluster_key="ingest"),
                   {**_task("report", p[2], job_cluster_key="report"),
                    "depends_on": [{"task_key": "ingest"}]}]},
        {"name": f"adhoc-{p[3]}", "tags": {PROFILE_TAG: p[3]},
         "tasks": [_task("main", p[3], new_cluster=aws_cluster("i3.xlarge", 3))]},
        {"name": f"shared-cluster-{p[4]}", "tags": {PROFILE_TAG: p[4]},
         "schedule": nightly(1, 15, "Europe/London"),
         "tasks": [_task("main", p[4], existing_cluster_id=existing_cluster_id)]},
        {"name": f"autoscaling-{p[5]}", "tags": {PROFILE_TAG: p[5]},
         "schedule": nightly(4, 0, "Asia/Kolkata"),
         "job_clusters": [{"job_cluster_key": "auto",
                           "new_cluster": aws_cluster("m5d.2xlarge", autoscale=(2, 8))}],
         "tasks": [_task("main", p[5], job_cluster_key="auto")]},
    ]
    covered = set(p[:4]) | {p[5]}  # the shared-cluster job runs no simulated cluster
    for profile in profiles:
        if profile not in covered:
            # Ten minutes apart after the first daily job, so the night's runs are staggered.
            minute = 10 * (len(shaped) - 4) % 60
            shaped.append({"name": f"daily-{profile}", "tags": {PROFILE_TAG: profile},
                           "schedule": nightly(2, minute),
                           "job_clusters": [{"job_cluster_key": "main",
                                             "new_cluster": aws_cluster("m5d.2xlarge", 4)}],
                           "tasks": [_task("main", profile, job_cluster_key="main")]})
    return shaped


def seed_jobs(ws: Workspace, profiles: list[str] | None = None) -> list[int]:
    profiles = profiles or ws.backend.profiles()
    if not profiles:
        raise ValueError("no workload profiles to seed jobs with")
    existing = ws.add_existing_cluster(aws_cluster("m5d.xlarge", 2), "shared-all-purpose")
    ids = []
    for settings in seed_settings(profiles, existing):
        with ws.store.lock:
            job_id = ws.store.next_id("job_id")
            jobs.create(ws.store.data, settings, job_id, ws.now_ms(), ws.backend)
            ws.store.save()
        ids.append(job_id)
    ws.jobs_changed()  # their schedules count from now (and fire when schedules are on)
    return ids
