"""Errors of the costing package.

They derive from the server's one error base so the API maps them to a gRPC
status in one place. Every message names the thing that was missing: a cost
is never silently zero.
"""

from __future__ import annotations

from server.errors import TrimtabError


class TrimtabCostError(TrimtabError):
    """A run or configuration cannot be priced."""

    code = "FAILED_PRECONDITION"


class UnknownNodeType(TrimtabCostError):
    def __init__(self, cloud: str, node_type: str, what: str = "DBUs per hour") -> None:
        super().__init__(
            f"unknown node type {node_type!r} on {cloud}: the price catalog has no {what} for it"
        )
        self.cloud = cloud
        self.node_type = node_type


class UnknownRegion(TrimtabCostError):
    def __init__(self, cloud: str, region: str, known: list[str]) -> None:
        super().__init__(
            f"unknown region {region!r} on {cloud}: the price catalog has prices for {', '.join(known) or 'none'}"
        )
        self.cloud = cloud
        self.region = region


class UnknownPlan(TrimtabCostError):
    def __init__(self, cloud: str, plan: str, sku: str, known: list[str]) -> None:
        super().__init__(
            f"no DBU rate for plan {plan!r}, SKU {sku!r} on {cloud}: known plans are {', '.join(known)}"
        )


class UnknownVolumeType(TrimtabCostError):
    def __init__(self, cloud: str, region: str, volume_type: str) -> None:
        super().__init__(f"unknown volume type {volume_type!r} in {cloud} {region}: no storage price for it")


class InvalidCatalog(TrimtabCostError):
    """A catalog file is missing, unreadable or has an entry without price, source or date."""

    code = "INVALID_ARGUMENT"


class MalformedBill(TrimtabCostError):
    """A cloud bill that cannot be trusted; stored costs are left as they were."""

    code = "INVALID_ARGUMENT"
