"""The decision space: candidate cluster configurations and their numeric features.

A `Candidate` is one point the tuner may choose; the caller (server/plan, or the benchmark) builds
the list from the project's bounds and prices it. `design_features` turns candidates into the
columns of the runtime model. The columns are physically motivated and centred on the project's own
candidates, so coefficients mean the same thing across projects and a prior learned on other
workloads transfers:

- ``log_cores``: total worker vCPUs (work spread over cores; slope -1 is perfect scaling),
- ``log_cores_sq``: curvature (fixed costs and coordination make scaling flatten or turn up),
- ``log_nodes``: per-node effects at equal cores (coordination and shuffle fan-out grow with nodes,
  disks and network bandwidth grow with nodes too),
- ``log_mem_per_core``: memory pressure (spill and GC shrink with more memory per task slot),
- ``log_price_per_core``: hardware class at equal cores (local SSDs, newer CPUs cost more per core),
  from the hardware's on-demand price (`Candidate.hardware_price`), so the spot and on-demand
  variants of one cluster are one hardware class and share what their runs teach,
- ``log_input``: input size, so data growth is not mistaken for a worse configuration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FEATURES: tuple[str, ...] = (
    "log_cores",
    "log_cores_sq",
    "log_nodes",
    "log_mem_per_core",
    "log_price_per_core",
    "log_input",
)


@dataclass(frozen=True)
class Candidate:
    """One cluster configuration the tuner may recommend.

    ``nodes`` counts workers. ``price_per_hour`` is the whole cluster's all-in hourly price (DBU,
    compute, storage), computed by the caller from its price catalog. ``interruption_rate`` is the
    expected number of spot losses per hour (0 for on-demand). For autoscaling candidates ``nodes``
    is the size used for modelling (the caller's best guess of the typical size: the server's is as
    far into the range as the job's runs went, the geometric mean of min and max without such runs)
    and ``price_per_hour`` and ``interruption_rate`` (its spot nodes) are reckoned at that size. ``network_gbps`` is one
    worker's published network bandwidth; None when unknown (the replay then scales by task slots
    alone, as it always did). ``allowed`` False makes the candidate observed only: runs on it are
    learned from (its features stay in the model), but it is never recommended nor run (the caller's
    cluster policy refuses it, so a run on it would fail at start).

    ``on_demand_price_per_hour`` is what the same cluster costs with every worker on demand: the
    price of its hardware, which the model's hardware-class feature reads. Spot discounts move
    with the market and say nothing about how fast the hardware runs; priced at the spot price, a
    spot cluster looked like cheaper, slower hardware than its on-demand twin and learned nothing
    from its runs. None (the default) means ``price_per_hour`` (an on-demand candidate).
    """

    config_id: str
    instance_type: str
    vcpus: float
    memory_gib: float
    nodes: int
    price_per_hour: float
    family: str = ""
    spot: bool = False
    autoscale_min: int | None = None
    autoscale_max: int | None = None
    driver_type: str | None = None
    interruption_rate: float = 0.0
    network_gbps: float | None = None
    allowed: bool = True
    on_demand_price_per_hour: float | None = None
    # How a reason names it for a person ("m5.xlarge x 4 workers, spot"); "" = the config_id, a key
    # ("m5.xlargex4-spot") that reads poorly in a sentence.
    label: str = ""
    # How many of its nodes run on spot, which ``interruption_rate`` is the job's rate times (None:
    # every worker of a spot candidate), and whether the driver is one of them (``first_on_demand``
    # 0): a lost worker lengthens a run, a lost driver fails it (`models.spot_rework`).
    spot_nodes: float | None = None
    spot_driver: bool = False

    @property
    def name(self) -> str:
        return self.label or self.config_id

    @property
    def hardware_price(self) -> float:
        """The cluster's hourly price with every worker on demand (see the class docstring)."""
        return self.price_per_hour if self.on_demand_price_per_hour is None else self.on_demand_price_per_hour

    @property
    def spot_node_count(self) -> float:
        """How many of its nodes run on spot (``spot_nodes``, or every worker of a spot candidate)."""
        if self.spot_nodes is not None:
            return self.spot_nodes
        return float(self.nodes) + (1.0 if self.spot_driver else 0.0) if self.spot else 0.0

    @property
    def cores(self) -> float:
        """Total worker vCPUs, i.e. concurrent task slots with one core per task."""
        return max(self.vcpus, 1e-9) * max(self.nodes, 1)

    @property
    def memory_per_core_gib(self) -> float:
        return max(self.memory_gib, 1e-9) / max(self.vcpus, 1e-9)

    def cost(self, runtime_s: float) -> float:
        """Cost of one run of ``runtime_s`` seconds on this configuration (same unit as the price)."""
        return self.price_per_hour * runtime_s / 3600.0


@dataclass(frozen=True)
class FeatureCentre:
    """Reference point of a project's candidate set (medians), so features are relative."""

    cores: float
    nodes: float
    mem_per_core: float
    price_per_core: float
    input_gb: float | None


def feature_centre(candidates: Sequence[Candidate], input_gb: float | None = None) -> FeatureCentre:
    if not candidates:
        raise ValueError("no candidates")
    return FeatureCentre(
        cores=float(np.median([c.cores for c in candidates])),
        nodes=float(np.median([max(c.nodes, 1) for c in candidates])),
        mem_per_core=float(np.median([c.memory_per_core_gib for c in candidates])),
        price_per_core=float(np.median([c.hardware_price / c.cores for c in candidates])),
        input_gb=input_gb if input_gb and input_gb > 0 else None,
    )


def design_features(
    candidates: Sequence[Candidate], centre: FeatureCentre, input_gb: Sequence[float | None] | None = None
) -> np.ndarray:
    """Matrix (len(candidates), len(FEATURES)) of centred log features.

    ``input_gb`` gives one input size per row (None = the centre's size, i.e. feature 0).
    """
    n = len(candidates)
    out = np.zeros((n, len(FEATURES)))
    for i, c in enumerate(candidates):
        lc = math.log(c.cores / centre.cores)
        out[i, 0] = lc
        out[i, 1] = lc * lc
        out[i, 2] = math.log(max(c.nodes, 1) / centre.nodes)
        out[i, 3] = math.log(c.memory_per_core_gib / centre.mem_per_core)
        out[i, 4] = math.log((c.hardware_price / c.cores) / centre.price_per_core)
        size = input_gb[i] if input_gb is not None else None
        if size and size > 0 and centre.input_gb:
            out[i, 5] = math.log(size / centre.input_gb)
    return out
