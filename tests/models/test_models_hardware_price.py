"""The model's hardware-class feature reads the hardware's on-demand price, not a spot discount."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.decide import Settings, forecast
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
