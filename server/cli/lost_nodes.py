"""`trimtab run show`'s line on the nodes a run's cluster lost: how many, and how many came back."""

from __future__ import annotations

from typing import Any

from server.render.fmt import counted


def lost_nodes_line(run: Any) -> str | None:
    """"lost 5 spot workers, 3 replaced" for an admin ``Run`` message whose cluster lost nodes; None
    when it lost none or nobody knows (its events were not read). "workers: 8 at start, 8 at most" and
    a bare ``spot_loss`` said nothing of a run that ran minutes on 3 of its 8 workers."""
    if not run.HasField("nodes_lost") or run.nodes_lost <= 0:
        return None
    on_spot = run.config.availability.upper().startswith("SPOT")
    lost = counted(run.nodes_lost, "spot worker" if on_spot else "worker")
    replaced = run.nodes_replaced if run.HasField("nodes_replaced") else None
    if replaced is None:
        return f"lost {lost}"
    return f"lost {lost}, {replaced or 'none'} replaced"
