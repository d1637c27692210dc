"""What runs first when no run of the segment can be learned from yet (`models.decide._first_run`):
the latest configuration that ran well, else one picked by size, judged after a spot loss from what
the lost run used."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from models.money import money
from models.observation import Observation
from models.settings import Settings
from models.space import Candidate
from models.spot_rework import expected_run_cost


def newest_loss(known: Mapping[str, Candidate], raw: Sequence[Observation],
                start: int) -> tuple[Candidate, float] | None:
    """The candidate of the segment's newest run (from ``start``) that lost spot nodes, with that
    run's whole runtime (setup included); None without one."""
    run = next((o for o in reversed(raw[start:]) if "spot_loss" in o.anomalies and o.config_id in known), None)
    return (known[run.config_id], run.runtime_s) if run is not None else None


def expected_cost(c: Candidate, runtime_s: float) -> float:
    """A run of ``runtime_s`` on ``c``, its spot losses priced as the outlook prices them
    (`models.spot_rework`: per lost node)."""
    return expected_run_cost(c, runtime_s)


def after_loss(pool: list[Candidate], lost: Candidate, runtime_s: float, currency: str) -> tuple[Candidate, str]:
    """The first run after a run on ``lost`` lost spot nodes (``runtime_s`` long), and why. Judged
    from what that run used (``lost`` is sized at the workers the job's runs used), not from the
    middle of the project's space: that is centred on the imported cluster (an autoscale range's
    max), so a 3-16 range that ran at 7 workers was moved to 16-32.

    Its own hardware and size on demand, or with more workers on demand (its twins in ``pool``), when
    that is expected to cost less than spot there at the job's loss rate (``interruption_rate``) over
    that run's runtime: the losses cost more than spot saves. Otherwise the configuration nearest in
    cores to what the run used, other than its twins (spot saves more than the losses cost there)."""
    shape = (lost.instance_type, lost.driver_type, lost.nodes, lost.autoscale_min, lost.autoscale_max)
    twins = [c for c in pool
             if (c.instance_type, c.driver_type, c.nodes, c.autoscale_min, c.autoscale_max) == shape]
    on_spot = expected_cost(lost, runtime_s)
    cheaper = [c for c in twins if expected_cost(c, runtime_s) < on_spot]
    if cheaper:
        pick = min(cheaper, key=lambda c: expected_cost(c, runtime_s))
        return pick, (f"{lost.name} lost spot nodes, and at the job's loss rate its losses cost more than spot "
                      f"saves: a {runtime_s:.0f}s run is expected to cost {money(on_spot, currency)} there against "
                      f"{money(expected_cost(pick, runtime_s), currency)} on {pick.name}")
    others = [c for c in pool if c not in twins] or pool
    pick = min(others, key=lambda c: (abs(math.log(c.cores / lost.cores)), c.price_per_hour / c.cores))
    return pick, f"the size nearest what the run that lost spot nodes used ({lost.name}, {lost.cores:.0f} cores)"


def first_pick(cands: list[Candidate], history: Sequence[Observation], settings: Settings, slow_cores: float,
               lost_run: tuple[Candidate, float] | None) -> tuple[Candidate, str]:
    """The configuration `models.decide._first_run` measures first, and why beyond "no usable run yet"
    ("" when there is nothing more to say). Its docstring says how it is chosen."""
    known = {c.config_id for c in cands}
    last = next((o.config_id for o in reversed(history)
                 if o.config_id in known and o.ok and "spot_loss" not in o.anomalies), None)
    if last is not None:
        return next(c for c in cands if c.config_id == last), ""
    lost = {o.config_id for o in history if "spot_loss" in o.anomalies}
    pool = [c for c in cands if c.config_id not in lost] or cands
    pool = [c for c in pool if c.cores > slow_cores] or pool
    if lost_run is not None and lost_run[0].cores > slow_cores:
        pick, why = after_loss(pool, lost_run[0], lost_run[1], settings.currency)
        return pick, f" ({why})"
    median = float(np.median([c.cores for c in pool]))
    return min(pool, key=lambda c: (abs(math.log(c.cores / median)), c.price_per_hour / c.cores)), ""
