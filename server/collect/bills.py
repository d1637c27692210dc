"""Cloud bills for the running server: each workspace's bill source, and re-costing runs when bills land.

`WorkspaceBills` is the collector's ``bill_source_for``: it decrypts the
workspace's stored cloud credentials and builds the bill source once (cached
until the credentials change, e.g. `workspace add --replace`). A workspace
without credentials, or with ones that cannot be used, gets None: its runs keep
the catalog estimate and their cost note says so.

`Recoster` runs ``recost_runs``, for every workspace that has a bill source, over
the runs still priced by the estimate whose bill window ended within the re-cost
policy's window; `RecostThread` does that every ``interval_s`` in its own named
thread (a slow cloud must not hold up collection), stopped with the server.
"""

from __future__ import annotations

import logging
import threading

from server.apply import project_lock
from server.clock import Clock
from server.clouds.factory import bill_source
from server.costing.billing import DEFAULT_RECOST_POLICY, BillSource, RecostPolicy, UnusableCredentials
from server.costing.reconcile import SOURCE_ESTIMATE
from server.costing.recost import RecostReport, recost_runs
from server.domain import CostBreakdown, Run, Workspace
from server.errors import TrimtabError
from server.log_context import log_context
from server.services.secrets import SecretBox
from server.store import Store

log = logging.getLogger(__name__)

# Runs per project looked at in one pass at most: those still priced by the estimate that ended within
# the policy's window (`RunRepository.ended_with_cost_source`), oldest first so the ones nearest to
# being given up come first. A job every minute has 4320 runs in 72 h, fewer still waiting for a bill;
# a project over the bound has its newer runs looked at in a later pass, as the older ones leave.
RECOST_RUNS_PER_PROJECT = 5000


class WorkspaceBills:
    def __init__(self, store: Store, secrets: SecretBox) -> None:
        self._store = store
        self._secrets = secrets
        self._lock = threading.Lock()
        # name -> (the encrypted credentials it was built from, the source): rebuilt when they change.
        self._cache: dict[str, tuple[str, BillSource | None]] = {}

    def __call__(self, workspace: Workspace) -> BillSource | None:
        encrypted = self._store.workspaces.secrets(workspace.name).cloud_credentials_encrypted
        if not encrypted:
            return None
        with self._lock:
            hit = self._cache.get(workspace.name)
        if hit is not None and hit[0] == encrypted:
            return hit[1]
        source: BillSource | None
        try:
            source = bill_source(workspace.cloud, self._secrets.decrypt(encrypted))
        except TrimtabError as err:  # undecryptable or invalid: estimate, said once per change
            log.warning("workspace %s: cloud credentials not usable (%s); runs keep the catalog estimate",
                        workspace.name, err.message)
            # Not None: the run's note must say the credentials are unusable, not that there are none
            # (`workspace show` says they are set). Re-costing skips it (`billing.usable`).
            source = UnusableCredentials(err.message)
        with self._lock:
            self._cache[workspace.name] = (encrypted, source)
        return source


class Recoster:
    def __init__(self, store: Store, bills: WorkspaceBills, clock: Clock,
                 policy: RecostPolicy = DEFAULT_RECOST_POLICY) -> None:
        self._store = store
        self._bills = bills
        self._clock = clock
        self._policy = policy
        # Workspace -> the bill-read error logged last: said when it starts or changes, and when it
        # ends, not on every pass (a pass an hour for days).
        self._failing: dict[str, str] = {}

    def recost_once(self) -> RecostReport:
        """One pass over every workspace with a bill source; what became billed, waits or was refused."""
        total = RecostReport()
        for workspace in self._store.workspaces.list():
            # Read before the source is built: an outcome is recorded against these credentials only
            # (`record_bill_read`), so one read with credentials replaced meanwhile is not recorded.
            encrypted = self._store.workspaces.secrets(workspace.name).cloud_credentials_encrypted
            source = self._bills(workspace)
            if source is None:
                continue
            if isinstance(source, UnusableCredentials):
                self._record_unusable(workspace, encrypted, source.why)
                continue
            with log_context(workspace=workspace.name):
                errors_before = len(total.errors)
                read_before = len(total.billed) + len(total.waiting) + len(total.rejected)
                self._recost_workspace(workspace.name, source, total)
                errors = list(total.errors.values())[errors_before:]
                # Errors are counted among the waiting runs too: what is left was answered.
                answered = len(total.billed) + len(total.waiting) + len(total.rejected) - read_before - len(errors)
                self._say_bill_errors(workspace.name, errors, read=answered > 0)
                self._record_reads(workspace.name, encrypted, answered=answered, errors=errors)
        for run_id, why in total.rejected.items():
            log.warning("run %d: cloud bill refused, estimate kept: %s", run_id, why)
        if total.billed:
            log.info("re-costed %d run(s) from their cloud bill", len(total.billed))
        return total

    def _say_bill_errors(self, workspace: str, errors: list[str], *, read: bool) -> None:
        """Log a workspace's bill reads failing (credentials refused, an endpoint unreachable): before,
        the only trace was each run's cost note, and `workspace show` kept saying the credentials
        were set (review revD 4)."""
        if errors:
            why = errors[-1]
            if self._failing.get(workspace) != why:
                log.warning("workspace %s: the cloud bill could not be read for %d run(s): %s; they keep the "
                            "catalog estimate. Check the billing credentials (`trimtab workspace set %s "
                            "--cloud-credentials-env VAR`; `workspace show` has the last outcome)", workspace,
                            len(errors), why, workspace)
                self._failing[workspace] = why
        elif read and self._failing.pop(workspace, None) is not None:
            log.info("workspace %s: the cloud bill is read again", workspace)

    def _record_reads(self, workspace: str, encrypted: str | None, *, answered: int, errors: list[str]) -> None:
        """Store this pass's bill-read outcome on the workspace (`workspace show` says it): answered,
        and/or failed with the last error. A pass with no run to look at reads nothing and says nothing."""
        if encrypted is None or not (answered or errors):
            return
        now = self._clock.now_ms()
        self._store.workspaces.record_bill_read(workspace, encrypted, ok_at_ms=now if answered else None,
                                                failed_at_ms=now if errors else None,
                                                error=errors[-1] if errors else "")

    def _record_unusable(self, workspace: Workspace, encrypted: str | None, why: str) -> None:
        """Credentials that cannot even be built into a bill source fail every read: recorded once
        (per reason), not every pass."""
        error = f"cloud credentials not usable: {why}"
        if encrypted is not None and workspace.bill_read_error != error:
            self._store.workspaces.record_bill_read(workspace.name, encrypted, failed_at_ms=self._clock.now_ms(),
                                                    error=error)

    def _recost_workspace(self, workspace: str, source: BillSource, total: RecostReport) -> None:
        """Re-cost the runs of ``workspace``'s projects from ``source``, adding to ``total``."""
        for project in self._store.projects.list(workspace):
            runs = self._runs_to_look_at(int(project.id or 0))
            read = {int(r.id or 0): r for r in runs}
            report = recost_runs(runs, source, now_ms=self._clock.now_ms(),
                                 set_cost=lambda run_id, cost, read=read: self._set_cost(read[run_id], cost),
                                 policy=self._policy)
            total.billed += report.billed
            total.waiting += report.waiting
            total.rejected.update(report.rejected)
            total.errors.update(report.errors)

    def _runs_to_look_at(self, project_id: int) -> list[Run]:
        """The project's runs whose bill may still land: estimates whose bill window ended within the
        policy's window (`should_recost` has the last word on each, e.g. the settle time of a bill
        marked estimated)."""
        now = self._clock.now_ms()
        runs = self._store.runs.ended_with_cost_source(
            project_id, SOURCE_ESTIMATE, ended_from_ms=now - self._policy.give_up_after_ms,
            ended_to_ms=now - self._policy.first_check_after_ms, limit=RECOST_RUNS_PER_PROJECT)
        if len(runs) == RECOST_RUNS_PER_PROJECT:
            log.info("project %d: at least %d runs wait for their cloud bill; the oldest looked at first, "
                     "the rest in later passes", project_id, RECOST_RUNS_PER_PROJECT)
        return runs

    def _set_cost(self, read: Run, cost: CostBreakdown) -> None:
        """Store a billed cost, unless the run changed since it was read (the bill was asked for over
        the network meanwhile): a repair update sums several clusters' costs, which one cluster's
        bill must not replace (the collector writes under the project lock, taken here too)."""
        with project_lock(read.project_id, self._store):
            now = self._store.runs.get(int(read.id or 0))
            if (now.cluster_id, now.end_ms, now.anomalies) != (read.cluster_id, read.end_ms, read.anomalies):
                log.info("run %s changed while its bill was read (a repair?): bill not applied", read.id)
                return
            self._store.runs.set_cost(int(read.id or 0), cost)


class RecostThread:
    """``recost_once`` now, then every ``interval_s`` (or at once on `wake`), until `stop`."""

    def __init__(self, recoster: Recoster, interval_s: float) -> None:
        self._recoster = recoster
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._passes = 0
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="trimtab-recost", daemon=True)

    def start(self) -> RecostThread:
        self._thread.start()
        return self

    @property
    def passes(self) -> int:
        with self._done:
            return self._passes

    def wake(self) -> None:
        self._wake.set()

    def wait_for_pass(self, count: int, timeout: float) -> bool:
        """True once ``count`` passes have finished (for tests and operators who woke it)."""
        with self._done:
            return self._done.wait_for(lambda: self._passes >= count, timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._recoster.recost_once()
            except Exception:  # one bad pass (a store hiccup) must not end re-costing
                log.exception("re-cost pass failed")
            with self._done:
                self._passes += 1
                self._done.notify_all()
            self._wake.wait(self._interval_s)
            self._wake.clear()
