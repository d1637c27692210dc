"""A job's own spot loss rate, learned from its runs (gamma-Poisson).

Spot markets differ by instance type, zone and hour: a catalog-wide rate prices the risk of a job
whose market is calm, and says nothing about one that loses nodes most nights. The rate here is
per spot node-hour (the unit the candidates price it in, `models.space.Candidate.interruption_rate`
being this rate times the candidate's spot nodes), estimated from the job's recent runs on spot:

- each run contributes its spot node-hours (spot nodes x its runtime) as exposure, and the nodes it
  lost as losses (a run that lost 5 of its 8 spot workers is 5 losses, not one); a run known to have
  lost capacity but not how much (stored before the count was kept, or only its executors said so)
  counts one, a floor;
- the prior is a gamma distribution with the catalog's default rate as its mean, weighing as much
  as `PRIOR_RUNS` of the job's runs on spot (their mean node-hours each): one run with a loss raises
  the rate without swinging it, and a job that keeps losing nodes soon outweighs it. Weighed in the
  job's own runs, not in fixed node-hours, it takes as many runs to move a small job as a big one
  (fixed at 20 node-hours it took some 15 runs of 6 workers for 10 minutes). The posterior mean is
  ``(prior * weight + losses) / (weight + node_hours)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The prior's weight, in the job's runs on spot: one lost run moves the rate a quarter of the way to
# what the run alone says; after four runs the prior holds 3/7 of the weight, after six a third.
PRIOR_RUNS = 3.0
# Only the runs on spot among the job's newest runs count: the market a job ran in weeks ago says
# little of tonight's, and a job that left spot for its losses is priced at the prior again (and
# may try spot again) once they are this many runs old.
SPOT_RUNS_KEPT = 20


@dataclass(frozen=True)
class SpotRun:
    """One run on spot capacity: its spot node-hours, whether it lost spot nodes, and how many when
    known (None: unknown, counted as one when it lost any)."""

    node_hours: float
    lost: bool
    nodes_lost: int | None = None

    @property
    def losses(self) -> int:
        """The losses it counts: its nodes lost, at least one when it lost capacity."""
        return max(1 if self.lost else 0, self.nodes_lost or 0)


@dataclass(frozen=True)
class SpotLossRate:
    """The job's spot losses per spot node-hour, and what it was learned from."""

    per_node_hour: float  # posterior mean
    prior_per_node_hour: float
    runs: int  # runs on spot counted (among the job's newest `SPOT_RUNS_KEPT`)
    lost_runs: int  # of those, runs that lost spot nodes
    node_hours: float
    losses: int = 0  # the nodes those runs lost (each run of unknown count as one)

    @property
    def has_losses(self) -> bool:
        return self.lost_runs > 0

    def p_loss(self, spot_nodes: float, hours: float) -> float:
        """P(a run of ``hours`` on ``spot_nodes`` spot nodes loses at least one), at the estimated rate."""
        return 1.0 - math.exp(-self.per_node_hour * max(spot_nodes, 0.0) * max(hours, 0.0))

    def note(self) -> str:
        """What the runs showed, in words its owner can check against the runs ("" with no loss)."""
        if not self.lost_runs:
            return ""
        what = "the last run on spot lost" if self.runs == 1 else \
            f"{self.lost_runs} of the last {self.runs} runs on spot lost"
        nodes = f"{self.losses} spot nodes" if self.losses > self.lost_runs else "spot nodes"
        return (f"{what} {nodes} (about {self.per_node_hour:.2g} losses per "
                f"spot node-hour, against {self.prior_per_node_hour:.2g} assumed before)")


def spot_loss_rate(runs: Sequence[SpotRun], prior_per_node_hour: float, *,
                   prior_runs: float = PRIOR_RUNS, kept: int = SPOT_RUNS_KEPT) -> SpotLossRate:
    """The posterior mean spot loss rate from ``runs`` (the job's runs, oldest first: of the newest
    ``kept``, those with spot node-hours count), starting from ``prior_per_node_hour`` weighted as
    ``prior_runs`` runs."""
    if not prior_per_node_hour >= 0.0 or not math.isfinite(prior_per_node_hour):
        raise ValueError(f"spot_loss_rate: the prior rate must be a finite rate >= 0, not {prior_per_node_hour!r}")
    if not prior_runs > 0.0 or not math.isfinite(prior_runs):
        raise ValueError(f"spot_loss_rate: the prior's weight must be > 0 runs, not {prior_runs!r}")
    if kept < 1:
        raise ValueError(f"spot_loss_rate: kept must be at least 1, not {kept}")
    on_spot = [r for r in list(runs)[-kept:] if r.node_hours > 0 and math.isfinite(r.node_hours)]
    if not on_spot:
        return SpotLossRate(per_node_hour=prior_per_node_hour, prior_per_node_hour=prior_per_node_hour, runs=0,
                            lost_runs=0, node_hours=0.0)
    hours = sum(r.node_hours for r in on_spot)
    losses = sum(r.losses for r in on_spot)
    weight = prior_runs * hours / len(on_spot)  # prior_runs runs of the job's mean exposure
    rate = (prior_per_node_hour * weight + losses) / (weight + hours)
    return SpotLossRate(per_node_hour=rate, prior_per_node_hour=prior_per_node_hour, runs=len(on_spot),
                        lost_runs=sum(1 for r in on_spot if r.losses), node_hours=hours, losses=losses)
