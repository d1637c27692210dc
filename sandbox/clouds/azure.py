"""Azure stand-in: a local HTTPS endpoint answering Cost Management query POSTs.

It speaks what ``azure-mgmt-costmanagement``'s ``client.query.usage`` sends
(``POST {scope}/providers/Microsoft.CostManagement/query?api-version=...``
with a bearer token) and answers from seeded cost rows, applying the
request's ``timePeriod``, tag/dimension ``filter`` (and/or/tags/dimensions: MeterCategory,
ResourceGroupName, ChargeType),
``grouping`` (TagKey, Dimension), the ``aggregation`` columns (billing currency
or *USD), the query ``type`` (ActualCost/AmortizedCost) and daily granularity. Long answers are cut
into pages linked by ``nextLink`` (with ``$skiptoken``), as Azure does, so the
caller's paging is exercised. The certificate is self-signed; clients pass
``cert_path`` as their CA bundle.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.clouds.loopback import LoopbackServer
from sandbox.clouds.tls import write_self_signed

QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"
# The columns Cost Management aggregates (azure-mgmt-costmanagement's FunctionName); *USD in US dollars.
AGGREGATABLE = ("PreTaxCost", "PreTaxCostUSD", "Cost", "CostUSD")


@dataclass(frozen=True)
class AzureCostRow:
    """One day's cost of one meter category for resources carrying ``tags``."""

    day: date
    meter_category: str  # "Virtual Machines" | "Storage" | ...
    cost: float
    tags: dict[str, str]
    resource_group: str = "databricks-rg"
    currency: str = "USD"  # the billing currency ``cost`` is in
    usd_per_unit: float = 1.0  # exchange rate for the *USD cost columns
    # What an ActualCost query says when it differs from ``cost`` (the AmortizedCost): a VM hour
    # covered by a reservation is 0 actual but carries its share of the reservation amortized.
    actual_cost: float | None = None
    # Cost Management's ChargeType: "Usage" for what a resource consumed; "Refund" rows are negative
    # (Azure's cost data carries no credits: they are applied on the invoice).
    charge_type: str = "Usage"


class AzureStandIn(LoopbackServer):
    thread_name = "azure-stand-in"
    scheme = "https"

    def __init__(self, subscription_id: str = "00000000-0000-0000-0000-000000000001", token: str = "sandbox-token",
                 page_size: int = 1000, cert_dir: Path | None = None) -> None:
        super().__init__()
        self.subscription_id = subscription_id
        self.token = token
        self.page_size = page_size
        self._rows: list[AzureCostRow] = []
        self._lock = threading.Lock()
        self._tmp = None if cert_dir else tempfile.TemporaryDirectory(prefix="trimtab-azure-")
        self.cert_path, self._key_path = write_self_signed(cert_dir or Path(self._tmp.name))  # type: ignore[union-attr]
        self.before_query: Callable[[], None] | None = None  # lets a billing delay release bills on demand
        self.requests: deque[dict[str, Any]] = deque(maxlen=100)  # the latest queries, for tests

    @property
    def base_url(self) -> str:
        return self.endpoint_url

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def _wrap(self, httpd: ThreadingHTTPServer) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self._key_path)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)

    def stop(self) -> None:
        super().stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def add_cost(self, row: AzureCostRow) -> None:
        with self._lock:
            self._rows.append(row)

    # ------------------------------------------------------------- answering
    def answer(self, scope: str, body: dict[str, Any], skip: int) -> tuple[dict[str, Any], bool]:
        """(properties, more pages?) for a query on ``scope``."""
        if self.before_query is not None:
            self.before_query()
        period = body.get("timePeriod") or {}
        start = datetime.fromisoformat(period["from"].replace("Z", "+00:00")).date()
        end = datetime.fromisoformat(period["to"].replace("Z", "+00:00")).date()
        dataset = body.get("dataset") or {}
        keep = _predicate(dataset.get("filter"))
        group_rg = _resource_group(scope)
        with self._lock:
            rows = [r for r in self._rows if start <= r.day <= end and keep(r)
                    and (group_rg is None or r.resource_group.lower() == group_rg.lower())]
        daily = dataset.get("granularity") == "Daily"
        groupings = dataset.get("grouping") or []
        actual = body.get("type") == "ActualCost"
        aggregations = [str(a["name"]) for a in (dataset.get("aggregation") or {}).values()] or ["PreTaxCost"]
        for name in aggregations:
            if name not in AGGREGATABLE:
                raise ValueError(f"cannot aggregate column {name!r}")
        columns = [{"name": name, "type": "Number"} for name in aggregations]
        if daily:
            columns.append({"name": "UsageDate", "type": "Number"})
        for g in groupings:
            if g.get("type") == "TagKey":
                columns += [{"name": "TagKey", "type": "String"}, {"name": "TagValue", "type": "String"}]
            else:
                columns.append({"name": g["name"], "type": "String"})
        columns.append({"name": "Currency", "type": "String"})
        sums: dict[tuple[Any, ...], list[float]] = {}
        for r in rows:
            key: list[Any] = [int(r.day.strftime("%Y%m%d"))] if daily else []
            for g in groupings:
                if g.get("type") == "TagKey":
                    key += [g["name"].lower(), r.tags.get(g["name"], "")]
                else:
                    key.append(_dimension(r, g["name"]))
            key.append(r.currency)
            cost = r.actual_cost if actual and r.actual_cost is not None else r.cost
            acc = sums.setdefault(tuple(key), [0.0] * len(aggregations))
            for n, name in enumerate(aggregations):
                acc[n] += cost * r.usd_per_unit if name.endswith("USD") else cost
        out = [[*(round(v, 10) for v in vs), *k] for k, vs in sorted(sums.items())]
        page = out[skip:skip + self.page_size]
        return {"columns": columns, "rows": page}, skip + self.page_size < len(out)


def _resource_group(scope: str) -> str | None:
    parts = [p for p in scope.split("/") if p]
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else None


def _dimension(row: AzureCostRow, name: str) -> str:
    """The row's value of a Cost Management dimension the stand-in knows ("" for any other)."""
    return {"MeterCategory": row.meter_category, "ResourceGroupName": row.resource_group,
            "ChargeType": row.charge_type}.get(name, "")


def _predicate(expr: dict[str, Any] | None) -> Callable[[AzureCostRow], bool]:
    if not expr:
        return lambda _r: True
    if expr.get("and"):
        parts = [_predicate(e) for e in expr["and"]]
        return lambda r: all(p(r) for p in parts)
    if expr.get("or"):
        parts = [_predicate(e) for e in expr["or"]]
        return lambda r: any(p(r) for p in parts)
    if expr.get("tags"):
        name, values = expr["tags"]["name"], set(expr["tags"].get("values") or [])
        return lambda r: r.tags.get(name) in values
    if expr.get("dimensions"):
        name, values = expr["dimensions"]["name"], set(expr["dimensions"].get("values") or [])
        return lambda r: _dimension(r, name) in values
    raise ValueError(f"unsupported Cost Management filter {sorted(expr)}")


class _Handler(BaseHTTPRequestHandler):
    stand_in: AzureStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive + Nagle costs ~40 ms per call

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet stand-in
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Authorization") != f"Bearer {self.stand_in.token}":
            self._send(401, {"error": {"code": "AuthenticationFailed", "message": "invalid bearer token"}})
            return
        if not url.path.endswith(QUERY_SUFFIX):
            self._send(404, {"error": {"code": "NotFound", "message": f"no route {url.path}"}})
            return
        if not url.path.startswith(f"/subscriptions/{self.stand_in.subscription_id}/"):
            # What Azure answers a token with no role on the subscription named (a wrong subscription id).
            self._send(403, {"error": {"code": "AuthorizationFailed", "message": (
                "The client does not have authorization to perform action 'Microsoft.CostManagement/query/read' "
                f"over scope '{url.path[: -len(QUERY_SUFFIX)]}' or the scope is invalid.")}})
            return
        try:
            body = json.loads(raw or b"{}")
            query = parse_qs(url.query)
            skip = int(query.get("$skiptoken", ["0"])[0])
            scope = url.path[: -len(QUERY_SUFFIX)]
            self.stand_in.requests.append({"scope": scope, "body": body, "skip": skip})
            props, more = self.stand_in.answer(scope, body, skip)
        except (KeyError, ValueError, TypeError) as exc:
            self._send(400, {"error": {"code": "BadRequest", "message": str(exc)}})
            return
        props["nextLink"] = None
        if more:
            version = query.get("api-version", [""])[0]
            props["nextLink"] = (f"{self.stand_in.base_url}{url.path}?api-version={version}"
                                 f"&$skiptoken={skip + self.stand_in.page_size}")
        self._send(200, {"id": f"{url.path}/q", "name": "q", "type": "Microsoft.CostManagement/query",
                         "properties": props})
