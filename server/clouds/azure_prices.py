"""Fresh Azure VM list prices from the Azure Retail Prices API, as catalog entries.

The API (``GET https://prices.azure.com/api/retail/prices``) is public and needs
no credentials. For each (region, node type) the catalog knows we ask for the
``Virtual Machines`` meters of that ``armSkuName`` in that ``armRegionName``,
follow ``NextPageLink`` to the end, and keep the Linux pay-as-you-go price:
``type`` "Consumption" (not "Reservation" or "DevTestConsumption"), not a
Windows product, not a Spot or Low Priority SKU, USD per "1 Hour". One query
per SKU keeps each answer to a page or two (a region-wide query is thousands
of meters), and uses only ``eq``/``and`` in ``$filter``, which the API
documents. Filter values are case-sensitive from api-version 2023-01-01-preview
on, so SKU and region names are passed exactly as the catalog spells them.

Managed disks (the catalog's Azure ``storage_prices``) come from the same API:
the ``Storage`` meters of one disk tier (``productName`` + ``skuName``, see
``DISK_TIERS``) per region, keeping the pay-as-you-go monthly disk meter
(``meterName`` "<skuName> Disk", "1/Month"), not the "Disk Mount" or "Disk
Operations" meters that share the SKU, and not reservations.

Parsing and selection (``linux_consumption_price``, ``select_prices``,
``managed_disk_price``, ``select_disk_prices``) are pure;
``RetailPricesClient`` does the HTTP, with a timeout per request and retries
with backoff (on the injected clock) for throttling, 5xx and network errors.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from server.clock import Clock, SystemClock
from server.errors import FailedPrecondition, Unavailable

API_URL = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"
# Each entry's source names the endpoint that answered: prices.azure.com, or the stand-in given with
# `trimtab prices update --azure-endpoint-url`, so a catalog refreshed from a stand-in never passes for
# Azure's own list prices.
SOURCE_TEMPLATE = "Azure Retail Prices API ({where}, Virtual Machines, Linux, pay-as-you-go)"
DISK_SOURCE_TEMPLATE = ("Azure Retail Prices API ({where}, Storage, managed disks, pay-as-you-go; "
                        "per-GB-month equivalent of the 128 GiB tier)")
SOURCE = SOURCE_TEMPLATE.format(where="prices.azure.com")
DISK_SOURCE = DISK_SOURCE_TEMPLATE.format(where="prices.azure.com")
# Managed disks are billed per provisioned size tier (a 100 GiB disk pays the 128 GiB tier), not
# per GB; the catalog stores one $/GB-month per volume type, and by its convention that is the
# 128 GiB tier's monthly price / 128 (the shipped entries were transcribed the same way), so a
# refresh stays comparable with them. volume_type -> (productName, skuName) of that tier, LRS.
DISK_TIER_GIB = 128
DISK_TIERS: dict[str, tuple[str, str]] = {
    "premium_ssd": ("Premium SSD Managed Disks", "P10 LRS"),
    "standard_ssd": ("Standard SSD Managed Disks", "E10 LRS"),
}
# A guard against a NextPageLink that never ends; one SKU in one region is a handful of meters.
MAX_PAGES = 200
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass
class AzurePriceUpdate:
    compute: list[dict[str, Any]] = field(default_factory=list)
    storage: list[dict[str, Any]] = field(default_factory=list)
    # "region node_type" / "region volume_type" the API had no price for
    missing: list[str] = field(default_factory=list)


def _odata_eq(**fields: str) -> str:
    """``a eq 'x' and b eq 'y'`` (values quoted, ``'`` doubled as OData escapes it)."""
    return " and ".join(f"{k} eq '" + v.replace("'", "''") + "'" for k, v in fields.items())


def sku_filter(region: str, node_type: str) -> str:
    """The OData ``$filter`` for one VM size in one region."""
    return _odata_eq(serviceName="Virtual Machines", armRegionName=region, armSkuName=node_type)


def disk_filter(region: str, volume_type: str) -> str:
    """The OData ``$filter`` for one managed-disk tier in one region (KeyError for a type not in DISK_TIERS)."""
    product, sku = DISK_TIERS[volume_type]
    return _odata_eq(serviceName="Storage", armRegionName=region, productName=product, skuName=sku)


def is_linux_consumption(item: dict[str, Any]) -> bool:
    """True for the meter a Databricks cluster node is billed on: Linux, pay-as-you-go, regular priority."""
    sku_name = str(item.get("skuName") or "")
    return (item.get("type") == "Consumption"
            and item.get("serviceName", "Virtual Machines") == "Virtual Machines"
            and "Windows" not in str(item.get("productName") or "")
            and not sku_name.endswith(" Spot") and not sku_name.endswith(" Low Priority")
            and str(item.get("currencyCode") or "USD") == "USD"
            and item.get("unitOfMeasure") == "1 Hour"
            # Tiered meters start at 0; a later tier is not the list price of the first hour.
            and float(item.get("tierMinimumUnits") or 0) == 0)


def _current_price(items: Iterable[dict[str, Any]]) -> tuple[str, float] | None:
    """(effectiveStartDate, price) of the meter charged today among matching items: a positive
    price, the primary meter region first, then the latest start (an older price that is still
    listed is not the one charged today)."""
    candidates = []
    for item in items:
        try:
            price = float(item.get("retailPrice", item.get("unitPrice")))
        except (TypeError, ValueError):
            continue
        if price > 0:
            candidates.append((item.get("isPrimaryMeterRegion") is not False,
                               str(item.get("effectiveStartDate") or ""), price))
    if not candidates:
        return None
    _, start, price = max(candidates)
    return start, price


def source_where(endpoint_url: str | None) -> str:
    """How an entry's source names the endpoint: "prices.azure.com" for Azure's own, else the URL given."""
    url = (endpoint_url or API_URL).rstrip("/")
    return "prices.azure.com" if url in (API_URL, "https://prices.azure.com") else url


def linux_consumption_price(items: Iterable[dict[str, Any]], region: str,
                            node_type: str, source: str = SOURCE) -> dict[str, Any] | None:
    """The catalog entry for ``node_type`` in ``region`` from the API's items, or None if none fits.

    With api-version 2023-01-01-preview the API also returns non-primary meters of
    the same size; the primary meter wins, then the latest ``effectiveStartDate``
    (an older price that is still listed is not the one charged today).
    """
    best = _current_price(i for i in items if i.get("armRegionName") == region
                          and i.get("armSkuName") == node_type and is_linux_consumption(i))
    if best is None:
        return None
    start, price = best
    return {"cloud": "azure", "region": region, "node_type": node_type, "usd_per_hour": price,
            "source": source, "date": start[:10]}


def select_prices(items_by_key: dict[tuple[str, str], list[dict[str, Any]]],
                  source: str = SOURCE) -> AzurePriceUpdate:
    """Catalog entries for every (region, node_type) key; keys without a fitting item are ``missing``."""
    update = AzurePriceUpdate()
    for region, node_type in sorted(items_by_key):
        entry = linux_consumption_price(items_by_key[(region, node_type)], region, node_type, source)
        if entry is None or not entry["date"]:
            update.missing.append(f"{region} {node_type}")
        else:
            update.compute.append(entry)
    return update


def is_disk_consumption(item: dict[str, Any], product: str, sku: str) -> bool:
    """True for the pay-as-you-go monthly price of one disk of tier ``sku``.

    The same product and skuName also list "<sku> Disk Mount" (1/Month, for shared disks)
    and "<sku> Disk Operations" (per 10K transactions), hence the exact meterName.
    """
    return (item.get("type") == "Consumption"
            and item.get("serviceName", "Storage") == "Storage"
            and item.get("productName") == product and item.get("skuName") == sku
            and item.get("meterName") == f"{sku} Disk"
            and str(item.get("currencyCode") or "USD") == "USD"
            and item.get("unitOfMeasure") == "1/Month"
            and float(item.get("tierMinimumUnits") or 0) == 0)


def managed_disk_price(items: Iterable[dict[str, Any]], region: str,
                       volume_type: str, source: str = DISK_SOURCE) -> dict[str, Any] | None:
    """The catalog entry for ``volume_type`` in ``region``: the tier's monthly price / DISK_TIER_GIB.

    As for VMs, the primary meter region wins, then the latest ``effectiveStartDate``.
    """
    product, sku = DISK_TIERS[volume_type]
    best = _current_price(i for i in items
                          if i.get("armRegionName") == region and is_disk_consumption(i, product, sku))
    if best is None:
        return None
    start, price = best
    # Rounded to 1e-6 $/GB-month (under a cent a month on a 10 TB volume) so the file stays readable.
    return {"cloud": "azure", "region": region, "volume_type": volume_type,
            "usd_per_gb_month": round(price / DISK_TIER_GIB, 6), "source": source, "date": start[:10]}


def select_disk_prices(items_by_key: dict[tuple[str, str], list[dict[str, Any]]],
                       source: str = DISK_SOURCE) -> AzurePriceUpdate:
    """Storage entries for every (region, volume_type) key; keys without a fitting item are ``missing``."""
    update = AzurePriceUpdate()
    for region, volume_type in sorted(items_by_key):
        entry = (managed_disk_price(items_by_key[(region, volume_type)], region, volume_type, source)
                 if volume_type in DISK_TIERS else None)
        if entry is None or not entry["date"]:
            update.missing.append(f"{region} {volume_type}")
        else:
            update.storage.append(entry)
    return update


def parse_page(body: bytes, url: str) -> tuple[list[dict[str, Any]], str | None]:
    """``Items`` and ``NextPageLink`` of one answer; anything else is an Unavailable naming the URL."""
    try:
        page = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unavailable(f"Azure Retail Prices API returned a body that is not JSON ({url}): {exc}") from exc
    if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
        raise Unavailable(f"Azure Retail Prices API returned JSON without an 'Items' list ({url})")
    items = [i for i in page["Items"] if isinstance(i, dict)]
    nxt = page.get("NextPageLink")
    return items, (nxt if isinstance(nxt, str) and nxt else None)


class RetailPricesClient:
    def __init__(self, endpoint_url: str | None = None, *, timeout_s: float = 30.0, max_attempts: int = 3,
                 backoff_s: float = 1.0, clock: Clock | None = None) -> None:
        self._url = (endpoint_url or API_URL).rstrip("/")
        if not self._url.endswith("/api/retail/prices"):
            self._url += "/api/retail/prices"
        where = source_where(self._url)
        self.source = SOURCE_TEMPLATE.format(where=where)
        self.disk_source = DISK_SOURCE_TEMPLATE.format(where=where)
        self._timeout_s = timeout_s
        self._max_attempts = max(1, max_attempts)
        self._backoff_s = backoff_s
        self._clock = clock or SystemClock()

    def first_page_url(self, odata_filter: str) -> str:
        query = urllib.parse.urlencode({"api-version": API_VERSION, "$filter": odata_filter},
                                       quote_via=urllib.parse.quote)
        return f"{self._url}?{query}"

    def _get(self, url: str) -> bytes:
        last = ""
        for attempt in range(self._max_attempts):
            if attempt:
                self._clock.sleep(self._backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                           "User-Agent": "trimtab-prices"})
            try:
                with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 - https/http URL we build
                    return response.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200].decode("utf-8", "replace").strip()
                if exc.code not in RETRYABLE_STATUS:
                    raise FailedPrecondition(
                        f"Azure Retail Prices API refused the query (HTTP {exc.code}): {detail or exc.reason}") from exc
                last = f"HTTP {exc.code}" + (f": {detail}" if detail else "")
            except TimeoutError as exc:
                last = f"no answer within {self._timeout_s:g}s ({exc})"
            except urllib.error.URLError as exc:
                reason = exc.reason
                last = (f"no answer within {self._timeout_s:g}s" if isinstance(reason, TimeoutError)
                        else f"unreachable ({reason})")
            except OSError as exc:  # connection reset mid-body and the like
                last = f"connection failed ({exc})"
        raise Unavailable(f"Azure Retail Prices API failed after {self._max_attempts} attempt(s): {last}")

    def _pages(self, odata_filter: str, what: str) -> Iterator[dict[str, Any]]:
        url: str | None = self.first_page_url(odata_filter)
        pages = 0
        while url:
            pages += 1
            if pages > MAX_PAGES:
                raise Unavailable(f"Azure Retail Prices API kept paging past {MAX_PAGES} pages for {what}")
            items, url = parse_page(self._get(url), url)
            yield from items

    def items(self, region: str, node_type: str) -> Iterator[dict[str, Any]]:
        return self._pages(sku_filter(region, node_type), f"{node_type} in {region}")

    def disk_items(self, region: str, volume_type: str) -> Iterator[dict[str, Any]]:
        return self._pages(disk_filter(region, volume_type), f"{volume_type} disks in {region}")

    def fetch(self, regions: Iterable[str], node_types: Iterable[str]) -> AzurePriceUpdate:
        """Linux pay-as-you-go prices of ``node_types`` in ``regions``; what the API lacks is ``missing``."""
        wanted = sorted(set(node_types))
        found = {(r, t): list(self.items(r, t)) for r in regions for t in wanted}
        return select_prices(found, self.source)

    def fetch_disks(self, keys: Iterable[tuple[str, str]]) -> AzurePriceUpdate:
        """Managed-disk prices for (region, volume_type) keys; a type not in DISK_TIERS is not asked for
        and, like what the API lacks, ends up ``missing``."""
        found = {(r, v): (list(self.disk_items(r, v)) if v in DISK_TIERS else []) for r, v in set(keys)}
        return select_disk_prices(found, self.disk_source)
