"""How `models.decide` picks the next cluster near the SLA target, when nothing reaches it, after a
first run that lost a spot node, and after an out-of-memory failure in a one-family space (review
revL: a closed month on the workspace emulator)."""

from __future__ import annotations

from models.decide import Settings, decide
from models.observation import OUT_OF_MEMORY, Observation
from models.space import Candidate


def _c6id(sizes: tuple[tuple[str, int, float, float], ...] = (("xlarge", 4, 8.0, 0.25), ("2xlarge", 8, 16.0, 0.50),
                                                              ("4xlarge", 16, 32.0, 1.00)),
          nodes: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10)) -> list[Candidate]:
    """One family at 2 GiB per vCPU throughout (as c6id): no size has more memory per core."""
    return [Candidate(f"c6id.{s}x{n}", f"c6id.{s}", v, m, n, round(n * p, 6), family="c6id")
            for s, v, m, p in sizes for n in nodes]


def test_after_an_out_of_memory_failure_in_one_family_nodes_no_bigger_are_not_run() -> None:
    # revL F4: skewed_join ran out of memory on c6id.xlarge x4; every c6id has 2 GiB/vCPU, so the
    # "more memory per core" rule could not apply and was dropped, and c6id.xlarge x5 was explored
    # next at P=100% (it fails as x4 did; every c6id.2xlarge size succeeds).
    cands = _c6id()
    by_id = {c.config_id: c for c in cands}
    history = [
        Observation("c6id.2xlargex8", 504.0, ok=True),
        Observation("c6id.xlargex4", 880.0, ok=False, anomalies=("failure", OUT_OF_MEMORY)),
    ]
    for auto_apply in (True, False):
        d = decide(cands, history, Settings(sla_s=900.0, sla_per_run=True, auto_apply=auto_apply))
        assert by_id[d.candidate.config_id].memory_gib > 8.0, d.reason
        assert by_id[d.best.config_id].memory_gib > 8.0 if d.best else True
    # Only the size that ran out of memory is left: it is still what runs (nothing else can).
    only_small = [c for c in cands if c.instance_type == "c6id.xlarge"]
    d = decide(only_small, [Observation("c6id.xlargex4", 880.0, ok=False, anomalies=("failure", OUT_OF_MEMORY))],
               Settings(sla_s=900.0, sla_per_run=True))
    assert d.candidate.instance_type == "c6id.xlarge"
