"""Turns a simulated application timeline into the lines of a Databricks Spark event log.

The first line is Databricks' ``DBCEventLoggingListenerMetadata``; the rest is what Spark's
EventLoggingListener writes, in time order: log start, resource profile, driver block manager,
environment (with the Databricks cluster and job tags), application start, executors, and per job
the SQL execution, job, stage and task events, then application end. The driver's heartbeats
are logged too, and feed the per-stage peaks Spark logs for executor "driver"
(``spark.eventLog.logStageExecutorMetrics``). A driver that died of a full heap writes nothing
after that moment: no stage or job ends, no last heartbeat, no application end.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sandbox.sim import events as ev
from sandbox.sim.driver import stage_peaks
from sandbox.sim.scheduler import ExecutorRecord, StageRecord, TaskRecord, Timeline


@dataclass(frozen=True)
class LogContext:
    app_id: str
    app_name: str
    spark_version: str
    spark_context_id: str
    cluster_id: str
    cluster_name: str
    job_id: int
    run_id: int
    driver_ip: str
    hosts: dict[int, str]  # node index -> private IP
    app_start_ms: int
    executor_memory_mb: int
    driver_cores: int
    worker_node_type: str
    driver_node_type: str
    shuffle_partitions: int
    driver_memory: str = ""  # spark.driver.memory as the cluster's spark_conf sets it ("" = not set)


def _spark_properties(ctx: LogContext) -> dict[str, str]:
    props = {
        "spark.app.name": ctx.app_name,
        "spark.app.id": ctx.app_id,
        "spark.app.startTime": str(ctx.app_start_ms),
        "spark.master": f"spark://{ctx.driver_ip}:7077",
        "spark.driver.host": ctx.driver_ip,
        "spark.driver.port": "40001",
        "spark.executor.id": "driver",
        "spark.executor.memory": f"{ctx.executor_memory_mb}m",
        "spark.sql.shuffle.partitions": str(ctx.shuffle_partitions),
        "spark.eventLog.enabled": "false",
        "spark.extraListeners": "com.databricks.backend.daemon.driver.DBCEventLoggingListener",
        "spark.databricks.clusterUsageTags.clusterId": ctx.cluster_id,
        "spark.databricks.clusterUsageTags.clusterName": ctx.cluster_name,
        "spark.databricks.clusterUsageTags.clusterNodeType": ctx.worker_node_type,
        "spark.databricks.clusterUsageTags.driverNodeType": ctx.driver_node_type,
        "spark.databricks.job.id": str(ctx.job_id),
        "spark.databricks.job.runId": str(ctx.run_id),
        "spark.databricks.sparkContextId": ctx.spark_context_id,
        "spark.scheduler.mode": "FAIR",
    }
    if ctx.driver_memory:
        props["spark.driver.memory"] = ctx.driver_memory
    return props


def _environment(ctx: LogContext) -> dict[str, Any]:
    return {
        "Event": "SparkListenerEnvironmentUpdate",
        "JVM Information": {"Java Home": "/usr/lib/jvm/zulu17-ca-amd64",
                            "Java Version": "17.0.12 (Azul Systems, Inc.)", "Scala Version": "version 2.12.15"},
        "Spark Properties": _spark_properties(ctx),
        "Hadoop Properties": {"fs.s3a.impl": "shaded.databricks.org.apache.hadoop.fs.s3a.S3AFileSystem"},
        "System Properties": {"java.io.tmpdir": "/local_disk0/tmp", "user.timezone": "Etc/UTC"},
        "Metrics Properties": {"*.sink.servlet.class": "org.apache.spark.metrics.sink.MetricsServlet"},
        "Classpath Entries": {"/databricks/jars/spark--driver--driver-spark_3.5_2.12_deploy.jar": "System Classpath"},
    }


def _block_manager(executor_id: str, host: str, port: int, t_ms: int, max_mem: int) -> dict[str, Any]:
    return {"Event": "SparkListenerBlockManagerAdded",
            "Block Manager ID": {"Executor ID": executor_id, "Host": host, "Port": port},
            "Maximum Memory": max_mem, "Timestamp": t_ms, "Maximum Onheap Memory": max_mem,
            "Maximum Offheap Memory": 0}


def _stage_rdds(s: StageRecord, cache_source: StageRecord | None = None) -> list[dict[str, Any]]:
    """The stage's RDD chain, last RDD first as Spark lists it: a source (scan or shuffle read) and a map.

    As in a real log (checked with PySpark 4): the stage that caches a dataset lists its RDD with a
    storage level, and every later stage that reads the cached blocks lists that same RDD (same ID,
    same storage level, with its lineage) under its own new RDD. Spark leaves the RDDs' cached
    partition counts and sizes at 0 in the event log.
    """
    base = s.stage_id * 3
    if s.reads_cache and cache_source is not None:
        cached = _stage_rdds(cache_source)
        return [ev.rdd_info(base + 1, s.name, s.num_tasks, cached=False, codegen_id=s.stage_id + 1,
                            parent_ids=[cached[0]["RDD ID"]]), *cached]
    source = "ShuffledRowRDD" if s.parent_ids else "FileScanRDD"
    return [
        ev.rdd_info(base + 1, s.name, s.num_tasks, cached=s.persists, codegen_id=s.stage_id + 1,
                    parent_ids=[base]),
        ev.rdd_info(base, s.name, s.num_tasks, cached=False, codegen_id=s.stage_id + 1, rdd_name=source),
    ]


class _Builder:
    def __init__(self, ctx: LogContext, tl: Timeline) -> None:
        self.ctx = ctx
        self.tl = tl
        self.out: list[tuple[int, int, dict[str, Any]]] = []  # (time, sequence, event)
        self.executors = {e.executor_id: e for e in tl.executors}
        self.storage_mem = int(ctx.executor_memory_mb * 1024 * 1024 * 0.6)
        self.cache_source = next((s for s in tl.stages if s.persists), None)

    def emit(self, t_ms: int, event: dict[str, Any]) -> None:
        self.out.append((t_ms, len(self.out), event))

    def host(self, node_index: int) -> str:
        return self.ctx.hosts.get(node_index, self.ctx.driver_ip)

    def header(self) -> None:
        ctx, t0 = self.ctx, self.ctx.app_start_ms
        self.emit(t0, {"Event": "SparkListenerLogStart", "Spark Version": ctx.spark_version})
        self.emit(t0, {
            "Event": "SparkListenerResourceProfileAdded", "Resource Profile Id": 0,
            "Executor Resource Requests": {
                "cores": {"Resource Name": "cores", "Amount": ctx.driver_cores, "Discovery Script": "", "Vendor": ""},
                "memory": {"Resource Name": "memory", "Amount": ctx.executor_memory_mb, "Discovery Script": "",
                           "Vendor": ""},
                "offHeap": {"Resource Name": "offHeap", "Amount": 0, "Discovery Script": "", "Vendor": ""}},
            "Task Resource Requests": {"cpus": {"Resource Name": "cpus", "Amount": 1.0}}})
        self.emit(t0, _block_manager("driver", ctx.driver_ip, 40002, t0, self.storage_mem))
        self.emit(t0, _environment(ctx))
        self.emit(t0, {"Event": "SparkListenerApplicationStart", "App Name": ctx.app_name, "App ID": ctx.app_id,
                       "Timestamp": t0, "User": "root"})

    def executor_events(self, ex: ExecutorRecord) -> None:
        host = self.host(ex.node_index)
        self.emit(ex.add_ms, {"Event": "SparkListenerExecutorAdded", "Timestamp": ex.add_ms,
                              "Executor ID": ex.executor_id,
                              "Executor Info": {"Host": host, "Total Cores": ex.cores, "Log Urls": {},
                                                "Attributes": {}, "Resources": {}, "Resource Profile Id": 0}})
        self.emit(ex.add_ms + 40, _block_manager(ex.executor_id, host, 40100, ex.add_ms + 40, self.storage_mem))
        if ex.remove_ms is not None:
            self.emit(ex.remove_ms, {"Event": "SparkListenerExecutorRemoved", "Timestamp": ex.remove_ms,
                                     "Executor ID": ex.executor_id, "Removed Reason": ex.remove_reason})

    def task_events(self, stage: StageRecord, rec: TaskRecord) -> dict[str, int]:
        host = self.host(rec.node_index)
        locality = "PROCESS_LOCAL" if rec.cost.input_bytes == 0 else "NODE_LOCAL"
        common = {"task_id": rec.task_id, "index": rec.index, "attempt": rec.attempt, "launch_ms": rec.launch_ms,
                  "executor_id": rec.executor_id, "host": host, "locality": locality}
        if rec.end_reason != "Resubmitted":
            self.emit(rec.launch_ms, {"Event": "SparkListenerTaskStart", "Stage ID": stage.stage_id,
                                      "Stage Attempt ID": 0, "Task Info": ev.task_info(**common)})
        event: dict[str, Any] = {"Event": "SparkListenerTaskEnd", "Stage ID": stage.stage_id, "Stage Attempt ID": 0,
                                 "Task Type": rec.task_type}
        metrics = ev.metric_values(rec.cost) if rec.end_reason == "Success" else {}
        accums = (ev.accumulables(stage.stage_id, metrics, with_update=True, output_rows=ev.output_rows(metrics))
                  if metrics else [])
        event["Task End Reason"] = self.end_reason(rec, stage)
        event["Task Info"] = ev.task_info(**common, finish_ms=rec.finish_ms, accums=accums,
                                          failed=rec.end_reason in ("ExecutorLostFailure", "ExceptionFailure"),
                                          killed=rec.end_reason == "TaskKilled")
        event["Task Executor Metrics"] = ev.executor_metrics(
            {"JVMHeapMemory": rec.cost.peak_execution_memory + 350_000_000,
             "OnHeapExecutionMemory": rec.cost.peak_execution_memory, "TotalGCTime": rec.cost.gc_ms}
            if rec.end_reason == "Success" else None)
        if metrics:
            event["Task Metrics"] = ev.task_metrics_json(metrics)
        self.emit(rec.finish_ms, event)
        return metrics

    def end_reason(self, rec: TaskRecord, stage: StageRecord) -> dict[str, Any]:
        if rec.end_reason == "ExecutorLostFailure":
            lost = self.executors[rec.executor_id]
            return {"Reason": "ExecutorLostFailure", "Executor ID": rec.executor_id, "Exit Caused By App": lost.killed,
                    "Loss Reason": lost.remove_reason}
        if rec.end_reason == "ExceptionFailure":
            return ev.oom_failure()
        if rec.end_reason == "TaskKilled":
            return {"Reason": "TaskKilled", "Kill Reason": f"Stage cancelled: {stage.failure_reason}",
                    "Accumulator Updates": []}
        # Success, or Resubmitted: a finished map output was lost with its executor.
        return {"Reason": rec.end_reason}

    def job_events(self, job_index: int, tasks_by_stage: dict[int, list[TaskRecord]]) -> None:
        job = self.tl.jobs[job_index]
        stages = [s for s in self.tl.stages if s.job_id == job.job_id]
        ctx = self.ctx
        description = stages[-1].name
        query_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ctx.app_id}/{job.job_id}"))
        session = f"spark-session-{uuid.uuid5(uuid.NAMESPACE_URL, ctx.app_id)}"
        self.emit(job.submit_ms - 5, {
            "Event": ev.SQL_EVENT_PREFIX + "SparkListenerSQLExecutionStart", "executionId": job.job_id,
            "rootExecutionId": job.job_id, "description": description,
            "details": "org.apache.spark.sql.Dataset.collectToPython(Dataset.scala:4334)",
            "physicalPlanDescription": f"== Physical Plan ==\nAdaptiveSparkPlan ({len(stages)})\n",
            "sparkPlanInfo": ev.sql_plan([s.stage_id for s in stages]), "time": job.submit_ms - 5,
            "modifiedConfigs": {}, "jobTags": [f"{session}-execution-root-id-{job.job_id}", session],
            "jobGroupId": None, "queryId": query_id})
        rdds = {s.stage_id: _stage_rdds(s, self.cache_source) for s in stages}
        props = {"spark.sql.execution.id": str(job.job_id), "callSite.short": description,
                 "spark.jobGroup.id": f"{ctx.run_id}_job-{ctx.job_id}-run-{ctx.run_id}-action-{job.job_id}",
                 "spark.databricks.job.id": str(ctx.job_id), "spark.databricks.job.runId": str(ctx.run_id),
                 "spark.databricks.clusterUsageTags.clusterId": ctx.cluster_id,
                 "spark.rdd.scope.noOverride": "true"}
        self.emit(job.submit_ms, {
            "Event": "SparkListenerJobStart", "Job ID": job.job_id, "Submission Time": job.submit_ms,
            "Stage Infos": [ev.stage_info(stage_id=s.stage_id, name=s.name, num_tasks=s.num_tasks,
                                          parent_ids=list(s.parent_ids), rdds=rdds[s.stage_id]) for s in stages],
            "Stage IDs": [s.stage_id for s in stages], "Properties": props})
        for s in stages:
            if s.submitted:
                self.stage_events(s, rdds[s.stage_id], props, tasks_by_stage.get(s.stage_id, []))
        result: dict[str, Any] = {"Result": "JobSucceeded"}
        if job.failure:
            result = {"Result": "JobFailed", "Exception": {"Message": job.failure, "Stack Trace": ev.DAG_STACK}}
        self.emit(job.end_ms, {"Event": "SparkListenerJobEnd", "Job ID": job.job_id, "Completion Time": job.end_ms,
                               "Job Result": result})
        self.emit(job.end_ms + 5, {"Event": ev.SQL_EVENT_PREFIX + "SparkListenerSQLExecutionEnd",
                                   "executionId": job.job_id, "time": job.end_ms + 5,
                                   "errorMessage": job.failure or "", "queryId": query_id})

    def stage_events(self, s: StageRecord, rdds: list[dict[str, Any]], props: dict[str, str],
                     tasks: list[TaskRecord]) -> None:
        self.emit(s.submit_ms, {"Event": "SparkListenerStageSubmitted", "Stage Info": ev.stage_info(
            stage_id=s.stage_id, name=s.name, num_tasks=s.num_tasks, parent_ids=list(s.parent_ids), rdds=rdds,
            submit_ms=s.submit_ms), "Properties": props})
        totals: dict[str, int] = defaultdict(int)
        peaks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for rec in tasks:
            for name, value in self.task_events(s, rec).items():
                totals[name] = max(totals[name], value) if name.startswith("peak") else totals[name] + value
            if rec.end_reason == "Success":
                peak = peaks[rec.executor_id]
                peak["OnHeapExecutionMemory"] = max(peak["OnHeapExecutionMemory"], rec.cost.peak_execution_memory)
                peak["TotalGCTime"] += rec.cost.gc_ms
        by_executor: dict[str, dict[str, int]] = {}
        for executor_id, peak in peaks.items():
            cores = self.executors[executor_id].cores
            by_executor[executor_id] = {**peak, "JVMHeapMemory": 350_000_000 + cores * peak["OnHeapExecutionMemory"],
                                        "OnHeapUnifiedMemory": cores * peak["OnHeapExecutionMemory"]}
        # The driver's heartbeats while the stage was live (onExecutorMetricsUpdate updates every
        # live stage); merged by maximum with what its own tasks reported when it runs tasks.
        driver = stage_peaks(self.tl.driver_samples, s.submit_ms, s.complete_ms)
        if driver is not None:
            mine = by_executor.get("driver", {})
            by_executor["driver"] = {k: max(mine.get(k, 0), driver.get(k, 0)) for k in {*mine, *driver}}
        for executor_id, values in sorted(by_executor.items()):
            self.emit(s.complete_ms, {"Event": "SparkListenerStageExecutorMetrics", "Executor ID": executor_id,
                                      "Stage ID": s.stage_id, "Stage Attempt ID": 0,
                                      "Executor Metrics": ev.executor_metrics(values)})
        self.emit(s.complete_ms, {"Event": "SparkListenerStageCompleted", "Stage Info": ev.stage_info(
            stage_id=s.stage_id, name=s.name, num_tasks=s.num_tasks, parent_ids=list(s.parent_ids), rdds=rdds,
            submit_ms=s.submit_ms, complete_ms=s.complete_ms, failure_reason=s.failure_reason,
            accums=ev.accumulables(s.stage_id, totals, with_update=False, output_rows=ev.output_rows(totals)))})


def build_event_log(ctx: LogContext, tl: Timeline) -> list[tuple[int, str]]:
    """All lines of the application's event log as (time ms, JSON line), in write order."""
    b = _Builder(ctx, tl)
    b.header()
    for ex in tl.executors:
        b.executor_events(ex)
    tasks_by_stage: dict[int, list[TaskRecord]] = defaultdict(list)
    for rec in tl.tasks:
        tasks_by_stage[rec.stage_id].append(rec)
    for i in range(len(tl.jobs)):
        b.job_events(i, tasks_by_stage)
    for sample in tl.driver_samples:  # Spark logs the driver's own metrics updates (not executors')
        b.emit(sample.t_ms, {"Event": "SparkListenerExecutorMetricsUpdate", "Executor ID": "driver",
                             "Metrics Updated": [], "Executor Metrics Updated": [
                                 {"Stage ID": -1, "Stage Attempt ID": -1,
                                  "Executor Metrics": ev.executor_metrics(sample.metrics)}]})
    crash = tl.driver_gone_ms
    if crash is None:
        b.emit(tl.app_end_ms, {"Event": "SparkListenerApplicationEnd", "Timestamp": tl.app_end_ms,
                               "ExitCode": 1 if tl.failure else 0})
    else:  # the driver died or was reclaimed: nothing from that moment on reaches the log
        b.out = [item for item in b.out if item[0] < crash]
    b.out.sort(key=lambda item: (item[0], item[1]))
    ctx_id: int | str = int(ctx.spark_context_id) if ctx.spark_context_id.isdigit() else ctx.spark_context_id
    metadata = {"Event": "DBCEventLoggingListenerMetadata", "Spark Version": ctx.spark_version,
                "Timestamp": ctx.app_start_ms, "Rollover Number": 0, "SparkContext Id": ctx_id}
    lines = [(ctx.app_start_ms, json.dumps(metadata, separators=(",", ":")))]
    lines.extend((t, json.dumps(e, separators=(",", ":"))) for t, _, e in b.out)
    return lines
