"""What a recommendation changes of the nodes a spot cluster keeps on demand (``first_on_demand``), in words.

A configuration's label names its own nodes on demand ("spot (first 2 workers on demand)"), but not
what moved: "m5d.xlarge x 4 workers, spot" read as no change for a job whose driver was on spot and
was about to be put on demand (review fod0).
"""

from __future__ import annotations

from server.domain import ClusterConfig


def _spot(config: ClusterConfig) -> bool:
    return config.availability.upper().startswith("SPOT")


def _workers(config: ClusterConfig) -> int:
    return config.autoscale_max if config.autoscale_max > 0 else config.num_workers


def _on_demand(config: ClusterConfig) -> tuple[bool, int]:
    """Whether ``config``'s driver is on demand, and how many of its workers are (the driver is the
    first of ``first_on_demand``'s nodes; no more workers than the cluster has)."""
    first = config.first_on_demand
    return first >= 1, min(max(0, first - 1), _workers(config))


def _workers_words(n: int) -> str:
    return f"{n} worker{'s' if n != 1 else ''}"


def on_demand_note(current: ClusterConfig, chosen: ClusterConfig) -> str:
    """How ``chosen`` changes the nodes ``current`` keeps on demand, both on spot ("" when it keeps
    them, or either is on demand, which their labels say): "puts the driver and 2 workers on demand
    (first_on_demand 0 → 3)", "puts 2 more workers on demand (...)", "puts the driver back on spot
    (...)". Both configurations' ``first_on_demand`` are read as written (`server.spec`'s
    ``config_from_spec`` reads an unset one as 1, and an apply writes the field as it is), so 0 is
    the driver on spot."""
    if not (_spot(current) and _spot(chosen)) or current.first_on_demand == chosen.first_on_demand:
        return ""
    (driver_now, workers_now), (driver, workers) = _on_demand(current), _on_demand(chosen)
    to_demand: list[str] = []
    to_spot: list[str] = []
    if driver != driver_now:
        (to_demand if driver else to_spot).append("the driver")
    if workers > workers_now:
        more = _workers_words(workers - workers_now)
        to_demand.append(more if workers_now == 0 else more.replace(" worker", " more worker"))
    elif workers < workers_now:
        to_spot.append(_workers_words(workers_now - workers))
    moves = []
    if to_demand:
        moves.append(f"puts {' and '.join(to_demand)} on demand")
    if to_spot:
        moves.append(f"puts {' and '.join(to_spot)} back on spot")
    if not moves:
        return ""  # only past the cluster's workers: nothing runs elsewhere
    return f"{' and '.join(moves)} (first_on_demand {current.first_on_demand} → {chosen.first_on_demand})"
