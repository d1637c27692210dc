"""The nodes a project's owner keeps on demand on spot (``first_on_demand``), as they chose it.

`Project.state` keeps it (`OWNER_FIRST_ON_DEMAND_KEY`) from the moments the owner's spec is known: the
import (the cluster as found), a re-attach (as found then), and each edit outside Trimtab that changes
which nodes are spot (`server.apply.rebase`, whoever finds the edit: the collector, a repaired run, an
apply or an import). Trimtab's own writes never change it: a half-on-demand variant written after spot
losses is no owner's choice, and neither is a value of Trimtab's an owner's resize leaves on the job.
The spot floor (`server.plan.project_cluster.owner_first_on_demand`) reads it; a project stored before it
was kept has it inferred from the records of Trimtab's writes instead.
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


def is_recorded(state: Mapping[str, Any]) -> bool:
    """Whether ``state`` holds the owner's value (None included): else it is inferred."""
    return OWNER_FIRST_ON_DEMAND_KEY in state


def recorded(state: Mapping[str, Any]) -> int | None:
    """The owner's value ``state`` holds; None when it holds None or something no count reads from."""
    value = state.get(OWNER_FIRST_ON_DEMAND_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def with_owner_spec(state: Mapping[str, Any], spec: Mapping[str, Any], *, cloud: str) -> dict[str, Any]:
    """``state`` recording the owner's value as ``spec`` (their cluster, as found by an import or a
    re-attach) has it, under the cluster policy ``state`` keeps."""
    value = spec_first_on_demand(spec, cloud=cloud, policy_values=kept_values(state, spec))
    return {**state, OWNER_FIRST_ON_DEMAND_KEY: value}


def after_edit(state: Mapping[str, Any], live: Mapping[str, Any], written: Mapping[str, Any], *, cloud: str,
               before: int | None) -> dict[str, Any]:
    """``state`` after an edit outside Trimtab turned ``written`` (the spec Trimtab last wrote or saw)
    into ``live``: the owner's value is ``live``'s when the edit changed which nodes are spot (the
    availability or first_on_demand, as the cluster runs), else ``before`` (theirs until the edit):
    a resize leaves a first_on_demand Trimtab wrote on the job, which is still Trimtab's."""
    def spot_shape(spec: Mapping[str, Any]) -> tuple[str, int] | None:
        if not spec:
            return None
        config = config_from_spec(spec, cloud=cloud, policy_values=kept_values(state, spec))
        return config.availability.upper(), shape_first_on_demand(config)

    if spot_shape(live) != spot_shape(written):
        return with_owner_spec(state, live, cloud=cloud)
    return {**state, OWNER_FIRST_ON_DEMAND_KEY: before}
