"""The one gateway around databricks-sdk (only this package imports ``databricks.sdk``)."""

from server.databricks.errors import (
    DatabricksCallError,
    DatabricksNotFound,
    DatabricksRejected,
    DatabricksRequestInvalid,
    DatabricksUnavailable,
    WorkspaceAuthError,
    WorkspaceUnreachable,
)
from server.databricks.gateway import DatabricksGateway, GatewayConfig, call_or_none

__all__ = [
    "DatabricksCallError",
    "DatabricksGateway",
    "DatabricksNotFound",
    "DatabricksRejected",
    "DatabricksRequestInvalid",
    "DatabricksUnavailable",
    "GatewayConfig",
    "WorkspaceAuthError",
    "WorkspaceUnreachable",
    "call_or_none",
]
