"""Places a profile's tasks onto executor slots over time: the simulated Spark application.

One executor per worker, one slot per vCPU, FIFO over tasks in index order, one stage at a time
(each stage waits for the shuffle output of its parents). Around that: autoscaling (a backlog
raises the target worker count, idle executors are released), spot loss (the executor dies, its
running tasks fail with ExecutorLostFailure, finished map outputs of the running stage are
resubmitted, and a replacement node joins later), executors the OS kills for a task's memory outside
the heap (the same failures, but no node is lost: a new executor starts on the node), and driver
overhead between jobs. The driver's
memory (``driver.py``) rides along: GC pauses slow its work, and a driver out of heap ends the
application where it stands.

Times are milliseconds since the application started. Everything random comes from the
``random.Random`` passed in, so a seed fixes the whole timeline.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.sim.cluster import ClusterPlan
from sandbox.sim.driver import (
    DriverMemory,
    DriverSample,
    DriverTrace,
    driver_heap_bytes,
    driver_need_bytes,
    heartbeat_samples,
)
from sandbox.sim.model import CACHE_FOOTPRINT, GB, TaskCost, TaskWork, storage_memory_bytes, task_cost
from sandbox.sim.profiles import StageTemplate, WorkloadProfile
from sandbox.sim.resize_events import ClusterChange, sized_changes

EXECUTOR_LOST_REASON = (
    "Remote RPC client disassociated. Likely due to containers exceeding thresholds, or network "
    "issues. Check driver logs for WARN messages."
)
EXECUTOR_KILLED_REASON = "Executor killed by driver."
IDLE_TIMEOUT_MS = 60_000  # autoscaling releases an executor idle this long
AUTOSCALE_CHECK_MS = 10_000  # backlog has to persist this long before scaling up
DRIVER_LAUNCH_MS = 2  # the driver launches tasks one after another
MAX_TASK_FAILURES = 4  # spark.task.maxFailures
OOM_MESSAGE = "java.lang.OutOfMemoryError: Java heap space"
# The run's state message when the driver dies of a full heap: Databricks' words for a driver that
# stopped (as job runs report it), then what killed it.
DRIVER_STOPPED_MESSAGE = (
    "The spark driver has stopped unexpectedly and is restarting. Your notebook will be automatically "
    "reattached.\n\tat com.databricks.spark.chauffeur.Chauffeur.onDriverStateChange(Chauffeur.scala:1478)\n"
    f"Caused by: {OOM_MESSAGE}"
)


def _executor_lost(executor_id: str) -> str:
    """Spark's words for an attempt whose executor the OS killed (``ExecutorLostFailure.toErrorString``)."""
    return f"ExecutorLostFailure (executor {executor_id} exited caused by one of the running tasks) Reason: " \
           f"{EXECUTOR_LOST_REASON}"


# Without noise, equal tasks cost the same: memoize (calibration runs thousands of simulations).
_cached_task_cost = functools.lru_cache(maxsize=16384)(task_cost)


@dataclass
class ExecutorRecord:
    executor_id: str
    node_index: int  # 0 is the driver node; workers are 1, 2, ...
    cores: int
    add_ms: int
    remove_ms: int | None = None
    remove_reason: str | None = None
    lost: bool = False  # removed because its (spot) node was reclaimed
    last_busy_ms: int = 0
    killed: bool = False  # killed by the OS for memory, caused by one of its running tasks


@dataclass
class TaskRecord:
    task_id: int
    stage_id: int
    index: int
    attempt: int
    executor_id: str
    node_index: int
    launch_ms: int
    finish_ms: int
    # Success | ExecutorLostFailure | Resubmitted | ExceptionFailure | TaskKilled, or Running: the
    # driver died before the attempt ended (its TaskEnd is never logged)
    end_reason: str
    task_type: str  # ShuffleMapTask | ResultTask
    cost: TaskCost


@dataclass
class StageRecord:
    stage_id: int
    job_id: int
    name: str
    num_tasks: int
    parent_ids: tuple[int, ...]
    shuffle_map: bool
    submit_ms: int = 0
    complete_ms: int = 0
    failure_reason: str | None = None
    submitted: bool = True  # False for the stages of a failed job that never ran
    persists: bool = False  # caches the dataset it reads (its RDD has a storage level)
    reads_cache: bool = False  # reads the dataset an earlier stage cached
    ended: bool = True  # False: the driver died while the stage ran (it never completed)


@dataclass
class JobRecord:
    job_id: int
    stage_ids: list[int]
    submit_ms: int = 0
    end_ms: int = 0
    failure: str | None = None


@dataclass
class Timeline:
    executors: list[ExecutorRecord] = field(default_factory=list)
    jobs: list[JobRecord] = field(default_factory=list)
    stages: list[StageRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    changes: list[ClusterChange] = field(default_factory=list)
    app_end_ms: int = 0
    input_bytes: float = 0.0
    failure: str | None = None  # why the application's job failed, if it did
    driver: DriverTrace | None = None  # the driver's memory over the run
    driver_samples: list[DriverSample] = field(default_factory=list)  # its heartbeats, in time order
    driver_lost_ms: int | None = None  # the cloud reclaimed the (spot) driver then: `driver_loss`

    @property
    def driver_crash_ms(self) -> int | None:
        """When the driver died of a full heap (the application ends there), else None."""
        return self.driver.crash_ms if self.driver is not None else None

    @property
    def driver_gone_ms(self) -> int | None:
        """When the driver died or was reclaimed (nothing reaches the event log after), else None."""
        return self.driver_crash_ms if self.driver_crash_ms is not None else self.driver_lost_ms


@dataclass(frozen=True)
class SpotLoss:
    node_index: int
    t_ms: int


# Whether a worker that joins during the run is reclaimed, and when: (node index, when it joined,
# whether it replaces a lost node) -> its loss, or None. Nodes of an upsize and replacements are not
# known before the run is scheduled, so their losses are drawn as they join.
LossDraw = Callable[[int, int, bool], SpotLoss | None]


def _stage_works(profile: WorkloadProfile, day: int, conf: dict[str, str], rng: random.Random,
                 cache_fraction: float) -> list[list[TaskWork]]:
    """Per stage, the work of each task: splits for scans, partitions for shuffles, skew."""
    input_bytes = profile.input_gb_on(day) * GB
    shuffle_written: list[float] = []
    cache_tasks = 0
    works: list[list[TaskWork]] = []
    for template in profile.stages:
        read = template.input_share * input_bytes
        shuffle = sum(shuffle_written[p] for p in template.parents)
        cached = input_bytes if template.cached else 0.0
        total = read + shuffle + cached
        n = _task_count(profile, template, read + cached, conf, cache_tasks)
        if template.input_share >= 0.5:
            cache_tasks = n
        weights = _skew_weights(n, template.skew_share, rng)
        stage_works = []
        for i, w in enumerate(weights):
            # DataFrame.cache() is MEMORY_AND_DISK: what does not fit in storage memory is read back
            # from the workers' local disks and deserialized again.
            on_disk = template.cached and i >= cache_fraction * n
            stage_works.append(TaskWork(
                input_bytes=w * (read + (cached if on_disk else 0.0)),
                shuffle_read_bytes=w * shuffle,
                cached_bytes=0.0 if on_disk else w * cached,
                cpu_s_per_gb=template.cpu_s_per_gb * (1.3 if on_disk else 1.0),
                shuffle_write_ratio=template.shuffle_write_ratio,
                output_ratio=template.output_ratio,
                mem_ratio=template.mem_ratio,
                input_local=profile.input_local or on_disk,
                stage_shuffle_bytes=shuffle + total * template.shuffle_write_ratio,
                oom_pressure=profile.oom_pressure,
                python_mem_ratio=template.python_mem_ratio,
            ))
        works.append(stage_works)
        shuffle_written.append(total * template.shuffle_write_ratio)
    return works


def _task_count(profile: WorkloadProfile, template: StageTemplate, scanned: float,
                conf: dict[str, str], cache_tasks: int) -> int:
    if template.cached and cache_tasks:
        return cache_tasks
    if template.partitions is not None:
        configured = conf.get("spark.sql.shuffle.partitions")
        n = int(configured) if configured and configured.isdigit() and template.partitions >= 100 else (
            template.partitions)
    else:
        n = math.ceil(scanned / (profile.split_mb * 1024 * 1024))
    return max(1, min(n, profile.max_tasks_per_stage))


def _skew_weights(n: int, skew_share: float, rng: random.Random) -> list[float]:
    """Each task's share of the stage's bytes; the hottest 1% of tasks get ``skew_share``."""
    if skew_share <= 0 or n < 2:
        return [1.0 / n] * n
    hot = set(rng.sample(range(n), max(1, round(n * 0.01))))
    return [skew_share / len(hot) if i in hot else (1 - skew_share) / (n - len(hot)) for i in range(n)]


class _Scheduler:
    def __init__(self, profile: WorkloadProfile, plan: ClusterPlan, rng: random.Random,
                 losses: list[SpotLoss], noise: bool, driver: DriverMemory,
                 draw_loss: LossDraw | None = None) -> None:
        self.profile = profile
        self.driver = driver
        self.plan = plan
        self.rng = rng
        self.noise = noise
        self.losses = sorted(losses, key=lambda loss: loss.t_ms)
        self.draw_loss = draw_loss
        self.tl = Timeline()
        self.slots: list[tuple[int, int, str]] = []  # (free at, tiebreak, executor id)
        self.by_id: dict[str, ExecutorRecord] = {}
        self.next_node = plan.min_workers + 1
        self.executor_seq = 0
        self.n_alive = 0  # executors added and not removed (including ones still starting)
        self.task_id = 0
        self.last_launch = 0
        self.run_factor = rng.lognormvariate(0.0, profile.noise_cv) if noise else 1.0

    # --- executors -------------------------------------------------------------------------
    def add_executor(self, node_index: int, t_ms: int, executor_id: str | None = None) -> None:
        # A single-node cluster (no workers) runs tasks in the driver, like local mode.
        cores = self.plan.driver_type.vcpus if executor_id == "driver" else self.plan.worker_type.vcpus
        ex = ExecutorRecord(executor_id or str(self.executor_seq), node_index, cores, t_ms, last_busy_ms=t_ms)
        if executor_id is None:
            self.executor_seq += 1
        self.tl.executors.append(ex)
        self.n_alive += 1
        self.by_id[ex.executor_id] = ex
        for slot in range(ex.cores):
            heapq.heappush(self.slots, (t_ms, len(self.tl.executors) * 1000 + slot, ex.executor_id))

    def live(self, t_ms: int) -> list[ExecutorRecord]:
        return [e for e in self.tl.executors if e.remove_ms is None and e.add_ms <= t_ms]

    def alive_count(self) -> int:
        return self.n_alive

    def remove(self, ex: ExecutorRecord, t_ms: int, reason: str, lost: bool) -> None:
        ex.remove_ms, ex.remove_reason, ex.lost = t_ms, reason, lost
        self.n_alive -= 1

    def joined(self, node_index: int, t_ms: int, replacement: bool) -> None:
        """A worker joined at ``t_ms``: if it is to be reclaimed, its loss waits in time order."""
        loss = self.draw_loss(node_index, t_ms, replacement) if self.draw_loss else None
        if loss is not None:
            bisect.insort(self.losses, loss, key=lambda x: x.t_ms)

    def startup_ms(self) -> int:
        return round(self.rng.uniform(3_000, 8_000)) if self.noise else 5_000

    def provision_ms(self) -> int:
        return round(self.rng.uniform(70_000, 150_000)) if self.noise else 100_000

    def scale_up(self, t_ms: int, pending: int, cause: str = "AUTOSCALE") -> None:
        current = self.alive_count()
        want = current + math.ceil(pending / self.plan.worker_type.vcpus)
        target = min(self.plan.max_workers, want)
        if target <= current:
            return
        # The counts of workers up are filled in at the end (`sized_changes`): nodes asked for
        # earlier may still be on their way.
        self.tl.changes.append(ClusterChange(t_ms, "RESIZING", {"target_num_workers": target, "cause": cause}))
        arrive = t_ms + self.provision_ms()
        for _ in range(target - current):
            self.add_executor(self.next_node, arrive + self.startup_ms())
            # Databricks launches the instance at the request; the cloud bills it from then.
            self.tl.changes.append(ClusterChange(arrive, "ADD", {"requested_ms": t_ms}, self.next_node))
            self.joined(self.next_node, arrive, replacement=False)
            self.next_node += 1

    def release_idle(self, t_ms: int) -> None:
        if not self.plan.autoscale:
            return
        idle = sorted((e for e in self.live(t_ms) if e.last_busy_ms + IDLE_TIMEOUT_MS <= t_ms),
                      key=lambda e: e.last_busy_ms)
        for ex in idle:
            if self.alive_count() <= self.plan.min_workers:
                break
            at = ex.last_busy_ms + IDLE_TIMEOUT_MS
            n = self.alive_count()
            self.remove(ex, at, EXECUTOR_KILLED_REASON, lost=False)
            self.tl.changes.append(ClusterChange(at, "RESIZING", {"target_num_workers": n - 1, "cause": "AUTOSCALE"},
                                                 ex.node_index))

    # --- spot loss -------------------------------------------------------------------------
    def lose_node(self, loss: SpotLoss, stage: StageRecord, records: list[TaskRecord],
                  pending: deque[tuple[int, int, int]]) -> None:
        victims = [e for e in self.tl.executors if e.node_index == loss.node_index and e.remove_ms is None]
        if not victims:
            return
        ex = victims[0]
        # A node reclaimed before its executor registered is seen lost right after it registers.
        loss = SpotLoss(loss.node_index, max(loss.t_ms, ex.add_ms + 1_000))
        n = self.alive_count()
        self.remove(ex, loss.t_ms, EXECUTOR_LOST_REASON, lost=True)
        self.tl.changes.append(ClusterChange(loss.t_ms, "NODES_LOST", {
            "target_num_workers": n,
            "reason": {"code": "SPOT_INSTANCE_TERMINATION", "type": "CLOUD_FAILURE",
                       "parameters": {"databricks_error_message": "Spot instance was reclaimed."}}},
            loss.node_index))
        self.fail_attempts_on(ex, loss.t_ms, stage, records, pending)
        # Databricks replaces the lost node; with fallback the replacement is on demand.
        arrive = loss.t_ms + self.provision_ms()
        self.add_executor(self.next_node, arrive + self.startup_ms())
        self.tl.changes.append(ClusterChange(arrive, "ADD", {"replacement": True}, self.next_node))
        self.joined(self.next_node, arrive, replacement=True)
        self.next_node += 1

    def fail_attempts_on(self, ex: ExecutorRecord, t_ms: int, stage: StageRecord, records: list[TaskRecord],
                         pending: deque[tuple[int, int, int]]) -> None:
        """``ex`` died at ``t_ms``: its attempts still running fail, and the running stage's map outputs it
        held are resubmitted (both run again)."""
        for rec in list(records):
            if rec.executor_id != ex.executor_id or rec.end_reason != "Success":
                continue
            if rec.finish_ms > t_ms:
                rec.end_reason, rec.finish_ms = "ExecutorLostFailure", t_ms
            elif stage.shuffle_map:
                # Its map output lived on the lost executor: Spark re-runs the task in this stage.
                records.append(TaskRecord(rec.task_id, rec.stage_id, rec.index, rec.attempt,
                                          rec.executor_id, rec.node_index, rec.launch_ms,
                                          t_ms, "Resubmitted", rec.task_type, rec.cost))
            else:
                continue
            pending.append((rec.index, rec.attempt + 1, t_ms))

    def kill_executor(self, ex: ExecutorRecord, t_ms: int, stage: StageRecord, records: list[TaskRecord],
                      pending: deque[tuple[int, int, int]]) -> None:
        """The OS killed ``ex`` at ``t_ms`` for the memory a task's Python worker took (exit code 137): its
        other attempts fail as on a lost node, and Databricks starts a new executor on the same node. No
        node is lost, so the cluster reports nothing (no NODES_LOST)."""
        self.remove(ex, t_ms, EXECUTOR_LOST_REASON, lost=False)
        ex.killed = True
        self.fail_attempts_on(ex, t_ms, stage, records, pending)
        self.add_executor(ex.node_index, t_ms + self.startup_ms())

    # --- stages ----------------------------------------------------------------------------
    def run_stage(self, stage: StageRecord, works: list[TaskWork], submit: int) -> int:
        stage.submit_ms = submit
        self.release_idle(submit)
        pending: deque[tuple[int, int, int]] = deque((i, 0, submit) for i in range(len(works)))
        records: list[TaskRecord] = []
        next_check = submit + AUTOSCALE_CHECK_MS if self.plan.autoscale else math.inf
        task_type = "ShuffleMapTask" if stage.shuffle_map else "ResultTask"
        while True:
            while pending:
                if not self.slots:  # autoscaling from zero workers: the backlog asks for nodes
                    self.scale_up(submit, len(pending))
                    if not self.slots:
                        raise RuntimeError("no executor can run the stage")
                free, tie, eid = self.slots[0]
                ex = self.by_id[eid]
                if ex.remove_ms is not None and ex.remove_ms <= max(free, submit):
                    heapq.heappop(self.slots)
                    continue
                now = max(free, submit)
                if self.losses and self.losses[0].t_ms <= now:
                    self.lose_node(self.losses.pop(0), stage, records, pending)
                    continue
                if next_check <= now:
                    self.scale_up(next_check, len(pending))
                    next_check = next_check + 30_000 if self.alive_count() < self.plan.max_workers else math.inf
                    continue
                heapq.heappop(self.slots)
                index, attempt, ready = pending.popleft()
                launch = max(now, ready, self.last_launch + DRIVER_LAUNCH_MS)
                self.last_launch = launch
                noise = self.run_factor * (self.rng.lognormvariate(0.0, self.profile.task_noise_cv)
                                           if self.noise else 1.0)
                workers = max(1, self.n_alive)  # shuffle's remote share; joining nodes count already
                cost = (task_cost if self.noise else _cached_task_cost)(
                    works[index], self.plan.worker_type, concurrency=ex.cores, workers=workers, noise=noise)
                finish = launch + (cost.duration_ms * 3 // 5 if cost.oom or cost.killed else cost.duration_ms)
                if ex.remove_ms is not None and finish > ex.remove_ms:
                    # Launched on an executor another attempt's memory is about to get killed.
                    records.append(TaskRecord(self.task_id, stage.stage_id, index, attempt, eid, ex.node_index,
                                              launch, ex.remove_ms, "ExecutorLostFailure", task_type, cost))
                    self.task_id += 1
                    pending.append((index, attempt + 1, ex.remove_ms))
                    continue
                failed = "ExceptionFailure" if cost.oom else "ExecutorLostFailure" if cost.killed else "Success"
                records.append(TaskRecord(self.task_id, stage.stage_id, index, attempt, eid, ex.node_index,
                                          launch, finish, failed, task_type, cost))
                self.task_id += 1
                if cost.killed:
                    self.kill_executor(ex, finish, stage, records, pending)
                if cost.oom or cost.killed:
                    if attempt + 1 >= MAX_TASK_FAILURES:
                        return self.abort_stage(stage, records, records[-1], finish,
                                                OOM_MESSAGE if cost.oom else _executor_lost(eid))
                    pending.append((index, attempt + 1, finish))
                ex.last_busy_ms = max(ex.last_busy_ms, finish)
                heapq.heappush(self.slots, (finish, tie, eid))
            end = max((r.finish_ms for r in records if r.end_reason == "Success"), default=submit)
            if self.losses and self.losses[0].t_ms < end:
                self.lose_node(self.losses.pop(0), stage, records, pending)
                continue
            break
        stage.complete_ms = end + 15
        self.tl.tasks.extend(records)
        return stage.complete_ms

    def abort_stage(self, stage: StageRecord, records: list[TaskRecord], last: TaskRecord, t_ms: int,
                    why: str) -> int:
        """A task failed MAX_TASK_FAILURES times (``why``, its last failure): Spark aborts the stage,
        kills its running tasks."""
        stage.failure_reason = (
            f"Job aborted due to stage failure: Task {last.index} in stage {stage.stage_id}.0 failed "
            f"{MAX_TASK_FAILURES} times, most recent failure: Lost task {last.index}.{last.attempt} in stage "
            f"{stage.stage_id}.0 (TID {last.task_id}) (executor {last.executor_id}): {why}")
        for rec in records:
            if rec.end_reason == "Success" and rec.finish_ms > t_ms:
                rec.end_reason, rec.finish_ms = "TaskKilled", t_ms
        stage.complete_ms = t_ms + 15
        self.tl.tasks.extend(records)
        self.tl.failure = stage.failure_reason
        return stage.complete_ms

    def driver_died(self, stage: StageRecord, t_ms: int) -> None:
        """The driver ran out of heap at ``t_ms``: attempts still going never report back."""
        self.tl.failure = DRIVER_STOPPED_MESSAGE
        stage.complete_ms, stage.ended = t_ms, False
        kept = []
        for rec in self.tl.tasks:
            if rec.finish_ms >= t_ms:
                if rec.end_reason == "Resubmitted":
                    continue  # a bookkeeping record of an attempt already listed
                rec.end_reason = "Running"
            kept.append(rec)
        self.tl.tasks = kept

    def run(self, works: list[list[TaskWork]], start_ms: int) -> Timeline:
        for w in range(1, self.plan.min_workers + 1):
            self.add_executor(w, start_ms + self.startup_ms())
        if self.plan.max_workers == 0:
            self.add_executor(0, start_ms, executor_id="driver")
        stages_by_job: dict[int, list[int]] = {}
        for i, template in enumerate(self.profile.stages):
            stages_by_job.setdefault(template.job, []).append(i)
        consumed = {p for t in self.profile.stages for p in t.parents}
        t = start_ms + self.driver.work_ms(start_ms, self.profile.startup_s * 1000)
        crash: int | None = None
        for job_id, stage_ids in sorted(stages_by_job.items()):
            driver_s = self.profile.driver_s_per_job * (self.rng.uniform(0.7, 1.3) if self.noise else 1.0)
            job = JobRecord(job_id, stage_ids, submit_ms=t + self.driver.work_ms(t, driver_s * 1000))
            self.tl.jobs.append(job)
            t = job.submit_ms
            for sid in stage_ids:
                template = self.profile.stages[sid]
                stage = StageRecord(sid, job_id, template.name, len(works[sid]), template.parents,
                                    shuffle_map=sid in consumed, submitted=not self.tl.failure,
                                    persists=template.persists, reads_cache=template.cached)
                self.tl.stages.append(stage)
                if not self.tl.failure:
                    first = len(self.tl.tasks)
                    t = self.run_stage(stage, works[sid], t + 40)
                    if template.driver_share > 0 and not self.tl.failure:
                        finishes = sorted(r.finish_ms for r in self.tl.tasks[first:] if r.end_reason == "Success")
                        crash, delay = self.driver.take(stage.submit_ms, finishes, template.driver_share)
                        if crash is not None:
                            self.driver_died(stage, crash)
                            t = crash
                        else:  # GC pauses held up the results' handling
                            stage.complete_ms += delay
                            t += delay
            job.end_ms = t if crash is not None else t + 10
            t = job.end_ms
            self.driver.release(t)
            if self.tl.failure:  # the driver's action raised: the application gives up
                job.failure = self.tl.failure
                break
        # A dead driver writes nothing more: the application ends where it died.
        self.tl.app_end_ms = t if crash is not None else t + 300
        # Nodes requested near the end never joined the application.
        self.tl.executors = [e for e in self.tl.executors if e.add_ms < self.tl.app_end_ms]
        self.tl.changes = sized_changes(self.tl.changes, self.plan.min_workers, self.tl.app_end_ms)
        return self.tl


def schedule(profile: WorkloadProfile, plan: ClusterPlan, *, day: int, rng: random.Random,
             start_ms: int, losses: list[SpotLoss] | None = None, noise: bool = True,
             driver_rng: random.Random | None = None, draw_loss: LossDraw | None = None) -> Timeline:
    """Simulate the application of ``profile`` on ``plan`` from ``start_ms`` (ms since app start).

    ``driver_rng`` draws the driver's run-to-run variation and heartbeat phase (its own stream, so
    the rest of the run draws what it drew before the driver had a memory); None: no variation.
    ``losses``: the first workers' spot losses; ``draw_loss``: those of the workers that join later."""
    workers = max(plan.min_workers, 1)
    cached_capacity = storage_memory_bytes(plan.worker_type) * workers
    cache_fraction = min(1.0, cached_capacity / max(profile.input_gb_on(day) * GB * CACHE_FOOTPRINT, 1.0))
    works = _stage_works(profile, day, plan.spark_conf, rng, cache_fraction)
    input_factor = profile.input_gb_on(day) / profile.input_gb if profile.input_gb else 1.0
    driver = DriverMemory(driver_heap_bytes(plan.driver_type, plan.spark_conf),
                          driver_need_bytes(profile.driver_gb, input_factor, driver_rng if noise else None),
                          keeps=profile.driver_keeps)
    sched = _Scheduler(profile, plan, rng, losses or [], noise, driver, draw_loss)
    timeline = sched.run(works, start_ms)
    timeline.driver = driver.trace
    crash = driver.trace.crash_ms
    timeline.driver_samples = heartbeat_samples(
        driver.trace, start_ms, crash if crash is not None else timeline.app_end_ms,
        driver_rng or random.Random(0), final_ms=None if crash is not None else timeline.app_end_ms)
    timeline.input_bytes = sum(r.cost.input_bytes for r in timeline.tasks if r.end_reason == "Success")
    return timeline
