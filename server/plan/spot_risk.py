"""Spot in the decision space: which candidates are offered on spot and how, how many of a
configuration's nodes run on it, and the job's own rate of losing them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from models.spot import SpotLossRate, SpotRun, spot_loss_rate
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.costing.run_cost import shape_first_on_demand
from server.domain import ClusterConfig, Run
from server.plan.policy import ClusterPolicy
from server.plan.range_use import RangeUse, model_workers
from server.spec import azure_availability

# Expected spot reclaims per node-hour before a job's own runs say otherwise: the prior of
# `spot_losses` (`models.spot`), weighing as `models.spot.PRIOR_RUNS` of the job's runs, so a job's own
# losses (or their absence) soon outweigh it. It rests on no published per-node-hour figure; it is a
# deliberately cautious guess. What was found (spot review): AWS's Spot Instance Advisor says only that
# its "frequency of interruption represents the rate at which Spot has reclaimed capacity during the
# trailing month", in bands < 5%, 5-10%, 10-15%, 15-20% and > 20% (the Advisor's data description,
# as quoted by grailbio/base's spotadvisor package); read as a share of instances held a whole month,
# its lowest band is < 0.05 / 720 h, about 7e-5 a node-hour, 1/140 of this, but AWS does not say
# per instance or per hour, and instances that live hours are not the ones held for a month. FinOps
# vendors' figures are of that order (nOps: under 5% of spot instances interrupted in a month; others
# 5-10% a month). No Databricks or EMR per-node-hour rate was found. Kept at 0.01 until one is:
# priced per lost node (`models.spot_rework`) it adds about 0.5% to an hour-long run on 8 spot
# workers, so a prior too high still leaves spot cheaper where it saves 50-70%, while one too low
# would hide a market that takes nodes every night until the job's runs show it.
SPOT_INTERRUPTIONS_PER_NODE_HOUR = 0.01
SPOT_LOSS = "spot_loss"  # the run anomaly of a run that lost spot capacity


def spot_options_for(options: list[bool], live: ClusterConfig, catalog: PriceCatalog, cloud: str,
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
    how far into their ranges the project's runs went (`model_workers`)."""
    if not config.availability.upper().startswith("SPOT"):
        return 0.0
    first = shape_first_on_demand(config)
    return max(0.0, model_workers(config, use) - max(0, first - 1)) + (1.0 if first < 1 else 0.0)


def spot_losses(runs: Iterable[Run], use: RangeUse | None = None) -> SpotLossRate:
    """The job's own spot loss rate from its runs (oldest first; `models.spot`): each run on spot
    counts its spot node-hours, and the nodes it lost (`Run.nodes_lost`; one when it lost capacity
    but the count is unknown), with
    `SPOT_INTERRUPTIONS_PER_NODE_HOUR` as the prior. A run on an autoscale range counts the workers
    the project's runs used (``use``, `range_use`), as its candidates are priced: counted at the
    geometric mean, a job that stays near its min spread each loss over node-hours it never had."""
    return spot_loss_rate([SpotRun(node_hours=spot_nodes(r.config, use) * max(r.runtime_s, 0.0) / 3600.0,
                                   lost=SPOT_LOSS in r.anomalies, nodes_lost=r.nodes_lost)
                           for r in runs if r.config is not None], SPOT_INTERRUPTIONS_PER_NODE_HOUR)


def keeping_on_demand(config: ClusterConfig, first_on_demand: int, *, azure: bool = False) -> ClusterConfig:
    """``config`` with ``first_on_demand`` nodes on demand, as applying it writes the field
    (`server.spec.recommendation_overlay`). A 0 (the driver on spot too) is put in the spec's cloud
    attributes as well: `shape_first_on_demand` reads a bare 0 as unset (Databricks' 1), which priced
    a spot driver on demand and left it out of `spot_nodes`."""
    config = dataclasses.replace(config, first_on_demand=first_on_demand)
    if first_on_demand or not config.availability.upper().startswith("SPOT") or \
            shape_first_on_demand(config) == 0:
        return config
    key = "azure_attributes" if azure else "aws_attributes"
    return dataclasses.replace(config, spec={**config.spec, key: {**(config.spec.get(key) or {}), "first_on_demand": 0}})


def spot_share(config: ClusterConfig, use: RangeUse | None = None) -> tuple[float, bool]:
    """The share of ``config``'s workers on spot (0..1), and whether its driver is on spot too. ``use``:
    how far into their ranges the project's runs went: the first workers on demand are a larger share
    of a range that runs near its min."""
    workers = model_workers(config, use)
    driver = config.availability.upper().startswith("SPOT") and shape_first_on_demand(config) < 1
    on_spot = spot_nodes(config, use) - (1.0 if driver else 0.0)
    return (on_spot / workers if workers > 0 else 0.0), driver


def moved_off_spot(current: ClusterConfig, chosen: ClusterConfig, use: RangeUse | None = None) -> bool:
    """Whether ``chosen`` puts a smaller share of the cluster on spot than ``current`` (workers on
    demand, or the driver), both at the workers the project's runs used (``use``). Fewer nodes alone
    is not: 4 large spot workers for 8 small ones is a change of size, every worker still on spot."""
    (share_now, driver_now), (share, driver) = spot_share(current, use), spot_share(chosen, use)
    return share < share_now - 1e-9 or (driver_now and not driver)


def spot_kind_for(live: ClusterConfig, policy: ClusterPolicy | None, *, azure: bool,
                  owner: str | None = None) -> str:
    """The availability a spot candidate is written with: the owner's spot kind (``owner``, SPOT or
    SPOT_WITH_FALLBACK as `server.spec` names them on AWS: `server.plan.owner_on_demand`), else the
    live cluster's, SPOT_WITH_FALLBACK for a job on demand, and the other kind when the policy's
    availability rule refuses that one and allows the other (a policy allowing pure SPOT only).
    The owner's before the live one: the live cluster may be on demand by Trimtab's own write (after
    spot losses), and read from it an owner's no-fallback choice was lost at the move back to spot."""
    spot = ("SPOT", "SPOT_WITH_FALLBACK")
    own = (owner or "").upper() if (owner or "").upper() in spot else live.availability.upper()
    kinds = [own] if own in spot else []
    kinds += [k for k in ("SPOT_WITH_FALLBACK", "SPOT") if k not in kinds]
    if policy is not None:
        path = f"{'azure' if azure else 'aws'}_attributes.availability"
        for kind in kinds:
            if policy.allows_value(path, azure_availability(kind) if azure else kind):
                return kind
    return kinds[0]


def loss_twins(config: ClusterConfig, on_demand_floor: int) -> list[ClusterConfig]:
    """``config`` (on spot) on demand, and with half its workers on demand, as the grid's spot
    configurations are offered after losses (`server.plan.candidates.build_candidates`)."""
    twins = [dataclasses.replace(config, availability="ON_DEMAND", first_on_demand=1)]
    fixed = config.autoscale_min if config.autoscale_max > 0 else config.num_workers
    half = max(on_demand_floor, 1 + fixed // 2)
    if fixed >= 2 and half > shape_first_on_demand(config):
        twins.append(dataclasses.replace(config, first_on_demand=half))
    return twins
