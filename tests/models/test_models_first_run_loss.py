"""The first run after a spot loss, with no usable run yet, is judged from what the lost run used
(`models.first_run`): its size, as the job's runs measured it, and whether its losses cost more than
spot saves there. It was the middle of the project's space, centred on the imported cluster: an
autoscaling job on 3-16 that ran at 7 workers (28 cores) was moved to 16-32, and stayed on spot."""

from __future__ import annotations

from models.decide import Settings, decide
from models.observation import Observation
from models.space import Candidate

LOST = "m5d.xlargexas3-16-spot"


def _range(low: int, high: int, nodes: int, *, spot: bool, rate: float = 0.0, spot_share: float = 0.45,
           first_on_demand: int = 1, node_type: str = "m5d.xlarge", vcpus: float = 4.0) -> Candidate:
    """An autoscaling candidate modelled at ``nodes`` workers (what the job's runs used), 0.33/h a node
    on demand; on spot at ``spot_share`` of that (the DBUs stay), losing nodes at ``rate`` per hour."""
    on_demand = round(0.33 * (nodes + 1), 6)
    od = f"-{first_on_demand - 1}od" if first_on_demand > 1 else ""
    return Candidate(f"{node_type}xas{low}-{high}" + ("-spot" + od if spot else ""), node_type, vcpus, 4 * vcpus,
                     nodes, round(on_demand * (spot_share if spot else 1.0), 6), family=node_type[:3], spot=spot,
                     autoscale_min=low, autoscale_max=high, interruption_rate=rate if spot else 0.0,
                     on_demand_price_per_hour=on_demand)


def _space(*, spot_share: float, rate: float) -> list[Candidate]:
    """The imported 3-16 range (ran at 7 workers), its twins on demand and half on demand, and the
    grid around the imported max (16 workers, 64 cores): ranges n//2..n at the same 30% of the way."""
    cands = [_range(3, 16, 7, spot=True, rate=rate, spot_share=spot_share),
             _range(3, 16, 7, spot=False),
             _range(3, 16, 7, spot=True, rate=rate * 5 / 7, spot_share=(spot_share * 5 + 2) / 7,
                    first_on_demand=3)]
    for n in (4, 6, 8, 12, 16, 24, 32, 48, 64):
        low = n // 2
        nodes = round(low + 0.3 * (n - low))
        for spot in (False, True):
            cands.append(_range(low, n, nodes, spot=spot, rate=rate * nodes / 7, spot_share=spot_share))
    return cands


def _lost(runtime_s: float = 480.0) -> Observation:
    return Observation(LOST, runtime_s, ok=True, anomalies=("spot_loss",), setup_s=200.0)


def test_the_first_run_after_a_loss_is_sized_at_what_the_lost_run_used() -> None:
    d = decide(_space(spot_share=0.45, rate=0.3), [_lost()], Settings(sla_s=None, auto_apply=True))
    # Nearest the 28 cores the lost run used (7 workers of 4 vCPUs), its twins aside: 6-12 at 8 workers.
    # The middle of the space, where the pick was, is 64 (16-32 and 12-24 around it).
    assert d.candidate.cores == 32.0, d.reason
    # Spot saves more than its losses cost there: still spot, and not the lost cluster's own twins.
    assert d.candidate.spot and (d.candidate.autoscale_min, d.candidate.autoscale_max) != (3, 16), d.reason
    assert "no usable run yet: measuring" in d.reason
    assert "the size nearest what the run that lost spot nodes used (m5d.xlargexas3-16-spot, 28 cores)" in d.reason


def test_a_loss_that_costs_more_than_spot_saves_moves_the_job_on_demand_at_once() -> None:
    # DBU-heavy: spot saves 20% of the price, and the job loses nodes very often (3.2 of its 7 workers
    # over 480 s): each loss redoing its share of the run and waiting for a replacement adds a third
    # to the run, more than spot saves. Its own size on demand (half on demand still loses 2.3
    # workers a run, and saves less).
    d = decide(_space(spot_share=0.8, rate=24.0), [_lost()], Settings(sla_s=None, auto_apply=True))
    assert d.candidate.config_id == "m5d.xlargexas3-16", d.reason
    assert "m5d.xlargexas3-16-spot lost spot nodes, and at the job's loss rate its losses cost more than spot " \
        "saves: a 480s run is expected to cost" in d.reason
    # The same losses where spot saves 55%: spot stays cheaper, at the size the lost run used.
    d = decide(_space(spot_share=0.45, rate=24.0), [_lost()], Settings(sla_s=None, auto_apply=True))
    assert d.candidate.spot and d.candidate.cores == 32.0, d.reason
