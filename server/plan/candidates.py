"""The decision space of one project: cluster configurations the tuner may pick, priced.

`build_candidates` puts the space together from parts with a module each: names and sameness
(`server.plan.config_id`), instance pools (`pools`), families and kinds of hardware (`families`),
worker bounds (`worker_bounds`), spot (`spot_risk`), disks (`disks`), prices (`pricing`), the stored
project's cluster (`project_cluster`) and the reason for leaving it (`leaving_note`). The names other
modules use are re-exported here, where they have always been imported from.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence

from models.space import Candidate
from models.spot import SpotLossRate
from server.costing.catalog import NodeTypeInfo, PriceCatalog
from server.costing.ebs import DiskUse
from server.costing.errors import TrimtabCostError
from server.costing.run_cost import shape_first_on_demand
from server.domain import ClusterConfig, Project, ProjectSettings, Run, Workspace
from server.errors import FailedPrecondition
from server.hardware import NodeKind
from server.plan.config_id import config_id_of, driver_of, same_hardware
from server.plan.disks import REQUIRED_VOLUME_GB, as_written, with_required_volume
from server.plan.families import (
    cluster_kinds,
    default_families,
    families_for,
    kind_of,
    kind_refused,
    matching_driver,
)
from server.plan.leaving_note import leaving_note
from server.plan.peak_floor import PeakFloor, hold_floor
from server.plan.policy import ClusterPolicy
from server.plan.pools import PoolBacking, on_pool, pool_backing, pool_too_small
from server.plan.pricing import Pricing, dbu_rates, priced_candidate, pricing_for
from server.plan.project_cluster import (
    REJECTED_KEPT,
    REJECTED_KEY,
    owner_availability,
    owner_first_on_demand,
    project_anchor,
    project_config,
    project_default_max_workers,
    rejected_configs,
    segment_floor,
)
from server.plan.range_use import RangeUse, range_use
from server.plan.search_window import measured_live, search_window
from server.plan.spot_risk import (
    SPOT_INTERRUPTIONS_PER_NODE_HOUR,
    keeping_on_demand,
    loss_twins,
    moved_off_spot,
    spot_kind_for,
    spot_losses,
    spot_nodes,
    spot_options_for,
    spot_share,
)
from server.plan.storage import held_volumes
from server.plan.worker_bounds import (
    DEFAULT_MAX_FACTOR,
    DEFAULT_MAX_FLOOR,
    MAX_WORKERS,
    MIN_WORKERS,
    default_max_workers,
    no_autoscale_range,
    outside_bounds,
    search_workers,
    worker_counts,
)

# What other modules import from here (the names moved out with their jobs, this stays their address).
__all__ = [
    "DEFAULT_MAX_FACTOR",
    "DEFAULT_MAX_FLOOR",
    "MAX_WORKERS",
    "MIN_WORKERS",
    "REJECTED_KEPT",
    "REJECTED_KEY",
    "REQUIRED_VOLUME_GB",
    "SPOT_INTERRUPTIONS_PER_NODE_HOUR",
    "PoolBacking",
    "Pricing",
    "build_candidates",
    "by_id",
    "config_id_of",
    "dbu_rates",
    "default_families",
    "default_max_workers",
    "driver_of",
    "families_for",
    "leaving_note",
    "moved_off_spot",
    "on_pool",
    "outside_bounds",
    "pool_backing",
    "pricing_for",
    "project_anchor",
    "project_candidates",
    "project_config",
    "project_default_max_workers",
    "same_hardware",
    "spot_losses",
    "spot_nodes",
    "spot_share",
    "with_required_volume",
    "worker_counts",
]


def build_candidates(current: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog,
                     pricing: Pricing, *, anchor: ClusterConfig | None = None,
                     tried: Iterable[ClusterConfig] = (), driver: str | None = None,
                     drivers: Mapping[NodeKind, str] | None = None,
                     policy: ClusterPolicy | None = None,
                     pool: PoolBacking | None = None,
                     current_refused: bool = False,
                     rejected: Iterable[str] = (),
                     spot_losses: SpotLossRate | None = None,
                     disk_uses: Sequence[DiskUse] = (),
                     volumes_held: Collection[str] = (),
                     use: RangeUse | None = None,
                     peak: PeakFloor | None = None,
                     live_measured: bool = False,
                     owners_on_demand: int | None = None,
                     owners_availability: str | None = None) -> list[tuple[Candidate, ClusterConfig]]:
    """Every configuration within the project's bounds, priced; current and ``tried`` ones included.

    ``anchor`` (the configuration the project was imported with) fixes the
    default bounds, so the space does not wander as recommendations are applied.
    Returns (candidate, configuration) pairs; the configuration is what applying
    the candidate writes (node type, driver, size, availability), everything
    else being kept from the live spec by `server.spec` when applied. ``driver``
    (Trimtab's driver choice, `server.plan.driver`) is every candidate's driver
    unless the user fixed one; without it the driver is the anchor's. Workers of another kind of
    hardware get ``drivers``' driver of their kind (`server.plan.driver.plan_drivers`), else the
    node type of their kind nearest ``driver`` (`matching_driver`).

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
    spot), is a fixed size while the project keeps autoscaling, or the user turned it down
    (``rejected``, `REJECTED_KEY`), the current one included: its runs still teach the model, and
    the next recommendation is inside the bounds. A rejected one the job never ran on is no
    candidate at all.

    ``spot_losses`` (the job's own spot loss rate, `spot_losses`; the prior without it) prices each
    spot candidate's interruption risk. Once the job has lost spot nodes, each spot candidate of two
    workers or more is offered with half its workers on demand too (``first_on_demand``).
    A spot candidate never keeps fewer nodes on demand than its owner does (``owners_on_demand``,
    `server.plan.project_cluster.owner_first_on_demand`; without it the cluster the project was
    imported with: its ``first_on_demand``; 0, the driver on spot too, stays 0), and one whose every node that
    leaves on demand is no candidate (the on-demand one is the same cluster). A configuration the
    job ran on keeps its own ``first_on_demand`` (0 or 1, which its id does not tell apart, also
    where the grid's copy of the current one stands for it) unless that is below the floor (Trimtab
    wrote it before the owner raised the floor): then it is observed only, as outside the bounds,
    and offered at the floor (one configuration to the plan for a spot driver under a floor of 1).
    A spot candidate is of the owner's spot kind (``owners_availability``, `spot_kind_for`: pure SPOT
    stays so after an ON_DEMAND write of Trimtab's), else the live cluster's.

    With ``keep_autoscaling`` every candidate is an autoscale range (unless the policy fixes the
    sizing's shape) when the cluster was imported autoscaling, also once Trimtab has made it fixed,
    or autoscales now; a cluster imported fixed that runs fixed has no autoscaling to keep
    (`server.plan.project_cluster.no_autoscaling_to_keep`). An autoscaling candidate's range is
    ``max(min_workers, n // 2)..n`` for each worker count ``n`` above min_workers: Databricks
    refuses a range whose max is not above its min, so bounds (or a pool) that leave an autoscaling
    project one worker count only are refused with a FailedPrecondition saying so and what to change. Each range is modelled and priced at the workers
    the project's runs used (``use``, `server.plan.range_use`: the same share of the way from min to
    max as its autoscaling runs measured); without such runs at the geometric mean of the range.
    ``peak`` (`server.plan.peak_floor`: the most worker cores the current segment's runs reached) is
    the floor of every allowed range's max, or the largest max the bounds allow when they allow none
    that high; a range the job ran on below it stays, observed only.

    New configurations keep to the search window (`server.plan.search_window`): within `CORE_SPAN`
    times the total worker cores of the anchor and, once a run measured it (``live_measured``), of
    ``current``, the cluster the job runs on: the search follows the evidence rather than stopping
    at a quarter of the cluster as imported for good.

    The project's worker bounds must hold a valid count (``MIN_WORKERS <= min <= max``, as
    `server.services.projects` validates them); bounds stored before that check are refused with a
    FailedPrecondition naming them, never turned into candidates outside them.
    """
    turned_down = set(rejected)
    # Each configuration once: a job's runs repeat a few configurations, and pricing each run's copy
    # (the first of equal ones stands, as `seen` keeps it below) was most of a long history's plan.
    own_configs = [current, *dict.fromkeys(tried)]
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
        shape = as_written(config, live, catalog, pricing, policy=policy, pool=pool, disk_uses=uses, use=use)
        return priced_candidate(config, info, catalog, pricing, rate=rate, shape=shape, use=use)

    current = anchor or current
    cloud = pricing.cloud
    catalog.node_type(cloud, current.node_type_id)  # an anchor the catalog lacks fails first, as it always has
    families = families_for(current, settings, catalog, cloud, live=live) if pool is None else ()
    # The kinds of hardware a candidate may be of (None on a pool, whose types are fixed): the live
    # cluster's, and a driver the user fixed is of its candidates' kind too.
    kinds = cluster_kinds(live, settings, catalog, cloud) if pool is None else None
    if kinds is not None and not families:
        raise FailedPrecondition(kind_refused(live, settings, catalog, cloud))
    if kinds is not None and settings.driver_node_type_id:
        fixed = kind_of(catalog, cloud, settings.driver_node_type_id)
        if fixed not in kinds:
            raise FailedPrecondition(
                f"the project's driver_node_type_id {settings.driver_node_type_id} is {fixed.words()}, and the "
                f"cluster runs {live.node_type_id} ({kind_of(catalog, cloud, live.node_type_id).words()}): a cluster's driver "
                "and workers run on one kind of hardware; set a driver of the cluster's kind "
                "(`trimtab project set --driver-node-type ...`)")
        kinds = frozenset({fixed})
    # The autoscaling kept is the cluster's as imported (Trimtab may have made it fixed since), or the
    # live one's (the owner gave it a range since): one imported fixed and never ranged has none.
    autoscale = settings.keep_autoscaling and (current.autoscale_max > 0 or live.autoscale_max > 0)
    # A policy that fills the sizing in (fixed ``autoscale.*``, say) refuses the other shape: the
    # filled value would sit beside the written one, which Databricks refuses when the run starts.
    shape = policy.sizing_shape(live.spec) if policy is not None and pool is None else None
    if shape is not None:
        autoscale = shape == "autoscale"
    policy_range = policy.fixed_autoscale() if policy is not None and autoscale else None
    cur_workers = search_workers(current)
    low = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    high = settings.max_workers if settings.max_workers is not None else default_max_workers(cur_workers, low)
    if low < MIN_WORKERS or high < low:
        raise FailedPrecondition(
            f"the project's worker bounds hold no valid worker count (min_workers {settings.min_workers}, "
            f"max_workers {settings.max_workers}; at least {MIN_WORKERS}, and min <= max): "
            "fix them with `trimtab project set --min-workers/--max-workers`")
    window = search_window(current, settings, catalog, cloud, live if live_measured else None)
    spot_options = [False, True] if settings.spot_allowed else [False]
    # The nodes the user keeps on demand on spot (``first_on_demand``, driver included; unset is
    # Databricks' 1): a floor, as min_workers is. Writing 1 over a user's 3 would put two more workers
    # on spot with no word of it, and the workers a user keeps on demand are often those a job cannot
    # afford to lose. A 0 (the driver on spot too) is a floor as it is: Databricks allows it, and
    # raising it to 1 moved a driver the user put on spot on purpose to on demand. The owner's value
    # (their edit since the import replaces the import's: a driver they moved to on demand after
    # losing it stays there), else the cluster as imported (``current`` is the anchor here), never the
    # live one: a spot variant Trimtab applied (half on demand, after losses) must not become the floor.
    on_demand_floor = owners_on_demand if owners_on_demand is not None else shape_first_on_demand(current)
    live_on_demand = shape_first_on_demand(live)
    driver = settings.driver_node_type_id or driver or driver_of(current)
    sized = {} if settings.driver_node_type_id else dict(drivers or {})
    # A policy forbidding driver_node_type_id runs the driver on the workers' type: each candidate's.
    follow_workers = policy is not None and pool is None and not settings.driver_node_type_id and \
        policy.forbids("driver_node_type_id")
    spot_kind = spot_kind_for(live, policy, azure=azure, owner=owners_availability)
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
                raise FailedPrecondition(pool_too_small(pool, low, high))
    if autoscale and high <= low and policy_range is None:
        # Databricks refuses an autoscale range whose max_workers is not above its min_workers
        # (INVALID_PARAMETER_VALUE), and every range must start at min_workers or above.
        raise FailedPrecondition(no_autoscale_range(settings, low, high, pool))
    # Every candidate is priced with this driver: one the catalog lacks would leave no candidate.
    catalog.node_type(cloud, driver)

    def driver_for(node_type: str) -> str | None:
        """The driver of a cluster of ``node_type`` workers: ``driver``, or its counterpart of the
        workers' kind of hardware (`matching_driver`); None for a kind the project may not use."""
        if follow_workers or pool is not None:
            return node_type if follow_workers else driver
        kind = kind_of(catalog, cloud, node_type)
        if kinds is None or kind not in kinds:
            return None
        return sized.get(kind) or matching_driver(driver, kind, catalog, cloud, families)

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
            if not window.holds(cores):
                continue
            for spot in spot_options_for(spot_options, live, catalog, cloud, info.family, pool):
                config = _config(live, node_type, cluster_driver, workers, spot, autoscale, low,
                                 first_on_demand=on_demand_floor, spot_kind=spot_kind, azure=azure)
                if policy_range is not None:  # the range the policy fixes, as it fixes it
                    config = dataclasses.replace(config, autoscale_min=policy_range[0])
                if pool is None:
                    config = with_required_volume(config, live, catalog, cloud)
                if pool is None and spot and config_id_of(config) == config_id_of(live):
                    # The grid's copy of the configuration the job runs on, which stands for it
                    # (`out.setdefault`): its nodes on demand are the live ones. An id leaves out a
                    # spot driver (first_on_demand 0 and 1 share one), and the copy, written with the
                    # floor, moved the driver with no change of hardware to show for it.
                    config = keeping_on_demand(config, max(live_on_demand, on_demand_floor), azure=azure)
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
        # Fewer nodes on demand than the owner keeps (a value Trimtab wrote before their edit raised
        # the floor) is a bound like min_workers: observed only, with its twin at the floor offered.
        floored = _at_floor(config, on_demand_floor, azure=azure) if pool is None else None
        if floored is not None and config_id_of(floored) == config_id_of(config):
            # A spot driver under a floor of 1: the id leaves the driver out, so this is the one
            # configuration to the plan, offered as the grid offers it.
            config, floored, kept = floored, None, False
        # A fixed size the job ran on, once the project keeps autoscaling: no way back to it (it stood
        # for "keep it", and every recommendation stayed fixed after `--keep-autoscaling on`).
        other_shape = autoscale and settings.keep_autoscaling and config.autoscale_max <= 0
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
                or other_kind or other_shape or outside_bounds(config, settings, catalog, cloud, pool=pool):
            # Observed only: what its runs taught stays in the model, and it is never run again.
            own = (dataclasses.replace(own[0], allowed=False), own[1])
            out[own[0].config_id] = own  # a grid twin of the same id is no way back to it
            continue
        if floored is not None:
            out[own[0].config_id] = (dataclasses.replace(own[0], allowed=False), own[1])
            floored = with_required_volume(floored, live, catalog, cloud)
            if allowed(floored) and config_id_of(floored) not in turned_down and spot_nodes(floored, use) > 0:
                pair = priced(floored, info)
                if pair is not None:
                    out.setdefault(pair[0].config_id, pair)
            continue
        out.setdefault(own[0].config_id, own)
        if i == 0 and split and config.availability.upper().startswith("SPOT"):
            # The grid has no twin of a size off it (an imported 3-16 range): after losses the job
            # could leave spot only by changing its size too, judged on no run of the new one.
            for twin in loss_twins(config, on_demand_floor):
                if allowed(twin) and config_id_of(twin) not in turned_down and \
                        not outside_bounds(twin, settings, catalog, cloud):
                    pair = priced(twin, info)
                    if pair is not None:
                        out.setdefault(pair[0].config_id, pair)
    if autoscale and peak is not None:
        hold_floor(out, peak, lambda node_type: catalog.node_type(cloud, node_type).vcpus, seen)
    return list(out.values())


def _at_floor(config: ClusterConfig, floor: int, *, azure: bool) -> ClusterConfig | None:
    """``config`` keeping ``floor`` nodes on demand (the owner's, `build_candidates`); None when it
    keeps as many already, or runs on demand (a floor is of spot nodes)."""
    if not config.availability.upper().startswith("SPOT") or shape_first_on_demand(config) >= floor:
        return None
    return keeping_on_demand(config, floor, azure=azure)


def _config(live: ClusterConfig, node_type: str, driver: str, workers: int, spot: bool,
            autoscale: bool, low: int = MIN_WORKERS, *, first_on_demand: int = 1,
            spot_kind: str = "SPOT_WITH_FALLBACK", azure: bool = False) -> ClusterConfig:
    """A new candidate's configuration, on ``live``'s disks and runtime version (what applying it
    keeps); a spot one keeps ``first_on_demand`` nodes on demand (the user's floor, `build_candidates`;
    0 is the driver on spot too, `keeping_on_demand`), an on-demand one is written with Databricks'
    default 1 (every node is on demand anyway)."""
    availability = spot_kind if spot else "ON_DEMAND"
    kept = dict(ebs_volume_type=live.ebs_volume_type, ebs_volume_count=live.ebs_volume_count,
                ebs_volume_size_gb=live.ebs_volume_size_gb, spark_version=live.spark_version)
    if autoscale:
        # The range's floor keeps to the project's minimum too (``workers`` is at least ``low``); the
        # caller passes ``workers`` above ``low`` only, so the range's max is above its min, as
        # Databricks requires (``compute.AutoScale``: max_workers strictly greater than min_workers).
        config = ClusterConfig(node_type_id=node_type, driver_node_type_id=driver,
                               autoscale_min=max(low, workers // 2), autoscale_max=workers,
                               availability=availability, **kept)
    else:
        config = ClusterConfig(node_type_id=node_type, driver_node_type_id=driver, num_workers=workers,
                               availability=availability, **kept)
    return keeping_on_demand(config, first_on_demand if spot else 1, azure=azure)


def project_candidates(project: Project, workspace: Workspace, catalog: PriceCatalog, runs: Iterable[Run],
                       *, driver: str | None = None, drivers: Mapping[NodeKind, str] | None = None,
                       policy: ClusterPolicy | None = None,
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
    peak = segment_floor(runs, segment_from, current, catalog, pricing.cloud, pricing.sku)
    return build_candidates(current, project.settings, catalog, pricing,
                            anchor=anchor, tried=[config for _, config in ran],
                            driver=driver, drivers=drivers, policy=policy,
                            pool=pool_backing(project.current_spec, pools),
                            current_refused=current_refused, rejected=rejected_configs(project),
                            spot_losses=spot_losses(runs, use), disk_uses=disk_uses,
                            volumes_held=held_volumes(project.state, current), use=use, peak=peak,
                            live_measured=measured_live(current, ran, sla_s=project.settings.sla_seconds,
                                                        segment_from=segment_from) is not None,
                            owners_on_demand=owner_first_on_demand(project, cloud=workspace.cloud, policy=under),
                            owners_availability=owner_availability(project, cloud=workspace.cloud, policy=under))


def by_id(pairs: Iterable[tuple[Candidate, ClusterConfig]]) -> dict[str, tuple[Candidate, ClusterConfig]]:
    return {c.config_id: (c, cfg) for c, cfg in pairs}
