"""Azure VM and managed-disk prices from the Azure Retail Prices API, against the stand-in in
sandbox/clouds/retail_prices.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.clouds.retail_prices import RetailPricesStandIn, disk_item, parse_filter, vm_item
from server.cli.main import main
from server.clock import FakeClock
from server.clouds.azure_prices import (
    RetailPricesClient,
    disk_filter,
    linux_consumption_price,
    managed_disk_price,
    sku_filter,
)
from server.costing.catalog import SHIPPED_DIR, load_active_catalog, load_catalog
from server.errors import FailedPrecondition, Unavailable

D4 = "Standard_D4ds_v5"
# Monthly price of the 128 GiB tier per region: (P10 LRS, E10 LRS).
DISKS = {"eastus": (19.71, 9.6), "westeurope": (21.68, 10.56)}


def _noise(region: str, sku: str, price: float) -> list[dict]:
    """Meters of the same size the refresh must ignore, each priced so that picking it would show."""
    return [vm_item(region, sku, price * 1.9, windows=True),
            vm_item(region, sku, price * 0.2, variant=" Spot"),
            vm_item(region, sku, price * 0.2, variant=" Low Priority"),
            vm_item(region, sku, price * 0.6, price_type="Reservation"),
            vm_item(region, sku, price * 0.5, price_type="DevTestConsumption")]


def _disk_noise(region: str, sku: str, price: float) -> list[dict]:
    """Other meters of the same disk product the refresh must ignore, priced so that picking one would show."""
    bigger = sku.replace("10", "20")
    return [disk_item(region, sku, 1.5, meter=" Disk Mount"),
            disk_item(region, sku, 0.002, meter=" Disk Operations", unit="10K"),
            disk_item(region, sku, price * 0.7, price_type="Reservation"),
            disk_item(region, sku, price * 0.5, price_type="DevTestConsumption"),
            disk_item(region, bigger, price * 2),
            disk_item(region, sku.replace("LRS", "ZRS"), price * 1.5)]


@pytest.fixture
def retail() -> Iterator[RetailPricesStandIn]:
    items = []
    for region, scale in (("eastus", 1.0), ("westeurope", 1.1)):
        for sku in load_catalog().node_types("azure"):
            price = round(0.05 * scale * int("".join(c for c in sku.split("_")[1] if c.isdigit())), 4)
            items += _noise(region, sku, price) + [vm_item(region, sku, price)]
    # One size the API does not list in westeurope: it must be reported and kept.
    items = [i for i in items if not (i["armRegionName"] == "westeurope" and i["armSkuName"] == "Standard_E32s_v5")]
    for region, (p10, e10) in DISKS.items():
        items += _disk_noise(region, "P10 LRS", p10) + [disk_item(region, "P10 LRS", p10)]
        items += _disk_noise(region, "E10 LRS", e10)
        # Standard SSD's disk meter is missing in westeurope: reported, and the old entry kept.
        if region != "westeurope":
            items.append(disk_item(region, "E10 LRS", e10))
    with RetailPricesStandIn(items, page_size=2) as stand_in:
        yield stand_in


def test_filter_is_odata_eq_and_and_with_quotes_escaped() -> None:
    text = sku_filter("eastus", "Standard_D4ds_v5")
    assert text == ("serviceName eq 'Virtual Machines' and armRegionName eq 'eastus' "
                    "and armSkuName eq 'Standard_D4ds_v5'")
    assert parse_filter(sku_filter("east'us", D4))["armRegionName"] == "east'us"


def test_selection_keeps_linux_pay_as_you_go_only() -> None:
    items = _noise("eastus", D4, 0.226) + [vm_item("eastus", D4, 0.226)]
    entry = linux_consumption_price(items, "eastus", D4)
    assert entry is not None and entry["usd_per_hour"] == 0.226 and entry["date"] == "2026-10-01"
    assert "Azure Retail Prices API" in entry["source"]
    assert linux_consumption_price(_noise("eastus", D4, 0.226), "eastus", D4) is None
    # A newer price wins over an older one still listed; a primary meter over a non-primary one.
    newer = vm_item("eastus", D4, 0.23, effective_start="2026-11-15T00:00:00Z")
    assert linux_consumption_price(items + [newer], "eastus", D4)["usd_per_hour"] == 0.23  # type: ignore[index]
    other = vm_item("eastus", D4, 0.3, effective_start="2026-12-01T00:00:00Z", primary=False)
    assert linux_consumption_price(items + [other], "eastus", D4)["usd_per_hour"] == 0.226  # type: ignore[index]


def test_disk_filter_asks_for_the_128_gib_tier() -> None:
    assert parse_filter(disk_filter("eastus", "premium_ssd")) == {
        "serviceName": "Storage", "armRegionName": "eastus", "productName": "Premium SSD Managed Disks",
        "skuName": "P10 LRS"}
    assert parse_filter(disk_filter("eastus", "standard_ssd"))["skuName"] == "E10 LRS"


def test_disk_selection_keeps_the_monthly_disk_meter_per_gb() -> None:
    items = _disk_noise("eastus", "P10 LRS", 19.71) + [disk_item("eastus", "P10 LRS", 19.71)]
    entry = managed_disk_price(items, "eastus", "premium_ssd")
    assert entry is not None
    assert entry["usd_per_gb_month"] == pytest.approx(19.71 / 128, abs=1e-6) and entry["usd_per_gb_month"] == 0.153984
    assert entry["volume_type"] == "premium_ssd" and entry["date"] == "2026-10-01"
    assert "Azure Retail Prices API" in entry["source"] and "128 GiB" in entry["source"]
    # Mount, transactions, reservations, dev/test, P20 and ZRS alone give no price.
    assert managed_disk_price(_disk_noise("eastus", "P10 LRS", 19.71), "eastus", "premium_ssd") is None
    # A Standard SSD query does not pick a Premium meter, nor another region's.
    assert managed_disk_price(items, "eastus", "standard_ssd") is None
    assert managed_disk_price(items, "westeurope", "premium_ssd") is None
    newer = disk_item("eastus", "P10 LRS", 20.48, effective_start="2026-11-15T00:00:00Z")
    assert managed_disk_price(items + [newer], "eastus", "premium_ssd")["usd_per_gb_month"] == 0.16  # type: ignore[index]


def test_disks_fetched_over_pages_missing_reported(retail: RetailPricesStandIn) -> None:
    keys = [(r, v) for r in DISKS for v in ("premium_ssd", "standard_ssd")] + [("eastus", "ultra_ssd")]
    got = RetailPricesClient(retail.endpoint_url).fetch_disks(keys)
    assert {(e["region"], e["volume_type"], e["usd_per_gb_month"]) for e in got.storage} == {
        ("eastus", "premium_ssd", round(19.71 / 128, 6)), ("eastus", "standard_ssd", 0.075),
        ("westeurope", "premium_ssd", round(21.68 / 128, 6))}
    assert got.missing == ["eastus ultra_ssd", "westeurope standard_ssd"] and not got.compute
    assert sum("%24skip=" in r for r in retail.requests) >= 4  # seven meters per query at two per page
    assert not any("ultra" in r for r in retail.requests)  # a type without a tier is not asked for


def test_pages_are_followed_and_noise_ignored(retail: RetailPricesStandIn) -> None:
    got = RetailPricesClient(retail.endpoint_url).fetch(["eastus", "westeurope"], [D4, "Standard_E32s_v5"])
    assert {(e["region"], e["node_type"], e["usd_per_hour"]) for e in got.compute} == {
        ("eastus", D4, 0.2), ("westeurope", D4, 0.22), ("eastus", "Standard_E32s_v5", 1.6)}
    assert got.missing == ["westeurope Standard_E32s_v5"]
    # Six meters per size at two per page: the client followed NextPageLink.
    assert sum("%24skip=" in r for r in retail.requests) >= 2 * 3
    assert all("api-version=2023-01-01-preview" in r for r in retail.requests)


def test_http_500_is_retried_then_a_clear_error(retail: RetailPricesStandIn) -> None:
    clock = FakeClock()
    retail.failures.extend([500])
    got = RetailPricesClient(retail.endpoint_url, clock=clock).fetch(["eastus"], [D4])
    assert [e["usd_per_hour"] for e in got.compute] == [0.2]
    retail.failures.extend([503, 500, 500])
    with pytest.raises(Unavailable, match=r"failed after 3 attempt\(s\): HTTP 500"):
        RetailPricesClient(retail.endpoint_url, clock=clock).fetch(["eastus"], [D4])
    assert clock.monotonic() > 1_700_000_000 + 1  # backed off on the clock, not in real time


def test_bad_json_timeout_and_refused_query_are_clear_errors(retail: RetailPricesStandIn) -> None:
    retail.failures.append("bad-json")
    with pytest.raises(Unavailable, match="not JSON"):
        RetailPricesClient(retail.endpoint_url).fetch(["eastus"], [D4])
    retail.failures.extend([("delay", 1.0), ("delay", 1.0)])
    with pytest.raises(Unavailable, match=r"no answer within 0.2s"):
        RetailPricesClient(retail.endpoint_url, timeout_s=0.2, max_attempts=2, clock=FakeClock()).fetch(
            ["eastus"], [D4])
    retail.failures.append(400)
    with pytest.raises(FailedPrecondition, match="refused the query"):
        RetailPricesClient(retail.endpoint_url).fetch(["eastus"], [D4])


def _no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_update_all_without_aws_credentials_refreshes_azure(retail: RetailPricesStandIn, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _no_aws(monkeypatch, tmp_path)
    state = tmp_path / "state"
    code = main(["prices", "update", "--state-dir", str(state), "--azure-endpoint-url", retail.endpoint_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "AWS skipped: no AWS credentials found" in out
    assert "Not offered by the Azure Retail Prices API" in out and "westeurope Standard_E32s_v5" in out
    assert "and 3 managed-disk prices" in out and "westeurope standard_ssd" in out

    shipped, fresh = load_catalog(), load_active_catalog(state)
    assert fresh.version.endswith("-azure") and fresh.version != shipped.version
    assert fresh.hourly_price("azure", "eastus", D4) == 0.2 != shipped.hourly_price("azure", "eastus", D4)
    assert fresh.hourly_price("azure", "westeurope", D4) == 0.22
    assert fresh.entry("compute_prices", "azure", "westeurope", D4)["date"] == "2026-10-01"  # type: ignore[index]
    # The size the API lacks keeps its old entry; AWS is untouched.
    assert (fresh.entry("compute_prices", "azure", "westeurope", "Standard_E32s_v5")
            == shipped.entry("compute_prices", "azure", "westeurope", "Standard_E32s_v5"))
    # Storage: the Azure disk entries changed (the one the API lacks kept), AWS's did not, order kept.
    assert ([e for e in fresh.entries["storage_prices"] if e["cloud"] == "aws"]
            == [e for e in shipped.entries["storage_prices"] if e["cloud"] == "aws"])
    assert [(e["region"], e["volume_type"]) for e in fresh.entries["storage_prices"]] == [
        (e["region"], e["volume_type"]) for e in shipped.entries["storage_prices"]]
    premium = fresh.entry("storage_prices", "azure", "eastus", "premium_ssd")
    assert premium is not None and premium["usd_per_gb_month"] == round(19.71 / 128, 6)
    assert premium["date"] == "2026-10-01" and "Azure Retail Prices API" in premium["source"]
    assert fresh.entry("storage_prices", "azure", "eastus", "standard_ssd")["usd_per_gb_month"] == 0.075  # type: ignore[index]
    assert (fresh.entry("storage_prices", "azure", "westeurope", "standard_ssd")
            == shipped.entry("storage_prices", "azure", "westeurope", "standard_ssd"))
    changed = [a for a, b in zip(fresh.entries["storage_prices"], shipped.entries["storage_prices"], strict=True)
               if a != b]
    assert {e["cloud"] for e in changed} == {"azure"} and len(changed) == 3
    # The file on disk too: every AWS line is byte-for-byte the shipped one.
    aws_lines = [ln for ln in (state / "prices" / "storage_prices.json").read_text().splitlines()
                 if '"cloud": "aws"' in ln]
    shipped_path = SHIPPED_DIR / "storage_prices.json"
    assert aws_lines and aws_lines == [ln for ln in shipped_path.read_text().splitlines() if '"cloud": "aws"' in ln]
    for region in shipped.regions("aws"):
        for nt in shipped.node_types("aws"):
            assert fresh.entry("compute_prices", "aws", region, nt) == shipped.entry("compute_prices", "aws",
                                                                                     region, nt)


def test_update_azure_json_and_a_failing_api_writes_nothing(retail: RetailPricesStandIn, tmp_path: Path,
                                                            capsys) -> None:
    state = tmp_path / "state"
    retail.failures.append("bad-json")
    code = main(["prices", "update", "--cloud", "azure", "--state-dir", str(state),
                 "--azure-endpoint-url", retail.endpoint_url])
    err = capsys.readouterr().err
    assert code == 1 and "Azure Retail Prices API returned a body that is not JSON" in err
    assert not (state / "prices").exists()

    code = main(["--json", "prices", "update", "--cloud", "azure", "--region", "eastus", "--state-dir", str(state),
                 "--azure-endpoint-url", retail.endpoint_url])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["clouds"] == ["azure"] and result["missing"] == [] and result["storage_prices"] == 2
    assert result["compute_prices"] == len(load_catalog().node_types("azure"))
    fresh = load_active_catalog(state)
    assert fresh.version == result["version"]
    # Only eastus was asked for: westeurope keeps its (derived) shipped price.
    assert "derived" in fresh.entry("compute_prices", "azure", "westeurope", D4)["source"]  # type: ignore[index]


def test_update_aws_only_still_needs_credentials(retail: RetailPricesStandIn, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _no_aws(monkeypatch, tmp_path)
    code = main(["prices", "update", "--cloud", "aws", "--state-dir", str(tmp_path / "state"),
                 "--azure-endpoint-url", retail.endpoint_url])
    assert code == 1
    assert "no AWS credentials found" in capsys.readouterr().err
    assert not (tmp_path / "state" / "prices").exists() and not retail.requests


def test_update_all_with_aws_credentials_refreshes_both(retail: RetailPricesStandIn, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sandbox.clouds.pricing import PricingStandIn, instance_product

    _no_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    state = tmp_path / "state"
    with PricingStandIn() as aws_pricing:
        aws_pricing.products.append(instance_product("us-east-1", "m5.xlarge", 0.2))
        code = main(["prices", "update", "--state-dir", str(state), "--region", "us-east-1", "--region", "eastus",
                     "--endpoint-url", aws_pricing.endpoint_url, "--azure-endpoint-url", retail.endpoint_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Updated 1 instance prices" in out and "managed-disk prices in eastus." in out and "skipped" not in out
    fresh = load_active_catalog(state)
    assert fresh.version.endswith("-aws-azure")
    assert fresh.hourly_price("aws", "us-east-1", "m5.xlarge") == 0.2
    assert fresh.hourly_price("azure", "eastus", D4) == 0.2
    assert all("/api/retail/prices" in r and "eastus" in r for r in retail.requests)
