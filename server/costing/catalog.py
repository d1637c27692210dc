"""The price catalog: versioned list prices shipped as JSON data in ``catalog/``.

A catalog is a directory: ``manifest.json`` (version, currency, hours per
month, file list) plus one file per kind of price. Every entry carries the
``source`` it was taken from and the ``date`` it was taken, so a person can
check any number Trimtab shows. ``trimtab prices update`` writes a refreshed
copy to another directory; ``load_catalog(that_dir)`` reads it.

Lookups never default: a node type, region, plan or volume type the catalog
does not know raises an error naming it, because a silent zero would show a
user a cheaper cluster than the one they would pay for.

**Fleet node types** (AWS ``m-fleet.xlarge``, ``md-fleet.2xlarge``...): Databricks launches, for
each node, whichever same-size instance type of the fleet's family it finds available and cheapest
("Introducing Databricks Fleet Clusters for AWS"), and publishes no fixed list of them. A fleet is
a ``node_types`` entry with ``members``: the same-size instance types of the catalog it may land
on (m5d/m6id for md-fleet). Its vCPUs and DBU/h are its members' (they must agree: a fleet bills
the DBUs of its size), its memory, local disk and network the smallest member's (what any node of
it has at least). It has no list price of its own: its on-demand price is its dearest member's in
the region (`PriceCatalog.hourly_price`), an upper bound over the members, and its spot discount
the smallest of its members' families' (`PriceCatalog.spot_discount`), so an estimate never reads
a fleet cheaper than the instance it ran on. A run with a cloud bill is priced from the bill, which
charges the instances that actually ran (`server.costing.billing`).

**GPUs and architecture.** A node type entry may say how many GPUs one node has (``gpus``, g4dn and
g5) and its CPU architecture (``arch``: ``arm64`` for AWS Graviton, ``x86_64`` otherwise); both are
optional (absent: 0 and x86_64), and a fleet's members must share its figures. The planner keeps a job
on its kind of hardware by what an entry states, and by the type's name where it states nothing
(`server.hardware.node_kind`); the shipped entries agree with the name but for the exceptions
tests/costing/test_costing_estate_node_types.py lists (none today).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from server.costing.errors import (
    InvalidCatalog,
    TrimtabCostError,
    UnknownNodeType,
    UnknownPlan,
    UnknownRegion,
    UnknownVolumeType,
)

SHIPPED_DIR = Path(__file__).parent / "catalog"

# kind -> (file, top-level key, fields forming the lookup key, required numeric fields)
KINDS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "dbu_rates": ("dbu_rates.json", "rates", ("cloud", "plan", "sku"), ("usd_per_dbu",)),
    "dbu_multipliers": ("dbu_multipliers.json", "multipliers", ("cloud", "sku"), ("multiplier",)),
    "node_types": ("node_types.json", "node_types", ("cloud", "node_type"),
                   ("vcpus", "memory_gb", "local_disk_gb", "dbus_per_hour")),
    "compute_prices": ("compute_prices.json", "prices", ("cloud", "region", "node_type"), ("usd_per_hour",)),
    "spot_discounts": ("spot_discounts.json", "discounts", ("cloud", "family"), ("discount",)),
    "storage_prices": ("storage_prices.json", "prices", ("cloud", "region", "volume_type"),
                       ("usd_per_gb_month",)),
}


@dataclass(frozen=True)
class NodeTypeInfo:
    cloud: str
    node_type: str
    family: str
    vcpus: int
    memory_gb: float
    local_disk_gb: float
    dbus_per_hour: float
    # Published network bandwidth of one node in Gbps (AWS's "up to" figure where that is all it
    # quotes, Azure's expected bandwidth); None when a catalog does not know it. The replay uses it
    # to share a node's network among the tasks running on it (`models.replay`).
    network_gbps: float | None = None
    # A fleet node type's members (the instance types it may launch, see the module's docstring);
    # empty for an instance type of its own.
    members: tuple[str, ...] = ()
    # GPUs on one node (0 for a CPU type) and the CPU architecture ("x86_64", or "arm64" for AWS
    # Graviton): a job built for one cannot run on the other (a CUDA job on a CPU type, an x86
    # wheel on Graviton), so the planner must not move a job across them. Optional in a catalog:
    # an entry without them is a CPU-only x86_64 type (`DEFAULT_ARCH`).
    gpus: int = 0
    arch: str = "x86_64"

    @property
    def is_fleet(self) -> bool:
        return bool(self.members)


# Optional fields of an entry, each with its own source and date (the entry's ``source`` and
# ``date`` are about its required fields): field -> (source key, date key).
OPTIONAL_SOURCED: dict[str, dict[str, tuple[str, str]]] = {
    "node_types": {"network_gbps": ("network_source", "network_date")},
}

# Optional numbers an entry may carry without a source of their own (absent: 0, nothing included
# and nothing charged, no GPU): kind -> fields. Present, they are numbers like the required ones.
OPTIONAL_NUMBERS: dict[str, tuple[str, ...]] = {
    "storage_prices": ("included_iops", "usd_per_iops_month", "included_throughput_mibps", "usd_per_mibps_month"),
    "node_types": ("gpus",),
}

# A node type's CPU architecture when its entry names none (catalogs before the field: every type
# they priced was x86_64 but AWS m7g/m7gd, which the shipped catalog now marks), and the values
# an entry may name.
DEFAULT_ARCH = "x86_64"
ARCHES = ("x86_64", "arm64")

# Text an entry must carry besides its lookup key: kind -> fields (a node type's family chooses its
# spot discount and the planner's sibling families; a missing one stopped every poll and plan).
REQUIRED_TEXT: dict[str, tuple[str, ...]] = {
    "node_types": ("family",),
}

_Rule = tuple[Callable[[float], bool], str]
_POSITIVE: _Rule = (lambda v: v > 0, "a number > 0")
_WHOLE_NOT_NEGATIVE: _Rule = (lambda v: v >= 0 and v == int(v), "a whole number >= 0")
_NOT_NEGATIVE: _Rule = (lambda v: v >= 0, "a number >= 0")

# What each number of an entry must be, and the words the refusal uses. A zero price, DBU rate,
# DBU count or multiplier would show a user a cheaper cluster than the one they pay for (the rule
# of the module), and a spot discount of 1 or more (62 typed for 62%) a free or negative one,
# which the planner would then prefer. Zero is a real value only where it says "none": a node
# without local disks, no spot discount, a volume type with nothing included or no extra charge.
NUMBER_RULES: dict[str, _Rule] = {
    "usd_per_dbu": _POSITIVE,
    "multiplier": _POSITIVE,
    "vcpus": (lambda v: v > 0 and v == int(v), "a whole number > 0"),
    "memory_gb": _POSITIVE,
    "local_disk_gb": (lambda v: v >= 0, "a number >= 0 (0: no local disk)"),
    "dbus_per_hour": _POSITIVE,
    "usd_per_hour": _POSITIVE,
    "discount": (lambda v: 0 <= v < 1, "a fraction of the on-demand price from 0 to below 1 (0.62 for 62% off)"),
    "usd_per_gb_month": _POSITIVE,
    "included_iops": _WHOLE_NOT_NEGATIVE,
    "usd_per_iops_month": _NOT_NEGATIVE,
    "included_throughput_mibps": _WHOLE_NOT_NEGATIVE,
    "usd_per_mibps_month": _NOT_NEGATIVE,
    "network_gbps": _POSITIVE,
    "gpus": _WHOLE_NOT_NEGATIVE,
}

# The one currency a catalog is in: every price field is ``usd_per_*``, `trimtab prices update`
# writes the clouds' USD list prices and the clouds' bills are summed in USD.
CURRENCY = "USD"


@dataclass(frozen=True)
class StoragePrice:
    """Price of one volume type in one region. gp3 adds IOPS and throughput above what is included."""

    volume_type: str
    usd_per_gb_month: float
    included_iops: int = 0
    usd_per_iops_month: float = 0.0
    included_throughput_mibps: int = 0
    usd_per_mibps_month: float = 0.0


@dataclass(frozen=True)
class PriceCatalog:
    """Read-only lookups over the catalog's entries (plain dicts, as in the files)."""

    version: str
    currency: str
    hours_per_month: float
    entries: dict[str, tuple[dict[str, Any], ...]]
    note: str = ""
    _index: dict[str, dict[tuple[str, ...], dict[str, Any]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Every catalog, however built (a loaded one was checked already, naming its file), so
        # what the collector and the planner price with has no figure they would choke on.
        _check_currency(self.currency, f"price catalog {self.version}")
        _check_hours_per_month(self.hours_per_month, f"price catalog {self.version}")
        for kind, items in self.entries.items():
            if kind not in KINDS:
                raise InvalidCatalog(f"price catalog {self.version}: unknown kind of price {kind!r}")
            for i, e in enumerate(items):
                _validate(kind, e, f"price catalog {self.version} {kind} entry {i}")
        for kind, (_, _, keys, _) in KINDS.items():
            self._index[kind] = {tuple(e[k] for k in keys): e for e in self.entries.get(kind, ())}
        self._check_fleets()

    def _check_fleets(self) -> None:
        """`InvalidCatalog` for a fleet whose figures are not its members': no member may be a fleet
        itself, every member the catalog has must have the fleet's vCPUs and DBU/h, and the fleet's
        memory, local disk and network must be the smallest member's. A fleet that read bigger or
        cheaper than the instances it launches would be planned and priced on hardware it may not get.
        A member the catalog lacks (an older or hand-made catalog) is no error here: the fleet is then
        not priced, the lookups naming that member (`hourly_price`, `spot_discount`), as any node type
        a catalog lacks."""
        nodes = self._index["node_types"]
        for (cloud, name), e in nodes.items():
            members = e.get("members")
            if not members:
                continue
            where = f"price catalog {self.version} node type {name} ({cloud})"
            found = []
            for m in members:
                me = nodes.get((cloud, m))
                if me is not None and me.get("members"):
                    raise InvalidCatalog(f"{where}: member {m!r} is a fleet itself, not an instance type")
                if me is not None:
                    found.append(me)
            if not found:
                continue
            # A fleet launches any member: one mixing GPU and CPU types, or x86_64 and arm64 ones,
            # could put a job on hardware it cannot run on.
            for k, default in (("gpus", 0), ("arch", DEFAULT_ARCH)):
                if any(me.get(k, default) != e.get(k, default) for me in found):
                    theirs = ", ".join(f"{me['node_type']} {me.get(k, default)}" for me in found)
                    raise InvalidCatalog(f"{where}: {k!r} {e.get(k, default)} must be every member's ({theirs})")
            for k in ("vcpus", "dbus_per_hour"):
                if any(me[k] != e[k] for me in found):
                    theirs = ", ".join(f"{me['node_type']} {me[k]}" for me in found)
                    raise InvalidCatalog(f"{where}: {k!r} {e[k]} must be every member's ({theirs})")
            for k in ("memory_gb", "local_disk_gb"):
                least = min(me[k] for me in found)
                # With a member missing, the smallest is not known: the fleet's is only never above a known one.
                if e[k] > least or (len(found) == len(members) and e[k] != least):
                    raise InvalidCatalog(f"{where}: {k!r} {e[k]} must be the smallest member's ({least})")
            # Optional: a member's may be unknown (an older or hand-made catalog); the fleet's is never above a known one.
            known = [me["network_gbps"] for me in found if me.get("network_gbps") is not None]
            if e.get("network_gbps") is not None and known and e["network_gbps"] > min(known):
                raise InvalidCatalog(f"{where}: 'network_gbps' {e['network_gbps']} must not be above the smallest "
                                     f"member's ({min(known)})")

    # ------------------------------------------------------------ lookups
    def entry(self, kind: str, *key: str) -> dict[str, Any] | None:
        return self._index[kind].get(tuple(key))

    def dbu_rate(self, cloud: str, plan: str, sku: str) -> float:
        """US dollars per DBU for the workspace's plan and the compute SKU."""
        e = self.entry("dbu_rates", cloud, plan.lower(), sku)
        if e is None:
            known = sorted({k[1] for k in self._index["dbu_rates"] if k[0] == cloud})
            raise UnknownPlan(cloud, plan, sku, known)
        return float(e["usd_per_dbu"])

    def dbu_multiplier(self, cloud: str, sku: str) -> float:
        """How many times the node's DBUs a SKU consumes (Photon burns more DBUs per hour)."""
        e = self.entry("dbu_multipliers", cloud, sku)
        if e is None:
            raise TrimtabCostError(f"unknown SKU {sku!r} on {cloud}: no DBU multiplier in the price catalog")
        return float(e["multiplier"])

    def node_type(self, cloud: str, node_type: str) -> NodeTypeInfo:
        e = self.entry("node_types", cloud, node_type)
        if e is None:
            raise UnknownNodeType(cloud, node_type, "DBUs per hour or sizes")
        network = e.get("network_gbps")
        return NodeTypeInfo(cloud, node_type, str(e["family"]), int(e["vcpus"]), float(e["memory_gb"]),
                            float(e["local_disk_gb"]), float(e["dbus_per_hour"]),
                            float(network) if network is not None else None,
                            tuple(str(m) for m in e.get("members") or ()),
                            int(e.get("gpus", 0)), str(e.get("arch", DEFAULT_ARCH)))

    def dbus_per_hour(self, cloud: str, node_type: str) -> float:
        return self.node_type(cloud, node_type).dbus_per_hour

    def hourly_price(self, cloud: str, region: str, node_type: str) -> float:
        """On-demand list price of one instance-hour, without DBUs. A fleet node type without a price
        of its own costs its dearest member's: which member a node lands on is Databricks' choice at
        launch, so the estimate is an upper bound over them (the module's docstring)."""
        e = self.entry("compute_prices", cloud, region, node_type)
        if e is not None:
            return float(e["usd_per_hour"])
        if region not in self.regions(cloud):
            raise UnknownRegion(cloud, region, self.regions(cloud))
        members = self.members(cloud, node_type)
        if members:
            try:
                return max(self.hourly_price(cloud, region, m) for m in members)
            except UnknownNodeType as err:
                # Priced without that member, the fleet could read cheaper than the node it launched.
                raise UnknownNodeType(cloud, err.node_type,
                                      f"on-demand price in {region} (a member of fleet {node_type})") from None
        raise UnknownNodeType(cloud, node_type, f"on-demand price in {region}")

    def price_entry(self, cloud: str, region: str, node_type: str) -> dict[str, Any] | None:
        """The compute price entry `hourly_price` reads for ``node_type`` in ``region``: its own, or for a
        fleet without one its dearest member's (whose source and date are then the fleet's); None when
        there is none (`hourly_price` says why)."""
        e = self.entry("compute_prices", cloud, region, node_type)
        if e is not None or not self.members(cloud, node_type):
            return e
        priced = [m for m in (self.entry("compute_prices", cloud, region, m) for m in self.members(cloud, node_type))
                  if m is not None]
        if len(priced) != len(self.members(cloud, node_type)):
            return None
        return max(priced, key=lambda m: float(m["usd_per_hour"]))

    def instance_types(self, cloud: str) -> list[str]:
        """The node types with a list price of their own at the cloud (every one but the fleets, which
        are priced from their members): what a cloud's price API is asked for."""
        return [t for t in self.node_types(cloud) if not self.members(cloud, t)]

    def members(self, cloud: str, node_type: str) -> tuple[str, ...]:
        """The instance types a fleet node type may launch; () for any other (or unknown) node type."""
        e = self.entry("node_types", cloud, node_type)
        return tuple(str(m) for m in (e or {}).get("members") or ())

    def spot_discount(self, cloud: str, family: str) -> float:
        """Typical fraction off the on-demand price for spot capacity of a family (0.6 = 60% off).
        A fleet family without a discount of its own takes the smallest of its members' families'
        (its spot nodes never read cheaper than on the member that discounts least)."""
        e = self.entry("spot_discounts", cloud, family)
        if e is not None:
            return float(e["discount"])
        nodes = self._index["node_types"]
        fleets = [n for (c, _), n in nodes.items() if c == cloud and n["family"] == family and n.get("members")]
        members = [m for n in fleets for m in n["members"]]
        lacking = [m for m in members if (cloud, m) not in nodes]
        if lacking:
            raise UnknownNodeType(cloud, lacking[0], f"family (a member of fleet family {family})")
        if members:
            return min(self.spot_discount(cloud, str(nodes[(cloud, m)]["family"])) for m in members)
        raise TrimtabCostError(f"unknown instance family {family!r} on {cloud}: no spot discount in the catalog")

    def ebs_price(self, cloud: str, region: str, volume_type: str) -> StoragePrice:
        e = self.entry("storage_prices", cloud, region, volume_type)
        if e is None:
            if region not in {k[1] for k in self._index["storage_prices"] if k[0] == cloud}:
                raise UnknownRegion(cloud, region, self.regions(cloud))
            raise UnknownVolumeType(cloud, region, volume_type)
        return StoragePrice(
            volume_type=volume_type,
            usd_per_gb_month=float(e["usd_per_gb_month"]),
            included_iops=int(e.get("included_iops", 0)),
            usd_per_iops_month=float(e.get("usd_per_iops_month", 0.0)),
            included_throughput_mibps=int(e.get("included_throughput_mibps", 0)),
            usd_per_mibps_month=float(e.get("usd_per_mibps_month", 0.0)),
        )

    def regions(self, cloud: str) -> list[str]:
        return sorted({k[1] for k in self._index["compute_prices"] if k[0] == cloud})

    def node_types(self, cloud: str) -> list[str]:
        return sorted(k[1] for k in self._index["node_types"] if k[0] == cloud)

    def plans(self, cloud: str, sku: str = "jobs") -> list[str]:
        """The plans the catalog has a DBU rate for on ``cloud`` for ``sku`` (job clusters bill as jobs)."""
        return sorted(k[1] for k in self._index["dbu_rates"] if k[0] == cloud and k[2] == sku)

    # ------------------------------------------------------------ new versions
    def with_entries(self, kind: str, updated: Iterable[dict[str, Any]], version: str) -> PriceCatalog:
        """A new catalog where ``updated`` entries replace (or add to) those of ``kind`` with the same key."""
        keys = KINDS[kind][2]
        merged = dict(self._index[kind])
        for e in updated:
            _validate(kind, e, "update")
            merged[tuple(e[k] for k in keys)] = e
        entries = dict(self.entries)
        entries[kind] = tuple(merged.values())
        return PriceCatalog(version, self.currency, self.hours_per_month, entries, self.note)

    def write(self, directory: Path) -> None:
        """Writes the catalog in the shipped layout, one entry per line so diffs stay readable."""
        directory.mkdir(parents=True, exist_ok=True)
        for kind, (fname, top, _, _) in KINDS.items():
            body = ",\n  ".join(json.dumps(e) for e in self.entries.get(kind, ()))
            (directory / fname).write_text(f'{{"{top}": [\n  {body}\n]}}\n')
        manifest = {"format": 1, "version": self.version, "currency": self.currency,
                    "hours_per_month": self.hours_per_month, "note": self.note,
                    "files": [v[0] for v in KINDS.values()]}
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def _number_problem(field_name: str, e: dict[str, Any]) -> str | None:
    """Why ``e[field_name]`` is not a number its rule takes, or None."""
    test, what = NUMBER_RULES[field_name]
    v = e.get(field_name)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not test(v):
        shown = "missing" if field_name not in e else repr(v)
        return f"{field_name!r} must be {what}, not {shown}"
    return None


def _validate(kind: str, e: Any, where: str) -> None:
    """`InvalidCatalog` naming ``where`` (the file and the entry's index), the entry and the field
    for an entry the lookups could not use as it is."""
    _, _, keys, numbers = KINDS[kind]
    if not isinstance(e, dict):
        raise InvalidCatalog(f"{where}: entry is not an object: {e!r}")
    for k in keys:
        if not isinstance(e.get(k), str) or not e[k]:
            raise InvalidCatalog(f"{where}: entry {e!r} has no {k!r}")
    who = "/".join(e[k] for k in keys)
    if kind == "node_types" and "members" in e:
        members = e["members"]
        if not isinstance(members, list) or not members or \
                not all(isinstance(m, str) and m for m in members) or len(set(members)) != len(members):
            raise InvalidCatalog(f"{where} ({who}): 'members' must be a non-empty list of distinct node types "
                                 f"(the instance types the fleet launches), not {members!r}")
    if kind == "node_types" and "arch" in e and e["arch"] not in ARCHES:
        raise InvalidCatalog(f"{where} ({who}): 'arch' must be one of {', '.join(ARCHES)} (leave it out for "
                             f"{DEFAULT_ARCH}), not {e['arch']!r}")
    for k in REQUIRED_TEXT.get(kind, ()):
        if not isinstance(e.get(k), str) or not e[k].strip():
            shown = "missing" if k not in e else repr(e[k])
            raise InvalidCatalog(f"{where} ({who}): {k!r} must be a non-empty string, not {shown}")
    for k in numbers:
        problem = _number_problem(k, e)
        if problem:
            raise InvalidCatalog(f"{where} ({who}): {problem}")
    for k in ("source", "date"):
        if not isinstance(e.get(k), str) or not e[k].strip():
            raise InvalidCatalog(f"{where}: entry {e!r} has no {k!r} (every price names its source and date)")
    for k in OPTIONAL_NUMBERS.get(kind, ()):
        problem = _number_problem(k, e) if k in e else None
        if problem:
            raise InvalidCatalog(f"{where} ({who}): {problem} (leave it out for none)")
    for k, provenance in OPTIONAL_SOURCED.get(kind, {}).items():
        if e.get(k) is None:
            continue
        problem = _number_problem(k, e)
        if problem:
            raise InvalidCatalog(f"{where} ({who}): {problem}")
        for p in provenance:
            if not isinstance(e.get(p), str) or not e[p].strip():
                raise InvalidCatalog(f"{where}: entry {e!r} has {k!r} but no {p!r} (every figure names its source)")


def _check_currency(currency: Any, where: str) -> None:
    if currency != CURRENCY:
        raise InvalidCatalog(f"{where}: 'currency' must be {CURRENCY!r}, not {currency!r}: every price in a catalog "
                             "is in US dollars (the usd_per_* fields, what `trimtab prices update` writes, the "
                             "clouds' bills runs are checked against); a catalog in another currency is not supported")


def _check_hours_per_month(hours: Any, where: str) -> None:
    # Storage is priced per GB-month and divided by this: 0 stopped every poll, a negative made
    # storage a refund.
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) or hours <= 0:
        raise InvalidCatalog(f"{where}: 'hours_per_month' must be a number > 0 (730 is the clouds' month), "
                             f"not {hours!r}")


def load_catalog(path: Path | None = None) -> PriceCatalog:
    """Loads a catalog directory (the shipped one by default; that one is cached)."""
    if path is None:
        return _load_shipped()
    return _load(Path(path))


def active_catalog_dir(state_dir: Path) -> Path | None:
    """``<state_dir>/prices`` when ``trimtab prices update`` has written a catalog there, else None."""
    candidate = Path(state_dir) / "prices"
    return candidate if (candidate / "manifest.json").is_file() else None


def load_active_catalog(state_dir: Path) -> PriceCatalog:
    """The refreshed catalog in the state directory if there is one, else the shipped catalog."""
    global _last_active
    catalog = load_catalog(active_catalog_dir(state_dir))
    _last_active = catalog
    return catalog


# The catalog `load_active_catalog` read last in this process. A server reads its catalog once at
# start (`server.serve.start_server`), so in a server process this is the one its collector and
# planner price with; the workspace service checks a region against it when the server has not
# handed it one (`server.services.workspaces.configure(catalog=...)`), so what `workspace add/set`
# accepts is what runs can be priced in.
_last_active: PriceCatalog | None = None


def last_active_catalog() -> PriceCatalog | None:
    """The catalog `load_active_catalog` read last in this process, or None before any."""
    return _last_active


@lru_cache(maxsize=1)
def _load_shipped() -> PriceCatalog:
    return _load(SHIPPED_DIR)


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidCatalog(f"cannot read price catalog file {file}: {exc}") from exc


def _load(directory: Path) -> PriceCatalog:
    manifest_file = directory / "manifest.json"
    manifest = _read_json(manifest_file)
    if not isinstance(manifest, dict) or manifest.get("format") != 1 or not manifest.get("version"):
        raise InvalidCatalog(f"{manifest_file}: not a format-1 catalog manifest with a version")
    currency = manifest.get("currency", CURRENCY)
    _check_currency(currency, str(manifest_file))
    hours_per_month = manifest.get("hours_per_month", 730)
    _check_hours_per_month(hours_per_month, str(manifest_file))
    entries: dict[str, tuple[dict[str, Any], ...]] = {}
    for kind, (fname, top, keys, _) in KINDS.items():
        data = _read_json(directory / fname)
        items = data.get(top) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise InvalidCatalog(f"{directory / fname}: expected a {top!r} list")
        seen: dict[tuple[str, ...], int] = {}
        for i, e in enumerate(items):
            _validate(kind, e, f"{directory / fname} entry {i}")
            # Two entries for one key: the lookups would silently take the last one.
            first = seen.setdefault(tuple(e[k] for k in keys), i)
            if first != i:
                raise InvalidCatalog(f"{directory / fname} entry {i}: {'/'.join(e[k] for k in keys)} is already "
                                     f"entry {first}; keep one")
        entries[kind] = tuple(items)
    return PriceCatalog(
        version=str(manifest["version"]),
        currency=currency,
        hours_per_month=float(hours_per_month),
        entries=entries,
        note=str(manifest.get("note", "")),
    )
