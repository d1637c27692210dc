"""Why a recommendation leaves the configuration the job runs on, when its candidates made it do so."""

from __future__ import annotations

from collections.abc import Sequence

from server.costing.catalog import PriceCatalog
from server.costing.run_cost import sku_of
from server.domain import ClusterConfig, Project, Run
from server.plan.config_id import config_id_of, same_hardware
from server.plan.on_demand_note import on_demand_note
from server.plan.onto_spot_note import onto_spot_note
from server.plan.peak_floor import floor_note
from server.plan.policy import ClusterPolicy, as_created
from server.plan.pools import on_pool, pool_backing
from server.plan.project_cluster import project_config, rejected_configs, segment_floor
from server.plan.range_use import range_note, range_use
from server.plan.spot_risk import keeping_on_demand, moved_off_spot, spot_losses
from server.plan.worker_bounds import outside_bounds
from server.spec import config_label


def leaving_note(project: Project, catalog: PriceCatalog, cloud: str, runs: Sequence[Run], chosen: ClusterConfig,
                 pools: dict[str, dict] | None = None, *, best: ClusterConfig | None = None,
                 policy: ClusterPolicy | None = None, segment_from: int | None = None) -> str:
    """Why the plan leaves the configuration the job runs on for ``chosen``, when the candidates made
    it do so ("" otherwise), for the recommendation's reason: the running configuration is outside
    the project's bounds (`outside_bounds`), or its user turned it down
    (`server.plan.project_cluster.REJECTED_KEY`), or ``chosen`` moved off spot because the job loses
    spot nodes (`moved_off_spot`). A move onto spot is said whatever made it ("more nodes on spot",
    `onto_spot_note`): its risk is the owner's to take.

    ``best``: the configuration the model would settle on now (`models.decide.Decision.best`; None:
    not known, ``chosen`` is taken as it). A learning or exploration run (``chosen`` is not ``best``)
    is picked for what it teaches, so spot losses are never its reason: saying so blamed them for a
    trial that went back to spot the next run. ``policy``: the one the spec names (`project_config`).
    A moved range names the floor its max kept (`server.plan.peak_floor`; ``segment_from`` as
    `server.plan.candidates.project_candidates`').

    Whatever the why (none included: same hardware, a learning run), a change of the nodes kept on
    demand is said too (`on_demand_note`): ``chosen``'s label names the nodes it keeps on demand, not
    which of them move, and a driver the user put on spot moved to on demand with no word of it."""
    current = project_config(project, pools, cloud=cloud, policy=policy)
    # ``chosen``'s first_on_demand as the plan wrote it (`keeping_on_demand`): a recommendation's
    # configuration carries no spec, and a bare 0 read as unset took a spot driver for one on demand.
    chosen = keeping_on_demand(chosen, chosen.first_on_demand, azure=cloud == "azure")
    why = _why_leaving(project, catalog, cloud, runs, chosen, current, pools, best=best, policy=policy,
                       segment_from=segment_from)
    sku = sku_of(as_created(policy, project.current_spec))
    use = range_use([(r, on_pool(r.config, current)) for r in runs if r.config is not None], catalog, cloud, sku)
    onto = onto_spot_note(project.name, current, chosen, use)
    return "; ".join(n for n in (why, onto, on_demand_note(current, chosen)) if n)


def _why_leaving(project: Project, catalog: PriceCatalog, cloud: str, runs: Sequence[Run], chosen: ClusterConfig,
                 current: ClusterConfig, pools: dict[str, dict] | None, *, best: ClusterConfig | None,
                 policy: ClusterPolicy | None, segment_from: int | None) -> str:
    """`leaving_note`'s why, of the hardware: bounds, a turn-down, spot losses ("" for none)."""
    # Leaving is of the hardware (`same_hardware`): a change of gp3's performance or spot's fallback
    # alone keeps the job's configuration, and its reasons (bounds, a turn-down, spot losses) are
    # not about those; the storage advice says its own why.
    if same_hardware(chosen, current):
        return ""
    # Named as reasons name configurations (`config_label`): the id ("c6id.xlargex6") is a key, and
    # read as a typo in a sentence (review revG).
    name = config_label(current)
    pool = pool_backing(project.current_spec, pools)
    sku = sku_of(as_created(policy, project.current_spec))
    floor = ""
    if (current.autoscale_min, current.autoscale_max) != (chosen.autoscale_min, chosen.autoscale_max):
        peak = segment_floor(runs, segment_from, current, catalog, cloud, sku)
        floor = floor_note(chosen, peak, catalog.node_type(cloud, chosen.node_type_id).vcpus if peak else None,
                           project.settings, pool=(pool.pool_id or "(unnamed)") if pool is not None else "",
                           policy=policy is not None)
    floor = f"; {floor}" if floor else ""
    why = outside_bounds(current, project.settings, catalog, cloud, pool=pool)
    if why:
        return f"{name} is outside the project's bounds ({why}){floor}"
    if config_id_of(current) in rejected_configs(project):
        return f"{name} was turned down (a rejected or reverted recommendation){floor}"
    if best is not None and not same_hardware(chosen, best):
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
