"""Collection of finished Databricks runs (see `server.collect.collector`)."""

from server.collect.collector import Collector, GatewayFor
from server.collect.running import RunningCollector, start_collector

__all__ = ["Collector", "GatewayFor", "RunningCollector", "start_collector"]
