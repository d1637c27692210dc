"""Each workspace's health as the collector meets it: ``ok``, ``error`` (its token refused) or
``unreachable`` (no connection, or 5xx or 429 past the gateway's retry deadline).

An unreachable workspace, or one whose token is refused (expired or revoked: it stays refused until
someone gives a new one), rests between tries: one poll interval after the first failure, then 2,
4, ... up to `BACKOFF_CAP_S` (on the injected clock), so healthy workspaces keep their cadence and a
dead token does not cost a call a poll. A status set back meanwhile (``workspace add --replace`` and
``workspace set --token-env`` set ``ok``, as does a successful import) or a re-point ends the rest
at once; the first call that goes through sets ``ok`` again. An outage is logged once, a refused
token when it is first met and when its message changes, later tries at debug level only. Only the
collector's poll thread uses it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from server.clock import Clock
from server.databricks import DatabricksUnavailable, WorkspaceAuthError
from server.domain import Workspace
from server.store import Store, storable_text

log = logging.getLogger("server.collect.collector")  # the collector's log: its lines, its name

# A workspace's status while it cannot be reached (``ok``, and ``error`` for a refused token, are the others).
UNREACHABLE = "unreachable"
REFUSED = "error"  # its status while its token is refused
BACKOFF_CAP_S = 1800.0  # the longest an unreachable workspace rests between tries


@dataclasses.dataclass
class _Resting:
    """A workspace unreachable or refusing its token: how many polls in a row found it so, when to
    try it next."""

    failures: int
    retry_at: float  # monotonic s on the collector's clock
    host: str  # the host that could not be reached
    status: str = UNREACHABLE  # the status it rests in (`UNREACHABLE` or `REFUSED`)


class WorkspaceHealth:
    """Records what the collector's calls met on each workspace, and rests the unreachable ones."""

    def __init__(self, store: Store, clock: Clock, poll_interval_s: float) -> None:
        self._store = store
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._resting: dict[str, _Resting] = {}  # workspace name -> backoff

    def resting_now(self, workspace: Workspace) -> bool:
        """True while an unreachable (or refusing) workspace waits for its next try."""
        resting = self._resting.get(workspace.name)
        if resting is None:
            return False
        if workspace.status != resting.status or workspace.host != resting.host:
            # Set back by someone else (`workspace add --replace`, `workspace set --token-env`, a
            # successful import) or re-pointed (`workspace set --host`): the rest was for what failed
            # before; try it now.
            log.info("workspace %s: %s; trying it now", workspace.name,
                     f"status is {workspace.status} again" if workspace.host == resting.host
                     else f"now at {workspace.host}")
            del self._resting[workspace.name]
            return False
        return self._clock.monotonic() < resting.retry_at

    def was_unreachable(self, workspace: Workspace) -> bool:
        """The workspace rested since its last failure, or is stored unreachable or refusing (by this
        server before a restart, or by another): this poll is a try at it. The stored status counts
        because the rests live in memory: after a restart a workspace still down cost the first
        poll a call's whole retry budget (60 s) instead of the short probe."""
        return workspace.name in self._resting or workspace.status in (UNREACHABLE, REFUSED)

    def reached(self, workspace: Workspace, call: Callable[[], object]) -> bool:
        """Make ``call``; False when it met the workspace's own trouble (its token refused, or it
        cannot be reached), which is recorded on the workspace."""
        try:
            call()
        except WorkspaceAuthError as err:
            self.refused(workspace, err)
            return False
        except DatabricksUnavailable as err:
            self.unreachable(workspace, err)
            return False
        return True

    def refused(self, workspace: Workspace, err: WorkspaceAuthError) -> None:
        """Rest the workspace as an unreachable one rests: a refused token stays refused until a new
        one is given (which sets ``ok`` and ends the rest), and each try costs a call."""
        resting = self._resting.get(workspace.name)
        if (resting is not None and resting.status != REFUSED) or workspace.status == UNREACHABLE:
            self._reachable_again(workspace)  # it answers now, if only to refuse the token
        self._rest(workspace, REFUSED, str(err), on_change=True, say=lambda rest_s: log.error(
            "workspace %s: %s; tried again in %.0fs (then less often, up to every %.0fs), or at once when "
            "its %s is replaced", workspace.name, err, rest_s, BACKOFF_CAP_S,
            "service principal's client secret" if workspace.client_id else "token"))

    def answered(self, workspace: Workspace) -> None:
        self._reachable_again(workspace)
        if workspace.status != "ok":
            self._record(workspace, "ok", "")

    def unreachable(self, workspace: Workspace, err: DatabricksUnavailable) -> None:
        """Rest the workspace: 1, 2, 4, ... poll intervals (capped) after each failed poll in a row."""
        # Said once per outage, not per changed message: a connection error's wording varies by try.
        self._rest(workspace, UNREACHABLE, str(err), on_change=False, say=lambda rest_s: log.warning(
            "workspace %s unreachable, skipped for this poll and tried again in %.0fs (then less often, up "
            "to every %.0fs): %s", workspace.name, rest_s, BACKOFF_CAP_S, err))

    def _rest(self, workspace: Workspace, status: str, message: str, *, on_change: bool,
              say: Callable[[float], None]) -> None:
        """Record ``status`` and rest the workspace: 1, 2, 4, ... poll intervals (capped) after each
        failed poll in a row. ``say`` logs it, with the rest in seconds, when the trouble is new (and,
        ``on_change``, when its recorded message changed); a trouble that stays is said again only
        at debug level."""
        # Compared as stored (NUL made U+FFFD, `storable_text`): otherwise written, and said, at every poll.
        changed = (workspace.status, workspace.last_error) != (status, storable_text(message))
        if changed and not self._record(workspace, status, message):
            return
        resting = self._resting.get(workspace.name)
        failures = resting.failures + 1 if resting is not None and resting.status == status else 1
        rest_s = min(BACKOFF_CAP_S, self._poll_interval_s * 2 ** min(failures - 1, 32))
        self._resting[workspace.name] = _Resting(failures, self._clock.monotonic() + rest_s, workspace.host,
                                                 status)
        if failures == 1 or (on_change and changed):
            say(rest_s)
        else:
            log.debug("workspace %s still %s (%d polls in a row); next try in %.0fs",
                      workspace.name, status, failures, rest_s)

    def _record(self, workspace: Workspace, status: str, message: str) -> bool:
        """Write the verdict unless the workspace was re-pointed since this poll read it (False):
        what the old host answered says nothing of the new one, which an owner just saw as ok."""
        if self._store.workspaces.set_status(workspace.name, status, message, polled_host=workspace.host) is None:
            log.info("workspace %s was re-pointed during the poll: %s of %s not recorded", workspace.name,
                     status, workspace.host)
            self._resting.pop(workspace.name, None)
            return False
        return True

    def _reachable_again(self, workspace: Workspace) -> None:
        resting = self._resting.pop(workspace.name, None)
        if resting is not None and resting.status == REFUSED:
            log.info("workspace %s accepts its token again after %d refused polls", workspace.name,
                     resting.failures)
        elif resting is not None or workspace.status == UNREACHABLE:
            log.info("workspace %s reachable again%s", workspace.name,
                     f" after {resting.failures} failed polls" if resting is not None else "")
