"""The operations review's pricing findings that need no server: a run whose workspace has billing
credentials the server cannot use says so in its cost note (not "no cloud credentials"), and
re-costing leaves it alone; `prices show` says where each price came from; a refresh from another
Azure endpoint names that endpoint in its entries' source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.clouds.retail_prices import RetailPricesStandIn, vm_item
from server.cli.main import main
from server.clouds.azure_prices import SOURCE, RetailPricesClient, source_where
from server.clouds.factory import parse_cloud_credentials
from server.costing.billing import NOTE_NO_CREDENTIALS, UnusableCredentials, price_run
from server.costing.catalog import load_active_catalog, load_catalog
from server.costing.recost import recost_runs
from server.costing.run_cost import ClusterUsage, NodeUsage
from server.domain import CostBreakdown, Run
from server.errors import InvalidArgument

T0 = 1_796_444_220_000
USAGE = ClusterUsage("aws", "us-east-1", "premium", "jobs",
                     [NodeUsage("m5.xlarge", True, False, T0, T0 + 3_600_000, [])])


def test_unusable_credentials_are_named_in_the_cost_note_not_called_missing() -> None:
    # What the collector's bill source would be for credentials stored before `workspace add` checked them.
    try:
        parse_cloud_credentials("aws", json.dumps({"access_key": "x", "secret": "s3cr3t"}))
    except InvalidArgument as exc:
        source = UnusableCredentials(exc.message)
    assert "unknown keys access_key, secret" in source.why
    cost = price_run(USAGE, load_catalog(), cluster_id="c-1", start_ms=T0, end_ms=T0 + 3_600_000,
                     bill_source=source)
    assert cost.note.startswith("cloud credentials not usable: aws cloud credentials: unknown keys access_key")
    assert NOTE_NO_CREDENTIALS not in cost.note
    assert cost.source == "estimate" and cost.total > 0 and "s3cr3t" not in cost.note
    none = price_run(USAGE, load_catalog(), cluster_id="c-1", start_ms=T0, end_ms=T0 + 3_600_000, bill_source=None)
    assert none.note.startswith(NOTE_NO_CREDENTIALS)

    # Re-costing never asks unusable credentials for a bill (nor counts an error every pass).
    run = Run(project_id=1, databricks_run_id=1, cluster_id="c-1", start_ms=T0, end_ms=T0 + 3_600_000,
              cost=cost, id=7)
    stored: list[tuple[int, CostBreakdown]] = []
    report = recost_runs([run], source, now_ms=T0 + 7_200_000, set_cost=lambda i, c: stored.append((i, c)))
    assert not stored and not report.errors and not report.waiting


def test_prices_show_has_a_source_column_and_lists_the_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "show", "--cloud", "aws", "--region", "us-east-1", "--node-type", "m5.xlarge"]) == 0
    out = capsys.readouterr().out
    node_header = next(line for line in out.splitlines() if line.startswith("CLOUD  REGION     NODE TYPE"))
    assert node_header.rstrip().endswith("SOURCE")
    node_row = next(line for line in out.splitlines() if " m5.xlarge " in line)
    mark = node_row.split()[-1]
    assert mark.startswith("[") and mark.endswith("]")
    sources = out.split("Sources:", 1)[1]
    entry = load_catalog().entry("compute_prices", "aws", "us-east-1", "m5.xlarge")
    assert entry is not None and f"{mark} {entry['source']}" in sources


def test_a_refresh_from_another_endpoint_names_it_in_the_source(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert source_where(None) == "prices.azure.com" and "prices.azure.com" in SOURCE
    items = [vm_item("eastus", "Standard_D4s_v5", 0.2)]
    with RetailPricesStandIn(items) as stand_in:
        client = RetailPricesClient(stand_in.endpoint_url)
        got = client.fetch(["eastus"], ["Standard_D4s_v5"])
        (entry,) = got.compute
        assert stand_in.endpoint_url.rstrip("/") in entry["source"] and "prices.azure.com" not in entry["source"]
        code = main(["prices", "update", "--cloud", "azure", "--region", "eastus", "--state-dir", str(tmp_path),
                     "--azure-endpoint-url", stand_in.endpoint_url])
    assert code == 0, capsys.readouterr().err
    refreshed = load_active_catalog(tmp_path)
    stored = refreshed.entry("compute_prices", "azure", "eastus", "Standard_D4s_v5")
    assert stored is not None and stand_in.endpoint_url.rstrip("/") in stored["source"]
    assert "; refreshed " in refreshed.note and "azure" in refreshed.note.split("; refreshed ", 1)[1]
    capsys.readouterr()
    assert main(["prices", "show", "--cloud", "azure", "--region", "eastus", "--node-type", "Standard_D4s_v5",
                 "--state-dir", str(tmp_path)]) == 0
    assert stand_in.endpoint_url.rstrip("/") in capsys.readouterr().out
