"""Durable, bounded disk spool of encoded batches, oldest first.

Each batch is one file ``<seq>-<events>.batch`` written atomically and fsync'd
before ``put`` returns, so whatever the follower checkpoints past is on disk.
When the spool would exceed its byte bound the *oldest* batches are dropped
(never the one being sent) and counted exactly: the counters (with the names
about to be deleted) are persisted first, so a crash between the two steps is
finished on the next start instead of being miscounted. Batches parked in
``parked/`` count towards the same bound and go first, oldest first: a server
that rejected every batch once filled the disk with them (8x the bound).

The spool also leaves a reserve free on its disk for the driver (``agent.reserve``): a write
that would eat into it drops the oldest batches first, counted like a full spool's; if the whole
spool could not make room (the disk is filled by other files) the write fails with ENOSPC and
changes nothing, as on a full disk, and the agent pauses reading. Drops are logged at most once
per ``warn_every_s`` with running totals (a line per batch made 174 lines in 30 s).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from agent.clock import Clock, SystemClock
from agent.durable import fsync_dir, read_json, sync_dir_after_rename, write_atomic
from agent.reserve import DiskReserve, StatFs, look, system_statvfs

log = logging.getLogger("trimtab.agent.spool")


@dataclass
class DeliveryCounters:
    """Counters owned by the spool and the sender (persisted in ``counters.json``)."""

    events_sent: int = 0
    events_dropped_spool_full: int = 0
    batches_dropped_spool_full: int = 0
    batches_rejected: int = 0
    pending_drop: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SpooledBatch:
    seq: int
    events: int
    path: Path


def _parse_name(name: str) -> tuple[int, int] | None:
    if not name.endswith(".batch"):
        return None
    try:
        seq, events = name[: -len(".batch")].split("-")
        return int(seq), int(events)
    except ValueError:
        return None


class Spool:
    def __init__(self, directory: Path, max_bytes: int, reserve: DiskReserve | None = None,
                 clock: Clock | None = None, statvfs: StatFs = system_statvfs,
                 warn_every_s: float = 300.0) -> None:
        """``reserve`` None keeps no free space (the disk may fill: then a put fails with ENOSPC)."""
        self.dir = directory
        self.parked_dir = directory / "parked"
        self.parked_dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.reserve = None if reserve is None or reserve.off else reserve
        self._statvfs = statvfs
        self._clock = clock or SystemClock()
        self.warn_every_s = warn_every_s
        # The one WARNING when the reserve first takes effect (first drops *for* it: drops the byte
        # bound alone causes do not spend it), and the one when the free space cannot be read.
        self._reserve_warned = False
        self._statfs_warned = False
        # Drops not yet logged (batches, of them parked, events), what made them ("bound", "reserve"),
        # and when the last line was.
        self._unlogged = (0, 0, 0)
        self._unlogged_causes: set[str] = set()
        self._drops_logged_at: float | None = None
        self._counters_path = directory / "counters.json"
        self._lock = threading.Lock()
        self._nonempty = threading.Condition(self._lock)
        raw = read_json(self._counters_path)
        self.counters = DeliveryCounters(**{k: raw[k] for k in DeliveryCounters.__dataclass_fields__ if k in raw})
        for name in self.counters.pending_drop:  # finish a drop interrupted by a crash
            (self.dir / name).unlink(missing_ok=True)
        self.counters.pending_drop = []
        self._batches: dict[int, SpooledBatch] = {}
        self._sizes: dict[int, int] = {}
        # Parked batches, counted in the byte bound (see ``_make_room``). Their seqs never meet the
        # spool's: a batch keeps its name when parked, and numbering starts above both.
        self._parked: dict[int, SpooledBatch] = {}
        self._parked_sizes: dict[int, int] = {}
        for entry in os.scandir(self.parked_dir):
            parsed = _parse_name(entry.name)
            if parsed:
                self._parked[parsed[0]] = SpooledBatch(parsed[0], parsed[1], Path(entry.path))
                self._parked_sizes[parsed[0]] = entry.stat().st_size
        for entry in os.scandir(directory):
            parsed = _parse_name(entry.name)
            if parsed:
                self._batches[parsed[0]] = SpooledBatch(parsed[0], parsed[1], Path(entry.path))
                self._sizes[parsed[0]] = entry.stat().st_size
            elif entry.name.endswith(".tmp"):
                os.unlink(entry.path)  # a put interrupted before its rename: never acknowledged
        # Numbering starts above every seq in the spool *and* in parked/: parked files keep their
        # names, so a number reused after a restart would overwrite a parked batch (full batches
        # share their event count) and break replay-parked's oldest-first order.
        self._next_seq = max(max(self._batches, default=0), self._highest_parked()) + 1
        self._inflight: int | None = None
        self._save_failing = False  # the last counters save after a delivery failed (logged once)

    # -- producer side (follower thread) ---------------------------------------------------------
    def put(self, data: bytes, events: int) -> int | None:
        """Store one batch durably; returns its sequence number, or None if it alone exceeds the bound."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            if len(data) > self.max_bytes:
                self._record_drops([], dropped_new=events, causes={"bound"})
                return None
            self._make_room(len(data))
            path = self.dir / f"{seq:012d}-{events}.batch"
            write_atomic(path, data)
            self._batches[seq] = SpooledBatch(seq, events, path)
            self._sizes[seq] = len(data)
            self._nonempty.notify_all()
            return seq

    def _make_room(self, incoming: int) -> None:
        """Drop the oldest batches until ``incoming`` bytes fit: parked ones first, then waiting ones.

        Parked batches were rejected once and wait for a person (``replay-parked``); waiting ones are
        data still being delivered, so when one has to go it is a parked one, oldest first.
        Two limits: the byte bound, and the disk reserve (free space left for the driver after the
        write). The in-flight batch is never dropped: its fate is the sender's. When dropping every
        other batch would still leave less than the reserve free, nothing is dropped and
        ``OSError(ENOSPC)`` is raised: other files took the disk, and the put changes nothing.
        """
        total = sum(self._sizes.values()) + sum(self._parked_sizes.values())
        over = total + incoming - self.max_bytes  # bytes to free for the bound
        short, space, keep = 0, None, 0
        if self.reserve is not None:
            try:
                space = look(self._statvfs, str(self.dir))
            except OSError as exc:  # a file system that cannot say: writing as before beats never writing
                if not self._statfs_warned:
                    self._statfs_warned = True
                    log.warning("cannot read the free space under %s (%s): no disk reserve is kept", self.dir, exc)
            if space is not None:
                keep = self.reserve.bytes_for(space.total)
                short = keep - (space.free - space.on_disk(incoming))  # bytes to free for the reserve
        # What makes this write drop batches: the byte bound, the reserve, or both. The reserve's
        # WARNING is for the reserve only: spent on an ordinary full spool (a roomy disk), it blamed
        # the reserve for that drop and was gone when the reserve later did take effect.
        causes = ({"bound"} if over > 0 else set()) | ({"reserve"} if short > 0 else set())
        victims: list[SpooledBatch] = []
        parked_victims: list[SpooledBatch] = []
        candidates = [(self._parked[q], self._parked_sizes[q], True) for q in sorted(self._parked)]
        candidates += [(self._batches[q], self._sizes[q], False) for q in sorted(self._batches)
                       if q != self._inflight]
        for batch, size, parked in candidates:
            if over <= 0 and short <= 0:
                break
            (parked_victims if parked else victims).append(batch)
            over -= size
            if space is not None:
                short -= space.on_disk(size)
        if space is not None and short > 0:
            raise OSError(errno.ENOSPC, f"No space left on device for the spool: {space.free} bytes free, and "
                          f"{keep} are kept free for the driver (TRIMTAB_AGENT_DISK_RESERVE_BYTES/_PCT); "
                          f"the spool holds {total} bytes", str(self.dir))
        if "reserve" in causes and (victims or parked_victims) and not self._reserve_warned:
            self._reserve_warned = True
            log.warning("the disk under %s has %d bytes free of %d: the spool keeps %d bytes free for the "
                        "driver (Spark's logs, the notebook; TRIMTAB_AGENT_DISK_RESERVE_BYTES/_PCT), so from now on "
                        "it drops its oldest batches to make room, counted as spool-full drops (said once)",
                        self.dir, space.free, space.total, keep)
        if victims or parked_victims:
            self._record_drops(victims, parked=parked_victims, causes=causes)

    def _record_drops(self, victims: list[SpooledBatch], dropped_new: int = 0,
                      parked: list[SpooledBatch] | None = None, causes: set[str] | None = None) -> None:
        parked = parked or []
        gone = victims + parked
        old = self.counters
        # Names relative to the spool directory ("parked/<name>" for a parked one), so the start
        # of the next run finishes an interrupted drop of either kind (see ``__init__``).
        names = [v.path.name for v in victims] + [f"{self.parked_dir.name}/{v.path.name}" for v in parked]
        c = DeliveryCounters(old.events_sent,
                             old.events_dropped_spool_full + sum(v.events for v in gone) + dropped_new,
                             old.batches_dropped_spool_full + len(gone) + (1 if dropped_new else 0),
                             old.batches_rejected, names)
        # On disk before in memory: a save that fails (a full disk) raises with nothing changed,
        # so the put retried later does not count the same drop twice.
        self._save(c)
        self.counters = c
        for v in victims:
            v.path.unlink(missing_ok=True)
            del self._batches[v.seq], self._sizes[v.seq]
        for v in parked:
            v.path.unlink(missing_ok=True)
            del self._parked[v.seq], self._parked_sizes[v.seq]
        c.pending_drop = []
        n = len(gone) + (1 if dropped_new else 0)
        b, p, e = self._unlogged
        self._unlogged = (b + n, p + len(parked), e + sum(v.events for v in gone) + dropped_new)
        self._unlogged_causes |= causes or set()
        now = self._clock.monotonic()
        if self._drops_logged_at is None or now - self._drops_logged_at >= self.warn_every_s:
            self._report_drops()

    def report_drops(self) -> None:
        """Log the drops not logged yet, if any (the agent calls it as it stops)."""
        with self._lock:
            self._report_drops()

    def _report_drops(self) -> None:
        """Log the drops since the last such line, with the running totals (the caller holds the lock)."""
        b, p, e = self._unlogged
        if not b:
            return
        causes, self._unlogged_causes = self._unlogged_causes, set()
        self._unlogged = (0, 0, 0)
        self._drops_logged_at = self._clock.monotonic()
        c = self.counters
        of_them = f", {p} of them parked in {self.parked_dir} after a rejection" if p else ""
        # Which limit made the drops, so a person knows which setting to raise.
        limits = []
        if "bound" in causes or not causes:
            limits.append(f"its bound of {self.max_bytes} bytes (TRIMTAB_AGENT_SPOOL_BYTES)")
        if "reserve" in causes:
            limits.append("the disk reserve (TRIMTAB_AGENT_DISK_RESERVE_BYTES/_PCT)")
        log.warning("spool full: dropped %d oldest batch(es) (%d events)%s since the last such line; %d batch(es), "
                    "%d events dropped so far; the spool stays within %s; this line comes at most every %.0f s "
                    "while drops go on", b, e, of_them, c.batches_dropped_spool_full, c.events_dropped_spool_full,
                    " and ".join(limits), self.warn_every_s)

    # -- consumer side (sender thread) -----------------------------------------------------------
    def oldest(self, timeout: float | None = None) -> SpooledBatch | None:
        """The oldest batch, marked in flight; waits up to ``timeout`` for one."""
        with self._lock:
            if not self._batches and timeout:
                self._nonempty.wait(timeout)
            if not self._batches:
                return None
            seq = min(self._batches)
            self._inflight = seq
            return self._batches[seq]

    def read(self, b: SpooledBatch) -> bytes:
        return b.path.read_bytes()

    def ack(self, b: SpooledBatch) -> None:
        """The server stored ``b``: delete it and count it. An ``OSError`` leaves it tracked and on disk.

        The file goes first: a batch forgotten in memory but left on disk would be counted, and
        sent, again after a restart.
        """
        with self._lock:
            self._inflight = None
            if b.seq not in self._batches:
                return
            b.path.unlink(missing_ok=True)
            del self._batches[b.seq], self._sizes[b.seq]
            self.counters.events_sent += b.events
            self._save_after_delivery()

    def park(self, b: SpooledBatch) -> None:
        """A permanent rejection (a malformed batch, not a refused token): keep it aside for a
        human; only ``trimtab-agent replay-parked`` offers it again. As in ``ack``, the file is
        moved before memory changes: an ``OSError`` leaves it tracked and in the spool."""
        with self._lock:
            self._inflight = None
            if b.seq not in self._batches:
                return
            parked_path = self.parked_dir / b.path.name
            os.replace(b.path, parked_path)
            sync_dir_after_rename(self.parked_dir)
            sync_dir_after_rename(self.dir)
            self._parked[b.seq] = SpooledBatch(b.seq, b.events, parked_path)
            self._parked_sizes[b.seq] = self._sizes[b.seq]
            del self._batches[b.seq], self._sizes[b.seq]
            self.counters.batches_rejected += 1
            self._save_after_delivery()

    def release(self) -> None:
        with self._lock:
            self._inflight = None

    def wake(self) -> None:
        with self._lock:
            self._nonempty.notify_all()

    def _highest_parked(self) -> int:
        return max((p[0] for e in os.scandir(self.parked_dir) if (p := _parse_name(e.name))), default=0)

    # -- views -------------------------------------------------------------------------------------
    def pending(self) -> tuple[int, int]:
        """(batches, bytes) waiting to be sent."""
        with self._lock:
            return len(self._batches), sum(self._sizes.values())

    def pending_events(self) -> int:
        """Events in the batches waiting to be sent."""
        with self._lock:
            return sum(b.events for b in self._batches.values())

    def parked(self) -> int:
        """Batches set aside in ``parked/``."""
        try:
            return sum(1 for e in os.scandir(self.parked_dir) if _parse_name(e.name))
        except OSError:
            return 0

    def snapshot_counters(self) -> DeliveryCounters:
        with self._lock:
            c = self.counters
            return DeliveryCounters(c.events_sent, c.events_dropped_spool_full, c.batches_dropped_spool_full,
                                    c.batches_rejected)

    def save_counters_if_behind(self) -> None:
        """Save the counters again if the last save after a delivery failed (sender idle, or stopping).

        Without it counters.json stayed behind until the next delivery, and a clean restart read
        fewer events sent than were (the count went backwards).
        """
        with self._lock:
            if self._save_failing:
                self._save_after_delivery()

    def _save_after_delivery(self) -> None:
        """Persist the counters after an ack or a park; a failure (a full disk) only delays it.

        The batch has left the spool either way, and raising would end the sender thread. The
        counters stay exact in memory and reach the disk with the next save that works: the next
        delivery, or ``save_counters_if_behind`` (the sender calls it while idle and when it stops);
        only a crash before then loses the count of what was sent meanwhile.
        """
        try:
            self._save()
        except OSError as exc:
            if not self._save_failing:
                log.warning("cannot save the delivery counters to %s (%s): kept in memory, saved again "
                            "when possible", self._counters_path, exc)
            self._save_failing = True
            return
        if self._save_failing:
            log.info("delivery counters saved again to %s", self._counters_path)
            self._save_failing = False

    def _save(self, counters: DeliveryCounters | None = None) -> None:
        c = counters or self.counters
        write_atomic(self._counters_path, orjson.dumps({
            "events_sent": c.events_sent, "events_dropped_spool_full": c.events_dropped_spool_full,
            "batches_dropped_spool_full": c.batches_dropped_spool_full,
            "batches_rejected": c.batches_rejected, "pending_drop": c.pending_drop}))


def replay_parked(spool_dir: Path) -> int:
    """Move every parked batch back into the spool, after the batches already there.

    Call it only while no agent uses ``spool_dir`` (the caller holds the state lock): a running
    agent numbers new batches from what it scanned at start and could reuse these names. Seqs
    are taken above both spool/ and parked/, so the names never collide with a parked one.
    """
    parked_dir = spool_dir / "parked"
    try:
        # By seq: the spool numbers above everything in spool/ and parked/, so seq order is the
        # order the batches were made in, across agent restarts.
        names = sorted((e.name for e in os.scandir(parked_dir) if _parse_name(e.name)),
                       key=lambda n: _parse_name(n) or (0, 0))
    except FileNotFoundError:
        return 0
    taken = [p[0] for d in (spool_dir, parked_dir) for e in os.scandir(d) if (p := _parse_name(e.name))]
    seq = max(taken, default=0) + 1
    for name in names:  # oldest first, so they are sent in the order they were made
        _, events = _parse_name(name)  # type: ignore[misc]
        os.replace(parked_dir / name, spool_dir / f"{seq:012d}-{events}.batch")
        seq += 1
    if names:
        fsync_dir(spool_dir)
        fsync_dir(parked_dir)
    return len(names)
