"""The search window a project's plans keep within, as `trimtab project show` and API clients show it.

Computed here, on the server, with the planner's own rule (`server.plan.search_window`) and catalog:
the CLI worked it out from its own bundled catalog and the current cluster alone, which could disagree
with the server's catalog, and left API clients nothing to show.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.costing.catalog import PriceCatalog, last_active_catalog, load_catalog
from server.costing.errors import TrimtabCostError
from server.domain import Project, Recommendation, Run
from server.plan.pools import on_pool
from server.plan.project_cluster import project_anchor, project_config
from server.plan.search_window import SearchWindow, measured_live, search_window
from server.spec import pools_seen


def project_window(project: Project, runs: Sequence[Run], cloud: str, newest: Recommendation | None,
                   catalog: PriceCatalog | None = None) -> SearchWindow | None:
    """The window around the cluster as imported (else the live one) and the live one once a run of
    the current segment confirmed it (`measured_live`; the segment the newest plan kept, from its
    change point), as `server.plan.candidates.project_candidates` searches it. ``runs``: the project's
    runs, oldest first; ``catalog``: the one the server plans with (its last read one by default).
    None when there is no cluster to start from, or the catalog lacks its node type."""
    if not project.current_spec or not cloud:
        return None
    # Pools as the runs on them saw them: the page has no workspace to ask (`pools_seen`).
    pools = pools_seen(project.current_spec, [r.config for r in runs])
    current = project_config(project, pools, cloud=cloud)
    start = project_anchor(project, pools, cloud=cloud) or current
    if not start.node_type_id:
        return None
    ran = [(r, on_pool(r.config, current)) for r in runs if r.config is not None]
    live = measured_live(current, ran, sla_s=project.settings.sla_seconds,
                         segment_from=newest.change_run_id if newest is not None else None)
    try:
        return search_window(start, project.settings, catalog or last_active_catalog() or load_catalog(), cloud, live)
    except TrimtabCostError:
        return None
