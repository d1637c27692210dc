"""The collector as a named background thread of the server, stopped within a bound.

With cloud bills on, runs are priced from each workspace's bill source when it
is collected (`WorkspaceBills`), and a second thread re-costs recent runs whose
bill had not landed yet (`RecostThread`); both stop with the server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from server.clock import Clock
from server.collect.collector import Collector
from server.collect.discovery import DEFAULT_INTERVAL_S, AutoImport
from server.costing.billing import DEFAULT_RECOST_POLICY, RecostPolicy
from server.costing.catalog import PriceCatalog
from server.databricks.call_stop import CallStop
from server.domain import Run
from server.services.secrets import SecretBox
from server.services.workspaces import gateway_for, import_jobs
from server.store import Store

if TYPE_CHECKING:  # imported lazily below: the cloud SDKs load only when bills are on
    from server.collect.bills import RecostThread


class RunningCollector:
    def __init__(self, collector: Collector, recost: RecostThread | None = None) -> None:
        self.collector = collector
        self.recost = recost  # server.collect.bills.RecostThread, when cloud bills are on
        self._stop = CallStop()  # its `set` also ends the Databricks read the poll waits on
        self._polls = 0
        self._polled = threading.Condition()
        self._thread = threading.Thread(target=collector.run_forever, args=(self._stop, self._count_poll),
                                        name="trimtab-collector", daemon=True)

    def start(self) -> RunningCollector:
        self._thread.start()
        if self.recost is not None:
            self.recost.start()
        return self

    def notify_application_end(self, application_id: str) -> None:
        """For the ingest path: an agent reported ApplicationEnd."""
        self.collector.notify_application_end(application_id)

    @property
    def polls(self) -> int:
        with self._polled:
            return self._polls

    def wake(self) -> None:
        """Poll now (after the poll in progress, if any)."""
        self.collector.wake()

    def wait_for_poll(self, count: int, timeout: float) -> bool:
        """True once ``count`` polls have finished since start."""
        with self._polled:
            return self._polled.wait_for(lambda: self._polls >= count, timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the poll in progress (if any) at its next clean point, between two jobs (a job's runs
        are each stored and planned whole); True when the threads ended within ``timeout``. A run
        stored but not planned when the process ended anyway is planned by the next server's first
        poll (`Collector._plan_unplanned`)."""
        self._stop.set()
        self.collector.wake()
        recost_ended = self.recost.stop(timeout) if self.recost is not None else True
        self._thread.join(timeout)
        return recost_ended and not self._thread.is_alive()

    def _count_poll(self) -> None:
        with self._polled:
            self._polls += 1
            self._polled.notify_all()


def start_collector(store: Store, secrets: SecretBox, *, clock: Clock,
                    on_run_collected: Callable[[Run], None] | None = None,
                    catalog: PriceCatalog | None = None, poll_interval_s: float = 60.0,
                    recost_interval_s: float | None = None,
                    auto_import_interval_s: float = DEFAULT_INTERVAL_S,
                    recost_policy: RecostPolicy = DEFAULT_RECOST_POLICY,
                    on_workspace_polled: Callable[[str, bool], None] | None = None) -> RunningCollector:
    """Collect every workspace's runs in the background, with gateways from the stored tokens.

    With ``recost_interval_s`` runs are priced from cloud bills where a workspace has cloud
    credentials, and re-costed that often until their bill lands. Workspaces with auto-import
    on have their new jobs imported at most every ``auto_import_interval_s``.
    """
    bills = recost = None
    if recost_interval_s is not None:
        from server.collect.bills import Recoster, RecostThread, WorkspaceBills

        bills = WorkspaceBills(store, secrets)
        recost = RecostThread(Recoster(store, bills, clock, recost_policy), recost_interval_s)
    collector = Collector(store, lambda ws: gateway_for(store, secrets, ws), clock=clock,
                          on_run_collected=on_run_collected, catalog=catalog, poll_interval_s=poll_interval_s,
                          bill_source_for=bills, recost_policy=recost_policy,
                          on_workspace_polled=on_workspace_polled,
                          discovery=AutoImport(store, lambda name, ids, *, limits: import_jobs(
                                                   store, secrets, name, ids, limits=limits),
                                               clock=clock, interval_s=auto_import_interval_s))
    return RunningCollector(collector, recost).start()
