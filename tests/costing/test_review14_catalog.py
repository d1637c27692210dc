"""Review 14 (rev14a): figures the price catalog loader took although no lookup can use them.

A spot discount typed as a percent (62 for 0.62) stored negative costs and made the planner prefer
the "free" cluster; zero prices, DBU rates, DBU counts and multipliers showed cheaper clusters than
the ones paid for; hours_per_month 0 stopped every poll (ZeroDivisionError), a negative one made
storage a refund, "730h" raised a bare ValueError; a node type without ``family`` stopped every
poll and every AWS plan (KeyError); a manifest in EUR labelled the USD list prices `trimtab prices
update` writes, and no cloud bill could be taken. The real loader reads files each test writes:
every one is refused naming the file and the field, and the zeros that mean "none" still load.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.costing.catalog import SHIPPED_DIR, PriceCatalog, load_catalog
from server.costing.errors import InvalidCatalog
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run

H_MS = 3_600_000
Edit = Callable[[dict[str, Any]], None]


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "prices"
    shutil.copytree(SHIPPED_DIR, d)
    return d


def _edit(d: Path, fname: str, change: Callable[[Any], None]) -> None:
    p = d / fname
    data = json.loads(p.read_text())
    change(data)
    # json writes NaN/Infinity as bare words, which json (and so the loader) reads back.
    p.write_text(json.dumps(data))


def _entry(data: dict[str, Any], **match: str) -> dict[str, Any]:
    (items,) = data.values()
    (found,) = [e for e in items if all(e.get(k) == v for k, v in match.items())]
    return found


def _set(field: str, value: Any) -> Edit:
    def change(e: dict[str, Any]) -> None:
        e[field] = value
    return change


def _drop(field: str) -> Edit:
    def change(e: dict[str, Any]) -> None:
        del e[field]
    return change


# (case, file, entry match, edit, field the refusal names, what it says)
BAD_ENTRIES: list[tuple[str, str, dict[str, str], Edit, str, str]] = [
    ("spot discount typed as a percent", "spot_discounts.json", {"cloud": "aws", "family": "m5"},
     _set("discount", 62), "discount", "not 62"),
    ("spot discount 1 (free spot capacity)", "spot_discounts.json", {"cloud": "aws", "family": "m5"},
     _set("discount", 1.0), "discount", "0.62 for 62% off"),
    ("negative spot discount", "spot_discounts.json", {"cloud": "azure", "family": "Ddsv5"},
     _set("discount", -0.1), "discount", "not -0.1"),
    ("on-demand price 0", "compute_prices.json", {"cloud": "aws", "region": "us-east-1", "node_type": "m5.xlarge"},
     _set("usd_per_hour", 0), "usd_per_hour", "a number > 0, not 0"),
    ("on-demand price NaN", "compute_prices.json", {"cloud": "aws", "region": "us-east-1", "node_type": "m5.xlarge"},
     _set("usd_per_hour", math.nan), "usd_per_hour", "not nan"),
    ("on-demand price Infinity", "compute_prices.json",
     {"cloud": "azure", "region": "eastus", "node_type": "Standard_D4ds_v5"},
     _set("usd_per_hour", math.inf), "usd_per_hour", "not inf"),
    ("DBUs per hour 0", "node_types.json", {"cloud": "aws", "node_type": "m5.xlarge"},
     _set("dbus_per_hour", 0), "dbus_per_hour", "a number > 0"),
    ("DBU rate 0", "dbu_rates.json", {"cloud": "aws", "plan": "premium", "sku": "jobs"},
     _set("usd_per_dbu", 0), "usd_per_dbu", "a number > 0"),
    ("jobs multiplier 0", "dbu_multipliers.json", {"cloud": "aws", "sku": "jobs"},
     _set("multiplier", 0), "multiplier", "a number > 0"),
    ("gp2 price 0", "storage_prices.json", {"cloud": "aws", "region": "us-east-1", "volume_type": "gp2"},
     _set("usd_per_gb_month", 0), "usd_per_gb_month", "a number > 0"),
    ("vcpus 0", "node_types.json", {"cloud": "aws", "node_type": "m5.xlarge"},
     _set("vcpus", 0), "vcpus", "a whole number > 0"),
    ("vcpus 4.5 (int() would take 4)", "node_types.json", {"cloud": "aws", "node_type": "m5.xlarge"},
     _set("vcpus", 4.5), "vcpus", "not 4.5"),
    ("memory 0", "node_types.json", {"cloud": "azure", "node_type": "Standard_D4ds_v5"},
     _set("memory_gb", 0), "memory_gb", "a number > 0"),
    ("negative local disk", "node_types.json", {"cloud": "aws", "node_type": "m5d.xlarge"},
     _set("local_disk_gb", -150), "local_disk_gb", "not -150"),
    ("family key typed 'familly'", "node_types.json", {"cloud": "aws", "node_type": "i3.xlarge"},
     lambda e: e.__setitem__("familly", e.pop("family")), "family", "non-empty string, not missing"),
    ("empty family", "node_types.json", {"cloud": "aws", "node_type": "m5.xlarge"},
     _set("family", " "), "family", "non-empty string"),
    ("vcpus a string", "node_types.json", {"cloud": "aws", "node_type": "m5.xlarge"},
     _set("vcpus", "4"), "vcpus", "not '4'"),
    ("gp3 included IOPS negative", "storage_prices.json", {"cloud": "aws", "region": "us-east-1", "volume_type": "gp3"},
     _set("included_iops", -3000), "included_iops", "a whole number >= 0"),
    ("gp3 IOPS price null (int(None) at pricing)", "storage_prices.json",
     {"cloud": "aws", "region": "us-east-1", "volume_type": "gp3"},
     _set("usd_per_iops_month", None), "usd_per_iops_month", "not None"),
    ("gp3 throughput price a string", "storage_prices.json",
     {"cloud": "aws", "region": "us-west-2", "volume_type": "gp3"},
     _set("usd_per_mibps_month", "0.04"), "usd_per_mibps_month", "a number >= 0"),
    ("DBUs per hour missing", "node_types.json", {"cloud": "aws", "node_type": "r5.xlarge"},
     _drop("dbus_per_hour"), "dbus_per_hour", "not missing"),
]


@pytest.mark.parametrize("case,fname,match,edit,field,says", BAD_ENTRIES, ids=[b[0] for b in BAD_ENTRIES])
def test_an_entry_no_lookup_can_use_is_refused_naming_file_and_field(
        tmp_path: Path, case: str, fname: str, match: dict[str, str], edit: Edit, field: str, says: str) -> None:
    d = _copy(tmp_path)
    _edit(d, fname, lambda data: edit(_entry(data, **match)))
    with pytest.raises(InvalidCatalog) as err:
        load_catalog(d)
    msg = err.value.message
    assert f"{d / fname} entry " in msg, msg
    assert f"'{field}' must be" in msg and says in msg, msg
    # The entry is named by its key, so a person finds the line.
    assert "/".join(match.values()) in msg, msg
    assert err.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("value,says", [(0, "not 0"), (-730, "not -730"), ("730h", "not '730h'"),
                                        (True, "not True"), (math.inf, "not inf"), (None, "not None")])
def test_hours_per_month_must_be_a_positive_number(tmp_path: Path, value: Any, says: str) -> None:
    d = _copy(tmp_path)
    _edit(d, "manifest.json", lambda m: m.__setitem__("hours_per_month", value))
    with pytest.raises(InvalidCatalog) as err:
        load_catalog(d)
    assert err.value.message.startswith(f"{d / 'manifest.json'}: 'hours_per_month' must be a number > 0")
    assert says in err.value.message


def test_a_catalog_in_another_currency_than_usd_is_refused(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    _edit(d, "manifest.json", lambda m: m.__setitem__("currency", "EUR"))
    with pytest.raises(InvalidCatalog) as err:
        load_catalog(d)
    msg = err.value.message
    assert msg.startswith(f"{d / 'manifest.json'}: 'currency' must be 'USD', not 'EUR'") and "usd_per_*" in msg
    # Without the field a catalog is in USD, as the shipped one says.
    _edit(d, "manifest.json", lambda m: m.pop("currency"))
    assert load_catalog(d).currency == "USD"


def test_two_entries_for_one_key_are_refused(tmp_path: Path) -> None:
    """The index kept the last one silently: a pasted line changed a price without a word."""
    d = _copy(tmp_path)

    def add_copy(data: dict[str, Any]) -> None:
        first = data["prices"][0]
        data["prices"].append(dict(first, usd_per_hour=first["usd_per_hour"] * 10))

    _edit(d, "compute_prices.json", add_copy)
    with pytest.raises(InvalidCatalog, match=r"compute_prices.json entry \d+: aws/us-east-1/\S+ is already entry 0"):
        load_catalog(d)


def test_the_zeros_that_mean_none_still_load(tmp_path: Path) -> None:
    """A node without local disks, no spot discount, a volume type with nothing included or no
    extra charge: real zeros, kept."""
    d = _copy(tmp_path)
    _edit(d, "spot_discounts.json", lambda data: _entry(data, cloud="aws", family="m5").__setitem__("discount", 0))
    _edit(d, "storage_prices.json",
          lambda data: _entry(data, cloud="aws", region="us-east-1", volume_type="gp3").update(
              included_iops=0, usd_per_iops_month=0, included_throughput_mibps=0, usd_per_mibps_month=0.0))
    cat = load_catalog(d)
    assert cat.spot_discount("aws", "m5") == 0
    assert cat.node_type("aws", "m5.xlarge").local_disk_gb == 0  # as shipped
    gp3 = cat.ebs_price("aws", "us-east-1", "gp3")
    assert (gp3.included_iops, gp3.usd_per_iops_month) == (0, 0)


def test_the_shipped_catalog_loads_in_usd_with_its_plans() -> None:
    cat = load_catalog(SHIPPED_DIR)
    assert cat.currency == "USD" and cat.hours_per_month == 730
    assert cat.plans("aws") == ["enterprise", "premium", "standard"]
    assert cat.plans("azure") == ["premium", "standard"]


def test_a_written_copy_loads_again(tmp_path: Path) -> None:
    cat = load_catalog()
    cat.write(tmp_path / "copy")
    again = load_catalog(tmp_path / "copy")
    assert again.entries == cat.entries and again.hours_per_month == cat.hours_per_month


def test_a_catalog_built_in_code_is_held_to_the_same_rules() -> None:
    """`with_entries` (what `prices update` merges with) and a catalog built directly are checked
    too, so the collector and the planner never price with a figure the loader would refuse."""
    cat = load_catalog()
    m5 = dict(cat.entry("spot_discounts", "aws", "m5") or {})
    with pytest.raises(InvalidCatalog, match=r"update \(aws/m5\): 'discount' must be"):
        cat.with_entries("spot_discounts", [dict(m5, discount=62)], "v2")
    with pytest.raises(InvalidCatalog, match=r"price catalog v0: 'hours_per_month' must be a number > 0 .*, not 0$"):
        PriceCatalog("v0", "USD", 0, cat.entries)
    with pytest.raises(InvalidCatalog, match="'currency' must be 'USD', not 'EUR'"):
        PriceCatalog("v0", "EUR", 730, cat.entries)
    nodes = tuple({k: v for k, v in e.items() if k != "family"} for e in cat.entries["node_types"])
    with pytest.raises(InvalidCatalog, match=r"price catalog v0 node_types entry 0 \(aws/\S+\): 'family' must be"):
        PriceCatalog("v0", "USD", 730, {**cat.entries, "node_types": nodes})


def test_a_spot_run_priced_with_a_valid_discount_costs_less_than_on_demand_but_never_nothing() -> None:
    """What the percent typo broke: a spot worker costs (1 - discount) of on-demand, > 0."""
    cat = load_catalog()
    spot = [NodeUsage("m5.xlarge", True, False, 0, H_MS)] + [NodeUsage("m5.xlarge", False, True, 0, H_MS)] * 4
    demand = [NodeUsage("m5.xlarge", True, False, 0, H_MS)] + [NodeUsage("m5.xlarge", False, False, 0, H_MS)] * 4
    priced_spot = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", spot), cat)
    priced_demand = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", demand), cat)
    assert 0 < priced_spot.compute_cost < priced_demand.compute_cost
    assert priced_spot.total > 0
