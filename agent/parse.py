"""Event-log lines → plain events, for one application.

Tolerant by design (Spark's JsonProtocol promises only optional additions):
unknown events and fields are ignored, missing fields read as 0/"".

State is split in two on purpose, so a restart after ``kill -9`` has no gap:
- *application state* (ids, conf, which stages/jobs/executors were already
  emitted, open jobs and SQL executions) is small and idempotent under replay;
  it is snapshotted with every checkpoint (``snapshot``/``restore``). "Already emitted" is kept
  as runs of ids (``agent.idset``), so it stays a few hundred bytes however many stages an
  application runs: see ``AppParser._stage_done``;
- events made before the application id is known (Spark writes the driver's ExecutorAdded before
  ApplicationStart) are held, not sent; the checkpoint resumes at the first held line and saves
  the application state from just before it (``_held_state``), so a restart makes them again;
- the driver's running peak metrics and what of them was last sent are application state too:
  a replayed heartbeat cannot raise a maximum that already includes it, so it sends nothing again;
- *open stages* (task aggregates) are never snapshotted. Instead the follower
  checkpoints a read position no later than the first line of the oldest open
  stage (``low_water``), so a restart replays those lines. Replayed lines of
  already emitted stages, jobs and executors are recognised and not re-emitted.
  A stage attempt whose ``StageCompleted`` never comes (Spark's eventLog queue dropped
  it, or the driver died mid-stage) would pin that position for good: it is emitted
  from its TaskEnd totals at its job's end, or at the log's end, flagged in its
  ``failure_reason`` (``COMPLETION_NOT_SEEN``; see ``AppParser._emit_unfinished``).
"""

from __future__ import annotations

import copy
import logging
import re
from array import array
from dataclasses import dataclass, field
from typing import Any

from agent.events import (
    METRIC_NAMES,
    PEAK_INDEX,
    AppEnded,
    AppStarted,
    DriverPeaks,
    ExecutorAdded,
    ExecutorGauges,
    ExecutorRemoved,
    JobCompleted,
    PlainEvent,
    SqlExecution,
    StageCompleted,
)
from agent.idset import IdRanges, StrIdSet
from agent.spark_fields import ACCUM_NAMES, TASK_PATHS, classify_removal, distribution

log = logging.getLogger("trimtab.agent.parse")

SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
SQL_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"
WANTED = frozenset(
    {
        "SparkListenerLogStart",
        "DBCEventLoggingListenerMetadata",
        "SparkListenerEnvironmentUpdate",
        "SparkListenerApplicationStart",
        "SparkListenerApplicationEnd",
        "SparkListenerExecutorAdded",
        "SparkListenerExecutorRemoved",
        "SparkListenerStageSubmitted",
        "SparkListenerTaskEnd",
        "SparkListenerStageExecutorMetrics",
        "SparkListenerExecutorMetricsUpdate",
        "SparkListenerStageCompleted",
        "SparkListenerJobStart",
        "SparkListenerJobEnd",
        SQL_START,
        SQL_END,
    }
)
_PREFIX = b'{"Event":"'
DRIVER_ID = "driver"  # Spark's SparkContext.DRIVER_IDENTIFIER
# The driver's peaks are sent again once its heap peak (or the resident memory of its Python and
# other child processes) grew by this share, or its GC time by this share and at least _GC_STEP_MS:
# enough to size a driver (the planner wants the peak within a few percent and the GC share within
# a point), few enough events (tens per application, not one per 10 s heartbeat). The
# application's end (or its log's, see finish) sends the final values whatever they are.
_HEAP_STEP = 0.05
_GC_SHARE_STEP = 0.2
_GC_STEP_MS = 1000
# Spark conf keys worth sending: they identify the cluster/job or size it. Never secrets.
_CONF_KEEP = re.compile(
    r"^spark\.(databricks\.clusterUsageTags\.|databricks\.job\.|executor\.(memory|cores|instances)|"
    r"driver\.(memory|cores)|dynamicAllocation\.|eventLog\.|app\.(name|id)|master$|sql\.shuffle\.partitions)"
)
_CONF_SECRET = re.compile(r"(?i)(secret|password|token|credential|\.key$|apikey)")
# The failure reason of a stage attempt emitted without its StageCompleted line. The protocol has no
# field for "completion not seen" (trimtab.v1.StageCompleted), and a stage with a failure reason is
# left out of the tuner's stage observations (server.plan.observe), which is right for totals that
# may miss tasks: the reason shows in the run's stage list, where a person can read it.
COMPLETION_NOT_SEEN = ("trimtab-agent: completion not seen in the event log (Spark's listener queue dropped "
                       "the StageCompleted event, or the driver stopped mid-stage); totals from the TaskEnd "
                       "lines read")
# Stage Info fields kept from a StageSubmitted, for a stage emitted without its StageCompleted.
_SUBMITTED_KEEP = ("Stage Name", "Number of Tasks", "Parent IDs", "Submission Time", "RDD Info")


def driver_key(metrics: dict[str, int]) -> tuple[int, int, int]:
    """(used heap, GC time, resident memory of the Python and other child processes) of driver peaks."""
    return (metrics.get("JVMHeapMemory", 0), metrics.get("TotalGCTime", 0),
            metrics.get("ProcessTreePythonRSSMemory", 0) + metrics.get("ProcessTreeOtherRSSMemory", 0))


def event_name(line: bytes) -> str | None:
    """The ``Event`` of a line from its prefix (Spark always writes it first), else None."""
    if line.startswith(_PREFIX):
        end = line.find(b'"', len(_PREFIX))
        if end > 0:
            return line[len(_PREFIX) : end].decode("ascii", "replace")
    return None


def cached_level(level: Any) -> bool:
    """A Spark ``Storage Level`` that keeps an RDD's blocks (memory, disk or off-heap), i.e. a cached RDD."""
    return isinstance(level, dict) and any(level.get(k) is True for k in ("Use Memory", "Use Disk", "Use Off Heap"))


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a float infinity
        return 0


# The server's checks on each event (server/translate.py check_event), mirrored here so the agent never
# sends an event it refuses: the server refused the whole batch for one (INVALID_ARGUMENT) and the
# agent parked it, with every valid event in it. The agent does not import the server's package.
MAX_TIME_MS = 32_503_680_000_000  # 3000-01-01T00:00:00Z: past it, a unit slip or garbage
MAX_ID_LENGTH = 256
MAX_KEY_LENGTH = 512


def _time(v: Any) -> int:
    """A timestamp in ms, or 0 ("unknown", which the server accepts) for one that cannot be a time
    (-5, 1e17, text): repairing it keeps the rest of the event."""
    n = _int(v)
    return n if 0 <= n <= MAX_TIME_MS else 0


def _span(start: int, end: int) -> tuple[int, int]:
    """``(start, end)``, the end 0 (unknown) when it is before the start (a clock stepped back, a
    damaged line): the server drops such an event whole (server/event_amounts.py)."""
    return (start, 0) if 0 < end < start else (start, end)


def bad_id(value: str, limit: int = MAX_ID_LENGTH) -> bool:
    """Whether the server refuses ``value`` as an id: empty, blank, too long, or holding a NUL."""
    return not value or len(value) > limit or value.isspace() or "\x00" in value


_TIMES: dict[type, tuple[str, ...]] = {
    AppStarted: ("start_time_ms",), AppEnded: ("end_time_ms",), ExecutorAdded: ("time_ms",),
    ExecutorRemoved: ("time_ms",), StageCompleted: ("submission_time_ms", "completion_time_ms"),
    JobCompleted: ("submission_time_ms", "completion_time_ms"), SqlExecution: ("start_time_ms", "end_time_ms"),
    ExecutorGauges: ("time_ms",),
}


# Amounts the server refuses below 0 (server/event_amounts.py); the handlers send 0 for them. Not
# executor peaks: Spark's "not set yet" is -1, and the server takes them as they are.
_NOT_NEGATIVE: dict[type, tuple[str, ...]] = {
    StageCompleted: ("num_tasks", "tasks_succeeded", "tasks_failed", "tasks_killed"),
    ExecutorAdded: ("total_cores",), AppEnded: ("stages_completed", "jobs_completed", "executors_added"),
    ExecutorGauges: ("memory_used_bytes", "max_memory_bytes", "active_tasks", "total_gc_time_ms",
                     "disk_used_bytes"),
}
_SPANS: dict[type, tuple[str, str]] = {
    StageCompleted: ("submission_time_ms", "completion_time_ms"),
    JobCompleted: ("submission_time_ms", "completion_time_ms"), SqlExecution: ("start_time_ms", "end_time_ms"),
}


def _amount_refusal(b: object) -> str | None:
    for name in _NOT_NEGATIVE.get(type(b), ()):
        if getattr(b, name) < 0:
            return f"{name} {getattr(b, name)} (below 0)"
    if isinstance(b, StageCompleted):
        if any(m < 0 for m in b.metrics):
            return "a stage metric below 0"
        if any(v < 0 for v in vars(b.task_duration_ms).values()):
            return "a task duration below 0"
    span = _SPANS.get(type(b))
    if span is not None and 0 < getattr(b, span[1]) < getattr(b, span[0]):
        return f"{span[1]} before {span[0]}"
    return None


def refusal(e: PlainEvent) -> str | None:
    """Why the server would refuse ``e`` (``check_event`` in server/translate.py), or None.

    The handlers already drop or repair what a damaged line brings (``BadLine``, ``_time``); this
    is the last check before an event leaves the parser, so no rule missed there costs a batch.
    """
    if bad_id(e.key, MAX_KEY_LENGTH):
        return f"key {e.key[:40]!r}"
    if bad_id(e.application_id):
        return f"application id {e.application_id[:40]!r}"
    b = e.body
    if isinstance(b, StageCompleted):
        if b.stage_id < 0:
            return f"stage id {b.stage_id}"
        if any(bad_id(x) for x in b.executor_peaks):
            return "an executor peak without a usable executor id"
    elif isinstance(b, ExecutorAdded | ExecutorRemoved | ExecutorGauges):
        if bad_id(b.executor_id):
            return f"executor id {b.executor_id[:40]!r}"
        if isinstance(b, ExecutorRemoved) and b.time_ms <= 0:
            return "an executor removal at time 0"
    elif isinstance(b, DriverPeaks):
        if any(bad_id(k) or v < 0 for k, v in b.metrics.items()):
            return "a driver metric with an unusable name or a negative value"
    elif isinstance(b, AppStarted) and b.application_id and b.application_id != e.application_id:
        return f"application start of {b.application_id[:40]!r} sent as {e.application_id[:40]!r}"
    for name in _TIMES.get(type(b), ()):
        if not 0 <= getattr(b, name) <= MAX_TIME_MS:
            return f"{name} {getattr(b, name)} (not a time between 0 and the year 3000)"
    return _amount_refusal(b)


class BadLine(ValueError):
    """A line that cannot make an event the server accepts (an executor without an id, a removal
    without a time): raised before the parser's state changes, so the follower counts the line as
    corrupt, names its segment once, and reads on (``agent.follow.app.AppFollower._consume``)."""


@dataclass
class _OpenStage:
    token: Any  # read position of the stage's first line, for the low-water mark
    sums: list[int] = field(default_factory=lambda: [0] * len(METRIC_NAMES))
    durations: array = field(default_factory=lambda: array("q"))
    succeeded: int = 0
    failed: int = 0
    killed: int = 0
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)
    # From its StageSubmitted line (``_SUBMITTED_KEEP``), and the latest task finish time: what an
    # attempt emitted without its StageCompleted is described by (``_emit_unfinished``).
    submitted: dict[str, Any] = field(default_factory=dict)
    last_finish: int = 0


class AppParser:
    """Parses one application's lines in order; see the module docstring for the state rules."""

    def __init__(self, application_id: str = "", spark_context_id: str = "", event_log_path: str = "",
                 fallback_id: str = "", max_pending: int = 10_000) -> None:
        self.app_id = application_id
        self.fallback_id = fallback_id
        self.max_pending = max_pending
        self.info: dict[str, Any] = {"spark_context_id": spark_context_id, "event_log_path": event_log_path}
        self.conf: dict[str, str] = {}
        self.started_emitted = False
        self.ended = False
        # What was already emitted, so a replayed or late line is not emitted twice. Spark numbers
        # ids in creation order, so these are a few runs of ids each (see ``_stage_done``).
        self.stages0 = IdRanges()  # stage ids whose attempt 0 completed, or that are closed
        self.stages_closed = IdRanges()  # stage ids no attempt of which can run any more
        self.stages_retried: set[str] = set()  # "sid/att" (att >= 1) completed, of stages not closed
        # Open attempts of closed stages (see ``_stage``): a few keys at most, emptied as they complete.
        self.stages_reopened: set[str] = set()
        # The position of the last line fed: a line at or before it is a replay after a restart.
        self.fed_to: Any = None
        self.stages_done = 0  # completed stage attempts, for AppEnded
        self.done_jobs = IdRanges()
        self.exec_added = StrIdSet()
        self.exec_removed = StrIdSet()
        self.done_sql = IdRanges()
        # Cached RDDs (a storage level that keeps blocks) -> the completed stage that first listed
        # them, i.e. computed and stored their blocks; see ``_reads_cache``.
        self.cached_rdds: dict[int, int] = {}
        # The driver's running peak metrics, and the (heap, GC time, outside-heap memory) last sent.
        self.driver_max: dict[str, int] = {}
        self.driver_sent: tuple[int, int, int] = (0, 0, 0)
        self.open_jobs: dict[int, list[Any]] = {}
        self.open_sql: dict[int, list[Any]] = {}
        self.open_stages: dict[str, _OpenStage] = {}
        # Events parsed before the application id is known (Spark writes ExecutorAdded
        # before ApplicationStart); bounded, then the file-name id is used.
        self._pending: list[tuple[str, Any]] = []
        self._pending_token: Any = None
        # ``snapshot()`` as it was just before the first held event was made. The handlers record an
        # event as emitted when they make it, but a held event is not sent yet: a checkpoint taken
        # while events are held resumes at the first held line, so it must also record what was
        # emitted before that line, or the re-read lines are taken for sent ones and never sent.
        self._held_state: dict[str, Any] | None = None
        self._fresh = True  # the line being fed comes after every line fed before (see ``_stage``)
        self.events_refused = 0  # events ``refusal`` stopped (never sent; the first is logged)

    # -- state -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        if self._pending and self._held_state is not None:
            return copy.deepcopy(self._held_state)  # see ``_held_state``
        return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id, "info": self.info, "conf": self.conf,
            "started_emitted": self.started_emitted, "ended": self.ended,
            # New names (the old agents' done_stages, done_jobs… held every id): an older agent
            # reading this finds no such lists and at worst re-sends keys the server already has.
            "stages_done": {"att0": self.stages0.to_json(), "closed": self.stages_closed.to_json(),
                            "retried": sorted(self.stages_retried), "count": self.stages_done,
                            "reopened": sorted(self.stages_reopened)},
            "fed_to": list(self.fed_to) if isinstance(self.fed_to, tuple) else self.fed_to,
            "jobs_done": self.done_jobs.to_json(), "sql_done": self.done_sql.to_json(),
            "executors_added": self.exec_added.to_json(), "executors_removed": self.exec_removed.to_json(),
            "cached_rdds": {str(k): v for k, v in self.cached_rdds.items()},
            "driver_max": self.driver_max, "driver_sent": list(self.driver_sent),
            "open_jobs": {str(k): v for k, v in self.open_jobs.items()},
            "open_sql": {str(k): v for k, v in self.open_sql.items()},
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.app_id = s.get("app_id", "") or self.app_id
        self.info.update(s.get("info", {}))
        self.conf = dict(s.get("conf", {}))
        self.started_emitted = bool(s.get("started_emitted"))
        self.ended = bool(s.get("ended"))
        fed = s.get("fed_to")
        # JSON turns the position tuple into a list, which does not compare with the tuples fed.
        self.fed_to = tuple(fed) if isinstance(fed, list) else fed
        try:
            self._restore_done(s)
        except (TypeError, ValueError, AttributeError) as exc:
            # Only a damaged state.json gets here (it is written atomically). Forgetting what was
            # emitted costs re-sent keys (the server keeps one row per key), never lost data.
            log.warning("%s: the checkpoint's record of emitted stages/jobs/executors is unreadable (%s); "
                        "starting it afresh, so replayed lines may be sent again", self.app_id or "?", exc)
            self.stages0, self.stages_closed, self.stages_retried, self.stages_done = IdRanges(), IdRanges(), set(), 0
            self.stages_reopened = set()
            self.done_jobs, self.done_sql = IdRanges(), IdRanges()
            self.exec_added, self.exec_removed = StrIdSet(), StrIdSet()
        self.cached_rdds = {int(k): int(v) for k, v in s.get("cached_rdds", {}).items()}
        self.driver_max = {str(k): int(v) for k, v in s.get("driver_max", {}).items()}
        sent = [int(v) for v in s.get("driver_sent") or ()] + [0, 0, 0]
        self.driver_sent = (sent[0], sent[1], sent[2])
        self.open_jobs = {int(k): v for k, v in s.get("open_jobs", {}).items()}
        self.open_sql = {int(k): v for k, v in s.get("open_sql", {}).items()}

    def _restore_done(self, s: dict[str, Any]) -> None:
        """The emitted-ids record, from this agent's runs or from an older agent's full lists.

        An older agent's checkpoint (an upgrade on a running cluster) lists every completed stage
        key, job, SQL execution and executor; each is the same set, converted to runs.
        """
        if "stages_done" in s:
            d = s["stages_done"]
            self.stages0 = IdRanges.from_json(d.get("att0") or [])
            self.stages_closed = IdRanges.from_json(d.get("closed") or [])
            self.stages_retried = {str(k) for k in d.get("retried") or ()}
            self.stages_done = int(d.get("count") or 0)
            self.stages_reopened = {str(k) for k in d.get("reopened") or ()}
        else:
            old = [str(k) for k in s.get("done_stages") or ()]
            att0: list[int] = []
            self.stages_retried = set()
            for key in old:
                sid, _, att = key.partition("/")
                if int(att) == 0:
                    att0.append(int(sid))
                else:
                    self.stages_retried.add(f"{int(sid)}/{int(att)}")
            self.stages0, self.stages_closed, self.stages_done = IdRanges(att0), IdRanges(), len(old)
        self.done_jobs = (IdRanges.from_json(s["jobs_done"]) if "jobs_done" in s
                          else IdRanges(int(j) for j in s.get("done_jobs") or ()))
        self.done_sql = (IdRanges.from_json(s["sql_done"]) if "sql_done" in s
                         else IdRanges(int(x) for x in s.get("done_sql") or ()))
        self.exec_added = (StrIdSet.from_json(s["executors_added"]) if "executors_added" in s
                           else StrIdSet(str(e) for e in s.get("exec_added") or ()))
        self.exec_removed = (StrIdSet.from_json(s["executors_removed"]) if "executors_removed" in s
                             else StrIdSet(str(e) for e in s.get("exec_removed") or ()))

    def _stage_done(self, sid: int, att: int) -> bool:
        """Whether stage attempt ``sid/att`` was emitted already, or can never run (see ``_close_stages``).

        Attempts of a stage run one after the other (Spark resubmits a stage only after the
        previous attempt completed), so attempt 0's are nearly all the stage ids and make long runs;
        retries are kept by key until their stage is closed. This is exactly the old set of
        completed keys, plus the attempts of closed stages, which no line can start any more.
        """
        if att == 0:
            return sid in self.stages0
        return sid in self.stages_closed or f"{sid}/{att}" in self.stages_retried

    def _close_stages(self, sids: list[int]) -> None:
        """Close the stages of an ended job that no running job lists and no open attempt holds.

        Spark creates every stage of a job at its start (the JobStart's Stage IDs): it runs some,
        retries a few and skips those whose output already exists (a reused shuffle: an id and
        never a line). Once no running job lists a stage and no attempt of it is open, Spark cannot
        run it again (a later job makes a new stage with a new id), so calling all its attempts done
        changes no verdict; only a late TaskEnd of a finished attempt can still name it, and that
        was ignored before too. That relies on every JobStart being in the log: when Spark's
        listener queue dropped one (it does when full), a stage the lost job shares is closed by
        the other job's end while it can still run; ``_stage`` then reopens it for a new attempt. Without this each skipped stage would leave a gap in ``stages0`` and
        each retry a key in ``stages_retried``, growing with the application.
        """
        pending = [s for s in sids if s not in self.stages_closed]
        if not pending:
            return
        busy = {s for job in self.open_jobs.values() for s in job[1]}
        busy.update(int(k.partition("/")[0]) for k in self.open_stages)
        for s in pending:
            if s in busy:
                continue
            self.stages0.add(s)
            self.stages_closed.add(s)
            if self.stages_retried:
                prefix = f"{s}/"
                self.stages_retried -= {k for k in self.stages_retried if k.startswith(prefix)}

    def low_water(self) -> Any:
        """Position token of the oldest line whose result is not emitted yet, or None.

        That is the first line of the oldest open stage, or of the first event held back
        while the application id is unknown.
        """
        tokens = [st.token for st in self.open_stages.values()]
        if self._pending_token is not None:
            tokens.append(self._pending_token)
        return min(tokens, default=None)

    # -- parsing -----------------------------------------------------------------------------
    def feed(self, ev: dict[str, Any], token: Any) -> list[PlainEvent]:
        """One decoded line. ``token`` is the position of the line's start (comparable)."""
        out: list[tuple[str, Any]] = []
        fed = self.fed_to
        try:
            self._fresh = fed is None or token > fed
        except TypeError:  # positions of another shape (a damaged checkpoint): read as new
            self._fresh = True
        if self._fresh:
            self.fed_to = token
        name = ev.get("Event")
        handler = _HANDLERS.get(name) if isinstance(name, str) else None
        if handler is not None:
            self._before_holding()
            handler(self, ev, token, out)
            if out and not self.app_id and self._pending_token is None:
                self._pending_token = token
        return self._stamp(out)

    def _before_holding(self) -> None:
        """Keep the state as it is now if the next handler may make the first held event (no
        application id yet, nothing held). Only the few lines before Spark's first event with the
        id is unknown pay the copy (none at all when the id comes from the log's directory)."""
        if not self.app_id and not self._pending:
            self._held_state = copy.deepcopy(self._snapshot())

    def finish(self, *, open_stages: bool = True) -> list[PlainEvent]:
        """Emit what waits for the application id or the first job (file ended or app idle).

        ``open_stages``: also emit the stage attempts still open, flagged ``COMPLETION_NOT_SEEN``
        (nothing more of this log will be read, so their StageCompleted never comes). A reader that
        knows its copy was cut short, and may read a complete copy later, passes False: the server
        keeps the first event of a key, so a partial stage sent now would stand for good.
        """
        out: list[tuple[str, Any]] = []
        self._maybe_emit_start(out)
        if open_stages:
            self._emit_unfinished(None, 0, out)
        if not self.ended:
            # A log that ends without the application's end (its driver died, say): what the last
            # heartbeats added below the sending steps is sent now, not lost.
            self._send_driver_peaks(out, final=True)
        if not self.app_id:
            self.app_id = self.fallback_id
        return self._stamp(out)

    def flush_open(self) -> list[PlainEvent]:
        """The open stage attempts (flagged ``COMPLETION_NOT_SEEN``) and the driver's last peaks, for a
        log that stopped growing when the agent stops (``Agent._flush_stopped_logs``).

        Unlike ``finish`` the start is not sent: it waits for the first job's ids, which a live
        application (an agent stopped by hand) may still write, and the server keeps a key's first
        event. An application with an open stage has had a job, so its start went already.
        """
        out: list[tuple[str, Any]] = []
        self._before_holding()
        self._emit_unfinished(None, 0, out)
        if not self.ended:
            self._send_driver_peaks(out, final=True)
        return self._stamp(out)

    def _stamp(self, out: list[tuple[str, Any]]) -> list[PlainEvent]:
        if not self.app_id:
            self._pending.extend(out)
            if len(self._pending) <= self.max_pending:
                return []
            self.app_id = self.fallback_id
        if self._pending:
            out, self._pending = self._pending + out, []
        self._pending_token = None
        self._held_state = None
        events = []
        for k, b in out:
            if isinstance(b, AppStarted) and b.application_id != self.app_id:
                b.application_id = self.app_id  # made before the id was known: the id it is sent under
            e = PlainEvent(k, self.app_id, b)
            why = refusal(e)
            if why is None:
                events.append(e)
                continue
            # Sent, the server refused the whole batch and the agent parked it with its valid events.
            self.events_refused += 1
            if self.events_refused == 1:
                log.warning("%s: event %.60r not sent: the server would refuse it (%s); later ones like it "
                            "are dropped silently", self.app_id, k, why)
        return events

    def _maybe_emit_start(self, out: list[tuple[str, Any]]) -> None:
        if self.started_emitted or "spark_app_id" not in self.info:
            return
        i, c = self.info, self.conf
        out.append(("app-start", AppStarted(
            application_id=self.app_id or self.fallback_id, spark_app_id=i["spark_app_id"],
            attempt_id=i.get("attempt_id", ""), spark_context_id=i.get("spark_context_id", ""),
            app_name=i.get("app_name", ""), spark_version=i.get("spark_version", ""),
            start_time_ms=_time(i.get("start_time_ms", 0)), user=i.get("user", ""),
            cluster_id=c.get("spark.databricks.clusterUsageTags.clusterId", ""),
            cluster_name=c.get("spark.databricks.clusterUsageTags.clusterName", ""),
            job_id=i.get("job_id", ""), run_id=i.get("run_id", ""), conf=dict(c),
            event_log_path=i.get("event_log_path", ""),
        )))
        self.started_emitted = True

    def _stage(self, sid: int, att: int, token: Any, *, starts: bool = False) -> _OpenStage | None:
        """The open attempt ``sid/att``, opened by this line if it is not done; None = ignore the line.

        A stage closed by ``_close_stages`` can still run when Spark dropped the JobStart of a job
        that shares it (its queue was full): an attempt of it that starts (``starts``: its
        StageSubmitted, or its StageCompleted if that was dropped too) on a line not fed before
        is new, as Spark submits and completes each attempt once, so it is opened again and
        emitted once. A replayed line (at or before ``fed_to``) reopens only an attempt that was
        open at the checkpoint (``stages_reopened``); any other line of a closed stage is a late
        TaskEnd or a replay of what was emitted, and ignored.
        """
        key = f"{sid}/{att}"
        st = self.open_stages.get(key)
        if st is not None:
            return st
        if sid < 0:
            raise BadLine(f"negative Stage ID {sid}")
        if self._stage_done(sid, att):
            if not (starts and sid in self.stages_closed and (self._fresh or key in self.stages_reopened)):
                return None  # late TaskEnd of a finished stage, or a replayed line
            self.stages_reopened.add(key)
        st = self.open_stages[key] = _OpenStage(token)
        return st

    def _on_version(self, ev: dict[str, Any], token: Any, out: list) -> None:
        self.info.setdefault("spark_version", str(ev.get("Spark Version", "")))
        if ev.get("SparkContext Id") is not None:
            self.info.setdefault("spark_context_id", str(ev["SparkContext Id"]))

    def _on_env(self, ev: dict[str, Any], token: Any, out: list) -> None:
        props = ev.get("Spark Properties") or {}
        items = props.items() if isinstance(props, dict) else (p for p in props if len(p) == 2)
        for k, v in items:
            if isinstance(k, str) and _CONF_KEEP.match(k) and not _CONF_SECRET.search(k):
                self.conf[k] = str(v)

    def _on_app_start(self, ev: dict[str, Any], token: Any, out: list) -> None:
        spark_app_id = str(ev.get("App ID", ""))
        attempt = str(ev.get("App Attempt ID", "") or "")
        self.info.update(spark_app_id=spark_app_id, attempt_id=attempt, app_name=str(ev.get("App Name", "")),
                         start_time_ms=_time(ev.get("Timestamp")), user=str(ev.get("User", "")))
        if not self.app_id and spark_app_id:
            candidate = spark_app_id + (f"/{attempt}" if attempt else "")
            if bad_id(candidate):  # the server would refuse every event: the file name's id instead
                log.warning("application id %.80r from the event log is not usable (empty, too long or "
                            "holding a NUL); using %r", candidate, self.fallback_id)
            else:
                self.app_id = candidate

    def _on_app_end(self, ev: dict[str, Any], token: Any, out: list) -> None:
        if self.ended:
            return
        self._maybe_emit_start(out)
        self.ended = True
        self._send_driver_peaks(out, final=True)
        out.append(("app-end", AppEnded(_time(ev.get("Timestamp")), self.stages_done,
                                        len(self.done_jobs), len(self.exec_added))))

    def _on_exec_added(self, ev: dict[str, Any], token: Any, out: list) -> None:
        eid = str(ev.get("Executor ID", ""))
        if bad_id(eid):
            raise BadLine(f"executor added without a usable Executor ID ({eid[:40]!r})")
        if eid in self.exec_added:
            return
        self.exec_added.add(eid)
        info = ev.get("Executor Info") or {}
        out.append((f"executor-added/{eid}", ExecutorAdded(
            eid, str(info.get("Host", "")), max(0, _int(info.get("Total Cores"))), _time(ev.get("Timestamp")),
            _int(info.get("Resource Profile Id")))))

    def _on_exec_removed(self, ev: dict[str, Any], token: Any, out: list) -> None:
        eid = str(ev.get("Executor ID", ""))
        if bad_id(eid):
            raise BadLine(f"executor removed without a usable Executor ID ({eid[:40]!r})")
        when = _int(ev.get("Timestamp"))
        if not 0 < when <= MAX_TIME_MS:
            # Not repaired to 0 like other times: a removal at 0 reads as the executor's addition
            # (the server refuses it), and no other time of the line says when it went.
            raise BadLine(f"executor {eid[:40]!r} removed without a usable Timestamp ({ev.get('Timestamp')!r:.40})")
        if eid in self.exec_removed:
            return
        self.exec_removed.add(eid)
        text = str(ev.get("Removed Reason") or "")
        out.append((f"executor-removed/{eid}", ExecutorRemoved(eid, when, classify_removal(text), text)))

    def _on_stage_submitted(self, ev: dict[str, Any], token: Any, out: list) -> None:
        si = ev.get("Stage Info") or {}
        st = self._stage(_int(si.get("Stage ID")), _int(si.get("Stage Attempt ID")), token, starts=True)
        if st is not None and not st.submitted and isinstance(si, dict):
            st.submitted = {k: si[k] for k in _SUBMITTED_KEEP if k in si}

    def _on_task_end(self, ev: dict[str, Any], token: Any, out: list) -> None:
        st = self._stage(_int(ev.get("Stage ID")), _int(ev.get("Stage Attempt ID")), token)
        if st is None:
            return
        reason = (ev.get("Task End Reason") or {}).get("Reason")
        if reason == "Success":
            st.succeeded += 1
        elif reason == "TaskKilled":
            st.killed += 1
        else:
            st.failed += 1
        ti = ev.get("Task Info") or {}
        launch, finish = _int(ti.get("Launch Time")), _int(ti.get("Finish Time"))
        if finish >= launch > 0:
            st.durations.append(finish - launch)
            st.last_finish = max(st.last_finish, finish)
        tm = ev.get("Task Metrics")
        if isinstance(tm, dict):
            sums = st.sums
            for i, path in enumerate(TASK_PATHS):
                v = tm.get(path[0])
                if len(path) == 2:
                    v = v.get(path[1]) if isinstance(v, dict) else 0
                n = v if type(v) is int else _int(v)
                if i == PEAK_INDEX:
                    sums[i] = max(sums[i], n)
                elif n > 0:  # a value below 0 is no amount (the server refuses a stage total below 0)
                    sums[i] += n

    def _on_stage_peaks(self, ev: dict[str, Any], token: Any, out: list) -> None:
        eid = str(ev.get("Executor ID", ""))
        if bad_id(eid):
            raise BadLine(f"stage executor metrics without a usable Executor ID ({eid[:40]!r})")
        st = self._stage(_int(ev.get("Stage ID")), _int(ev.get("Stage Attempt ID")), token)
        metrics = ev.get("Executor Metrics")
        if st is not None and isinstance(metrics, dict):
            st.peaks[eid] = {str(k): _int(v) for k, v in metrics.items()}

    def _on_metrics_update(self, ev: dict[str, Any], token: Any, out: list) -> None:
        """A driver heartbeat (Spark logs only the driver's): fold it into the running peaks."""
        if str(ev.get("Executor ID", "")) != DRIVER_ID:
            return
        peaks = self.driver_max
        for update in ev.get("Executor Metrics Updated") or ():
            metrics = update.get("Executor Metrics") if isinstance(update, dict) else None
            for k, v in metrics.items() if isinstance(metrics, dict) else ():
                n = _int(v)
                if n > peaks.get(k, 0) and not bad_id(str(k)):  # a damaged name: the server refuses it
                    peaks[str(k)] = n
        self._send_driver_peaks(out, final=False)

    def _send_driver_peaks(self, out: list, *, final: bool) -> None:
        now = driver_key(self.driver_max)
        heap, gc, outside = now
        sent_heap, sent_gc, sent_outside = self.driver_sent
        if not self.driver_max or now == self.driver_sent:
            return
        grew = (heap > sent_heap * (1 + _HEAP_STEP) or outside > sent_outside * (1 + _HEAP_STEP)
                or gc >= max(sent_gc * (1 + _GC_SHARE_STEP), sent_gc + _GC_STEP_MS))
        if final or grew:
            self.driver_sent = now
            # Keyed by content: a re-read after a restart sends the same key, never a second row.
            out.append((f"driver/{heap}/{gc}/{outside}", DriverPeaks(dict(self.driver_max))))

    def _on_stage_completed(self, ev: dict[str, Any], token: Any, out: list) -> None:
        si = ev.get("Stage Info") or {}
        sid, att = _int(si.get("Stage ID")), _int(si.get("Stage Attempt ID"))
        st = self._stage(sid, att, token, starts=True)
        if st is None:
            return
        sums = st.sums
        if not (st.succeeded or st.failed or st.killed):
            for acc in si.get("Accumulables") or ():  # no TaskEnd lines seen: fall back
                idx = ACCUM_NAMES.get(acc.get("Name")) if isinstance(acc, dict) else None
                if idx is not None:
                    sums[idx] = max(0, _int(acc.get("Value")))
        self._emit_stage(sid, att, st, si, _int(si.get("Completion Time")), str(si.get("Failure Reason") or ""),
                         out)

    def _emit_stage(self, sid: int, att: int, st: _OpenStage, si: dict[str, Any], completion_ms: int,
                    failure: str, out: list) -> None:
        """Emit open attempt ``sid/att`` described by Stage Info ``si``, and record it as done."""
        key = f"{sid}/{att}"
        del self.open_stages[key]
        if key in self.stages_reopened:
            self.stages_reopened.discard(key)  # its stage is closed, so every attempt reads as done
        elif att == 0:
            self.stages0.add(sid)
        else:
            self.stages_retried.add(key)
        self.stages_done += 1
        parents = si.get("Parent IDs") or []
        submitted, completed = _span(_time(si.get("Submission Time")), _time(completion_ms))
        out.append((f"stage/{key}", StageCompleted(
            sid, att, str(si.get("Stage Name", "")), max(0, _int(si.get("Number of Tasks"))),
            [_int(p) for p in parents] if isinstance(parents, list) else [], submitted,
            completed, failure, st.sums, distribution(st.durations),
            st.succeeded, st.failed, st.killed, st.peaks, self._reads_cache(sid, si.get("RDD Info")))))

    def _emit_unfinished(self, sids: list[int] | None, end_ms: int, out: list) -> None:
        """Emit the open attempts of stages ``sids`` (None: all) that no running job lists.

        Called at a job's end (``end_ms``: its completion time) and at the log's end. Spark completes
        each stage of a job before the job ends, and cancels the stages only a failed job needed
        (with their StageCompleted) before its JobEnd: an attempt still open then lost its
        StageCompleted line (a full eventLog queue drops events; a driver that dies mid-stage never
        writes it). Left open, it was never sent and pinned the checkpoint at its first line, so
        every restart re-read the log from there. A stage another running job lists may still run
        (a failed job leaves the stages other jobs share running), so it waits for that job's end.
        It is emitted from its TaskEnd totals, its StageSubmitted's description, completed at its
        last task's finish (else ``end_ms``, else 0: unknown), flagged ``COMPLETION_NOT_SEEN``.
        """
        if not self.open_stages:
            return
        wanted = None if sids is None else set(sids)
        busy = {s for job in self.open_jobs.values() for s in job[1]} if sids is not None else set()
        for key, st in list(self.open_stages.items()):
            sid_text, _, att_text = key.partition("/")
            sid, att = int(sid_text), int(att_text)
            if (wanted is not None and sid not in wanted) or sid in busy:
                continue
            si = dict(st.submitted)
            if not si.get("Number of Tasks"):
                si["Number of Tasks"] = st.succeeded + st.failed + st.killed
            self._emit_stage(sid, att, st, si, st.last_finish or end_ms, COMPLETION_NOT_SEEN, out)

    def _reads_cache(self, sid: int, rdds: Any) -> bool:
        """Whether the stage read (some of) its input from the blocks of an RDD cached by an earlier stage.

        Spark counts a cached block read, from memory or disk, as input bytes, like a storage read,
        and its event log leaves the RDDs' cached sizes at 0; what tells them apart is the RDD Info:
        the stage that computes a cached RDD lists it with a storage level that keeps blocks, and
        every later stage that reads those blocks lists the same RDD ID again. An earlier attempt of
        the same stage does not count (a retry recomputes what that attempt lost).
        """
        hit = False
        for rdd in rdds if isinstance(rdds, list) else ():
            if not isinstance(rdd, dict) or not cached_level(rdd.get("Storage Level")):
                continue
            rid = _int(rdd.get("RDD ID"))
            first = self.cached_rdds.setdefault(rid, sid)
            hit = hit or first != sid
        return hit

    def _on_job_start(self, ev: dict[str, Any], token: Any, out: list) -> None:
        jid = _int(ev.get("Job ID"))
        props = ev.get("Properties") or {}
        if isinstance(props, dict):
            for src, dst in (("spark.databricks.job.id", "job_id"), ("spark.databricks.job.runId", "run_id")):
                if props.get(src) and not self.info.get(dst):
                    self.info[dst] = str(props[src])
        else:
            props = {}
        if jid not in self.done_jobs:
            self.open_jobs[jid] = [_int(ev.get("Submission Time")),
                                   [_int(s) for s in ev.get("Stage IDs") or []],
                                   str(props.get("spark.sql.execution.id", "") or "")]
        self._maybe_emit_start(out)

    def _on_job_end(self, ev: dict[str, Any], token: Any, out: list) -> None:
        jid = _int(ev.get("Job ID"))
        if jid in self.done_jobs:
            return
        # Read before any state changes: a "Job Result" of another shape (a bare string) raised after
        # the job was marked done, so the job was never sent, not even from a later valid line.
        raw = ev.get("Job Result")
        result = raw.get("Result") if isinstance(raw, dict) else raw
        self.done_jobs.add(jid)
        sub, stages, sql = self.open_jobs.pop(jid, [0, [], ""])
        self._emit_unfinished(stages, _int(ev.get("Completion Time")), out)
        self._close_stages(stages)
        out.append((f"job/{jid}", JobCompleted(jid, *_span(_time(sub), _time(ev.get("Completion Time"))), stages,
                                                result == "JobSucceeded", sql)))

    def _on_sql_start(self, ev: dict[str, Any], token: Any, out: list) -> None:
        xid = _int(ev.get("executionId"))
        if xid not in self.done_sql:
            self.open_sql[xid] = [str(ev.get("description", "")), _int(ev.get("time"))]

    def _on_sql_end(self, ev: dict[str, Any], token: Any, out: list) -> None:
        xid = _int(ev.get("executionId"))
        if xid in self.done_sql:
            return
        self.done_sql.add(xid)
        desc, start = self.open_sql.pop(xid, ["", 0])
        out.append((f"sql/{xid}", SqlExecution(xid, desc, *_span(_time(start), _time(ev.get("time"))),
                                               str(ev.get("errorMessage") or ""))))


_HANDLERS = {
    "SparkListenerLogStart": AppParser._on_version,
    "DBCEventLoggingListenerMetadata": AppParser._on_version,
    "SparkListenerEnvironmentUpdate": AppParser._on_env,
    "SparkListenerApplicationStart": AppParser._on_app_start,
    "SparkListenerApplicationEnd": AppParser._on_app_end,
    "SparkListenerExecutorAdded": AppParser._on_exec_added,
    "SparkListenerExecutorRemoved": AppParser._on_exec_removed,
    "SparkListenerStageSubmitted": AppParser._on_stage_submitted,
    "SparkListenerTaskEnd": AppParser._on_task_end,
    "SparkListenerStageExecutorMetrics": AppParser._on_stage_peaks,
    "SparkListenerExecutorMetricsUpdate": AppParser._on_metrics_update,
    "SparkListenerStageCompleted": AppParser._on_stage_completed,
    "SparkListenerJobStart": AppParser._on_job_start,
    "SparkListenerJobEnd": AppParser._on_job_end,
    SQL_START: AppParser._on_sql_start,
    SQL_END: AppParser._on_sql_end,
}
