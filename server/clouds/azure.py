"""The one gateway around the Azure SDK: a cluster's cost from Cost Management.

The query is scoped to the subscription (or the workspace's managed resource
group when known), filtered by the tags Databricks puts on every VM and disk
of a cluster (``Vendor=Databricks``, ``ClusterId``), and grouped by that tag
and by ``MeterCategory`` so VMs (compute) and disks (storage) stay apart. The
"Azure Databricks" meter (the DBUs) carries the cluster's tags too, so it comes
back as well; ``server.costing.reconcile`` keeps it out of the cloud part. Costs
are ``AmortizedCost``, in USD (``PreTaxCostUSD``), of ``ChargeType`` Usage only: a refund is the
account's, not what the cluster consumed (Azure's cost data carries no credits; they are applied on
the invoice), and under AmortizedCost a reservation's share of a VM hour is a Usage row.
``query.usage`` returns one page and a ``nextLink``; we follow the link
ourselves through the client's pipeline (same auth, retries and TLS setup).
Raw pages (``columns``/``rows``) go to ``server.costing.reconcile``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.costmanagement import CostManagementClient

from server.errors import FailedPrecondition, Unavailable

MAX_PAGES = 100  # a bound, so a server that always sends a nextLink cannot keep us looping
# The placeholder cluster the billing check asks about (as `server.clouds.aws.CHECK_CLUSTER_ID`).
CHECK_CLUSTER_ID = "trimtab-billing-check"


@dataclass(frozen=True)
class AzureCredentials:
    """A workspace's Azure access: a service principal, or an access token (tests, short jobs).

    ``base_url`` and ``ca_bundle`` point at a stand-in in tests and the demo.
    """

    subscription_id: str
    resource_group: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    base_url: str = "https://management.azure.com"
    ca_bundle: str | None = None


class StaticTokenCredential:
    """A TokenCredential for a token obtained elsewhere (azure-identity is not needed for it)."""

    def __init__(self, token: str, lifetime_s: int = 3600) -> None:
        self._token = token
        self._lifetime_s = lifetime_s

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + self._lifetime_s)


def _credential(creds: AzureCredentials) -> Any:
    if creds.access_token:
        return StaticTokenCredential(creds.access_token)
    if creds.tenant_id and creds.client_id and creds.client_secret:
        try:
            from azure.identity import ClientSecretCredential
        except ImportError as exc:  # azure-identity is optional; a token works without it
            raise FailedPrecondition("Azure service principal login needs the azure-identity package") from exc
        return ClientSecretCredential(creds.tenant_id, creds.client_id, creds.client_secret)
    raise FailedPrecondition("Azure credentials need an access token or tenant id, client id and client secret")


def _iso(ms: int, end: bool) -> str:
    day = datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()
    return f"{day}T23:59:59Z" if end else f"{day}T00:00:00Z"


def cost_query(cluster_id: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The Cost Management query body for one cluster's days (whole days: costs are daily)."""
    return {
        # Amortized: reservation-covered VM hours carry their share of the reservation instead of 0.
        "type": "AmortizedCost",
        "timeframe": "Custom",
        "timePeriod": {"from": _iso(start_ms, end=False), "to": _iso(end_ms, end=True)},
        "dataset": {
            "granularity": "Daily",
            # PreTaxCostUSD: the same charges in USD whatever the billing currency (the catalog is
            # USD); PreTaxCost in the billing currency is read only where Azure sends no USD column.
            "aggregation": {"totalCost": {"name": "PreTaxCost", "function": "Sum"},
                            "totalCostUSD": {"name": "PreTaxCostUSD", "function": "Sum"}},
            "grouping": [{"type": "TagKey", "name": "ClusterId"}, {"type": "Dimension", "name": "MeterCategory"}],
            "filter": {"and": [
                {"tags": {"name": "ClusterId", "operator": "In", "values": [cluster_id]}},
                {"tags": {"name": "Vendor", "operator": "In", "values": ["Databricks"]}},
                # Usage only: Refund rows lower what the account pays, not what the cluster consumed.
                # Amortized, a reservation-covered hour is a Usage row with its share of the
                # reservation; Purchase and UnusedReservation rows carry no cluster's tags.
                {"dimensions": {"name": "ChargeType", "operator": "In", "values": ["Usage"]}},
            ]},
        },
    }


class AzureCostGateway:
    def __init__(self, credentials: AzureCredentials) -> None:
        kwargs: dict[str, Any] = {}
        if credentials.ca_bundle:
            kwargs["connection_verify"] = credentials.ca_bundle
        self._client = CostManagementClient(_credential(credentials), base_url=credentials.base_url, **kwargs)
        scope = f"/subscriptions/{credentials.subscription_id}"
        if credentials.resource_group:
            scope += f"/resourceGroups/{credentials.resource_group}"
        self.scope = scope

    def cluster_cost_pages(self, cluster_id: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Raw result pages ({"columns": [{name, type}], "rows": [...]}) for the cluster's days."""
        body = cost_query(cluster_id, start_ms, end_ms)
        with _translated():
            result = self._client.query.usage(scope=self.scope, parameters=body)
            pages = [{"columns": [{"name": c.name, "type": c.type} for c in result.columns or []],
                      "rows": [list(r) for r in result.rows or []]}]
            link = result.next_link
            while link and len(pages) < MAX_PAGES:
                response = self._client.send_request(HttpRequest("POST", link, json=body))
                response.raise_for_status()
                props = response.json().get("properties") or {}
                pages.append({"columns": props.get("columns") or [], "rows": props.get("rows") or []})
                link = props.get("nextLink")
        return pages

    def check_cost_read(self, now_ms: int, timeout_s: float) -> None:
        """One page of the query a bill read sends (yesterday, a placeholder cluster), on the scope a
        bill read uses, with no retry and ``timeout_s`` to connect and to read: the credentials, the
        subscription (or resource group) and the Cost Management read permission tried at once (the
        query is free). Raises `FailedPrecondition` when Azure refuses them, `Unavailable` when it
        cannot tell."""
        day_ms = now_ms - 86_400_000
        with _translated():
            self._client.query.usage(scope=self.scope, parameters=cost_query(CHECK_CLUSTER_ID, day_ms, day_ms),
                                     retry_total=0, connection_timeout=timeout_s, read_timeout=timeout_s)


@contextmanager
def _translated() -> Iterator[None]:
    """Azure SDK errors as ours: a refusal (401, 403, a scope that does not exist) is `FailedPrecondition`,
    anything that may pass (the network, a 5xx, throttling) `Unavailable`."""
    try:
        yield
    except ClientAuthenticationError as exc:
        raise FailedPrecondition(f"Azure Cost Management refused the credentials: {exc.message}") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise Unavailable(f"Azure Cost Management unreachable: {exc.message}") from exc
    except HttpResponseError as exc:
        if exc.status_code in (401, 403):
            raise FailedPrecondition(f"Azure Cost Management denied the query: {exc.message}") from exc
        if exc.status_code == 404:
            # SubscriptionNotFound, ResourceGroupNotFound: the scope named in the credentials is wrong,
            # which no retry mends.
            raise FailedPrecondition(f"Azure Cost Management: scope not found: {exc.message}") from exc
        raise Unavailable(f"Azure Cost Management query failed ({exc.status_code}): {exc.message}") from exc
