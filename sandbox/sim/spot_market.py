"""How often the simulated cloud reclaims spot instances: a rate per spot node-hour.

A fixed chance per node per run made a 2-minute run and a 2-hour one equally likely to lose a node,
and no run's exposure meant anything to the loss rate Trimtab learns (losses per spot node-hour).
Reclaims here are a Poisson process over a node's time in the application (the only time a loss
changes the simulated run): a node up ``h`` hours of it is lost with chance ``1 - exp(-rate * h)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# 0.9 per spot node-hour: some 3% per spot node over the ~2 minutes a typical sandbox job's Spark
# application runs (the fixed 3% per run it replaces), 8% over the longest profiles' 5 minutes.
DEFAULT_SPOT_LOSS_RATE = 0.9
MS_PER_HOUR = 3_600_000


def check_rate(rate: float) -> float:
    """``rate`` if it is a usable loss rate: a finite number >= 0."""
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"spot loss rate must be a finite number of reclaims per spot node-hour >= 0, got {rate!r}")
    return rate


@dataclass(frozen=True)
class SpotMarket:
    """The reclaims of one run: ``rate`` per spot node-hour, or a fixed ``chance`` per spot node
    whatever its time (tests that need every node, or none, lost)."""

    rate: float = DEFAULT_SPOT_LOSS_RATE
    chance: float | None = None

    def __post_init__(self) -> None:
        check_rate(self.rate)

    def loss_chance(self, up_ms: int) -> float:
        """The chance a spot node up ``up_ms`` of the application is reclaimed in that time."""
        if self.chance is not None:
            return self.chance
        return 1.0 - math.exp(-self.rate * max(up_ms, 0) / MS_PER_HOUR)


def market_for(spot_loss_prob: float | None, spot_loss_rate: float | None) -> SpotMarket:
    """The run's market: a fixed chance when one is given, else the rate (the default without one)."""
    rate = DEFAULT_SPOT_LOSS_RATE if spot_loss_rate is None else spot_loss_rate
    return SpotMarket(rate=rate, chance=spot_loss_prob)
