"""How a candidate is priced: its workspace's cloud, region, plan and SKU, DBU rates for a policy's
cap, and the priced `models.space.Candidate` itself."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from models.space import Candidate
from server.costing.catalog import NodeTypeInfo, PriceCatalog
from server.costing.errors import TrimtabCostError
from server.costing.run_cost import hourly_cost, shape_first_on_demand, sku_of
from server.domain import ClusterConfig, Workspace
from server.plan.config_id import config_id_of
from server.plan.policy import ClusterPolicy, DbuRate, as_created
from server.plan.range_use import RangeUse, model_workers
from server.plan.spot_risk import SPOT_INTERRUPTIONS_PER_NODE_HOUR, spot_nodes
from server.spec import config_label


@dataclass(frozen=True)
class Pricing:
    cloud: str
    region: str
    plan: str
    sku: str = "jobs"


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


def priced_candidate(config: ClusterConfig, info: NodeTypeInfo, catalog: PriceCatalog, pricing: Pricing, *,
                     rate: float = SPOT_INTERRUPTIONS_PER_NODE_HOUR,
                     shape: ClusterConfig | None = None,
                     use: RangeUse | None = None) -> tuple[Candidate, ClusterConfig] | None:
    """``config`` as a candidate, priced as ``shape`` (what is written for it; ``config`` itself
    without one), its spot nodes interrupted at ``rate`` per node-hour, a range at the workers
    ``use`` says it runs at (`model_workers`)."""
    workers = model_workers(config, use)
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
        spot_nodes=spot_nodes(config, use) if spot else None,
        spot_driver=spot and shape_first_on_demand(config) < 1,
    )
    return candidate, config
