"""`trimtab prices show|update`: the price catalog runs are costed with.

Works on local files only (no server needed): the shipped catalog, or the
refreshed one ``update`` writes to ``<state-dir>/prices``, which then takes
precedence (``server.costing.catalog.load_active_catalog``).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from server.cli.context import CliContext, print_json, print_table
from server.cli.given import Given
from server.cli.main import calls_no_server
from server.cli.store_options import Directory

STATE_DIR_HELP = "State directory; a refreshed catalog lives in <state-dir>/prices."

# A server reads the catalog under its own --state-dir when it starts: these commands reach it only there.
LOCAL_CATALOG = ("it reads the catalog under its --state-dir on this machine; for a server's, run it where the "
                 "server runs with the server's --state-dir, then restart the server")


def _state_dir(value: Path | None) -> Path:
    if value is not None:
        return value
    from server.config import default_state_dir

    return default_state_dir()


def _source_catalog(catalog_dir: Path | None, state_dir: Path) -> Any:
    from server.costing.catalog import load_active_catalog, load_catalog
    from server.costing.errors import InvalidCatalog

    if not catalog_dir:
        return load_active_catalog(state_dir)
    try:
        return load_catalog(catalog_dir)
    except InvalidCatalog as exc:
        # A directory given that holds no readable catalog is a bad option value (exit 2); the catalog
        # a command finds itself (shipped, or under --state-dir) failing stays a failure (exit 1).
        raise click.BadParameter(str(exc), param_hint="'--catalog'") from exc


@click.group(name="prices")
def cli() -> None:
    """The price catalog: DBU rates, instance and storage list prices, each with its source and date."""


@calls_no_server(LOCAL_CATALOG)
@cli.command("show")
@click.option("--catalog", "catalog_dir", type=Directory(), default=None,
              help="Catalog directory to read (default: the refreshed one if any, else the shipped one).")
@click.option("--state-dir", type=Directory(), envvar="TRIMTAB_STATE_DIR",
              default=None, help=STATE_DIR_HELP)
@click.option("--cloud", type=click.Choice(["aws", "azure"]), default=None, help="Only this cloud.")
@click.option("--region", type=Given("a region, e.g. us-east-1", "for every region"), default=None,
              help="Only this region (default: every region).")
@click.option("--node-type", "node_types", multiple=True, help="Only these node types (repeatable).")
@click.pass_obj
def show(obj: CliContext, catalog_dir: Path | None, state_dir: Path | None, cloud: str | None,
         region: str | None, node_types: tuple[str, ...]) -> None:
    """Show DBU rates and per-node prices."""
    cat = _source_catalog(catalog_dir, _state_dir(state_dir))
    clouds = [cloud] if cloud else ["aws", "azure"]
    rates = [e for e in cat.entries["dbu_rates"] if e["cloud"] in clouds]
    shown_types = _node_types_by_cloud(cat, clouds, region, node_types)
    nodes: list[dict[str, Any]] = []
    for c in clouds:
        regions = cat.regions(c)
        if region and region not in regions:
            continue
        for r in [region] if region else regions:
            for nt in shown_types[c]:
                info = cat.node_type(c, nt)
                usd_per_hour = cat.hourly_price(c, r, nt)
                # A fleet has no price entry of its own: its price, date and source are its dearest member's.
                price = cat.price_entry(c, r, nt) or {}
                nodes.append({"cloud": c, "region": r, "node_type": nt, "usd_per_hour": usd_per_hour,
                              "dbus_per_hour": info.dbus_per_hour,
                              "spot_discount": cat.spot_discount(c, info.family), "date": price.get("date", ""),
                              "source": price.get("source", ""), "priced_as": price.get("node_type", nt)})
    multipliers = [e for e in cat.entries["dbu_multipliers"] if e["cloud"] in clouds and e["multiplier"] != 1]
    storage = [e for e in cat.entries["storage_prices"]
               if e["cloud"] in clouds and (not region or e["region"] == region)]
    if obj is not None and obj.as_json:
        print_json({"version": cat.version, "currency": cat.currency, "dbu_rates": rates,
                    "dbu_multipliers": multipliers, "storage": storage, "nodes": nodes})
        return
    click.echo(f"Price catalog {cat.version} ({cat.currency}); {cat.note}")
    click.echo("")
    sources = _Sources()
    print_table([(e["cloud"], e["plan"], e["sku"], f"{e['usd_per_dbu']:.3f}", e["date"], sources.mark(e["source"]))
                 for e in rates], ["CLOUD", "PLAN", "SKU", "$/DBU", "DATE", "SOURCE"])
    for e in multipliers:
        click.echo(f"{e['cloud']} {e['sku']} consumes {e['multiplier']}x the node's DBUs ({e['source']})")
    click.echo("")
    print_table([(e["cloud"], e["region"], e["volume_type"], f"{e['usd_per_gb_month']:.4f}",
                  f"{e['usd_per_iops_month']} over {e['included_iops']}" if e.get("usd_per_iops_month") else "",
                  e["date"], sources.mark(e["source"])) for e in storage],
                ["CLOUD", "REGION", "VOLUME", "$/GB-MONTH", "$/IOPS-MONTH", "DATE", "SOURCE"])
    click.echo("")
    print_table([(n["cloud"], n["region"], n["node_type"], f"{n['usd_per_hour']:.4f}", f"{n['dbus_per_hour']:.3f}",
                  f"{n['spot_discount']:.0%}", n["date"], sources.mark(n["source"])) for n in nodes],
                ["CLOUD", "REGION", "NODE TYPE", "$/HOUR", "DBU/HOUR", "SPOT OFF", "DATE", "SOURCE"])
    if sources.names:
        click.echo("")
        click.echo("Sources:")
        for number, name in enumerate(sources.names, 1):
            click.echo(f"  [{number}] {name}")


def _node_types_by_cloud(cat: Any, clouds: list[str], region: str | None,
                         node_types: tuple[str, ...]) -> dict[str, list[str]]:
    """The node types `show` lists for each of `clouds`, after refusing a --region or --node-type no
    cloud shown knows: a typo is a bad option value (exit 2), not a failure of the catalog (exit 1).

    Without --cloud a node type is shown on the clouds that know it: `--node-type m5d.xlarge` failed
    with "unknown node type 'm5d.xlarge' on azure" though AWS prices it."""
    from server.costing.errors import UnknownNodeType, UnknownRegion

    if region and not any(region in cat.regions(c) for c in clouds):
        known = [r for c in clouds for r in cat.regions(c)]
        raise click.BadParameter(str(UnknownRegion(" or ".join(clouds), region, known)), param_hint="'--region'")
    if not node_types:
        return {c: cat.node_types(c) for c in clouds}

    def known(c: str, node_type: str) -> bool:
        try:
            cat.node_type(c, node_type)
        except UnknownNodeType:
            return False
        return True

    # Only the clouds whose regions are shown: `--region eastus --node-type m5d.xlarge` names no Azure type.
    shown = [c for c in clouds if not region or region in cat.regions(c)]
    by_cloud = {c: [nt for nt in node_types if known(c, nt)] for c in clouds}
    unknown = [nt for nt in node_types if not any(nt in by_cloud[c] for c in shown)]
    if unknown:
        message = str(UnknownNodeType(" or ".join(shown), unknown[0], "DBUs per hour or sizes"))
        raise click.BadParameter(message, param_hint="'--node-type'")
    return by_cloud


class _Sources:
    """Each distinct source once, numbered: a source is a URL and a sentence, too long for a table
    cell repeated on a hundred rows, so the SOURCE column shows its number and the list follows."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def mark(self, source: str) -> str:
        if not source:
            return "-"
        if source not in self.names:
            self.names.append(source)
        return f"[{self.names.index(source) + 1}]"


# How `update` marks the catalog's note, so the header of `prices show` does not keep saying
# "transcribed by hand" over refreshed prices (an older mark is replaced, not stacked).
REFRESHED_MARK = "; refreshed "


def refreshed_note(note: str, clouds: list[str], when: str) -> str:
    base = note.split(REFRESHED_MARK, 1)[0]
    return f"{base}{REFRESHED_MARK}{when} from the {' and '.join(clouds)} price API(s) (see each entry's source)"


UPDATE_HELP = """Refresh list prices from the clouds' price APIs into a new catalog version.

\b
AWS: instance and EBS prices from the AWS Price List API (needs AWS credentials).
Azure: Linux pay-as-you-go VM prices and Premium/Standard SSD managed-disk
prices (per GB-month of the 128 GiB tier) from the Azure Retail Prices API
(public, no credentials).

--cloud all (the default) refreshes every cloud that can run: without AWS
credentials it refreshes Azure and says AWS was skipped. Prices an API does not
offer are reported and kept from the old catalog. On any API error nothing is
written.
"""


def _split_regions(cloud: str, regions: tuple[str, ...], cat: Any) -> tuple[list[str], list[str]]:
    """(AWS regions, Azure regions) to refresh; with ``all`` a given region goes to the cloud whose catalog knows it."""
    aws_all, azure_all = cat.regions("aws"), cat.regions("azure")
    if cloud == "aws":
        return list(regions) or aws_all, []
    if cloud == "azure":
        return [], list(regions) or azure_all
    if not regions:
        return aws_all, azure_all
    # Azure names ("eastus") and AWS names ("us-east-1") never collide; a region new to the
    # catalog goes to AWS, as before --cloud existed (use --cloud azure to add an Azure one).
    return [r for r in regions if r not in azure_all], [r for r in regions if r in azure_all]


def _keep_other_fields(cat: Any, fetched: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refreshed storage entries over the old ones: fields a refresh does not cover (gp3 IOPS and
    throughput prices) are kept."""
    return [{**(cat.entry("storage_prices", e["cloud"], e["region"], e["volume_type"]) or {}), **e}
            for e in fetched]


@calls_no_server(LOCAL_CATALOG.replace("reads", "writes"))
@cli.command("update", help=UPDATE_HELP)
@click.option("--catalog", "catalog_dir", type=Directory(), default=None,
              help="Catalog to start from (default: the refreshed one if any, else the shipped one).")
@click.option("--state-dir", type=Directory(), envvar="TRIMTAB_STATE_DIR",
              default=None, help=STATE_DIR_HELP)
@click.option("--out", type=Directory(), default=None,
              help="Where to write the new catalog (default: <state-dir>/prices).")
@click.option("--cloud", type=click.Choice(["aws", "azure", "all"]), default="all", show_default=True,
              help="Which cloud's prices to refresh.")
@click.option("--region", "regions", multiple=True, type=Given("a region, e.g. us-east-1",
                                                               "for every region in the catalog"),
              help="Regions to refresh (repeatable; default: every region in the catalog of each cloud refreshed).")
@click.option("--endpoint-url", envvar="TRIMTAB_AWS_PRICING_ENDPOINT", default=None,
              help="AWS Price List API endpoint (a stand-in); default AWS's.")
@click.option("--azure-endpoint-url", envvar="TRIMTAB_AZURE_PRICES_ENDPOINT", default=None,
              help="Azure Retail Prices API endpoint (a stand-in); default https://prices.azure.com.")
@click.pass_obj
def update(obj: CliContext, catalog_dir: Path | None, state_dir: Path | None, out: Path | None, cloud: str,
           regions: tuple[str, ...], endpoint_url: str | None, azure_endpoint_url: str | None) -> None:
    from server.clouds.aws import default_credentials

    state = _state_dir(state_dir)
    cat = _source_catalog(catalog_dir, state)
    now = datetime.now(UTC)
    aws_regions, azure_regions = _split_regions(cloud, regions, cat)
    compute: list[dict[str, Any]] = []
    storage: list[dict[str, Any]] = []
    missing: list[str] = []
    lines: list[str] = []
    refreshed: list[str] = []
    skipped: list[str] = []

    if aws_regions:
        creds = default_credentials()
        if creds is None:
            reason = "no AWS credentials found (environment, ~/.aws or instance role)"
            if cloud == "aws":
                raise click.ClickException(f"{reason}: the catalog is unchanged (version {cat.version})")
            skipped.append(f"AWS skipped: {reason}")
        else:
            from server.clouds.prices import PriceListClient

            if endpoint_url:
                creds = dataclasses.replace(creds, endpoint_url=endpoint_url)
            click.echo(f"Asking the AWS Price List API for {len(aws_regions)} region(s)...", err=True)
            # Fleets are no EC2 instance type: the API never has them, and they are priced from their members.
            fetched = PriceListClient(creds).fetch(aws_regions, set(cat.instance_types("aws")),
                                                   {"gp2", "gp3", "st1"}, today=now.date().isoformat())
            if not fetched.compute and not fetched.storage:
                raise click.ClickException(f"the Price List API returned no prices: the catalog is unchanged "
                                           f"(version {cat.version})")
            storage = _keep_other_fields(cat, fetched.storage)
            compute += fetched.compute
            missing += fetched.missing
            refreshed.append("aws")
            lines.append(f"Updated {len(fetched.compute)} instance prices and {len(storage)} EBS prices "
                         f"in {', '.join(aws_regions)}.")
            if fetched.missing:
                lines.append(f"Not offered by the AWS Price List API (kept from catalog {cat.version}): "
                             f"{', '.join(fetched.missing)}")

    if azure_regions:
        from server.clouds.azure_prices import DISK_TIERS, RetailPricesClient

        node_types = cat.instance_types("azure")
        # Every managed-disk tier Trimtab prices, in every region asked for, with those the catalog has
        # there (one refresh covers VMs and disks): a region new to the catalog gets its disk prices too,
        # not only its VM ones (its runs' disks would be unpriced).
        disks = list(dict.fromkeys([(r, v) for r in azure_regions for v in DISK_TIERS]
                                   + [(e["region"], e["volume_type"]) for e in cat.entries["storage_prices"]
                                      if e["cloud"] == "azure" and e["region"] in azure_regions]))
        click.echo(f"Asking the Azure Retail Prices API for {len(node_types)} VM size(s) and {len(disks)} "
                   f"managed-disk price(s) in {len(azure_regions)} region(s)...", err=True)
        client = RetailPricesClient(azure_endpoint_url)
        got = client.fetch(azure_regions, node_types)
        got_disks = client.fetch_disks(disks)
        if not got.compute and not got_disks.storage:
            raise click.ClickException(f"the Azure Retail Prices API returned no prices: the catalog is unchanged "
                                       f"(version {cat.version})")
        compute += got.compute
        azure_storage = _keep_other_fields(cat, got_disks.storage)
        storage += azure_storage
        azure_missing = got.missing + got_disks.missing
        missing += azure_missing
        refreshed.append("azure")
        lines.append(f"Updated {len(got.compute)} Azure VM prices and {len(azure_storage)} managed-disk prices "
                     f"in {', '.join(azure_regions)}.")
        if azure_missing:
            lines.append(f"Not offered by the Azure Retail Prices API (kept from catalog {cat.version}): "
                         f"{', '.join(azure_missing)}")

    if not refreshed:
        raise click.ClickException("; ".join(skipped + ["no cloud was refreshed"])
                                   + f": the catalog is unchanged (version {cat.version})")
    version = now.strftime("%Y.%m.%d-%H%M%S") + "".join(f"-{c}" for c in refreshed)
    new = cat.with_entries("compute_prices", compute, version).with_entries("storage_prices", storage, version)
    new = type(new)(new.version, new.currency, new.hours_per_month, new.entries,
                    refreshed_note(new.note, refreshed, now.strftime("%Y-%m-%d")))
    target = out or state / "prices"
    new.write(target)
    if obj is not None and obj.as_json:
        print_json({"version": version, "path": str(target), "clouds": refreshed, "skipped": skipped,
                    "compute_prices": len(compute), "storage_prices": len(storage), "missing": missing})
        return
    for line in skipped + lines:
        click.echo(line)
    click.echo(f"Catalog {version} written to {target}")
