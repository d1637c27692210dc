"""What a recommendation that puts more of the cluster on spot says of it ("more nodes on spot: ...").

A move off spot after losses said "fewer nodes on spot: ..." (`server.plan.leaving_note`), a move onto
spot nothing: a job its owner ran on demand was recommended SPOT_WITH_FALLBACK with a reason about
cost and learning alone (review spot, finding 2). Spot's interruptions are a risk the owner takes on,
so the reason names the move whatever picked the configuration (a learning run included).
"""

from __future__ import annotations

from server.domain import ClusterConfig
from server.plan.range_use import RangeUse
from server.plan.spot_risk import spot_share
from server.spec import config_label


def onto_spot_note(project_name: str, current: ClusterConfig, chosen: ClusterConfig, use: RangeUse | None) -> str:
    """"more nodes on spot: ..." when ``chosen`` puts a larger share of the cluster on spot than
    ``current`` (its workers, at the workers the project's runs used, ``use``; or the driver), ""
    otherwise. From a cluster wholly on demand it names the setting that keeps the job there."""
    (share_now, driver_now), (share, driver) = spot_share(current, use), spot_share(chosen, use)
    if not (share > share_now + 1e-9 or (driver and not driver_now)):
        return ""
    if share_now <= 0.0 and not driver_now:
        # The label of a spot cluster whose first_on_demand covers every node says so itself.
        label = config_label(current).removesuffix(", spot requested but every node on demand (first_on_demand)")
        return (f"more nodes on spot: {label} runs every node on demand, and the project allows "
                f"spot (`trimtab project set {project_name} --spot off` keeps it on demand)")
    words = f"{share:.0%} of the workers on spot, against {share_now:.0%} now"
    if driver and not driver_now:
        words += ", and the driver too"
    return f"more nodes on spot: {words}"
