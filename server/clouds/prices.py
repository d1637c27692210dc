"""Fresh AWS list prices from the Price List API (``pricing:GetProducts``), as catalog entries.

For each region we ask for Linux, shared-tenancy, no-preinstalled-software
EC2 instances (the product Databricks clusters run) and for EBS storage, page
through every product, and keep the instance types and volume types the
catalog already knows. Each entry names the API and the publication date, in
the same shape as ``server/costing/catalog/*.json``; the caller merges them
into a new catalog version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from server.clouds.aws import AwsCredentials
from server.errors import FailedPrecondition, Unavailable

SOURCE = "AWS Price List API (pricing:GetProducts, AmazonEC2, {what})"
# With an endpoint given (a stand-in), entries name it: a catalog refreshed from one never passes for
# AWS's own list prices.
SOURCE_AT = "AWS Price List API (pricing:GetProducts at {endpoint}, AmazonEC2, {what})"
INSTANCE_FILTERS = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
                    "capacitystatus": "Used", "productFamily": "Compute Instance"}


@dataclass
class PriceUpdate:
    compute: list[dict[str, Any]] = field(default_factory=list)
    storage: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "region node_type" the API had no price for


def _on_demand_usd(item: dict[str, Any]) -> float | None:
    """The single on-demand USD price of a product, or None when it has none (or several)."""
    terms = (item.get("terms") or {}).get("OnDemand") or {}
    prices = [dim.get("pricePerUnit", {}).get("USD") for term in terms.values()
              for dim in (term.get("priceDimensions") or {}).values()]
    prices = [p for p in prices if p is not None]
    if len(prices) != 1:
        return None
    value = float(prices[0])
    return value if value > 0 else None


class PriceListClient:
    def __init__(self, credentials: AwsCredentials, *, page_size: int = 100, max_attempts: int = 3) -> None:
        # The Price List API lives in us-east-1 (and ap-south-1) whatever region is priced.
        self._client = boto3.client(
            "pricing", region_name="us-east-1", endpoint_url=credentials.endpoint_url,
            aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            config=BotoConfig(retries={"max_attempts": max_attempts, "mode": "standard"}),
        )
        self._page_size = page_size
        self._endpoint = credentials.endpoint_url

    def source(self, what: str) -> str:
        """An entry's source: the API, and the endpoint that answered when it is not AWS's own."""
        if self._endpoint:
            return SOURCE_AT.format(endpoint=self._endpoint.rstrip("/"), what=what)
        return SOURCE.format(what=what)

    def products(self, filters: dict[str, str]) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "MaxResults": self._page_size,
            "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()],
        }
        while True:
            try:
                page = self._client.get_products(**request)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"}:
                    raise FailedPrecondition(f"AWS Price List API refused the credentials ({code})") from exc
                raise Unavailable(f"AWS Price List API failed ({code}): {exc}") from exc
            except BotoCoreError as exc:
                raise Unavailable(f"AWS Price List API unreachable: {exc}") from exc
            for raw in page.get("PriceList", []):
                yield json.loads(raw) if isinstance(raw, str) else raw
            token = page.get("NextToken")
            if not token:
                return
            request["NextToken"] = token

    def fetch(self, regions: Iterable[str], node_types: set[str], volume_types: set[str],
              today: str) -> PriceUpdate:
        """Prices of ``node_types``/``volume_types`` in ``regions``; ``today`` dates products without a publication date."""
        update = PriceUpdate()
        for region in regions:
            found: set[str] = set()
            for item in self.products(dict(INSTANCE_FILTERS, regionCode=region)):
                attrs = (item.get("product") or {}).get("attributes") or {}
                node_type = attrs.get("instanceType", "")
                price = _on_demand_usd(item)
                if node_type in node_types and price is not None and node_type not in found:
                    found.add(node_type)
                    update.compute.append({
                        "cloud": "aws", "region": region, "node_type": node_type, "usd_per_hour": price,
                        "source": self.source("Linux, shared tenancy, on-demand"),
                        "date": str(item.get("publicationDate") or today)[:10]})
            update.missing += [f"{region} {t}" for t in sorted(node_types - found)]
            for item in self.products({"productFamily": "Storage", "regionCode": region}):
                attrs = (item.get("product") or {}).get("attributes") or {}
                vtype = attrs.get("volumeApiName", "")
                price = _on_demand_usd(item)
                if vtype in volume_types and price is not None:
                    update.storage.append({
                        "cloud": "aws", "region": region, "volume_type": vtype, "usd_per_gb_month": price,
                        "source": self.source("EBS storage, GB-month"),
                        "date": str(item.get("publicationDate") or today)[:10]})
        return update
