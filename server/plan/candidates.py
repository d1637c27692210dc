"""The decision space of one project: cluster configurations the tuner may pick, priced.

A candidate's ``config_id`` is derived from a configuration alone
(`config_id_of`), so a stored run's configuration and a candidate meet by id
whether Trimtab or the user chose it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from models.space import Candidate
from server.costing.catalog import NodeTypeInfo, PriceCatalog
from server.costing.errors import TrimtabCostError
from server.costing.run_cost import hourly_cost, sku_of
from server.domain import ClusterConfig, Project, ProjectSettings, Run, Workspace
from server.errors import FailedPrecondition
from server.plan.policy import ClusterPolicy, DbuRate
from server.spec import config_from_spec, pool_ids

# Worker counts tried: a geometric grid, dense where clusters are small.
WORKER_GRID: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128)
# Expected spot reclaims per node-hour. AWS's Spot Instance Advisor puts most
# families of the sizes Databricks users pick in its lowest band (< 5% a month
# is rarer; < 5% per instance over a typical job is common); Trimtab prices the
# risk rather than forbidding spot.
SPOT_INTERRUPTIONS_PER_NODE_HOUR = 0.01
# How far from the current total cores the search reaches by default.
CORE_SPAN = 4.0
# The fewest workers a candidate has when the project sets no min_workers: a job cluster with no
# worker runs Spark on the driver alone (single-node clusters are not sized), so 0 is never one.
# `server.services.projects` validates the bounds against the same number.
MIN_WORKERS = 1
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

    Nothing is added to the price for a pool: Databricks bills a pool's instances as any cluster's
    while a cluster uses them (no surcharge), and the idle instances a pool keeps warm are the
    pool owner's cost, which no one job's configuration changes."""

    node_type: str  # the worker pool's
    driver: str  # the driver pool's (the worker pool's when the spec names no driver pool)
    # The worker pool's max_capacity, less the driver when it comes from the same pool; None:
    # unlimited. Other clusters on the pool share it, so this is only an upper bound.
    max_workers: int | None


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
    return PoolBacking(node_type=str(worker["node_type_id"]), driver=str(driver["node_type_id"]),
                       max_workers=max_workers)


def on_pool(config: ClusterConfig, current: ClusterConfig) -> ClusterConfig:
    """A run's configuration as the planner compares it: a run on the current pool(s) whose node
    types were not recorded (the run's spec names the pool, not the type) gets the pool's types."""
    if config.node_type_id or not current.spec or pool_ids(config.spec) != pool_ids(current.spec):
        return config
    return dataclasses.replace(config, node_type_id=current.node_type_id,
                               driver_node_type_id=current.driver_node_type_id,
                               availability=config.availability or current.availability)


def config_id_of(config: ClusterConfig) -> str:
    """A stable name for a configuration: ``<node type>x<workers>[as<min>-<max>][-spot]``."""
    spot = config.availability.upper().startswith("SPOT")
    if config.autoscale_max > 0:
        size = f"as{config.autoscale_min}-{config.autoscale_max}"
    else:
        size = str(config.num_workers)
    return f"{config.node_type_id}x{size}" + ("-spot" if spot else "")


def pricing_for(workspace: Workspace, spec: dict) -> Pricing:
    """How a workspace's cluster with ``spec`` is priced: its cloud, region, plan and SKU."""
    return Pricing(cloud=workspace.cloud, region=workspace.pricing_region,
                   plan=workspace.plan, sku=sku_of(spec))


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


def families_for(current: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog,
                 cloud: str) -> tuple[str, ...]:
    """The worker families the project may use: the user's list, else the current one's siblings."""
    return settings.allowed_families or default_families(
        catalog, cloud, catalog.node_type(cloud, current.node_type_id).family)


def default_families(catalog: PriceCatalog, cloud: str, family: str) -> tuple[str, ...]:
    """The current family plus its general-purpose/compute/memory siblings of the same generation.

    AWS names siblings by the leading letter (m5 → c5, r5); Azure by the series
    letter (Dsv5 → Esv5, Fsv2 has no v5). Only families the catalog prices count.
    """
    known = {catalog.node_type(cloud, t).family for t in catalog.node_types(cloud)}
    if cloud == "aws":
        m = re.fullmatch(r"([mcr])(\d+[a-z]*)", family)
        siblings = [f"{letter}{m.group(2)}" for letter in "mcr"] if m else [family]
    else:
        m = re.fullmatch(r"([DE])(.*)", family)
        siblings = [f"{letter}{m.group(2)}" for letter in "DE"] if m else [family]
    return tuple(f for f in dict.fromkeys([family, *siblings]) if f in known)


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
                     rejected: Iterable[str] = ()) -> list[tuple[Candidate, ClusterConfig]]:
    """Every configuration within the project's bounds, priced; current and ``tried`` ones included.

    ``anchor`` (the configuration the project was imported with) fixes the
    default bounds, so the space does not wander as recommendations are applied.
    Returns (candidate, configuration) pairs; the configuration is what applying
    the candidate writes (node type, driver, size, availability), everything
    else being kept from the live spec by `server.spec` when applied. ``driver``
    (Trimtab's driver choice, `server.plan.driver`) is every candidate's driver
    unless the user fixed one; without it the driver is the anchor's.

    ``policy`` (the cluster's cluster policy, `server.plan.policy`) judges every configuration on
    the spec applying it over ``current``'s spec would write. A new configuration it refuses is left
    out. One the job ran on (current or tried) that it refuses stays, with ``allowed=False``: its
    runs still teach the model, but it is never recommended. The current configuration on its own
    driver is refused only on Databricks' word (``current_refused``: a run failed the policy's
    validation when its cluster was created, as happens once an admin tightens the policy), not on
    Trimtab's reading of it, which must not move a job the service runs.

    ``pool`` (the cluster draws its nodes from an instance pool, `pool_backing`) leaves only the
    worker count or autoscale range to choose: every candidate has the pool's node type and driver
    and ``current``'s availability (the pool's), and at most the pool's workers; configurations
    the job ran on with other node types (before the pool) are left out, as no apply reaches them.

    ``rejected`` (configuration ids the user turned down, `REJECTED_KEY`) are never new candidates;
    one the job ran on stays observed only (``allowed=False``), unless it is the one the job runs now.

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

    def allowed(config: ClusterConfig) -> bool:
        return policy is None or policy.allows_config(config, live.spec, azure=azure)

    current = anchor or current
    cloud = pricing.cloud
    cur_info = catalog.node_type(cloud, current.node_type_id)
    families = families_for(current, settings, catalog, cloud) if pool is None else ()
    autoscale = current.autoscale_max > 0 and settings.keep_autoscaling
    cur_workers = current.autoscale_max if current.autoscale_max > 0 else max(current.num_workers, 1)
    cur_cores = cur_info.vcpus * cur_workers
    low = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    high = settings.max_workers if settings.max_workers is not None else max(2 * cur_workers, 8)
    if low < MIN_WORKERS or high < low:
        raise FailedPrecondition(
            f"the project's worker bounds hold no valid worker count (min_workers {settings.min_workers}, "
            f"max_workers {settings.max_workers}; at least {MIN_WORKERS}, and min <= max): "
            "fix them with `trimtab project set --min-workers/--max-workers`")
    spot_options = [False, True] if settings.spot_allowed else [False]
    driver = settings.driver_node_type_id or driver or driver_of(current)
    node_types = catalog.node_types(cloud)
    if pool is not None:
        # The pool decides the types and the availability; a driver the user fixed cannot be
        # written beside a pool either.
        node_types, driver = [pool.node_type], pool.driver
        spot_options = [live.availability.upper().startswith("SPOT")]
        if pool.max_workers is not None:
            high = min(high, max(pool.max_workers, 1))
            low = min(low, high)
    # Every candidate is priced with this driver: one the catalog lacks would leave no candidate.
    catalog.node_type(cloud, driver)

    out: dict[str, tuple[Candidate, ClusterConfig]] = {}
    for node_type in node_types:
        info = catalog.node_type(cloud, node_type)
        if pool is None and info.family not in families:
            continue
        for workers in worker_counts(low, high):
            cores = info.vcpus * workers
            if not (cur_cores / CORE_SPAN <= cores <= cur_cores * CORE_SPAN):
                continue
            for spot in spot_options:
                config = _config(current, node_type, driver, workers, spot, autoscale, low)
                if pool is not None:  # the pool's instances, as they are: nothing else changes
                    config = dataclasses.replace(
                        config, availability=live.availability, first_on_demand=live.first_on_demand,
                        ebs_volume_type=live.ebs_volume_type, ebs_volume_count=live.ebs_volume_count,
                        ebs_volume_size_gb=live.ebs_volume_size_gb)
                if not allowed(config) or config_id_of(config) in turned_down:
                    continue
                pair = _priced(config, info, catalog, pricing)
                if pair is not None:
                    out.setdefault(pair[0].config_id, pair)
    # The configuration the job runs on now, and every one it ran on, are always
    # candidates, bounds or not: their runs must be understood, and "keep it"
    # must stay an option.
    for i, config in enumerate(own_configs):
        # The configuration the job runs on, on its own driver, is judged by Databricks, not by
        # Trimtab's reading of the policy: refused only once a run failed its validation at start
        # (``current_refused``). Its runs show it passes today, and a reading that differs from the
        # service's must not move a healthy job. On another driver it is a change like any other.
        kept = i == 0 and driver == driver_of(live) and not current_refused
        config = dataclasses.replace(config, driver_node_type_id=driver)  # priced like the others
        try:
            info = catalog.node_type(cloud, config.node_type_id)
        except TrimtabCostError:
            continue
        own = _priced(config, info, catalog, pricing)
        if own is None:
            continue
        if (i == 0 and current_refused) or not (kept or allowed(config)) or \
                (own[0].config_id in turned_down and not kept):
            # Observed only: what its runs taught stays in the model, and it is never run again.
            own = (dataclasses.replace(own[0], allowed=False), own[1])
        out.setdefault(own[0].config_id, own)
    return list(out.values())


def project_candidates(project: Project, workspace: Workspace, catalog: PriceCatalog, runs: Iterable[Run],
                       *, driver: str | None = None, policy: ClusterPolicy | None = None,
                       pools: dict[str, dict] | None = None,
                       current_refused: bool = False) -> list[tuple[Candidate, ClusterConfig]]:
    """`build_candidates` for a stored project: bounds from the cluster it was imported with, its live
    cluster and every cluster of ``runs`` included, priced in its workspace, inside ``policy``, on the
    instance pool(s) its spec names (``pools``: their ``instance-pools/get`` answers by id)."""
    current = config_from_spec(project.current_spec, pools)
    anchor = project_anchor(project, pools)
    return build_candidates(current, project.settings, catalog, pricing_for(workspace, project.current_spec),
                            anchor=anchor, tried=[on_pool(r.config, current) for r in runs if r.config is not None],
                            driver=driver, policy=policy, pool=pool_backing(project.current_spec, pools),
                            current_refused=current_refused, rejected=rejected_configs(project))


def rejected_configs(project: Project) -> tuple[str, ...]:
    """The ids of the configurations the project's user turned down (`REJECTED_KEY`), oldest first."""
    kept = project.state.get(REJECTED_KEY) or []
    return tuple(str(c) for c in kept) if isinstance(kept, list) else ()


def project_anchor(project: Project, pools: dict[str, dict] | None = None) -> ClusterConfig | None:
    """The configuration the project was imported with, which fixes the default bounds; None when
    there is none or the cluster has moved onto other pools since (its node type is gone then)."""
    if not project.original_spec or pool_ids(project.original_spec) != pool_ids(project.current_spec):
        return None
    return config_from_spec(project.original_spec, pools)


def _config(current: ClusterConfig, node_type: str, driver: str, workers: int, spot: bool,
            autoscale: bool, low: int = MIN_WORKERS) -> ClusterConfig:
    availability = "SPOT_WITH_FALLBACK" if spot else "ON_DEMAND"
    if autoscale:
        # The range's floor keeps to the project's minimum too (``workers`` is at least ``low``).
        return ClusterConfig(node_type_id=node_type, driver_node_type_id=driver,
                             autoscale_min=max(low, workers // 2), autoscale_max=workers,
                             availability=availability, first_on_demand=1,
                             ebs_volume_type=current.ebs_volume_type, ebs_volume_count=current.ebs_volume_count,
                             ebs_volume_size_gb=current.ebs_volume_size_gb, spark_version=current.spark_version)
    return ClusterConfig(node_type_id=node_type, driver_node_type_id=driver, num_workers=workers,
                         availability=availability, first_on_demand=1,
                         ebs_volume_type=current.ebs_volume_type, ebs_volume_count=current.ebs_volume_count,
                         ebs_volume_size_gb=current.ebs_volume_size_gb, spark_version=current.spark_version)


def _priced(config: ClusterConfig, info: NodeTypeInfo, catalog: PriceCatalog,
            pricing: Pricing) -> tuple[Candidate, ClusterConfig] | None:
    try:
        price = hourly_cost(config, pricing.cloud, pricing.region, pricing.plan, pricing.sku, catalog,
                            workers=_model_workers(config))
    except TrimtabCostError:
        return None  # a type the catalog cannot price is never recommended
    spot = config.availability.upper().startswith("SPOT")
    workers = _model_workers(config)
    candidate = Candidate(
        config_id=config_id_of(config), instance_type=config.node_type_id, vcpus=float(info.vcpus),
        memory_gib=float(info.memory_gb), nodes=max(1, round(workers)), price_per_hour=price, family=info.family,
        spot=spot, autoscale_min=config.autoscale_min or None, autoscale_max=config.autoscale_max or None,
        driver_type=config.driver_node_type_id or None,
        interruption_rate=SPOT_INTERRUPTIONS_PER_NODE_HOUR * workers if spot else 0.0,
        network_gbps=info.network_gbps,
    )
    return candidate, config


def _model_workers(config: ClusterConfig) -> float:
    """Autoscaling clusters are modelled at the geometric mean of their range."""
    if config.autoscale_max > 0:
        return math.sqrt(max(config.autoscale_min, 1) * config.autoscale_max)
    return float(max(config.num_workers, 0))


def by_id(pairs: Iterable[tuple[Candidate, ClusterConfig]]) -> dict[str, tuple[Candidate, ClusterConfig]]:
    return {c.config_id: (c, cfg) for c, cfg in pairs}
