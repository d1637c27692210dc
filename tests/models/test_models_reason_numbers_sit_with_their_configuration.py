"""Each figure in a "likeliest to meet the SLA" reason sits with the configuration it is about
(review: coherence). It read "expected cost $1.034/run against $0.201 for the cheapest, c6id.2xlarge
x 4 workers, spot, runtime 314s [238, 414]": the 314 s was the recommendation's own runtime, read as
the cheapest's."""

from __future__ import annotations

import re

import numpy as np

from models.decide import Settings, decide
from tests.models.models_synth import grid, random_job


def test_the_runtime_follows_the_recommendations_cost_and_the_cheapest_has_its_own_words() -> None:
    cands = grid()
    rng = np.random.default_rng(12)
    job = random_job(rng)
    history = [job.run(c, rng) for c in cands]
    fastest = min(cands, key=job.mean_runtime)
    d = decide(cands, history, Settings(sla_s=job.mean_runtime(fastest)))
    assert "likeliest" in d.reason and "not the cheapest" in d.reason, d.reason
    name = re.escape(d.candidate.name)
    # The recommendation's runtime right after its own cost, then the cheapest with its own figure.
    assert re.search(rf"^{name}: .*expected cost \$?[\d.]+/run, runtime \d+s \[\d+, \d+\]", d.reason), d.reason
    cheapest = re.search(r"; the cheapest \((.+?)\) is predicted \$?[\d.]+/run; ", d.reason)
    assert cheapest is not None and cheapest.group(1) != d.candidate.name, d.reason
    # Nothing after the cheapest's name but its own price: no runtime follows it.
    assert not re.search(r"for the cheapest, [^;]*runtime", d.reason), d.reason
