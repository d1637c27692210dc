"""A workspace's poll that worked, stored for a restart (`workspaces.polled_ok_at_ms`, the metrics' poll age).

Bookkeeping, not collection: a write of it that fails (the database locked by another writer past its
busy timeout, or too slow) is logged and costs the poll nothing. It ran inside the poll's error handling,
so a locked database at that moment counted a poll whose runs were all stored as failed: the workspace's
trouble, `trimtab_workspace_poll_failures_total` + 1 and a poll age that alerts. Only the collector's
poll thread uses it.
"""

from __future__ import annotations

import logging

from server.clock import Clock
from server.domain import Workspace
from server.errors import Unavailable
from server.store import Store

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name

# A poll that worked is stored (or tried) at most this often: the polls every few seconds while an
# application's end waits need not each write, and an age a minute too old after a restart still says
# what an alert needs. A failed try waits as long, so a locked database is not made to wait its busy
# timeout again at each of those polls.
POLL_RECORD_EVERY_S = 60.0
# A write still failing is logged again (as a warning) at most this often per workspace.
SAY_AGAIN_S = 600.0


class PollRecords:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._tried: dict[str, int] = {}  # workspace -> when its poll was last stored or tried (wall ms)
        self._said: dict[str, float] = {}  # workspace -> when a failed write was last logged (monotonic s)

    def worked(self, workspace: Workspace) -> None:
        """Store that a poll of ``workspace`` worked, at most every `POLL_RECORD_EVERY_S`. Never raises."""
        now = self._clock.now_ms()
        last = self._tried.get(workspace.name)
        if last is not None and now - last < POLL_RECORD_EVERY_S * 1000:
            return
        self._tried[workspace.name] = now
        try:
            self._store.workspaces.record_polled(workspace.name, now, polled_host=workspace.host)
        except Exception as exc:  # whatever it is, the poll's runs are stored: it must not fail the poll
            self._failed(workspace.name, exc)
            return
        if self._said.pop(workspace.name, None) is not None:
            log.info("workspace %s: the time of its last good poll is stored again", workspace.name)

    def _failed(self, name: str, exc: Exception) -> None:
        now = self._clock.monotonic()
        said = self._said.get(name)
        if said is not None and now - said < SAY_AGAIN_S:
            return
        self._said[name] = now
        # A database that is unavailable says why in its message; anything else may be a bug, so its traceback.
        log.warning("workspace %s: the poll worked but its time was not stored (the metrics' poll age stays "
                    "older until a later poll stores it): %s", name, exc, exc_info=not isinstance(exc, Unavailable))
