"""The one gateway around databricks-sdk (only this package imports ``databricks.sdk``)."""

from server.databricks.errors import (
    DatabricksCallError,
    DatabricksNotFound,
    DatabricksRejected,
    DatabricksRequestInvalid,
    DatabricksServerError,
    DatabricksUnavailable,
    WorkspaceAuthError,
    WorkspaceUnreachable,
)
from server.databricks.gateway import DatabricksGateway, GatewayConfig, call_or_none, retrying_5xx_for

__all__ = [
    "DatabricksCallError",
    "DatabricksGateway",
    "DatabricksNotFound",
    "DatabricksRejected",
    "DatabricksRequestInvalid",
    "DatabricksServerError",
    "DatabricksUnavailable",
    "GatewayConfig",
    "WorkspaceAuthError",
    "WorkspaceUnreachable",
    "call_or_none",
    "retrying_5xx_for",
]
