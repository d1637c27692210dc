"""The decision space of one project: cluster configurations the tuner may pick, priced.

A candidate's ``config_id`` is derived from a configuration alone
(`config_id_of`), so a stored run's configuration and a candidate meet by id
whether Trimtab or the user chose it.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.space import Candidate
from models.spot import SpotLossRate, SpotRun, spot_loss_rate
from server.costing.catalog import NodeTypeInfo, PriceCatalog
from server.costing.ebs import DiskUse
from server.costing.errors import TrimtabCostError
from server.costing.run_cost import hourly_cost, shape_first_on_demand, sku_of
from server.domain import ClusterConfig, Project, ProjectSettings, Run, Workspace
from server.errors import FailedPrecondition
from server.hardware import NodeKind, node_kind
from server.plan.peak_floor import PeakFloor, floor_note, hold_floor, peak_floor, segment_runs
from server.plan.policy import ClusterPolicy, DbuRate, as_created, filled_into
from server.plan.range_use import RangeUse, model_workers, range_note, range_use
from server.plan.storage import advise, held_volumes
from server.spec import (
    POOL_ID_FIELDS,
    azure_availability,
    config_from_spec,
    config_label,
    ebs_size_problem,
    pool_ids,
    recommended_spec,
    with_pool_disks,
)

# Worker counts tried: a geometric grid, dense where clusters are small.
WORKER_GRID: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128)
# Expected spot reclaims per node-hour before a job's own runs say otherwise: the prior of
# `spot_losses` (`models.spot`). AWS's Spot Instance Advisor puts most families of the sizes
# Databricks users pick in its lowest band (< 5% a month is rarer; < 5% per instance over a typical
# job is common); Trimtab prices the risk rather than forbidding spot.
SPOT_INTERRUPTIONS_PER_NODE_HOUR = 0.01
SPOT_LOSS = "spot_loss"  # the run anomaly of a run that lost spot capacity
# How far from the current total cores the search reaches by default.
CORE_SPAN = 4.0
# The fewest workers a candidate has when the project sets no min_workers: a job cluster with no
# worker runs Spark on the driver alone (single-node clusters are not sized), so 0 is never one.
# `server.services.projects` validates the bounds against the same number.
MIN_WORKERS = 1
# With no max_workers set, the search reaches up to DEFAULT_MAX_FACTOR times the workers of the
# cluster it starts from, and at least DEFAULT_MAX_FLOOR workers (`default_max_workers`).
DEFAULT_MAX_FACTOR = 2
DEFAULT_MAX_FLOOR = 8
# The most workers a project's bounds may name (`server.services.projects.check_worker_bounds`), and so
# the most the default maximum reaches: twice a minimum of 9000 read 18000, above every bound a person
# may set. It only stops a typo (2**31-1) from pricing clusters no workspace could start; a workspace's
# own cluster size limit is lower (Databricks refuses the apply, kept as the project's problem).
MAX_WORKERS = 10_000
# The volume every node of a candidate gets when one of its node types has no instance store
# (``local_disk_gb`` 0) and the live spec asks for none (``ebs_volume_count`` 0, which applying keeps):
# Databricks refuses that ("For node types with no instance store, at least one EBS volume needs to be
# specified; otherwise, cluster creation will fail", databricks-sdk ``AwsAttributes.ebs_volume_count``).
# One General Purpose SSD of 100 GiB: the smallest Databricks accepts for that type (`EBS_SIZE_RANGE_GB`),
# the volume it attaches to such a type when the fields are unset (the emulator's rule too), and gp2 as
# Databricks attaches it without IOPS or throughput. Nothing measured says the job needs more: once its
# runs show disk use, the storage advice sizes the volumes of every candidate (`_as_written`).
REQUIRED_VOLUME_TYPE = "GENERAL_PURPOSE_SSD"
REQUIRED_VOLUME_GB = 100
# Where `Project.state` keeps the ids (`config_id_of`) of configurations the user turned down (a
# rejected or reverted recommendation): they are never recommended again, only learned from.
REJECTED_KEY = "rejected_configs"
# The most rejected configurations kept per project (the newest): enough to remember every recent
# "no", few enough that an old one does not close the space for good.
REJECTED_KEPT = 20


@dataclass(frozen=True)
class Pricing:
    cloud: str
    region: str
    plan: str
    sku: str = "jobs"


@dataclass(frozen=True)
class PoolBacking:
    """What a cluster's instance pool(s) fix: the node types, and the most workers the pool holds.

    Nothing is added to the price for a pool but its instances' disks (``disks``): Databricks bills a
    pool's instances as any cluster's while a cluster uses them (no surcharge), and the idle instances a pool keeps warm are the
    pool owner's cost, which no one job's configuration changes."""

    node_type: str  # the worker pool's
    driver: str  # the driver pool's (the worker pool's when the spec names no driver pool)
    # The worker pool's max_capacity, less the driver when it comes from the same pool; None:
    # unlimited. Other clusters on the pool share it, so this is only an upper bound.
    max_workers: int | None
    # For messages: the worker pool's id and its max_capacity as the pool states it.
    pool_id: str = ""
    capacity: int | None = None
    # The EBS volumes every instance of the worker pool comes with (its ``disk_spec``) as
    # ``aws_attributes.ebs_volume_*`` items, read by the rule run collection prices them with
    # (`server.spec.with_pool_disks`); empty: none, or not AWS disks.
    disks: tuple[tuple[str, Any], ...] = ()


def pool_backing(spec: dict, pools: dict[str, dict] | None) -> PoolBacking | None:
    """The pool side of ``spec`` from its pools (``instance-pools/get`` by id); None off a pool
    (or when its worker pool is not among ``pools``)."""
    worker_id, driver_id = pool_ids(spec)
    worker = (pools or {}).get(worker_id) if worker_id else None
    driver = (pools or {}).get(driver_id) if driver_id else None
    if not worker or not driver:
        return None
    capacity = worker.get("max_capacity")
    max_workers = None
    if capacity is not None:
        max_workers = max(0, int(capacity) - (1 if driver_id == worker_id else 0))
    attrs = with_pool_disks(spec, pools).get("aws_attributes") or {}
    return PoolBacking(node_type=str(worker["node_type_id"]), driver=str(driver["node_type_id"]),
                       max_workers=max_workers, pool_id=str(worker_id),
                       capacity=int(capacity) if capacity is not None else None,
                       disks=tuple(sorted((k, v) for k, v in attrs.items() if str(k).startswith("ebs_volume_"))))


def on_pool(config: ClusterConfig, current: ClusterConfig) -> ClusterConfig:
    """A run's configuration as the planner compares it: a run on the current pool(s) whose node
    types were not recorded (the run's spec names the pool, not the type) gets the pool's types."""
    if config.node_type_id or not current.spec or pool_ids(config.spec) != pool_ids(current.spec):
        return config
    return dataclasses.replace(config, node_type_id=current.node_type_id,
                               driver_node_type_id=current.driver_node_type_id,
                               availability=config.availability or current.availability)


def config_id_of(config: ClusterConfig) -> str:
    """A stable name for a configuration: ``<node type>x<workers>[as<min>-<max>][-spot[-<n>od]]``.

    ``-<n>od``: a spot cluster whose first ``n`` workers are on demand (``first_on_demand`` n + 1,
    which counts the driver); the usual ``first_on_demand`` 1 (or 0) has no suffix."""
    spot = config.availability.upper().startswith("SPOT")
    if config.autoscale_max > 0:
        size = f"as{config.autoscale_min}-{config.autoscale_max}"
    else:
        size = str(config.num_workers)
    on_demand = f"-{config.first_on_demand - 1}od" if spot and config.first_on_demand > 1 else ""
    return f"{config.node_type_id}x{size}" + ("-spot" if spot else "") + on_demand


def pricing_for(workspace: Workspace, spec: dict, policy: ClusterPolicy | None = None) -> Pricing:
    """How a workspace's cluster with ``spec`` is priced: its cloud, region, plan and SKU. ``policy``:
    the cluster policy the spec names (None: none, or not read), whose ``runtime_engine`` (or
    ``spark_version``) the cluster gets where the spec leaves it out: a policy fixing PHOTON bills the
    Photon SKU, 2.9x the DBUs on AWS (`server.plan.policy.as_created`)."""
    return Pricing(cloud=workspace.cloud, region=workspace.pricing_region,
                   plan=workspace.plan, sku=sku_of(as_created(policy, spec)))


def dbu_rates(catalog: PriceCatalog, pricing: Pricing) -> DbuRate:
    """DBUs per hour of one node of a type as a cluster priced by ``pricing`` burns them: the
    catalog's rate times the SKU's multiplier (a Photon cluster's policy cap counts Photon's DBUs,
    as its bill does); None for a type or SKU the catalog does not know (`server.plan.policy`
    refuses such a configuration under a ``dbus_per_hour`` rule)."""

    def rate(node_type: str) -> float | None:
        try:
            return catalog.dbus_per_hour(pricing.cloud, node_type) * catalog.dbu_multiplier(pricing.cloud, pricing.sku)
        except TrimtabCostError:
            return None

    return rate


def driver_of(config: ClusterConfig) -> str:
    """Databricks runs the driver on the worker type unless the spec names one."""
    return config.driver_node_type_id or config.node_type_id


def same_cluster(a: ClusterConfig, b: ClusterConfig) -> bool:
    """Whether applying ``a`` over ``b`` would change nothing Trimtab decides (size, types, volumes)."""
    return (config_id_of(a) == config_id_of(b) and driver_of(a) == driver_of(b)
            and (a.ebs_volume_type, a.ebs_volume_count, a.ebs_volume_size_gb)
            == (b.ebs_volume_type, b.ebs_volume_count, b.ebs_volume_size_gb))


def with_required_volume(config: ClusterConfig, live: ClusterConfig, catalog: PriceCatalog,
                         cloud: str) -> ClusterConfig:
    """``config`` with one volume (`REQUIRED_VOLUME_GB`) when Databricks would refuse it without: on AWS,
    a worker or driver type with no instance store, no volume of its own, and a live spec (``live``'s)
    asking for none with ``ebs_volume_count`` 0, which applying keeps (`server.spec.recommended_spec`
    merges into the live ``aws_attributes``). A spec that leaves the count unset gets Databricks' own
    default and is left so. ``config`` as it is otherwise."""
    if cloud != "aws" or config.ebs_volume_count > 0:
        return config
    attrs = (live.spec or {}).get("aws_attributes") or {}
    if "ebs_volume_count" not in attrs or attrs["ebs_volume_count"] not in (0, "0"):
        return config

    def no_store(node_type: str) -> bool:
        try:
            return catalog.node_type(cloud, node_type).local_disk_gb <= 0
        except TrimtabCostError:
            return False  # a type the catalog does not know is never a candidate anyway

    if not any(no_store(t) for t in {config.node_type_id, driver_of(config)} if t):
        return config
    size = REQUIRED_VOLUME_GB
    volume_type = str(attrs.get("ebs_volume_type") or REQUIRED_VOLUME_TYPE)
    if attrs.get("ebs_volume_size") and ebs_size_problem(volume_type, int(attrs["ebs_volume_size"])) is None:
        size = int(attrs["ebs_volume_size"])  # the size the live spec names for its volumes, when valid
    elif ebs_size_problem(volume_type, size) is not None:
        volume_type = REQUIRED_VOLUME_TYPE
    return dataclasses.replace(config, ebs_volume_type=volume_type, ebs_volume_count=1, ebs_volume_size_gb=size)


def kind_of(catalog: PriceCatalog, cloud: str, node_type: str) -> NodeKind:
    """``node_type``'s kind of hardware as the catalog states it, by its name where the catalog does not
    (`server.hardware.node_kind`): every choice of the planner between kinds reads it here."""
    return node_kind(node_type, catalog.entry("node_types", cloud, node_type))


def families_for(current: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog,
                 cloud: str, *, live: ClusterConfig | None = None) -> tuple[str, ...]:
    """The worker families the project may use: the user's list, else the siblings of ``current``'s
    family (the cluster as imported, `project_anchor`), of the kinds of hardware ``live`` (the cluster
    as it runs; ``current`` without it) allows (`cluster_kinds`).

    The siblings are re-anchored on ``live``'s family when that is not among them: Trimtab only moves
    a cluster within them, so only its owner put it there (an m5d job moved to m7gd by hand), and
    searching the imported family's siblings again would undo that choice with no word of it."""
    live = live or current
    family = catalog.node_type(cloud, current.node_type_id).family
    if not settings.allowed_families and live.node_type_id and live.node_type_id != current.node_type_id:
        try:
            live_family = catalog.node_type(cloud, live.node_type_id).family
        except TrimtabCostError:
            live_family = family
        if live_family not in default_families(catalog, cloud, family):
            family = live_family
    listed = settings.allowed_families or default_families(catalog, cloud, family)
    kinds = cluster_kinds(live, settings, catalog, cloud)
    of_kind = {catalog.node_type(cloud, t).family for t in catalog.node_types(cloud)
               if kind_of(catalog, cloud, t) in kinds}
    return tuple(f for f in listed if f in of_kind)


def cluster_kinds(live: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog,
                  cloud: str) -> frozenset[NodeKind]:
    """The kinds of hardware (CPU architecture, GPUs or not: `server.hardware`) a recommended
    cluster may run on, its workers and its driver alike: the live cluster's workers' kind.

    Trimtab cannot know whether what a job runs (a docker image, libraries, native code, CUDA) runs on
    another architecture, or without GPUs, so the live one is a hard constraint: a user edit to
    Graviton is kept, and never undone by x86 workers under its Graviton driver. Only a user who lists
    families of the live kind and of another in allowed_families lets the search cross (each
    cluster still of one kind), and not for a cluster with a ``docker_image``, built for one
    architecture. A list of other kinds alone (one set before the owner moved the job, say) does not
    move the job: `build_candidates` refuses it, naming both."""
    own = kind_of(catalog, cloud, live.node_type_id)
    if not settings.allowed_families or (live.spec or {}).get("docker_image"):
        return frozenset({own})
    listed = {kind_of(catalog, cloud, t) for t in catalog.node_types(cloud)
              if catalog.node_type(cloud, t).family in settings.allowed_families}
    return frozenset(listed) if own in listed else frozenset({own})


def matching_driver(driver: str, kind: NodeKind, catalog: PriceCatalog, cloud: str,
                    families: Iterable[str]) -> str | None:
    """``driver``, or when it is not of ``kind`` the node type of ``kind`` among ``families`` nearest it
    in memory (the smallest holding as much, else the largest): a cluster's driver and workers are
    always of one kind (`cluster_kinds`). None when ``families`` have no type of ``kind``."""
    if kind_of(catalog, cloud, driver) == kind:
        return driver
    wanted = set(families)
    same = [catalog.node_type(cloud, t) for t in catalog.node_types(cloud)
            if kind_of(catalog, cloud, t) == kind and catalog.node_type(cloud, t).family in wanted]
    if not same:
        return None
    memory = catalog.node_type(cloud, driver).memory_gb
    big = [i for i in same if i.memory_gb >= memory]
    pick = min(big, key=lambda i: (i.memory_gb, i.vcpus, i.node_type)) if big else \
        max(same, key=lambda i: (i.memory_gb, -i.vcpus, i.node_type))
    return pick.node_type


def _kind_refused(live: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog, cloud: str) -> str:
    """Why the project's allowed_families leave no family for the cluster's kind of hardware."""
    own = kind_of(catalog, cloud, live.node_type_id).words()
    both = "" if (live.spec or {}).get("docker_image") else \
        ", or list them beside these to let Trimtab try both (each cluster of one kind)"
    return (f"the project's allowed_families ({', '.join(settings.allowed_families)}) name no {own} family, and "
            f"the cluster runs {live.node_type_id} ({own}): Trimtab never moves a job to other hardware on its "
            "own (what it runs may be built for one CPU architecture, or need GPUs). Add the "
            f"{own} families it may use (`trimtab project set --allowed-families ...`){both}")


def default_families(catalog: PriceCatalog, cloud: str, family: str) -> tuple[str, ...]:
    """The current family plus its general-purpose/compute/memory siblings of the same generation.

    AWS names siblings by the leading letter (m5 → c5, r5); Azure by the series
    letter (Dsv5 → Esv5, Fsv2 has no v5). Only families the catalog prices count.
    An AWS fleet's siblings are the other fleets with the same local disks (md-fleet → rd-fleet):
    a job on a fleet stays on fleets, which launch whatever instance is available, unless the
    project's ``allowed_families`` name instance families too.
    """
    known = {catalog.node_type(cloud, t).family for t in catalog.node_types(cloud)}
    if cloud == "aws":
        fleet = re.fullmatch(r"([mcr])(d?)-fleet", family)
        m = re.fullmatch(r"([mcr])(\d+[a-z]*)", family)
        if fleet:
            siblings = [f"{letter}{fleet.group(2)}-fleet" for letter in "mcr"]
        else:
            siblings = [f"{letter}{m.group(2)}" for letter in "mcr"] if m else [family]
    else:
        m = re.fullmatch(r"([DE])(.*)", family)
        siblings = [f"{letter}{m.group(2)}" for letter in "DE"] if m else [family]
    return tuple(f for f in dict.fromkeys([family, *siblings]) if f in known)


def outside_bounds(config: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog, cloud: str, *,
                   pool: PoolBacking | None = None) -> str:
    """Why ``config`` is outside the bounds the project's settings set ("" when it is inside): its
    workers (an autoscaling range's ends) against min/max_workers, its family against
    allowed_families, spot against spot_allowed. A pool-backed cluster's types and availability are
    the pool's, so only its workers are judged. The driver is no bound here: every candidate is
    given the driver the user fixed (`build_candidates`)."""
    why: list[str] = []
    low, high = (config.autoscale_min, config.autoscale_max) if config.autoscale_max > 0 else \
        (config.num_workers, config.num_workers)
    if settings.min_workers is not None and low < settings.min_workers:
        why.append(f"{low} workers is below min_workers {settings.min_workers}")
    if settings.max_workers is not None and high > settings.max_workers:
        why.append(f"{high} workers is above max_workers {settings.max_workers}")
    if pool is None and settings.allowed_families:
        try:
            family = catalog.node_type(cloud, config.node_type_id).family
        except TrimtabCostError:
            family = config.node_type_id
        if family not in settings.allowed_families:
            why.append(f"{family} is not among allowed_families ({', '.join(settings.allowed_families)})")
    if pool is None and not settings.spot_allowed and config.availability.upper().startswith("SPOT"):
        why.append("spot is not allowed (spot_allowed off)")
    return "; ".join(why)


def _spot_options_for(options: list[bool], live: ClusterConfig, catalog: PriceCatalog, cloud: str,
                      family: str, pool: object) -> list[bool]:
    """The spot choices a node type of ``family`` is planned with. A family whose spot saving the
    catalog does not know (discount 0: priced on demand, an upper bound) keeps the live cluster's
    availability: compared at one price, spot would lose to on demand on its interruption risk alone,
    and a job on spot (really 50-70% cheaper) would be moved to on demand, dearer in fact."""
    if pool is not None or len(options) < 2:
        return options
    try:
        known = catalog.spot_discount(cloud, family) > 0
    except TrimtabCostError:
        known = False  # unpriced: `priced` says so for the node type itself
    return options if known else [live.availability.upper().startswith("SPOT")]


def spot_nodes(config: ClusterConfig, use: RangeUse | None = None) -> float:
    """How many of ``config``'s nodes run on spot: its workers past the first ``first_on_demand - 1``
    (the driver is the first on-demand node), and the driver too with ``first_on_demand`` 0. ``use``:
    how far into their ranges the project's runs went (`_model_workers`)."""
    if not config.availability.upper().startswith("SPOT"):
        return 0.0
    first = shape_first_on_demand(config)
    return max(0.0, _model_workers(config, use) - max(0, first - 1)) + (1.0 if first < 1 else 0.0)


def spot_losses(runs: Iterable[Run], use: RangeUse | None = None) -> SpotLossRate:
    """The job's own spot loss rate from its runs (oldest first; `models.spot`): each run on spot
    counts its spot node-hours, and one loss when it lost spot capacity, with
    `SPOT_INTERRUPTIONS_PER_NODE_HOUR` as the prior. A run on an autoscale range counts the workers
    the project's runs used (``use``, `range_use`), as its candidates are priced: counted at the
    geometric mean, a job that stays near its min spread each loss over node-hours it never had."""
    return spot_loss_rate([SpotRun(node_hours=spot_nodes(r.config, use) * max(r.runtime_s, 0.0) / 3600.0,
                                   lost=SPOT_LOSS in r.anomalies)
                           for r in runs if r.config is not None], SPOT_INTERRUPTIONS_PER_NODE_HOUR)


def search_workers(config: ClusterConfig) -> int:
    """The worker count a search starts from: an autoscaling cluster's maximum, else its size (at least 1)."""
    return config.autoscale_max if config.autoscale_max > 0 else max(config.num_workers, 1)


def project_default_max_workers(project: Project) -> int | None:
    """The most workers the planner tries for ``project`` while its max_workers is unset (None when it
    is set, or there is no cluster to start from): from the cluster as imported (`project_anchor`),
    else the one Trimtab last wrote or saw, as `build_candidates` starts, so a recommendation that
    changed the workers does not move it. Worker counts do not depend on pools: none are needed."""
    if project.settings.max_workers is not None or not (project.original_spec or project.current_spec):
        return None
    start = project_anchor(project) or (config_from_spec(project.current_spec) if project.current_spec else None)
    if start is None:
        return None
    return default_max_workers(search_workers(start), project.settings.min_workers)


def default_max_workers(workers: int, min_workers: int | None) -> int:
    """The most workers the planner tries when the project sets no max_workers: twice the larger of
    ``workers`` (the cluster the search starts from: the one the project was imported with) and
    ``min_workers``, and at least `DEFAULT_MAX_FLOOR`.

    A minimum above the cluster moves the starting point up to it, so the search gets the same room
    above the minimum as it has above the cluster (a minimum of 50 on a 4-worker job searches 50..100),
    and an unset maximum never falls below the minimum (which left no worker count to choose). Never
    above `MAX_WORKERS`, the cap on the bounds a person sets."""
    start = max(workers, min_workers if min_workers is not None else MIN_WORKERS)
    return min(max(DEFAULT_MAX_FACTOR * start, DEFAULT_MAX_FLOOR), max(MAX_WORKERS, start))


def worker_counts(low: int, high: int) -> list[int]:
    """The worker counts tried between ``low`` and ``high`` (both included); ValueError for bounds
    that hold no valid count, rather than counts outside them."""
    if low < MIN_WORKERS or high < low:
        raise ValueError(f"worker bounds {low}..{high}: need {MIN_WORKERS} <= low <= high")
    counts = [n for n in WORKER_GRID if low <= n <= high]
    for edge in (low, high):  # the bounds themselves are always candidates
        if edge not in counts:
            counts.append(edge)
    return sorted(counts)


def build_candidates(current: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog,
                     pricing: Pricing, *, anchor: ClusterConfig | None = None,
                     tried: Iterable[ClusterConfig] = (), driver: str | None = None,
                     policy: ClusterPolicy | None = None,
                     pool: PoolBacking | None = None,
                     current_refused: bool = False,
                     rejected: Iterable[str] = (),
                     spot_losses: SpotLossRate | None = None,
                     disk_uses: Sequence[DiskUse] = (),
                     volumes_held: Collection[str] = (),
                     use: RangeUse | None = None,
                     peak: PeakFloor | None = None) -> list[tuple[Candidate, ClusterConfig]]:
    """Every configuration within the project's bounds, priced; current and ``tried`` ones included.

    ``anchor`` (the configuration the project was imported with) fixes the
    default bounds, so the space does not wander as recommendations are applied.
    Returns (candidate, configuration) pairs; the configuration is what applying
    the candidate writes (node type, driver, size, availability), everything
    else being kept from the live spec by `server.spec` when applied. ``driver``
    (Trimtab's driver choice, `server.plan.driver`) is every candidate's driver
    unless the user fixed one; without it the driver is the anchor's.

    Disks and runtime version are ``current``'s (the live spec's), never the anchor's: applying a
    candidate must not write the imported volumes back over those the storage advice set. Each
    candidate is priced as the spec applying it would be written (`server.spec.recommended_spec`
    over ``current``'s spec), with the storage advice the planner would add to it applied
    (`server.plan.storage.advise` over ``disk_uses``, the planner's: the advice depends on the node
    type, so each candidate gets its own). Not for the workers' configurations in ``volumes_held``
    (`server.plan.storage.held_volumes`: the user turned down their volume change), priced on
    ``current``'s volumes as the planner then writes them.

    ``policy`` (the cluster's cluster policy, `server.plan.policy`) judges every configuration on
    the spec applying it over ``current``'s spec would write. A new configuration it refuses is left
    out. One the job ran on (current or tried) that it refuses stays, with ``allowed=False``: its
    runs still teach the model, but it is never recommended. The current configuration on its own
    driver is refused only on Databricks' word (``current_refused``: a run failed the policy's
    validation when its cluster was created, as happens once an admin tightens the policy), not on
    Trimtab's reading of it, which must not move a job the service runs.

    ``pool`` (the cluster draws its nodes from an instance pool, `pool_backing`) leaves only the
    worker count or autoscale range to choose: every candidate has the pool's node type and driver
    and ``current``'s availability (the pool's), and at most the pool's workers (a min_workers above
    those is refused with a FailedPrecondition naming both, never lowered); configurations
    the job ran on with other node types (before the pool) are left out, as no apply reaches them.

    A configuration the job ran on (current or tried) is observed only (``allowed=False``) when it
    is outside the bounds the settings set (`outside_bounds`: a narrowed worker range, families,
    spot) or the user turned it down (``rejected``, `REJECTED_KEY`), the current one included: its
    runs still teach the model, and the next recommendation is inside the bounds. A rejected one
    the job never ran on is no candidate at all.

    ``spot_losses`` (the job's own spot loss rate, `spot_losses`; the prior without it) prices each
    spot candidate's interruption risk. Once the job has lost spot nodes, each spot candidate of two
    workers or more is offered with half its workers on demand too (``first_on_demand``).
    A spot candidate never keeps fewer nodes on demand than the cluster the project was imported
    with (its ``first_on_demand``, at least 1), and one whose every node that leaves on demand is
    no candidate (the on-demand one is the same cluster).

    An autoscaling candidate's range is ``max(min_workers, n // 2)..n`` for each worker count ``n``
    above min_workers: Databricks refuses a range whose max is not above its min, so bounds (or a
    pool) that leave an autoscaling project one worker count only are refused with a
    FailedPrecondition saying so and what to change. Each range is modelled and priced at the workers
    the project's runs used (``use``, `server.plan.range_use`: the same share of the way from min to
    max as its autoscaling runs measured); without such runs at the geometric mean of the range.
    ``peak`` (`server.plan.peak_floor`: the most worker cores the current segment's runs reached) is
    the floor of every allowed range's max, or the largest max the bounds allow when they allow none
    that high; a range the job ran on below it stays, observed only.

    The project's worker bounds must hold a valid count (``MIN_WORKERS <= min <= max``, as
    `server.services.projects` validates them); bounds stored before that check are refused with a
    FailedPrecondition naming them, never turned into candidates outside them.
    """
    turned_down = set(rejected)
    own_configs = [current, *tried]
    if pool is not None:
        own_configs = [c for c in own_configs if c.node_type_id == pool.node_type]
    live = current
    azure = pricing.cloud == "azure"
    rate = spot_losses.per_node_hour if spot_losses is not None else SPOT_INTERRUPTIONS_PER_NODE_HOUR
    split = spot_losses is not None and spot_losses.has_losses and pool is None

    def allowed(config: ClusterConfig) -> bool:
        return policy is None or policy.allows_config(config, live.spec, azure=azure)

    def priced(config: ClusterConfig, info: NodeTypeInfo) -> tuple[Candidate, ClusterConfig] | None:
        uses = () if config_id_of(config) in volumes_held else disk_uses
        shape = _as_written(config, live, catalog, pricing, policy=policy, pool=pool, disk_uses=uses, use=use)
        return _priced(config, info, catalog, pricing, rate=rate, shape=shape, use=use)

    current = anchor or current
    cloud = pricing.cloud
    cur_info = catalog.node_type(cloud, current.node_type_id)
    families = families_for(current, settings, catalog, cloud, live=live) if pool is None else ()
    # The kinds of hardware a candidate may be of (None on a pool, whose types are fixed): the live
    # cluster's, and a driver the user fixed is of its candidates' kind too.
    kinds = cluster_kinds(live, settings, catalog, cloud) if pool is None else None
    if kinds is not None and not families:
        raise FailedPrecondition(_kind_refused(live, settings, catalog, cloud))
    if kinds is not None and settings.driver_node_type_id:
        fixed = kind_of(catalog, cloud, settings.driver_node_type_id)
        if fixed not in kinds:
            raise FailedPrecondition(
                f"the project's driver_node_type_id {settings.driver_node_type_id} is {fixed.words()}, and the "
                f"cluster runs {live.node_type_id} ({kind_of(catalog, cloud, live.node_type_id).words()}): a cluster's driver "
                "and workers run on one kind of hardware; set a driver of the cluster's kind "
                "(`trimtab project set --driver-node-type ...`)")
        kinds = frozenset({fixed})
    autoscale = current.autoscale_max > 0 and settings.keep_autoscaling
    # A policy that fills the sizing in (fixed ``autoscale.*``, say) refuses the other shape: the
    # filled value would sit beside the written one, which Databricks refuses when the run starts.
    shape = policy.sizing_shape(live.spec) if policy is not None and pool is None else None
    if shape is not None:
        autoscale = shape == "autoscale"
    policy_range = policy.fixed_autoscale() if policy is not None and autoscale else None
    cur_workers = search_workers(current)
    low = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    high = settings.max_workers if settings.max_workers is not None else default_max_workers(cur_workers, low)
    # The core span is measured from the cluster moved up to the minimum: from the cluster itself, a
    # minimum far above it (50 workers on a 4-worker job) would leave no new candidate at all.
    cur_cores = cur_info.vcpus * max(cur_workers, low)
    if low < MIN_WORKERS or high < low:
        raise FailedPrecondition(
            f"the project's worker bounds hold no valid worker count (min_workers {settings.min_workers}, "
            f"max_workers {settings.max_workers}; at least {MIN_WORKERS}, and min <= max): "
            "fix them with `trimtab project set --min-workers/--max-workers`")
    spot_options = [False, True] if settings.spot_allowed else [False]
    # The nodes the user keeps on demand on spot (``first_on_demand``, driver included; unset is
    # Databricks' 1): a floor, as min_workers is. Writing 1 over a user's 3 would put two more workers
    # on spot with no word of it, and the workers a user keeps on demand are often those a job cannot
    # afford to lose. From the cluster as imported (``current`` is the anchor here), not the live
    # one: a spot variant Trimtab applied (half on demand, after losses) must not become the floor.
    on_demand_floor = max(1, shape_first_on_demand(current))
    driver = settings.driver_node_type_id or driver or driver_of(current)
    # A policy forbidding driver_node_type_id runs the driver on the workers' type: each candidate's.
    follow_workers = policy is not None and pool is None and not settings.driver_node_type_id and \
        policy.forbids("driver_node_type_id")
    spot_kind = _spot_kind(live, policy, azure=azure)
    node_types = catalog.node_types(cloud)
    if pool is not None:
        # The pool decides the types and the availability; a driver the user fixed cannot be
        # written beside a pool either.
        node_types, driver = [pool.node_type], pool.driver
        spot_options = [live.availability.upper().startswith("SPOT")]
        if pool.max_workers is not None:
            high = min(high, max(pool.max_workers, 1))
            if low > high:
                # The project's min_workers is a floor the user set: lowering it to what the pool
                # holds would recommend fewer workers than they allowed, with no word of it.
                raise FailedPrecondition(_pool_too_small(pool, low, high))
    if autoscale and high <= low and policy_range is None:
        # Databricks refuses an autoscale range whose max_workers is not above its min_workers
        # (INVALID_PARAMETER_VALUE), and every range must start at min_workers or above.
        raise FailedPrecondition(_no_autoscale_range(settings, low, high, pool))
    # Every candidate is priced with this driver: one the catalog lacks would leave no candidate.
    catalog.node_type(cloud, driver)

    def driver_for(node_type: str) -> str | None:
        """The driver of a cluster of ``node_type`` workers: ``driver``, or its counterpart of the
        workers' kind of hardware (`matching_driver`); None for a kind the project may not use."""
        if follow_workers or pool is not None:
            return node_type if follow_workers else driver
        kind = kind_of(catalog, cloud, node_type)
        return matching_driver(driver, kind, catalog, cloud, families) if kinds is not None and kind in kinds \
            else None

    out: dict[str, tuple[Candidate, ClusterConfig]] = {}
    for node_type in node_types:
        info = catalog.node_type(cloud, node_type)
        if pool is None and info.family not in families:
            continue
        cluster_driver = driver_for(node_type)
        if cluster_driver is None:
            continue  # of a kind the project may not use (a driver the user fixed is of another)
        for workers in worker_counts(low, high) if policy_range is None else [policy_range[1]]:
            if autoscale and workers <= low and policy_range is None:
                continue  # its range would be low..low: Databricks needs max_workers > min_workers
            cores = info.vcpus * workers
            if not (cur_cores / CORE_SPAN <= cores <= cur_cores * CORE_SPAN):
                continue
            for spot in _spot_options_for(spot_options, live, catalog, cloud, info.family, pool):
                config = _config(live, node_type, cluster_driver, workers, spot,
                                 autoscale, low, first_on_demand=on_demand_floor, spot_kind=spot_kind)
                if policy_range is not None:  # the range the policy fixes, as it fixes it
                    config = dataclasses.replace(config, autoscale_min=policy_range[0])
                if pool is None:
                    config = with_required_volume(config, live, catalog, cloud)
                if pool is None and spot and spot_nodes(config, use) == 0:
                    continue  # every node on demand (the floor covers them): the on-demand twin it is
                if pool is not None:  # the pool's instances, as they are: nothing else changes
                    # The live spec rides along: it names the pool, so a first_on_demand 0 (the spot
                    # pool's driver, `server.spec.pool_first_on_demand`) is read as set, not as unset.
                    config = dataclasses.replace(
                        config, availability=live.availability, first_on_demand=live.first_on_demand,
                        spec=copy.deepcopy(live.spec),
                        ebs_volume_type=live.ebs_volume_type, ebs_volume_count=live.ebs_volume_count,
                        ebs_volume_size_gb=live.ebs_volume_size_gb)
                configs = [config]
                fixed = config.autoscale_min if config.autoscale_max > 0 else config.num_workers
                if spot and split and fixed >= 2:
                    # After spot losses: the same cluster with half its workers on demand, which
                    # loses fewer nodes and keeps half its capacity through a loss.
                    configs.append(dataclasses.replace(
                        config, first_on_demand=max(on_demand_floor, 1 + fixed // 2)))
                for config in configs:
                    if not allowed(config) or config_id_of(config) in turned_down:
                        continue
                    pair = priced(config, info)
                    if pair is not None:
                        out.setdefault(pair[0].config_id, pair)
    # The configuration the job runs on now, and every one it ran on, are always
    # candidates: their runs must be understood. Inside the bounds and not turned down, "keep
    # it" stays an option; outside them, or rejected, they are observed only.
    seen: set[str] = set()
    for i, config in enumerate(own_configs):
        # The configuration the job runs on, on its own driver, is judged by Databricks, not by
        # Trimtab's reading of the policy: refused only once a run failed its validation at start
        # (``current_refused``). Its runs show it passes today, and a reading that differs from the
        # service's must not move a healthy job. On another driver it is a change like any other.
        # A configuration of a kind the project may not use (runs before the owner moved the job to
        # Graviton, say) is observed only, on the driver it ran with.
        other_kind = kinds is not None and kind_of(catalog, cloud, config.node_type_id) not in kinds
        own_driver = driver_of(config) if other_kind else driver_for(config.node_type_id) or driver
        kept = i == 0 and own_driver == driver_of(live) and not current_refused
        # Priced like the others: on the chosen driver, and (a run's configuration) on the live
        # disks, which a recommendation of it keeps; ``first_on_demand`` as Databricks reads it
        # (unset is 1), so applying it writes what it ran with.
        config = dataclasses.replace(config, driver_node_type_id=own_driver,
                                     first_on_demand=shape_first_on_demand(config))
        if i > 0 and pool is None:
            config = dataclasses.replace(config, ebs_volume_type=live.ebs_volume_type,
                                         ebs_volume_count=live.ebs_volume_count,
                                         ebs_volume_size_gb=live.ebs_volume_size_gb)
        if pool is None and not kept:
            # The cluster as it runs is left as Databricks accepted it; any other needs its volume.
            config = with_required_volume(config, live, catalog, cloud)
        try:
            info = catalog.node_type(cloud, config.node_type_id)
        except TrimtabCostError:
            continue
        own = priced(config, info)
        if own is None:
            continue
        if own[0].config_id in seen:
            continue  # the first of the same id stands: the current one before runs of it
        seen.add(own[0].config_id)
        if (i == 0 and current_refused) or not (kept or allowed(config)) or own[0].config_id in turned_down \
                or other_kind or outside_bounds(config, settings, catalog, cloud, pool=pool):
            # Observed only: what its runs taught stays in the model, and it is never run again.
            own = (dataclasses.replace(own[0], allowed=False), own[1])
            out[own[0].config_id] = own  # a grid twin of the same id is no way back to it
            continue
        out.setdefault(own[0].config_id, own)
        if i == 0 and split and config.availability.upper().startswith("SPOT"):
            # The grid has no twin of a size off it (an imported 3-16 range): after losses the job
            # could leave spot only by changing its size too, judged on no run of the new one.
            for twin in _loss_twins(config, on_demand_floor):
                if allowed(twin) and config_id_of(twin) not in turned_down and \
                        not outside_bounds(twin, settings, catalog, cloud):
                    pair = priced(twin, info)
                    if pair is not None:
                        out.setdefault(pair[0].config_id, pair)
    if autoscale and peak is not None:
        hold_floor(out, peak, lambda node_type: catalog.node_type(cloud, node_type).vcpus, seen)
    return list(out.values())


def _loss_twins(config: ClusterConfig, on_demand_floor: int) -> list[ClusterConfig]:
    """``config`` (on spot) on demand, and with half its workers on demand, as the grid's spot
    configurations are offered after losses (`build_candidates`)."""
    twins = [dataclasses.replace(config, availability="ON_DEMAND", first_on_demand=1)]
    fixed = config.autoscale_min if config.autoscale_max > 0 else config.num_workers
    half = max(on_demand_floor, 1 + fixed // 2)
    if fixed >= 2 and half > shape_first_on_demand(config):
        twins.append(dataclasses.replace(config, first_on_demand=half))
    return twins


def project_candidates(project: Project, workspace: Workspace, catalog: PriceCatalog, runs: Iterable[Run],
                       *, driver: str | None = None, policy: ClusterPolicy | None = None,
                       pools: dict[str, dict] | None = None,
                       current_refused: bool = False,
                       disk_uses: Sequence[DiskUse] = (),
                       runs_under: ClusterPolicy | None = None,
                       segment_from: int | None = None) -> list[tuple[Candidate, ClusterConfig]]:
    """`build_candidates` for a stored project: bounds from the cluster it was imported with, its live
    cluster and every cluster of ``runs`` included, priced in its workspace, inside ``policy``, on the
    instance pool(s) its spec names (``pools``: their ``instance-pools/get`` answers by id), spot at
    the loss rate of ``runs`` (`spot_losses`), with the storage advice over ``disk_uses`` (the
    planner's, `server.plan.storage.advise`). ``runs_under``: the cluster policy the spec names, read
    for what it fills in (`project_config`) also when the candidates are not judged by it; ``policy``
    when not given. ``segment_from``: the id of the run the current segment starts at (None: no
    change point kept), whose autoscaling runs' peak is the floor of a range's max (`peak_floor`)."""
    runs = list(runs)
    under = runs_under if runs_under is not None else policy
    pricing = pricing_for(workspace, project.current_spec, under)
    # Read on the workspace's cloud under the spec's policy: an availability the spec leaves unset is
    # priced as it runs (`server.spec.unset_attributes`: the policy's, else spot workers on AWS).
    current = project_config(project, pools, cloud=workspace.cloud, policy=under)
    anchor = project_anchor(project, pools, cloud=workspace.cloud, policy=under)
    ran = [(r, on_pool(r.config, current)) for r in runs if r.config is not None]
    use = range_use(ran, catalog, pricing.cloud, pricing.sku)
    peak = _segment_floor(runs, segment_from, current, catalog, pricing.cloud, pricing.sku)
    return build_candidates(current, project.settings, catalog, pricing,
                            anchor=anchor, tried=[config for _, config in ran],
                            driver=driver, policy=policy, pool=pool_backing(project.current_spec, pools),
                            current_refused=current_refused, rejected=rejected_configs(project),
                            spot_losses=spot_losses(runs, use), disk_uses=disk_uses,
                            volumes_held=held_volumes(project.state, current), use=use, peak=peak)


def _segment_floor(runs: Sequence[Run], segment_from: int | None, current: ClusterConfig, catalog: PriceCatalog,
                   cloud: str, sku: str) -> PeakFloor | None:
    """The floor of a range's max the current segment's autoscaling runs set (`peak_floor`)."""
    segment = segment_runs(runs, segment_from)
    ran = [(r, on_pool(r.config, current)) for r in segment if r.config is not None]
    return peak_floor(range_use(ran, catalog, cloud, sku), since=segment_from if len(segment) < len(runs) else None)


def leaving_note(project: Project, catalog: PriceCatalog, cloud: str, runs: Sequence[Run], chosen: ClusterConfig,
                 pools: dict[str, dict] | None = None, *, best: ClusterConfig | None = None,
                 policy: ClusterPolicy | None = None, segment_from: int | None = None) -> str:
    """Why the plan leaves the configuration the job runs on for ``chosen``, when the candidates made
    it do so ("" otherwise), for the recommendation's reason: the running configuration is outside
    the project's bounds (`outside_bounds`), or its user turned it down (`REJECTED_KEY`), or
    ``chosen`` moved off spot because the job loses spot nodes (`moved_off_spot`).

    ``best``: the configuration the model would settle on now (`models.decide.Decision.best`; None:
    not known, ``chosen`` is taken as it). A learning or exploration run (``chosen`` is not ``best``)
    is picked for what it teaches, so spot losses are never its reason: saying so blamed them for a
    trial that went back to spot the next run. ``policy``: the one the spec names (`project_config`).
    A moved range names the floor its max kept (`server.plan.peak_floor`; ``segment_from`` as
    `project_candidates`')."""
    current = project_config(project, pools, cloud=cloud, policy=policy)
    if same_cluster(chosen, current):
        return ""
    # Named as reasons name configurations (`config_label`): the id ("c6id.xlargex6") is a key, and
    # read as a typo in a sentence (review revG).
    name = config_label(current)
    pool = pool_backing(project.current_spec, pools)
    sku = sku_of(as_created(policy, project.current_spec))
    floor = ""
    if (current.autoscale_min, current.autoscale_max) != (chosen.autoscale_min, chosen.autoscale_max):
        peak = _segment_floor(runs, segment_from, current, catalog, cloud, sku)
        floor = floor_note(chosen, peak, catalog.node_type(cloud, chosen.node_type_id).vcpus if peak else None,
                           project.settings, pool=(pool.pool_id or "(unnamed)") if pool is not None else "",
                           policy=policy is not None)
    floor = f"; {floor}" if floor else ""
    why = outside_bounds(current, project.settings, catalog, cloud, pool=pool)
    if why:
        return f"{name} is outside the project's bounds ({why}){floor}"
    if config_id_of(current) in rejected_configs(project):
        return f"{name} was turned down (a rejected or reverted recommendation){floor}"
    if best is not None and not same_cluster(chosen, best):
        return ""
    use = range_use([(r, on_pool(r.config, current)) for r in runs if r.config is not None], catalog, cloud, sku)
    notes = [range_note(current, chosen, use, catalog, cloud)]
    notes[-1] += floor if notes[-1] else ""
    losses = spot_losses(runs, use)
    # Losses are a reason only when they made spot dearer than assumed: a loss in many spot
    # node-hours can leave the job's rate below the prior.
    if losses.has_losses and losses.per_node_hour > losses.prior_per_node_hour and \
            moved_off_spot(current, chosen, use):
        notes.append(f"fewer nodes on spot: {losses.note()}")
    return "; ".join(n for n in notes if n)


def spot_share(config: ClusterConfig, use: RangeUse | None = None) -> tuple[float, bool]:
    """The share of ``config``'s workers on spot (0..1), and whether its driver is on spot too. ``use``:
    how far into their ranges the project's runs went: the first workers on demand are a larger share
    of a range that runs near its min."""
    workers = _model_workers(config, use)
    driver = config.availability.upper().startswith("SPOT") and shape_first_on_demand(config) < 1
    on_spot = spot_nodes(config, use) - (1.0 if driver else 0.0)
    return (on_spot / workers if workers > 0 else 0.0), driver


def moved_off_spot(current: ClusterConfig, chosen: ClusterConfig, use: RangeUse | None = None) -> bool:
    """Whether ``chosen`` puts a smaller share of the cluster on spot than ``current`` (workers on
    demand, or the driver), both at the workers the project's runs used (``use``). Fewer nodes alone
    is not: 4 large spot workers for 8 small ones is a change of size, every worker still on spot."""
    (share_now, driver_now), (share, driver) = spot_share(current, use), spot_share(chosen, use)
    return share < share_now - 1e-9 or (driver_now and not driver)


def rejected_configs(project: Project) -> tuple[str, ...]:
    """The ids of the configurations the project's user turned down (`REJECTED_KEY`), oldest first."""
    kept = project.state.get(REJECTED_KEY) or []
    return tuple(str(c) for c in kept) if isinstance(kept, list) else ()


def project_anchor(project: Project, pools: dict[str, dict] | None = None, *, cloud: str = "",
                   policy: ClusterPolicy | None = None) -> ClusterConfig | None:
    """The configuration the project was imported with, which fixes the default bounds; None when
    there is none or the cluster has moved onto other pools since (its node type is gone then).
    ``cloud``: the workspace's, ``policy``: the cluster policy the live spec names, which fills the
    spec as imported too when it names the same one (`project_config`)."""
    if not project.original_spec or pool_ids(project.original_spec) != pool_ids(project.current_spec):
        return None
    return config_from_spec(project.original_spec, pools, cloud=cloud,
                            policy_values=filled_into(policy, project.original_spec))


def project_config(project: Project, pools: dict[str, dict] | None = None, *, cloud: str = "",
                   policy: ClusterPolicy | None = None) -> ClusterConfig:
    """The configuration the project's job runs on now: its live spec read on the workspace's
    ``cloud`` (aws | azure), on its ``pools``, under the cluster ``policy`` the spec names (None:
    none, or not read): an availability or ``first_on_demand`` the spec leaves unset is the one the
    policy fills in (`server.plan.policy.ClusterPolicy.filled_values`), else the cloud's default
    (`server.spec.unset_attributes`). What the planner prices as the current cluster and what
    auto-apply's same-cluster checks compare a recommendation with."""
    return config_from_spec(project.current_spec, pools, cloud=cloud,
                            policy_values=filled_into(policy, project.current_spec))


def _pool_too_small(pool: PoolBacking, min_workers: int, high: int) -> str:
    """Why a pool-backed cluster cannot be sized within the project's min_workers (``high``: the most
    workers the candidates may have on the pool), and what to change."""
    room = pool.max_workers if pool.max_workers is not None else high
    beside = " beside the driver it also holds" if pool.capacity is not None and room < pool.capacity else ""
    return (f"the project's min_workers {min_workers} does not fit its instance pool {pool.pool_id or '(unnamed)'}: "
            f"max_capacity {pool.capacity} leaves room for {room} worker{'' if room == 1 else 's'}{beside}; "
            f"lower min_workers to {high} or less (`trimtab project set --min-workers {high}`) "
            "or raise the pool's max_capacity")


def _no_autoscale_range(settings: ProjectSettings, low: int, high: int, pool: PoolBacking | None) -> str:
    """Why an autoscaling project's bounds hold no autoscale range (``low``..``high``: the worker
    counts they allow, ``high`` after the pool's room), and what to change."""
    capped = pool is not None and (settings.max_workers is None or high < settings.max_workers)
    held = f"; its instance pool {pool.pool_id or '(unnamed)'} holds at most {high}" if pool is not None and capped \
        else ""
    maximum = settings.max_workers if settings.max_workers is not None else high
    return (f"the project keeps autoscaling (keep_autoscaling on), but its worker bounds leave no autoscale range: "
            f"Databricks needs max_workers above min_workers, and min_workers {low} with max_workers "
            f"{maximum}{held} leaves only {low}; "
            "raise max_workers or lower min_workers (`trimtab project set --min-workers/--max-workers`), "
            f"or turn autoscaling off (`--keep-autoscaling off`) to size a fixed cluster of {low} workers")


def _spot_kind(live: ClusterConfig, policy: ClusterPolicy | None, *, azure: bool) -> str:
    """The availability a spot candidate is written with: the job's own spot kind (SPOT or
    SPOT_WITH_FALLBACK, as `server.spec` names them on AWS), SPOT_WITH_FALLBACK for a job on demand,
    and the other kind when the policy's availability rule refuses that one and allows the other
    (a policy allowing pure SPOT only)."""
    own = live.availability.upper()
    kinds = [own] if own in ("SPOT", "SPOT_WITH_FALLBACK") else []
    kinds += [k for k in ("SPOT_WITH_FALLBACK", "SPOT") if k not in kinds]
    if policy is not None:
        path = f"{'azure' if azure else 'aws'}_attributes.availability"
        for kind in kinds:
            if policy.allows_value(path, azure_availability(kind) if azure else kind):
                return kind
    return kinds[0]


def _config(live: ClusterConfig, node_type: str, driver: str, workers: int, spot: bool,
            autoscale: bool, low: int = MIN_WORKERS, *, first_on_demand: int = 1,
            spot_kind: str = "SPOT_WITH_FALLBACK") -> ClusterConfig:
    """A new candidate's configuration, on ``live``'s disks and runtime version (what applying it
    keeps); a spot one keeps ``first_on_demand`` nodes on demand (the user's floor, `build_candidates`),
    an on-demand one is written with Databricks' default 1 (every node is on demand anyway)."""
    availability = spot_kind if spot else "ON_DEMAND"
    first_on_demand = max(1, first_on_demand) if spot else 1
    kept = dict(ebs_volume_type=live.ebs_volume_type, ebs_volume_count=live.ebs_volume_count,
                ebs_volume_size_gb=live.ebs_volume_size_gb, spark_version=live.spark_version)
    if autoscale:
        # The range's floor keeps to the project's minimum too (``workers`` is at least ``low``); the
        # caller passes ``workers`` above ``low`` only, so the range's max is above its min, as
        # Databricks requires (``compute.AutoScale``: max_workers strictly greater than min_workers).
        return ClusterConfig(node_type_id=node_type, driver_node_type_id=driver,
                             autoscale_min=max(low, workers // 2), autoscale_max=workers,
                             availability=availability, first_on_demand=first_on_demand, **kept)
    return ClusterConfig(node_type_id=node_type, driver_node_type_id=driver, num_workers=workers,
                         availability=availability, first_on_demand=first_on_demand, **kept)


@dataclass(frozen=True)
class _Written(ClusterConfig):
    """A configuration as the spec applying it is written, with what `hourly_cost` reads of gp3
    volumes (no `ClusterConfig` field holds their IOPS/throughput; without them gp3 reads as gp2)."""

    ebs_volume_iops: int | None = None
    ebs_volume_throughput: int | None = None


def _as_written(config: ClusterConfig, live: ClusterConfig, catalog: PriceCatalog, pricing: Pricing, *,
                policy: ClusterPolicy | None, pool: PoolBacking | None,
                disk_uses: Sequence[DiskUse], use: RangeUse | None = None) -> ClusterConfig:
    """What the planner and apply make of ``config`` when it is recommended, to price it so: the
    planner drops its spec and adds the storage advice (`server.plan.storage.advise`; none on a pool,
    and none the policy refuses), and apply merges it into the live spec, keeping the live volumes'
    gp3 IOPS and anything the recommendation does not set (`server.spec.recommended_spec`). On a pool
    the pool's disks, which no recommendation changes, as run collection prices its runs' nodes with
    them: left out, a pool-backed configuration was planned cheaper than its runs are charged."""
    if pricing.cloud != "aws":
        return config  # Azure's managed disks are not sized (nor priced on a pool, as collection does)
    if pool is not None:
        return _written(config, dict(pool.disks))
    planned = dataclasses.replace(config, spec={})
    if disk_uses:
        advised, advice = advise(planned, disk_uses, 3600.0, catalog, cloud=pricing.cloud, region=pricing.region,
                                 live_attrs=(live.spec or {}).get("aws_attributes"), use=use)
        if advice is not None and advice.changed and (
                policy is None or policy.allows_config(advised, live.spec, azure=False)):
            planned = advised
    # What merges into aws_attributes depends on the live spec's own and on its pool fields alone:
    # merged over the whole spec, its Spark conf, tags and init scripts were deep-copied per candidate.
    base = {k: v for k, v in (live.spec or {}).items() if k == "aws_attributes" or k in POOL_ID_FIELDS}
    attrs = recommended_spec(base, planned, cloud="aws").get("aws_attributes") or {}
    return _written(planned, attrs, spec=config.spec)


def _written(config: ClusterConfig, attrs: Mapping[str, Any], *, spec: dict | None = None) -> _Written:
    """``config`` with the volumes ``aws_attributes`` ``attrs`` give every node (``ebs_volume_*``; none
    without them). ``spec``: read for first_on_demand 0 against unset (`shape_first_on_demand`);
    ``config``'s own by default."""

    def number(key: str) -> int | None:
        value = attrs.get(key)
        return int(value) if value else None

    return _Written(**{f.name: getattr(config, f.name) for f in dataclasses.fields(ClusterConfig)} | {
        "ebs_volume_type": str(attrs.get("ebs_volume_type") or ""),
        "ebs_volume_count": int(attrs.get("ebs_volume_count") or 0),
        "ebs_volume_size_gb": int(attrs.get("ebs_volume_size") or 0),
        "spec": config.spec if spec is None else spec,
    }, ebs_volume_iops=number("ebs_volume_iops"), ebs_volume_throughput=number("ebs_volume_throughput"))


def _priced(config: ClusterConfig, info: NodeTypeInfo, catalog: PriceCatalog, pricing: Pricing, *,
            rate: float = SPOT_INTERRUPTIONS_PER_NODE_HOUR,
            shape: ClusterConfig | None = None,
            use: RangeUse | None = None) -> tuple[Candidate, ClusterConfig] | None:
    """``config`` as a candidate, priced as ``shape`` (what is written for it; ``config`` itself
    without one), its spot nodes interrupted at ``rate`` per node-hour, a range at the workers
    ``use`` says it runs at (`_model_workers`)."""
    workers = _model_workers(config, use)
    try:
        price = hourly_cost(shape or config, pricing.cloud, pricing.region, pricing.plan, pricing.sku, catalog,
                            workers=workers)
    except TrimtabCostError:
        return None  # a type the catalog cannot price is never recommended
    spot = config.availability.upper().startswith("SPOT")
    on_demand = price
    if spot:
        # The same hardware on demand: the model's hardware feature reads it, so the spot, on-demand
        # and half-on-demand variants of one cluster share what runs teach about its speed.
        try:
            written = shape or config
            on_demand = hourly_cost(dataclasses.replace(written, availability="ON_DEMAND"), pricing.cloud,
                                    pricing.region, pricing.plan, pricing.sku, catalog, workers=workers)
        except TrimtabCostError:
            return None
    candidate = Candidate(
        config_id=config_id_of(config), label=config_label(config), instance_type=config.node_type_id,
        vcpus=float(info.vcpus),
        memory_gib=float(info.memory_gb), nodes=max(1, round(workers)), price_per_hour=price, family=info.family,
        on_demand_price_per_hour=on_demand,
        spot=spot, autoscale_min=config.autoscale_min or None, autoscale_max=config.autoscale_max or None,
        driver_type=config.driver_node_type_id or None,
        interruption_rate=rate * spot_nodes(config, use),
        network_gbps=info.network_gbps,
    )
    return candidate, config


def _model_workers(config: ClusterConfig, use: RangeUse | None = None) -> float:
    """The workers an autoscaling cluster is modelled and priced at (`server.plan.range_use.model_workers`)."""
    return model_workers(config, use)


def by_id(pairs: Iterable[tuple[Candidate, ClusterConfig]]) -> dict[str, tuple[Candidate, ClusterConfig]]:
    return {c.config_id: (c, cfg) for c, cfg in pairs}
