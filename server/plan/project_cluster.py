"""A stored project's cluster as the planner reads it: as imported (the anchor of the default
bounds), as it runs now, the configurations its user turned down, and its current segment's peak."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.costing.catalog import PriceCatalog
from server.domain import BACK_TO_USER_EDIT, OVER_USER_EDIT, ClusterConfig, Project, Run
from server.plan.owner_on_demand import (
    availability_recorded,
    is_recorded,
    recorded,
    recorded_availability,
    spec_availability,
    spec_first_on_demand,
)
from server.plan.peak_floor import PeakFloor, peak_floor, segment_runs
from server.plan.policy import ClusterPolicy, filled_into
from server.plan.pools import on_pool
from server.plan.range_use import range_use
from server.plan.worker_bounds import default_max_workers, search_workers
from server.spec import config_from_spec, pool_ids

# Where `Project.state` keeps the ids (`config_id_of`) of configurations the user turned down (a
# rejected or reverted recommendation): they are never recommended again, only learned from.
REJECTED_KEY = "rejected_configs"
# The most rejected configurations kept per project (the newest): enough to remember every recent
# "no", few enough that an old one does not close the space for good.
REJECTED_KEPT = 20


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


def owner_first_on_demand(project: Project, *, cloud: str = "", policy: ClusterPolicy | None = None) -> int | None:
    """The nodes the project's owner keeps on demand on spot (``first_on_demand``; 0: the driver on spot
    too): the spot floor of `server.plan.candidates.build_candidates`. None when it is not known (the
    cluster as imported then sets it, `project_anchor`).

    The owner's value as recorded when their spec was known (`server.plan.owner_on_demand`: the import,
    a re-attach, their edits outside Trimtab); never one Trimtab wrote (a half-on-demand variant after
    spot losses must not become the floor).

    A project stored before the value was recorded has it inferred from the record of Trimtab's writes
    (`_owner_specs`). Past a second write over an edit only bounds are left: Trimtab never writes fewer
    nodes on demand than the floor, so the fewer of the write's and the spec it replaced is the nearest
    to the owner's."""
    if is_recorded(project.state):
        return recorded(project.state)

    def kept(spec: Any, *, spot_only: bool = False) -> int | None:
        values = filled_into(policy, spec) if isinstance(spec, dict) else None
        return spec_first_on_demand(spec, cloud=cloud, policy_values=values, spot_only=spot_only)

    specs, exact = _owner_specs(project)
    if exact:
        return kept(specs[0])
    known = [v for v in (kept(s, spot_only=True) for s in specs) if v is not None]
    return min(known) if known else None


def owner_availability(project: Project, *, cloud: str = "", policy: ClusterPolicy | None = None) -> str | None:
    """The availability the project's owner runs the cluster with (SPOT, SPOT_WITH_FALLBACK, ON_DEMAND,
    in AWS's names): the spot kind a spot candidate is written with (`server.plan.spot_risk.spot_kind_for`).
    None when it is not known (the live cluster's kind then stands for it).

    As recorded when their spec was known (`server.plan.owner_on_demand`), never one Trimtab wrote;
    inferred for a project stored before it was, as `owner_first_on_demand` is. Past a second write
    over an owner's edit only the two specs of the last write are left: Trimtab writes pure SPOT only
    where the owner (or a cluster policy) chose it, so either holding it says SPOT; otherwise unknown."""
    if availability_recorded(project.state):
        return recorded_availability(project.state)

    def kept(spec: Any) -> str | None:
        values = filled_into(policy, spec) if isinstance(spec, dict) else None
        return spec_availability(spec, cloud=cloud, policy_values=values)

    specs, exact = _owner_specs(project)
    if exact:
        return kept(specs[0])
    return "SPOT" if "SPOT" in [kept(s) for s in specs] else None


def _owner_specs(project: Project) -> tuple[tuple[Any, ...], bool]:
    """(the specs the owner's spot choice of a project stored before it was recorded is read from,
    whether the one spec is exactly theirs; else the two of the last write, bounds of it).

    With no write of Trimtab's holding the sizing (none since the import or re-attach, or the owner's
    edit of it cleared the record: `server.apply.rebase`), the live spec is the owner's. An apply over
    the owner's edit keeps it as its ``previous_spec`` (``over_user_edit``), a revert to it writes it
    back (``back_to_user_edit``), and without any edit outside Trimtab since the import the sizing
    before Trimtab's first write is the owner's (`server.apply_record`)."""
    from server.apply_record import BEFORE_WRITES_KEY  # it imports the planner's candidates: here, not above
    from server.plan.planner import USER_EDIT_AFTER_KEY

    record = project.pending_apply or {}
    if not record or record.get("reattached"):
        return (project.current_spec,), True
    if record.get(BACK_TO_USER_EDIT):
        return (record.get("applied_spec"),), True
    if record.get(OVER_USER_EDIT):
        return (record.get("previous_spec"),), True
    if project.state.get(USER_EDIT_AFTER_KEY) is None:
        return (project.state.get(BEFORE_WRITES_KEY),), True
    return (record.get("previous_spec"), record.get("applied_spec")), False


def no_autoscaling_to_keep(project: Project, imported: ClusterConfig | None, live: ClusterConfig,
                           chosen: ClusterConfig) -> str:
    """What a recommendation of a fixed size says when the project keeps autoscaling but the cluster
    has none to keep (imported fixed, ``imported``; None: not known, the live one stands for it, and
    fixed now), "" otherwise: the setting is on and does nothing, which its owner must be told."""
    if not project.settings.keep_autoscaling or chosen.autoscale_max > 0 or live.autoscale_max > 0 or \
            (imported or live).autoscale_max > 0:
        return ""
    return ("keep_autoscaling is on, but the cluster has no autoscaling to keep (imported with a fixed size, "
            "and fixed now): sizes stay fixed; give the job's cluster an autoscale range in Databricks "
            f"to have ranges recommended, or `trimtab project set {project.name} --keep-autoscaling off`")


def project_default_max_workers(project: Project) -> int | None:
    """The most workers the planner tries for ``project`` while its max_workers is unset (None when it
    is set, or there is no cluster to start from): from the cluster as imported (`project_anchor`),
    else the one Trimtab last wrote or saw, as `server.plan.candidates.build_candidates` starts, so a
    recommendation that changed the workers does not move it. Worker counts do not depend on pools:
    none are needed."""
    if project.settings.max_workers is not None or not (project.original_spec or project.current_spec):
        return None
    start = project_anchor(project) or (config_from_spec(project.current_spec) if project.current_spec else None)
    if start is None:
        return None
    return default_max_workers(search_workers(start), project.settings.min_workers)


def segment_floor(runs: Sequence[Run], segment_from: int | None, current: ClusterConfig, catalog: PriceCatalog,
                  cloud: str, sku: str) -> PeakFloor | None:
    """The floor of a range's max the current segment's autoscaling runs set (`peak_floor`)."""
    segment = segment_runs(runs, segment_from)
    ran = [(r, on_pool(r.config, current)) for r in segment if r.config is not None]
    return peak_floor(range_use(ran, catalog, cloud, sku), since=segment_from if len(segment) < len(runs) else None)
