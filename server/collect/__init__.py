"""Collection of finished Databricks runs (see `server.collect.collector`)."""

from server.collect.collector import Collector, GatewayFor

__all__ = ["Collector", "GatewayFor"]
