"""Azure Retail Prices API stand-in: ``GET /api/retail/prices`` over plain HTTP on 127.0.0.1.

It serves the items it is given as the real API does: ``{"BillingCurrency",
"Items", "NextPageLink", "Count"}``, ``page_size`` items per page, the next
page linked by ``NextPageLink`` (``$skip``, like the real links). ``$filter``
understands ``field eq 'value'`` clauses joined by ``and`` on any item field
(case-sensitive, as from api-version 2023-01-01-preview); anything else is a
400, as the real API rejects what it cannot parse. Tests can queue failures:
an HTTP status, a body that is not JSON, or a delay longer than the client's
timeout.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.clouds.loopback import LoopbackServer

EFFECTIVE_START = "2026-10-01T00:00:00Z"
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")


def vm_item(region: str, sku: str, usd_per_hour: float, *, price_type: str = "Consumption",
            windows: bool = False, variant: str = "", effective_start: str = EFFECTIVE_START,
            primary: bool = True) -> dict[str, Any]:
    """One VM meter as the API lists it; ``variant`` is "" or " Spot" or " Low Priority"."""
    size = sku.removeprefix("Standard_").replace("_", " ")
    # The real names read "Virtual Machines Ddsv5 Series" (and "... Series Windows"); close enough here.
    product = f"Virtual Machines {size} Series" + (" Windows" if windows else "")
    item: dict[str, Any] = {
        "currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": usd_per_hour, "unitPrice": usd_per_hour,
        "armRegionName": region, "location": region, "effectiveStartDate": effective_start,
        "meterId": f"{region}-{sku}-{price_type}-{windows}-{variant.strip()}", "meterName": f"{size}{variant}",
        "productId": "DZH318Z0BQ4B", "skuId": "DZH318Z0BQ4B/00TG", "productName": product,
        "skuName": f"{size}{variant}", "serviceName": "Virtual Machines", "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": price_type,
        "isPrimaryMeterRegion": primary, "armSkuName": sku,
    }
    if price_type == "Reservation":
        item["reservationTerm"] = "1 Year"
    return item


def disk_item(region: str, sku: str, usd: float, *, meter: str = " Disk", unit: str = "1/Month",
              price_type: str = "Consumption", effective_start: str = EFFECTIVE_START,
              primary: bool = True) -> dict[str, Any]:
    """One managed-disk meter as the API lists it: ``sku`` "P10 LRS" (Premium SSD) or "E10 LRS"
    (Standard SSD); ``meter`` " Disk" is the monthly disk price, " Disk Mount" and " Disk Operations"
    (unit "10K") are the other meters of the same SKU."""
    product = {"P": "Premium SSD Managed Disks", "E": "Standard SSD Managed Disks",
               "S": "Standard HDD Managed Disks"}[sku[0]]
    item: dict[str, Any] = {
        "currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": usd, "unitPrice": usd,
        "armRegionName": region, "location": region, "effectiveStartDate": effective_start,
        "meterId": f"{region}-{sku}-{meter.strip()}-{price_type}", "meterName": f"{sku}{meter}",
        "productId": "DZH318Z0BP04", "skuId": "DZH318Z0BP04/00BW", "productName": product,
        "skuName": sku, "serviceName": "Storage", "serviceId": "DZH317F1HKN0", "serviceFamily": "Storage",
        "unitOfMeasure": unit, "type": price_type, "isPrimaryMeterRegion": primary, "armSkuName": "",
    }
    if price_type == "Reservation":
        item["reservationTerm"] = "1 Year"
    return item


def parse_filter(text: str) -> dict[str, str]:
    """``a eq 'x' and b eq 'y'`` -> {a: x, b: y}; ValueError for what this stand-in does not speak."""
    if not text.strip():
        return {}
    out: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", text.strip()):
        m = _CLAUSE.match(clause)
        if not m:
            raise ValueError(f"Invalid OData filter clause: {clause!r}")
        out[m.group(1)] = m.group(2).replace("''", "'")
    return out


class RetailPricesStandIn(LoopbackServer):
    thread_name = "retail-prices-stand-in"

    def __init__(self, items: list[dict[str, Any]] | None = None, *, page_size: int = 100) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = list(items or [])
        self.page_size = page_size
        self.requests: deque[str] = deque(maxlen=500)  # request paths with query, for tests
        # Failures served before normal answers, one per request: an int status, "bad-json",
        # or ("delay", seconds) to outwait a client's timeout.
        self.failures: deque[Any] = deque()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def page(self, query: dict[str, str]) -> dict[str, Any]:
        wanted = parse_filter(query.get("$filter", ""))
        matches = [i for i in self.items if all(str(i.get(k)) == v for k, v in wanted.items())]
        skip = int(query.get("$skip") or 0)
        out: dict[str, Any] = {"BillingCurrency": "USD", "CustomerEntityId": "Default",
                               "CustomerEntityType": "Retail", "Items": matches[skip:skip + self.page_size],
                               "NextPageLink": None, "Count": len(matches[skip:skip + self.page_size])}
        if skip + self.page_size < len(matches):
            nxt = dict(query, **{"$skip": str(skip + self.page_size)})
            out["NextPageLink"] = (f"{self.endpoint_url}/api/retail/prices?"
                                   + urllib.parse.urlencode(nxt, quote_via=urllib.parse.quote))
        return out


class _Handler(BaseHTTPRequestHandler):
    stand_in: RetailPricesStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet stand-in
        pass

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.stand_in.requests.append(self.path)
        parts = urllib.parse.urlsplit(self.path)
        if parts.path.rstrip("/") != "/api/retail/prices":
            self._send(404, json.dumps({"Error": {"Message": f"no route {parts.path}"}}).encode())
            return
        failure = self.stand_in.failures.popleft() if self.stand_in.failures else None
        if isinstance(failure, tuple) and failure[0] == "delay":
            time.sleep(float(failure[1]))
            failure = None
        if failure == "bad-json":
            self._send(200, b"<html>upstream gateway error</html>")
            return
        if isinstance(failure, int):
            self._send(failure, json.dumps({"Error": {"Message": f"stand-in failure {failure}"}}).encode())
            return
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        try:
            payload = self.stand_in.page(query)
        except ValueError as exc:
            self._send(400, json.dumps({"Error": {"Code": "BadRequest", "Message": str(exc)}}).encode())
            return
        self._send(200, json.dumps(payload).encode())
