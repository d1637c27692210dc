"""The collector as a named background thread of the server, stopped within a bound."""

from __future__ import annotations

import threading
from collections.abc import Callable

from server.clock import Clock
from server.collect.collector import Collector
from server.costing.catalog import PriceCatalog
from server.domain import Run
from server.services.secrets import SecretBox
from server.services.workspaces import gateway_for
from server.store import Store


class RunningCollector:
    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._stop = threading.Event()
        self._thread = threading.Thread(target=collector.run_forever, args=(self._stop,),
                                        name="trimtab-collector", daemon=True)

    def start(self) -> RunningCollector:
        self._thread.start()
        return self

    def notify_application_end(self, application_id: str) -> None:
        """For the ingest path: an agent reported ApplicationEnd."""
        self.collector.notify_application_end(application_id)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the poll in progress (if any); True when the thread ended within ``timeout``."""
        self._stop.set()
        self.collector.wake()
        self._thread.join(timeout)
        return not self._thread.is_alive()


def start_collector(store: Store, secrets: SecretBox, *, clock: Clock,
                    on_run_collected: Callable[[Run], None] | None = None,
                    catalog: PriceCatalog | None = None, poll_interval_s: float = 60.0) -> RunningCollector:
    """Collect every workspace's runs in the background, with gateways from the stored tokens."""
    collector = Collector(store, lambda ws: gateway_for(store, secrets, ws), clock=clock,
                          on_run_collected=on_run_collected, catalog=catalog, poll_interval_s=poll_interval_s)
    return RunningCollector(collector).start()
