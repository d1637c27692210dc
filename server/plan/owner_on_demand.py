"""The nodes a project's owner keeps on demand on spot (``first_on_demand``) and the availability they
run the cluster with (spot, spot with fallback, on demand), as they chose them.

`Project.state` keeps them (`OWNER_FIRST_ON_DEMAND_KEY`, `OWNER_AVAILABILITY_KEY`) from the moments the owner's spec is known: the
import (the cluster as found), a re-attach (as found then), and each edit outside Trimtab that changes
which nodes are spot (`server.apply.rebase`, whoever finds the edit: the collector, a repaired run, an
apply or an import). Trimtab's own writes never change it: a half-on-demand variant written after spot
losses is no owner's choice, and neither is a value of Trimtab's an owner's resize leaves on the job.
The spot floor (`server.plan.project_cluster.owner_first_on_demand`) reads the first, the spot kind a
candidate is written with (`server.plan.spot_risk.spot_kind_for`) the second: taken from the live
cluster, an ON_DEMAND write of Trimtab's (after spot losses) turned an owner's pure SPOT into
SPOT_WITH_FALLBACK at the next move back to spot. A project stored before they were kept has them
inferred from the records of Trimtab's writes instead (`server.plan.project_cluster`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.costing.run_cost import shape_first_on_demand
from server.plan.policy import kept_values
from server.spec import config_from_spec

# The owner's first_on_demand (an int), or None when their spec did not tell it. Absent: not recorded
# yet (a project stored before the key), which is not the same as a recorded None.
OWNER_FIRST_ON_DEMAND_KEY = "owner_first_on_demand"
# The owner's availability as the cluster runs it, in `ClusterConfig`'s (AWS's) names: SPOT,
# SPOT_WITH_FALLBACK or ON_DEMAND (Azure's *_AZURE read as these); None when their spec did not tell it.
# Absent: not recorded yet, as above.
OWNER_AVAILABILITY_KEY = "owner_availability"


def spec_first_on_demand(spec: Any, *, cloud: str, policy_values: Mapping[str, Any] | None = None,
                         spot_only: bool = False) -> int | None:
    """The nodes the cluster of ``spec`` keeps on demand, as Databricks runs it (an unset value is its
    1; `shape_first_on_demand`), under the values its cluster policy fills in; None without a spec, or
    with ``spot_only`` for a cluster on demand (its 1 says nothing of the nodes kept on demand on spot).
    On demand otherwise counts as its own value: an owner who left spot keeps the driver on demand."""
    if not isinstance(spec, Mapping) or not spec:
        return None
    config = config_from_spec(spec, cloud=cloud, policy_values=policy_values)
    if spot_only and not config.availability.upper().startswith("SPOT"):
        return None
    return shape_first_on_demand(config)


def spec_availability(spec: Any, *, cloud: str, policy_values: Mapping[str, Any] | None = None) -> str | None:
    """The availability the cluster of ``spec`` runs with (`config_from_spec`: unset is its policy's,
    else the cloud's default), in AWS's names; None without a spec or where nothing tells it."""
    if not isinstance(spec, Mapping) or not spec:
        return None
    return config_from_spec(spec, cloud=cloud, policy_values=policy_values).availability.upper() or None


# Set at import when the job ran wholly on demand and the import therefore left spot off (not the
# person's own `--spot off`): an edit of the owner's that puts the job on spot allows spot again
# (`spot_back_by_owner`); a `project set --spot` of theirs drops the mark, their choice standing.
SPOT_OFF_BY_IMPORT_KEY = "spot_off_by_import"


def spot_back_by_owner(spot_allowed: bool, state: Mapping[str, Any], live: Mapping[str, Any], *, cloud: str) -> bool:
    """Whether an owner's edit to ``live`` allows spot again: the import left it off only because the
    job ran on demand, and the owner has since put it on spot themselves (review of session 27: the
    next plan recommended ON_DEMAND "spot is not allowed", undoing their move)."""
    return (not spot_allowed and bool(state.get(SPOT_OFF_BY_IMPORT_KEY))
            and bool(live) and not runs_on_demand(live, state, cloud=cloud))


def runs_on_demand(spec: Mapping[str, Any], state: Mapping[str, Any], *, cloud: str) -> bool:
    """Whether the cluster of ``spec`` runs every node on demand (as its policy in ``state`` and the
    cloud's default fill it in): ON_DEMAND, or a spot kind whose ``first_on_demand`` covers the driver
    and every worker it may have (the usual way to keep a cluster wholly on demand; the planner's
    `server.spec` reads it so). Its owner chose no spot, so import leaves spot off."""
    if not isinstance(spec, Mapping) or not spec:
        return False
    config = config_from_spec(spec, cloud=cloud, policy_values=kept_values(state, spec))
    availability = config.availability.upper()
    if availability == "ON_DEMAND":
        return True
    if not availability.startswith("SPOT"):
        return False
    workers = config.autoscale_max if config.autoscale_max > 0 else config.num_workers
    return shape_first_on_demand(config) >= workers + 1


def is_recorded(state: Mapping[str, Any]) -> bool:
    """Whether ``state`` holds the owner's value (None included): else it is inferred."""
    return OWNER_FIRST_ON_DEMAND_KEY in state


def recorded(state: Mapping[str, Any]) -> int | None:
    """The owner's value ``state`` holds; None when it holds None or something no count reads from."""
    value = state.get(OWNER_FIRST_ON_DEMAND_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def availability_recorded(state: Mapping[str, Any]) -> bool:
    """Whether ``state`` holds the owner's availability (None included): else it is inferred."""
    return OWNER_AVAILABILITY_KEY in state


def recorded_availability(state: Mapping[str, Any]) -> str | None:
    """The owner's availability ``state`` holds; None when it holds None or no name."""
    value = state.get(OWNER_AVAILABILITY_KEY)
    return value if isinstance(value, str) and value else None


def with_owner_spec(state: Mapping[str, Any], spec: Mapping[str, Any], *, cloud: str) -> dict[str, Any]:
    """``state`` recording the owner's values as ``spec`` (their cluster, as found by an import or a
    re-attach) has them, under the cluster policy ``state`` keeps."""
    values = kept_values(state, spec)
    return {**state, OWNER_FIRST_ON_DEMAND_KEY: spec_first_on_demand(spec, cloud=cloud, policy_values=values),
            OWNER_AVAILABILITY_KEY: spec_availability(spec, cloud=cloud, policy_values=values)}


def after_edit(state: Mapping[str, Any], live: Mapping[str, Any], written: Mapping[str, Any], *, cloud: str,
               before: int | None, before_availability: str | None) -> dict[str, Any]:
    """``state`` after an edit outside Trimtab turned ``written`` (the spec Trimtab last wrote or saw)
    into ``live``: the owner's values are ``live``'s when the edit changed which nodes are spot (the
    availability or first_on_demand, as the cluster runs), else ``before`` and ``before_availability``
    (theirs until the edit): a resize leaves a first_on_demand or an ON_DEMAND Trimtab wrote on the
    job, which is still Trimtab's."""
    def spot_shape(spec: Mapping[str, Any]) -> tuple[str, int] | None:
        if not spec:
            return None
        config = config_from_spec(spec, cloud=cloud, policy_values=kept_values(state, spec))
        return config.availability.upper(), shape_first_on_demand(config)

    if spot_shape(live) != spot_shape(written):
        return with_owner_spec(state, live, cloud=cloud)
    return {**state, OWNER_FIRST_ON_DEMAND_KEY: before, OWNER_AVAILABILITY_KEY: before_availability}
