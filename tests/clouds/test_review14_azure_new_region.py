"""`trimtab prices update --cloud azure --region R` for a region new to the catalog (review rev14g
F5): its VM prices were updated but no managed-disk price, because only the disk entries the
catalog already had were asked for. Every tier Trimtab prices is asked for in every region given.
Against the Azure Retail Prices stand-in over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.clouds.retail_prices import RetailPricesStandIn, disk_item, vm_item
from server.cli.main import main
from server.clouds.azure_prices import DISK_TIER_GIB
from server.costing.catalog import load_active_catalog, load_catalog


def test_a_new_region_gets_its_managed_disk_prices_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = [vm_item("northeurope", t, 0.05 * (i + 1)) for i, t in enumerate(load_catalog().node_types("azure"))]
    items += [disk_item("northeurope", "P10 LRS", 19.2), disk_item("northeurope", "E10 LRS", 9.6)]
    state = tmp_path / "state"
    with RetailPricesStandIn(items) as stand_in:
        code = main(["--json", "prices", "update", "--cloud", "azure", "--region", "northeurope",
                     "--azure-endpoint-url", stand_in.endpoint_url, "--state-dir", str(state)])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["storage_prices"] == 2 and result["missing"] == [], result
    fresh = load_active_catalog(state)
    assert "northeurope" in fresh.regions("azure")
    assert fresh.ebs_price("azure", "northeurope", "premium_ssd").usd_per_gb_month == pytest.approx(
        19.2 / DISK_TIER_GIB)
    assert fresh.ebs_price("azure", "northeurope", "standard_ssd").usd_per_gb_month == pytest.approx(
        9.6 / DISK_TIER_GIB)
