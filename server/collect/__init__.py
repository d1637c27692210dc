"""Collection of finished Databricks runs (see `server.collect.collector`)."""

from server.collect.collector import Collector, GatewayFor, run_usage
from server.collect.running import RunningCollector, start_collector

__all__ = ["Collector", "GatewayFor", "RunningCollector", "run_usage", "start_collector"]
