"""The agent process: one follower loop (this thread) and one sender thread.

Follower loop, every poll interval: discover applications, read new bytes of
each, parse, encode, and when a batch is due put it in the durable spool and
*then* checkpoint the read positions (never the other way round). The sender
drains the spool. Nothing here raises into the cluster: errors are logged and
the loop goes on.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from agent import encode
from agent.build import BUILD
from agent.checkpoint import CheckpointStore
from agent.clock import Clock, SystemClock
from agent.config import AgentConfig, agent_id, describe_proxy, read_tls_ca
from agent.driver_env import spark_ui_url
from agent.durable import try_lock
from agent.events import PlainEvent
from agent.follow.app import AppFollower, ReadCounters
from agent.follow.contexts import ContextWatch
from agent.follow.discover import AppSource, SegmentLister, discover
from agent.reserve import DiskReserve
from agent.rest import RestPoller
from agent.send import Sender, SenderSettings, caller_metadata
from agent.spool import Spool
from protos.trimtab.v1 import ingest_pb2

log = logging.getLogger("trimtab.agent")

VERSION = BUILD

# The shortest wait between two passes while a log is behind: the loop always yields (the sender
# thread, the driver), even when a pass takes no measurable time.
CATCH_UP_MIN_PAUSE_S = 0.005


class Agent:
    def __init__(self, cfg: AgentConfig, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        # The lock comes before anything reads or writes the state directory: the spool numbers
        # its batches from a directory scan, so a second agent (or `replay-parked`) working on
        # the same files would overwrite batches and delete ones the other still sends.
        # LockHeld propagates: the caller refuses to start.
        self._lock_fd = self._take_lock()
        try:
            self._setup(cfg)
        except BaseException:
            self.close()
            raise

    def _take_lock(self) -> int | None:
        """The state directory's lock fd, or None when this file system cannot lock (never fatal)."""
        path = self.cfg.state_dir / "agent.lock"
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            return try_lock(path)
        except OSError as exc:
            # ENOLCK/EOPNOTSUPP (some FUSE/NFS mounts): an agent must never fail to start over an
            # odd file system, so it runs unlocked and says so once.
            log.warning("locking is not available for %s (%s): running without the lock; make sure only "
                        "one agent uses %s", path, exc, self.cfg.state_dir)
            return None

    def close(self) -> None:
        """Release the state directory's lock (run() does this when it returns)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def _setup(self, cfg: AgentConfig) -> None:
        self.spool = Spool(cfg.state_dir / "spool", cfg.spool_max_bytes,
                           DiskReserve(cfg.disk_reserve_bytes, cfg.disk_reserve_percent), self.clock)
        self.agent_id = agent_id(cfg.state_dir)
        self.store = CheckpointStore(cfg.state_dir)
        state = self.store.load()
        self.saved: dict[str, Any] = state["apps"]
        self.read = ReadCounters(**{k: int(v) for k, v in state["read"].items()
                                    if k in ReadCounters.__dataclass_fields__})
        self.followers: dict[str, AppFollower] = {}
        self.lister = SegmentLister()
        self.pending: list[ingest_pb2.Event] = []
        self.pending_since: float | None = None
        self.spark_dropped: dict[str, int] = {}
        self.rest = RestPoller(cfg.spark_ui) if cfg.spark_ui else None
        self._next_rest = 0.0
        self._last_checkpoint = self.clock.monotonic()
        self._dirty = False
        self._dir_error: str | None = None
        # Writing the spool or the checkpoint failed (a full disk…) and has not worked since:
        # (first failure time, failed attempts, when to try again). Reading pauses meanwhile.
        self._write_failing: tuple[float, int, float] | None = None
        # The follower loop's unexpected errors (a bug): (count, when the last traceback was logged).
        # A bug that fails every pass logged a traceback per poll (137 in 3 s); now one every
        # tick_error_every_s, the rest at DEBUG, as the sender does.
        self.tick_errors = 0
        self._tick_error_logged_at: float | None = None
        self._tick_failing = False
        self.tick_error_every_s = 300.0
        self._stop = threading.Event()
        self._moved = False
        self._moved_keys: set[str] = set()  # applications the current (or last) pass read something of
        # What the agent saw of each Databricks context not finished, by pass number (``_superseded``).
        self.contexts = ContextWatch()
        # Applications the stop's drain did not read to their end: app key -> (application id, file
        # bytes unread). Said as the agent stops (``_warn_unread``, ``_log_stopped``) and counted in the
        # counters the batches sent after it carry (``_prepare``). Replaced whole, never changed in
        # place: the sender's thread reads it while the drain sets it.
        self.unread_at_stop: dict[str, tuple[str, int]] = {}
        self.ticks = 0
        self._ticked = threading.Condition()
        self.sender = Sender(self.spool, SenderSettings(cfg.server, cfg.token, cfg.tls, cfg.rpc_timeout_s,
                                                        cfg.backoff_base_s, cfg.backoff_max_s,
                                                        root_certificates=read_tls_ca(cfg) if cfg.tls else None,
                                                        use_proxy=cfg.use_proxy,
                                                        caller=caller_metadata(cfg.cluster_id, cfg.cluster_name)),
                             self.clock, self._prepare)

    # -- lifecycle ---------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> int:
        log.info("trimtab-agent %s following %s, sending to %s (config %s)", VERSION, self.cfg.eventlog_dir,
                 self.cfg.server, self.cfg.masked())
        log.info("%s", describe_proxy(self.cfg))
        parked = self.spool.parked()
        if parked:
            # Parked by an older agent or for a malformed batch; which one cannot be told from the
            # files, so they are left alone and a person decides.
            log.warning("%d parked batch(es) in %s are not sent; `trimtab-agent replay-parked --state-dir %s` "
                        "moves them back into the spool", parked, self.spool.parked_dir, self.cfg.state_dir)
        self.sender.start()
        stop_by: float | None = None
        try:
            while not self._stop.is_set():
                started = self.clock.monotonic()
                self._safe_tick(final=False)
                self.clock.wait(self._stop, self._pause_after(started))
            stop_by = self.clock.monotonic() + self.cfg.shutdown_flush_s
            self._drain()
        finally:
            # Reading and sending share one shutdown bound, so the agent is done
            # before the node is (Databricks, like the sandbox, kills after a grace).
            left = self.cfg.shutdown_flush_s if stop_by is None else stop_by - self.clock.monotonic()
            self.sender.stop(max(1.0, left))
            for f in self.followers.values():
                f.close()
            self.close()
        self.spool.report_drops()  # drops since the last (rate-limited) line: their count is not left out
        self._log_stopped()
        return 0

    def _pause_after(self, started: float) -> float:
        """The wait before the next pass: the poll interval, or as long as this pass took while a log is
        behind (a pass read a full read budget of it without reaching its end).

        Waiting the poll interval after every pass capped reading at one read budget per interval
        (8 MiB per 0.5 s): a 948 MB backlog took 93.5 s for 7 s of CPU. Not waiting at all would
        take a whole core from the driver while catching up; waiting as long as the pass took
        keeps the agent at about half a core at most (the pass is the CPU, the wait leaves as much
        to the others), never less than ``CATCH_UP_MIN_PAUSE_S`` and never more than the interval.
        """
        if not self._behind():
            return self.cfg.poll_interval_s
        took = self.clock.monotonic() - started
        return min(self.cfg.poll_interval_s, max(CATCH_UP_MIN_PAUSE_S, took))

    def _behind(self) -> bool:
        """Whether the last pass left a log it read from short of its end (and reading is not paused)."""
        return not self._held_back() and any(not f.at_end for k, f in self.followers.items()
                                             if k in self._moved_keys)

    def _log_stopped(self) -> None:
        """The last line: a WARNING when batches were not delivered.

        The spool is on the driver's local disk. An agent started again on this node (the
        supervisor, a person) sends them; but a job cluster ends with its run, its disk with it, and
        the server never learns of them (the counters travel only with delivered batches). The line
        used to be an INFO saying "left in the spool", in a log deleted with the node.
        """
        batches, parked = self.spool.pending()[0], self.spool.parked()
        unread = self.unread_at_stop
        # Applications not read to their end (each named in its own WARNING just before).
        behind = (f"; {len(unread)} application(s) not read to the end of their event log "
                  f"({sum(n for _, n in unread.values())} file bytes unread, named above)") if unread else ""
        refused = self.sender.events_refused_by_server
        if refused:
            behind += (f"; the server refused {refused} event(s) of application(s) another workspace's agent "
                       f"token sent first (named above)")
        if not batches and not unread:
            log.info("trimtab-agent stopped; %d batch(es) left in the spool, %d parked in %s%s",
                     batches, parked, self.spool.parked_dir, behind)
            return
        if not batches:
            log.warning("trimtab-agent stopped%s; %d batch(es) left in the spool, %d parked in %s; `trimtab "
                        "project backfill` can recover the rest from the delivered event log (docs/agent.md)",
                        behind, batches, parked, self.spool.parked_dir)
            return
        log.warning("trimtab-agent stopped with %d batch(es) (%d events) not delivered to %s (%d parked in %s)%s: "
                    "they stay in %s for an agent started again on this node, and are lost if the node ends "
                    "now, as a job cluster's does with its run; `trimtab project backfill` can recover the run "
                    "from its delivered event log (docs/agent.md)", batches, self.spool.pending_events(),
                    self.cfg.server, parked, self.spool.parked_dir, behind, self.spool.dir)

    def _drain(self) -> None:
        """Read what is left before stopping, within half the shutdown bound (the sender gets the rest).

        A cluster is often terminated right after its application ends, so the tail of the log
        (often the whole log of a short run) is read now rather than one read budget at a time.
        The driver is signalled with the agent and its shutdown hook writes the stage's end, the
        job's end and ApplicationEnd a few hundred ms later: the drain reads on, a poll interval
        between passes, until the logs have been quiet for ``quiet_s`` (1 s, at most a quarter of
        the shutdown bound) or its deadline. Stopping after one pass with nothing new (within
        milliseconds) sent that stage as not completed, for good (the server keeps a key's first
        event), and lost the job's and the application's end.
        """
        start = self.clock.monotonic()
        deadline = start + self.cfg.shutdown_flush_s / 2
        quiet_s = min(1.0, self.cfg.shutdown_flush_s / 4)
        pause = threading.Event()  # never set: _stop is, and waiting on it would not wait
        moved_at: dict[str, float] = {}
        last_move = start  # the quiet period counts from the signal, when the driver got it too
        while True:
            self._moved = False
            self._safe_tick(final=True)
            now = self.clock.monotonic()
            for key in self._moved_keys:
                moved_at[key] = now
            if self._moved:
                last_move = now
            if now >= deadline or now - last_move >= quiet_s:
                break
            if not self._behind():  # a backlog is read pass after pass; an idle log is looked at each poll interval
                self.clock.wait(pause, min(self.cfg.poll_interval_s, deadline - now))
        now = self.clock.monotonic()
        recent = {key for key, t in moved_at.items() if now - t < quiet_s}
        try:
            self._flush_stopped_logs(recent | self._moved_keys)
        except Exception:
            self._tick_failed()
        try:
            self._warn_unread()
            self._report_unread()
        except Exception:
            self._tick_failed()

    def _warn_unread(self) -> None:
        """A WARNING for each application the drain left behind: what was not read is never sent.

        A backlog at SIGTERM (a big log, an agent started late) is read for half the stop bound
        only; the rest stays in the event log, and on a job cluster the node ends with it. The stop
        line used to be the INFO "0 batch(es) left in the spool", as if all was delivered.
        """
        unread: dict[str, tuple[str, int]] = {}
        for key, f in self.followers.items():
            if f.finished or f.at_end:
                continue
            left = f.unread_bytes()
            if left <= 0:
                continue
            app = f.parser.app_id or f.src.application_id or key
            unread[key] = (app, left)
            cluster = f" on cluster {self.cfg.cluster_id}" if self.cfg.cluster_id else ""
            log.warning("%s (%s%s): stopping before its event log was read to its end: %d bytes of its log "
                        "files (file bytes on disk, compressed where the log is) were not read and are not "
                        "sent (the stop reads for half of TRIMTAB_AGENT_SHUTDOWN_FLUSH_S, %g s). An agent "
                        "started again on this node reads on from its saved position; if the node ends now, as "
                        "a job cluster's does with its run, the server has this application only in part: "
                        "`trimtab project backfill <project> --eventlogs <the cluster's log destination>` reads "
                        "the rest from its delivered event log (docs/agent.md)", app, key, cluster, left,
                        self.cfg.shutdown_flush_s)
        self.unread_at_stop = unread

    def _report_unread(self) -> None:
        """Spool one batch with no events to carry the unread bytes to the server (`_prepare` fills
        the counters in at each send), which the WARNING alone never reached: it is in agent.log, on
        the node's disk. The batches already spooled may be none, or one already on its way with the
        counters of before; this one is sent after them, and the server keeps an agent's latest."""
        if not self.unread_at_stop:
            return
        try:
            self.spool.put(encode.make_batch(uuid.uuid4().hex, []).SerializeToString(), 0)
        except OSError as exc:  # a full disk: the WARNINGs above still say it, on the node
            log.warning("cannot spool the count of unread bytes for the server (%s): only this log says it",
                        exc.strerror or exc)

    def _flush_stopped_logs(self, moved: set[str] | None = None) -> None:
        """Send what only a log's end sends, for each application whose log stopped growing.

        A Databricks log is never marked complete, so an application whose driver died mid-stage
        (no StageCompleted, JobEnd or ApplicationEnd will come) kept its open stages until the
        agent stopped, and lost them: the stop at cluster termination is the last chance. A log
        counts as stopped when the drain's last pass read it to its end and it was not in
        ``moved`` (read from during the drain's quiet period; default: the last pass).
        """
        if self._held_back():
            return  # the spool cannot take more, and what was not read yet may still complete a stage
        moved = self._moved_keys if moved is None else moved
        flushed = 0
        for key, f in self.followers.items():
            if f.finished or not f.at_end or key in moved:
                continue
            events = f.flush_at_stop()
            if events:
                flushed += 1
                self._add(events)
                self._dirty = True
        if flushed:
            log.info("spooled what %d application(s) whose log stopped growing still held (open stages go "
                     "flagged as not completed)", flushed)
            self._persist(True, spool=True)

    def _safe_tick(self, final: bool) -> None:
        try:
            self.tick(final)
        except Exception:
            self._tick_failed()
        else:
            if self._tick_failing:
                self._tick_failing = False
                log.info("follower loop works again (%d unexpected error(s) so far)", self.tick_errors)
        with self._ticked:
            self.ticks += 1
            self._ticked.notify_all()

    def _tick_failed(self) -> None:
        """Log an unexpected error of one pass: its traceback at most every ``tick_error_every_s``."""
        self.tick_errors += 1
        now = self.clock.monotonic()
        last = self._tick_error_logged_at
        if last is None or now - last >= self.tick_error_every_s:
            self._tick_error_logged_at = now
            self._tick_failing = True  # "works again" follows only a logged traceback: as rare as they are
            log.exception("follower loop error (%d so far; will retry every poll, this traceback is repeated "
                          "at most every %.0f s)", self.tick_errors, self.tick_error_every_s)
        else:
            log.debug("follower loop error again (%d so far)", self.tick_errors, exc_info=True)

    def wait_ticks(self, more: int, timeout: float) -> bool:
        """Block until ``more`` further passes of the follower loop have run (for tests and tools)."""
        with self._ticked:
            target = self.ticks + more
            return self._ticked.wait_for(lambda: self.ticks >= target, timeout)

    # -- one pass --------------------------------------------------------------------------------
    def tick(self, final: bool = False) -> None:
        force = final
        self._moved_keys.clear()
        for key, follower in list(self._active().items()):
            if self._held_back():
                break  # the spool cannot take what is read: leave the rest in the event log
            before = (follower.pos.order, follower.pos.out) if follower.pos else None
            events = follower.poll(self.cfg.read_budget_bytes)
            after = (follower.pos.order, follower.pos.out) if follower.pos else None
            # Checkpoint only when something moved: an idle agent does not rewrite its state.
            self._dirty = self._dirty or before != after or follower.finished
            self._moved = self._moved or before != after
            if before != after or events:
                self._moved_keys.add(key)
            self._add(events)
            if follower.finished:
                force = True
            if len(self.pending) >= self.cfg.batch_max_events:
                self._persist(final, spool=True)  # bounds memory while catching up on a backlog
        if not self._held_back():
            self._poll_rest()
        now = self.clock.monotonic()
        if self.pending and (force or len(self.pending) >= self.cfg.batch_max_events
                             or now - (self.pending_since or now) >= self.cfg.batch_max_age_s):
            self._persist(final, spool=True)
        elif not self.pending and self._dirty and (force or now - self._last_checkpoint >= self.cfg.checkpoint_interval_s):
            self._persist(final, spool=False)

    def _held_back(self) -> bool:
        """Whether reading pauses: the last write failed and a full batch already waits in memory.

        Without this a full disk made the agent read one more read budget per pass into memory
        that it could not spool (about 5x the log's bytes). The log stays on disk and the saved
        read positions have not moved past what is held here, so nothing is lost by waiting; a
        full batch plus one read budget is the most ever held.
        """
        return self._write_failing is not None and len(self.pending) >= self.cfg.batch_max_events

    def _active(self) -> dict[str, AppFollower]:
        try:
            sources = discover(self.cfg.eventlog_dir)
            if self._dir_error:
                log.info("event-log directory %s readable again", self.cfg.eventlog_dir)
            self._dir_error = None
        except OSError as exc:
            if self._dir_error != str(exc):
                log.warning("cannot list event-log directory %s: %s", self.cfg.eventlog_dir, exc)
                self._dir_error = str(exc)
            sources = []
        superseded = self._superseded(sources)
        for src in sources:
            if src.app_key in self.followers or self.saved.get(src.app_key, {}).get("finished"):
                continue
            saved = self.saved.get(src.app_key)
            try:
                follower = AppFollower(src, self.lister, self.read, self.cfg.max_line_bytes, saved)
            except Exception as exc:
                if saved is None:
                    raise
                # A saved state this agent cannot read (damaged, or from an incompatible version)
                # raised here at every pass, so the application was never read again: it is read
                # from its start instead (its keys make what was already sent harmless).
                log.warning("%s: saved read position unusable (%s: %s); reading the application from its "
                            "start", src.app_key, type(exc).__name__, exc)
                self.saved.pop(src.app_key, None)
                follower = AppFollower(src, self.lister, self.read, self.cfg.max_line_bytes, None)
            self.followers[src.app_key] = follower
        for key, f in self.followers.items():
            if f.src.layout != "databricks" or f.finished:
                continue
            by = superseded.get(key)
            if by is not None and not f.superseded:
                log.info("%s: context %s grew after this one last did, so its driver has ended; finishing it once "
                         "read to its end (stages still open are sent flagged as not completed)", key, by)
            elif by is None and f.superseded:
                log.info("%s: grew again, so its driver is live after all; not finishing it", key)
            f.superseded = by is not None
        # Followers whose application vanished stay here: their next poll notices and finishes them.
        return self.followers

    def _superseded(self, sources: list[AppSource]) -> dict[str, str]:
        """Databricks contexts whose driver a newer context replaced (`agent.follow.contexts`)."""
        done = (key for key, saved in self.saved.items() if saved.get("finished"))

        def live(key: str) -> bool:
            f = self.followers.get(key)
            return f is None or not (f.finished or f.parser.ended)

        return self.contexts.superseded(sources, done, live)

    def _add(self, events: list[PlainEvent]) -> None:
        if not events:
            return
        if self.pending_since is None:
            self.pending_since = self.clock.monotonic()
        self.pending.extend(encode.encode_event(e) for e in events)

    def _poll_rest(self) -> None:
        if self.clock.monotonic() < self._next_rest:
            return
        self._next_rest = self.clock.monotonic() + self.cfg.rest_interval_s
        if self.rest is None and self.cfg.driver_env_file:
            url = spark_ui_url(self.cfg.driver_env_file, os.environ.get("DB_DRIVER_IP", ""))
            if url:
                log.info("Spark UI found at %s (from %s)", url, self.cfg.driver_env_file)
                self.rest = RestPoller(url)
        if self.rest is None:
            return
        by_spark_id = {f.parser.info.get("spark_app_id"): f.parser.app_id for f in self.followers.values()
                       if not f.finished}
        events, dropped = self.rest.poll(self.clock.time_ms(), by_spark_id.get)
        self._add(events)
        self.spark_dropped.update(dropped)

    # -- durability ------------------------------------------------------------------------------
    def _persist(self, final: bool, spool: bool) -> None:
        """Spool what is pending (when ``spool``), then checkpoint; a failure to write is logged
        once per streak and retried with backoff, never raised (it would log a traceback a pass)."""
        failing = self._write_failing
        now = self.clock.monotonic()
        if failing is not None and now < failing[2] and not final:
            return
        where = self.spool.dir
        try:
            if spool:
                self._flush()
            where = self.store.path
            self._checkpoint()
        except OSError as exc:
            self._write_failed(exc, where)
            return
        if failing is not None:
            log.info("writing to %s works again after %d failed attempt(s) over %.1f s; reading resumes",
                     self.cfg.state_dir, failing[1], now - failing[0])
            self._write_failing = None

    def _write_failed(self, exc: OSError, where: Path) -> None:
        now = self.clock.monotonic()
        first, attempts, _ = self._write_failing or (now, 0, now)
        attempts += 1
        # The sender's backoff settings: a disk that fills is as slow to clear as a server to return.
        delay = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2 ** min(attempts - 1, 30))
        self._write_failing = (first, attempts, now + delay)
        if attempts > 1:
            return
        try:
            free = f"{shutil.disk_usage(self.cfg.state_dir).free} bytes free"
        except OSError:
            free = "free space unknown"
        log.warning("cannot write %s (%s; %s there): retried every %g s at most, and reading pauses once "
                    "%d events wait in memory (%d now); nothing is lost, the event log is read on from "
                    "where it paused", exc.filename or where, exc.strerror or exc, free, self.cfg.backoff_max_s,
                    self.cfg.batch_max_events, len(self.pending))

    def _flush(self) -> None:
        """Spool every pending event (``_persist`` checkpoints after: positions never run ahead of the spool).

        Each group leaves ``pending`` once it is spooled, so a flush that fails part-way (a full
        disk) spools only the rest when retried, not the groups already written under new batch
        ids. If it raises, no checkpoint is saved: the saved positions still cover only what was
        spooled before, so a crash now re-reads (keys make that harmless), never skips.
        """
        done = 0
        try:
            for group in encode.group_events(self.pending, self.cfg.batch_max_events):
                batch = encode.make_batch(uuid.uuid4().hex, group)
                self.spool.put(batch.SerializeToString(), len(group))
                done += len(group)  # group_events keeps order and maps one event to one entry
        finally:
            del self.pending[:done]
            if not self.pending:
                self.pending_since = None

    def _checkpoint(self) -> None:
        apps = dict(self.saved)
        for key, f in list(self.followers.items()):
            if f.finished:
                apps[key] = {"finished": True}
                del self.followers[key]
            else:
                apps[key] = f.checkpoint()
        self.saved = {k: v for k, v in apps.items() if v.get("finished")}
        self.store.save(apps, vars(self.read).copy())
        self._last_checkpoint = self.clock.monotonic()
        self._dirty = False

    def _prepare(self, batch: ingest_pb2.EventBatch) -> None:
        """Called by the sender before each attempt: who we are and the counters right now."""
        batch.agent.CopyFrom(ingest_pb2.AgentInfo(agent_id=self.agent_id, version=VERSION,
                                                  hostname=self.cfg.hostname, cluster_id=self.cfg.cluster_id))
        d = self.spool.snapshot_counters()
        batch.counters.CopyFrom(ingest_pb2.AgentCounters(
            events_read=self.read.events_read, events_sent=d.events_sent,
            events_dropped_spool_full=d.events_dropped_spool_full,
            batches_dropped_spool_full=d.batches_dropped_spool_full, lines_corrupt=self.read.lines_corrupt,
            lines_oversized=self.read.lines_oversized, batches_rejected=d.batches_rejected,
            spark_dropped_events=dict(self.spark_dropped),
            file_bytes_unread_at_stop=sum(n for _, n in self.unread_at_stop.values())))
