"""`trimtab prices update|show` against the Price List API stand-in, with the real boto3 client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.clouds.pricing import PricingStandIn, instance_product, storage_product
from server.cli.main import main
from server.clouds.aws import AwsCredentials
from server.clouds.prices import PriceListClient
from server.costing.catalog import load_active_catalog, load_catalog


@pytest.fixture
def pricing() -> Iterator[PricingStandIn]:
    with PricingStandIn() as stand_in:
        stand_in.products += [
            instance_product("us-east-1", "m5.xlarge", 0.2),
            instance_product("us-east-1", "m5.xlarge", 0.38, os_name="Windows"),  # not what clusters run
            instance_product("us-east-1", "m5.xlarge", 0.5, tenancy="Dedicated"),
            instance_product("us-east-1", "r5.2xlarge", 0.51),
            instance_product("us-east-1", "x2iedn.32xlarge", 26.0),  # not in the catalog: ignored
            instance_product("eu-west-1", "m5.xlarge", 0.215),
            storage_product("us-east-1", "gp3", 0.085),
            storage_product("us-east-1", "io2", 0.125),
        ]
        yield stand_in


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_price_list_pages_are_followed_and_filtered(pricing: PricingStandIn) -> None:
    client = PriceListClient(AwsCredentials("testing", "testing", endpoint_url=pricing.endpoint_url), page_size=1)
    got = client.fetch(["us-east-1"], {"m5.xlarge", "r5.2xlarge", "c5.xlarge"}, {"gp3"}, today="2026-11-24")
    assert {(e["node_type"], e["usd_per_hour"]) for e in got.compute} == {("m5.xlarge", 0.2), ("r5.2xlarge", 0.51)}
    assert got.missing == ["us-east-1 c5.xlarge"]
    assert [(e["volume_type"], e["usd_per_gb_month"]) for e in got.storage] == [("gp3", 0.085)]
    assert all(e["date"] == "2026-11-01" and "Price List API" in e["source"] for e in got.compute)
    assert len([r for r in pricing.requests if r.get("NextToken")]) >= 2  # one product per page
    assert {f["Field"]: f["Value"] for f in pricing.requests[0]["Filters"]}["operatingSystem"] == "Linux"


def test_update_writes_a_new_catalog_version_that_show_then_uses(pricing: PricingStandIn, aws_env: None,
                                                                 tmp_path: Path, capsys) -> None:
    state = tmp_path / "state"
    code = main(["prices", "update", "--state-dir", str(state), "--endpoint-url", pricing.endpoint_url,
                 "--region", "us-east-1", "--region", "eu-west-1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Updated 3 instance prices and 1 EBS prices" in out

    shipped = load_catalog()
    fresh = load_active_catalog(state)
    assert fresh.version != shipped.version and fresh.version.endswith("-aws")
    assert fresh.hourly_price("aws", "us-east-1", "m5.xlarge") == 0.2
    assert fresh.hourly_price("aws", "eu-west-1", "m5.xlarge") == 0.215
    assert fresh.hourly_price("aws", "us-east-1", "c5.xlarge") == shipped.hourly_price("aws", "us-east-1", "c5.xlarge")
    gp3 = fresh.ebs_price("aws", "us-east-1", "gp3")
    assert gp3.usd_per_gb_month == 0.085 and gp3.included_iops == 3000  # extras kept from the old entry

    code = main(["--json", "prices", "show", "--state-dir", str(state), "--cloud", "aws", "--region", "us-east-1",
                 "--node-type", "m5.xlarge"])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    assert shown["version"] == fresh.version
    assert [(n["node_type"], n["usd_per_hour"]) for n in shown["nodes"]] == [("m5.xlarge", 0.2)]
    assert {(e["volume_type"], e["usd_per_gb_month"]) for e in shown["storage"]} >= {("gp3", 0.085)}


def test_show_names_an_unknown_region(capsys, tmp_path: Path) -> None:
    code = main(["prices", "show", "--state-dir", str(tmp_path), "--cloud", "aws", "--region", "mars-1"])
    assert code == 2  # a bad option value: usage
    assert "unknown region 'mars-1'" in capsys.readouterr().err
    assert main(["prices", "show", "--state-dir", str(tmp_path), "--cloud", "azure", "--region", "eastus"]) == 0
    out = capsys.readouterr().out
    assert "Standard_D4s_v5" in out and "premium_ssd" in out and "2.5x the node's DBUs" in out


def test_update_asks_the_price_list_for_instance_types_only_not_fleets(pricing: PricingStandIn, aws_env: None,
                                                                      tmp_path: Path, capsys) -> None:
    # A fleet (md-fleet.xlarge...) is no EC2 instance type: the API never offers one, and the catalog prices
    # it from its members. Before, every fleet was listed as "not offered ... (kept from catalog)".
    code = main(["--json", "prices", "update", "--state-dir", str(tmp_path / "state"), "--cloud", "aws",
                 "--endpoint-url", pricing.endpoint_url, "--region", "us-east-1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    shipped = load_catalog()
    fleets = [t for t in shipped.node_types("aws") if shipped.members("aws", t)]
    assert {"md-fleet.xlarge", "c-fleet.xlarge", "rgd-fleet.8xlarge"} <= set(fleets)
    missing = {m.split(" ")[1] for m in out["missing"]}
    assert missing == set(shipped.instance_types("aws")) - {"m5.xlarge", "r5.2xlarge"}
    assert not missing & set(fleets)
    # The refreshed catalog prices each fleet from its members' (refreshed or kept) prices, as before.
    fresh = load_active_catalog(tmp_path / "state")
    assert fresh.hourly_price("aws", "us-east-1", "m-fleet.xlarge") == max(0.2, fresh.hourly_price(
        "aws", "us-east-1", "m6i.xlarge"))

    code = main(["prices", "update", "--state-dir", str(tmp_path / "state2"), "--cloud", "aws",
                 "--endpoint-url", pricing.endpoint_url, "--region", "us-east-1"])
    text = capsys.readouterr().out
    assert code == 0 and "Not offered by the AWS Price List API" in text and "fleet" not in text


def test_show_gives_a_fleet_the_date_and_source_of_the_member_it_is_priced_as(capsys, tmp_path: Path) -> None:
    cat = load_catalog()
    code = main(["--json", "prices", "show", "--state-dir", str(tmp_path), "--cloud", "aws", "--region", "us-east-1",
                 "--node-type", "md-fleet.xlarge", "--node-type", "cd-fleet.xlarge", "--node-type", "m5d.xlarge"])
    shown = {n["node_type"]: n for n in json.loads(capsys.readouterr().out)["nodes"]}
    assert code == 0
    # md-fleet.xlarge costs its dearest member's price (m6id.xlarge), so that entry's date and source are its.
    for fleet, dearest in (("md-fleet.xlarge", "m6id.xlarge"), ("cd-fleet.xlarge", "c6id.xlarge")):
        member = cat.entry("compute_prices", "aws", "us-east-1", dearest) or {}
        assert shown[fleet]["usd_per_hour"] == member["usd_per_hour"]
        assert (shown[fleet]["date"], shown[fleet]["source"], shown[fleet]["priced_as"]) == \
            (member["date"], member["source"], dearest)
    assert shown["m5d.xlarge"]["priced_as"] == "m5d.xlarge"

    assert main(["prices", "show", "--state-dir", str(tmp_path), "--cloud", "aws", "--region", "eu-west-1",
                 "--node-type", "rgd-fleet.xlarge"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("aws") and "rgd-fleet" in line)
    member = cat.entry("compute_prices", "aws", "eu-west-1", "r6gd.xlarge") or {}
    date, mark = row.split()[-2:]
    assert date == member["date"] and f"  {mark} {member['source']}" in lines  # the numbered sources below the table
