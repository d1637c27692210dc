"""What spot losses add to a run, per lost node (`models.outlook` prices every candidate with it,
`models.first_run` the first run after a loss).

A lost spot *worker* does not cost a share of the whole run. Spark re-runs the tasks that were
running on it and the map outputs it held that are still to be read (the DAG scheduler resubmits a
finished ShuffleMapTask whose executor was lost before its stage completed, and a later stage that
cannot fetch a lost output goes back to the stage that wrote it: Spark's ``Resubmitted`` and
``FetchFailed`` task end reasons; SPARK-19753 drops every output on the lost host at once), and
Databricks asks the cloud for a replacement worker (the cluster's target size stays; its event log
says NODES_LOST, then the node is added), which joins minutes later. So a loss costs:

- the lost node's work since the run began, redone by the cluster (`REDONE_SHARE` of its share of
  the execution on average for a loss at a uniform point: an upper bound, as Spark redoes only the
  outputs still to be read), spread over its ``n`` workers: ``E / (2 n)``;
- the run at ``n - 1`` workers until the replacement joins (`REPLACEMENT_S`, no longer than what is
  left of the run): the cluster is short one worker's throughput for that time, ``R / n``.

Both fall as the cluster grows: the sandbox's simulator measured +15% cost for a run that lost one of
2 workers, +1.4% for ~2 of 8 and +0.1% for ~7 of 32, where the old price (half a run per run with
any loss) charged +50% each and made spot dearer the more nodes it had. The extra time is charged at
the whole cluster's price, which is cautious: a lost worker is not billed until its replacement
comes.

A spot *driver* (``first_on_demand`` 0) is different: losing it ends the Spark application, and the
run fails. It is priced as a whole rerun (the lost attempt's spend, half a run on average, plus the
rerun's new cluster setup and its own risk, rounded up to one run), and a certain SLA miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.space import Candidate

# Mean share of the lost worker's part of the execution that is redone: its work since the run began,
# for a loss at a uniform point of the run.
REDONE_SHARE = 0.5
# Seconds from a worker's loss until its replacement runs tasks: the cloud's provisioning and the
# Databricks container's start. The sandbox draws 70-150 s and 3-8 s (`sandbox/sim/scheduler.py`); a
# spot request that must fall back to on demand takes longer, which this does not price.
REPLACEMENT_S = 120.0


@dataclass(frozen=True)
class LossRisk:
    """Each candidate's spot losses over one run: what they are expected to add, and how the runs
    that have them are lengthened (for P(meet the SLA) and the runtime interval)."""

    extra_s: np.ndarray  # expected seconds the losses add to a run (its cost, at the cluster's price)
    p_worker: np.ndarray  # P(the run loses at least one spot worker)
    worker_shift: np.ndarray  # a run with worker losses: its execution lengthened by this share of itself
    p_driver: np.ndarray  # P(the run loses its spot driver: it fails and is run again)
    driver_shift: np.ndarray  # a run that lost its driver: its execution lengthened by this share (a rerun)

    @property
    def p_any(self) -> np.ndarray:
        """P(the run loses any spot node)."""
        return 1.0 - (1.0 - self.p_worker) * (1.0 - self.p_driver)


def loss_rates(cands: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
    """(spot worker losses an hour, spot driver losses an hour) of each candidate: its
    ``interruption_rate`` split between its spot nodes, the driver one of them when it is on spot."""
    total = np.array([c.interruption_rate for c in cands], dtype=float)
    driver = np.array([c.interruption_rate / c.spot_node_count if c.spot_driver and c.spot_node_count > 0 else 0.0
                       for c in cands])
    return np.maximum(total - driver, 0.0), driver


def per_node_hour(c: Candidate) -> float:
    """``c``'s spot losses per spot node-hour (the job's rate, as `models.spot` learns it)."""
    return c.interruption_rate / c.spot_node_count if c.spot_node_count > 0 else 0.0


def _short_s(execution_s: np.ndarray) -> np.ndarray:
    """Mean seconds a run spends a worker short after a loss at a uniform point of its execution:
    ``min(R, what is left)`` averaged over the loss's time."""
    r = REPLACEMENT_S
    e = np.maximum(execution_s, 1e-9)
    return np.where(r >= e, 0.5 * e, r - r * r / (2.0 * e))


def worker_delay_s(execution_s: np.ndarray, workers: np.ndarray) -> np.ndarray:
    """Seconds one lost worker adds to an execution of ``execution_s`` on ``workers`` workers."""
    n = np.maximum(np.asarray(workers, dtype=float), 1.0)
    return (REDONE_SHARE * execution_s + _short_s(execution_s)) / n


def loss_risk(cands: Sequence[Candidate], execution_s: np.ndarray, total_s: np.ndarray) -> LossRisk:
    """The spot losses of a run of each candidate: ``execution_s`` its execution, ``total_s`` the whole
    run (setup included, the time its nodes are exposed), both in seconds and without losses."""
    execution_s = np.maximum(np.asarray(execution_s, dtype=float), 1e-9)
    total_s = np.maximum(np.asarray(total_s, dtype=float), execution_s)
    worker_rate, driver_rate = loss_rates(cands)
    workers = np.array([c.nodes for c in cands], dtype=float)
    losses = worker_rate * total_s / 3600.0  # expected worker losses over the run (Poisson)
    p_worker = -np.expm1(-losses)
    delay = worker_delay_s(execution_s, workers)
    # A run with worker losses has ``losses / p_worker`` of them on average.
    per_lost_run = np.divide(losses, p_worker, out=np.ones_like(losses), where=p_worker > 0)
    p_driver = -np.expm1(-driver_rate * total_s / 3600.0)
    return LossRisk(extra_s=losses * delay + p_driver * total_s, p_worker=p_worker,
                    worker_shift=per_lost_run * delay / execution_s, p_driver=p_driver,
                    driver_shift=total_s / execution_s)


def expected_run_cost(c: Candidate, runtime_s: float) -> float:
    """One run of ``runtime_s`` (its execution taken as the whole of it) on ``c``, its spot losses priced."""
    risk = loss_risk([c], np.array([runtime_s]), np.array([runtime_s]))
    return c.cost(runtime_s + float(risk.extra_s[0]))
