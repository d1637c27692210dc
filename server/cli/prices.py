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

STATE_DIR_HELP = "State directory; a refreshed catalog lives in <state-dir>/prices."


def _state_dir(value: Path | None) -> Path:
    if value is not None:
        return value
    from server.config import default_state_dir

    return default_state_dir()


def _source_catalog(catalog_dir: Path | None, state_dir: Path) -> Any:
    from server.costing.catalog import load_active_catalog, load_catalog

    return load_catalog(catalog_dir) if catalog_dir else load_active_catalog(state_dir)


@click.group(name="prices")
def cli() -> None:
    """The price catalog: DBU rates, instance and storage list prices, each with its source and date."""


@cli.command("show")
@click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Catalog directory to read (default: the refreshed one if any, else the shipped one).")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), envvar="TRIMTAB_STATE_DIR",
              default=None, help=STATE_DIR_HELP)
@click.option("--cloud", type=click.Choice(["aws", "azure"]), default=None, help="Only this cloud.")
@click.option("--region", default=None, help="Only this region (default: every region).")
@click.option("--node-type", "node_types", multiple=True, help="Only these node types (repeatable).")
@click.pass_obj
def show(obj: CliContext, catalog_dir: Path | None, state_dir: Path | None, cloud: str | None,
         region: str | None, node_types: tuple[str, ...]) -> None:
    """Show DBU rates and per-node prices."""
    from server.costing.errors import UnknownRegion

    cat = _source_catalog(catalog_dir, _state_dir(state_dir))
    clouds = [cloud] if cloud else ["aws", "azure"]
    rates = [e for e in cat.entries["dbu_rates"] if e["cloud"] in clouds]
    nodes: list[dict[str, Any]] = []
    for c in clouds:
        regions = cat.regions(c)
        if region and region not in regions:
            if cloud:
                raise UnknownRegion(c, region, regions)
            continue
        for r in [region] if region else regions:
            for nt in node_types or cat.node_types(c):
                info = cat.node_type(c, nt)
                price = cat.entry("compute_prices", c, r, nt) or {}
                nodes.append({"cloud": c, "region": r, "node_type": nt, "usd_per_hour": cat.hourly_price(c, r, nt),
                              "dbus_per_hour": info.dbus_per_hour,
                              "spot_discount": cat.spot_discount(c, info.family), "date": price.get("date", ""),
                              "source": price.get("source", "")})
    multipliers = [e for e in cat.entries["dbu_multipliers"] if e["cloud"] in clouds and e["multiplier"] != 1]
    storage = [e for e in cat.entries["storage_prices"]
               if e["cloud"] in clouds and (not region or e["region"] == region)]
    if obj is not None and obj.as_json:
        print_json({"version": cat.version, "currency": cat.currency, "dbu_rates": rates,
                    "dbu_multipliers": multipliers, "storage": storage, "nodes": nodes})
        return
    click.echo(f"Price catalog {cat.version} ({cat.currency}); {cat.note}")
    click.echo("")
    print_table([(e["cloud"], e["plan"], e["sku"], f"{e['usd_per_dbu']:.3f}", e["date"]) for e in rates],
                ["CLOUD", "PLAN", "SKU", "$/DBU", "DATE"])
    for e in multipliers:
        click.echo(f"{e['cloud']} {e['sku']} consumes {e['multiplier']}x the node's DBUs ({e['source']})")
    click.echo("")
    print_table([(e["cloud"], e["region"], e["volume_type"], f"{e['usd_per_gb_month']:.4f}",
                  f"{e['usd_per_iops_month']} over {e['included_iops']}" if e.get("usd_per_iops_month") else "",
                  e["date"]) for e in storage],
                ["CLOUD", "REGION", "VOLUME", "$/GB-MONTH", "$/IOPS-MONTH", "DATE"])
    click.echo("")
    print_table([(n["cloud"], n["region"], n["node_type"], f"{n['usd_per_hour']:.4f}", f"{n['dbus_per_hour']:.3f}",
                  f"{n['spot_discount']:.0%}", n["date"]) for n in nodes],
                ["CLOUD", "REGION", "NODE TYPE", "$/HOUR", "DBU/HOUR", "SPOT OFF", "DATE"])


@cli.command("update")
@click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Catalog to start from (default: the refreshed one if any, else the shipped one).")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), envvar="TRIMTAB_STATE_DIR",
              default=None, help=STATE_DIR_HELP)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where to write the new catalog (default: <state-dir>/prices).")
@click.option("--region", "regions", multiple=True, help="AWS regions to refresh (default: all in the catalog).")
@click.option("--endpoint-url", envvar="TRIMTAB_AWS_PRICING_ENDPOINT", default=None,
              help="Price List API endpoint (a stand-in); default AWS's.")
@click.pass_obj
def update(obj: CliContext, catalog_dir: Path | None, state_dir: Path | None, out: Path | None,
           regions: tuple[str, ...], endpoint_url: str | None) -> None:
    """Refresh AWS instance and EBS prices from the AWS Price List API (needs AWS credentials)."""
    from server.clouds.aws import default_credentials
    from server.clouds.prices import PriceListClient

    state = _state_dir(state_dir)
    cat = _source_catalog(catalog_dir, state)
    creds = default_credentials()
    if creds is None:
        raise click.ClickException(
            "no AWS credentials found (environment, ~/.aws or instance role): "
            f"the catalog is unchanged (version {cat.version})")
    if endpoint_url:
        creds = dataclasses.replace(creds, endpoint_url=endpoint_url)
    now = datetime.now(UTC)
    wanted_regions = list(regions) or cat.regions("aws")
    click.echo(f"Asking the AWS Price List API for {len(wanted_regions)} region(s)...", err=True)
    fetched = PriceListClient(creds).fetch(wanted_regions, set(cat.node_types("aws")), {"gp2", "gp3", "st1"},
                                           today=now.date().isoformat())
    if not fetched.compute and not fetched.storage:
        raise click.ClickException(f"the Price List API returned no prices: the catalog is unchanged "
                                   f"(version {cat.version})")
    # Storage entries keep fields the API refresh does not cover (gp3 IOPS and throughput prices).
    storage = [{**(cat.entry("storage_prices", e["cloud"], e["region"], e["volume_type"]) or {}), **e}
               for e in fetched.storage]
    version = now.strftime("%Y.%m.%d-%H%M%S") + "-aws"
    new = cat.with_entries("compute_prices", fetched.compute, version).with_entries("storage_prices", storage,
                                                                                     version)
    target = out or state / "prices"
    new.write(target)
    if obj is not None and obj.as_json:
        print_json({"version": version, "path": str(target), "compute_prices": len(fetched.compute),
                    "storage_prices": len(storage), "missing": fetched.missing})
        return
    click.echo(f"Updated {len(fetched.compute)} instance prices and {len(storage)} EBS prices "
               f"in {', '.join(wanted_regions)}.")
    if fetched.missing:
        click.echo(f"Not offered by the API (kept from catalog {cat.version}): {', '.join(fetched.missing)}")
    click.echo(f"Catalog {version} written to {target}")
