"""AWS Price List API stand-in: moto has no ``pricing`` backend, so this small HTTP server speaks it.

It answers ``AWSPriceListService.GetProducts`` in the AWS JSON 1.1 protocol
boto3 uses (POST /, ``X-Amz-Target`` header, JSON body): TERM_MATCH filters
on product attributes, ``MaxResults``/``NextToken`` paging, and each product
as a JSON *string* in ``PriceList`` with its on-demand terms, as AWS returns
them. Requests are not signature-checked (any dummy keys work).
"""

from __future__ import annotations

import json
import zlib
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.clouds.loopback import LoopbackServer

PUBLICATION_DATE = "2026-11-01T00:00:00Z"


def instance_product(region: str, instance_type: str, usd_per_hour: float, *, os_name: str = "Linux",
                     tenancy: str = "Shared", capacity: str = "Used") -> dict[str, Any]:
    sku = f"SKU{zlib.crc32(f'{region}/{instance_type}/{os_name}/{tenancy}/{capacity}'.encode()):010d}"
    return {
        "product": {"productFamily": "Compute Instance", "sku": sku, "attributes": {
            "servicecode": "AmazonEC2", "regionCode": region, "instanceType": instance_type,
            "operatingSystem": os_name, "tenancy": tenancy, "preInstalledSw": "NA", "capacitystatus": capacity}},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {"priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
            "unit": "Hrs", "pricePerUnit": {"USD": f"{usd_per_hour:.10f}"},
            "description": f"${usd_per_hour} per On Demand {os_name} {instance_type} Instance Hour"}}}}},
        "publicationDate": PUBLICATION_DATE,
    }


def storage_product(region: str, volume_api_name: str, usd_per_gb_month: float) -> dict[str, Any]:
    sku = f"EBS{zlib.crc32(f'{region}/{volume_api_name}'.encode()):010d}"
    return {
        "product": {"productFamily": "Storage", "sku": sku, "attributes": {
            "servicecode": "AmazonEC2", "regionCode": region, "volumeApiName": volume_api_name}},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {"priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
            "unit": "GB-Mo", "pricePerUnit": {"USD": f"{usd_per_gb_month:.10f}"}}}}}},
        "publicationDate": PUBLICATION_DATE,
    }


class PricingStandIn(LoopbackServer):
    thread_name = "pricing-stand-in"

    def __init__(self) -> None:
        super().__init__()
        self.products: list[dict[str, Any]] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=100)  # the latest queries, for tests

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def get_products(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        wanted = {f["Field"]: f["Value"] for f in body.get("Filters", []) if f.get("Type") == "TERM_MATCH"}
        matches = [p for p in self.products
                   if p["serviceCode"] == body.get("ServiceCode")
                   and all(_attr(p, k) == v for k, v in wanted.items())]
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 100)
        out: dict[str, Any] = {"FormatVersion": "aws_v1",
                               "PriceList": [json.dumps(p) for p in matches[start:start + size]]}
        if start + size < len(matches):
            out["NextToken"] = str(start + size)
        return out


def _attr(product: dict[str, Any], field: str) -> str | None:
    if field == "productFamily":
        return product["product"].get("productFamily")
    return product["product"]["attributes"].get(field)


class _Handler(BaseHTTPRequestHandler):
    stand_in: PricingStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet stand-in
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".GetProducts"):
            status, payload = 200, self.stand_in.get_products(json.loads(raw or b"{}"))
        else:
            status, payload = 400, {"__type": "InvalidParameterException", "message": f"unsupported {target}"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
