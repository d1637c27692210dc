"""The model's hardware-class feature reads the hardware's on-demand price, not a spot discount."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.decide import Settings, decide, forecast
from models.observation import Observation
from models.space import Candidate, design_features, feature_centre
from tests.models.models_synth import Job, grid

JOB = Job()


def _pair() -> tuple[Candidate, Candidate]:
    od = grid(nodes=(8,))[0]
    return od, replace(od, config_id=od.config_id + "-spot", spot=True, price_per_hour=od.price_per_hour * 0.4,
                       interruption_rate=0.01, on_demand_price_per_hour=od.price_per_hour)


def test_spot_and_on_demand_variants_of_one_cluster_are_one_hardware_class() -> None:
    od, spot = _pair()
    x = design_features([od, spot], feature_centre([od, spot]))
    assert np.allclose(x[0], x[1])
    # Without an on-demand price (the callers that do not set it) the price is the hardware's.
    assert replace(spot, on_demand_price_per_hour=None).hardware_price == spot.price_per_hour
    # Runs on demand teach the spot twin: its prediction is the measured runtime.
    rng = np.random.default_rng(6)
    history = [JOB.run(od, rng) for _ in range(3)]
    f = {x.candidate.config_id: x for x in forecast([od, spot], history, Settings(sla_s=None))}
    assert f[spot.config_id].predicted_runtime_s == pytest.approx(f[od.config_id].predicted_runtime_s, rel=0.01)


def test_a_clusters_spot_twin_is_the_same_hardware_to_the_model() -> None:
    # Spot and on-demand capacity run the same machines: runs on one are runs on the other. With a
    # deviation of its own, the spot twin of a cluster measured five times kept a 90% interval of
    # 615-847 s against the cluster's 689-800 s, and P=0.78 against 0.97 for an SLA 8% above it.
    cands = grid()
    twins = [replace(c, config_id=c.config_id + "-spot", spot=True, price_per_hour=c.price_per_hour * 0.4,
                     on_demand_price_per_hour=c.price_per_hour) for c in cands]
    rng = np.random.default_rng(6)
    history = [JOB.run(cands[i], rng) for i in (13, 13, 9, 21, 13)]
    settings = Settings(sla_s=1.08 * JOB.mean_runtime(cands[13]))
    f = {x.candidate.config_id: x for x in forecast(cands + twins, history, settings)}
    for c, t in zip(cands, twins, strict=True):
        od, spot = f[c.config_id], f[t.config_id]
        assert spot.predicted_runtime_s == pytest.approx(od.predicted_runtime_s, rel=1e-9)
        assert spot.runtime_interval_s == pytest.approx(od.runtime_interval_s, rel=1e-9)
        assert spot.p_meet_sla == pytest.approx(od.p_meet_sla, abs=1e-9)
    assert f[twins[13].config_id].p_meet_sla > 0.9


@pytest.mark.parametrize("spot_first", [True, False])
def test_the_likeliest_of_two_twins_is_the_one_spot_losses_spare(spot_first: bool) -> None:
    # One hardware, so their execution's z-scores tie: the on-demand twin meets the SLA more often
    # (no spot losses) and is the likeliest whatever the order the candidates come in. Before, the
    # first listed won: a spot cluster named the likeliest at P=3.1% beside its twin at 3.7%. (0.5
    # losses a node-hour: with losses priced per lost worker, 0.05 left the spot twin within a tenth
    # of the other's P, where the cheaper twin is taken.)
    od = grid()
    twins = [replace(c, config_id=c.config_id + "-spot", spot=True, price_per_hour=c.price_per_hour * 0.45,
                     interruption_rate=0.5 * c.nodes, on_demand_price_per_hour=c.price_per_hour) for c in od]
    cands = twins + od if spot_first else od + twins
    rng = np.random.default_rng(1)
    history = [Observation(o.config_id, o.runtime_s + 300.0, True, setup_s=300.0)
               for o in (JOB.run(od[i], rng) for i in (5, 9, 14, 20))]
    d = decide(cands, history, Settings(sla_s=400.0, sla_per_run=True))
    assert "likeliest" in d.reason and not d.candidate.spot, d.reason
